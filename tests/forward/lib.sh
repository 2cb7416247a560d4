# lib.sh: shared helper for the CoAP-aware forwarding tests (sourced).
#
# Builds on tests/integration/lib.sh and adds:
#   start_backend2 [MODE] [DELAY]  a second coap-test-backend, port in $backend2_port
#   write_fw_conf FILE <<EOF       write_conf plus @BACKEND2@, @DOWN@ (a port where
#                                  nothing listens) and the standard PSK list
#   get ID KEY SECS ARGS...        coap-client-openssl (PSK) through the proxy,
#                                  stdout and stderr together
#   coaps_send ARGS... HEX...      tests/forward/coaps-send against the proxy
#   reqs NAME PATH                 how many requests for PATH backend NAME logged
#   reload_proxy PATTERN           SIGHUP, then waits for a new log line matching PATTERN
#   expect_config TEXT STATUS <<EOF  coaps-proxyd -t on a listener, a PSK and EOF:
#                                  prints TEXT, exits STATUS
# PSK identities in @PSKS@: my_identity/secretPSK123, sensor-1/sensorKey1,
# sensor-2/sensorKey2, dev-42/devKey42.
. "${srcdir:-.}/tests/integration/lib.sh"

send_tool=${COAPS_SEND:-./tests/forward/coaps-send}
[ -x "$send_tool" ] || skip "$send_tool not built"

proxy_port=$(free_port)
down_port=$(free_port)
while [ "$down_port" = "$proxy_port" ]; do
	down_port=$(free_port)
done

psks='psk = ( { identity = "my_identity"; key = "secretPSK123"; },
        { identity = "sensor-1"; key = "sensorKey1"; },
        { identity = "sensor-2"; key = "sensorKey2"; },
        { identity = "dev-42"; key = "devKey42"; } );'

# Starts a second coap-test-backend (MODE echo by default) as "backend2", on
# both 127.0.0.1 and ::1 (tests configure it by the name localhost, which a
# standard Debian resolves to ::1 first and some machines to 127.0.0.1 only).
start_backend2() {
	start_bg backend2 "$tools/coap-test-backend" -A :: -p 0 -m "${1:-echo}" \
		-c "$tmp/backend2.count" ${2:+-d "$2"}
	backend2_port=$(wait_listen backend2)
}

# Writes standard input to FILE with the write_conf fields and ours substituted.
write_fw_conf() {
	printf '%s\n' "$psks" >"$tmp/psks.txt"
	sed -e "s|@BACKEND2@|${backend2_port:-9}|g" -e "s|@DOWN@|$down_port|g" \
		-e "/@PSKS@/{r $tmp/psks.txt
d}" | write_conf "$1"
}

# Runs coap-client-openssl with a PSK through the proxy: get ID KEY SECS ARGS...
get() {
	gid=$1
	gkey=$2
	gsecs=$3
	shift 3
	timeout $((gsecs + 5)) coap-client-openssl -B "$gsecs" -u "$gid" -k "$gkey" "$@" 2>&1 || true
}

# Runs coaps-send against the proxy (bounded by its own alarm and by timeout).
coaps_send() {
	timeout 40 "$send_tool" -p "$proxy_port" "$@" || true
}

# Prints how many requests for exactly PATH backend NAME ("backend" or "backend2") logged.
reqs() {
	grep -c "^req .* path=$2 " "$tmp/$1.out" 2>/dev/null || true
}

# Sends SIGHUP to the proxy and waits for one more log line matching the ERE $1.
reload_proxy() {
	before=$(log_count "$1")
	kill -HUP "$(cat "$tmp/proxy.pid")" || fail "cannot signal coaps-proxyd"
	i=0
	while [ "$(log_count "$1")" -le "$before" ]; do
		[ $i -lt 100 ] || fail "no new log line matching: $1"
		sleep 0.1
		i=$((i + 1))
	done
}

# Prints the bytes of string $1 as hex.
hexstr() {
	printf '%s' "$1" | od -An -tx1 | tr -d ' \n'
}

# Expects `coaps-proxyd -t` on configuration text (stdin, after a listener and a
# PSK, so that its line numbers start at 3) to print $1 (a fixed string) and exit $2.
expect_config() {
	{
		echo 'listen = ( { address = "127.0.0.1"; port = 5684; } );'
		echo 'psk = ( { identity = "a"; key = "k"; } );'
		cat
	} >"$tmp/c.conf"
	rc=0
	out=$("$proxyd" -t -c "$tmp/c.conf" 2>&1) || rc=$?
	echo "$out" | grep -qF -- "$1" || fail "expected '$1', got: $out"
	[ "$rc" = "$2" ] || fail "expected exit $2, got $rc for: $out"
}
