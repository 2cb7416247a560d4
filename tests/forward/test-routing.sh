#!/bin/sh
# Routing: path prefix, identity glob, Uri-Host, the default route, first match wins,
# and 4.04 with a diagnostic once a reload removes the default route.
. "${srcdir:-.}/tests/forward/lib.sh"

start_backend          # "telemetry"
start_backend2         # "firmware"
write_fw_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "telemetry"; address = "127.0.0.1"; port = @BACKEND@; },
             { name = "firmware";  address = "localhost"; port = @BACKEND2@; } );
routes = ( { path_prefix = "/fw"; backend = "firmware"; },
           { identity = "sensor-*"; path_prefix = "/t"; backend = "telemetry"; },
           { identity = "sensor-*"; backend = "firmware"; },
           { uri_host = "ota.example"; backend = "firmware"; },
           { backend = "telemetry"; } );
@PSKS@
CONF
start_proxy "$tmp/proxy.conf"
url="coaps://127.0.0.1:$proxy_port"

# Checks that exactly backend $1 got one request for path $2 and the other none.
expect_at() {
	other=backend2
	[ "$1" = backend ] || other=backend
	[ "$(reqs "$1" "$2")" = 1 ] || fail "$2: expected 1 request at $1, saw $(reqs "$1" "$2")"
	[ "$(reqs "$other" "$2")" = 0 ] || fail "$2: leaked to $other"
}

step "path prefix /fw -> firmware (whole segments: /fwx is not under /fw)"
out=$(get my_identity secretPSK123 5 "$url/fw/img")
echo "$out" | grep -q '^payload 0' || fail "GET /fw/img: no echo answer: $out"
expect_at backend2 /fw/img
get my_identity secretPSK123 5 "$url/fw" >/dev/null
expect_at backend2 /fw
get my_identity secretPSK123 5 "$url/fwx" >/dev/null
expect_at backend /fwx

step "default route -> telemetry"
out=$(get my_identity secretPSK123 5 "$url/data")
echo "$out" | grep -q '^payload 0' || fail "GET /data: no echo answer: $out"
expect_at backend /data

step "identity glob sensor-* -> firmware, for two identities; dev-42 takes the default"
get sensor-1 sensorKey1 5 "$url/s1/data" >/dev/null
expect_at backend2 /s1/data
get sensor-2 sensorKey2 5 "$url/s2/data" >/dev/null
expect_at backend2 /s2/data
get dev-42 devKey42 5 "$url/d42/data" >/dev/null
expect_at backend /d42/data

step "all match keys must hold: sensor-* and /t -> telemetry; first match wins"
get sensor-1 sensorKey1 5 "$url/t/temp" >/dev/null
expect_at backend /t/temp
get my_identity secretPSK123 5 "$url/t/other" >/dev/null
expect_at backend /t/other
get sensor-2 sensorKey2 5 "$url/fw/s2" >/dev/null
expect_at backend2 /fw/s2

step "Uri-Host ota.example -> firmware (case-insensitive); other hosts take the default"
out=$(get my_identity secretPSK123 5 -O 3,ota.example "$url/ota/a")
echo "$out" | grep -q '^3 11 ota.example' || fail "Uri-Host not forwarded: $out"
expect_at backend2 /ota/a
get my_identity secretPSK123 5 -O 3,OTA.Example "$url/ota/b" >/dev/null
expect_at backend2 /ota/b
get my_identity secretPSK123 5 -O 3,other.example "$url/ota/c" >/dev/null
expect_at backend /ota/c

step "one upstream socket per (session, backend): both backends see the proxy"
grep -q '^req src=127.0.0.1:' "$tmp/backend.out" || fail "telemetry saw no requests"
grep -qE '^req src=(127.0.0.1|\[::ffff:127.0.0.1\]|\[::1\]):' "$tmp/backend2.out" || fail "firmware saw no requests from the proxy"

step "reload without a default route: no match -> 4.04 with a payload, nothing forwarded"
write_fw_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "telemetry"; address = "127.0.0.1"; port = @BACKEND@; },
             { name = "firmware";  address = "localhost"; port = @BACKEND2@; } );
routes = ( { path_prefix = "/fw"; backend = "firmware"; },
           { identity = "sensor-*"; backend = "telemetry"; } );
@PSKS@
CONF
reload_proxy 'event=reloaded'
n1=$(grep -c '^req ' "$tmp/backend.out")
n2=$(grep -c '^req ' "$tmp/backend2.out")
out=$(get my_identity secretPSK123 5 "$url/nowhere")
echo "$out" | grep -q '4\.04' || fail "no route: expected 4.04, got: $out"
# Read raw: an ACK 4.04 with the request's MID and token, without a diagnostic
# payload (diagnostic_payloads is off by default: the reason is for the log).
out=$(coaps_send -w 700 "42 01 4e 21 ab cd b7 6e 6f 77 68 65 72 65")
echo "$out" | grep -q 'recv .*type=ACK code=4.04 mid=0x4e21 tkl=2 token=abcd ' ||
	fail "no route (raw CON): expected a piggybacked 4.04 with MID 0x4e21 and token abcd: $out"
echo "$out" | grep 'recv .*mid=0x4e21 ' | grep -q 'payload=' &&
	fail "no route: a diagnostic payload although diagnostic_payloads is off: $out"
out=$(coaps_send -w 700 "52 01 4e 22 ab ce b7 6e 6f 77 68 65 72 65")
echo "$out" | grep -q 'recv .*type=NON code=4.04 .*tkl=2 token=abce ' ||
	fail "no route (raw NON): expected a NON 4.04 with token abce: $out"
[ "$(grep -c '^req ' "$tmp/backend.out")" = "$n1" ] || fail "no-route request reached telemetry"
[ "$(grep -c '^req ' "$tmp/backend2.out")" = "$n2" ] || fail "no-route request reached firmware"
step "after reload the new routes hold: sensor-* -> telemetry, /fw still firmware"
get sensor-1 sensorKey1 5 "$url/s1/after" >/dev/null
expect_at backend /s1/after
get my_identity secretPSK123 5 "$url/fw/after" >/dev/null
expect_at backend2 /fw/after

stop_proxy
echo "PASS"
