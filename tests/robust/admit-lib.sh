# admit-lib.sh: what the admission tests share (sourced, not run).
#   write_admit_conf SESSION [ROOT]  PSK + ECDHE-ECDSA config, slow DTLS timers, 127.0.0.1 and ::1
#   half_open ADDR SUITE [DST] one half-open handshake from source address ADDR
#   log_lacks ERE WHAT         fails (WHAT) if a proxy log line matches ERE
. "${srcdir:-.}/tests/robust/lib.sh"
command -v curl >/dev/null || skip "curl missing"

probe=$tools/dtls-probe
psk_suite=0xC0A8   # TLS-PSK-WITH-AES-128-CCM-8
full_suite=0xC0AE  # TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8
make_certs
start_backend
metrics_port=$(free_tcp_port)

# Writes a config with PSK and ECDHE-ECDSA, slow DTLS timers (half-open handshakes stay) and
# listeners on 127.0.0.1 and ::1; $1 goes in the session group, $2 (optional) at the top.
write_admit_conf() {
	write_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; }, { address = "::1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; } );
x509 = { certificate = "@CERTS@/server-cert.pem"; private_key = "@CERTS@/server-key.pem";
         client_ca = "@CERTS@/ca-cert.pem"; verify_client = "required"; };
dtls = { ciphersuites = [ "TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8", "TLS-PSK-WITH-AES-128-CCM-8" ];
         handshake_timeout_min = 2000; handshake_timeout_max = 60000; };
control = { socket = "$ctl_sock"; };
metrics = { address = "127.0.0.1"; port = $metrics_port; };
session = { $1 };
${2:-}
CONF
}

# Leaves one half-open handshake from source address $1 (to $3, default 127.0.0.1) with
# cipher suite $2: the ClientHello, the cookie round, the server's flight unanswered.
half_open() {
	timeout 10 "$probe" hello "${3:-127.0.0.1}" "$proxy_port" --cookie-round --suites "$2" \
		--src-addr "$1" --timeout-ms 300 >>"$tmp/probe.out" 2>&1 || true
}

# Fails if a line matching $1 is in the proxy log; $2 says what that means.
log_lacks() {
	n=$(log_count "$1")
	[ "$n" = 0 ] || fail "$2: $(grep -E "$1" "$proxy_log" | head -3)"
}

