#!/bin/sh
# Lossy network, ECDHE-ECDSA with client certificates: 100 handshakes + requests through 20% drop/duplicate/delay.
. "${srcdir:-.}/tests/robust/lib.sh"

make_certs
start_backend
write_x509_conf "$tmp/proxy.conf"
start_proxy "$tmp/proxy.conf"
step "one clean ECDHE-ECDSA round first"
"$rclient" --server "127.0.0.1:$proxy_port" --cert "$certs/client-cert.pem" \
	--key "$certs/client-key.pem" --ca "$certs/ca-cert.pem" --deadline-ms 10000 ||
	fail "a clean ECDHE-ECDSA handshake and request failed"
loss_test --cert "$certs/client-cert.pem" --key "$certs/client-key.pem" --ca "$certs/ca-cert.pem"
n=$(log_count 'event=handshake-ok .*cipher=TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8')
[ "$n" -ge 150 ] || fail "expected at least 150 ECDHE-ECDSA handshake-ok lines, saw $n"
stop_proxy
echo "PASS"
