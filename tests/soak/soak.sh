#!/bin/bash
# soak.sh: an hour of churn against one coaps-proxyd; samples its RSS, sessions and log counts and judges the RSS trend.
#
# Usage: tests/soak/soak.sh [--duration SECONDS] [--builddir DIR] [options]
# See tests/soak/README.md. Everything runs on 127.0.0.1; every background
# process is ours, bounded by `timeout`, and killed by PID at the end.
# Exit 0: the daemon stayed up, stopped cleanly on SIGTERM and its RSS slope
# after warm-up is below --max-slope; 1 otherwise; 2 on a usage or setup error.
set -u

usage() {
	cat <<'EOF'
usage: soak.sh [--duration SECONDS] [--builddir DIR] [options]
  --duration SEC     length of the churn (default 3600)
  --builddir DIR     top build directory holding src/coaps-proxyd and
                     tests/bench/coaps-bench, tests/tools/faultproxy
                     (default: . if it has src/coaps-proxyd, else the source tree)
  --interval SEC     sampling interval (default: duration/60, at most 60, at least 1)
  --warmup SEC       samples before this are left out of the trend
                     (default: 10% of duration, at least 60 s, at most half)
  --max-slope KB_H   largest acceptable RSS slope in kB/hour (default 1024)
  --seed N           faultproxy seed (default 7)
  --json FILE        summary file (default ./soak-results.json)
  --keep             keep the work directory (logs, configs) at the end
  -h, --help         this text
EOF
}

duration=3600
builddir=""
interval=""
warmup=""
max_slope=1024
seed=7
json_out=./soak-results.json
keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--duration) duration=${2:?}; shift 2 ;;
	--builddir) builddir=${2:?}; shift 2 ;;
	--interval) interval=${2:?}; shift 2 ;;
	--warmup) warmup=${2:?}; shift 2 ;;
	--max-slope) max_slope=${2:?}; shift 2 ;;
	--seed) seed=${2:?}; shift 2 ;;
	--json) json_out=${2:?}; shift 2 ;;
	--keep) keep=1; shift ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
for v in "$duration" "$max_slope" "$seed" ${interval:+"$interval"} ${warmup:+"$warmup"}; do
	case $v in
	''|*[!0-9]*) echo "soak: not a whole number: $v" >&2; exit 2 ;;
	esac
done
[ "$duration" -ge 6 ] || { echo "soak: --duration must be at least 6" >&2; exit 2; }
[ -n "$interval" ] || interval=$((duration / 60))
[ "$interval" -le 60 ] || interval=60
[ "$interval" -ge 1 ] || interval=1
if [ -z "$warmup" ]; then
	# 10% of the run, but at least 60 s: the idle rounds (hold 30 s, idle timeout 20 s)
	# and the first heap growth settle in the first minute; at most half the run
	warmup=$((duration / 10))
	[ "$warmup" -ge 60 ] || warmup=60
	[ "$warmup" -le $((duration / 2)) ] || warmup=$((duration / 2))
fi

srcdir=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "$builddir" ]; then
	if [ -x ./src/coaps-proxyd ]; then builddir=.; else builddir=$srcdir; fi
fi
proxyd=$builddir/src/coaps-proxyd
bench=$builddir/tests/bench/coaps-bench
faultproxy=$builddir/tests/tools/faultproxy
for p in "$proxyd" "$bench" "$faultproxy"; do
	[ -x "$p" ] || { echo "soak: $p not built (--builddir?)" >&2; exit 2; }
done
for c in openssl coap-client-openssl timeout; do
	command -v "$c" >/dev/null || { echo "soak: $c missing (libcoap3-bin, openssl, coreutils)" >&2; exit 2; }
done
case $json_out in /*) ;; *) json_out=$(pwd)/$json_out ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/coaps-soak.XXXXXX")
log=$tmp/proxy.log
pids=""         # our background processes (daemon, backend, faultproxy, workers)
worker_pids=""

# Kills what we started that still runs (by PID; children of workers first) and removes $tmp.
cleanup() {
	for f in "$tmp"/*.child; do
		[ -e "$f" ] || continue
		c=$(cat "$f" 2>/dev/null || true)
		[ -n "$c" ] && kill -TERM "$c" 2>/dev/null
	done
	for p in $worker_pids $pids; do
		kill -TERM "$p" 2>/dev/null
	done
	sleep 0.3
	for p in $worker_pids $pids; do
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	done
	if [ "$keep" = 1 ]; then
		echo "soak: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'echo "soak: interrupted" >&2; exit 1' INT TERM

# Tells whether UDP port $1 is bound on this machine (IPv4 or IPv6).
port_in_use() {
	hex=$(printf '%04X' "$1")
	cat /proc/net/udp /proc/net/udp6 2>/dev/null | awk -v h=":$hex" '$2 ~ h"$" {f=1} END {exit !f}'
}

# Prints a random free UDP port in 20000-59999 (and port + 1 free as well).
free_port() {
	for _ in $(seq 100); do
		p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
		port_in_use "$p" || port_in_use $((p + 1)) || { echo "$p"; return 0; }
	done
	echo "soak: no free UDP port" >&2
	exit 2
}

# Waits (5 s at most) until UDP port $1 is bound.
wait_port() {
	for _ in $(seq 50); do
		port_in_use "$1" && return 0
		sleep 0.1
	done
	echo "soak: nothing listens on UDP port $1" >&2
	exit 2
}

# Seconds left until the end of the churn.
left() {
	echo $((end_time - $(date +%s)))
}

# Runs CMD... bounded by SECS as this worker's current child: run_bounded SECS CMD...
run_bounded() {
	s=$1
	shift
	timeout -k 2 "$s" "$@" <&0 &
	c=$!
	echo "$c" >"$tmp/$wname.child"
	wait "$c"
	rc=$?
	rm -f "$tmp/$wname.child"
	return $rc
}

# Runs coaps-bench for worker $wname with SECS as the bound; appends its figures to results.
# Usage: bench_run KIND SECS ARGS... (KIND "expect-fail" does not count errors).
bench_run() {
	kind=$1
	secs=$2
	shift 2
	j=$tmp/$wname.json
	rm -f "$j"
	run_bounded $((secs + 15)) "$bench" -q --json "$j" "$@" >/dev/null 2>>"$tmp/$wname.err"
	brc=$?
	if [ -s "$j" ]; then
		sed -e 's/.*"handshakes":\([0-9]*\).*"requests":\([0-9]*\).*"retransmissions":\([0-9]*\),"errors":\([0-9]*\),"error_detail":{"handshake":\([0-9]*\),"timeout":\([0-9]*\),"code":\([0-9]*\),"rst":\([0-9]*\),"io":\([0-9]*\)}.*/\1 \2 \3 \4 \5 \6 \7 \8 \9/' "$j" |
			awk -v w="$wname" -v k="$kind" 'NF == 9 {print w, k, $0}' >>"$tmp/bench.results"
	else
		# no result at all (killed or failed to start): one error
		echo "$wname $kind 0 0 0 1 0 0 0 0 1" >>"$tmp/bench.results"
		echo "bench exited $brc without a result" >>"$tmp/$wname.err"
	fi
}

# Records one client outcome: note WHAT ok|error.
note() {
	echo "$wname $1 $2" >>"$tmp/clients.results"
}

# --- set-up -------------------------------------------------------------------

psk_key=soakKey-0123456789
psk_hex=$(printf %s "$psk_key" | od -An -tx1 | tr -d ' \n')
certs=$tmp/certs
bash "$srcdir/certs/gen-certs.sh" "$certs" || { echo "soak: gen-certs.sh failed" >&2; exit 2; }

backend_port=$(free_port)
"$bench" --backend --listen "127.0.0.1:$backend_port" >"$tmp/backend.out" 2>&1 &
backend_pid=$!
pids="$pids $backend_pid"
wait_port "$backend_port"

proxy_port=$(free_port)
idle_timeout=20
cat >"$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $proxy_port; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = $backend_port; } );
psk = (
  { identity = "soak-steady"; key = "$psk_key"; },
  { identity = "soak-churn"; key = "$psk_key"; },
  { identity = "soak-idle"; key = "$psk_key"; },
  { identity = "soak-reconnect"; key = "$psk_key"; },
  { identity = "soak-lossy"; key = "$psk_key"; },
  { identity = "soak-wrongkey"; key = "$psk_key"; }
);
x509 = { certificate = "$certs/server-cert.pem"; private_key = "$certs/server-key.pem";
         client_ca = "$certs/ca-cert.pem"; crl = "$certs/ca.crl"; verify_client = "required"; };
dtls = { handshake_timeout_min = 500; handshake_timeout_max = 8000; };
session = { idle_timeout = $idle_timeout; state_file = ""; }; # no saved sessions
log = { level = "info"; };
CONF
"$proxyd" -t -c "$tmp/proxy.conf" >/dev/null || { echo "soak: config check failed" >&2; exit 2; }
"$proxyd" -f -c "$tmp/proxy.conf" 2>"$log" >/dev/null &
proxy_pid=$!
pids="$pids $proxy_pid"
for _ in $(seq 100); do
	grep -q 'event=started' "$log" 2>/dev/null && break
	kill -0 "$proxy_pid" 2>/dev/null || { echo "soak: coaps-proxyd exited at start" >&2; cat "$log" >&2; exit 2; }
	sleep 0.1
done
grep -q 'event=started' "$log" || { echo "soak: coaps-proxyd did not start" >&2; exit 2; }

"$faultproxy" --listen 127.0.0.1:0 --server "127.0.0.1:$proxy_port" --drop 10 --duplicate 10 \
	--delay 10 --seed "$seed" >"$tmp/faultproxy.out" 2>"$tmp/faultproxy.err" &
fp_pid=$!
pids="$pids $fp_pid"
fp_port=""
for _ in $(seq 50); do
	fp_port=$(awk '/^listening /{print $3; exit}' "$tmp/faultproxy.out")
	[ -n "$fp_port" ] && break
	sleep 0.1
done
[ -n "$fp_port" ] || { echo "soak: faultproxy did not start" >&2; exit 2; }

target=127.0.0.1:$proxy_port
psk_args=(--psk "$psk_key")
cert_args=(--cert "$certs/client-cert.pem" --key "$certs/client-key.pem")
start_time=$(date +%s)
end_time=$((start_time + duration))

# --- workers ------------------------------------------------------------------
# Each runs until end_time; every command is bounded by the time left.

# Steady PSK load: 4 sessions x 2 in flight, 2000 requests a round, 1 s pause.
worker_steady() {
	while [ "$(left)" -gt 2 ]; do
		bench_run load "$(left)" --target "$target" --psk-identity soak-steady "${psk_args[@]}" \
			--sessions 4 --inflight 2 --method post --size 64 --count 2000 --duration "$(left)"
		sleep 1
	done
}

# Handshake churn, PSK: 20 handshake-only sessions a round; each 10th round a wrong key.
worker_churn_psk() {
	n=0
	while [ "$(left)" -gt 2 ]; do
		n=$((n + 1))
		if [ $((n % 10)) = 0 ]; then
			bench_run expect-fail 2 --target "$target" --psk-identity soak-wrongkey --psk wrongKey \
				--handshake-only --count 1 --duration 1
			bench_run expect-fail 2 --target "$target" --psk-identity soak-unknown "${psk_args[@]}" \
				--handshake-only --count 1 --duration 1
		fi
		bench_run handshake "$(left)" --target "$target" --psk-identity soak-churn "${psk_args[@]}" \
			--handshake-only --sessions 2 --count 20 --duration "$(left)"
		sleep 1
	done
}

# Handshake churn, ECDHE-ECDSA with a client certificate: 4 a round, verifying the server.
worker_churn_ecdsa() {
	while [ "$(left)" -gt 2 ]; do
		bench_run handshake "$(left)" --target "$target" "${cert_args[@]}" --ca "$certs/ca-cert.pem" \
			--server-name localhost --handshake-only --sessions 1 --count 4 --duration "$(left)"
		sleep 1
	done
}

# Idle sessions: 3 bench sessions do 2 requests each and stay idle past the idle timeout.
worker_idle_bench() {
	hold=$((idle_timeout + 10))
	while [ "$(left)" -gt $((hold + 5)) ]; do
		bench_run idle $((hold + 10)) --target "$target" --psk-identity soak-idle "${psk_args[@]}" \
			--sessions 3 --requests-per-session 2 --duration 10 --hold "$hold"
		sleep 2
	done
}

# Idle sessions with OpenSSL: an s_client (PSK) that says nothing until the proxy closes it.
worker_idle_sclient() {
	exec 7<>"$tmp/sclient-idle.fifo" # never gives EOF: s_client stays quiet
	while [ "$(left)" -gt $((idle_timeout + 10)) ]; do
		out=$tmp/sclient-idle.out
		t0=$(date +%s)
		run_bounded $((idle_timeout + 15)) openssl s_client -dtls1_2 -connect "$target" \
			-psk "$psk_hex" -psk_identity soak-idle -cipher PSK-AES128-CCM8:@SECLEVEL=0 <&7 >"$out" 2>&1
		t1=$(date +%s)
		# the proxy's close_notify at the idle timeout ends s_client before its bound
		if grep -q 'Cipher is PSK-AES128-CCM8' "$out" && [ $((t1 - t0)) -ge $((idle_timeout - 2)) ] &&
			[ $((t1 - t0)) -lt $((idle_timeout + 12)) ]; then
			note sclient-idle ok
		else
			note sclient-idle error
			{ echo "--- s_client idle:"; tail -5 "$out"; } >>"$tmp/$wname.err"
		fi
		sleep 3
	done
}

# Reconnects from one source port: libcoap client (clean close), then s_client killed
# without close_notify, then the libcoap client again replaces that dead session.
worker_reconnect() {
	cport=$1
	exec 7<>"$tmp/sclient-rc.fifo"
	while [ "$(left)" -gt 10 ]; do
		out=$(run_bounded 8 coap-client-openssl -B 5 -p "$cport" -a 127.0.0.1 -m post -e soak-ping \
			-u soak-reconnect -k "$psk_key" "coaps://$target/echo" 2>&1)
		case $out in *soak-ping*) note coap-client ok ;; *) note coap-client error; echo "coap-client: $out" >>"$tmp/$wname.err" ;; esac
		sleep 1
		o=$tmp/sclient-rc.out
		run_bounded 3 openssl s_client -dtls1_2 -bind "127.0.0.1:$cport" -connect "$target" \
			-psk "$psk_hex" -psk_identity soak-reconnect -cipher PSK-AES128-CCM8:@SECLEVEL=0 <&7 >"$o" 2>&1
		# timeout sent SIGTERM: s_client dies without close_notify
		if grep -q 'Cipher is PSK-AES128-CCM8' "$o"; then
			note sclient-killed ok
		else
			note sclient-killed error
			{ echo "--- s_client -bind:"; tail -5 "$o"; } >>"$tmp/$wname.err"
		fi
		sleep 1
	done
}

# Lossy path through faultproxy (10% drop, duplicate, delay): libcoap clients, PSK and
# ECDHE-ECDSA with a client certificate, each a handshake and a POST, in turn.
# (Not coaps-bench: its handshake stalls for good when a flight is lost.)
worker_lossy() {
	url=coaps://127.0.0.1:$fp_port/echo
	n=0
	while [ "$(left)" -gt 20 ]; do
		n=$((n + 1))
		if [ $((n % 2)) = 1 ]; then
			what=lossy-psk
			out=$(run_bounded 20 coap-client-openssl -B 15 -m post -e "soak-lossy-$n" \
				-u soak-lossy -k "$psk_key" "$url" 2>&1)
		else
			what=lossy-ecdsa
			out=$(run_bounded 20 coap-client-openssl -B 15 -m post -e "soak-lossy-$n" \
				-c "$certs/client-cert.pem" -j "$certs/client-key.pem" "$url" 2>&1)
		fi
		case $out in
		*"soak-lossy-$n"*) note "$what" ok ;;
		*) note "$what" error; echo "$what: $out" >>"$tmp/$wname.err" ;;
		esac
		sleep 0.5
	done
}

mkfifo "$tmp/sclient-idle.fifo" "$tmp/sclient-rc.fifo"
rc_port=$(free_port)
: >"$tmp/bench.results"
: >"$tmp/clients.results"

# Priming: more sessions at once (24 PSK + 8 ECDSA) than the workers ever hold (about 15),
# so that the heap reaches its high-water mark before t=0; later growth is not just a
# new peak of concurrent sessions (each holds mbedTLS contexts and buffers of tens of kB).
end_time=$(($(date +%s) + 20))
( wname=prime-psk; trap - EXIT; bench_run prime 15 --target "$target" --psk-identity soak-steady \
	"${psk_args[@]}" --sessions 24 --inflight 2 --requests-per-session 4 --duration 10 --hold 2 ) &
p1=$!
( wname=prime-ecdsa; trap - EXIT; bench_run prime 15 --target "$target" "${cert_args[@]}" \
	--sessions 8 --requests-per-session 1 --duration 10 --hold 2 ) &
p2=$!
wait $p1 $p2
start_time=$(date +%s)
end_time=$((start_time + duration))
for w in steady churn_psk churn_ecdsa idle_bench idle_sclient "reconnect $rc_port" lossy; do
	name=${w%% *}
	( wname=$name; trap - EXIT; "worker_$name" ${w#"$name"} ) 2>>"$tmp/$name.err" &
	worker_pids="$worker_pids $!"
done

# --- sampling -----------------------------------------------------------------

counts=$tmp/counts   # running "KEY COUNT" lines from the log
: >"$counts"
log_off=0

# Adds the log lines written since the last call to $counts.
count_log() {
	size=$(stat -c %s "$log")
	[ "$size" -gt "$log_off" ] || return 0
	chunk=$tmp/chunk
	tail -c +$((log_off + 1)) "$log" | head -c $((size - log_off)) >"$chunk"
	# only whole lines; the rest waits for the next call
	whole=$(awk '{n += length($0) + 1} END {print n + 0}' "$chunk")
	if [ "$(tail -c 1 "$chunk" | od -An -c | tr -d ' ')" != '\n' ]; then
		last=$(tail -n 1 "$chunk" | wc -c)
		whole=$((size - log_off - last))
		head -c "$whole" "$chunk" >"$chunk.w"
		mv "$chunk.w" "$chunk"
	else
		whole=$((size - log_off))
	fi
	log_off=$((log_off + whole))
	awk -F '\t' '
		FILENAME == ARGV[1] { c[$1] = $2; next }
		{
			ev = ""
			if (match($0, /event=[a-z-]+/)) ev = substr($0, RSTART + 6, RLENGTH - 6)
			if (ev == "") next
			c["event:" ev]++
			if (ev == "handshake-failed" || ev == "session-closed" || ev == "session-refused") {
				r = "?"
				if (match($0, /reason="([^"\\]|\\.)*"/)) r = substr($0, RSTART + 8, RLENGTH - 9)
				if (length(r) > 100) r = substr(r, 1, 100) "..."
				c[ev ":" r]++
			}
		}
		END { for (k in c) print k "\t" c[k] }
	' "$counts" "$chunk" >"$counts.new"
	mv "$counts.new" "$counts"
}

# Prints the running count of KEY (0 if none).
count_of() {
	awk -F '\t' -v k="$1" '$1 == k {print $2; f = 1} END {if (!f) print 0}' "$counts"
}

# Prints the daemon's VmRSS in kB (empty if it is gone).
rss_kb() {
	awk '/^VmRSS:/ {print $2}' "/proc/$proxy_pid/status" 2>/dev/null
}

# Prints the daemon's CPU time (user + system) in clock ticks.
cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$proxy_pid/stat" 2>/dev/null
}

samples=$tmp/samples   # t rss sessions sockets hs_ok hs_failed cpu_ticks
: >"$samples"
alive=1
cpu0=$(cpu_ticks)
printf 'soak: %d s against coaps-proxyd pid %d on %s (faultproxy %s), a sample every %d s, work dir %s\n' \
	"$duration" "$proxy_pid" "$target" "$fp_port" "$interval" "$tmp"
printf '%8s %9s %9s %8s %9s %9s\n' t_s rss_kb sessions sockets hs_ok hs_failed
next=$((start_time + interval))
while :; do
	now=$(date +%s)
	if [ "$now" -lt "$next" ]; then
		sleep $((next - now))
		continue
	fi
	if ! kill -0 "$proxy_pid" 2>/dev/null; then
		alive=0
		echo "soak: coaps-proxyd died at t=$((now - start_time)) s" >&2
		break
	fi
	r=$(rss_kb)
	sock=$(find "/proc/$proxy_pid/fd" -lname 'socket:*' 2>/dev/null | wc -l)
	count_log
	new=$(count_of event:session-new)
	closed=$(count_of event:session-closed)
	ok=$(count_of event:handshake-ok)
	failed=$(count_of event:handshake-failed)
	t=$((now - start_time))
	echo "$t $r $((new - closed)) $sock $ok $failed $(cpu_ticks)" >>"$samples"
	printf '%8d %9d %9d %8d %9d %9d\n' "$t" "$r" $((new - closed)) "$sock" "$ok" "$failed"
	[ "$now" -lt "$end_time" ] || break
	next=$((next + interval))
	[ "$next" -le "$end_time" ] || next=$end_time
done

# --- wind-down ----------------------------------------------------------------

# Workers stop by themselves (every command is bounded by the time left); wait up to 60 s.
for _ in $(seq 600); do
	busy=0
	for p in $worker_pids; do kill -0 "$p" 2>/dev/null && busy=1; done
	[ $busy = 0 ] && break
	sleep 0.1
done
for p in $worker_pids; do
	if kill -0 "$p" 2>/dev/null; then
		echo "soak: worker $p still running; killed" >&2
		kill -TERM "$p" 2>/dev/null
	fi
	wait "$p" 2>/dev/null # reaped: its CPU time counts in ours below
done
cpu1=$(cpu_ticks)
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$proxy_pid/status" 2>/dev/null)
kill -USR1 "$fp_pid" 2>/dev/null
kill -TERM "$fp_pid" 2>/dev/null
wait "$fp_pid" 2>/dev/null
fp_counts=$(grep -o 'forwarded=.*' "$tmp/faultproxy.err" "$tmp/faultproxy.out" 2>/dev/null | tail -1 | sed 's/^[^:]*://')

stop_status="not running"
if [ $alive = 1 ] && kill -0 "$proxy_pid" 2>/dev/null; then
	kill -TERM "$proxy_pid"
	for _ in $(seq 100); do
		kill -0 "$proxy_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$proxy_pid" 2>/dev/null; then
		stop_status="hung on SIGTERM"
		kill -KILL "$proxy_pid"
		wait "$proxy_pid" 2>/dev/null
	else
		wait "$proxy_pid"
		st=$?
		stop_status="exit $st"
	fi
fi
kill -TERM "$backend_pid" 2>/dev/null
count_log

# --- summary ------------------------------------------------------------------

hz=$(getconf CLK_TCK)
elapsed=$(($(date +%s) - start_time))
# CPU of this script and everything it reaped (the daemon included), in ticks
all_ticks=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
load_cpu=$(awk -v a="$all_ticks" -v d="${cpu1:-0}" -v hz="$hz" 'BEGIN {printf "%.1f", (a - d) / hz}')
trend=$(awk -v w="$warmup" '
	$1 >= w { n++; x = $1 / 3600; y = $2; sx += x; sy += y; sxx += x * x; sxy += x * y
		if (n == 1) first = y; last = y; xs[n] = x; ys[n] = y }
	END {
		if (n < 3) { print n, "null", "null", "null", "null"; exit }
		d = n * sxx - sx * sx
		b = (n * sxy - sx * sy) / d
		a = (sy - b * sx) / n
		for (i = 1; i <= n; i++) { e = ys[i] - a - b * xs[i]; ss += e * e }
		se = sqrt(ss / (n - 2) / (sxx - sx * sx / n))
		printf "%d %d %d %.0f %.0f\n", n, first, last, b, se
	}' "$samples")
read -r n_trend rss_first rss_last slope slope_se <<<"$trend"

verdict=pass
why=""
[ $alive = 1 ] || { verdict=fail; why="$why daemon-died"; }
[ "$stop_status" = "exit 0" ] || { verdict=fail; why="$why shutdown:$stop_status"; }
if [ "$slope" = null ]; then
	verdict=fail
	why="$why too-few-samples"
elif [ "${slope#-}" != "$slope" ] || [ "$slope" -lt "$max_slope" ]; then
	:
else
	verdict=fail
	why="$why rss-slope"
fi

# bench totals by worker kind: kind runs handshakes requests retransmissions errors
# (idle rounds: the proxy's close_notify at the idle timeout counts as an io error in the
# bench; that is the expected end, so it is counted as idle_closed, not as an error)
bench_totals=$(awk '{k = $2; r[k]++; h[k] += $3; q[k] += $4; x[k] += $5
		if (k == "idle") { e[k] += $6 - $11; i[k] += $11 } else e[k] += $6 }
	END {for (k in r) print k, r[k], h[k], q[k], x[k], e[k], i[k] + 0}' "$tmp/bench.results" | sort)
req_total=$(awk '$2 != "expect-fail" {s += $4} END {print s + 0}' "$tmp/bench.results")
err_total=$(awk '$2 == "idle" {s += $6 - $11} $2 != "expect-fail" && $2 != "idle" {s += $6} END {print s + 0}' "$tmp/bench.results")
client_totals=$(awk '{k = $2; if ($3 == "ok") o[k]++; else e[k]++; all[k] = 1}
	END {for (k in all) print k, o[k] + 0, e[k] + 0}' "$tmp/clients.results" | sort)
client_err=$(awk '$3 != "ok" {s++} END {print s + 0}' "$tmp/clients.results")
client_ok=$(awk '$3 == "ok" {s++} END {print s + 0}' "$tmp/clients.results")

echo
echo "== samples"
printf '%8s %9s %9s %8s %9s %9s\n' t_s rss_kb sessions sockets hs_ok hs_failed
awk '{printf "%8d %9d %9d %8d %9d %9d\n", $1, $2, $3, $4, $5, $6}' "$samples"
echo
echo "== RSS trend (samples from t >= ${warmup} s: $n_trend)"
echo "first ${rss_first} kB, last ${rss_last} kB, peak (VmHWM) ${hwm:-?} kB"
echo "slope ${slope} kB/hour (+- ${slope_se} standard error), limit ${max_slope} kB/hour"
echo
echo "== load (coaps-bench rounds): kind rounds handshakes requests retransmissions errors idle_closed"
echo "$bench_totals"
echo "== other clients: what ok errors"
echo "$client_totals"
echo "requests answered ${req_total}, errors ${err_total} (bench) + ${client_err} (other clients)"
echo
echo "== proxy log"
echo "handshake-ok $(count_of event:handshake-ok), handshake-failed $(count_of event:handshake-failed), session-new $(count_of event:session-new), cookie-sent $(count_of event:cookie-sent)"
grep -E '^(handshake-failed|session-closed|session-refused):' "$counts" | sort | awk -F '\t' '{printf "  %6d  %s\n", $2, $1}'
grep -E '^event:(coap-dropped|log-suppressed)' "$counts" | awk -F '\t' '{printf "  %6d  %s\n", $2, $1}'
echo "faultproxy: ${fp_counts:-?}"
echo "daemon CPU $(awk -v a="${cpu0:-0}" -v b="${cpu1:-0}" -v hz="$hz" -v t="$elapsed" \
	'BEGIN {printf "%.1f s (%.1f%% of one core)", (b - a) / hz, (t > 0) ? 100 * (b - a) / hz / t : 0}'); shutdown: $stop_status"
echo "load CPU (clients, backend, faultproxy, this script) ${load_cpu} s ($(awk -v c="$load_cpu" -v t="$elapsed" 'BEGIN {printf "%.1f", (t > 0) ? 100 * c / t : 0}')% of one core)"
echo
echo "soak: ${verdict}${why:+ (${why# })}"

# JSON summary
{
	printf '{"duration_s":%d,"elapsed_s":%d,"interval_s":%d,"warmup_s":%d,"idle_timeout_s":%d,' \
		"$duration" "$elapsed" "$interval" "$warmup" "$idle_timeout"
	printf '"samples":['
	awk '{printf "%s{\"t_s\":%d,\"rss_kb\":%d,\"sessions\":%d,\"sockets\":%d,\"handshakes_ok\":%d,\"handshakes_failed\":%d}",
		(NR > 1) ? "," : "", $1, $2, $3, $4, $5, $6}' "$samples"
	printf '],"rss":{"first_kb":%s,"last_kb":%s,"peak_kb":%s,"slope_kb_per_hour":%s,"slope_stderr":%s,"fit_samples":%d,"max_slope_kb_per_hour":%d},' \
		"$rss_first" "$rss_last" "${hwm:-null}" "$slope" "$slope_se" "$n_trend" "$max_slope"
	printf '"requests":%d,"errors":{"bench":%d,"clients":%d},"clients_ok":%d,' \
		"$req_total" "$err_total" "$client_err" "$client_ok"
	printf '"bench":{'
	echo "$bench_totals" | awk 'NF == 7 {printf "%s\"%s\":{\"rounds\":%d,\"handshakes\":%d,\"requests\":%d,\"retransmissions\":%d,\"errors\":%d,\"idle_closed\":%d}",
		(n++) ? "," : "", $1, $2, $3, $4, $5, $6, $7}'
	printf '},"clients":{'
	echo "$client_totals" | awk 'NF == 3 {printf "%s\"%s\":{\"ok\":%d,\"errors\":%d}", (n++) ? "," : "", $1, $2, $3}'
	printf '},"log":{'
	sort "$counts" | awk -F '\t' '{k = $1; gsub(/\\/, "\\\\", k); gsub(/"/, "\\\"", k)
		printf "%s\"%s\":%d", (NR > 1) ? "," : "", k, $2}'
	printf '},"faultproxy":"%s","daemon_cpu_s":%s,"load_cpu_s":%s,"shutdown":"%s","verdict":"%s"}\n' \
		"${fp_counts:-}" "$(awk -v a="${cpu0:-0}" -v b="${cpu1:-0}" -v hz="$hz" 'BEGIN {printf "%.1f", (b - a) / hz}')" "$load_cpu" \
		"$stop_status" "$verdict"
} >"$json_out"
echo "soak: summary in $json_out"
[ "$verdict" = pass ]
