#!/bin/sh
# coaps-proxyd -t: "configuration OK", or FILE:LINE: key: why and a non-zero exit.
. "${srcdir:-.}/tests/config/lib.sh"

# Expects `coaps-proxyd -t` on config text (stdin) to print $1 (a fixed string) and exit $2.
expect() {
	cat >"$tmp/c.conf"
	rc=0
	out=$("$proxyd" -t -c "$tmp/c.conf" 2>&1) || rc=$?
	echo "$out" | grep -qF -- "$1" || fail "expected '$1', got: $out"
	[ "$rc" = "$2" ] || fail "expected exit $2, got $rc for: $out"
}

step "a valid file"
expect "configuration OK" 0 <<'CONF'
listen = ( { address = "::"; port = 5684; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = 5683; } );
psk = ( { identity = "a"; key = "k"; } );
CONF
step "errors name file, line, key and why"
expect "$tmp/c.conf:3: psk[0].key_hex: not valid hex" 1 <<'CONF'
listen = ( { address = "::"; port = 5684; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = 5683; } );
psk = ( { identity = "a"; key_hex = "zz"; } );
CONF
expect "$tmp/c.conf:4: dtls.mtu: must be an integer" 1 <<'CONF'
listen = ( { address = "::"; port = 5684; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = 5683; } );
psk = ( { identity = "a"; key = "k"; } );
dtls = { mtu = "big"; };
CONF
expect "$tmp/c.conf:2: (syntax): syntax error" 1 <<'CONF'
listen = ( { address = "::"; port = 5684; } );
backends = ( { name = "default"; address = ; port = 5683; } );
CONF
expect "c.conf:0: listen: missing" 1 </dev/null
rc=0
out=$("$proxyd" -t -c "$tmp/nonexistent.conf" 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "missing file should exit 1"
echo "$out" | grep -qF "$tmp/nonexistent.conf:0: (file): cannot read: No such file" || fail "missing file: $out"
step "a server chain too large for a Thread device's 900-byte buffer is warned about"
make_certs
cat >"$tmp/big.conf" <<CONF
listen = ( { address = "::"; port = 5684; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = 5683; } );
x509 = { certificate = "$certs/server-int-chain.pem"; private_key = "$certs/server-int-key.pem";
         client_ca = "$certs/ca-cert.pem"; };
CONF
out=$("$proxyd" -t -c "$tmp/big.conf" 2>&1) || fail "a large chain is not an error: $out"
echo "$out" | grep -Eq "the server's Certificate handshake message is [0-9]+ bytes, more than dtls.max_handshake_message \(880\).*send the leaf only or use a smaller chain" ||
	fail "no size warning: $out"
echo "$out" | grep -q "configuration OK" || fail "$out"
sed -i 's/^x509 = {/dtls = { max_handshake_message = 2000; };\nx509 = {/' "$tmp/big.conf"
out=$("$proxyd" -t -c "$tmp/big.conf" 2>&1)
echo "$out" | grep -q "Certificate handshake message" && fail "warned although under the limit: $out"

step "an RSA-PSK suite counts as neither PSK nor certificate suite (the proxy has no RSA key)"
cat >"$tmp/rsapsk.conf" <<CONF
listen = ( { address = "::"; port = 5684; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = 5683; } );
psk = ( { identity = "a"; key = "k"; } );
x509 = { certificate = "$certs/server-cert.pem"; private_key = "$certs/server-key.pem";
         client_ca = "$certs/ca-cert.pem"; };
dtls = { ciphersuites = [ "TLS-RSA-PSK-WITH-AES-128-GCM-SHA256" ]; };
CONF
chmod 0600 "$tmp/rsapsk.conf"
out=$("$proxyd" -t -c "$tmp/rsapsk.conf" 2>&1) || true
if echo "$out" | grep -q "unknown cipher suite"; then
	echo "this mbedTLS has no RSA-PSK suites: step skipped"
else
	echo "$out" | grep -qF "psk entries are configured but dtls.ciphersuites enables no PSK suite" ||
		fail "RSA-PSK counted as a PSK suite: $out"
	echo "$out" | grep -qF "x509 is configured but dtls.ciphersuites enables no certificate suite" ||
		fail "RSA-PSK counted as a certificate suite: $out"
fi

step "a backend name with several addresses: the first is used, and the check says so"
cat >"$tmp/names.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = 5684; } );
backends = ( { name = "default"; address = "localhost"; port = 5683; } );
psk = ( { identity = "a"; key = "k"; } );
CONF
chmod 0600 "$tmp/names.conf"
out=$("$proxyd" -t -c "$tmp/names.conf" 2>&1) || fail "localhost as a backend: $out"
addrs=$(getent ahosts localhost | awk '$2 == "DGRAM" {print $1}' | awk '!seen[$0]++')
first=$(echo "$addrs" | head -1)
if [ "$(echo "$addrs" | wc -l)" -gt 1 ]; then
	echo "$out" | grep -qF "names.conf:2: backends[0].address: \"localhost\" has several addresses ($first, " ||
		fail "no warning for localhost = $(echo $addrs): $out"
	echo "$out" | grep -qF "the proxy uses $first, the first in the resolver's order" || fail "$out"
else
	echo "$out" | grep -q "several addresses" && fail "warned although localhost is only $first: $out"
fi

step "usage"
"$proxyd" -h | grep -q 'usage: coaps-proxyd' || fail "-h"
"$proxyd" -V | grep -q 'coaps-proxyd 0' || fail "-V"
# -f changed nothing (the daemon never forks): accepted for old command lines, no longer documented.
"$proxyd" -h | grep -qE '(-f|\[-[a-zA-Z]*f)' && fail "-h documents -f, which does nothing: $("$proxyd" -h)"
out=$("$proxyd" -f -t -c "$tmp/names.conf" 2>&1) || fail "-f is no longer accepted: $out"
echo "$out" | grep -q "configuration OK" || fail "-f -t: $out"
rc=0
"$proxyd" -x >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "bad flag should exit 2"
echo PASS
