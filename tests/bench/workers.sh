#!/bin/sh
# workers.sh: what worker threads cost (issue 15, point 4). In one run, the same
# offered load against two coaps-proxyd, one with `workers = 1` and one with
# `workers = 2` (both started at the beginning, loaded in turn):
#  - full ECDHE-ECDSA handshakes (client certificate) at a fixed rate, then PSK
#    handshakes at a fixed rate: batches of new clients started on the script's
#    clock; each client hand-shakes, makes one request and closes (close_notify);
#  - requests at a fixed rate (--rate) on S established PSK sessions, each from
#    its own source port.
# For each phase: the daemon's CPU time (utime + stime of /proc/PID/stat, all its
# threads) over the phase, divided by the handshakes completed or the requests
# relayed in it (the daemon's own /metrics counters); summed over R rounds taken
# in the order 1 2, 2 1, 1 2 (a drift of the machine's other load falls on both);
# the ratio workers=2 / workers=1. And the sessions each worker carries at the
# end of each request phase (coaps_worker_sessions{worker="K"} in /metrics, and
# the "worker" field of `coaps-proxyctl --json sessions`).
# No pinning: with 2 workers the daemon may use every core; the load generator
# and the echo backend run at nice 19. Prints figures only: no pass/fail on them.
# usage: workers.sh BUILDDIR [SRCDIR]   (`make bench-workers`, also run by `make bench`; ~2.5 min)
# Environment: WORKERS_ROUNDS (3), WORKERS_ECDSA_RATE (40 handshakes/s),
# WORKERS_PSK_RATE (300 handshakes/s), WORKERS_HS_SECONDS (5 s per handshake phase),
# WORKERS_SESSIONS (300 PSK sessions), WORKERS_RATE (4000 requests/s over them),
# WORKERS_SECONDS (5 s measured per request phase), WORKERS_CONFIGS ("1 2": the
# worker count of each daemon; the first is the reference of the ratios; "1 1 2"
# shows the noise as the ratio of two equal daemons), WORKERS_TEST_NOKEY (1:
# leave the workers key out of the configuration, for a daemon without it; every
# daemon then runs its default and the script says so), WORKERS_PIN (1: every
# daemon on CPU 0, the load generator and backend on CPU 1: the workers' own cost
# on one core, without the load generator sharing the daemon's cores),
# WORKERS_HANDSHAKE_THREADS (session.handshake_threads of every daemon; unset:
# the default, the usable cores; 0: handshakes in the workers' loops).
set -u

BUILD=$(cd "${1:-.}" && pwd)
SRC=${2:-$(dirname "$0")/../..}
BENCH=$BUILD/tests/bench/coaps-bench
PROXYD=$BUILD/src/coaps-proxyd
PROXYCTL=$BUILD/src/coaps-proxyctl
ECDSA_RATE=${WORKERS_ECDSA_RATE:-40}
PSK_RATE=${WORKERS_PSK_RATE:-300}
HS_SECONDS=${WORKERS_HS_SECONDS:-5}
SESSIONS=${WORKERS_SESSIONS:-300}
RATE=${WORKERS_RATE:-4000}
SECONDS_REQ=${WORKERS_SECONDS:-5}
ROUNDS=${WORKERS_ROUNDS:-3}
CONFIGS=${WORKERS_CONFIGS:-1 2}
NOKEY=${WORKERS_TEST_NOKEY:-0}
HS_THREADS=${WORKERS_HANDSHAKE_THREADS:+ handshake_threads = $WORKERS_HANDSHAKE_THREADS;}
TICK=5	# handshake batches started a second

ulimit -n "$(ulimit -Hn)" 2>/dev/null
. "$SRC/tests/bench/bench-certs.sh"
. "$SRC/tests/bench/lib.sh"
bench_begin workers-bench "$BENCH" "$PROXYD" "$PROXYCTL"

LOW="nice -n 19"
PXRUN=""
PINNED="not pinned"
if [ "${WORKERS_PIN:-0}" = 1 ] && command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
	LOW="nice -n 19 taskset -c 1"
	PXRUN="taskset -c 0"
	PINNED="pinned to CPU 0 (load generator and echo backend on CPU 1)"
fi
base=$((21000 + ($$ % 1000) * 8))
ECHO=$base
PSK="--psk-identity bench --psk benchkey123"
CERTS="--cert $TMP/client-cert.pem --key $TMP/client-key.pem"

# snap FILE: the daemon's CPU ticks and its /metrics samples, as JSON in $TMP/FILE.
snap() {
	python3 - "$PX_PID" "$MPORT" >"$TMP/$1" <<'EOF'
import json, os, re, sys, urllib.request
pid, port = sys.argv[1], sys.argv[2]
with open("/proc/%s/stat" % pid) as f:
    fields = f.read().rsplit(")", 1)[1].split()
ticks = int(fields[11]) + int(fields[12])	# utime, stime: fields 14 and 15
metrics = {}
try:
    text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=5).read().decode()
    for line in text.splitlines():
        m = re.match(r'^([a-z_]+(?:\{[^}]*\})?) ([0-9.eE+-]+)$', line)
        if m:
            metrics[m.group(1)] = float(m.group(2))
except Exception as e:
    metrics["error"] = str(e)
json.dump({"ticks": ticks, "hz": os.sysconf("SC_CLK_TCK"), "metrics": metrics}, sys.stdout)
EOF
}

# listening PORT: whether a UDP socket is bound to PORT.
listening() {
	grep -q ":$(printf '%04X' "$1") " /proc/net/udp
}

# serving: whether the metrics endpoint answers.
serving() {
	snap probe-metrics && ! grep -q '"error"' "$TMP/probe-metrics"
}

# gone PID: whether PID has exited.
gone() {
	! kill -0 "$1" 2>/dev/null
}

# all_gone PIDS...: whether every PID has exited.
all_gone() {
	for p in "$@"; do kill -0 "$p" 2>/dev/null && return 1; done
	return 0
}

# forget PIDS...: drops those of PIDS that have exited from $PIDS (the cleanup
# must not signal a PID the system gave to someone else since).
forget() {
	for p in "$@"; do
		kill -0 "$p" 2>/dev/null && continue
		_keep=""
		for q in $PIDS; do [ "$q" = "$p" ] || _keep="$_keep $q"; done
		PIDS=$_keep
	done
}

# established NAME: whether bench NAME printed that all its sessions are up.
established() {
	grep -q 'sessions established' "$TMP/$1.log"
}

# handshakes TAG CREDENTIALS RATE [SECONDS]: RATE new clients a second for SECONDS
# ($HS_SECONDS), in $TICK batches a second started on the script's clock (not after the
# previous batch: the offered load does not depend on the daemon's speed); each
# client hand-shakes, makes one request and closes. Snapshots before and after.
handshakes() {
	tag=$1
	cred=$2
	batch=$(( ($3 + TICK - 1) / TICK ))
	n=$((${4:-$HS_SECONDS} * TICK))
	snap "$tag-start"
	t0=$(date +%s%N)
	i=0
	hs_pids=""
	while [ $i -lt $n ]; do
		start "$tag-$i" $LOW "$BENCH" -q --json "$TMP/$tag-$i.json" --target 127.0.0.1:$PX \
			$cred --sessions "$batch" --requests-per-session 1 --duration 30
		hs_pids="$hs_pids $LAST"
		i=$((i + 1))
		# sleep until start + i ticks
		wait_ns=$((t0 + i * 1000000000 / TICK - $(date +%s%N)))
		[ $wait_ns -gt 0 ] && sleep "$(printf '%d.%09d' $((wait_ns / 1000000000)) $((wait_ns % 1000000000)))"
	done
	wait_for 400 all_gone $hs_pids || echo "workers-bench: $tag: clients still running after 40 s"
	forget $hs_pids
	t1=$(date +%s%N)
	sleep 0.3
	snap "$tag-end"
	echo "$(( (t1 - t0) / 1000000 ))" >"$TMP/$tag-ms"
}

# use C: w, PX, MPORT and PX_PID of daemon C (0, 1...: its place in $CONFIGS).
use() {
	eval "w=\$W_$1 PX=\$PX_$1 MPORT=\$MPORT_$1 PX_PID=\$PID_$1"
}

# daemon C W: starts daemon C with W workers (its own ports), checks that it relays.
daemon() {
	c=$1
	w=$2
	PX=$((base + 1 + 2 * c))
	MPORT=$((base + 2 + 2 * c))
	eval "W_$c=$w PX_$c=$PX MPORT_$c=$MPORT"
	key="workers = $w;"
	[ "$NOKEY" = 1 ] && key="# workers = $w; (left out: WORKERS_TEST_NOKEY=1)"
	bench_proxyd_conf "$TMP/proxyd-$c.conf" "$PX" "$ECHO" "$HS_THREADS" "$key
control = { socket = \"$TMP/control-$c.sock\"; };
metrics = { address = \"127.0.0.1\"; port = $MPORT; };"
	start "proxyd-$c" $PXRUN "$PROXYD" -f -c "$TMP/proxyd-$c.conf"
	PX_PID=$LAST
	eval "PID_$c=$LAST"
	if ! wait_for 100 listening "$PX" || ! wait_for 100 serving; then
		echo "workers-bench: coaps-proxyd (workers = $w) did not start:"
		tail -5 "$TMP/proxyd-$c.log"
		return 1
	fi
	if ! timeout 30 $LOW "$BENCH" -q --target 127.0.0.1:$PX $PSK --count 5 --duration 5 \
	    >"$TMP/probe-$c.out" 2>&1; then
		echo "workers-bench: coaps-proxyd (workers = $w) does not relay:"
		tail -5 "$TMP/probe-$c.out" "$TMP/proxyd-$c.log"
		return 1
	fi
	# Not measured: the first sessions of a process (and of each of its threads)
	# fault in their memory.
	handshakes "warm-ecdsa-$c" "$CERTS" "$ECDSA_RATE" 1
	handshakes "warm-psk-$c" "$PSK" "$PSK_RATE" 1
}

# requests C TAG: $SESSIONS PSK sessions at $RATE requests/s; once all are up and
# 1 s later, $SECONDS_REQ s between two snapshots; then the session list of the
# daemon, and the clients close.
requests() {
	c=$1
	tag=$2
	start "$tag" $LOW "$BENCH" -q --json "$TMP/$tag.json" --target 127.0.0.1:$PX $PSK \
		--sessions "$SESSIONS" --rate "$RATE" --ramp 32 --method post --size 64 --duration 600
	req_pid=$LAST
	if wait_for 600 established "$tag"; then
		sleep 1
		snap "$tag-start"
		t0=$(date +%s%N)
		sleep "$SECONDS_REQ"
		snap "$tag-end"
		t1=$(date +%s%N)
		echo "$(( (t1 - t0) / 1000000 ))" >"$TMP/$tag-ms"
		# After the measured window: the session list, to count the sessions by worker there too.
		timeout 20 "$PROXYCTL" -s "$TMP/control-$c.sock" --json sessions \
			>"$TMP/$tag-sessions.json" 2>"$TMP/$tag-sessions.err"
	else
		echo "workers-bench: $tag: the $SESSIONS sessions were not all established within 60 s"
	fi
	kill -INT "$req_pid" 2>/dev/null
	wait_for 300 gone "$req_pid"
	forget "$req_pid"
}

echo "workers-bench: workers = ${CONFIGS}; $ROUNDS rounds; $(nproc) cores, coaps-proxyd" \
    "$PINNED; load generator and echo backend at nice 19; handshake_threads" \
    "${WORKERS_HANDSHAKE_THREADS:-default (the usable cores)}"
[ "$NOKEY" = 1 ] && echo "workers-bench: WORKERS_TEST_NOKEY=1: the workers key is left out," \
    "every configuration runs the daemon's default"
start echo $LOW "$BENCH" --backend --listen 127.0.0.1:$ECHO
wait_for 100 listening "$ECHO" || { echo "workers-bench: the echo backend did not start"; exit 1; }
IDS=""
REVERSED=""
c=0
for w in $CONFIGS; do
	daemon "$c" "$w" || exit 1
	IDS="$IDS $c"
	REVERSED="$c $REVERSED"
	c=$((c + 1))
done

# Rounds in the order A B, B A, A B...: a drift of the machine's other load
# falls on both configurations alike.
r=1
while [ $r -le "$ROUNDS" ]; do
	order=$IDS
	[ $((r % 2)) -eq 0 ] && order=$REVERSED
	order_w=""
	for c in $order; do use "$c"; order_w="$order_w $w"; done
	echo "workers-bench: round $r of $ROUNDS: $ECDSA_RATE ECDHE-ECDSA handshakes/s, then" \
	    "$PSK_RATE PSK handshakes/s ($HS_SECONDS s each), then $SESSIONS PSK sessions at" \
	    "$RATE requests/s ($SECONDS_REQ s measured); workers =$order_w"
	for c in $order; do
		use "$c"
		handshakes "ecdsa-$c-$r" "$CERTS" "$ECDSA_RATE"
	done
	for c in $order; do
		use "$c"
		handshakes "psk-$c-$r" "$PSK" "$PSK_RATE"
	done
	for c in $order; do
		use "$c"
		requests "$c" "req-$c-$r"
	done
	r=$((r + 1))
done
for c in $IDS; do
	use "$c"
	kill -TERM "$PX_PID" 2>/dev/null
	wait_for 300 gone "$PX_PID" || echo "workers-bench: coaps-proxyd (workers = $w) did not exit within 30 s"
	forget "$PX_PID"
done

python3 - "$TMP" "$NOKEY" "$ROUNDS" $CONFIGS <<'EOF'
import glob, json, os, re, sys
tmp, nokey, rounds, configs = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), sys.argv[4:]
HS_OK = 'coaps_handshakes_total{result="ok"}'
HS_FAILED = 'coaps_handshakes_total{result="failed"}'
RELAYED = 'coaps_messages_relayed_total{direction="in"}'
KINDS = (("ecdsa", "ECDHE-ECDSA handshake", HS_OK), ("psk", "PSK handshake", HS_OK),
         ("req", "relayed request", RELAYED))

def load(name):
    try:
        return json.load(open(os.path.join(tmp, name)))
    except Exception:
        return None

def phase(tag, counter):
    """Daemon CPU (s), events, failed handshakes and wall time (s) of one phase."""
    a, b = load(tag + "-start"), load(tag + "-end")
    try:
        wall = int(open(os.path.join(tmp, tag + "-ms")).read()) / 1000.0
    except Exception:
        return None
    if a is None or b is None or "error" in a["metrics"] or "error" in b["metrics"]:
        return None
    d = lambda k: b["metrics"].get(k, 0) - a["metrics"].get(k, 0)
    return {"cpu": (b["ticks"] - a["ticks"]) / float(a["hz"]), "n": d(counter),
            "failed": d(HS_FAILED), "wall": wall}

def clients(tag):
    """Errors (by kind) and retransmissions summed over the client processes of one phase."""
    err = {}
    retx = 0
    files = glob.glob(os.path.join(tmp, tag + "-[0-9]*.json")) or [os.path.join(tmp, tag + ".json")]
    for f in files:
        d = load(os.path.basename(f))
        if d is None:
            err["no_result"] = err.get("no_result", 0) + 1
            continue
        for k, v in d.get("error_detail", {}).items():
            if v:
                err[k] = err.get(k, 0) + v
        retx += d.get("retransmissions", 0)
    return err, retx

def label(c):
    """Daemon c (its place in WORKERS_CONFIGS) for the reader."""
    twin = " #%d" % (c + 1) if configs.count(configs[c]) > 1 else ""
    return "workers=%s%s%s" % (configs[c], twin, " (key left out)" if nokey else "")

def us(p):
    return p["cpu"] / p["n"] * 1e6 if p and p["n"] > 0 else None

# Per configuration and kind: every round, and the sums over the rounds.
res = {}
for w in range(len(configs)):
    for kind, _, counter in KINDS:
        tot = {"cpu": 0.0, "n": 0, "failed": 0, "wall": 0.0, "rounds": 0, "err": {}, "retx": 0}
        per = []
        for r in range(1, rounds + 1):
            tag = "%s-%s-%d" % (kind, w, r)
            p = phase(tag, counter)
            per.append(p)
            if p is None:
                continue
            for k in ("cpu", "n", "failed", "wall"):
                tot[k] += p[k]
            tot["rounds"] += 1
            err, retx = clients(tag)
            tot["retx"] += retx
            for k, v in err.items():
                tot["err"][k] = tot["err"].get(k, 0) + v
        res[w, kind] = (tot if tot["rounds"] else None, per)

print()
print("daemon CPU (utime+stime, all threads) per event, summed over %d rounds; a handshake "
      "includes its client's one request and close:" % rounds)
for kind, name, _ in KINDS:
    for w in range(len(configs)):
        t, per = res[w, kind]
        if t is None:
            print("  %-24s %-22s no result" % (label(w), name))
            continue
        print("  %-24s %-22s %s us  (%d in %.1f s: %.0f/s; daemon CPU %.2f s, %.0f%% of one "
              "core; rounds: %s us)%s%s%s" % (
                  label(w), name, "%8.1f" % us(t) if us(t) else "     n/a", t["n"], t["wall"],
                  t["n"] / t["wall"], t["cpu"], 100 * t["cpu"] / t["wall"],
                  " ".join("%.1f" % us(p) if us(p) else "n/a" for p in per),
                  "; handshakes failed %d" % t["failed"] if t["failed"] else "",
                  "; client errors %s" % json.dumps(t["err"]) if t["err"] else "",
                  "; CoAP retransmissions %d" % t["retx"] if t["retx"] else ""))

ref = 0
if len(configs) > 1:
    print()
    print("ratio of CPU per event to %s (goal: within 10%%), over all rounds "
          "[each round]:" % label(ref))
    for w in range(1, len(configs)):
        for kind, name, _ in KINDS:
            (a, pa), (b, pb) = res[ref, kind], res[w, kind]
            rr = " ".join("%.3f" % (us(y) / us(x)) if us(x) and us(y) else "n/a"
                          for x, y in zip(pa, pb))
            print("  %-24s %-22s %s  [%s]" % (
                label(w) + " / " + configs[ref], name,
                "%.3f" % (us(b) / us(a)) if a and b and us(a) and us(b) else "n/a", rr))

def listed(name):
    """Sessions by their "worker" field in `coaps-proxyctl --json sessions`, or why not."""
    d = load(name)
    if d is None:
        return "no session list"
    if isinstance(d, dict):
        d = next((v for v in d.values() if isinstance(v, list)), [])
    by = {}
    for s in d:
        k = s.get("worker") if isinstance(s, dict) else None
        by[k] = by.get(k, 0) + 1
    if list(by) in ([None], []):
        return "%d listed, without a worker field" % len(d)
    return "listed: " + ", ".join("worker %s: %d" % (k, by[k]) for k in sorted(by, key=str))

print()
print("sessions per worker at the end of each request phase (coaps_worker_sessions; goal with "
      "2 workers: 35-65% each), and the session list right after (coaps-proxyctl):")
for w in range(len(configs)):
    for r in range(1, rounds + 1):
        b = load("req-%s-%d-end" % (w, r))
        if b is None or "error" in b["metrics"]:
            print("  %-24s round %d: no result" % (label(w), r))
            continue
        per = {}
        for k, v in b["metrics"].items():
            m = re.match(r'^coaps_worker_sessions\{worker="([0-9]+)"\}$', k)
            if m:
                per[int(m.group(1))] = int(v)
        total = sum(per.values())
        sessions = int(b["metrics"].get("coaps_sessions", -1))
        lst = listed("req-%s-%d-sessions.json" % (w, r))
        if not per:
            print("  %-24s round %d: no coaps_worker_sessions lines in /metrics (coaps_sessions "
                  "%d); %s" % (label(w), r, sessions, lst))
            continue
        print("  %-24s round %d: %s (sum %d, coaps_sessions %d); %s" % (label(w), r, ", ".join(
            "worker %d: %d (%.1f%%)" % (k, per[k], 100.0 * per[k] / total if total else 0)
            for k in sorted(per)), total, sessions, lst))
EOF
