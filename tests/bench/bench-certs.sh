# bench-certs.sh: make a throw-away P-256 CA, server (CN=localhost) and client
# certificate in directory $1 (sourced by run-bench.sh; nothing is committed).
bench_make_certs() {
	_d=$1
	(
	cd "$_d" || exit 1
	cat > ext.cnf <<'EOC'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyAgreement
extendedKeyUsage = clientAuth
EOC
	for n in ca server client; do
		openssl ecparam -name prime256v1 -genkey -noout -out "$n-key.pem.tmp" &&
		openssl pkcs8 -topk8 -nocrypt -in "$n-key.pem.tmp" -out "$n-key.pem" || exit 1
		rm -f "$n-key.pem.tmp"
	done
	openssl req -new -x509 -sha256 -days 2 -key ca-key.pem -subj "/CN=coaps-bench CA" \
		-extensions ca -config ext.cnf -out ca-cert.pem 2>/dev/null || \
	openssl req -new -x509 -sha256 -days 2 -key ca-key.pem -subj "/CN=coaps-bench CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" -out ca-cert.pem || exit 1
	for n in server client; do
		if [ $n = server ]; then cn=localhost; else cn=bench-client; fi
		openssl req -new -sha256 -key "$n-key.pem" -subj "/CN=$cn" -out "$n.csr" &&
		openssl x509 -req -sha256 -days 2 -in "$n.csr" -CA ca-cert.pem -CAkey ca-key.pem \
			-CAcreateserial -extfile ext.cnf -extensions $n -out "$n-cert.pem" \
			2>/dev/null || exit 1
	done
	) >/dev/null
}
