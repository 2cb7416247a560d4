#!/bin/bash
# test-backend.sh: coap-test-backend answers real libcoap clients in echo, silent, separate and observe modes.
. "${srcdir:-.}/tests/lib/harness.sh"

command -v coap-client-notls >/dev/null || skip "coap-client-notls (libcoap3-bin) not installed"
command -v timeout >/dev/null || skip "timeout not installed"

step "echo: options come back one per line"
start_bg echo "$tools/coap-test-backend" -A 127.0.0.1 -p 0 -c "$tmp/echo.count"
port=$(wait_listen echo)
coap_get 5 -m get -O 65000,hello "coap://127.0.0.1:$port/a/b" >"$tmp/get.out"
grep -qx "65000 5 hello" "$tmp/get.out" || fail "no '65000 5 hello' in: $(cat "$tmp/get.out")"
grep -qx "11 1 a" "$tmp/get.out" || fail "no '11 1 a' in: $(cat "$tmp/get.out")"
grep -qx "payload 0" "$tmp/get.out" || fail "no 'payload 0' in: $(cat "$tmp/get.out")"
grep -q '^req src=127.0.0.1:[0-9]* type=CON mid=0x[0-9a-f]\{4\} code=0.01 tkl=[0-8] path=/a/b opts=.*65000:5:"hello" payload_len=0$' \
	"$tmp/echo.out" || fail "backend request line wrong"

step "echo: NON POST with a payload"
coap_get 5 -N -m post -e 'x"y' "coap://127.0.0.1:$port/p" >"$tmp/post.out"
grep -qx "payload 3" "$tmp/post.out" || fail "NON POST: $(cat "$tmp/post.out")"
grep -q 'type=NON .*code=0.02 .*path=/p .*payload_len=3$' "$tmp/echo.out" || fail "NON POST not logged"

step "echo: empty CON (ping) is logged, garbage is survived"
printf '\x40\x00\x12\x34' >"/dev/udp/127.0.0.1/$port"
printf '\xff\x01' >"/dev/udp/127.0.0.1/$port"
printf 'x' >"/dev/udp/127.0.0.1/$port"
sleep 0.3
grep -q '^ping src=.* type=CON mid=0x1234$' "$tmp/echo.out" || fail "ping not seen"
grep -q '^bad datagram len=2$' "$tmp/echo.out" || fail "garbage not reported"
coap_get 5 -m get "coap://127.0.0.1:$port/again" | grep -q "payload 0" || fail "no answer after garbage"
stop_bg echo
[ "$(cat "$tmp/echo.count")" = 3 ] || fail "count file says $(cat "$tmp/echo.count"), wanted 3"

step "echo on ::1"
start_bg echo6 "$tools/coap-test-backend" -A ::1 -p 0
port=$(wait_listen echo6)
coap_get 5 -m get "coap://[::1]:$port/six" | grep -qx "11 3 six" || fail "no answer on ::1"
grep -q '^req src=\[::1\]:' "$tmp/echo6.out" || fail "IPv6 source not logged"
stop_bg echo6

step "silent: no answer, request still logged"
start_bg silent "$tools/coap-test-backend" -A 127.0.0.1 -p 0 -m silent -c "$tmp/silent.count"
port=$(wait_listen silent)
coap_get 2 -m get "coap://127.0.0.1:$port/quiet" >"$tmp/silent.get"
[ ! -s "$tmp/silent.get" ] || fail "silent mode answered: $(cat "$tmp/silent.get")"
grep -q 'path=/quiet' "$tmp/silent.out" || fail "silent mode did not log the request"
stop_bg silent
[ "$(cat "$tmp/silent.count")" -ge 1 ] || fail "silent count file"

step "separate: empty ACK, then a CON response the client ACKs"
start_bg sep "$tools/coap-test-backend" -A 127.0.0.1 -p 0 -m separate -d 300
port=$(wait_listen sep)
coap_get 5 -m get "coap://127.0.0.1:$port/later" >"$tmp/sep.get"
grep -qx "11 5 later" "$tmp/sep.get" || fail "no separate response: $(cat "$tmp/sep.get")"
grep -q '^separate mid=0x' "$tmp/sep.out" || fail "separate response not logged"
grep -q '^ack mid=0x[0-9a-f]*$' "$tmp/sep.out" || fail "client ACK of separate response not logged"
stop_bg sep

step "observe: several notifications, then deregistration"
start_bg obs "$tools/coap-test-backend" -A 127.0.0.1 -p 0 -m observe -d 400
port=$(wait_listen obs)
coap_get 8 -s 3 -m get "coap://127.0.0.1:$port/x" >"$tmp/obs.get"
n=$(grep -o 'n=[0-9]*' "$tmp/obs.get" | sort -u | wc -l)
[ "$n" -ge 4 ] || fail "only $n distinct notifications: $(cat "$tmp/obs.get")"
grep -q '^observe-register ' "$tmp/obs.out" || fail "no observe-register"
grep -q '^notify seq=[0-9]* type=CON ' "$tmp/obs.out" || fail "no CON notification"
grep -q '^notify seq=[0-9]* type=NON ' "$tmp/obs.out" || fail "no NON notification"
grep -q '^observe-cancel reason=' "$tmp/obs.out" || fail "no observe-cancel"
stop_bg obs

echo PASS
