#!/bin/sh
# Reconnect: a new handshake from a live session's address:port replaces it only when it
# completes; a ClientHello without a valid cookie never disturbs the live session.
. "${srcdir:-.}/tests/lib/harness.sh"

start_backend
write_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; } );
CONF
start_proxy "$tmp/proxy.conf"
hexkey=$(printf secretPSK123 | od -An -tx1 | tr -d ' \n')
cport=$(free_port)

step "a live session from a fixed client port (as OpenThread always uses 5684)"
mkfifo "$tmp/live.in"
openssl s_client -dtls1_2 -bind "127.0.0.1:$cport" -connect "127.0.0.1:$proxy_port" -psk "$hexkey" \
	-psk_identity my_identity -cipher PSK-AES128-CCM8:@SECLEVEL=0 <"$tmp/live.in" >"$tmp/live.out" 2>&1 &
echo $! >"$tmp/live.pid"
bg_names="$bg_names live"
exec 3>"$tmp/live.in" # keeps s_client's input open: the session stays up
wait_log "event=handshake-ok .*peer=127.0.0.1:$cport"
live_id=$(grep -E "event=handshake-ok .*peer=127.0.0.1:$cport" "$proxy_log" | sed -E 's/.*session=([0-9a-f]+).*/\1/')

step "the device vanishes without close_notify; a forged cookieless ClientHello from its port"
kill -KILL "$(cat "$tmp/live.pid")"
wait "$(cat "$tmp/live.pid")" 2>/dev/null || true
timeout 5 "$probe" hello 127.0.0.1 "$proxy_port" --src-port "$cport" --timeout-ms 300 >"$tmp/p1.out" 2>&1 || true
grep -q 'recv hello-verify-request' "$tmp/p1.out" || fail "no HelloVerifyRequest: $(cat "$tmp/p1.out")"
wait_log "event=cookie-sent .*peer=127.0.0.1:$cport .*live_session=$live_id"
step "a cookie round from that port that never completes"
timeout 5 "$probe" hello 127.0.0.1 "$proxy_port" --src-port "$cport" --cookie-round --timeout-ms 300 \
	>"$tmp/p2.out" 2>&1 || true
grep -q 'recv server-hello' "$tmp/p2.out" || fail "no ServerHello for the valid cookie: $(cat "$tmp/p2.out")"
wait_log "event=session-new .*peer=127.0.0.1:$cport .*replaces=$live_id"
grep -q "event=session-closed session=$live_id" "$proxy_log" && fail "an incomplete handshake closed the live session"

step "the device restarts: a full new handshake from the same port replaces the old session"
out=$(client coap-client-openssl 5 -p "$cport" -a 127.0.0.1 -m get -u my_identity -k secretPSK123 \
	"coaps://127.0.0.1:$proxy_port/hello") || fail "reconnecting client failed"
echo "$out" | grep -q 'payload' || fail "no answer through the new session: $out"
wait_log "event=session-closed session=$live_id .*reason=\"replaced\""
new_line=$(grep -nE "event=handshake-ok .*peer=127.0.0.1:$cport" "$proxy_log" | tail -1 | cut -d: -f1)
old_line=$(grep -nE "event=session-closed session=$live_id" "$proxy_log" | cut -d: -f1)
[ "$old_line" -gt "$new_line" ] || fail "the old session closed before the new handshake completed"
stop_proxy
echo PASS
