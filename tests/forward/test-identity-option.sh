#!/bin/sh
# The identity option: psk:<identity> and x509:<CN> reach the backend, a device-sent
# copy is removed, identity_option = 0 sends none.
. "${srcdir:-.}/tests/forward/lib.sh"

make_certs
start_backend
write_fw_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "echo"; address = "127.0.0.1"; port = @BACKEND@; } );
routes = ( { backend = "echo"; } );
@PSKS@
x509 = { certificate = "@CERTS@/server-cert.pem"; private_key = "@CERTS@/server-key.pem";
         client_ca = "@CERTS@/ca-cert.pem"; verify_client = "required"; };
CONF
start_proxy "$tmp/proxy.conf"
url="coaps://127.0.0.1:$proxy_port"

# Prints the backend's req line for exactly path $1 (fails unless there is exactly one).
req_line() {
	[ "$(reqs backend "$1")" = 1 ] || fail "$1: expected 1 request at the backend, saw $(reqs backend "$1")"
	grep "^req .* path=$1 " "$tmp/backend.out"
}

# Prints how many 65000 options a req line holds.
n65000() {
	echo "$1" | grep -o '[,=]65000:' | wc -l | tr -d ' '
}

step "default identity_option 65000: psk:dev-42 in the echo and at the backend"
out=$(get dev-42 devKey42 5 "$url/id/plain")
echo "$out" | grep -qx '65000 10 psk:dev-42' || fail "echo does not show 65000 10 psk:dev-42: $out"
line=$(req_line /id/plain)
echo "$line" | grep -q '65000:10:"psk:dev-42"' || fail "backend: $line"
[ "$(n65000 "$line")" = 1 ] || fail "more than one identity option: $line"

step "a device-sent copy (-O 65000,psk:admin) is removed: exactly one, the real identity"
out=$(get dev-42 devKey42 5 -O 65000,psk:admin "$url/id/forged")
echo "$out" | grep -q 'psk:admin' && fail "forged identity reached the backend: $out"
[ "$(echo "$out" | grep -c '^65000 ')" = 1 ] || fail "echo shows not exactly one 65000: $out"
line=$(req_line /id/forged)
[ "$(n65000 "$line")" = 1 ] || fail "backend got not exactly one 65000: $line"
echo "$line" | grep -q '65000:10:"psk:dev-42"' || fail "backend: $line"

step "raw: two device copies (one empty) around other options; the others survive in order"
# CON GET MID 0x5101 token 0x77, Uri-Path "id", Uri-Path "raw", 65000 "psk:admin",
# 65000 "", 65004 "x", payload "hi".
out=$(coaps_send -w 700 "41 01 51 01 77 b2 69 64 03 72 61 77 e9 fc d0 70 73 6b 3a 61 64 6d 69 6e 00 41 78 ff 68 69")
echo "$out" | grep -q 'recv .*type=ACK code=2.05 mid=0x5101 tkl=1 token=77 ' || fail "raw request not answered: $out"
line=$(req_line /id/raw)
echo "$line" | grep -q 'opts=11:2:"id",11:3:"raw",65000:15:"psk:my_identity",65004:1:"x" payload_len=2' ||
	fail "raw request rewritten wrongly: $line"

step "x509: a certificate client arrives as x509:client"
out=$(timeout 10 coap-client-openssl -B 5 -j "$certs/client-key.pem" -c "$certs/client-cert.pem" \
	-R "$certs/ca-cert.pem" -O 65000,x509:admin "coaps://127.0.0.1:$proxy_port/id/cert" 2>&1 || true)
echo "$out" | grep -qx '65000 11 x509:client' || fail "echo does not show 65000 11 x509:client: $out"
line=$(req_line /id/cert)
[ "$(n65000 "$line")" = 1 ] || fail "backend got not exactly one 65000: $line"

stop_proxy

step "identity_option = 0: no identity option at all"
write_fw_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "echo"; address = "127.0.0.1"; port = @BACKEND@; } );
routes = ( { backend = "echo"; } );
identity_option = 0;
@PSKS@
CONF
start_proxy "$tmp/proxy.conf"
out=$(get dev-42 devKey42 5 "$url/id/none")
echo "$out" | grep -q '^payload 0' || fail "no echo answer: $out"
echo "$out" | grep -q '^65000 ' && fail "identity option sent although disabled: $out"
line=$(req_line /id/none)
[ "$(n65000 "$line")" = 0 ] || fail "backend got an identity option: $line"

step "identity_option = 65008 (reload): the identity goes in that option instead"
sed -i 's/identity_option = 0;/identity_option = 65008;/' "$tmp/proxy.conf"
reload_proxy 'event=reloaded'
out=$(get sensor-1 sensorKey1 5 "$url/id/other")
echo "$out" | grep -qx '65008 12 psk:sensor-1' || fail "echo does not show 65008 12 psk:sensor-1: $out"
stop_proxy
echo "PASS"
