#!/bin/sh
# Admission under overload: session.max_handshakes puts resumption and PSK handshakes before
# full ECDHE-ECDSA ones (a PSK one displaces the oldest full one; a full one is refused when only
# PSK ones are in progress; among PSK ones the oldest goes first). The order is each worker's
# own: one worker here; with two, each holds half of max_handshakes and evicts its own.
. "${srcdir:-.}/tests/robust/admit-lib.sh"

step "max_handshakes = 2: a PSK handshake displaces the oldest full one, not an older PSK one"
write_admit_conf "max_handshakes = 2;" "workers = 1;"
start_proxy "$tmp/proxy.conf"
half_open 127.0.0.2 $psk_suite
half_open 127.0.0.3 $full_suite
wait_count 'event=handshake-start ' 2
half_open 127.0.0.4 $psk_suite
wait_log 'event=handshake-failed .*peer=127\.0\.0\.3:.*evicted: session\.max_handshakes' 5
log_lacks 'event=handshake-failed .*peer=127\.0\.0\.2:' "the older PSK handshake was evicted"

step "max_handshakes = 2, both PSK: a full handshake is refused, the PSK ones stay"
half_open 127.0.0.5 $full_suite
wait_log 'event=session-refused .*peer=127\.0\.0\.5:.*reason="session\.max_handshakes \(2\) reached, all of them resumption or PSK handshakes' 5
log_lacks 'event=handshake-failed .*peer=127\.0\.0\.[24]:' "a PSK handshake was evicted for a full one"
[ "$(ctl_stat drops_max_handshakes_full)" = 1 ] || fail "drops_max_handshakes_full is not 1"
[ "$(ctl_stat handshakes_in_progress)" = 2 ] || fail "handshakes_in_progress is not 2"

step "a third PSK handshake displaces the oldest PSK one (no full one left)"
half_open 127.0.0.6 $psk_suite
wait_log 'event=handshake-failed .*peer=127\.0\.0\.2:.*evicted: session\.max_handshakes' 5
log_lacks 'event=handshake-failed .*peer=127\.0\.0\.4:' "the newer PSK handshake was evicted"
stop_proxy

step "workers = 2, max_handshakes = 2: six PSK handshakes, at most one in progress per worker, none refused"
write_admit_conf "max_handshakes = 2;" "workers = 2;"
start_proxy "$tmp/proxy.conf"
for a in 2 3 4 5 6 7; do
	half_open 127.0.0.$a $psk_suite
	n=$(ctl_stat handshakes_in_progress)
	[ "$n" -le 2 ] || fail "$n handshakes in progress with max_handshakes = 2 and two workers"
done
wait_count 'event=handshake-start ' 6
# One in progress in each worker that got any (both, unless the six ports all hashed to one).
left=$(ctl_stat handshakes_in_progress)
[ "$left" -ge 1 ] && [ "$left" -le 2 ] || fail "handshakes_in_progress is $left after six"
n=$(ctl_stat drops_max_handshakes)
[ "$n" = $((6 - left)) ] || fail "$n evictions (drops_max_handshakes) for six handshakes, $left left"
log_lacks 'event=session-refused ' "a handshake was refused instead of evicting in its worker"
stop_proxy

step "workers = 2: handshakes that fill worker 0 leave worker 1 its share (none refused there)"
: >"$proxy_log"
start_proxy "$tmp/proxy.conf"
# steer.c's rule on loopback: worker (port * 31 + last address byte) mod 2 = (port + byte) mod 2.
base=$(( $(free_port) & ~1 ))
for p in $base $((base + 2)) $((base + 4)); do # 127.0.0.2, even ports: worker 0
	timeout 10 "$probe" hello 127.0.0.1 "$proxy_port" --cookie-round --suites $psk_suite \
		--src-addr 127.0.0.2 --src-port "$p" --timeout-ms 300 >>"$tmp/probe.out" 2>&1 || true
done
timeout 10 "$probe" hello 127.0.0.1 "$proxy_port" --cookie-round --suites $psk_suite \
	--src-addr 127.0.0.3 --src-port "$base" --timeout-ms 300 >>"$tmp/probe.out" 2>&1 || true # worker 1
wait_count 'event=handshake-start ' 4
log_lacks 'event=session-refused ' "worker 1's handshake was refused while worker 0 was full"
[ "$(ctl_stat handshakes_in_progress)" = 2 ] || fail "not one handshake in progress in each worker"
stop_proxy
echo "PASS"
