#!/bin/sh
# A late duplicate ClientHello (valid cookie) after a completed handshake whose last flight was lost must not end the session.
. "${srcdir:-.}/tests/robust/lib.sh"

start_backend
write_psk_conf "$tmp/proxy.conf"
start_proxy "$tmp/proxy.conf"
start_bg relay "$relay" --server "127.0.0.1:$proxy_port" --drop-ms 100 --lifetime 40
relay_port=$(wait_listen relay)

step "handshake through the relay: server's CCS+Finished lost, cookie ClientHello replayed"
# The client retransmits its Finished flight after 1 s, well after the replay.
rc=0
"$rclient" --server "127.0.0.1:$relay_port" --psk my_identity:secretPSK123 --hs-min 1000 \
	--hs-max 8000 --ack-ms 1000 --deadline-ms 15000 >"$tmp/client.out" 2>&1 || rc=$?
cat "$tmp/client.out"
stop_bg relay
cat "$tmp/relay.out"
grep -q '^flight-dropped' "$tmp/relay.out" || fail "the relay never saw the server's last flight"
grep -q '^hello-injected' "$tmp/relay.out" || fail "the relay did not replay the ClientHello"
[ "$rc" = 0 ] || fail "the client did not complete its handshake and request (exit $rc)"
grep -q '^answer round=0 req=1' "$tmp/client.out" || fail "no CoAP answer"

sid=$(session_of 'event=handshake-ok')
[ -n "$sid" ] || fail "no handshake-ok in the log"
n=$(log_count "event=handshake-ok session=$sid")
[ "$n" = 1 ] || fail "expected one handshake-ok for session $sid, saw $n"
# Only the client's own close_notify may end it, after its request was relayed.
closed=$(grep -E "event=session-closed session=$sid" "$proxy_log" || true)
echo "$closed" | grep -Ev 'msgs_in=1 msgs_out=1 reason="close_notify"' | grep -q . &&
	fail "session $sid ended otherwise than by the client's close_notify after its request: $closed"
n=$(log_count "event=handshake-failed session=$sid")
[ "$n" = 0 ] || fail "a handshake-failed line for session $sid"
stop_proxy
echo "PASS"
