#!/bin/sh
# A backend's refusals (5.02) and timeouts (5.04) are logged at warning with
# the backend, session and identity, at most one line a second per backend,
# with the number of lines held back since the last one.
. "${srcdir:-.}/tests/forward/lib.sh"

start_backend silent
write_fw_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "down";   address = "127.0.0.1"; port = @DOWN@; },
             { name = "silent"; address = "127.0.0.1"; port = @BACKEND@; } );
routes = ( { path_prefix = "/down"; backend = "down"; },
           { backend = "silent"; } );
backend_timeout = 1;
@PSKS@
CONF
start_proxy "$tmp/proxy.conf"

# CON GET /down with MID 0x71NN, token aaNN.
down_req() {
	printf '42 01 71 %02x aa %02x b4 64 6f 77 6e' "$1" "$1"
}

step "20 refused requests in about a second: each answered 5.02, few lines"
args=""
n=1
while [ $n -le 20 ]; do
	args="$args|$(down_req $n)"
	n=$((n + 1))
done
IFS='|'
# shellcheck disable=SC2086
out=$(coaps_send -u sensor-1 -k sensorKey1 -w 50 -W 1500 ${args#|})
unset IFS
answers=$(printf '%s\n' "$out" | grep -c 'recv .*type=ACK code=5.02 ' || true)
[ "$answers" = 20 ] || fail "expected 20 answers 5.02, got $answers: $out"
wait_log ' warning event=backend-refused session=[0-9a-f]{8} peer=[^ ]+ local=[^ ]+ auth=psk identity="sensor-1" cipher=[^ ]+ backend="down" .*reason="[^"]*port unreachable'
lines=$(log_count 'event=backend-refused ')
[ "$lines" -lt 20 ] || fail "every refusal logged ($lines lines): not rate-limited"

step "one more refusal two seconds later: logged, with the count held back"
sleep 1.2
out=$(coaps_send -u dev-42 -k devKey42 -w 500 "$(down_req 99)")
printf '%s\n' "$out" | grep -q 'recv .*type=ACK code=5.02 mid=0x7163 ' || fail "no 5.02 to the late request: $out"
wait_log 'event=backend-refused .*identity="dev-42" .*backend="down"'
# Every refusal is a line or counted in a later line's suppressed=.
total=$(grep 'event=backend-refused ' "$proxy_log" |
	awk '{ n++; for (i = 1; i <= NF; i++) if ($i ~ /^suppressed=/) { split($i, a, "="); s += a[2] } } END { print n + s }')
[ "$total" = 21 ] || fail "lines plus suppressed = $total, not 21: $(grep 'event=backend-refused ' "$proxy_log")"

step "a silent backend: 5.04 logged at warning with backend, identity and the timeout"
out=$(coaps_send -u sensor-2 -k sensorKey2 -w 2500 "42 01 72 01 ab 01 b6 73 69 6c 65 6e 74")
printf '%s\n' "$out" | grep -q 'recv .*type=ACK code=5.04 mid=0x7201 ' || fail "no 5.04: $out"
wait_log ' warning event=backend-timeout .*auth=psk identity="sensor-2" .*backend="silent" .*reason="[^"]*did not answer within 1 s'
stop_proxy
echo PASS
