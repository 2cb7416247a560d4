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

step "a client that trusts another CA sends unknown_ca: the device rejected the server's certificate"
out=$(x509_sclient -CAfile "$certs/other-ca-cert.pem" -verify_return_error)
printf '%s\n' "$out" | grep -qi 'unable to get local issuer\|verify error' ||
	fail "s_client did not reject the server certificate: $out"
wait_log ' warning event=handshake-failed .*reason="the device rejected the server'"'"'s certificate: unknown_ca \(48\)'
[ "$(log_count 'peer alert unknown_ca')" = 0 ] || fail "still the old wording"

step "a client that trusts the right CA still gets through"
out=$(x509_sclient -CAfile "$certs/ca-cert.pem" -verify_return_error)
printf '%s\n' "$out" | grep -q 'Verify return code: 0 (ok)' || fail "s_client with the right CA: $out"
wait_log 'event=handshake-ok .*auth=anonymous'
stop_proxy
echo PASS
