#!/bin/sh
# storm.sh: handshake storm isolation (issue 15), measured on today's daemon.
# coaps-proxyd runs alone on CPU 0; the load generator, the echo backend and the
# storm clients run at nice 19 on CPU 1. 8 established PSK sessions with one
# request in flight each are measured alone, then while 64 clients make
# back-to-back full ECDHE-ECDSA handshakes (client certificate, no resumption).
# Then a "device storm": D certificate clients start their handshakes at once
# and each makes one request; the time until every device got its answer,
# without and with 20% datagram loss (the bench drops 20% of the datagrams it
# sends and receives, seeded). Prints figures only: no pass/fail on them.
# usage: storm.sh BUILDDIR [SRCDIR]   (`make bench-storm`, also run by `make bench`; ~2.5 min at most)
# Environment: STORM_DURATION (10 s per measurement), STORM_CLIENTS (64),
# STORM_DEVICES (2000), STORM_LOSS (20 percent), STORM_SEED (1), STORM_DEVICE_BOUND
# (60: a device storm stops after this many seconds, answered or not),
# STORM_HANDSHAKE_THREADS (session.handshake_threads; unset: the daemon's default).
set -u

BUILD=$(cd "${1:-.}" && pwd)
SRC=${2:-$(dirname "$0")/../..}
BENCH=$BUILD/tests/bench/coaps-bench
PROXYD=$BUILD/src/coaps-proxyd
DUR=${STORM_DURATION:-10}
CLIENTS=${STORM_CLIENTS:-64}
DEVICES=${STORM_DEVICES:-2000}
LOSS=${STORM_LOSS:-20}
SEED=${STORM_SEED:-1}
BOUND=${STORM_DEVICE_BOUND:-60}	# seconds at most per device storm
# session.handshake_threads for the daemon (unset: its default, the usable cores)
HS_THREADS=${STORM_HANDSHAKE_THREADS:+ handshake_threads = $STORM_HANDSHAKE_THREADS;}

ulimit -n "$(ulimit -Hn)" 2>/dev/null
. "$SRC/tests/bench/bench-certs.sh"
. "$SRC/tests/bench/lib.sh"
bench_begin storm-bench "$BENCH" "$PROXYD"

if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
	PXRUN="taskset -c 0"
	LOW="nice -n 19 taskset -c 1"
	echo "storm-bench: coaps-proxyd on CPU 0; load generator, echo backend and storm" \
	    "clients at nice 19 on CPU 1"
else
	PXRUN=""
	LOW="nice -n 19"
	echo "storm-bench: not pinning (no taskset or fewer than 2 cores): figures are rougher"
fi

base=$((36000 + ($$ % 1000) * 4))
ECHO=$base
PX=$((base + 1))

bench_proxyd_conf "$TMP/proxyd.conf" "$PX" "$ECHO" "$HS_THREADS"


# run NAME ARGS...: one coaps-bench run at low priority writing $TMP/NAME.json.
run() {
	name=$1
	shift
	if ! timeout 300 $LOW "$BENCH" -q --json "$TMP/$name.json" "$@" >"$TMP/$name.out" 2>&1; then
		echo "storm-bench: $name failed:"
		sed 's/^/    /' "$TMP/$name.out" | tail -5
		rm -f "$TMP/$name.json"
	fi
}

PSK="--psk-identity bench --psk benchkey123"
CERTS="--cert $TMP/client-cert.pem --key $TMP/client-key.pem"
start echo $LOW "$BENCH" --backend --listen 127.0.0.1:$ECHO
start proxyd $PXRUN "$PROXYD" -f -c "$TMP/proxyd.conf"
PX_PID=$LAST
sleep 0.5
run probe --target 127.0.0.1:$PX $PSK --count 5 --duration 5
if [ ! -f "$TMP/probe.json" ]; then
	echo "storm-bench: coaps-proxyd does not relay; its log:"
	tail -5 "$TMP/proxyd.log"
	exit 1
fi

WORK="--target 127.0.0.1:$PX $PSK --sessions 8 --inflight 1 --method post --size 64"
echo "storm-bench: 8 PSK sessions x 1 in flight, ${DUR} s alone"
run alone $WORK --duration "$DUR" --server-pid "$PX_PID"
echo "storm-bench: the same while $CLIENTS clients make back-to-back full ECDHE-ECDSA handshakes"
start storm $LOW "$BENCH" -q --json "$TMP/storm.json" --target 127.0.0.1:$PX $CERTS \
	--handshake-only --sessions "$CLIENTS" --duration $((DUR + 8))
STORM_PID=$LAST
sleep 3
run loaded $WORK --duration "$DUR" --server-pid "$PX_PID"
kill -INT "$STORM_PID" 2>/dev/null
n=100
while kill -0 "$STORM_PID" 2>/dev/null && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done

echo "storm-bench: device storm: $DEVICES certificate clients at once, one request each"
run devices --target 127.0.0.1:$PX $CERTS --sessions "$DEVICES" --requests-per-session 1 \
	--duration "$BOUND" --server-pid "$PX_PID"
echo "storm-bench: device storm with $LOSS% datagram loss each way (seed $SEED)"
run devices-loss --target 127.0.0.1:$PX $CERTS --sessions "$DEVICES" --requests-per-session 1 \
	--duration "$BOUND" --loss "$LOSS" --seed "$SEED" --server-pid "$PX_PID"

python3 - "$TMP" "$DEVICES" "$LOSS" "$BOUND" <<'EOF'
import json, os, sys
tmp, devices, loss, bound = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

def load(name):
    try:
        return json.load(open(os.path.join(tmp, name + ".json")))
    except Exception:
        return None

alone, loaded, storm = load("alone"), load("loaded"), load("storm")
print()
print("storm isolation (8 PSK sessions x 1 in flight):")
for label, d in (("alone", alone), ("during the storm", loaded)):
    if d is None:
        print("  %-18s no result" % label)
        continue
    l = d["latency_us"]
    print("  %-18s %8.0f requests/s  p50 %6d  p90 %6d  p99 %6d  max %7d us  errors %d  "
          "retransmissions %d" % (label, d["requests_per_s"], l["p50"], l["p90"], l["p99"],
                                  l["max"], d["errors"], d["retransmissions"]))
if storm:
    print("  storm: %d full ECDHE-ECDSA handshakes (%.1f/s), %d errors" % (
        storm["handshakes"], storm["handshakes_per_s"], storm["errors"]))
if alone and loaded and alone["requests_per_s"] > 0:
    print("  p99 difference %+.2f ms (goal within 1 ms); throughput during/alone %.3f (goal >= 0.7)"
          % ((loaded["latency_us"]["p99"] - alone["latency_us"]["p99"]) / 1000.0,
             loaded["requests_per_s"] / alone["requests_per_s"]))
print()
print("device storm (%d certificate clients at once, one request each):" % devices)
for label, name in (("no loss", "devices"), ("%s%% loss" % loss, "devices-loss")):
    d = load(name)
    if d is None:
        print("  %-10s no result" % label)
        continue
    h = d["handshake_us"]
    extra = ""
    if "dropped" in d:
        extra = "; datagrams dropped: %d sent, %d received" % (d["dropped"]["sent"],
                                                              d["dropped"]["received"])
    when = ("every device answered after %.1f s" % d["elapsed_s"] if d["requests"] == devices
            else "NOT every device answered (stopped after %.1f s, bound %s s)" % (d["elapsed_s"], bound))
    print("  %-10s %s: %d of %d answered, %d handshakes "
          "(handshake p50 %.2f s, p99 %.2f s, max %.2f s), %d retransmissions, errors %d %s; "
          "CPU: bench %.1f s, daemon %.1f s%s"
          % (label, when, d["requests"], devices, d["handshakes"], h["p50"] / 1e6,
             h["p99"] / 1e6, h["max"] / 1e6, d["retransmissions"], d["errors"],
             json.dumps(d["error_detail"]), d["client_cpu_s"], d.get("server_cpu_s", -1), extra))
EOF
