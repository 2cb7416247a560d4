#!/bin/sh
# Routes are access control: whatever way a request names its backend (Uri-Path,
# Uri-Host, Proxy-Uri by address or by name, Proxy-Uri with a Uri-Host beside it,
# Proxy-Scheme with Uri-Host and Uri-Port), a device reaches only what its routes
# give it; forward proxying is off unless a route allows it; identity globs never
# match an anonymous session (a certificate session without a client certificate),
# only a route with anonymous = true does.
. "${srcdir:-.}/tests/forward/lib.sh"

make_certs
start_backend    # "default"
start_backend2   # "admin"
# Phase 1: routes as before this fix (no forward_proxy, no anonymous keys).
write_fw_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; },
             { name = "admin";   address = "127.0.0.1"; port = @BACKEND2@; } );
routes = ( { identity = "my_identity"; backend = "admin"; },
           { identity = "sensor-*"; path_prefix = "/admin"; backend = "admin"; },
           { identity = "*"; path_prefix = "/star"; backend = "admin"; },
           { identity = "sensor-1"; uri_host = "admin.example"; backend = "admin"; },
           { backend = "default"; } );
@PSKS@
x509 = { certificate = "@CERTS@/server-cert.pem"; private_key = "@CERTS@/server-key.pem";
         client_ca = "@CERTS@/ca-cert.pem"; verify_client = "optional"; };
CONF
start_proxy "$tmp/proxy.conf"
proxy="coaps://127.0.0.1:$proxy_port"
admin=$backend2_port
dflt=$backend_port

# Prints the option header bytes (hex) for a delta or length $1: nibble, then extension.
opt_nib() {
	if [ "$1" -lt 13 ]; then
		echo "$1"
	elif [ "$1" -lt 269 ]; then
		printf '13 %02x\n' $(($1 - 13))
	else
		printf '14 %04x\n' $(($1 - 269))
	fi
}

# Prints a CON GET (hex) with MID and token $1 (4 hex digits) and the options
# $2...: NUM=TEXT, or NUM#HEX for a raw value; in ascending option order.
get_hex() {
	gh="4201$1$1"
	prev=0
	shift
	for o in "$@"; do
		case $o in
		*=*) num=${o%%=*} val=$(hexstr "${o#*=}") ;;
		*) num=${o%%#*} val=${o#*#} ;;
		esac
		set -- $(opt_nib $((num - prev)))
		dn=$1 dx=${2:-}
		set -- $(opt_nib $((${#val} / 2)))
		ln=$1 lx=${2:-}
		gh="$gh$(printf '%x%x' "$dn" "$ln")$dx$lx$val"
		prev=$num
	done
	echo "$gh"
}

# Sends one request as PSK identity $1 (key $2): as ID KEY MID OPTIONS...; prints what came back.
as() {
	aid=$1
	akey=$2
	shift 2
	timeout 40 "$send_tool" -p "$proxy_port" -u "$aid" -k "$akey" -w 800 "$(get_hex "$@")" || true
}

# Fails unless output $1 holds the piggybacked answer code $2 for MID $3.
answered() {
	echo "$1" | grep -q "recv .*type=ACK code=$2 mid=0x$3 " || fail "expected $2 for mid $3, got: $1"
}

# Checks that backend $1 ("backend" is default, "backend2" is admin) got one request for path $2, the other none.
reached() {
	other=backend2
	[ "$1" = backend ] || other=backend
	[ "$(reqs "$1" "$2")" = 1 ] || fail "$2: expected 1 request at $1, saw $(reqs "$1" "$2")"
	[ "$(reqs "$other" "$2")" = 0 ] || fail "$2: also reached $other"
}

# Checks that no backend got a request for path $1.
reached_none() {
	[ "$(reqs backend "$1")" = 0 ] || fail "$1 reached the default backend"
	[ "$(reqs backend2 "$1")" = 0 ] || fail "$1 reached the admin backend"
}

# coap-client-openssl in forward-proxy mode: fpget CREDENTIALS... URI (CREDENTIALS may be empty).
fpget() {
	timeout 10 coap-client-openssl -B 5 -P "$proxy" "$@" 2>&1 || true
}

# coap-client-openssl without a client certificate (an anonymous session): anon URI [ARGS...].
anon() {
	aurl=$1
	shift
	timeout 10 coap-client-openssl -B 5 -R "$certs/ca-cert.pem" "$@" "$aurl" 2>&1 || true
}

step "forward proxying is off unless a route allows it: Proxy-Uri to the device's own backend -> 5.05"
out=$(as dev-42 devKey42 a101 "35=coap://127.0.0.1:$dflt/p1/own")
answered "$out" 5.05 a101
reached_none /p1/own

step "a device routed only to default cannot reach admin by Proxy-Uri (IP), Proxy-Scheme or Uri-Host"
out=$(as dev-42 devKey42 a102 "35=coap://127.0.0.1:$admin/admin/secret")
answered "$out" 5.05 a102
out=$(fpget -u dev-42 -k devKey42 "coap://127.0.0.1:$admin/admin/secret2")
echo "$out" | grep -q '5\.05' || fail "coap-client -P to admin: expected 5.05, got: $out"
out=$(as dev-42 devKey42 a103 "3=127.0.0.1" "7#$(printf '%04x' "$admin")" 11=admin 11=secret3 39=coap)
answered "$out" 5.05 a103
reached_none /admin/secret
reached_none /admin/secret2
reached_none /admin/secret3
# Uri-Host and Uri-Port naming admin without a proxy option: routed as any request.
out=$(as dev-42 devKey42 a104 "3=127.0.0.1" "7#$(printf '%04x' "$admin")" 11=admin 11=secret4)
answered "$out" 2.05 a104
reached backend /admin/secret4
out=$(as dev-42 devKey42 a105 3=admin.example 11=admin 11=secret5)
answered "$out" 2.05 a105
reached backend /admin/secret5

step "identity globs never match an anonymous session (verify_client = optional)"
out=$(anon "$proxy/star/anon")
echo "$out" | grep -q '4\.04' || fail "anonymous /star/anon: expected 4.04, got: $out"
reached_none /star/anon
wait_log 'event=handshake-ok .*auth=anonymous'
out=$(anon "$proxy/plain/anon")
echo "$out" | grep -q '4\.04' || fail "anonymous /plain/anon: expected 4.04 (no anonymous route), got: $out"
reached_none /plain/anon
step "... but match authenticated PSK and certificate identities"
out=$(as dev-42 devKey42 a106 11=star 11=psk)
answered "$out" 2.05 a106
reached backend2 /star/psk
out=$(anon "$proxy/star/cert" -j "$certs/client-key.pem" -c "$certs/client-cert.pem")
echo "$out" | grep -qx '65000 11 x509:client' || fail "certificate client /star/cert: $out"
reached backend2 /star/cert

step "verify_client = optional without an anonymous route: the load warns"
wait_log 'x509.verify_client lets devices without a client certificate connect, but no route has anonymous = true'

# Phase 2: forward proxying and anonymous access configured per route.
write_fw_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; },
             { name = "admin";   address = "127.0.0.1"; port = @BACKEND2@; } );
routes = ( { identity = "my_identity"; backend = "admin"; forward_proxy = true; },
           { identity = "sensor-*"; path_prefix = "/admin"; backend = "admin"; forward_proxy = true; },
           { identity = "sensor-1"; uri_host = "admin.example"; backend = "admin"; forward_proxy = true; },
           { identity = "*"; path_prefix = "/star"; backend = "admin"; },
           { anonymous = true; path_prefix = "/pub"; backend = "default"; },
           { backend = "default"; forward_proxy = true; } );
@PSKS@
x509 = { certificate = "@CERTS@/server-cert.pem"; private_key = "@CERTS@/server-key.pem";
         client_ca = "@CERTS@/ca-cert.pem"; verify_client = "optional"; };
CONF
reload_proxy 'event=reloaded'

step "forward_proxy = true: Proxy-Uri (IP) to the backend the routes pick for that path"
out=$(as dev-42 devKey42 b101 "35=coap://127.0.0.1:$dflt/admin/p2own")
answered "$out" 2.05 b101
reached backend /admin/p2own
out=$(fpget -u dev-42 -k devKey42 "coap://127.0.0.1:$dflt/p2/fp")
echo "$out" | grep -q '^payload 0' || fail "coap-client -P to default: $out"
reached backend /p2/fp

step "... never to another backend: by IP, by backend name, with a Uri-Host beside, by Proxy-Scheme"
out=$(as dev-42 devKey42 b102 "35=coap://127.0.0.1:$admin/admin/s1")
answered "$out" 5.05 b102
out=$(as dev-42 devKey42 b103 "35=coap://admin:$admin/admin/s2")
answered "$out" 5.05 b103
out=$(as dev-42 devKey42 b104 3=admin.example "35=coap://127.0.0.1:$admin/admin/s3")
answered "$out" 5.05 b104
out=$(as sensor-1 sensorKey1 b105 3=admin.example "35=coap://127.0.0.1:$admin/s4")
answered "$out" 5.05 b105
out=$(as dev-42 devKey42 b106 "3=127.0.0.1" "7#$(printf '%04x' "$admin")" 11=admin 11=s5 39=coap)
answered "$out" 5.05 b106
out=$(as dev-42 devKey42 b107 3=admin.example "7#$(printf '%04x' "$admin")" 11=admin 11=s6 39=coap)
answered "$out" 5.05 b107
for p in /admin/s1 /admin/s2 /admin/s3 /s4 /admin/s5 /admin/s6; do
	reached_none "$p"
done
out=$(as my_identity secretPSK123 b108 "35=coap://127.0.0.1:$dflt/d1")
answered "$out" 5.05 b108
reached_none /d1

step "path prefix with identity: sensor-2 reaches admin by Proxy-Uri and Proxy-Scheme only under /admin"
out=$(as sensor-2 sensorKey2 b109 "35=coap://127.0.0.1:$admin/admin/s7")
answered "$out" 2.05 b109
reached backend2 /admin/s7
out=$(as sensor-2 sensorKey2 b10a "3=127.0.0.1" "7#$(printf '%04x' "$admin")" 11=admin 11=s8 39=coap)
answered "$out" 2.05 b10a
reached backend2 /admin/s8
out=$(as sensor-2 sensorKey2 b10b "35=coap://127.0.0.1:$admin/other/s9")
answered "$out" 5.05 b10b
reached_none /other/s9
# %61dmin is /admin spelled otherwise: routed by the decoded path, allowed.
out=$(as sensor-2 sensorKey2 b10c "35=coap://127.0.0.1:$admin/%61dmin/s10")
answered "$out" 2.05 b10c
reached backend2 /admin/s10
out=$(as my_identity secretPSK123 b10d "35=coap://127.0.0.1:$admin/a1")
answered "$out" 2.05 b10d
reached backend2 /a1

step "anonymous = true: only that route takes anonymous sessions, never by forward proxy"
out=$(anon "$proxy/pub/x")
echo "$out" | grep -q '^payload 0' || fail "anonymous /pub/x: $out"
echo "$out" | grep -qx '65000 9 anonymous' || fail "anonymous /pub/x: no identity option: $out"
reached backend /pub/x
out=$(anon "$proxy/star/anon2")
echo "$out" | grep -q '4\.04' || fail "anonymous /star/anon2: expected 4.04, got: $out"
out=$(anon "$proxy/other/anon3")
echo "$out" | grep -q '4\.04' || fail "anonymous /other/anon3: expected 4.04, got: $out"
out=$(anon "coap://127.0.0.1:$dflt/pub/anon4" -P "$proxy")
echo "$out" | grep -q '5\.05' || fail "anonymous Proxy-Uri /pub/anon4: expected 5.05, got: $out"
out=$(anon "coap://127.0.0.1:$admin/admin/anon5" -P "$proxy")
echo "$out" | grep -q '5\.05' || fail "anonymous Proxy-Uri to admin: expected 5.05, got: $out"
for p in /star/anon2 /other/anon3 /pub/anon4 /admin/anon5; do
	reached_none "$p"
done
out=$(anon "$proxy/other/cert" -j "$certs/client-key.pem" -c "$certs/client-cert.pem")
echo "$out" | grep -q '^payload 0' || fail "certificate client /other/cert: $out"
reached backend /other/cert

stop_proxy
echo "PASS"
