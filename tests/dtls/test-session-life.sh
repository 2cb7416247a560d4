#!/bin/sh
# Sessions: openssl s_client handshake, idle timeout, max_sessions, SIGTERM says close_notify.
. "${srcdir:-.}/tests/lib/harness.sh"

start_coap_server
write_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; } );
session = { idle_timeout = 2; };
CONF
start_proxy "$tmp/proxy.conf"

step "openssl s_client -dtls1_2 -psk completes a handshake; idle timeout closes it"
sclient s1 6 my_identity secretPSK123
wait_log 'event=handshake-ok .*identity="my_identity" cipher=TLS-PSK-WITH-AES-128-CCM-8'
wait_log 'event=session-closed .*reason="idle timeout"' 6
grep -q 'Cipher is PSK-AES128-CCM8' "$tmp/s1.out" || fail "s_client did not report the cipher"

stop_proxy

step "max_sessions = 2: a third peer is refused, the first two live on"
write_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; } );
session = { idle_timeout = 60; max_sessions = 2; state_file = ""; };
CONF
start_proxy "$tmp/proxy.conf"
sclient s2 8 my_identity secretPSK123
sclient s3 8 my_identity secretPSK123
i=0
while [ "$(log_count 'event=handshake-ok')" -lt 2 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
client coap-client-openssl 2 -m get -u my_identity -k secretPSK123 \
	"coaps://127.0.0.1:$proxy_port/time" >/dev/null 2>&1 || true
wait_log 'event=session-refused .*reason="session.max_sessions \(2\) reached"'
[ "$(log_count 'event=handshake-ok')" = 2 ] || fail "expected exactly 2 handshakes"

step "SIGTERM with no session.state_file (\"\"): close_notify to every session, exit 0"
stop_proxy
[ "$(log_count 'event=session-closed .*reason="shutdown"')" = 2 ] || fail "two sessions should close on shutdown"
wait_log 'event=stopped'

step "handshakes_per_source = 2: the third and later handshakes in a second are refused"
write_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; } );
session = { handshakes_per_source = 2; };
CONF
start_proxy "$tmp/proxy.conf"
for i in 1 2 3 4 5 6 7 8; do
	timeout 5 "$probe" hello 127.0.0.1 "$proxy_port" --cookie-round --timeout-ms 100 >/dev/null 2>&1 || true
done
n=$(log_count 'event=session-refused .*handshakes_per_source \(2 per second\) reached for this address')
[ "$n" -ge 3 ] || fail "expected at least 3 refusals by the per-source rate limit, saw $n"
n=$(log_count 'event=session-new')
[ "$n" -ge 2 ] && [ "$n" -le 5 ] || fail "expected 2 to 5 handshakes to start, saw $n"
stop_proxy
