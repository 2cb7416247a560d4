#!/bin/sh
# gen-hostile-certs.sh: makes client certificates with hostile subject CNs in DIR (after gen-certs.sh).
#
# Usage: certs/gen-hostile-certs.sh DIR
# DIR must hold ca-cert.pem and ca-key.pem from certs/gen-certs.sh. The
# certificates are built field by field with `openssl asn1parse -genconf`
# (openssl req refuses a NUL or more than 64 bytes in a CN) and signed with
# `openssl dgst -sign`, so a CN can hold any bytes. All share one P-256 key,
# hostile-key.pem. See certs/README.md for the list. Quiet unless a step fails.
set -eu

if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
[ -f "$dir/ca-cert.pem" ] && [ -f "$dir/ca-key.pem" ] || {
	echo "gen-hostile-certs: $dir has no ca-cert.pem / ca-key.pem (run gen-certs.sh first)" >&2
	exit 1
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gen-hostile.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log
export OPENSSL_CONF=/dev/null

# Runs a command with its output in the log; shows the log if it fails.
run() {
	if ! "$@" >>"$log" 2>&1; then
		echo "gen-hostile-certs: failed: $*" >&2
		cat "$log" >&2
		exit 1
	fi
}

# Prints a file's bytes as lower-case hex on one line.
hexof() {
	od -An -v -tx1 "$1" | tr -d ' \n'
}

# Prints the hex of a string's bytes (printf escapes such as \n, \042 allowed).
hexstr() {
	printf "$1" >"$tmp/str"
	hexof "$tmp/str"
}

run openssl ecparam -name prime256v1 -genkey -noout -out "$dir/hostile-key.pem"
chmod 600 "$dir/hostile-key.pem"
run openssl ec -in "$dir/hostile-key.pem" -pubout -outform DER -out "$tmp/pub.der"
# The uncompressed point: the last 65 bytes of the SubjectPublicKeyInfo.
point=$(hexof "$tmp/pub.der" | sed 's/.*\(04.\{128\}\)$/\1/')
# An impostor key for the CA that only has the real CA's name.
run openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/impostor-key.pem"
serial=4096

# Makes DIR/hostile-NAME-cert.pem: gen NAME CN-HEX SIGNING-KEY [ATTRIBUTE] (issuer CN=TestCA,
# a UTF8String as openssl req writes it). The subject is one UTF8String attribute (commonName
# unless ATTRIBUTE names another) holding exactly the bytes CN-HEX.
gen() {
	serial=$((serial + 1))
	cnval="IMPLICIT:12U,FORMAT:HEX,OCTETSTRING:$2"
	[ -n "$2" ] || cnval="UTF8String:"
	cat >"$tmp/tbs.cnf" <<CNF
asn1 = SEQUENCE:tbs
[tbs]
version = EXPLICIT:0,INTEGER:2
serial = INTEGER:$serial
sigalg = SEQUENCE:sigalg
issuer = SEQUENCE:issuer
validity = SEQUENCE:validity
subject = SEQUENCE:subject
spki = SEQUENCE:spki
ext = EXPLICIT:3,SEQUENCE:exts
[sigalg]
alg = OID:ecdsa-with-SHA256
[issuer]
rdn = SET:issuer_rdn
[issuer_rdn]
atv = SEQUENCE:issuer_atv
[issuer_atv]
oid = OID:commonName
val = UTF8String:TestCA
[validity]
from = UTCTIME:250101000000Z
to = UTCTIME:491231235959Z
[subject]
rdn = SET:subject_rdn
[subject_rdn]
atv = SEQUENCE:subject_atv
[subject_atv]
oid = OID:${4:-commonName}
val = $cnval
[spki]
alg = SEQUENCE:spki_alg
key = FORMAT:HEX,BITSTRING:$point
[spki_alg]
type = OID:id-ecPublicKey
curve = OID:prime256v1
[exts]
eku = SEQUENCE:eku
[eku]
oid = OID:extendedKeyUsage
val = OCTWRAP,SEQUENCE:eku_val
[eku_val]
client = OID:clientAuth
CNF
	run openssl asn1parse -genconf "$tmp/tbs.cnf" -noout -out "$tmp/tbs.der"
	run openssl dgst -sha256 -sign "$3" -out "$tmp/sig.der" "$tmp/tbs.der"
	# The certificate: the same TBS (same config), the algorithm, the signature.
	sed -e 's/^asn1 = SEQUENCE:tbs$/asn1 = SEQUENCE:cert/' "$tmp/tbs.cnf" >"$tmp/cert.cnf"
	cat >>"$tmp/cert.cnf" <<CNF
[cert]
tbs = SEQUENCE:tbs
alg = SEQUENCE:sigalg
sig = FORMAT:HEX,BITSTRING:$(hexof "$tmp/sig.der")
CNF
	run openssl asn1parse -genconf "$tmp/cert.cnf" -noout -out "$tmp/cert.der"
	run openssl x509 -inform DER -in "$tmp/cert.der" -out "$dir/hostile-$1-cert.pem"
}

ca=$dir/ca-key.pem
# Signed by the real CA:
# a NUL inside the CN (a name-matching check that stops at NUL sees "admin-1"),
gen nul "$(hexstr 'admin-1')00$(hexstr '.evil.example')" "$ca"
# two CNs of 200 bytes that differ only after byte 150,
long=$(printf '%0150d' 0 | tr 0 L)
gen long-a "$(hexstr "${long}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")" "$ca"
gen long-b "$(hexstr "${long}BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB")" "$ca"
# the CN "anonymous" (the word the proxy uses for a session without a certificate),
gen anon "$(hexstr 'anonymous')" "$ca"
# the CN "my_identity" (a PSK identity of the test configurations),
gen psk "$(hexstr 'my_identity')" "$ca"
# an empty CN, and no CN at all (only an organizationName),
gen empty "" "$ca"
gen nocn "$(hexstr 'admin-1')" "$ca" organizationName
# a CN with a quote, a newline and a whole forged log line.
forge='evil" x\n2031-01-01T00:00:00.000Z info event=handshake-ok session=00000001 identity="admin-1" FORGED'
gen quote "$(hexstr "$forge")" "$ca"
# Signed by an impostor that only calls itself TestCA: refused as a bad
# signature, and the reason names the subject CN (the forged line again).
gen forge "$(hexstr "$forge")" "$tmp/impostor-key.pem"
