#!/bin/sh
# Control socket slow-loris: 16 clients trickling one byte every 2 s are dropped at the request deadline; root gets in meanwhile.
. "${srcdir:-.}/tests/ctl/lib.sh"
command -v python3 >/dev/null || skip "python3 missing"

write_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "a"; key = "k"; } );
control = { socket = "$ctl_sock"; };
CONF
start_proxy "$tmp/proxy.conf"
wait_log "event=control-listening path=$ctl_sock"

# The trickling clients run as nobody in the socket's group when we can
# (root and the daemon's own user have slots of their own); else as us.
runas=""
py=python3
if [ "$(id -u)" = 0 ] && setpriv --reuid=nobody --regid=nogroup --clear-groups true 2>/dev/null; then
	runas="setpriv --reuid=nobody --regid=nogroup --groups=$(stat -c %g "$ctl_sock")"
	# A python3 that nobody may run (root's may be a pyenv shim in /root).
	for p in /usr/bin/python3 "$(command -v python3)"; do
		$runas "$p" -c 'import socket' 2>/dev/null && { py=$p; break; }
	done
	$runas "$py" -c 'import socket' 2>/dev/null || runas=""
	chmod 711 "$tmp"
	chmod 755 "$tmp/run"
fi

cat >"$tmp/loris.py" <<'PY'
import socket, sys, time
path, n = sys.argv[1], int(sys.argv[2])
socks, t0 = [], []
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.setblocking(False)
    socks.append(s)
    t0.append(time.monotonic())
print("up", flush=True)
closed = [None] * n
answer = [b""] * n
end = time.monotonic() + 25
while time.monotonic() < end and None in closed:
    for i, s in enumerate(socks):
        if closed[i] is not None:
            continue
        try:
            b = s.recv(4096)
            if b == b"":
                closed[i] = time.monotonic() - t0[i]
                continue
            answer[i] += b
        except BlockingIOError:
            pass
        except OSError:
            closed[i] = time.monotonic() - t0[i]
            continue
        try:
            s.send(b"s")  # one byte of "stats..." that never ends
        except OSError:
            closed[i] = time.monotonic() - t0[i]
    time.sleep(2)
for i in range(n):
    print("%s %r" % ("open" if closed[i] is None else "%.1f" % closed[i], answer[i]))
print("done", flush=True)
PY

step "16 clients send one byte every 2 s"
# shellcheck disable=SC2086
start_bg loris $runas "$py" "$tmp/loris.py" "$ctl_sock" 16
i=0
while ! grep -q '^up$' "$tmp/loris.out"; do
	[ $i -lt 100 ] || fail "the trickling clients did not connect"
	sleep 0.1
	i=$((i + 1))
done
sleep 1

if [ -n "$runas" ]; then
	step "the table is full for a group member, but root gets in"
	rc=0
	timeout 10 $runas "$py" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
try:
    s.sendall(b"stats\n")
except OSError:
    pass  # refused before it read: the answer is still there
print(s.recv(200).decode(errors="replace"))' "$ctl_sock" >"$tmp/member.out" 2>&1 || rc=$?
	grep -q '^ERR busy' "$tmp/member.out" || fail "a 17th group member was not refused: $(cat "$tmp/member.out")"
	ctl stats
	expect_rc 0
	printf '%s\n' "$out" | grep -q '^handshakes_ok ' || fail "stats as root: $out"
else
	echo "   not root or no setpriv: the root-gets-in check is skipped"
fi

step "each trickling client is dropped at the request deadline"
i=0
while ! grep -q '^done$' "$tmp/loris.out"; do
	[ $i -lt 350 ] || fail "the trickling clients did not finish"
	sleep 0.1
	i=$((i + 1))
done
grep -v '^up$\|^done$' "$tmp/loris.out" >"$tmp/loris.res"
cat "$tmp/loris.res"
[ "$(wc -l <"$tmp/loris.res")" = 16 ] || fail "expected 16 result lines"
# Dropped 8 to 16 s after connecting (10 s deadline, polled every 2 s, a busy machine).
awk '$1 == "open" || $1 < 8 || $1 > 16 { bad = 1 } END { exit bad }' "$tmp/loris.res" ||
	fail "trickling clients were not dropped at the deadline"

step "the socket serves again"
ctl stats
expect_rc 0
stop_proxy
echo "PASS"
