#!/bin/sh
# restart.sh: restart under load (issue 14): N PSK and M ECDHE-ECDSA (client
# certificate) sessions make requests at a modest rate through coaps-proxyd to
# the echo backend; the proxy gets SIGTERM (saving its sessions to a state file
# in the temporary directory) and starts again with the same configuration; the
# clients keep their sessions and retransmit their CONs (RFC 7252: 2 s, doubling,
# at most 4 times). Prints figures only: no pass/fail on them.
# usage: restart.sh BUILDDIR [SRCDIR]   (`make bench-restart`, also run by `make bench`; ~1.5 min)
# Environment: RESTART_PSK_SESSIONS (10000), RESTART_CERT_SESSIONS (1000),
# RESTART_PSK_RATE (1000 requests/s over all PSK sessions), RESTART_CERT_RATE (100),
# RESTART_AFTER (20: seconds of load after the restart), RESTART_STEADY (3: seconds
# of load between "all established" and the stop).
set -u

BUILD=$(cd "${1:-.}" && pwd)
SRC=${2:-$(dirname "$0")/../..}
BENCH=$BUILD/tests/bench/coaps-bench
PROXYD=$BUILD/src/coaps-proxyd
N=${RESTART_PSK_SESSIONS:-10000}
M=${RESTART_CERT_SESSIONS:-1000}
RATE_PSK=${RESTART_PSK_RATE:-1000}
RATE_CERT=${RESTART_CERT_RATE:-100}
AFTER=${RESTART_AFTER:-20}
STEADY=${RESTART_STEADY:-3}

# One socket per session in the bench.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
NOFILE=$(ulimit -n)
if [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt $((N + 100)) ]; then
	echo "restart-bench: $N PSK sessions need $((N + 100)) file descriptors; the limit is" \
	    "$NOFILE: lower RESTART_PSK_SESSIONS"
	exit 1
fi

. "$SRC/tests/bench/bench-certs.sh"
. "$SRC/tests/bench/lib.sh"
bench_begin restart-bench "$BENCH" "$PROXYD"
mkdir -m 700 "$TMP/state"

base=$((33000 + ($$ % 1000) * 4))
ECHO=$base
PX=$((base + 1))

cat >"$TMP/proxyd.conf" <<EOF
listen = ( { address = "127.0.0.1"; port = $PX; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = $ECHO; } );
psk = ( { identity = "bench"; key = "benchkey123"; } );
x509 = { certificate = "$TMP/server-cert.pem"; private_key = "$TMP/server-key.pem";
         client_ca = "$TMP/ca-cert.pem"; verify_client = "required"; };
dtls = { ciphersuites = [ "TLS-PSK-WITH-AES-128-CCM-8", "TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8" ]; };
session = { max_sessions = 200000; max_handshakes = 5000; state_file = "$TMP/state/sessions.state"; };
control = { socket = ""; };
log = { level = "info"; };
EOF



# rss PID: VmRSS of PID in kB (empty when gone).
rss() {
	sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" 2>/dev/null
}

# gone PID: whether PID has exited.
gone() {
	! kill -0 "$1" 2>/dev/null
}

# established NAME: whether bench NAME printed that all its sessions are up.
established() {
	grep -q 'sessions established' "$TMP/$1.log"
}

# restored: whether the second daemon logged its restore.
restored() {
	grep -q 'event=sessions-restored' "$TMP/proxyd-2.log"
}

# listening: whether some process is bound to the proxy's port.
listening() {
	grep -q ":$(printf '%04X' "$PX") " /proc/net/udp
}

echo "restart-bench: $N PSK sessions ($RATE_PSK requests/s) and $M ECDHE-ECDSA sessions" \
    "with a client certificate ($RATE_CERT requests/s); $(nproc) cores, no pinning"
start echo "$BENCH" --backend --listen 127.0.0.1:$ECHO
start proxyd-1 "$PROXYD" -f -c "$TMP/proxyd.conf"
PX_PID=$LAST
wait_for 100 listening || { echo "restart-bench: coaps-proxyd did not start:"; tail -5 "$TMP/proxyd-1.log"; exit 1; }

T0=$(date +%s.%N)
# --duration is only a bound: the script ends the runs with SIGINT.
start psk "$BENCH" -q --target 127.0.0.1:$PX --psk-identity bench --psk benchkey123 \
	--sessions "$N" --rate "$RATE_PSK" --ramp 64 --method post --size 64 --duration 600 \
	--json "$TMP/psk.json"
PSK_PID=$LAST
start cert "$BENCH" -q --target 127.0.0.1:$PX --cert "$TMP/client-cert.pem" \
	--key "$TMP/client-key.pem" --sessions "$M" --rate "$RATE_CERT" --ramp 32 --method post \
	--size 64 --duration 600 --json "$TMP/cert.json"
CERT_PID=$LAST
if ! wait_for 1500 established psk || ! wait_for 1500 established cert; then
	echo "restart-bench: the sessions were not all established within 150 s:"
	tail -3 "$TMP/psk.log" "$TMP/cert.log"
	exit 1
fi
T_EST=$(date +%s.%N)
sed -n 's/^coaps-bench: //p' "$TMP/psk.log" "$TMP/cert.log" | sed 's/^/  /'
sleep "$STEADY"

RSS_BEFORE=$(rss "$PX_PID")
echo "restart-bench: SIGTERM to coaps-proxyd (RSS $RSS_BEFORE kB)"
T_TERM=$(date +%s.%N)
kill -TERM "$PX_PID"
wait_for 600 gone "$PX_PID" || { echo "restart-bench: coaps-proxyd did not exit within 60 s"; exit 1; }
wait "$PX_PID" 2>/dev/null
PX_RC=$?
T_STOPPED=$(date +%s.%N)
STATE_BYTES=$(stat -c %s "$TMP/state/sessions.state" 2>/dev/null || echo 0)
start proxyd-2 "$PROXYD" -f -c "$TMP/proxyd.conf"
PX_PID=$LAST
wait_for 600 restored || { echo "restart-bench: no sessions-restored within 60 s:"; tail -5 "$TMP/proxyd-2.log"; exit 1; }
T_RESTORED=$(date +%s.%N)
sleep 2
RSS_AFTER=$(rss "$PX_PID")
echo "restart-bench: restored (RSS $RSS_AFTER kB); $AFTER s more load"
sleep "$AFTER"
RSS_END=$(rss "$PX_PID")
kill -INT "$PSK_PID" "$CERT_PID"
wait_for 300 gone "$PSK_PID"
wait_for 300 gone "$CERT_PID"

python3 - "$TMP" "$T0" "$T_EST" "$T_STOPPED" "$T_RESTORED" "$RSS_BEFORE" "$RSS_AFTER" \
    "$RSS_END" "$PX_RC" "$STATE_BYTES" "$N" "$M" "$T_TERM" <<'EOF'
import json, os, re, sys
tmp = sys.argv[1]
t0, t_est, t_stopped, t_restored = (float(x) for x in sys.argv[2:6])
rss_before, rss_after, rss_end = sys.argv[6:9]
px_rc, state_bytes, n, m = sys.argv[9], int(sys.argv[10]), int(sys.argv[11]), int(sys.argv[12])
t_term = float(sys.argv[13])

def load(name):
    try:
        return json.load(open(os.path.join(tmp, name + ".json")))
    except Exception:
        return None

def log(name):
    return open(os.path.join(tmp, name + ".log"), errors="replace").read()

first, second = log("proxyd-1"), log("proxyd-2")
saved = re.search(r"event=sessions-saved count=(\d+) bytes=(\d+) ms=(\d+) dropped=(\d+)", first)
rest = re.search(r"event=sessions-restored count=(\d+) dropped=(\d+) .* bytes=(\d+) ms=(\d+)", second)
full_after = len(re.findall(r"event=handshake-ok .*resumed=no", second))
abbrev_after = len(re.findall(r"event=handshake-ok .*resumed=yes", second))
print()
print("restart under load: %d PSK + %d ECDHE-ECDSA sessions, all established %.1f s after the start"
      % (n, m, t_est - t0))
if saved:
    c, b, ms, dr = (int(x) for x in saved.groups())
    print("  saved     %d sessions, %d bytes (%.0f bytes per session), %d ms, %d dropped; exit status %s"
          % (c, b, b / c if c else 0, ms, dr, px_rc))
else:
    print("  saved     no sessions-saved line in the first daemon's log")
if rest:
    c, dr, b, ms = (int(x) for x in rest.groups())
    print("  restored  %d sessions, %d dropped, %d ms" % (c, dr, ms))
else:
    print("  restored  no sessions-restored line in the second daemon's log")
print("  script's clock: SIGTERM to exit %.2f s, exit to sessions-restored logged %.2f s "
      "(includes starting the new daemon)" % (t_stopped - t_term, t_restored - t_stopped))
print("  full handshakes after the restart (handshake-ok resumed=no): %d (goal 0); "
      "resumed ones: %d" % (full_after, abbrev_after))
print("  daemon RSS: %s kB before the stop, %s kB 2 s after the restore, %s kB at the end"
      % (rss_before or "-", rss_after or "-", rss_end or "-"))
for name, label in (("psk", "PSK"), ("cert", "ECDHE-ECDSA")):
    d = load(name)
    if d is None:
        print("  %-12s no result" % label)
        continue
    e = d["error_detail"]
    print("  %-12s %d answered, %d retransmissions, lost after retransmission %d (goal 0); "
          "longest gap between answers %.3f s (ended %.1f s after the start); "
          "client handshakes %d for %d sessions, %d sessions broke; ICMP/io errors %d, "
          "handshake errors %d; latency p50 %d p99 %d max %d us"
          % (label, d["requests"], d["retransmissions"], e["timeout"], d["max_answer_gap_s"],
             d["max_answer_gap_end_s"], d["handshakes"], d["sessions"], d["sessions_failed"],
             e["io"], e["handshake"], d["latency_us"]["p50"], d["latency_us"]["p99"],
             d["latency_us"]["max"]))
print("  (state file after the stop: %d bytes; the new daemon deletes it when it has read it)"
      % state_bytes)
EOF
