#!/bin/sh
# Block-wise (RFC 7959) through the proxy: a 10 KB Block1 PUT and a 10 KB Block2 GET
# of it arrive byte-identical, with block sizes that fit dtls.mtu (1232).
. "${srcdir:-.}/tests/forward/lib.sh"

start_coap_server   # coap-server-notls -d: PUT creates dynamic resources
write_fw_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "store"; address = "127.0.0.1"; port = @BACKEND@; } );
routes = ( { backend = "store"; } );
dtls = { mtu = 1232; };
@PSKS@
CONF
start_proxy "$tmp/proxy.conf"
url="coaps://127.0.0.1:$proxy_port"
head -c 10240 /dev/urandom >"$tmp/in.bin"

# Runs coap-client-openssl with the PSK of sensor-1 and a hard bound.
cc() {
	timeout 25 coap-client-openssl -B 15 -u sensor-1 -k sensorKey1 "$@"
}

for sizes in "512 1024" "1024 512" "1024 1024"; do
	# shellcheck disable=SC2086
	set -- $sizes
	step "Block1 PUT of 10 KB with -b $1, then Block2 GET with -b $2: byte-identical"
	rm -f "$tmp/out.bin"
	cc -b "$1" -m put -f "$tmp/in.bin" "$url/blk$1-$2" >"$tmp/put.out" 2>&1 ||
		fail "PUT -b $1 failed: $(cat "$tmp/put.out")"
	grep -Eq '[45]\.[0-9][0-9]' "$tmp/put.out" && fail "PUT -b $1: $(cat "$tmp/put.out")"
	cc -b "$2" -o "$tmp/out.bin" "$url/blk$1-$2" >"$tmp/get.out" 2>&1 ||
		fail "GET -b $2 failed: $(cat "$tmp/get.out")"
	[ -f "$tmp/out.bin" ] || fail "GET -b $2 wrote nothing: $(cat "$tmp/get.out")"
	cmp "$tmp/in.bin" "$tmp/out.bin" >&2 ||
		fail "GET -b $2 returned $(wc -c <"$tmp/out.bin") bytes, not the 10240 PUT with -b $1"
done

step "the proxy dropped no block-wise message as malformed"
[ "$(log_count 'event=coap-dropped')" = 0 ] || fail "the proxy dropped block-wise messages"
stop_proxy
echo "PASS"
