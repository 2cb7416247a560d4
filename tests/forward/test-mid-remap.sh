#!/bin/sh
# MID remapping: two backends send CON notifications with the same MIDs to one
# device; the device sees distinct MIDs, and each ACK goes back to the backend that
# sent the notification, with that backend's own MID.
. "${srcdir:-.}/tests/forward/lib.sh"

fixed=${FIXED_MID_BACKEND:-./tests/forward/fixed-mid-backend}
[ -x "$fixed" ] || skip "$fixed not built"
start_bg fm1 "$fixed" -A 127.0.0.1 -p 0 -M 0x4000 -n 5 -i 250
fm1_port=$(wait_listen fm1)
start_bg fm2 "$fixed" -A 127.0.0.1 -p 0 -M 0x4000 -n 5 -i 250
fm2_port=$(wait_listen fm2)
write_fw_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "a"; address = "127.0.0.1"; port = $fm1_port; },
             { name = "b"; address = "127.0.0.1"; port = $fm2_port; } );
routes = ( { path_prefix = "/a"; backend = "a"; },
           { path_prefix = "/b"; backend = "b"; } );
@PSKS@
CONF
start_proxy "$tmp/proxy.conf"

step "one session observes /a and /b; both backends notify with MIDs 0x4000-0x4004"
# CON GET Observe=0 /a (MID 0xa001, token 0a01) and /b (MID 0xa002, token 0b02).
out=$(coaps_send -a -w 0 -W 3500 "42 01 a0 01 0a 01 60 51 61" "42 01 a0 02 0b 02 60 51 62")
echo "$out"
echo "$out" | grep -q 'recv .*type=ACK code=2.05 mid=0xa001 tkl=2 token=0a01 ' || fail "/a not registered"
echo "$out" | grep -q 'recv .*type=ACK code=2.05 mid=0xa002 tkl=2 token=0b02 ' || fail "/b not registered"
for tok in 0a01 0b02; do
	n=$(echo "$out" | grep -c "recv .*type=CON code=2.05 .*token=$tok " || true)
	[ "$n" = 5 ] || fail "token $tok: expected 5 CON notifications at the device, got $n"
done
mids=$(echo "$out" | grep 'recv .*type=CON code=2.05 ' | grep -o 'mid=0x[0-9a-f]*')
[ "$(echo "$mids" | sort -u | grep -c .)" = 10 ] ||
	fail "the device saw colliding MIDs from the two backends: $(echo "$mids" | tr '\n' ' ')"

step "each backend gets the ACKs of its own notifications, with its own MIDs"
i=0
while [ $i -lt 20 ] && [ "$(grep -c '^ack ' "$tmp/fm1.out")$(grep -c '^ack ' "$tmp/fm2.out")" != 55 ]; do
	sleep 0.1
	i=$((i + 1))
done
for b in fm1 fm2; do
	[ "$(grep -c '^req ' "$tmp/$b.out")" = 1 ] || fail "$b: expected one request"
	for m in 4000 4001 4002 4003 4004; do
		[ "$(grep -c "^ack mid=0x$m\$" "$tmp/$b.out")" = 1 ] ||
			fail "$b: the ACK for its notification 0x$m did not arrive exactly once"
	done
	[ "$(grep -c '^ack ' "$tmp/$b.out")" = 5 ] || fail "$b: ACKs that were not for it arrived"
	grep -q '^rst ' "$tmp/$b.out" && fail "$b: got an RST while the session was up"
done
stop_proxy
echo "PASS"
