#!/bin/sh
# Failed handshakes are logged with their reason in words.
. "${srcdir:-.}/tests/lib/harness.sh"

start_coap_server
write_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; } );
dtls = { handshake_timeout_min = 200; handshake_timeout_max = 1000; };
CONF
start_proxy "$tmp/proxy.conf"
url="coaps://127.0.0.1:$proxy_port/time"

step "unknown identity, with an odd byte escaped"
client coap-client-openssl 2 -m get -u "nobody\"x" -k secretPSK123 "$url" >/dev/null 2>&1 || true
wait_log "event=handshake-failed .*reason=\"unknown PSK identity 'nobody\\\\\"x'\""

step "wrong key (libcoap -k is text: hex digits are not decoded)"
client coap-client-gnutls 2 -m get -u my_identity -k 736563726574 "$url" >/dev/null 2>&1 || true
wait_log "event=handshake-failed .*reason=\"wrong key for PSK identity 'my_identity'"

step "no shared suite: a certificate-only client against a PSK-only proxy"
echo | timeout 10 openssl s_client -dtls1_2 -connect "127.0.0.1:$proxy_port" \
	-cipher ECDHE-ECDSA-AES128-CCM8:@SECLEVEL=0 >/dev/null 2>&1 || true
wait_log 'event=handshake-failed .*no shared cipher suite: client offered only certificate suites but no x509 is configured; client offered TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 0xC0AE.*enabled here TLS_PSK_WITH_AES_128_CCM_8 0xC0A8,TLS_PSK_WITH_AES_128_GCM_SHA256 0x00A8'

step "no shared suite: an EC-JPAKE-only ClientHello (OpenThread's default)"
timeout 10 "$probe" hello 127.0.0.1 "$proxy_port" --suites 0xC0FF --cookie-round >"$tmp/probe.out" 2>&1 || true
grep -q 'recv alert level=2 desc=40' "$tmp/probe.out" || fail "no handshake_failure alert: $(cat "$tmp/probe.out")"
wait_log 'reason="no shared cipher suite: client offered only EC-JPAKE \(Thread commissioning\).*client offered TLS_ECJPAKE_WITH_AES_128_CCM_8 0xC0FF;'

step "a peer that stops mid-handshake times out"
timeout 10 "$probe" hello 127.0.0.1 "$proxy_port" --suites 0xC0A8 --cookie-round >"$tmp/probe2.out" 2>&1 || true
grep -q 'recv server-hello suite=0xC0A8' "$tmp/probe2.out" || fail "no ServerHello: $(cat "$tmp/probe2.out")"
wait_log 'event=handshake-failed .*reason="timeout: no answer from the client while waiting for ClientKeyExchange"' 10

step "the proxy still serves"
out=$(client coap-client-openssl 5 -m get -u my_identity -k secretPSK123 "$url") || fail "GET after failures failed"
[ -n "$out" ] || fail "no answer after failures"
stop_proxy
echo PASS
