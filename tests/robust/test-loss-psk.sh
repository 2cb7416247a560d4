#!/bin/sh
# Lossy network, PSK: 100 handshakes + requests through 20% drop/duplicate/delay; no backend duplicates.
. "${srcdir:-.}/tests/robust/lib.sh"

start_backend
write_psk_conf "$tmp/proxy.conf"
start_proxy "$tmp/proxy.conf"
loss_test --psk my_identity:secretPSK123
n=$(log_count 'event=handshake-ok')
[ "$n" -ge 149 ] || fail "expected at least 149 handshake-ok lines, saw $n"
stop_proxy
echo "PASS"
