# lib.sh: shared helper for the coaps-proxyd integration tests (sourced).
#
# Builds on tests/tools/tools-lib.sh ($tmp, start_bg, wait_listen, fail,
# skip, step, cleanup of our own PIDs only) and adds:
#   free_port                  a UDP port nobody on this machine uses
#   start_backend [MODE]       coap-test-backend on 127.0.0.1, port in $backend_port
#   start_coap_server          coap-server-notls on 127.0.0.1, port in $backend_port
#   write_conf FILE <<EOF      a proxy config with @PORT@ @BACKEND@ @CERTS@ filled in
#   start_proxy CONF           coaps-proxyd -f (under valgrind with COAPS_VALGRIND=1)
#   stop_proxy                 SIGTERM; fails unless it exits 0 (and leaks nothing)
#   wait_log PATTERN [SECS]    waits for an ERE in the proxy log
#   log_count PATTERN          lines of the proxy log matching an ERE
#   make_certs                 certs/gen-certs.sh into $certs
# Every wait is bounded; tests run from the top build directory.
. "${srcdir:-.}/tests/tools/tools-lib.sh"

proxyd=${PROXYD:-./src/coaps-proxyd}
probe=${PROBE:-./tests/probe/dtls-probe}
[ -x "$proxyd" ] || skip "$proxyd not built"
command -v coap-client-openssl >/dev/null || skip "coap-client-openssl missing (apt-get install libcoap3-bin)"
proxy_log=$tmp/proxy.err
certs=$tmp/certs

# Tells whether UDP port $1 is bound on this machine (IPv4 or IPv6).
port_in_use() {
	hex=$(printf '%04X' "$1")
	cat /proc/net/udp /proc/net/udp6 2>/dev/null | awk -v h=":$hex" '$2 ~ h"$" {f=1} END {exit !f}'
}

# Prints a free UDP port below the kernel's ephemeral range, so that the
# ephemeral ports of clients, backends and upstream sockets (of this and of
# concurrently running tests) cannot take it between the pick and the bind.
free_port() {
	lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	[ "$lo" -gt 21000 ] 2>/dev/null || lo=60000
	i=0
	while [ $i -lt 100 ]; do
		p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % (lo - 20000 - 1)))
		port_in_use "$p" || port_in_use $((p + 1)) || { echo "$p"; return 0; }
		i=$((i + 1))
	done
	fail "no free UDP port found"
}

# Waits (bounded) until UDP port $1 is bound.
wait_port() {
	i=0
	while [ $i -lt 50 ]; do
		port_in_use "$1" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	fail "nothing listens on UDP port $1"
}

# Starts coap-test-backend (MODE echo by default) as "backend".
start_backend() {
	start_bg backend "$tools/coap-test-backend" -A 127.0.0.1 -p 0 -m "${1:-echo}" \
		-c "$tmp/backend.count" ${2:+-d "$2"}
	backend_port=$(wait_listen backend)
}

# Starts libcoap's coap-server-notls as "backend".
start_coap_server() {
	backend_port=$(free_port)
	start_bg backend coap-server-notls -A 127.0.0.1 -p "$backend_port" -d 100000
	wait_port "$backend_port"
}

# Writes standard input to FILE with @PORT@, @BACKEND@ and @CERTS@ substituted.
write_conf() {
	sed -e "s|@PORT@|$proxy_port|g" -e "s|@BACKEND@|${backend_port:-9}|g" \
		-e "s|@CERTS@|$certs|g" >"$1"
}

# Makes the test certificates in $certs.
make_certs() {
	sh "$certgen" "$certs" || fail "certs/gen-certs.sh failed"
}

# Starts the proxy with config $1; waits for its "event=started" line.
start_proxy() {
	vg=""
	limit=100
	if [ "${COAPS_VALGRIND:-0}" = 1 ]; then
		vg="valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 --log-file=$tmp/valgrind.log"
		limit=600
	fi
	start_bg proxy $vg "$proxyd" -f -c "$1"
	i=0
	while ! grep -q 'event=started' "$proxy_log" 2>/dev/null; do
		kill -0 "$(cat "$tmp/proxy.pid")" 2>/dev/null || fail "coaps-proxyd exited at start"
		[ $i -lt $limit ] || fail "coaps-proxyd did not start"
		sleep 0.1
		i=$((i + 1))
	done
}

# Stops the proxy with SIGTERM; fails unless it exits 0 in time.
stop_proxy() {
	pid=$(cat "$tmp/proxy.pid")
	kill -TERM "$pid" 2>/dev/null || fail "coaps-proxyd was not running"
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -0 "$pid" 2>/dev/null && fail "coaps-proxyd did not stop on SIGTERM"
	rc=0
	wait "$pid" || rc=$?
	if [ "$rc" = 99 ]; then
		cat "$tmp/valgrind.log" >&2
		fail "valgrind found definitely lost memory or errors"
	fi
	[ "$rc" = 0 ] || fail "coaps-proxyd exited with status $rc"
}

# Waits up to SECS (default 10) for a line matching the ERE $1 in the proxy log.
wait_log() {
	i=0
	n=$((${2:-10} * 10))
	while ! grep -Eq "$1" "$proxy_log" 2>/dev/null; do
		[ $i -lt $n ] || fail "no log line matching: $1"
		sleep 0.1
		i=$((i + 1))
	done
}

# Prints how many proxy log lines match the ERE $1.
log_count() {
	grep -Ec "$1" "$proxy_log" 2>/dev/null || true
}

# OpenSSL 3.2 and later (Debian 13) offer CCM8 suites only at security level 0,
# and libcoap does not lower it: this config does, for coap-client-openssl.
openssl_cnf=$tmp/openssl.cnf
printf '%s\n' 'openssl_conf = c' '[c]' 'ssl_conf = s' '[s]' 'system_default = d' \
	'[d]' 'CipherString = DEFAULT:@SECLEVEL=0' >"$openssl_cnf"

# Runs a bounded libcoap client: client TOOL SECONDS ARGS... (output on stdout).
client() {
	tool=$1
	secs=$2
	shift 2
	OPENSSL_CONF=$openssl_cnf timeout $((secs + 5)) "$tool" -B "$secs" "$@"
}

proxy_port=$(free_port)
