#!/bin/sh
# scale.sh: N concurrent PSK sessions against one coaps-proxyd on this machine;
# every session parks, then sends one more request and must be answered.
# usage: scale.sh BUILDDIR [SRCDIR]      (`make scale`; about 2 minutes for 100,000)
# Environment: SCALE_SESSIONS (default 100000), SCALE_PROCS (bench processes,
# default 6, each bound to its own source address 127.0.0.(2+i)), SCALE_WAKE_RATE
# (requests per second per process after the hold, default 800).
# Prints a table, writes BUILDDIR/scale-results.json, exits 0 only when every
# session was established, parked and answered its request after the restore.
set -u

BUILD=$(cd "${1:-.}" && pwd)
SRC=${2:-$(dirname "$0")/../..}
BENCH=$BUILD/tests/bench/coaps-bench
PROXYD=$BUILD/src/coaps-proxyd
CTL=$BUILD/src/coaps-proxyctl
OUT=$BUILD/scale-results.json
N=${SCALE_SESSIONS:-100000}
PROCS=${SCALE_PROCS:-6}
WAKE=${SCALE_WAKE_RATE:-800}
PARK_AFTER=2
PER=$(((N + PROCS - 1) / PROCS))

for f in "$BENCH" "$PROXYD" "$CTL"; do
	[ -x "$f" ] || { echo "scale: $f not built (make first)"; exit 1; }
done
command -v python3 >/dev/null 2>&1 || { echo "scale: python3 is needed"; exit 1; }
# Each process holds one socket per session (bench) or per live exchange (proxy).
NOFILE=$(ulimit -Hn)
if [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt $((PER + 100)) ]; then
	echo "scale: $PER sessions per process need $((PER + 100)) file descriptors;" \
	    "the hard limit is $NOFILE: raise SCALE_PROCS"
	exit 1
fi
ulimit -n "$NOFILE"

. "$SRC/tests/bench/lib.sh"
bench_tmpdir coaps-scale

bench_pin

base=$((40000 + ($$ % 500) * 20))
ECHO=$base
PX=$((base + 1))
cat >"$TMP/proxy.conf" <<EOF
listen = ( { address = "127.0.0.1"; port = $PX; } );
# Upstream sockets bound to 127.0.0.1: the test clients hold their ports on
# 127.0.0.2 and up, so both sides get a whole ephemeral port range.
backends = ( { name = "echo"; address = "127.0.0.1"; port = $ECHO; sources = [ "127.0.0.1" ]; } );
psk = ( { identity = "bench"; key = "benchkey123"; } );
session = { park_after = $PARK_AFTER; idle_timeout = 3600; max_sessions = $((N + 1000));
            max_handshakes = 5000; state_file = ""; }; # no saved sessions
control = { socket = "$TMP/ctl.sock"; };
log = { level = "warning"; };
EOF

$LOAD "$BENCH" --backend --listen 127.0.0.1:$ECHO >"$TMP/echo.log" 2>&1 &
PIDS="$PIDS $!"
$SRV "$PROXYD" -f -c "$TMP/proxy.conf" >"$TMP/proxy.log" 2>&1 &
PX_PID=$!
PIDS="$PIDS $PX_PID"
sleep 1
kill -0 "$PX_PID" 2>/dev/null || { echo "scale: coaps-proxyd did not start:"; cat "$TMP/proxy.log"; exit 1; }
rss0=$(awk '/^VmRSS/ {print $2}' "/proc/$PX_PID/status")

# stat NAME: one counter from `coaps-proxyctl stats`.
stat() {
	"$CTL" -s "$TMP/ctl.sock" stats 2>/dev/null | awk -v k="$1" '$1 == k {print $2}'
}

# The hold is long enough for every process to finish its handshakes and for
# every session to park; the script reads the proxy's state in the meantime.
HOLD=$((N / 1500 + 30))
echo "scale: $N sessions in $PROCS processes ($PER each, source addresses 127.0.0.2-$((PROCS + 1))),"
echo "       park_after $PARK_AFTER s, hold $HOLD s, then one request per session at $((WAKE * PROCS))/s"
t0=$(date +%s)
i=0
BPIDS=""
while [ $i -lt "$PROCS" ]; do
	n=$PER
	[ $((PER * (i + 1))) -gt "$N" ] && n=$((N - PER * i))
	$LOAD "$BENCH" -q --json "$TMP/bench-$i.json" --target 127.0.0.1:$PX \
		--psk-identity bench --psk benchkey123 --src-addrs 127.0.0.$((i + 2)) \
		--sessions "$n" --requests-per-session 1 --ramp 64 --hold "$HOLD" \
		--wake-rate "$WAKE" --duration 600 >"$TMP/bench-$i.out" 2>&1 &
	BPIDS="$BPIDS $!"
	PIDS="$PIDS $!"
	i=$((i + 1))
done

# Wait (bounded) until every session is established and parked.
parked=0
est_s=""
deadline=$((t0 + HOLD + 20))
while [ "$(date +%s)" -lt $deadline ]; do
	parked=$(stat sessions_parked)
	[ "${parked:-0}" -ge "$N" ] && break
	sleep 1
done
t_parked=$(($(date +%s) - t0))
rss_parked=$(awk '/^VmRSS/ {print $2}' "/proc/$PX_PID/status")
echo "scale: $parked sessions parked after ${t_parked} s; proxy RSS $rss_parked kB (at start $rss0 kB)"

for p in $BPIDS; do wait "$p"; done
unparked=$(stat unparked_total)
rss_end=$(awk '/^VmRSS/ {print $2}' "/proc/$PX_PID/status")
"$CTL" -s "$TMP/ctl.sock" stats >"$TMP/stats.txt" 2>&1

python3 - "$TMP" "$OUT" "$N" "$PROCS" "$rss0" "$rss_parked" "$rss_end" "${parked:-0}" \
    "${unparked:-0}" "$t_parked" <<'EOF'
import json, os, sys
tmp, out = sys.argv[1], sys.argv[2]
n, procs, rss0, rss_parked, rss_end, parked, unparked, t_parked = map(int, sys.argv[3:11])
hs = sent = answered = errors = 0
for i in range(procs):
    try:
        d = json.load(open(os.path.join(tmp, "bench-%d.json" % i)))
    except Exception as e:
        print("scale: bench %d wrote no result (%s)" % (i, e))
        continue
    hs += d["handshakes"]
    errors += d["errors"]
    sent += d["wake"]["sent"]
    answered += d["wake"]["answered"]
res = {"sessions": n, "processes": procs, "handshakes": hs, "errors_before_park": errors,
       "parked": parked, "unparked": unparked, "seconds_to_all_parked": t_parked,
       "requests_after_park_sent": sent, "requests_after_park_answered": answered,
       "rss_start_kb": rss0, "rss_all_parked_kb": rss_parked, "rss_end_kb": rss_end,
       "bytes_per_parked_session": round((rss_parked - rss0) * 1024 / max(parked, 1))}
json.dump(res, open(out, "w"), indent=2)
print()
print("%-44s %s" % ("sessions established (handshakes)", hs))
print("%-44s %s" % ("errors before parking", errors))
print("%-44s %s (after %d s)" % ("parked at once", parked, t_parked))
print("%-44s %d kB -> %d kB (%d bytes per parked session)" % (
    "proxy RSS start -> all parked", rss0, rss_parked, res["bytes_per_parked_session"]))
print("%-44s %d sent, %d answered 2.xx" % ("requests after the park", sent, answered))
print("%-44s %s" % ("restores (unparked_total)", unparked))
print("scale: wrote %s" % out)
ok = hs >= n and parked >= n and answered == n
print("scale: %s" % ("every session parked and answered after its restore" if ok else "FAILED"))
sys.exit(0 if ok else 1)
EOF
rc=$?
if [ $rc -ne 0 ]; then
	echo "scale: proxy log (last lines):"
	tail -5 "$TMP/proxy.log"
	sed 's/^/  /' "$TMP/stats.txt" | grep -E 'answers|parked|failed|refused' | head -20
fi
exit $rc
