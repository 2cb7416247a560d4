# harness.sh: the base every shell test sources, directly or through its
# folder's lib.sh (sourced, not run; POSIX sh; tests run from the top build
# directory). tests/README.md has the table of what it gives; in short:
#   processes  start_bg NAME CMD..., wait_listen NAME, stop_bg NAME (only PIDs we
#              started are ever signalled; cleanup on exit), $tmp (private dir)
#   verdicts   fail MSG, skip MSG (exit 77), step MSG
#   waits      wait_for TENTHS CMD... (every wait in the harness is bounded)
#   ports      port_in_use PORT [tcp], free_port, free_tcp_port, wait_port PORT
#   daemon     write_conf, write_fw_conf, make_certs, start_proxy, stop_proxy,
#              wait_log, wait_count, log_count, session_of, expect_config
#   peers      start_backend, reqs, start_coap_server, client, get, coap_get, sclient,
#              x509_sclient, coaps_send, hexstr
#   control    ctl ARGS (sets $out $err $rc), expect_rc, ctl_stat NAME
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

# Runs CMD... every 0.1 s until it succeeds (status 0) or TENTHS tenths of a
# second have passed (status 1): wait_for TENTHS CMD... || fail "why".
wait_for() {
	wf_n=$1
	shift
	wf_i=0
	until "$@"; do
		[ "$wf_i" -lt "$wf_n" ] || return 1
		sleep 0.1
		wf_i=$((wf_i + 1))
	done
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

# Tells whether process NAME (started by start_bg) has exited.
bg_gone() {
	! kill -0 "$(cat "$tmp/$1.pid")" 2>/dev/null
}

# Sends SIGTERM to NAME and waits (5 s at most) for it; fails if its status is not 0.
stop_bg() {
	pid=$(cat "$tmp/$1.pid")
	kill -TERM "$pid" 2>/dev/null || fail "$1 was not running"
	wait_for 50 bg_gone "$1" || fail "$1 did not stop on SIGTERM"
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

# Prints the bytes of string $1 as hex.
hexstr() {
	printf '%s' "$1" | od -An -tx1 | tr -d ' \n'
}

for prog in coap-test-backend faultproxy certcheck; do
	[ -x "$tools/$prog" ] || skip "$tools/$prog not built (run from the build directory)"
done

# --- the daemon and its peers

proxyd=${PROXYD:-./src/coaps-proxyd}
proxyctl=${PROXYCTL:-./src/coaps-proxyctl}
probe=${PROBE:-./tests/tools/dtls-probe}
send_tool=${COAPS_SEND:-./tests/tools/coaps-send}
[ -x "$proxyd" ] || skip "$proxyd not built"
[ -x "$proxyctl" ] || skip "$proxyctl not built"
[ -x "$send_tool" ] || skip "$send_tool not built"
command -v coap-client-openssl >/dev/null || skip "coap-client-openssl missing (apt-get install libcoap3-bin)"
command -v openssl >/dev/null || skip "openssl missing"
proxy_log=$tmp/proxy.err
certs=$tmp/certs
mkdir -p "$tmp/run"
ctl_sock=$tmp/run/ctl.sock
# The daemons a test starts keep their state in $tmp, whatever the configuration
# says or leaves out: a session.state_file left out means
# $STATE_DIRECTORY/sessions.state (never /var/lib/coaps-proxy, which a machine
# running the service has), and no saved state goes to (or comes from) the fd
# store of a service manager that happens to run the tests.
mkdir -m 700 "$tmp/statedir"
STATE_DIRECTORY=$tmp/statedir
export STATE_DIRECTORY
unset NOTIFY_SOCKET LISTEN_PID LISTEN_FDS LISTEN_FDNAMES

# Tells whether port $1 is bound on this machine (IPv4 or IPv6); UDP, or TCP with $2 = tcp.
port_in_use() {
	hex=$(printf '%04X' "$1")
	cat /proc/net/${2:-udp} /proc/net/${2:-udp}6 2>/dev/null | awk -v h=":$hex" '$2 ~ h"$" {f=1} END {exit !f}'
}

# Prints a free UDP port below the kernel's ephemeral range, so that the
# ephemeral ports of clients, backends and upstream sockets (of this and of
# concurrently running tests) cannot take it between the pick and the bind.
free_port() {
	lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	[ "$lo" -gt 21000 ] 2>/dev/null || lo=60000
	i=0
	while [ $i -lt 100 ]; do
		p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % (lo - 20000 - 1)))
		port_in_use "$p" || port_in_use $((p + 1)) || { echo "$p"; return 0; }
		i=$((i + 1))
	done
	fail "no free UDP port found"
}

# Prints a random free TCP port in 20000-59999.
free_tcp_port() {
	i=0
	while [ $i -lt 100 ]; do
		p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
		port_in_use "$p" tcp || { echo "$p"; return 0; }
		i=$((i + 1))
	done
	fail "no free TCP port found"
}

# Waits (bounded) until UDP port $1 is bound.
wait_port() {
	wait_for 50 port_in_use "$1" || fail "nothing listens on UDP port $1"
}

# Starts coap-test-backend (MODE echo by default) as "backend".
start_backend() {
	start_bg backend "$tools/coap-test-backend" -A 127.0.0.1 -p 0 -m "${1:-echo}" \
		-c "$tmp/backend.count" ${2:+-d "$2"}
	backend_port=$(wait_listen backend)
}

# Starts libcoap's coap-server-notls as "backend".
start_coap_server() {
	backend_port=$(free_port)
	start_bg backend coap-server-notls -A 127.0.0.1 -p "$backend_port" -d 100000
	wait_port "$backend_port"
}

# Prints how many requests for exactly PATH backend NAME ("backend" or "backend2") logged.
reqs() {
	grep -c "^req .* path=$2 " "$tmp/$1.out" 2>/dev/null || true
}

# Writes standard input to FILE with @PORT@, @BACKEND@ and @CERTS@ substituted.
write_conf() {
	sed -e "s|@PORT@|$proxy_port|g" -e "s|@BACKEND@|${backend_port:-9}|g" \
		-e "s|@CERTS@|$certs|g" >"$1"
}

# PSK identities write_fw_conf puts in place of @PSKS@.
psks='psk = ( { identity = "my_identity"; key = "secretPSK123"; },
        { identity = "sensor-1"; key = "sensorKey1"; },
        { identity = "sensor-2"; key = "sensorKey2"; },
        { identity = "dev-42"; key = "devKey42"; } );'

# Writes standard input to FILE like write_conf, and also @BACKEND2@ (see
# tests/forward/lib.sh), @DOWN@ (a port where nothing listens) and @PSKS@
# (my_identity/secretPSK123, sensor-1/sensorKey1, sensor-2/sensorKey2, dev-42/devKey42).
write_fw_conf() {
	printf '%s\n' "$psks" >"$tmp/psks.txt"
	sed -e "s|@BACKEND2@|${backend2_port:-9}|g" -e "s|@DOWN@|$down_port|g" \
		-e "/@PSKS@/{r $tmp/psks.txt
d}" | write_conf "$1"
}

# Makes the test certificates in $certs.
make_certs() {
	sh "$certgen" "$certs" || fail "certs/gen-certs.sh failed"
}

# Tells whether the proxy logged "event=started"; fails if it exited before.
proxy_started() {
	grep -q 'event=started' "$proxy_log" 2>/dev/null && return 0
	kill -0 "$(cat "$tmp/proxy.pid")" 2>/dev/null || fail "coaps-proxyd exited at start"
	return 1
}

# Starts the proxy with config $1; waits for its "event=started" line.
start_proxy() {
	vg=""
	limit=100
	if [ "${COAPS_VALGRIND:-0}" = 1 ]; then
		vg="valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 --log-file=$tmp/valgrind.log"
		limit=600
	fi
	start_bg proxy $vg "$proxyd" -f -c "$1"
	wait_for $limit proxy_started || fail "coaps-proxyd did not start"
}

# Stops the proxy with SIGTERM; fails unless it exits 0 in time.
stop_proxy() {
	pid=$(cat "$tmp/proxy.pid")
	kill -TERM "$pid" 2>/dev/null || fail "coaps-proxyd was not running"
	wait_for 300 bg_gone proxy || fail "coaps-proxyd did not stop on SIGTERM"
	rc=0
	wait "$pid" || rc=$?
	if [ "$rc" = 99 ]; then
		cat "$tmp/valgrind.log" >&2
		fail "valgrind found definitely lost memory or errors"
	fi
	[ "$rc" = 0 ] || fail "coaps-proxyd exited with status $rc"
}

# Prints how many proxy log lines match the ERE $1.
log_count() {
	grep -Ec "$1" "$proxy_log" 2>/dev/null || true
}

# Tells whether at least $2 proxy log lines match the ERE $1.
log_has() {
	[ "$(log_count "$1")" -ge "$2" ]
}

# Waits up to SECS (default 10) for a line matching the ERE $1 in the proxy log.
wait_log() {
	wait_for $((${2:-10} * 10)) log_has "$1" 1 || fail "no log line matching: $1"
}

# Waits up to $3 s (default 10) until at least $2 proxy log lines match the ERE $1.
wait_count() {
	wait_for $((${3:-10} * 10)) log_has "$1" "$2" || fail "fewer than $2 log lines matching: $1"
}

# Prints the session id of the first proxy log line matching the ERE $1.
session_of() {
	grep -E "$1" "$proxy_log" | head -n 1 | sed -n 's/.*session=\([0-9a-f]*\).*/\1/p'
}

# Expects `coaps-proxyd -t` on configuration text (stdin, after a listener and a
# PSK, so that its line numbers start at 3) to print $1 (a fixed string) and exit $2.
expect_config() {
	{
		echo 'listen = ( { address = "127.0.0.1"; port = 5684; } );'
		echo 'psk = ( { identity = "a"; key = "k"; } );'
		cat
	} >"$tmp/c.conf"
	rc=0
	out=$("$proxyd" -t -c "$tmp/c.conf" 2>&1) || rc=$?
	echo "$out" | grep -qF -- "$1" || fail "expected '$1', got: $out"
	[ "$rc" = "$2" ] || fail "expected exit $2, got $rc for: $out"
}

# OpenSSL 3.2 and later (Debian 13) offer CCM8 suites only at security level 0,
# and libcoap does not lower it: this config does, for coap-client-openssl.
openssl_cnf=$tmp/openssl.cnf
printf '%s\n' 'openssl_conf = c' '[c]' 'ssl_conf = s' '[s]' 'system_default = d' \
	'[d]' 'CipherString = DEFAULT:@SECLEVEL=0' >"$openssl_cnf"

# Runs a bounded libcoap client: client TOOL SECONDS ARGS... (output on stdout). Under
# valgrind the daemon's first handshake alone can take 5 s on a loaded machine: 3 times as long.
client() {
	tool=$1
	secs=$2
	shift 2
	[ "${COAPS_VALGRIND:-0}" = 1 ] && secs=$((secs * 3))
	OPENSSL_CONF=$openssl_cnf timeout $((secs + 5)) "$tool" -B "$secs" "$@"
}

# Runs coap-client-openssl with a PSK through the proxy: get ID KEY SECS ARGS...
# (stdout and stderr together).
get() {
	gid=$1
	gkey=$2
	gsecs=$3
	shift 3
	timeout $((gsecs + 5)) coap-client-openssl -B "$gsecs" -u "$gid" -k "$gkey" "$@" 2>&1 || true
}

# Keeps an openssl s_client PSK session (identity $3, text key $4) open for $2
# seconds, as background process NAME ($1).
sclient() {
	start_bg "$1" sh -c 'sleep "$1" | timeout "$2" openssl s_client -dtls1_2 -connect "$3" \
		-psk "$4" -psk_identity "$5" -cipher PSK-AES128-CCM8:@SECLEVEL=0' sh "$2" $(($2 + 5)) \
		"127.0.0.1:$proxy_port" "$(hexstr "$4")" "$3"
}

# Runs one ECDHE-ECDSA handshake of openssl s_client with the proxy (10 s at most);
# ARGS... are more s_client options (-CAfile, -cert, -key...); output on stdout.
x509_sclient() {
	echo | timeout 10 openssl s_client -dtls1_2 -connect "127.0.0.1:$proxy_port" \
		-cipher ECDHE-ECDSA-AES128-CCM8:@SECLEVEL=0 "$@" 2>&1 || true
}

# Runs tests/tools/coaps-send against the proxy (bounded by its own alarm and by timeout).
coaps_send() {
	timeout 40 "$send_tool" -p "$proxy_port" "$@" || true
}

# Runs coaps-proxyctl on $ctl_sock (bounded); sets $out (stdout), $err (stderr) and $rc.
ctl() {
	rc=0
	timeout 30 "$proxyctl" -s "$ctl_sock" "$@" >"$tmp/ctl.out" 2>"$tmp/ctl.err" || rc=$?
	out=$(cat "$tmp/ctl.out")
	err=$(cat "$tmp/ctl.err")
}

# Fails unless the last ctl exited with status $1.
expect_rc() {
	[ "$rc" = "$1" ] || fail "expected exit $1, got $rc; stdout: $out; stderr: $err"
}

# Prints counter NAME of `coaps-proxyctl stats` (text) on $ctl_sock.
ctl_stat() {
	timeout 10 "$proxyctl" -s "$ctl_sock" stats | awk -v n="$1" '$1 == n { print $2 }'
}

proxy_port=$(free_port)
down_port=$(free_port)
while [ "$down_port" = "$proxy_port" ]; do
	down_port=$(free_port)
done
