#!/bin/bash
# test-certs.sh: gen-certs.sh output verifies (and fails) as intended, in OpenSSL and mbedTLS.
. "${srcdir:-.}/tests/lib/harness.sh"

command -v openssl >/dev/null || skip "openssl not installed"
d=$tmp/certs

step "gen-certs.sh runs quietly, twice"
out=$("$certgen" "$d" 2>&1) || fail "gen-certs.sh failed: $out"
[ -z "$out" ] || fail "gen-certs.sh was not quiet: $out"
out=$("$certgen" "$d" 2>&1) || fail "gen-certs.sh failed on rerun: $out"
[ -z "$out" ] || fail "gen-certs.sh was not quiet on rerun: $out"
for f in ca-key.pem ca-cert.pem server-key.pem server-csr.pem server-cert.pem \
	client-key.pem client-csr.pem client-cert.pem int-ca-key.pem int-ca-cert.pem \
	client-int-key.pem client-int-cert.pem client-int-chain.pem \
	server-int-key.pem server-int-chain.pem client-expired-key.pem \
	client-expired-cert.pem client-revoked-key.pem client-revoked-cert.pem ca.crl \
	other-ca-key.pem other-ca-cert.pem client-other-key.pem client-other-cert.pem; do
	[ -s "$d/$f" ] || fail "missing $f"
done
ls "$d"/*.srl >/dev/null 2>&1 && fail "serial files left in $d"

cd "$d"
# Runs openssl verify and expects success.
verify_ok() {
	openssl verify "$@" >"$tmp/v.out" 2>&1 || fail "openssl verify $*: $(cat "$tmp/v.out")"
}
# Runs openssl verify and expects the error text $1.
verify_bad() {
	want=$1
	shift
	if openssl verify "$@" >"$tmp/v.out" 2>&1; then
		fail "openssl verify $* succeeded"
	fi
	grep -q "$want" "$tmp/v.out" || fail "openssl verify $*: wanted '$want', got $(cat "$tmp/v.out")"
}

step "openssl: good chains verify"
verify_ok -CAfile ca-cert.pem server-cert.pem client-cert.pem
verify_ok -CAfile ca-cert.pem -untrusted int-ca-cert.pem client-int-cert.pem server-int-cert.pem
verify_ok -CAfile ca-cert.pem -crl_check -CRLfile ca.crl client-cert.pem
verify_ok -CAfile ca-cert.pem -purpose sslserver server-cert.pem
verify_ok -CAfile ca-cert.pem -purpose sslclient client-cert.pem

step "openssl: bad ones do not"
verify_bad "certificate revoked" -CAfile ca-cert.pem -crl_check -CRLfile ca.crl client-revoked-cert.pem
verify_bad "certificate has expired" -CAfile ca-cert.pem client-expired-cert.pem
verify_bad "unable to get local issuer" -CAfile ca-cert.pem client-other-cert.pem
verify_bad "unable to get local issuer" -CAfile ca-cert.pem client-int-cert.pem
verify_bad "unsuitable certificate purpose" -CAfile ca-cert.pem -purpose sslserver client-cert.pem

step "certificates are v3 with the right extensions"
for c in ca-cert.pem server-cert.pem client-cert.pem int-ca-cert.pem client-int-cert.pem \
	client-expired-cert.pem client-revoked-cert.pem client-other-cert.pem; do
	openssl x509 -in "$c" -noout -text >"$tmp/x.txt"
	grep -q "Version: 3 (0x2)" "$tmp/x.txt" || fail "$c is not v3"
	grep -q "ecdsa-with-SHA256" "$tmp/x.txt" || fail "$c is not ecdsa-with-SHA256"
	grep -q "prime256v1\|P-256" "$tmp/x.txt" || fail "$c key is not P-256"
done
openssl x509 -in ca-cert.pem -noout -text | grep -q "CA:TRUE" || fail "ca not CA:TRUE"
openssl x509 -in server-cert.pem -noout -ext subjectAltName | grep -q "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1" \
	|| fail "server SAN wrong"
openssl x509 -in server-cert.pem -noout -subject | grep -q "CN *= *localhost" || fail "server CN"
openssl x509 -in client-expired-cert.pem -noout -enddate | grep -q "2020 GMT" || fail "expired dates"
openssl crl -in ca.crl -noout -nextupdate >/dev/null || fail "ca.crl unreadable"
[ "$(grep -c BEGIN client-int-chain.pem)" = 2 ] || fail "client-int-chain.pem is not 2 certs"
[ "$(grep -c BEGIN server-int-chain.pem)" = 2 ] || fail "server-int-chain.pem is not 2 certs"
for k in *-key.pem; do
	openssl pkey -in "$k" -check -noout >/dev/null 2>&1 || fail "openssl pkey -check $k"
done
cd - >/dev/null

c=$tools/certcheck
step "mbedTLS: keys load, match their certificates"
"$c" key "$d"/*-key.pem >/dev/null || fail "mbedTLS cannot load a key"
for n in server client client-int server-int client-expired client-revoked client-other; do
	"$c" pair "$d/$n-key.pem" "$d/$n-cert.pem" >/dev/null || fail "mbedTLS: $n key/cert mismatch"
done

step "mbedTLS: chains verify as intended"
"$c" verify -u server "$d/ca-cert.pem" "$d/server-cert.pem" "$d/ca.crl" >/dev/null || fail "mbedTLS: server"
"$c" verify -u client "$d/ca-cert.pem" "$d/client-cert.pem" "$d/ca.crl" >/dev/null || fail "mbedTLS: client"
"$c" verify -u client "$d/ca-cert.pem" "$d/client-int-chain.pem" "$d/ca.crl" >/dev/null || fail "mbedTLS: client-int chain"
"$c" verify -u server "$d/ca-cert.pem" "$d/server-int-chain.pem" >/dev/null || fail "mbedTLS: server-int chain"
for n in client-expired client-revoked client-other; do
	rc=0
	"$c" verify "$d/ca-cert.pem" "$d/$n-cert.pem" "$d/ca.crl" >"$tmp/m.out" || rc=$?
	[ "$rc" = 1 ] || fail "mbedTLS: $n verified (rc=$rc): $(cat "$tmp/m.out")"
done
"$c" verify "$d/ca-cert.pem" "$d/client-expired-cert.pem" | grep -q expired || fail "mbedTLS: not 'expired'"
"$c" verify "$d/ca-cert.pem" "$d/client-revoked-cert.pem" "$d/ca.crl" | grep -q revoked || fail "mbedTLS: not 'revoked'"
rc=0
"$c" verify -u server "$d/ca-cert.pem" "$d/client-cert.pem" >/dev/null || rc=$?
[ "$rc" = 1 ] || fail "mbedTLS: client cert accepted as server"

echo PASS
