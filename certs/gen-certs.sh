#!/bin/bash
# gen-certs.sh: makes the test PKI (CA, intermediate, server and client certs, CRL) in DIR.
#
# Usage: certs/gen-certs.sh DIR
# All keys are ECDSA P-256 (prime256v1) in unencrypted SEC1 PEM, all
# signatures SHA-256, all certificates X.509 v3. Rerunning overwrites DIR's
# files. Quiet unless something fails. See certs/README.md.
set -eu

if [ $# -ne 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
mkdir -p "$dir"
cd "$dir"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gen-certs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log

# Runs a command with its output in the log; shows the log if it fails.
run() {
	if ! "$@" >>"$log" 2>&1; then
		echo "gen-certs: failed: $*" >&2
		cat "$log" >&2
		exit 1
	fi
}

# Our own configuration: no dependence on the system openssl.cnf, and the
# v3 extension sections the how-to leaves out.
mkdir -p "$tmp/db"
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

[ int_ca_ext ]
basicConstraints = critical, CA:TRUE, pathlen:0
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

[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ crl_ext ]
authorityKeyIdentifier = keyid:always

[ ca ]
default_ca = test_ca
[ test_ca ]
database = $tmp/db/index.txt
new_certs_dir = $tmp/db
serial = $tmp/db/serial
crlnumber = $tmp/db/crlnumber
certificate = $PWD/ca-cert.pem
private_key = $PWD/ca-key.pem
default_md = sha256
default_days = 365
default_crl_days = 60
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[ policy_any ]
commonName = supplied
CNF
export OPENSSL_CONF=$tmp/openssl.cnf

# Makes an unencrypted P-256 key (SEC1 "EC PRIVATE KEY" PEM, as in the how-to).
gen_key() {
	run openssl ecparam -name prime256v1 -genkey -noout -out "$1"
	chmod 600 "$1"
}

# Makes a self-signed CA certificate: gen_root KEY CERT CN.
gen_root() {
	gen_key "$1"
	run openssl req -x509 -new -key "$1" -sha256 -days 3650 -subj "/CN=$3" \
		-extensions ca_ext -out "$2"
}

# Makes a key, a CSR and a certificate signed by a CA:
# gen_leaf NAME CN CA-CERT CA-KEY EXT-SECTION DAYS
gen_leaf() {
	gen_key "$1-key.pem"
	run openssl req -new -key "$1-key.pem" -subj "/CN=$2" -out "$1-csr.pem"
	run openssl x509 -req -in "$1-csr.pem" -CA "$3" -CAkey "$4" \
		-CAserial "$tmp/serial-$(basename "$3" .pem)" -CAcreateserial \
		-days "$6" -sha256 -extfile "$OPENSSL_CONF" -extensions "$5" \
		-out "$1-cert.pem"
}

# Root CA, as in the how-to but with v3 CA extensions.
gen_root ca-key.pem ca-cert.pem TestCA

# Server and client, signed by the root.
gen_leaf server localhost ca-cert.pem ca-key.pem server_ext 365
gen_leaf client client ca-cert.pem ca-key.pem client_ext 365

# Intermediate CA and the certificates it signs.
gen_leaf int-ca TestIntermediateCA ca-cert.pem ca-key.pem int_ca_ext 3650
rm -f int-ca-csr.pem
gen_leaf client-int client-int int-ca-cert.pem int-ca-key.pem client_ext 365
cat client-int-cert.pem int-ca-cert.pem >client-int-chain.pem
gen_leaf server-int localhost int-ca-cert.pem int-ca-key.pem server_ext 365
cat server-int-cert.pem int-ca-cert.pem >server-int-chain.pem
rm -f client-int-csr.pem server-int-csr.pem

# A client whose certificate expired long ago (openssl ca can backdate).
gen_key client-expired-key.pem
run openssl req -new -key client-expired-key.pem -subj "/CN=client-expired" \
	-out "$tmp/client-expired-csr.pem"
openssl rand -hex 16 >"$tmp/db/serial"
run openssl ca -batch -notext -in "$tmp/client-expired-csr.pem" \
	-startdate 20200101000000Z -enddate 20201231235959Z \
	-extensions client_ext -out client-expired-cert.pem

# A client whose certificate the root revoked, and the root's CRL.
gen_leaf client-revoked client-revoked ca-cert.pem ca-key.pem client_ext 365
rm -f client-revoked-csr.pem
run openssl ca -revoke client-revoked-cert.pem -crl_reason keyCompromise
run openssl ca -gencrl -crldays 60 -crlexts crl_ext -out ca.crl

# An unrelated CA and a client it signed (must be refused).
gen_root other-ca-key.pem other-ca-cert.pem OtherCA
gen_leaf client-other client-other other-ca-cert.pem other-ca-key.pem client_ext 365
rm -f client-other-csr.pem

# An impostor CA that calls itself TestCA, and a client it signed: the issuer
# name matches the real root but the signature does not verify.
gen_root "$tmp/impostor-key.pem" "$tmp/impostor-cert.pem" TestCA
gen_leaf client-badsig client-badsig "$tmp/impostor-cert.pem" "$tmp/impostor-key.pem" client_ext 365
rm -f client-badsig-csr.pem

# Leftovers of older runs or of the how-to's -CAcreateserial.
rm -f ca-cert.srl int-ca-cert.srl other-ca-cert.srl
