#!/bin/sh
# Forward-proxy mode: Proxy-Uri / Proxy-Scheme requests go to the configured backend
# they name (by numeric address or by the backend's address string), arrive with
# Uri-* options instead, and any other target gets 5.05 Proxying Not Supported.
# Only a route with forward_proxy = true lets a request through, and only to the
# backend that route gives (tests/forward/test-route-access.sh has the rest).
. "${srcdir:-.}/tests/forward/lib.sh"

start_backend    # "tele" at 127.0.0.1
start_backend2   # "fw" at localhost
write_fw_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "tele"; address = "127.0.0.1"; port = @BACKEND@; },
             { name = "fw";   address = "localhost"; port = @BACKEND2@; } );
routes = ( { path_prefix = "/fw"; backend = "fw"; forward_proxy = true; },
           { backend = "tele"; forward_proxy = true; } );
@PSKS@
CONF
start_proxy "$tmp/proxy.conf"
proxy="coaps://127.0.0.1:$proxy_port"
# The address the proxy reaches fw ("localhost") at, the first the resolver
# gives (::1 on a standard Debian): the steps that name fw by number use it.
fw_ip=$(getent ahosts localhost | awk 'NR == 1 {print $1}')
case $fw_ip in *:*) fw_host="[$fw_ip]" ;; *) fw_host=$fw_ip ;; esac

# Runs coap-client-openssl through the proxy in forward-proxy mode: fp URI [ARGS...].
fp() {
	fpuri=$1
	shift
	timeout 10 coap-client-openssl -B 5 -u dev-42 -k devKey42 -P "$proxy" "$@" "$fpuri" 2>&1 || true
}

# Prints backend NAME's req line for exactly path $2 (fails unless there is exactly one).
req_line() {
	[ "$(reqs "$1" "$2")" = 1 ] || fail "$2: expected 1 request at $1, saw $(reqs "$1" "$2")"
	grep "^req .* path=$2 " "$tmp/$1.out"
}

step "-P to the configured backend 127.0.0.1:$backend_port: Proxy-Uri becomes Uri-Path and Uri-Query"
out=$(fp "coap://127.0.0.1:$backend_port/p/one?x=1&y=2")
echo "$out" | grep -q '^payload 0' || fail "no echo answer: $out"
echo "$out" | grep -q '^35 ' && fail "Proxy-Uri reached the backend: $out"
echo "$out" | grep -qx '15 3 x=1' || fail "no Uri-Query x=1: $out"
echo "$out" | grep -qx '15 3 y=2' || fail "no Uri-Query y=2: $out"
echo "$out" | grep -qx '65000 10 psk:dev-42' || fail "no identity option: $out"
line=$(req_line backend /p/one)
echo "$line" | grep -Eq '[,=](35|39):' && fail "a proxy option reached the backend: $line"
[ "$(reqs backend2 /p/one)" = 0 ] || fail "/p/one also reached fw"

step "-P naming the other backend by number: only for paths the routes send there"
out=$(fp "coap://$fw_host:$backend2_port/fw/two")
echo "$out" | grep -q '^payload 0' || fail "no echo answer: $out"
req_line backend2 /fw/two >/dev/null
[ "$(reqs backend /fw/two)" = 0 ] || fail "/fw/two reached tele"
out=$(fp "coap://$fw_host:$backend2_port/p/two")
echo "$out" | grep -q '5\.05' || fail "/p/two (routed to tele) to fw: expected 5.05, got: $out"
[ "$(reqs backend /p/two)" = 0 ] || fail "/p/two reached tele"
[ "$(reqs backend2 /p/two)" = 0 ] || fail "/p/two reached fw past the routes"

step "-P naming a backend by its address string (localhost): Uri-Host is kept for a name"
out=$(fp "coap://localhost:$backend2_port/fw/three")
echo "$out" | grep -q '^payload 0' || fail "no echo answer: $out"
echo "$out" | grep -qx '3 9 localhost' || fail "no Uri-Host localhost: $out"
req_line backend2 /fw/three >/dev/null

step "targets that are not configured backends -> 5.05, nothing forwarded"
n1=$(grep -c '^req ' "$tmp/backend.out")
n2=$(grep -c '^req ' "$tmp/backend2.out")
out=$(fp "coap://127.0.0.1:$down_port/p/four")
echo "$out" | grep -q '5\.05' || fail "unknown port: expected 5.05, got: $out"
out=$(fp "coap://example.net/p/five")
echo "$out" | grep -q '5\.05' || fail "unknown host: expected 5.05, got: $out"
out=$(fp "coap://127.0.0.1/p/six")
echo "$out" | grep -q '5\.05' || fail "default port 5683 (no backend there): expected 5.05, got: $out"
# Raw CON GET MID 0x9001 token 0901 with Proxy-Uri http://127.0.0.1:PORT/x: scheme not coap.
puri=$(hexstr "http://127.0.0.1:$backend_port/x")
plen=$(printf '%02x' $(( ${#puri} / 2 - 13 )))
out=$(coaps_send -w 800 "42 01 90 01 09 01 dd 16 $plen $puri")
echo "$out" | grep -q 'recv .*type=ACK code=5.05 mid=0x9001 tkl=2 token=0901 ' ||
	fail "http Proxy-Uri: expected a piggybacked 5.05: $out"
[ "$(grep -c '^req ' "$tmp/backend.out")" = "$n1" ] || fail "a 5.05 request reached tele"
[ "$(grep -c '^req ' "$tmp/backend2.out")" = "$n2" ] || fail "a 5.05 request reached fw"

step "Proxy-Scheme coap with Uri-Host/Uri-Port naming fw: forwarded without Proxy-Scheme"
# CON GET MID 0x9002 token 0902: Uri-Host fw's address, Uri-Port, Uri-Path "fw" "ps", Proxy-Scheme "coap".
out=$(coaps_send -w 800 "42 01 90 02 09 02 3$(printf '%x' ${#fw_ip}) $(hexstr "$fw_ip") 42 $(printf '%04x' "$backend2_port") 42 6677 02 7073 d4 0f $(hexstr coap)")
echo "$out" | grep -q 'recv .*type=ACK code=2.05 mid=0x9002 tkl=2 token=0902 ' ||
	fail "Proxy-Scheme request not answered with 2.05: $out"
line=$(req_line backend2 /fw/ps)
echo "$line" | grep -Eq '[,=](35|39):' && fail "a proxy option reached the backend: $line"
echo "$line" | grep -q '65000:15:"psk:my_identity"' || fail "no identity option: $line"
step "Proxy-Scheme coap naming an unknown port -> 5.05"
out=$(coaps_send -w 800 "42 01 90 03 09 03 39 $(hexstr 127.0.0.1) 42 $(printf '%04x' "$down_port") 42 7073 d4 0f $(hexstr coap)")
echo "$out" | grep -q 'recv .*type=ACK code=5.05 mid=0x9003 tkl=2 token=0903 ' ||
	fail "Proxy-Scheme to an unknown port: expected 5.05: $out"

step "without proxy options the routes still apply"
out=$(timeout 10 coap-client-openssl -B 5 -u dev-42 -k devKey42 "$proxy/plain" 2>&1 || true)
echo "$out" | grep -q '^payload 0' || fail "plain request: $out"
req_line backend /plain >/dev/null

step "forward proxying is off unless a route allows it: after a reload without forward_proxy, 5.05"
write_fw_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "tele"; address = "127.0.0.1"; port = @BACKEND@; },
             { name = "fw";   address = "localhost"; port = @BACKEND2@; } );
routes = ( { path_prefix = "/fw"; backend = "fw"; },
           { backend = "tele"; } );
@PSKS@
CONF
reload_proxy 'event=reloaded'
out=$(fp "coap://127.0.0.1:$backend_port/p/off")
echo "$out" | grep -q '5\.05' || fail "Proxy-Uri without forward_proxy: expected 5.05, got: $out"
out=$(fp "coap://$fw_host:$backend2_port/fw/off")
echo "$out" | grep -q '5\.05' || fail "Proxy-Uri without forward_proxy: expected 5.05, got: $out"
[ "$(reqs backend /p/off)" = 0 ] || fail "/p/off reached tele"
[ "$(reqs backend2 /fw/off)" = 0 ] || fail "/fw/off reached fw"
out=$(timeout 10 coap-client-openssl -B 5 -u dev-42 -k devKey42 "$proxy/fw/plain" 2>&1 || true)
echo "$out" | grep -q '^payload 0' || fail "plain request: $out"
req_line backend2 /fw/plain >/dev/null

stop_proxy
echo "PASS"
