#!/bin/sh
# A client's flight that waited until the proxy's DTLS retransmission timer ran
# out is still read: mbedTLS resends its own flight first and returns without
# reading; the proxy calls it again instead of dropping the datagram.
# A relay stops the proxy (SIGSTOP) when the client's last flight (from its
# ClientKeyExchange on) goes by, for 1.5 s (the proxy's timer: 1 s), and then
# drops the ServerHello flights the proxy resends: so the client learns of
# nothing until its own timer (5 s) unless the proxy read its flight. With the
# handshake pool and in the loop (handshake_threads = 0).
. "${srcdir:-.}/tests/robust/lib.sh"
command -v python3 >/dev/null || skip "python3 missing"

cat >"$tmp/relay.py" <<'EOF'
# relay.py LISTEN_PORT PROXY_PORT PROXY_PID: see test-late-flight.sh.
import os, select, signal, socket, sys, time
port, proxy, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
down = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
down.bind(("127.0.0.1", port))
up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
up.connect(("127.0.0.1", proxy))
client, resumed, dropped, end = None, None, 0, time.time() + 30
def handshake_type(d):	# the first record's handshake message type, or None
    return d[13] if len(d) > 13 and d[0] == 22 else None
while time.time() < end:
    if resumed is not None and time.time() >= resumed and resumed > 0:
        os.kill(pid, signal.SIGCONT)
        print("continued", flush=True)
        resumed = 0
    r, _, _ = select.select([down, up], [], [], 0.05)
    if down in r:
        d, client = down.recvfrom(65536)
        if resumed is None and handshake_type(d) == 16:	# ClientKeyExchange: the last flight
            os.kill(pid, signal.SIGSTOP)
            print("stopped", flush=True)
            resumed = time.time() + 1.5
        up.send(d)
    if up in r:
        d = up.recv(65536)
        if resumed == 0 and handshake_type(d) == 2:	# a resent ServerHello flight
            dropped += 1
            print("dropped a resent ServerHello flight", flush=True)
            continue
        if client is not None:
            down.sendto(d, client)
EOF

# run NAME SETTINGS: a PSK handshake through the relay against a proxy with
# handshake_threads SETTINGS; the client's handshake must take under 4 s.
run() {
	write_psk_conf "$tmp/$1.conf" "session = { $2 };"
	sed -i 's/handshake_timeout_min = 200;/handshake_timeout_min = 1000;/' "$tmp/$1.conf"
	grep -q 'handshake_timeout_min = 1000;' "$tmp/$1.conf" || fail "no 1 s timer in the config"
	start_proxy "$tmp/$1.conf"
	rport=$(free_port)
	start_bg "relay-$1" python3 "$tmp/relay.py" "$rport" "$proxy_port" "$(cat "$tmp/proxy.pid")"
	wait_port "$rport"
	"$rclient" --server "127.0.0.1:$rport" --psk my_identity:secretPSK123 --hs-min 5000 \
		--hs-max 10000 --deadline-ms 20000 >"$tmp/$1.out" 2>&1 || true
	stop_bg "relay-$1"
	cat "$tmp/$1.out" "$tmp/relay-$1.out"
	kill -CONT "$(cat "$tmp/proxy.pid")" 2>/dev/null || true
	grep -q '^stopped' "$tmp/relay-$1.out" || fail "$1: the relay did not see the client's last flight"
	grep -q '^continued' "$tmp/relay-$1.out" || fail "$1: the relay did not continue the proxy"
	ms=$(sed -n 's/^handshake round=0 .* ms=\([0-9]*\) .*/\1/p' "$tmp/$1.out")
	[ -n "$ms" ] || fail "$1: no handshake: $(cat "$tmp/$1.out")"
	[ "$ms" -lt 4000 ] ||
		fail "$1: the handshake took $ms ms: the proxy dropped the client's last flight and waited for its retransmission"
	grep -q '^answer round=0' "$tmp/$1.out" || fail "$1: no answer after the handshake"
	stop_proxy
}

start_backend
step "with the handshake pool: the flight that waited past the timer is read"
run pool "handshake_threads = 1;"
step "in the loop: the same"
run loop "handshake_threads = 0;"
echo "PASS"
