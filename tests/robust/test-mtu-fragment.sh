#!/bin/sh
# dtls.mtu = 512: the certificate flight (leaf + intermediate) is fragmented to fit and reassembled.
. "${srcdir:-.}/tests/robust/lib.sh"

make_certs
start_backend
client_args="--cert $certs/client-cert.pem --key $certs/client-key.pem --ca $certs/ca-cert.pem"

step "control: default MTU, a 512-byte path: the first certificate flight is too big"
# (mbedTLS itself falls back to a 508-byte MTU when it retransmits, so the
# handshake may still complete, a retransmission later.)
write_x509_conf "$tmp/proxy.conf" server-int-chain.pem server-int-key.pem
start_proxy "$tmp/proxy.conf"
start_faultproxy --mtu 512
# shellcheck disable=SC2086
"$rclient" --server "127.0.0.1:$fault_port" $client_args --mtu 512 --hs-max 2000 \
	--deadline-ms 3000 >"$tmp/control.out" || true
stop_faultproxy
echo "faultproxy: $fault_stats"
case $fault_stats in *too_big=0*) fail "no datagram over 512 bytes in the control run" ;; esac
stop_proxy

step "dtls.mtu = 512: fragmented certificate flight through faultproxy --mtu 512"
: >"$proxy_log"
write_x509_conf "$tmp/proxy.conf" server-int-chain.pem server-int-key.pem "mtu = 512;"
start_proxy "$tmp/proxy.conf"
start_faultproxy --mtu 512
for i in 1 2 3; do
	# shellcheck disable=SC2086
	"$rclient" --server "127.0.0.1:$fault_port" $client_args --mtu 512 --deadline-ms 10000 \
		>"$tmp/mtu-$i.out" || { cat "$tmp/mtu-$i.out" >&2; fail "handshake $i with mtu 512 failed"; }
	grep -q '^answer ' "$tmp/mtu-$i.out" || fail "no CoAP answer in round $i"
done
stop_faultproxy
echo "faultproxy: $fault_stats"
case $fault_stats in *too_big=0*) ;; *) fail "the proxy sent datagrams over 512 bytes: $fault_stats" ;; esac
[ "$(log_count 'event=handshake-ok .*cipher=TLS-ECDHE-ECDSA')" -ge 3 ] || fail "3 handshake-ok expected"
stop_proxy
echo "PASS"
