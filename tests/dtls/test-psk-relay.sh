#!/bin/sh
# PSK: libcoap's OpenSSL and GnuTLS clients reach coap-server-notls through the proxy.
. "${srcdir:-.}/tests/lib/harness.sh"

start_coap_server
write_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "::"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; },
        { identity = "dev-42"; key_hex = "736563726574"; } );
CONF
start_proxy "$tmp/proxy.conf"
payload=$(printf '%0200d' 0 | tr 0 p)

for tool in coap-client-openssl coap-client-gnutls; do
	command -v $tool >/dev/null || fail "$tool missing"
	step "$tool: GET /.well-known/core"
	out=$(client $tool 5 -m get -u my_identity -k secretPSK123 \
		"coaps://127.0.0.1:$proxy_port/.well-known/core") || fail "$tool GET failed"
	echo "$out" | grep -q '</time>' || fail "$tool: no /time in .well-known/core: $out"

	step "$tool: PUT then GET of a 200-byte resource"
	client $tool 5 -m put -e "$payload" -u my_identity -k secretPSK123 \
		"coaps://127.0.0.1:$proxy_port/r-$tool" || fail "$tool PUT failed"
	out=$(client $tool 5 -m get -u my_identity -k secretPSK123 \
		"coaps://127.0.0.1:$proxy_port/r-$tool") || fail "$tool GET failed"
	[ "$out" = "$payload" ] || fail "$tool: resource came back as '$out'"

	step "$tool: NON request over IPv6, hex key identity (text bytes 'secret')"
	out=$(client $tool 5 -N -m get -u dev-42 -k secret "coaps://[::1]:$proxy_port/time") ||
		fail "$tool NON GET failed"
	[ -n "$out" ] || fail "$tool: NON GET got no answer"
done

step "replies leave from the address the device sent to (127.0.0.2 on a :: listener)"
out=$(client coap-client-openssl 5 -m get -u my_identity -k secretPSK123 \
	"coaps://127.0.0.2:$proxy_port/time") || fail "GET to 127.0.0.2 failed"
[ -n "$out" ] || fail "no answer from 127.0.0.2"
wait_log 'event=handshake-ok .*local=\[::ffff:127.0.0.2\]:'

wait_log 'event=handshake-ok .*identity="dev-42" cipher=TLS-PSK-WITH-AES-128-CCM-8'
n=$(log_count 'event=handshake-ok .*identity="my_identity"')
[ "$n" -ge 6 ] || fail "expected 6 handshake-ok for my_identity, saw $n"
n=$(log_count 'event=session-closed .*msgs_in=1 msgs_out=1 reason="close_notify"')
[ "$n" -ge 8 ] || fail "expected 8 sessions closed by close_notify with 1 message each way, saw $n"
[ "$(log_count 'event=cookie-sent')" -ge 8 ] || fail "cookie exchange not logged"
stop_proxy
echo "PASS"
