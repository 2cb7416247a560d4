#!/bin/sh
# /healthz and /readyz; per-backend metrics after real traffic (requests, a
# refused backend's errors, a silent backend's timeouts, round trips);
# certificate and CRL expiry as openssl reads them; reload time and result.
. "${srcdir:-.}/tests/ctl/lib.sh"
command -v curl >/dev/null || skip "curl missing"

make_certs
start_backend echo
start_bg silent "$tools/coap-test-backend" -A 127.0.0.1 -p 0 -m silent
silent_port=$(wait_listen silent)
metrics_port=$(free_tcp_port)
# Writes the configuration with session.max_sessions = $1.
conf() {
	write_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "echo";   address = "127.0.0.1"; port = @BACKEND@; },
             { name = "down";   address = "127.0.0.1"; port = $down_port; },
             { name = "silent"; address = "127.0.0.1"; port = $silent_port; } );
routes = ( { path_prefix = "/down"; backend = "down"; },
           { path_prefix = "/silent"; backend = "silent"; },
           { backend = "echo"; } );
backend_timeout = 1;
psk = ( { identity = "dev1"; key = "secretPSK123"; } );
x509 = { certificate = "@CERTS@/server-int-chain.pem"; private_key = "@CERTS@/server-int-key.pem";
         client_ca = "@CERTS@/ca-cert.pem"; crl = "@CERTS@/ca.crl"; };
session = { max_sessions = $1; };
control = { socket = "$ctl_sock"; };
metrics = { address = "127.0.0.1"; port = $metrics_port; };
CONF
}
conf 100
start_proxy "$tmp/proxy.conf"
wait_log "event=metrics-listening address=127.0.0.1 port=$metrics_port"
base="http://127.0.0.1:$metrics_port"

# Prints the HTTP status of GET $1.
http_code() {
	curl -s -o "$tmp/body" -w '%{http_code}' --max-time 5 "$base$1" || true
}
# Prints the unix time of an openssl date line's value ("notAfter=Jan  1 00:00:00 2030 GMT").
unix_of() {
	date -u -d "$(printf '%s\n' "$1" | cut -d= -f2)" +%s
}

step "/healthz and /readyz answer 200; HEAD works; other paths 404"
[ "$(http_code /healthz)" = 200 ] || fail "/healthz: $(cat "$tmp/body")"
[ "$(cat "$tmp/body")" = ok ] || fail "/healthz body: $(cat "$tmp/body")"
[ "$(http_code /readyz)" = 200 ] || fail "/readyz: $(cat "$tmp/body")"
[ "$(cat "$tmp/body")" = ready ] || fail "/readyz body: $(cat "$tmp/body")"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -I "$base/readyz") || true
[ "$code" = 200 ] || fail "HEAD /readyz: $code"
[ "$(http_code /health)" = 404 ] || fail "/health was not 404"

step "certificate and CRL expiry: what openssl says"
scrape
leaf=$(unix_of "$(openssl x509 -enddate -noout -in "$certs/server-int-cert.pem")")
inter=$(unix_of "$(openssl x509 -enddate -noout -in "$certs/int-ca-cert.pem")")
ca=$(unix_of "$(openssl x509 -enddate -noout -in "$certs/ca-cert.pem")")
crl=$(unix_of "$(openssl crl -nextupdate -noout -in "$certs/ca.crl")")
grep -q '^# TYPE coaps_certificate_expiry_timestamp_seconds gauge$' "$tmp/m.txt" || fail "no expiry family"
got=$(grep '^coaps_certificate_expiry_timestamp_seconds{role="server",subject="CN=localhost",' "$tmp/m.txt" | awk '{print $2}')
[ "$got" = "$leaf" ] || fail "server certificate expiry $got, openssl says $leaf"
got=$(grep '^coaps_certificate_expiry_timestamp_seconds{role="server_chain",subject="CN=TestIntermediateCA",' "$tmp/m.txt" | awk '{print $2}')
[ "$got" = "$inter" ] || fail "intermediate expiry $got, openssl says $inter"
got=$(grep '^coaps_certificate_expiry_timestamp_seconds{role="client_ca",subject="CN=TestCA",' "$tmp/m.txt" | awk '{print $2}')
[ "$got" = "$ca" ] || fail "client CA expiry $got, openssl says $ca"
[ "$(metric 'coaps_crl_next_update_timestamp_seconds{issuer="CN=TestCA"}')" = "$crl" ] ||
	fail "CRL next update $(metric 'coaps_crl_next_update_timestamp_seconds{issuer="CN=TestCA"}'), openssl says $crl"
[ "$(metric coaps_config_last_reload_timestamp_seconds)" = 0 ] || fail "a reload before any"
[ "$(metric coaps_config_last_reload_success)" = 1 ] || fail "last_reload_success before any"
grep -q '^coaps_build_info{version="[0-9]' "$tmp/m.txt" || fail "no build info"

step "per-backend counters after real traffic: echo answers, down refuses, silent times out"
for b in echo down silent; do
	[ "$(metric "coaps_backend_requests_total{backend=\"$b\"}")" = 0 ] || fail "$b requests before traffic"
done
ctl test-psk dev1 secretPSK123 /a
expect_rc 0
printf '%s\n' "$out" | grep -q '^get  *2\.05 Content$' || fail "GET /a: $out"
ctl test-psk dev1 secretPSK123 /b
expect_rc 0
ctl test-psk dev1 secretPSK123 /down/x
printf '%s\n' "$out" | grep -q '^get  *5\.02 Bad Gateway$' || fail "GET /down/x: $out"
ctl test-psk dev1 secretPSK123 /silent/x
printf '%s\n' "$out" | grep -q '^get  *5\.04 Gateway Timeout$' || fail "GET /silent/x: $out"
scrape
[ "$(metric 'coaps_backend_requests_total{backend="echo"}')" = 2 ] || fail "echo requests: $(grep backend "$tmp/m.txt")"
[ "$(metric 'coaps_backend_errors_total{backend="echo"}')" = 0 ] || fail "echo errors: $(grep backend "$tmp/m.txt")"
[ "$(metric 'coaps_backend_rtt_seconds_count{backend="echo"}')" = 2 ] || fail "echo rtt count: $(grep backend "$tmp/m.txt")"
[ "$(metric 'coaps_backend_rtt_seconds_bucket{backend="echo",le="+Inf"}')" = 2 ] || fail "echo rtt +Inf"
[ "$(metric 'coaps_backend_requests_total{backend="down"}')" = 1 ] || fail "down requests: $(grep backend "$tmp/m.txt")"
[ "$(metric 'coaps_backend_errors_total{backend="down"}')" -ge 1 ] || fail "down errors: $(grep backend "$tmp/m.txt")"
[ "$(metric 'coaps_backend_timeouts_total{backend="down"}')" = 0 ] || fail "down timeouts"
[ "$(metric 'coaps_backend_requests_total{backend="silent"}')" = 1 ] || fail "silent requests"
[ "$(metric 'coaps_backend_timeouts_total{backend="silent"}')" = 1 ] || fail "silent timeouts: $(grep backend "$tmp/m.txt")"
[ "$(metric 'coaps_backend_errors_total{backend="silent"}')" = 0 ] || fail "silent errors"
[ "$(metric 'coaps_backend_rtt_seconds_count{backend="silent"}')" = 0 ] || fail "silent rtt"

step "status names each backend's last error"
ctl status
printf '%s\n' "$out" | grep -Eq "^backend +down 127\.0\.0\.1 port $down_port .*requests 1, errors [1-9][0-9]*, timeouts 0; last error .*refused" ||
	fail "status of down: $out"
printf '%s\n' "$out" | grep -Eq "^backend +silent .*timeouts 1; last error .*timed out" || fail "status of silent: $out"

step "reload: time and result"
t0=$(date +%s)
ctl reload
expect_rc 0
scrape
[ "$(metric coaps_config_last_reload_timestamp_seconds)" -ge "$t0" ] || fail "last reload time"
[ "$(metric coaps_config_last_reload_success)" = 1 ] || fail "last reload success"
[ "$(metric 'coaps_config_reloads_total{result="ok"}')" = 1 ] || fail "reloads ok"
cp "$tmp/proxy.conf" "$tmp/good.conf"
echo 'nonsense' >>"$tmp/proxy.conf"
ctl reload
expect_rc 1
scrape
[ "$(metric coaps_config_last_reload_success)" = 0 ] || fail "a failed reload is not 0"
[ "$(metric 'coaps_config_reloads_total{result="failed"}')" = 1 ] || fail "reloads failed"
# The backend counters survive a reload that keeps the backend.
[ "$(metric 'coaps_backend_requests_total{backend="echo"}')" = 2 ] || fail "echo requests after reload"

step "/readyz is 503 while the session table is full; /healthz stays 200"
conf 1
ctl reload
expect_rc 0
n0=$(log_count 'event=handshake-ok .*identity="dev1"')
sclient s1 15 dev1 secretPSK123
i=0
while [ "$(log_count 'event=handshake-ok .*identity="dev1"')" = "$n0" ]; do
	[ $i -lt 100 ] || fail "the s_client session did not come up"
	sleep 0.1
	i=$((i + 1))
done
[ "$(http_code /readyz)" = 503 ] || fail "/readyz with a full table: $(cat "$tmp/body")"
grep -q 'session table full' "$tmp/body" || fail "/readyz body: $(cat "$tmp/body")"
[ "$(http_code /healthz)" = 200 ] || fail "/healthz with a full table"
ctl close --identity 'dev1'
expect_rc 0
i=0
while [ "$(http_code /readyz)" != 200 ]; do
	[ $i -lt 50 ] || fail "/readyz did not come back: $(cat "$tmp/body")"
	sleep 0.1
	i=$((i + 1))
done

stop_proxy
echo "PASS"
