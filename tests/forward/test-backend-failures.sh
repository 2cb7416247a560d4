#!/bin/sh
# Answers the proxy makes itself: backend down -> 5.02, backend silent -> 5.04,
# ping -> RST, malformed CoAP -> RST (CON) or drop (NON), logged, never forwarded;
# and a separate response relayed with the device's ACK going back with the backend's MID.
. "${srcdir:-.}/tests/forward/lib.sh"

start_backend silent          # "silent"
start_backend2 separate 500   # "sep": empty ACK now, CON response 500 ms later
start_bg backend3 "$tools/coap-test-backend" -A 127.0.0.1 -p 0 -m echo
backend3_port=$(wait_listen backend3)
fixed=${FIXED_MID_BACKEND:-./tests/forward/fixed-mid-backend}
[ -x "$fixed" ] || skip "$fixed not built"
start_bg late "$fixed" -A 127.0.0.1 -p 0 -M 0x5000 -n 0 -D 2000   # answers after 2 s
late_port=$(wait_listen late)
write_fw_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "down";   address = "127.0.0.1"; port = @DOWN@; },
             { name = "silent"; address = "127.0.0.1"; port = @BACKEND@; },
             { name = "sep";    address = "127.0.0.1"; port = @BACKEND2@; },
             { name = "late";   address = "127.0.0.1"; port = $late_port; },
             { name = "echo";   address = "127.0.0.1"; port = $backend3_port; } );
routes = ( { path_prefix = "/down"; backend = "down"; },
           { path_prefix = "/silent"; backend = "silent"; },
           { path_prefix = "/sep"; backend = "sep"; },
           { path_prefix = "/late"; backend = "late"; },
           { backend = "echo"; } );
backend_timeout = 1;
@PSKS@
CONF
start_proxy "$tmp/proxy.conf"
url="coaps://127.0.0.1:$proxy_port"

# Prints how many lines of backend NAME's output match the ERE $2.
bcount() {
	grep -Ec "$2" "$tmp/$1.out" || true
}

# Prints the milliseconds between the "sent" of MID $2 and the first "recv" with it in output $1.
latency() {
	echo "$1" | awk -v m="mid=$2" '
		/^sent at=/ && index($0, m) { split($2, a, "="); s = a[2] }
		/^recv at=/ && index($0, m " ") && s != "" { split($2, a, "="); print a[2] - s; exit }'
}

step "backend down (ICMP port unreachable) -> 5.02 Bad Gateway"
out=$(get my_identity secretPSK123 5 "$url/down/x")
echo "$out" | grep -q '5\.02' || fail "backend down: expected 5.02, got: $out"
# CON GET /down MID 0x7001 token aabb: a piggybacked ACK 5.02 with that MID and token.
out=$(coaps_send -w 1500 "42 01 70 01 aa bb b4 64 6f 77 6e")
echo "$out" | grep -q 'recv .*type=ACK code=5.02 mid=0x7001 tkl=2 token=aabb ' ||
	fail "backend down (raw CON): expected ACK 5.02 mid 0x7001 token aabb: $out"
# diagnostic_payloads is off by default: the device is not told the backend's name or state.
echo "$out" | grep 'recv .*mid=0x7001 ' | grep -q 'payload=' &&
	fail "backend down: a diagnostic payload although diagnostic_payloads is off: $out"

step "silent backend, backend_timeout = 1 -> 5.04 Gateway Timeout after about 1 s"
# CON GET /silent MID 0x7002 token aabc.
out=$(coaps_send -w 3500 "42 01 70 02 aa bc b6 73 69 6c 65 6e 74")
echo "$out" | grep -q 'recv .*type=ACK code=5.04 mid=0x7002 tkl=2 token=aabc ' ||
	fail "silent backend: expected ACK 5.04 mid 0x7002 token aabc: $out"
ms=$(latency "$out" 0x7002)
if [ -z "$ms" ] || [ "$ms" -lt 700 ] || [ "$ms" -gt 3000 ]; then
	fail "5.04 came after ${ms:-?} ms, expected about 1000 (backend_timeout = 1)"
fi
[ "$(echo "$out" | grep -c 'recv .*mid=0x7002 ')" = 1 ] || fail "more than one answer to 0x7002: $out"
[ "$(bcount backend '^req .*mid=0x7002 .*path=/silent ')" = 1 ] ||
	fail "the silent backend did not get the request exactly once"
out=$(get my_identity secretPSK123 8 "$url/silent/cc")
echo "$out" | grep -q '5\.04' || fail "silent backend via coap-client: expected 5.04, got: $out"

step "a backend answering after backend_timeout: 5.04 at about 1 s, the late answer is dropped"
# CON GET /late MID 0x7004 token aabd; the backend answers at 2 s.
out=$(coaps_send -w 3500 "42 01 70 04 aa bd b4 6c 61 74 65")
echo "$out" | grep -q 'recv .*type=ACK code=5.04 mid=0x7004 tkl=2 token=aabd ' ||
	fail "late backend: expected ACK 5.04 mid 0x7004 token aabd: $out"
grep -q '^answer mid=' "$tmp/late.out" || fail "the late backend never answered"
[ "$(echo "$out" | grep -c 'recv ')" = 1 ] || fail "the late answer reached the device: $out"

step "ping (empty CON) -> RST from the proxy, nothing forwarded"
out=$(coaps_send -w 700 "40 00 12 34")
echo "$out" | grep -q 'recv .*type=RST code=0.00 mid=0x1234 tkl=0 ' || fail "ping: expected RST 0x1234: $out"
for b in backend backend2 backend3; do
	[ "$(bcount $b '^ping ')" = 0 ] || fail "the ping reached $b"
done

step "malformed CoAP: CON -> RST with its MID, NON -> nothing; logged; never forwarded"
drops=$(log_count 'event=coap-dropped')
r1=$(bcount backend3 '^(req|ping|bad|unexpected) ')
# name:first byte as CON:first byte as NON:bytes after code and MID (0.01 GET, MID 0x81NN/0x82NN).
cases='bad-version:80:90:
token-length-9:49:59:01_02_03_04_05_06_07_08_09
token-length-15:4f:5f:01_02_03_04_05_06_07_08_09_0a_0b_0c_0d_0e_0f
option-delta-nibble-15:40:50:f1_61
option-length-nibble-15:40:50:bf_61_62
payload-marker-no-payload:40:50:ff
option-number-overflow:40:50:e0_fc_db_e0_02_db
truncated-option:40:50:b5_61'
con_args=""
non_args=""
i=0
for c in $cases; do
	i=$((i + 1))
	con=$(echo "$c" | cut -d: -f2)
	non=$(echo "$c" | cut -d: -f3)
	body=$(echo "$c" | cut -d: -f4 | tr '_' ' ')
	con_args="$con_args|$con 01 81 $(printf '%02x' $i) $body"
	non_args="$non_args|$non 01 82 $(printf '%02x' $i) $body"
done
ok_get="42 01 83 00 cc dd b2 6f 6b"   # CON GET /ok, MID 0x8300, token ccdd
IFS='|'
# shellcheck disable=SC2086
out=$(coaps_send -w 400 ${con_args#|} ${non_args#|} "$ok_get")
unset IFS
i=0
for c in $cases; do
	i=$((i + 1))
	name=${c%%:*}
	mid=$(printf '0x81%02x' $i)
	if [ "$name" = bad-version ]; then
		# RFC 7252 §3: unknown versions are silently ignored; an RST is tolerated.
		echo "$out" | grep "recv .*mid=$mid " | grep -vq 'type=RST code=0.00' &&
			fail "$name: answered with something other than RST: $out"
	else
		echo "$out" | grep -q "recv .*type=RST code=0.00 mid=$mid " ||
			fail "$name as CON: expected RST mid $mid: $out"
	fi
	mid=$(printf '0x82%02x' $i)
	echo "$out" | grep -q "recv .*mid=$mid " && fail "$name as NON: expected no answer: $out"
done
echo "$out" | grep -q 'recv .*type=ACK code=2.05 mid=0x8300 tkl=2 token=ccdd ' ||
	fail "the session stopped serving after malformed messages: $out"
n=$(($(log_count 'event=coap-dropped .*reason="[^"]+"') - drops))
[ "$n" -ge 16 ] || fail "expected 16 coap-dropped lines with a reason, saw $n"
for why in version 'token length 9' 'token length 15' 'delta nibble 15' 'length nibble 15' \
	'payload marker' overflow truncated; do
	wait_log "event=coap-dropped .*reason=\"[^\"]*$why" 2
done
[ "$(bcount backend3 '^(req|ping|bad|unexpected) ')" = $((r1 + 1)) ] ||
	fail "a malformed message reached the backend: $(tail -n 20 "$tmp/backend3.out")"
[ "$(bcount backend3 '^req .*path=/ok ')" = 1 ] || fail "/ok did not reach the echo backend"
out=$(get dev-42 devKey42 5 "$url/still/alive")
echo "$out" | grep -q '^payload 0' || fail "daemon stopped serving new sessions: $out"

step "separate response: empty ACK, then a CON with a remapped MID; the ACK goes back with the backend's MID"
# CON GET /sep MID 0x7003 token 5e9a; -a acknowledges the separate CON response.
out=$(coaps_send -a -w 2500 "42 01 70 03 5e 9a b3 73 65 70")
echo "$out" | grep -q 'recv .*type=ACK code=0.00 mid=0x7003 tkl=0 ' ||
	fail "separate: no empty ACK for 0x7003: $out"
echo "$out" | grep -q 'recv .*type=CON code=2.05 mid=0x[0-9a-f]* tkl=2 token=5e9a ' ||
	fail "separate: no CON 2.05 with token 5e9a: $out"
dmid=$(echo "$out" | grep 'recv .*type=CON code=2.05 .*token=5e9a ' | head -n 1 | grep -o 'mid=0x[0-9a-f]*')
echo "$out" | grep -q "^sent-ack $dmid\$" || fail "coaps-send did not ACK $dmid: $out"
bmid=$(grep '^separate mid=' "$tmp/backend2.out" | tail -n 1 | grep -o 'mid=0x[0-9a-f]*')
[ -n "$bmid" ] || fail "the backend sent no separate response"
i=0
while ! grep -q "^ack $bmid\$" "$tmp/backend2.out" && [ $i -lt 30 ]; do
	sleep 0.1
	i=$((i + 1))
done
grep -q "^ack $bmid\$" "$tmp/backend2.out" ||
	fail "the device's ACK ($dmid) did not reach the backend as 'ack $bmid'"
[ "$(bcount backend2 'unmatched')" = 0 ] || fail "an ACK reached the backend with a MID it never sent"
[ "$(bcount backend2 '^retransmit separate')" = 0 ] || fail "the separate response was retransmitted"
out=$(get sensor-2 sensorKey2 5 "$url/sep/cc")
echo "$out" | grep -q '^payload 0' || fail "separate via coap-client: $out"

stop_proxy
echo "PASS"
