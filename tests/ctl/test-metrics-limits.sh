#!/bin/sh
# Metrics endpoint under descriptor exhaustion and slow clients: no accept spin, devices still served, connections capped and dropped at a deadline.
. "${srcdir:-.}/tests/ctl/lib.sh"
command -v curl >/dev/null || skip "curl missing"
command -v python3 >/dev/null || skip "python3 missing"
command -v prlimit >/dev/null || skip "prlimit missing"
rclient=${RCLIENT:-./tests/tools/robust-client}
[ -x "$rclient" ] || skip "$rclient not built"

metrics_port=$(free_tcp_port)
start_backend
write_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; } );
control = { socket = ""; };
metrics = { address = "127.0.0.1"; port = $metrics_port; };
CONF
start_proxy "$tmp/proxy.conf"
wait_log "event=metrics-listening address=127.0.0.1 port=$metrics_port"
proxy_pid=$(cat "$tmp/proxy.pid")
limit0=$(prlimit --pid "$proxy_pid" --nofile --noheadings --raw -o SOFT,HARD | awk '{print $1 ":" $2}')

# Holds N TCP connections to the metrics port (sending nothing) for SECS seconds;
# prints "up" when they are made, then how many the server closed.
cat >"$tmp/hold.py" <<'PY'
import signal, socket, sys, time
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    socks.append(s)
print("up", flush=True)
time.sleep(secs)
closed = 0
for s in socks:
    try:
        if s.recv(1, socket.MSG_DONTWAIT) == b"":
            closed += 1
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
print("closed", closed, flush=True)
PY

# Waits for the "up" line of the holder NAME.
wait_up() {
	i=0
	while ! grep -q '^up$' "$tmp/$1.out"; do
		[ $i -lt 100 ] || fail "$1 did not connect"
		sleep 0.1
		i=$((i + 1))
	done
}

# Prints how many descriptors the proxy has open.
open_fds() {
	ls "/proc/$proxy_pid/fd" | wc -l
}

step "no descriptor left: accept() fails, and the listener does not spin"
# The lowest free descriptor number as the limit: accept() gets EMFILE.
low=$(ls "/proc/$proxy_pid/fd" | sort -n | awk '$1 != NR - 1 { print NR - 1; f = 1; exit } END { if (!f) print NR }')
prlimit --pid "$proxy_pid" --nofile="$low:"
start_bg hold1 python3 "$tmp/hold.py" "$metrics_port" 5 30
wait_up hold1
sleep 3
prlimit --pid "$proxy_pid" --nofile="$limit0"
lines=$(wc -l <"$proxy_log")
echo "   proxy log: $lines lines, $(wc -c <"$proxy_log") bytes"
[ "$lines" -le 20 ] || fail "$lines log lines in 3 s: $(tail -n 3 "$proxy_log")"
grep -q 'event=metrics-accept-failed' "$proxy_log" || fail "accept() did not fail"
stop_bg hold1

step "fewer than 64 descriptors left: scrapes are refused"
: >"$proxy_log"
nfd=$(open_fds)
prlimit --pid "$proxy_pid" --nofile="$((nfd + 30)):"
rc=0
curl -s --max-time 3 "http://127.0.0.1:$metrics_port/metrics" >/dev/null || rc=$?
[ "$rc" != 0 ] || fail "a scrape was served with 30 descriptors left"
wait_log 'event=metrics-refused reason="fewer than 64 descriptors left'
prlimit --pid "$proxy_pid" --nofile="$limit0"
sleep 1.2
curl -sf --max-time 5 "http://127.0.0.1:$metrics_port/metrics" >/dev/null ||
	fail "GET /metrics failed after the limit came back"

step "300 idle connections to /metrics while devices are served (open files limit +100)"
nfd=$(open_fds)
prlimit --pid "$proxy_pid" --nofile="$((nfd + 100)):"
start_bg hold2 python3 "$tmp/hold.py" "$metrics_port" 300 14
wait_up hold2
sleep 1
held=$(open_fds)
echo "   the proxy has $held descriptors open ($nfd before)"
[ "$held" -le $((nfd + 20)) ] || fail "the metrics connections took $((held - nfd)) descriptors"
"$rclient" --server "127.0.0.1:$proxy_port" --psk my_identity:secretPSK123 --count 3 \
	>"$tmp/rc.out" 2>&1 || fail "device rounds failed: $(cat "$tmp/rc.out")"
[ "$(grep -c 'code=2.05' "$tmp/rc.out")" = 3 ] || fail "not three 2.05 answers: $(cat "$tmp/rc.out")"

step "the idle connections are dropped at the deadline"
i=0
while ! grep -q '^closed ' "$tmp/hold2.out"; do
	[ $i -lt 200 ] || fail "the holder did not finish"
	sleep 0.1
	i=$((i + 1))
done
closed=$(awk '/^closed / {print $2}' "$tmp/hold2.out")
echo "   $closed of 300 closed by the proxy within 14 s"
[ "$closed" -ge 16 ] || fail "only $closed idle connections were dropped"
prlimit --pid "$proxy_pid" --nofile="$limit0"

step "a client trickling its request byte by byte is dropped at the deadline too"
python3 - "$metrics_port" <<'PY' || fail "slow client"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t0 = time.monotonic()
req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 100
for c in req:
    try:
        s.send(bytes([c]))
        s.settimeout(2)
        if s.recv(100) == b"":
            break
    except socket.timeout:
        continue
    except OSError:
        break
    if time.monotonic() - t0 > 30:
        break
t = time.monotonic() - t0
print("   slow client dropped after %.1f s" % t)
assert 8 <= t <= 16, t
PY

step "scrapes work again"
curl -sf --max-time 5 "http://127.0.0.1:$metrics_port/metrics" >"$tmp/m.txt" || fail "GET /metrics failed"
grep -q '^coaps_handshakes_total{result="ok"} 3$' "$tmp/m.txt" || fail "$(head -n 20 "$tmp/m.txt")"
stop_proxy
echo "PASS"
