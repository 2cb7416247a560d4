#!/bin/sh
# MID remapping across parking: a session observes /o (so its relay state outlives
# parking), backend a sends a CON to the device, the session parks (a's upstream
# slot is freed), then backend b takes that slot and sends a CON with the same
# backend MID. The device must see b's message under a fresh MID: a's stale
# mapping must not make it look like a retransmission of a's message.
. "${srcdir:-.}/tests/forward/lib.sh"

fixed=${FIXED_MID_BACKEND:-./tests/forward/fixed-mid-backend}
[ -x "$fixed" ] || skip "$fixed not built"
start_bg fo "$fixed" -A 127.0.0.1 -p 0 -M 0x7000 -n 0
fo_port=$(wait_listen fo)
start_bg fa "$fixed" -A 127.0.0.1 -p 0 -M 0x4000 -n 1 -i 100
fa_port=$(wait_listen fa)
start_bg fb "$fixed" -A 127.0.0.1 -p 0 -M 0x4000 -n 1 -i 100
fb_port=$(wait_listen fb)
sock=$tmp/control.sock
write_fw_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "o"; address = "127.0.0.1"; port = $fo_port; },
             { name = "a"; address = "127.0.0.1"; port = $fa_port; },
             { name = "b"; address = "127.0.0.1"; port = $fb_port; } );
routes = ( { path_prefix = "/o"; backend = "o"; },
           { path_prefix = "/a"; backend = "a"; },
           { path_prefix = "/b"; backend = "b"; } );
session = { park_after = 1; };
control = { socket = "$sock"; };
@PSKS@
CONF
start_proxy "$tmp/proxy.conf"

step "observe /o, GET /a (a notifies once), idle until parked, GET /b (b notifies once)"
# CON GET Observe=0 /o (token 0c01); CON GET /a (token 0a02); CON GET /b (token 0b03).
out=$(coaps_send -w 1000 -W 1500 "42 01 a0 01 0c 01 60 51 6f" "42 01 a0 02 0a 02 b1 61" \
	wait:3000 "42 01 a0 03 0b 03 b1 62")
echo "$out"
for tok in 0c01 0a02 0b03; do
	echo "$out" | grep -q "recv .*type=ACK code=2.05 .*token=$tok " || fail "no answer for token $tok"
done
parked=$(./src/coaps-proxyctl -s "$sock" stats --json | jq -r .parked_total)
[ "$parked" -ge 1 ] || fail "the session was not parked (parked_total=$parked)"
ma=$(echo "$out" | grep 'recv .*type=CON code=2.05 .*token=0a02 ' | grep -o 'mid=0x[0-9a-f]*')
mb=$(echo "$out" | grep 'recv .*type=CON code=2.05 .*token=0b03 ' | grep -o 'mid=0x[0-9a-f]*')
[ -n "$ma" ] && [ -n "$mb" ] || fail "a's or b's message did not reach the device (a: $ma, b: $mb)"
[ "$ma" != "$mb" ] ||
	fail "b's new message reached the device under a's old MID ($ma): a retransmission to the device"
stop_proxy
echo "PASS"
