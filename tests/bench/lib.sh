# lib.sh: shell helpers of the bench scripts (sourced; POSIX sh).

# bench_begin NAME FILE...: the start of a bench script called NAME: checks
# that each FILE is built and that python3 is there (else says so and exits 1),
# makes $TMP (bench_tmpdir coaps-NAME) and the throw-away certificates in it
# (bench-certs.sh). Run "ulimit -n" before, where the script needs it.
bench_begin() {
	_name=$1
	shift
	for _f in "$@"; do
		[ -x "$_f" ] || { echo "$_name: $_f not built (make first)"; exit 1; }
	done
	command -v python3 >/dev/null 2>&1 || { echo "$_name: python3 is needed"; exit 1; }
	bench_tmpdir "coaps-$_name"
	bench_make_certs "$TMP" || { echo "$_name: certificate generation failed"; exit 1; }
}

# bench_proxyd_conf FILE PORT BACKEND [SESSION] [MORE]: a coaps-proxyd
# configuration for the benches in FILE: listens on 127.0.0.1:PORT, relays to
# the echo backend on BACKEND, PSK "bench" and the certificates of $TMP
# (client certificates required), no saved sessions (never in
# /var/lib/coaps-proxy), log level warning; SESSION is added to the session
# group; MORE (lines) replaces the default control = { socket = ""; };.
bench_proxyd_conf() {
	_more=${5:-}
	[ -n "$_more" ] || _more='control = { socket = ""; };'
	cat >"$1" <<EOF
listen = ( { address = "127.0.0.1"; port = $2; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = $3; } );
psk = ( { identity = "bench"; key = "benchkey123"; } );
x509 = { certificate = "$TMP/server-cert.pem"; private_key = "$TMP/server-key.pem";
         client_ca = "$TMP/ca-cert.pem"; verify_client = "required"; };
dtls = { ciphersuites = [ "TLS-PSK-WITH-AES-128-CCM-8", "TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8" ]; };
session = { max_sessions = 200000; max_handshakes = 5000; state_file = ""; ${4:-} };
log = { level = "warning"; };
$_more
EOF
}

# bench_tmpdir NAME: makes $TMP, and a cleanup on exit that kills the processes
# whose PIDs the script put into $PIDS and removes $TMP.
bench_tmpdir() {
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || exit 1
	PIDS=""
	trap bench_cleanup EXIT
	trap 'exit 1' INT TERM
}

# bench_openssl_conf: exports an OPENSSL_CONF that lets coap-server-openssl use
# CCM8 suites (OpenSSL 3.2 and later, Debian 13, allow them only at security
# level 0, and libcoap does not lower it). Needs $TMP.
bench_openssl_conf() {
	printf '%s\n' 'openssl_conf = c' '[c]' 'ssl_conf = s' '[s]' 'system_default = d' \
		'[d]' 'CipherString = DEFAULT:@SECLEVEL=0' >"$TMP/openssl.cnf"
	OPENSSL_CONF="$TMP/openssl.cnf"
	export OPENSSL_CONF
}

bench_cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}

# bench_pin: servers under test on core 1 ($SRV), load on core 0 ($LOAD);
# both empty (and status 1) without taskset or with fewer than 2 cores.
bench_pin() {
	SRV=""
	LOAD=""
	command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ] || return 1
	SRV="taskset -c 1"
	LOAD="taskset -c 0"
}

# start NAME CMD...: starts a background process (output in $TMP/NAME.log),
# its PID in $LAST and in $PIDS (killed by the cleanup).
start() {
	name=$1
	shift
	"$@" >"$TMP/$name.log" 2>&1 &
	LAST=$!
	PIDS="$PIDS $LAST"
}

# wait_for TENTHS CMD...: runs CMD every 0.1 s until it succeeds; status 1 after TENTHS tries.
wait_for() {
	_n=$1
	shift
	while [ "$_n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		_n=$((_n - 1))
	done
	return 1
}
