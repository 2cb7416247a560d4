#!/bin/sh
# Memory after bursts: RSS returns close to its idle size once a burst of PSK sessions has ended.
. "${srcdir:-.}/tests/robust/lib.sh"

bench=${COAPS_BENCH:-./tests/bench/coaps-bench}
[ -x "$bench" ] || skip "$bench not built"
[ "${COAPS_VALGRIND:-0}" = 1 ] && skip "RSS means nothing under valgrind"
ldd "$proxyd" 2>/dev/null | grep -q libasan && skip "RSS means nothing with AddressSanitizer"
sessions=${BURST_SESSIONS:-1500}
slack_kb=${BURST_SLACK_KB:-6144} # what may stay: pools at their peak, heap bookkeeping

start_backend
write_psk_conf "$tmp/proxy.conf" 'control = { socket = ""; };'
start_proxy "$tmp/proxy.conf"
pid=$(cat "$tmp/proxy.pid")

step "warm-up: one round, then the idle RSS"
"$rclient" --server "127.0.0.1:$proxy_port" --psk my_identity:secretPSK123 >/dev/null ||
	fail "warm-up client failed"
wait_count 'event=session-closed' 1
sleep 1
rss0=$(rss_kb "$pid")
echo "idle VmRSS $rss0 kB"

# Waits (20 s at most) until the proxy's RSS is within slack_kb of rss0; prints it.
wait_rss_back() {
	i=0
	while :; do
		rss=$(rss_kb "$pid")
		[ "$((rss - rss0))" -le "$slack_kb" ] && break
		[ $i -lt 200 ] || break
		sleep 0.1
		i=$((i + 1))
	done
	echo "$rss"
}

closed=1
for burst in 1 2; do
	step "burst $burst: $sessions PSK sessions, one request each, then close_notify"
	timeout 60 "$bench" --target "127.0.0.1:$proxy_port" --psk-identity my_identity \
		--psk secretPSK123 --sessions "$sessions" --requests-per-session 1 --ramp 200 \
		--duration 50 -q --json "$tmp/bench$burst.json" >"$tmp/bench$burst.out" 2>&1 ||
		fail "coaps-bench failed: $(cat "$tmp/bench$burst.out")"
	closed=$((closed + sessions))
	wait_count 'event=session-closed' "$closed" 30
	peak=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
	rss=$(wait_rss_back)
	echo "burst $burst: peak VmHWM $peak kB, VmRSS after $rss kB (idle $rss0 kB)"
	[ "$((rss - rss0))" -le "$slack_kb" ] ||
		fail "RSS stayed $((rss - rss0)) kB above idle after burst $burst (limit $slack_kb kB)"
done
[ "$(log_count 'event=handshake-ok')" = "$closed" ] ||
	fail "expected $closed handshakes, got $(log_count 'event=handshake-ok')"
stop_proxy
echo "PASS"
