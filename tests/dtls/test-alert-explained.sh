#!/bin/sh
# A fatal alert from the device is explained from its side: a client that does
# not trust the server's CA sends unknown_ca, logged as "the device rejected
# the server's certificate: unknown_ca (48)", at warning.
. "${srcdir:-.}/tests/lib/harness.sh"

make_certs
start_coap_server
write_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
x509 = { certificate = "@CERTS@/server-cert.pem"; private_key = "@CERTS@/server-key.pem";
         client_ca = "@CERTS@/ca-cert.pem"; verify_client = "optional"; };
CONF
start_proxy "$tmp/proxy.conf"

# Runs openssl s_client (ECDHE-ECDSA-AES128-CCM8) trusting only CA file $1; output on stdout.
sclient() {
	ca=$1
	shift
	echo | timeout 10 openssl s_client -dtls1_2 -connect "127.0.0.1:$proxy_port" \
		-cipher ECDHE-ECDSA-AES128-CCM8:@SECLEVEL=0 -CAfile "$ca" -verify_return_error "$@" 2>&1 || true
}

step "a client that trusts another CA sends unknown_ca: the device rejected the server's certificate"
out=$(sclient "$certs/other-ca-cert.pem")
printf '%s\n' "$out" | grep -qi 'unable to get local issuer\|verify error' ||
	fail "s_client did not reject the server certificate: $out"
wait_log ' warning event=handshake-failed .*reason="the device rejected the server'"'"'s certificate: unknown_ca \(48\)'
[ "$(log_count 'peer alert unknown_ca')" = 0 ] || fail "still the old wording"

step "a client that trusts the right CA still gets through"
out=$(sclient "$certs/ca-cert.pem")
printf '%s\n' "$out" | grep -q 'Verify return code: 0 (ok)' || fail "s_client with the right CA: $out"
wait_log 'event=handshake-ok .*auth=anonymous'
stop_proxy
echo PASS
