#!/bin/bash
# test-faultproxy.sh: faultproxy relays libcoap traffic, and its faults behave as documented.
. "${srcdir:-.}/tests/lib/harness.sh"

command -v coap-client-notls >/dev/null || skip "coap-client-notls (libcoap3-bin) not installed"
command -v timeout >/dev/null || skip "timeout not installed"

start_bg be "$tools/coap-test-backend" -A 127.0.0.1 -p 0
be_port=$(wait_listen be)

# Starts faultproxy NAME in front of the backend with extra options; sets $port.
# (Not in a $(...) subshell: the proxy must be this shell's child.)
start_relay() {
	pn=$1
	shift
	start_bg "$pn" "$tools/faultproxy" --listen 127.0.0.1:0 --server "127.0.0.1:$be_port" "$@"
	port=$(wait_listen "$pn")
}

# Prints counter NAME from proxy LOG's last counters line.
counter() {
	grep '^forwarded=' "$2" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$1=//p"
}

step "usage text"
"$tools/faultproxy" -h | grep -q '^usage: faultproxy --listen' || fail "no usage text"
rc=0
"$tools/faultproxy" --drop 3 >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "missing --listen/--server not a usage error (rc=$rc)"

step "no faults: GET goes through with the option echo"
start_relay p0
coap_get 5 -m get -O 65000,hello "coap://127.0.0.1:$port/zero" >"$tmp/p0.get"
grep -qx "65000 5 hello" "$tmp/p0.get" || fail "no echo through proxy: $(cat "$tmp/p0.get")"
coap_get 5 -m get "coap://127.0.0.1:$port/zero2" | grep -qx "11 5 zero2" || fail "second client"
stop_bg p0
grep -q '^forwarded=4 dropped=0 duplicated=0 delayed=0 too_big=0 clients=2 ' "$tmp/p0.out" \
	|| fail "counters: $(tail -n 1 "$tmp/p0.out")"

step "--drop 3 --seed 1: the dropped request is retransmitted and gets through"
# With seed 1, datagrams 1, 2 pass, 3 is dropped, 4 and 5 pass (see faultproxy.c).
start_relay p1 --drop 3 --seed 1
coap_get 10 -m get "coap://127.0.0.1:$port/one" | grep -qx "11 3 one" || fail "first GET"
coap_get 10 -m get -O 65000,hello "coap://127.0.0.1:$port/two" >"$tmp/p1.get"
grep -qx "65000 5 hello" "$tmp/p1.get" || fail "GET after a drop: $(cat "$tmp/p1.get")"
stop_bg p1
[ "$(counter dropped "$tmp/p1.out")" = 1 ] || fail "dropped: $(tail -n 1 "$tmp/p1.out")"

step "--duplicate 1: every datagram twice; the backend counts both copies"
before=$(grep -c '^req ' "$tmp/be.out")
start_relay p2 --duplicate 1
coap_get 5 -m get "coap://127.0.0.1:$port/dup" | grep -qx "11 3 dup" || fail "GET with duplicates"
sleep 0.3
after=$(grep -c '^req ' "$tmp/be.out")
[ $((after - before)) = 2 ] || fail "backend saw $((after - before)) copies, wanted 2"
stop_bg p2
[ "$(counter duplicated "$tmp/p2.out")" -ge 2 ] || fail "duplicated: $(tail -n 1 "$tmp/p2.out")"

step "--delay 1 --delay-ms 300: everything held back, still arrives"
start_relay p3 --delay 1 --delay-ms 300
start=$(date +%s%N)
coap_get 5 -m get "coap://127.0.0.1:$port/slow" | grep -qx "11 4 slow" || fail "GET with delays"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -ge 550 ] || fail "round trip took only $ms ms with 2 x 300 ms delay"
stop_bg p3
[ "$(counter delayed "$tmp/p3.out")" -ge 2 ] || fail "delayed: $(tail -n 1 "$tmp/p3.out")"

step "--mtu 60: a big request is dropped as too big, a small one passes"
start_relay p4 --mtu 60
coap_get 5 -m get "coap://127.0.0.1:$port/s" | grep -qx "11 1 s" || fail "small GET through --mtu"
big=$(printf '%080d' 0)
coap_get 2 -m put -e "$big" "coap://127.0.0.1:$port/big" >"$tmp/p4.get"
[ ! -s "$tmp/p4.get" ] || fail "big PUT got through --mtu 60"
stop_bg p4
[ "$(counter too_big "$tmp/p4.out")" -ge 1 ] || fail "too_big: $(tail -n 1 "$tmp/p4.out")"

stop_bg be
echo PASS
