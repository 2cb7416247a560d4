#!/bin/sh
# X.509: libcoap, OpenSSL and GnuTLS clients with certificates; verify_client modes; reasons.
. "${srcdir:-.}/tests/lib/harness.sh"

make_certs
start_coap_server
c=$certs
# Writes a proxy config with verify_client = $1.
conf() {
	write_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "::"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; } );
x509 = { certificate = "@CERTS@/server-cert.pem"; private_key = "@CERTS@/server-key.pem";
         client_ca = "@CERTS@/ca-cert.pem"; crl = "@CERTS@/ca.crl"; verify_client = "$1"; };
CONF
}
url="coaps://localhost:$proxy_port"

conf required
start_proxy "$tmp/proxy.conf"

step "libcoap clients as in the how-to, and a PSK client on the same port at once"
client coap-client-openssl 5 -m get -u my_identity -k secretPSK123 "$url/time" >"$tmp/psk.out" 2>&1 &
pskpid=$!
out=$(client coap-client-openssl 5 -m get -j "$c/client-key.pem" -c "$c/client-cert.pem" \
	-R "$c/ca-cert.pem" "$url/.well-known/core") || fail "coap-client-openssl -R failed"
echo "$out" | grep -q '</time>' || fail "openssl: bad answer $out"
wait $pskpid || fail "PSK client failed beside the certificate client"
for ca in -R -C; do
	out=$(client coap-client-gnutls 5 -m get -j "$c/client-key.pem" -c "$c/client-cert.pem" \
		$ca "$c/ca-cert.pem" "$url/.well-known/core") || fail "coap-client-gnutls $ca failed"
	echo "$out" | grep -q '</time>' || fail "gnutls $ca: bad answer $out"
done
wait_log 'event=handshake-ok .*auth=psk identity="my_identity" cipher=TLS-PSK-WITH-AES-128-CCM-8'
[ "$(log_count 'event=handshake-ok .*auth=x509 identity="client" cipher=TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8')" -ge 3 ] ||
	fail "certificate handshakes not logged with the subject CN"
wait_log 'event=client-cert .*depth=0 subject="client" issuer="TestCA" valid_until="20[0-9-]+T'

step "openssl s_client with a client certificate: CCM-8, curve secp256r1"
out=$(x509_sclient -CAfile "$c/ca-cert.pem" -cert "$c/client-cert.pem" -key "$c/client-key.pem")
echo "$out" | grep -q 'Cipher is ECDHE-ECDSA-AES128-CCM8' || fail "s_client: $out"
echo "$out" | grep -Eq '(Server|Peer) Temp Key: ECDH, prime256v1' || fail "curve is not secp256r1: $out"

step "gnutls-cli --udp with ECDHE-ECDSA and AES-128-CCM-8"
out=$(timeout 10 gnutls-cli --udp -p "$proxy_port" --x509cafile "$c/ca-cert.pem" \
	--x509certfile "$c/client-cert.pem" --x509keyfile "$c/client-key.pem" \
	--priority 'NONE:+VERS-DTLS1.2:+AES-128-CCM-8:+ECDHE-ECDSA:+AEAD:+SIGN-ALL:+COMP-NULL:+GROUP-SECP256R1' \
	localhost </dev/null 2>&1) || true
echo "$out" | grep -q 'Handshake was completed' || fail "gnutls-cli: $out"
echo "$out" | grep -qi 'AES-128-CCM-8' || fail "gnutls-cli did not use CCM-8: $out"

step "an intermediate CA chain sent by the client"
out=$(x509_sclient -CAfile "$c/ca-cert.pem" -cert "$c/client-int-cert.pem" -key "$c/client-int-key.pem" -cert_chain "$c/int-ca-cert.pem")
echo "$out" | grep -q 'Cipher is ECDHE-ECDSA-AES128-CCM8' || fail "intermediate chain refused: $out"
wait_log 'event=handshake-ok .*identity="client-int"'
wait_log 'event=client-cert .*depth=1 subject="TestIntermediateCA" issuer="TestCA"'

step "refused: no certificate, unknown CA, expired, revoked, bad signature, wrong key usage"
x509_sclient -CAfile "$c/ca-cert.pem" >/dev/null
wait_log 'event=handshake-failed .*reason="client sent no certificate'
x509_sclient -CAfile "$c/ca-cert.pem" -cert "$c/client-other-cert.pem" -key "$c/client-other-key.pem" >/dev/null
wait_log 'event=handshake-failed .*reason="client certificate rejected: unknown CA'
x509_sclient -CAfile "$c/ca-cert.pem" -cert "$c/client-expired-cert.pem" -key "$c/client-expired-key.pem" >/dev/null
wait_log 'event=handshake-failed .*reason="client certificate rejected: expired"'
x509_sclient -CAfile "$c/ca-cert.pem" -cert "$c/client-revoked-cert.pem" -key "$c/client-revoked-key.pem" >/dev/null
wait_log 'event=handshake-failed .*reason="client certificate rejected: revoked"'
x509_sclient -CAfile "$c/ca-cert.pem" -cert "$c/client-badsig-cert.pem" -key "$c/client-badsig-key.pem" >/dev/null
wait_log "event=handshake-failed .*reason=\"client certificate rejected: bad signature \(the issuer name 'TestCA' is a trusted CA"
x509_sclient -CAfile "$c/ca-cert.pem" -cert "$c/server-cert.pem" -key "$c/server-key.pem" >/dev/null
wait_log 'event=handshake-failed .*reason="client certificate rejected: wrong extended key usage"'
stop_proxy

step "verify_client = optional: no certificate is anonymous, a bad one is refused"
conf optional
start_proxy "$tmp/proxy.conf"
out=$(x509_sclient -CAfile "$c/ca-cert.pem")
echo "$out" | grep -q 'Cipher is ECDHE-ECDSA-AES128-CCM8' || fail "optional without a certificate: $out"
wait_log 'event=handshake-ok .*auth=anonymous'
[ "$(log_count 'event=handshake-ok .*identity=')" = 0 ] || fail "an anonymous session was logged with an identity"

x509_sclient -CAfile "$c/ca-cert.pem" -cert "$c/client-expired-cert.pem" -key "$c/client-expired-key.pem" >/dev/null
wait_log 'event=handshake-failed .*reason="client certificate rejected: expired"'
stop_proxy

step "verify_client = none: no certificate is asked for"
conf none
start_proxy "$tmp/proxy.conf"
out=$(x509_sclient -CAfile "$c/ca-cert.pem" -cert "$c/client-other-cert.pem" -key "$c/client-other-key.pem")
echo "$out" | grep -q 'Cipher is ECDHE-ECDSA-AES128-CCM8' || fail "none: $out"
wait_log 'event=handshake-ok .*auth=anonymous'
[ "$(log_count 'event=client-cert')" = 0 ] || fail "a certificate was requested with verify_client = none"
stop_proxy
echo PASS
