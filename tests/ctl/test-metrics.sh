#!/bin/sh
# Metrics: GET /metrics in the Prometheus text format; counters move; other paths are 404.
. "${srcdir:-.}/tests/ctl/lib.sh"
command -v curl >/dev/null || skip "curl missing"

metrics_port=$(free_tcp_port)
write_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; } );
control = { socket = ""; };
metrics = { address = "127.0.0.1"; port = $metrics_port; };
CONF
start_proxy "$tmp/proxy.conf"
wait_log "event=metrics-listening address=127.0.0.1 port=$metrics_port"
grep -q 'event=control-listening' "$proxy_log" && fail "control socket opened although disabled"

step "GET /metrics before a handshake"
scrape
[ "$(metric 'coaps_handshakes_total{result="ok"}')" = 0 ] || fail "$(cat "$tmp/m.txt")"
grep -q '^# TYPE coaps_handshakes_total counter$' "$tmp/m.txt" || fail "no TYPE line"
grep -q '^# HELP coaps_sessions ' "$tmp/m.txt" || fail "no HELP line"
grep -q '^# TYPE coaps_handshake_duration_seconds histogram$' "$tmp/m.txt" || fail "no histogram"
grep -q '^coaps_handshakes_failed_total{reason="wrong_key"} 0$' "$tmp/m.txt" || fail "no reasons"
grep -q '^coaps_messages_relayed_total{direction="in"} 0$' "$tmp/m.txt" || fail "no messages"
grep -q '^coaps_drops_total{reason="bad_mac"} 0$' "$tmp/m.txt" || fail "no drops"
before_count=$(metric coaps_handshake_duration_seconds_count)

step "one handshake later"
sclient s1 10 my_identity secretPSK123
wait_log 'event=handshake-ok .*identity="my_identity"'
scrape
[ "$(metric 'coaps_handshakes_total{result="ok"}')" = 1 ] || fail "$(cat "$tmp/m.txt")"
[ "$(metric coaps_sessions)" = 1 ] || fail "coaps_sessions: $(cat "$tmp/m.txt")"
[ "$(metric coaps_handshake_duration_seconds_count)" = $((before_count + 1)) ] ||
	fail "histogram count did not move"
[ "$(metric 'coaps_handshake_duration_seconds_bucket{le="+Inf"}')" = 1 ] || fail "+Inf bucket"
[ "$(metric coaps_cookies_sent_total)" -ge 1 ] || fail "cookies"

step "a wrong key counts as a failed handshake"
sclient s2 3 my_identity wrongkey
wait_log 'event=handshake-failed' 10
scrape
[ "$(metric 'coaps_handshakes_failed_total{reason="wrong_key"}')" = 1 ] ||
	fail "wrong_key: $(grep failed "$tmp/m.txt")"

step "other paths: 404; other methods refused (libevent says 501)"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$metrics_port/other")
[ "$code" = 404 ] || fail "/other gave $code"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "http://127.0.0.1:$metrics_port/metrics")
case $code in 405 | 501) ;; *) fail "POST gave $code" ;; esac

step "HEAD and a query string are served; a request that is not HTTP gets 400"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -I "http://127.0.0.1:$metrics_port/metrics")
[ "$code" = 200 ] || fail "HEAD gave $code"
curl -sf --max-time 5 "http://127.0.0.1:$metrics_port/metrics?x=1" | grep -q '^coaps_sessions ' ||
	fail "GET /metrics?x=1 failed"
if command -v python3 >/dev/null; then
	python3 - "$metrics_port" <<'PY' || fail "garbage request"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"\x16\x03\x01 hello\r\n\r\n")
r = s.recv(100)
assert r.startswith(b"HTTP/1.1 400 "), r
PY
fi

stop_proxy
echo "PASS"
