#!/bin/sh
# Admission under overload: session.max_handshakes puts resumption and PSK handshakes before
# full ECDHE-ECDSA ones (a PSK one displaces the oldest full one; a full one is refused when only
# PSK ones are in progress; among PSK ones the oldest goes first).
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

step "workers = 2, max_handshakes = 2: six PSK handshakes from six sources, never more than 2 at once"
write_admit_conf "max_handshakes = 2;" "workers = 2;"
start_proxy "$tmp/proxy.conf"
for a in 2 3 4 5 6 7; do
	half_open 127.0.0.$a $psk_suite
	n=$(ctl_stat handshakes_in_progress)
	[ "$n" -le 2 ] || fail "$n handshakes in progress with max_handshakes = 2 and two workers"
done
wait_count 'event=handshake-start ' 6
[ "$(ctl_stat handshakes_in_progress)" = 2 ] || fail "handshakes_in_progress is not 2 after six"
n=$(ctl_stat drops_max_handshakes)
[ "$n" -ge 4 ] || fail "$n evictions (drops_max_handshakes) for six handshakes, 2 at most"
stop_proxy
echo "PASS"
