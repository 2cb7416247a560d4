#!/bin/sh
# x509.expiry_warning: a server or CA certificate that ends within that many days, and a CRL
# whose next update is near or has passed, are warned about at start and at each reload.
. "${srcdir:-.}/tests/lib/harness.sh"

make_certs
sh "$srcdir/certs/gen-expiring-certs.sh" "$certs" || fail "certs/gen-expiring-certs.sh failed"
c=$certs
cat "$c/ca-cert.pem" "$c/soon-ca-cert.pem" >"$c/cas.pem"
start_coap_server
# Writes a proxy config with server certificate $1, CRL $2 and extra x509 keys $3.
conf() {
	write_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
x509 = { certificate = "@CERTS@/$1"; private_key = "@CERTS@/server-key.pem";
         client_ca = "@CERTS@/cas.pem"; crl = "@CERTS@/$2"; $3 };
CONF
}
# Connects with the client certificate; output on stdout.
get() {
	client coap-client-openssl 5 -m get -j "$c/client-key.pem" -c "$c/client-cert.pem" \
		-R "$c/ca-cert.pem" "coaps://127.0.0.1:$proxy_port/time" 2>&1
}
server_warn="$c/server-soon-cert.pem: the server certificate \\(leaf\\) CN=localhost expires on [0-9-]+ [0-9:]+ UTC, in 10 days"
ca_warn="$c/cas.pem: the client_ca certificate CN=SoonCA expires on [0-9-]+ [0-9:]+ UTC, in 10 days"
crl_warn="$c/ca-soon.crl: the CRL's next update is due on [0-9-]+ [0-9:]+ UTC, in 10 hours"

step "at start (default: 30 days): the server certificate, the CA and the CRL are warned about"
conf server-soon-cert.pem ca-soon.crl ""
start_proxy "$tmp/proxy.conf"
pid=$(cat "$tmp/proxy.pid")
wait_log "$server_warn"
wait_log "$ca_warn"
wait_log "$crl_warn"
[ "$(log_count 'CN=TestCA expires')" = 0 ] || fail "TestCA (10 years) was warned about"
out=$(get) || fail "a client certificate failed beside the warnings: $out"
[ -n "$out" ] || fail "no answer with a client certificate"

step "at reload: expiry_warning = 5 days: no certificate warning; a CRL due within a day still is"
conf server-soon-cert.pem ca-soon.crl "expiry_warning = 5;"
: >"$proxy_log"
kill -HUP "$pid"
wait_log 'event=reloaded'
[ "$(log_count 'expires on')" = 0 ] || fail "warned with expiry_warning = 5: $(cat "$proxy_log")"
wait_log "$crl_warn"

step "at reload: a CRL whose next update passed; certificates with 30 days"
conf server-soon-cert.pem ca-stale.crl "expiry_warning = 30;"
: >"$proxy_log"
kill -HUP "$pid"
wait_log 'event=reloaded'
wait_log "$server_warn"
wait_log "$ca_warn"
wait_log "$c/ca-stale.crl: the CRL's next update was due on 2021-01-01 00:00:00 UTC: mbedTLS refuses every client certificate checked against it \\(CRL expired\\)"
# What the warning says: every client certificate now fails.
get >/dev/null || true
wait_log 'event=handshake-failed .*CRL expired'

step "expiry_warning = 0 turns the warnings off; the range is checked"
conf server-soon-cert.pem ca-soon.crl "expiry_warning = 0;"
: >"$proxy_log"
kill -HUP "$pid"
wait_log 'event=reloaded'
[ "$(log_count 'expires on|next update')" = 0 ] || fail "warned with expiry_warning = 0: $(cat "$proxy_log")"
conf server-soon-cert.pem ca-soon.crl "expiry_warning = 4000;"
out=$("$proxyd" -t -c "$tmp/proxy.conf" 2>&1) && fail "expiry_warning = 4000 was accepted: $out"
printf '%s\n' "$out" | grep -qF "x509.expiry_warning: 4000 is out of range (0 to 3650)" ||
	fail "unexpected error: $out"
stop_proxy
echo PASS
