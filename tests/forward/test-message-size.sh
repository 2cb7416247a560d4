#!/bin/sh
# Message size limits, each way (issue 11): a DTLS record from the device is one
# CoAP message, read whole; one over 2048 bytes is answered 4.13 (CON request)
# or RST, logged and counted, never split into two requests. A backend answer
# that cannot reach the device (over what dtls.mtu lets one record carry, or
# over 2048 bytes) is answered 5.02 to the device's request, logged and
# counted, and never forwarded cut. Diagnostic payloads only with
# diagnostic_payloads = true.
. "${srcdir:-.}/tests/forward/lib.sh"

sized=${SIZED_BACKEND:-./tests/forward/sized-backend}
[ -x "$sized" ] || skip "$sized not built"
mkdir -p "$tmp/run"

start_backend echo                                  # "echo": records what it gets
start_bg big "$sized" -A 127.0.0.1 -p 0             # answers as long as asked
big_port=$(wait_listen big)
start_bg bigsep "$sized" -A 127.0.0.1 -p 0 -s       # the same as separate CON responses
bigsep_port=$(wait_listen bigsep)

# Writes the proxy configuration with dtls.mtu $1 and diagnostic_payloads $2.
conf() {
	write_fw_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "echo";   address = "127.0.0.1"; port = @BACKEND@; },
             { name = "big";    address = "127.0.0.1"; port = $big_port; },
             { name = "bigsep"; address = "127.0.0.1"; port = $bigsep_port; } );
routes = ( { path_prefix = "/big"; backend = "big"; },
           { path_prefix = "/sep"; backend = "bigsep"; },
           { backend = "echo"; } );
dtls = { mtu = $1; };
diagnostic_payloads = $2;
control = { socket = "$ctl_sock"; };
@PSKS@
CONF
}

# Prints N bytes of hex: $1 times the byte $2.
fill() {
	awk -v n="$1" -v b="$2" 'BEGIN { for (i = 0; i < n; i++) printf "%s", b }'
}

# Prints a CON (type 4) or NON (type 5) POST to /big (or /sep with $4) asking for
# an answer of $3 bytes: MID $2 (4 hex digits), token = MID.
ask() {
	path=${4:-big}
	printf '%s2 02 %s %s b3 %s ff %s' "$1" "$2" "$2" "$(hexstr "$path")" "$(hexstr "$3")"
}

conf 1232 false
start_proxy "$tmp/proxy.conf"

step "a 2066-byte record with a whole request at offset 2048: 4.13, nothing forwarded"
# CON POST /x, MID 0x7101, token a1a1, payload to offset 2048; there a CON POST
# /smuggled (MID 0x7102), then 5 more bytes: 2066 bytes in one record.
head="42 02 71 01 a1 a1 b1 78 ff"
smuggled="40 02 71 02 b8 $(hexstr smuggled)"
rec="$head $(fill 2039 41) $smuggled ff 41 42 43 44"
[ $(($(printf '%s' "$rec" | tr -d ' ' | wc -c) / 2)) = 2066 ] || fail "test bug: record is not 2066 bytes"
ok_get="42 01 71 09 cc dd b2 6f 6b"   # CON GET /ok, MID 0x7109
out=$(coaps_send -w 800 "$rec" "$ok_get")
echo "$out" | grep -q '^sent .*len=2066 mid=0x7101' || fail "the client did not send one 2066-byte record: $out"
echo "$out" | grep -q 'recv .*type=ACK code=4.13 mid=0x7101 tkl=2 token=a1a1 ' ||
	fail "expected a piggybacked 4.13 for MID 0x7101: $out"
echo "$out" | grep -q 'recv .*mid=0x7102' && fail "the smuggled request was answered: $out"
echo "$out" | grep -q 'recv .*type=ACK code=2.05 mid=0x7109 ' || fail "the session stopped serving: $out"
[ "$(reqs backend /smuggled)" = 0 ] || fail "the smuggled request reached the backend: $(cat "$tmp/backend.out")"
[ "$(reqs backend /x)" = 0 ] || fail "a cut /x reached the backend: $(cat "$tmp/backend.out")"
[ "$(reqs backend /ok)" = 1 ] || fail "/ok did not reach the backend"
wait_log 'warning.*2066 bytes.*2048' 5
[ "$(ctl_stat drops_coap_too_large)" = 1 ] || fail "drops_coap_too_large: $(ctl_stat drops_coap_too_large)"
[ "$(ctl_stat answers_4_13)" = 1 ] || fail "answers_4_13: $(ctl_stat answers_4_13)"

step "oversized NON -> RST; a whole 2048-byte request still goes through"
non="52 02 71 03 a2 a2 b1 78 ff $(fill 2091 42)"                 # 2100 bytes
max="42 02 71 04 a3 a3 b3 $(hexstr max) ff $(fill 2037 43)"     # 2048 bytes
out=$(coaps_send -w 800 "$non" "$max")
echo "$out" | grep -q 'recv .*type=RST code=0.00 mid=0x7103 ' || fail "oversized NON: expected RST: $out"
echo "$out" | grep -q 'recv .*type=ACK code=2.05 mid=0x7104 ' || fail "2048 bytes: no 2.05: $out"
grep -q '^req .*path=/max .*payload_len=2037$' "$tmp/backend.out" ||
	fail "the 2048-byte request did not arrive whole: $(grep path=/max "$tmp/backend.out")"
[ "$(ctl_stat drops_coap_too_large)" = 2 ] || fail "drops_coap_too_large: $(ctl_stat drops_coap_too_large)"

step "dtls.mtu = 1232: answers of 1300, 2048, 3000 bytes -> 5.02 to the request; 1000 relayed"
out=$(coaps_send -w 800 "$(ask 4 7201 1300)" "$(ask 4 7202 2048)" "$(ask 4 7203 3000)" \
	"$(ask 4 7204 1000)")
for m in 7201 7202 7203; do
	echo "$out" | grep -q "recv .*type=ACK code=5.02 mid=0x$m tkl=2 token=$m " ||
		fail "answer to 0x$m: expected ACK 5.02 with its MID and token: $out"
	echo "$out" | grep "recv .*mid=0x$m " | grep -q 'payload=' &&
		fail "5.02 with a diagnostic payload while diagnostic_payloads = false: $out"
done
echo "$out" | grep -q 'recv .*len=1000 type=ACK code=2.05 mid=0x7204 ' || fail "1000 bytes not relayed: $out"
[ "$(grep -c '^answer type=ACK .*len=[0-9]*$' "$tmp/big.out")" = 4 ] || fail "the backend did not answer 4 times"
wait_log 'warning.*1300 bytes' 5
[ "$(ctl_stat drops_backend_too_large)" = 3 ] || fail "drops_backend_too_large: $(ctl_stat drops_backend_too_large)"
[ "$(ctl_stat answers_5_02)" = 3 ] || fail "answers_5_02: $(ctl_stat answers_5_02)"

step "too large as NON or separate response: 5.02 with the token, RST to the backend"
out=$(coaps_send -w 800 "$(ask 5 7301 1500)" "$(ask 4 7302 1500 sep)")
echo "$out" | grep -q 'recv .*type=NON code=5.02 mid=0x[0-9a-f]* tkl=2 token=7301 ' ||
	fail "NON: expected a NON 5.02 with token 7301: $out"
echo "$out" | grep -q 'recv .*type=ACK code=0.00 mid=0x7302 ' || fail "separate: no empty ACK: $out"
echo "$out" | grep -q 'recv .*type=NON code=5.02 mid=0x[0-9a-f]* tkl=2 token=7302 ' ||
	fail "separate: expected a NON 5.02 with token 7302: $out"
[ "$(grep -c '^rst mid=' "$tmp/big.out")" = 1 ] || fail "no RST for the NON answer: $(cat "$tmp/big.out")"
smid=$(grep '^answer type=CON' "$tmp/bigsep.out" | tail -n 1 | grep -o 'mid=0x[0-9a-f]*')
grep -q "^rst $smid\$" "$tmp/bigsep.out" || fail "no RST for the separate response $smid: $(cat "$tmp/bigsep.out")"

step "dtls.mtu = 16384: 2000 bytes relayed whole; 3000 (over 2048) -> 5.02, never cut"
conf 16384 true
reload_proxy 'event=reloaded'
out=$(coaps_send -w 800 "$(ask 4 7401 2000)" "$(ask 4 7402 3000)")
echo "$out" | grep -q 'recv .*len=2000 type=ACK code=2.05 mid=0x7401 ' || fail "2000 bytes not relayed: $out"
echo "$out" | grep -q 'recv .*type=ACK code=2.05 mid=0x7402 ' && fail "a cut answer was forwarded: $out"
echo "$out" | grep -q 'recv .*type=ACK code=5.02 mid=0x7402 tkl=2 token=7402 .*payload="[^"]*3000[^"]*2048' ||
	fail "3000 bytes: expected 5.02 saying size and limit (diagnostic_payloads = true): $out"

step "diagnostic_payloads = true: 4.13 says why"
out=$(coaps_send -w 800 "$rec")
echo "$out" | grep -q 'recv .*type=ACK code=4.13 mid=0x7101 .*payload="[^"]*2066[^"]*2048' ||
	fail "4.13 without its reason: $out"
[ "$(reqs backend /smuggled)" = 0 ] || fail "the smuggled request reached the backend"

stop_proxy

step "diagnostic_payloads must be a boolean"
expect_config "c.conf:4: diagnostic_payloads: must be true or false" 1 <<'CONF'
backends = ( { name = "b"; address = "127.0.0.1"; port = 5683; } );
diagnostic_payloads = 1;
CONF
echo "PASS"
