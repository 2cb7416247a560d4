#!/bin/sh
# Limits: session.max_sessions refuses a third peer, session.max_handshakes evicts half-open handshakes, idle timeout.
. "${srcdir:-.}/tests/robust/lib.sh"

psk="--psk my_identity:secretPSK123"
start_backend

step "max_sessions = 2: two live sessions, a third peer refused, the two unaffected"
write_psk_conf "$tmp/proxy.conf" 'session = { max_sessions = 2; idle_timeout = 60; };'
start_proxy "$tmp/proxy.conf"
for s in a b; do
	# shellcheck disable=SC2086
	"$rclient" --server "127.0.0.1:$proxy_port" $psk --hold-ms 3000 --deadline-ms 15000 \
		>"$tmp/$s.out" 2>&1 &
	echo $! >"$tmp/$s.cpid"
done
i=0
while [ "$(cat "$tmp/a.out" "$tmp/b.out" | grep -c '^answer .* req=1')" -lt 2 ]; do
	[ $i -lt 50 ] || fail "the two first sessions did not get going"
	sleep 0.1
	i=$((i + 1))
done
# shellcheck disable=SC2086
"$rclient" --server "127.0.0.1:$proxy_port" $psk --hs-max 1000 --deadline-ms 1500 \
	>"$tmp/c.out" 2>&1 && fail "a third session got through max_sessions = 2"
wait_log 'event=session-refused .*reason="[^"]*max_sessions' 5
for s in a b; do
	rc=0
	wait "$(cat "$tmp/$s.cpid")" || rc=$?
	[ "$rc" = 0 ] || fail "session $s was harmed by the refusal: $(cat "$tmp/$s.out")"
done
wait_count 'event=session-closed .*msgs_in=2 msgs_out=2 reason="close_notify"' 2
stop_proxy

step "max_handshakes = 2: half-open handshakes are evicted, an honest client connects"
: >"$proxy_log"
write_psk_conf "$tmp/proxy.conf" 'session = { max_handshakes = 2; };'
start_proxy "$tmp/proxy.conf"
for i in 1 2 3 4; do
	timeout 10 "$probe" hello 127.0.0.1 "$proxy_port" --cookie-round --timeout-ms 300 \
		>"$tmp/half-$i.out" 2>&1 || true
done
n=$(log_count 'event=session-new')
[ "$n" -ge 4 ] || fail "the half-open handshakes made $n sessions, want 4"
wait_log 'event=handshake-failed .*evicted: session.max_handshakes' 5
# shellcheck disable=SC2086
"$rclient" --server "127.0.0.1:$proxy_port" $psk --deadline-ms 5000 >"$tmp/honest.out" 2>&1 ||
	fail "the honest client could not connect past the half-open handshakes: $(cat "$tmp/honest.out")"
n=$(log_count 'evicted: session.max_handshakes')
[ "$n" -ge 3 ] || fail "expected at least 3 evictions (4 half-open + 1 honest, limit 2), saw $n"
stop_proxy

step "idle_timeout = 2: an open session is closed after about 2 s"
: >"$proxy_log"
write_psk_conf "$tmp/proxy.conf" 'session = { idle_timeout = 2; };'
start_proxy "$tmp/proxy.conf"
# shellcheck disable=SC2086
"$rclient" --server "127.0.0.1:$proxy_port" $psk --no-close >/dev/null || fail "client failed"
wait_log 'event=session-closed .*reason="idle timeout"' 6
ms=$(grep 'reason="idle timeout"' "$proxy_log" | sed -n 's/.* ms=\([0-9]*\) .*/\1/p')
[ "$ms" -ge 1900 ] && [ "$ms" -le 4000 ] || fail "idle timeout after $ms ms, want about 2000"
stop_proxy
echo "PASS"
