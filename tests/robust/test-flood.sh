#!/bin/sh
# ClientHello flood without cookies from many source ports: no state, flat RSS, no amplification; honest clients still served.
. "${srcdir:-.}/tests/robust/lib.sh"

count=${FLOOD_COUNT:-100000}
start_backend
write_psk_conf "$tmp/proxy.conf"
start_proxy "$tmp/proxy.conf"
pid=$(cat "$tmp/proxy.pid")

step "warm-up: one honest round, then the RSS"
"$rclient" --server "127.0.0.1:$proxy_port" --psk my_identity:secretPSK123 >/dev/null ||
	fail "honest client failed before the flood"
rss0=$(rss_kb "$pid")

step "flood: $count cookieless ClientHellos from 256 sockets"
timeout 70 "$probe" flood 127.0.0.1 "$proxy_port" --count "$count" --sockets 256 \
	>"$tmp/flood.out" 2>&1 || true
cat "$tmp/flood.out"
line=$(grep '^sent_datagrams=' "$tmp/flood.out" || true)
[ -n "$line" ] || fail "no summary from dtls-probe flood"
val() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
sent=$(val sent_bytes)
recv=$(val recv_bytes)
hvr=$(val hvr)
[ "$(val sent_datagrams)" -ge $((count / 2)) ] || fail "the flood sent fewer than $((count / 2)) ClientHellos"
[ "$hvr" -gt 0 ] || fail "no HelloVerifyRequest came back: the flood did not reach the proxy"
[ "$sent" -ge "$recv" ] || fail "amplification: received $recv bytes for $sent bytes sent"
sleep 1
kill -0 "$pid" 2>/dev/null || fail "coaps-proxyd died during the flood"
rss1=$(rss_kb "$pid")
echo "VmRSS before $rss0 kB, after $rss1 kB"
# With AddressSanitizer RSS measures its allocator too (Debian 13's runtime
# grew it by 6.5 MB here with quarantine and fake stacks off): the plain
# build of the same suite asserts it, on both platforms.
if ldd "$proxyd" 2>/dev/null | grep -q libasan; then
	echo "RSS not asserted: the daemon runs under AddressSanitizer"
else
	[ "$((rss1 - rss0))" -lt 1024 ] || fail "RSS grew by $((rss1 - rss0)) kB (limit 1024)"
fi
[ "$(log_count 'event=session-new')" = 1 ] || fail "the flood created sessions: $(log_count 'event=session-new') session-new lines"

step "an honest client still connects"
"$rclient" --server "127.0.0.1:$proxy_port" --psk my_identity:secretPSK123 --deadline-ms 5000 ||
	fail "honest client failed after the flood"
[ "$(log_count 'event=handshake-ok')" = 2 ] || fail "expected 2 handshake-ok lines"
stop_proxy
echo "PASS"
