#!/bin/sh
# After a crash and restart, a device's records for the session the proxy no
# longer has (epoch > 0 from an unknown address:port) are counted as such
# (drops_unknown_session), logged at warning, and not taken for malformed hellos.
. "${srcdir:-.}/tests/lib/harness.sh"

start_backend
write_fw_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "echo"; address = "127.0.0.1"; port = @BACKEND@; } );
control = { socket = "$ctl_sock"; };
@PSKS@
CONF
start_proxy "$tmp/proxy.conf"

step "a device with a session; the proxy is killed and started again"
# CON GET /a, /b, /c: MIDs 0x7301-0x7303, four seconds apart.
start_bg dev "$send_tool" -p "$proxy_port" -u sensor-1 -k sensorKey1 -w 4000 -W 500 \
	"42 01 73 01 ab 01 b1 61" "42 01 73 02 ab 02 b1 62" "42 01 73 03 ab 03 b1 63"
i=0
until grep -q 'recv .*code=2.05 mid=0x7301 ' "$tmp/dev.out"; do
	[ $i -lt 100 ] || fail "the first request got no answer: $(cat "$tmp/dev.out")"
	sleep 0.1
	i=$((i + 1))
done
pid=$(cat "$tmp/proxy.pid")
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
start_proxy "$tmp/proxy.conf"

step "its next records are counted and logged as records for an unknown session"
wait_log ' warning event=record-unknown-session peer=127\.0\.0\.1:[0-9]+ local=[^ ]+ .*epoch=1 .*reason="[^"]*no session' 15
i=0
while kill -0 "$(cat "$tmp/dev.pid")" 2>/dev/null && [ $i -lt 150 ]; do
	sleep 0.1
	i=$((i + 1))
done
grep -q 'recv .*mid=0x7302 ' "$tmp/dev.out" && fail "the lost session answered: $(cat "$tmp/dev.out")"
n=$(ctl_stat drops_unknown_session)
[ -n "$n" ] && [ "$n" -ge 1 ] || fail "drops_unknown_session is '${n:-missing}': $(timeout 10 "$proxyctl" -s "$ctl_sock" stats)"
[ "$(ctl_stat drops_hello_malformed)" = 0 ] || fail "counted as malformed hellos: $(timeout 10 "$proxyctl" -s "$ctl_sock" stats)"

step "the device can start over"
out=$(get sensor-1 sensorKey1 5 "coaps://127.0.0.1:$proxy_port/again")
echo "$out" | grep -q '^payload 0' || fail "a new session after the restart failed: $out"
stop_proxy
echo PASS
