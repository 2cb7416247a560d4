# tools-lib.sh: shared helper for the tests/tools shell tests (sourced, not run).
#
# Gives: $tmp (a private temp dir), $tools (built helper programs), $certgen,
# start_bg NAME CMD... (background process, output in $tmp/NAME.out/.err),
# wait_listen NAME (prints the port from its "listening ADDR PORT" line;
# call start_bg itself outside any $(...) so the process is our child),
# stop_bg NAME (SIGTERM, bounded wait), fail MSG, skip MSG.
# Only processes started through start_bg are ever signalled, by PID.
set -eu

srcdir=${srcdir:-.}
tools=${TOOLS_BUILDDIR:-./tests/tools}
certgen=$srcdir/certs/gen-certs.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tools-test.XXXXXX")
bg_names=""

# Kills whatever we started that is still running and removes $tmp.
cleanup() {
	for n in $bg_names; do
		pid=$(cat "$tmp/$n.pid" 2>/dev/null || true)
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			sleep 0.2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		echo "kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Shows the logs of the background processes.
show_logs() {
	for n in $bg_names; do
		for f in "$tmp/$n.out" "$tmp/$n.err"; do
			[ -s "$f" ] || continue
			echo "---- $f" >&2
			tail -n 40 "$f" >&2
		done
	done
}

# Reports a failure with the logs and exits 1.
fail() {
	echo "FAIL: $*" >&2
	show_logs
	exit 1
}

# Skips the test (exit 77).
skip() {
	echo "SKIP: $*" >&2
	exit 77
}

# Says what is being checked.
step() {
	echo "== $*"
}

# Starts CMD... in the background as NAME.
start_bg() {
	n=$1
	shift
	: >"$tmp/$n.out" # exists before the child opens it: readers never race it
	: >"$tmp/$n.err"
	"$@" >>"$tmp/$n.out" 2>>"$tmp/$n.err" &
	echo $! >"$tmp/$n.pid"
	bg_names="$bg_names $n"
}

# Waits (5 s at most) for NAME's "listening ADDR PORT" line; prints PORT.
wait_listen() {
	i=0
	while [ $i -lt 50 ]; do
		p=$(awk '/^listening /{print $3; exit}' "$tmp/$1.out")
		if [ -n "$p" ]; then
			echo "$p"
			return 0
		fi
		kill -0 "$(cat "$tmp/$1.pid")" 2>/dev/null || fail "$1 exited early"
		sleep 0.1
		i=$((i + 1))
	done
	fail "$1 did not start listening"
}

# Sends SIGTERM to NAME and waits (5 s at most) for it; fails if its status is not 0.
stop_bg() {
	pid=$(cat "$tmp/$1.pid")
	kill -TERM "$pid" 2>/dev/null || fail "$1 was not running"
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -0 "$pid" 2>/dev/null && fail "$1 did not stop on SIGTERM"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" = 0 ] || fail "$1 exited with status $rc"
}

# Runs coap-client-notls with a hard bound: coap_get SECONDS ARGS...
coap_get() {
	secs=$1
	shift
	timeout $((secs + 5)) coap-client-notls -B "$secs" "$@" || true
}

for prog in coap-test-backend faultproxy certcheck; do
	[ -x "$tools/$prog" ] || skip "$tools/$prog not built (run from the build directory)"
done
