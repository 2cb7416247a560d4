#!/bin/sh
# run-bench.sh: `make bench`: the same CoAP workload through (a) nothing, (b) a bare
# UDP relay, (c) coaps-proxyd and (d) libcoap's forward proxy, interleaved; handshake
# rates, the in-process handshake floor and idle session bytes; bench-results.json.
# usage: run-bench.sh BUILDDIR [SRCDIR]
set -u

BUILD=$(cd "${1:-.}" && pwd)
SRC=${2:-$(dirname "$0")/../..}
BENCH=$BUILD/tests/bench/coaps-bench
PROXYD=$BUILD/src/coaps-proxyd
OUT=$BUILD/bench-results.json
ROUNDS=${BENCH_ROUNDS:-3}
DUR=${BENCH_DURATION:-5}		# seconds per relay run
SESSIONS=${BENCH_SESSIONS:-8}
INFLIGHT=${BENCH_INFLIGHT:-4}
IDLE_N=${BENCH_IDLE_SESSIONS:-10000}
ulimit -n "$(ulimit -Hn)" 2>/dev/null	# the idle run holds one socket per session
WORKLOAD="--sessions $SESSIONS --inflight $INFLIGHT --method post --size 64 --duration $DUR"

. "$SRC/tests/bench/bench-certs.sh"
. "$SRC/tests/bench/lib.sh"

bench_begin run-bench "$BENCH"

# Pinning: servers under test on core 1, load generator (and echo backend) on core 0.
if bench_pin; then
	echo "run-bench: pinning servers under test (relay, coaps-proxyd, libcoap) to core 1,"
	echo "           the load generator and the echo backend to core 0"
else
	echo "run-bench: not pinning (no taskset or fewer than 2 cores): figures are rougher"
fi

base=$((30000 + ($$ % 1000) * 20))
ECHO=$base
RELAY=$((base + 1))
PX=$((base + 2))
LC=$((base + 4))		# libcoap: DTLS on LC + 1
PX_IDLE=$((base + 6))
LC_IDLE=$((base + 8))


# alive PID: whether it still runs.
alive() {
	kill -0 "$1" 2>/dev/null
}

# write_proxyd_conf FILE PORT: the coaps-proxyd configuration for the bench.
write_proxyd_conf() {
	bench_proxyd_conf "$1" "$2" "$ECHO" "park_after = ${PARK_AFTER:-30};"
}

# start_proxyd NAME PORT: start coaps-proxyd; sets PID var $LAST or empty when it fails.
start_proxyd() {
	if [ ! -x "$PROXYD" ]; then
		LAST=""
		return
	fi
	write_proxyd_conf "$TMP/$1.conf" "$2"
	start "$1" $SRV "$PROXYD" -f -c "$TMP/$1.conf"
	sleep 0.5
	if ! alive "$LAST" || ! $LOAD "$BENCH" -q --target 127.0.0.1:$2 --psk-identity bench \
	    --psk benchkey123 --count 5 --duration 5 --json "$TMP/$1-probe.json" ||
	    ! python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(d["requests"]<5)' \
	    "$TMP/$1-probe.json"; then
		echo "run-bench: coaps-proxyd ($1) did not start or does not relay; see its log:"
		sed 's/^/    /' "$TMP/$1.log" | tail -5
		kill "$LAST" 2>/dev/null
		LAST=""
	fi
}

# start_libcoap NAME PORT: libcoap's server as forward proxy (DTLS on PORT + 1).
start_libcoap() {
	if ! command -v coap-server-openssl >/dev/null 2>&1; then
		LAST=""
		return
	fi
	bench_openssl_conf
	start "$1" $SRV coap-server-openssl -A 127.0.0.1 -p "$2" -k benchkey123 -h bench \
		-P ",bench-proxy-name"
	sleep 0.5
	alive "$LAST" || LAST=""
}

# run NAME ARGS...: one coaps-bench run writing $TMP/NAME.json (absent on failure).
run() {
	name=$1
	shift
	if ! timeout 120 $LOAD "$BENCH" -q --json "$TMP/$name.json" "$@" \
	    >"$TMP/$name.out" 2>&1; then
		echo "run-bench: $name failed:"
		sed 's/^/    /' "$TMP/$name.out" | tail -5
		rm -f "$TMP/$name.json"
	fi
	python3 - "$TMP/$name.json" "$name" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    sys.exit(0)
l = d["latency_us"]
print("  %-24s %9.0f req/s  %7.0f hs/s  p50 %5d  p99 %6d us  retx %d  err %d" % (
    sys.argv[2], d["requests_per_s"], d["handshakes_per_s"], l["p50"], l["p99"],
    d["retransmissions"], d["errors"]))
EOF
}

echo "run-bench: workload: $SESSIONS sessions x $INFLIGHT in flight, POST 64 bytes, ${DUR}s per run, $ROUNDS rounds"
start echo $LOAD "$BENCH" --backend --listen 127.0.0.1:$ECHO
ECHO_PID=$LAST
start relay $SRV "$BENCH" --udp-relay --listen 127.0.0.1:$RELAY --to 127.0.0.1:$ECHO
RELAY_PID=$LAST
sleep 0.3
alive "$ECHO_PID" || { echo "run-bench: echo backend did not start"; cat "$TMP/echo.log"; exit 1; }
start_proxyd proxyd $PX
PX_PID=$LAST
[ -n "$PX_PID" ] || echo "run-bench: (c) coaps-proxyd not available: reported as null"
start_libcoap libcoap $LC
LC_PID=$LAST
[ -n "$LC_PID" ] || echo "run-bench: (d) libcoap forward proxy not available: reported as null"

PSK="--psk-identity bench --psk benchkey123"
r=1
while [ $r -le "$ROUNDS" ]; do
	echo "run-bench: round $r"
	run "direct-$r" --plain --target 127.0.0.1:$ECHO $WORKLOAD
	alive "$RELAY_PID" && run "udp_relay-$r" --plain --target 127.0.0.1:$RELAY $WORKLOAD \
		--server-pid "$RELAY_PID"
	[ -n "$PX_PID" ] && alive "$PX_PID" && run "coaps_proxyd-$r" --target 127.0.0.1:$PX $PSK \
		$WORKLOAD --server-pid "$PX_PID"
	[ -n "$LC_PID" ] && alive "$LC_PID" && run "libcoap_proxy-$r" \
		--target 127.0.0.1:$((LC + 1)) $PSK $WORKLOAD --server-pid "$LC_PID" \
		--proxy-uri "coap://127.0.0.1:$ECHO/echo"
	r=$((r + 1))
done

# Handshakes, interleaved with the in-process floor, $ROUNDS rounds. Enough sessions
# (HS_SESSIONS) that the daemon's core, not the round trips, sets the ECDSA rate; the
# client skips the server's chain check (no --ca) so that it is cheaper than the server.
HS_SESSIONS=${BENCH_HS_SESSIONS:-64}
echo "run-bench: handshakes ($ROUNDS rounds: PSK, ECDHE-ECDSA with $HS_SESSIONS sessions, ECDHE-ECDSA resumed, in-process floors)"
CERTS="--cert $TMP/client-cert.pem --key $TMP/client-key.pem"
r=1
while [ $r -le "$ROUNDS" ]; do
	if [ -n "$PX_PID" ] && alive "$PX_PID"; then
		run "hs-psk-$r" --target 127.0.0.1:$PX $PSK --handshake-only --sessions 8 \
			--duration 4 --server-pid "$PX_PID"
		run "hs-ecdsa-$r" --target 127.0.0.1:$PX $CERTS --handshake-only \
			--sessions "$HS_SESSIONS" --duration 6 --server-pid "$PX_PID"
		# Each session resumes its previous one (ticket): abbreviated handshakes.
		run "hs-resume-$r" --target 127.0.0.1:$PX $CERTS --handshake-only --resume \
			--sessions 8 --duration 4 --server-pid "$PX_PID"
	fi
	timeout 120 $SRV "$BENCH" -q --json "$TMP/floor-ecdsa-$r.json" --inprocess-handshakes 300 \
		--cert "$TMP/server-cert.pem" --key "$TMP/server-key.pem" --ca "$TMP/ca-cert.pem" \
		--client-cert "$TMP/client-cert.pem" --client-key "$TMP/client-key.pem" \
		--server-name localhost || echo "run-bench: in-process ECDSA floor failed"
	timeout 60 $SRV "$BENCH" -q --json "$TMP/floor-psk-$r.json" --inprocess-handshakes 5000 \
		$PSK || echo "run-bench: in-process PSK floor failed"
	r=$((r + 1))
done

echo "run-bench: idle sessions ($IDLE_N, fresh servers, RSS after 4 s idle; coaps-proxyd parks after 1 s)"
PARK_AFTER=1 start_proxyd proxyd-idle $PX_IDLE
if [ -n "$LAST" ]; then
	run idle-proxyd --target 127.0.0.1:$PX_IDLE $PSK --sessions "$IDLE_N" --requests-per-session 1 \
		--ramp 64 --hold 4 --duration 60 --server-pid "$LAST"
	kill "$LAST" 2>/dev/null
fi
start_libcoap libcoap-idle $LC_IDLE
if [ -n "$LAST" ]; then
	run idle-libcoap --target 127.0.0.1:$((LC_IDLE + 1)) $PSK --path /time \
		--sessions "$IDLE_N" --requests-per-session 1 --ramp 64 --hold 4 --duration 60 \
		--server-pid "$LAST"
	kill "$LAST" 2>/dev/null
fi

python3 - "$TMP" "$OUT" "$ROUNDS" "$IDLE_N" <<'EOF'
import json, os, statistics, sys

tmp, out, rounds, idle_n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def load(name):
    try:
        return json.load(open(os.path.join(tmp, name + ".json")))
    except Exception:
        return None

targets = ["direct", "udp_relay", "coaps_proxyd", "libcoap_proxy"]
labels = {"direct": "(a) direct", "udp_relay": "(b) UDP relay",
          "coaps_proxyd": "(c) coaps-proxyd", "libcoap_proxy": "(d) libcoap proxy"}
rps, p50, p99, errs = {}, {}, {}, {}
for t in targets:
    runs = [d for d in (load("%s-%d" % (t, r)) for r in range(1, rounds + 1)) if d]
    if not runs:
        rps[t] = p50[t] = p99[t] = errs[t] = None
        continue
    rps[t] = round(statistics.median(d["requests_per_s"] for d in runs), 1)
    p50[t] = statistics.median(d["latency_us"]["p50"] for d in runs)
    p99[t] = statistics.median(d["latency_us"]["p99"] for d in runs)
    errs[t] = sum(d["errors"] for d in runs)

def fmt(v, f="%.0f"):
    return "-" if v is None else f % v

print()
print("%-20s %12s %10s %10s %8s" % ("target (median)", "requests/s", "p50 us", "p99 us", "errors"))
for t in targets:
    print("%-20s %12s %10s %10s %8s" % (labels[t], fmt(rps[t]), fmt(p50[t]), fmt(p99[t]),
                                         fmt(errs[t], "%d")))

def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)

ratios = {
    "throughput_proxyd_over_relay": ratio(rps["coaps_proxyd"], rps["udp_relay"]),
    "throughput_proxyd_over_libcoap": ratio(rps["coaps_proxyd"], rps["libcoap_proxy"]),
    "latency_p50_proxyd_over_relay": ratio(p50["coaps_proxyd"], p50["udp_relay"]),
    "latency_p50_proxyd_over_libcoap": ratio(p50["coaps_proxyd"], p50["libcoap_proxy"]),
}
print()
print("ratios: throughput (c)/(b) %s  (c)/(d) %s;  p50 latency (c)/(b) %s  (c)/(d) %s" % (
    ratios["throughput_proxyd_over_relay"], ratios["throughput_proxyd_over_libcoap"],
    ratios["latency_p50_proxyd_over_relay"], ratios["latency_p50_proxyd_over_libcoap"]))

def median_of(name, key):
    runs = [d for d in (load("%s-%d" % (name, r)) for r in range(1, rounds + 1))
            if d and d["handshakes"] > 0]
    return round(statistics.median(d[key] for d in runs), 1) if runs else None

handshakes = {"psk": median_of("hs-psk", "handshakes_per_s"),
              "ecdsa": median_of("hs-ecdsa", "handshakes_per_s"),
              "ecdsa_inprocess_floor": median_of("floor-ecdsa", "handshakes_per_s"),
              "psk_inprocess_floor": median_of("floor-psk", "handshakes_per_s")}
ratios["handshakes_ecdsa_over_floor"] = ratio(handshakes["ecdsa"],
                                              handshakes["ecdsa_inprocess_floor"])
handshakes["ecdsa_resumed"] = median_of("hs-resume", "handshakes_per_s")
ratios["handshakes_resumed_over_ecdsa"] = ratio(handshakes["ecdsa_resumed"], handshakes["ecdsa"])

def per_cpu(name):
    """Handshakes per second of the daemon's CPU time: its one core's capacity."""
    runs = [d for d in (load("%s-%d" % (name, r)) for r in range(1, rounds + 1))
            if d and d["handshakes"] > 0 and d.get("server_cpu_s", -1) > 0]
    return round(statistics.median(d["handshakes"] / d["server_cpu_s"] for d in runs), 1) \
        if runs else None

handshakes["psk_per_daemon_cpu_s"] = per_cpu("hs-psk")
handshakes["ecdsa_per_daemon_cpu_s"] = per_cpu("hs-ecdsa")
print()
print("handshakes/s against coaps-proxyd (median): PSK %s  ECDSA %s" % (
    fmt(handshakes["psk"]), fmt(handshakes["ecdsa"])))
print("in-process floor (server side only, median): ECDSA %s/s (%s us)  PSK %s/s (%s us)" % (
    fmt(handshakes["ecdsa_inprocess_floor"]),
    fmt(median_of("floor-ecdsa", "server_us_per_handshake")),
    fmt(handshakes["psk_inprocess_floor"]),
    fmt(median_of("floor-psk", "server_us_per_handshake"))))
print("ratio: ECDSA handshakes coaps-proxyd / in-process floor %s" % (
    ratios["handshakes_ecdsa_over_floor"],))
print("resumed ECDHE-ECDSA handshakes (session ticket, median) %s/s: %s x the full ones" % (
    fmt(handshakes["ecdsa_resumed"]), ratios["handshakes_resumed_over_ecdsa"]))
print("per second of coaps-proxyd CPU (its one core's capacity): PSK %s  ECDSA %s" % (
    fmt(handshakes["psk_per_daemon_cpu_s"]), fmt(handshakes["ecdsa_per_daemon_cpu_s"])))
for n in ("hs-psk", "hs-ecdsa", "hs-resume"):
    for r in range(1, rounds + 1):
        d = load("%s-%d" % (n, r))
        if d:
            print("  %s-%d: bench used %.2f s CPU of %.2f s (near 1.0: the bench limited the rate)" % (
                n, r, d["client_cpu_s"], d["elapsed_s"]))

def idle(name):
    d = load(name)
    if d is None or d["server_rss_kb"] is None or d["server_rss_start_kb"] is None:
        return None
    if d["handshakes"] < idle_n:
        return None
    return round((d["server_rss_kb"] - d["server_rss_start_kb"]) * 1024 / d["handshakes"])

idle_px, idle_lc = idle("idle-proxyd"), idle("idle-libcoap")
print()
print("idle session bytes (RSS delta / sessions): coaps-proxyd %s  libcoap %s" % (
    fmt(idle_px), fmt(idle_lc)))

res = {
    "relay_rps": rps,
    "latency_p50_us": p50,
    "latency_p99_us": p99,
    "errors": errs,
    "ratios": ratios,
    "handshakes_per_s": handshakes,
    "idle_session_bytes": idle_px,
    "idle_session_bytes_libcoap": idle_lc,
    "workload": {"sessions": int(os.environ.get("BENCH_SESSIONS", "8")),
                 "inflight": int(os.environ.get("BENCH_INFLIGHT", "4")),
                 "method": "post", "size": 64, "rounds": rounds,
                 "idle_sessions": idle_n},
}
with open(out, "w") as f:
    json.dump(res, f, indent=2)
    f.write("\n")
print()
print("run-bench: wrote %s" % out)
EOF
