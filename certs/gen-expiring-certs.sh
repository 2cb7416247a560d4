#!/bin/sh
# gen-expiring-certs.sh: makes certificates and CRLs near or past their end in DIR (after gen-certs.sh).
#
# Usage: certs/gen-expiring-certs.sh DIR
# DIR must hold ca-cert.pem, ca-key.pem and server-key.pem from
# certs/gen-certs.sh. For tests of x509.expiry_warning (see certs/README.md):
#   server-soon-cert.pem  CN=localhost, signed by TestCA, valid for 10 days
#   soon-ca-key.pem, soon-ca-cert.pem  a root CA "SoonCA" valid for 10 days
#   ca-soon.crl           TestCA's CRL, next update in 10 hours
#   ca-stale.crl          TestCA's CRL, next update 2021-01-01 (passed)
# Quiet unless a step fails.
set -eu

if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
for f in ca-cert.pem ca-key.pem server-key.pem; do
	[ -f "$dir/$f" ] || {
		echo "gen-expiring-certs: $dir has no $f (run gen-certs.sh first)" >&2
		exit 1
	}
done
cd "$dir"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gen-expiring.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log

# Runs a command with its output in the log; shows the log if it fails.
run() {
	if ! "$@" >>"$log" 2>&1; then
		echo "gen-expiring-certs: failed: $*" >&2
		cat "$log" >&2
		exit 1
	fi
}

mkdir "$tmp/db"
: >"$tmp/db/index.txt"
echo 1000 >"$tmp/db/crlnumber"
cat >"$tmp/openssl.cnf" <<CNF
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ crl_ext ]
authorityKeyIdentifier = keyid:always
[ ca ]
default_ca = test_ca
[ test_ca ]
database = $tmp/db/index.txt
crlnumber = $tmp/db/crlnumber
certificate = $PWD/ca-cert.pem
private_key = $PWD/ca-key.pem
default_md = sha256
default_crl_days = 60
CNF
export OPENSSL_CONF=$tmp/openssl.cnf

# The server's key, in a certificate that ends in 10 days.
run openssl req -new -key server-key.pem -subj "/CN=localhost" -out "$tmp/server.csr"
run openssl x509 -req -in "$tmp/server.csr" -CA ca-cert.pem -CAkey ca-key.pem \
	-CAserial "$tmp/serial" -CAcreateserial -days 10 -sha256 \
	-extfile "$OPENSSL_CONF" -extensions server_ext -out server-soon-cert.pem

# A root CA that ends in 10 days.
run openssl ecparam -name prime256v1 -genkey -noout -out soon-ca-key.pem
chmod 600 soon-ca-key.pem
run openssl req -x509 -new -key soon-ca-key.pem -sha256 -days 10 -subj "/CN=SoonCA" \
	-extensions ca_ext -out soon-ca-cert.pem

# TestCA's CRL, due again in 10 hours, and one whose next update has passed.
run openssl ca -gencrl -crlhours 10 -crlexts crl_ext -out ca-soon.crl
run openssl ca -gencrl -crl_lastupdate 20200101000000Z -crl_nextupdate 20210101000000Z \
	-crlexts crl_ext -out ca-stale.crl
