#!/bin/sh
# Admission under overload: session.handshakes_per_prefix refuses a source prefix's handshake over
# the limit (session.prefix_len_v4/_v6 say what a prefix is); the top prefixes in
# `coaps-proxyctl stats` (text and JSON) and /metrics.
. "${srcdir:-.}/tests/robust/admit-lib.sh"

step "handshakes_per_prefix = 2, prefix_len_v4 = 24: the third of 127.0.0.0/24 is refused"
write_admit_conf "handshakes_per_prefix = 2; prefix_len_v4 = 24;"
start_proxy "$tmp/proxy.conf"
wait_log "event=metrics-listening address=127.0.0.1 port=$metrics_port"
half_open 127.0.0.2 $psk_suite
half_open 127.0.0.3 $full_suite
wait_count 'event=handshake-start ' 2
half_open 127.0.0.4 $psk_suite
wait_log 'event=session-refused .*peer=127\.0\.0\.4:.*reason="session\.handshakes_per_prefix \(2\) reached: 2 handshakes in progress from source prefix 127\.0\.0\.0/24"' 5
log_lacks 'event=handshake-start .*peer=127\.0\.0\.4:' "the third handshake of the prefix started"

step "another /24 and IPv6 (::1 in ::/64) are counted apart"
half_open 127.0.1.5 $psk_suite
half_open ::1 $psk_suite ::1
wait_count 'event=handshake-start ' 4
log_has 'event=handshake-start .*peer=127\.0\.1\.5:' 1 || fail "127.0.1.5 did not start a handshake"

step "coaps-proxyctl stats shows the top prefixes"
[ "$(ctl_stat handshakes_by_prefix.127.0.0.0/24)" = 2 ] ||
	fail "handshakes_by_prefix.127.0.0.0/24: $(timeout 10 "$proxyctl" -s "$ctl_sock" stats | grep prefix)"
[ "$(ctl_stat handshakes_by_prefix.127.0.1.0/24)" = 1 ] || fail "handshakes_by_prefix.127.0.1.0/24 is not 1"
[ "$(ctl_stat handshakes_by_prefix.::/64)" = 1 ] || fail "handshakes_by_prefix.::/64 is not 1"
[ "$(ctl_stat refused_by_prefix.127.0.0.0/24)" = 1 ] || fail "refused_by_prefix.127.0.0.0/24 is not 1"
[ "$(ctl_stat drops_handshakes_per_prefix)" = 1 ] || fail "drops_handshakes_per_prefix is not 1"
ctl stats --json
expect_rc 0
case $out in
*'"handshakes_by_prefix":{"127.0.0.0/24":2,'*) ;;
*) fail "stats --json: no handshakes_by_prefix 127.0.0.0/24: $out" ;;
esac
case $out in
*'"refused_by_prefix":{"127.0.0.0/24":1}'*) ;;
*) fail "stats --json: no refused_by_prefix 127.0.0.0/24: $out" ;;
esac

step "/metrics has them with a prefix label"
curl -sf --max-time 5 "http://127.0.0.1:$metrics_port/metrics" >"$tmp/m.txt" || fail "GET /metrics"
grep -q '^coaps_prefix_handshakes_in_progress{prefix="127.0.0.0/24"} 2$' "$tmp/m.txt" ||
	fail "no coaps_prefix_handshakes_in_progress for 127.0.0.0/24: $(grep prefix "$tmp/m.txt")"
grep -q '^coaps_prefix_refused_total{prefix="127.0.0.0/24"} 1$' "$tmp/m.txt" ||
	fail "no coaps_prefix_refused_total for 127.0.0.0/24"
grep -q '^coaps_drops_total{reason="handshakes_per_prefix"} 1$' "$tmp/m.txt" ||
	fail "no coaps_drops_total handshakes_per_prefix"
stop_proxy

step "handshakes_per_prefix = 1, prefix_len_v4 = 32: two addresses of one /24 do not share"
: >"$proxy_log"
write_admit_conf "handshakes_per_prefix = 1;"
start_proxy "$tmp/proxy.conf"
half_open 127.0.0.2 $psk_suite
half_open 127.0.0.3 $psk_suite
wait_count 'event=handshake-start ' 2
half_open 127.0.0.2 $psk_suite
wait_log 'event=session-refused .*peer=127\.0\.0\.2:.*from source prefix 127\.0\.0\.2/32"' 5
stop_proxy
echo "PASS"
