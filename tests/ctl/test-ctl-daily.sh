#!/bin/sh
# coaps-proxyctl for daily work: status, show with everything known, --json
# before or after every command, reload's answer (and what a reload cannot
# apply), test-psk against the running proxy with a good and a wrong key.
. "${srcdir:-.}/tests/ctl/lib.sh"
command -v jq >/dev/null || skip "jq missing"
command -v curl >/dev/null || skip "curl missing"

make_certs
start_backend observe 300
metrics_port=$(free_tcp_port)
# Writes the configuration with metrics on port $1 and the control socket $2.
conf() {
	write_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "dev1"; key = "secretPSK123"; } );
x509 = { certificate = "@CERTS@/server-cert.pem"; private_key = "@CERTS@/server-key.pem";
         client_ca = "@CERTS@/ca-cert.pem"; verify_client = "optional"; };
control = { socket = "$2"; };
metrics = { address = "127.0.0.1"; port = $1; };
CONF
}
conf "$metrics_port" "$ctl_sock"
start_proxy "$tmp/proxy.conf"
wait_log "event=control-listening path=$ctl_sock"

step "status: version, configuration, listener, backend with its address, sessions, ready"
ctl status
expect_rc 0
for re in "^version +[0-9]" "^config +$tmp/proxy.conf\$" "^last_reload +never\$" \
	"^listener +127\.0\.0\.1:$proxy_port\$" \
	"^backend +default 127\.0\.0\.1 port $backend_port \(127\.0\.0\.1:$backend_port\): requests 0, errors 0, timeouts 0\$" \
	"^sessions +0 " "^ready +yes\$" "^uptime +[0-9]+ s\$"; do
	printf '%s\n' "$out" | grep -Eq "$re" || fail "status lacks /$re/: $out"
done
ctl status --json
expect_rc 0
printf '%s\n' "$out" | jq -e --arg c "$tmp/proxy.conf" --arg l "127.0.0.1:$proxy_port" \
	--arg b "127.0.0.1:$backend_port" '.config == $c and .listeners == [$l] and
	.backends[0].name == "default" and .backends[0].resolved == $b and .last_reload == null and
	.ready == true and .sessions.total == 0 and (.uptime_s | type) == "number"' >/dev/null ||
	fail "status --json: $out"

step "--json before or after the command: one valid JSON document for every command"
for cmd in status stats sessions reload check-config; do
	for form in before after; do
		if [ $form = before ]; then ctl --json $cmd; else ctl $cmd --json; fi
		expect_rc 0
		printf '%s\n' "$out" | jq -e . >/dev/null || fail "$cmd --json ($form): not JSON: $out"
	done
done
ctl --json stats
printf '%s\n' "$out" | jq -e '.handshakes_ok >= 0 and (.backends | has("default"))' >/dev/null ||
	fail "stats --json: $out"
ctl --json reload
printf '%s\n' "$out" | jq -e '.result == "reloaded"' >/dev/null || fail "reload --json: $out"
ctl --json check-config
printf '%s\n' "$out" | jq -e '.result == "configuration OK"' >/dev/null || fail "check-config --json: $out"
# An error is JSON on stdout too (and the message on stderr, exit 1).
ctl --json show 0badbad0
expect_rc 1
printf '%s\n' "$out" | jq -e '.error == "no session 0badbad0"' >/dev/null || fail "error as JSON: $out"

step "test-psk with the right key: handshake, CoAP ping answered, the proxy's log lines"
ctl test-psk dev1 secretPSK123
expect_rc 0
printf '%s\n' "$out" | grep -Eq '^handshake +ok in [0-9]+ ms, TLS-PSK-WITH-AES-128-CCM-8$' || fail "test-psk: $out"
printf '%s\n' "$out" | grep -Eq '^ping +RST \(CoAP ping answered\)$' || fail "test-psk ping: $out"
printf '%s\n' "$out" | grep -Eq '^result +OK$' || fail "test-psk result: $out"
peer=$(printf '%s\n' "$out" | awk '$1 == "local" {print $2}')
printf '%s\n' "$out" | grep -Eq "^info event=handshake-ok session=[0-9a-f]{8} peer=$peer .*identity=\"dev1\"" ||
	fail "test-psk shows no handshake-ok line of its session: $out"
printf '%s\n' "$out" | grep -Eq "^info event=session-closed .*peer=$peer .*reason=\"close_notify\"" ||
	fail "test-psk shows no session-closed line: $out"
wait_log "event=handshake-ok .*peer=$peer .*identity=\"dev1\""

step "test-psk GET PATH goes through to the backend; --json"
ctl --json test-psk dev1 secretPSK123 /hello
expect_rc 0
printf '%s\n' "$out" | jq -e '.ok == true and .answer == "2.05 Content" and .handshake_ms >= 0 and
	.cipher == "TLS-PSK-WITH-AES-128-CCM-8" and
	([.log[] | select(test("event=handshake-ok"))] | length) == 1' >/dev/null ||
	fail "test-psk --json GET: $out"
grep -q 'path=/hello\|/hello' "$tmp/backend.out" || fail "the backend saw no GET /hello: $(cat "$tmp/backend.out")"

step "test-psk with a wrong key: fails, says why, shows the proxy's handshake-failed line"
ctl test-psk dev1 wrongkey
expect_rc 1
printf '%s\n' "$out" | grep -Eq '^handshake +failed: ' || fail "test-psk wrong key: $out"
printf '%s\n' "$out" | grep -Eq '^result +FAILED$' || fail "test-psk wrong key: $out"
printf '%s\n' "$out" | grep -q "event=handshake-failed .*reason=\"wrong key for PSK identity 'dev1'" ||
	fail "test-psk wrong key: no handshake-failed line: $out"
ctl test-psk --to "127.0.0.1:$proxy_port" nobody secretPSK123
expect_rc 1
printf '%s\n' "$out" | grep -q "event=handshake-failed .*nobody" || fail "unknown identity: $out"
ctl test-psk dev1
expect_rc 2

step "show ID: certificate subject, issuer and expiry, handshake time, live or parked"
hold=25
start_bg s1 sh -c 'sleep "$1" | timeout "$2" openssl s_client -dtls1_2 -connect "$3" \
	-cipher ECDHE-ECDSA-AES128-CCM8:@SECLEVEL=0 -CAfile "$4/ca-cert.pem" \
	-cert "$4/client-cert.pem" -key "$4/client-key.pem"' sh $hold $((hold + 5)) \
	"127.0.0.1:$proxy_port" "$certs"
wait_log 'event=handshake-ok .*auth=x509 identity="client"'
ctl sessions --json
id=$(printf '%s\n' "$out" | jq -er '.[] | select(.auth == "x509" and .identity == "client") | .id') ||
	fail "no x509 session: $out"
not_after=$(date -u -d "$(openssl x509 -enddate -noout -in "$certs/client-cert.pem" | cut -d= -f2)" +%s)
ctl show "$id"
expect_rc 0
for re in "^cert_subject +CN=client\$" "^cert_issuer +CN=TestCA\$" "^cert_expiry +.* \($not_after\)\$" \
	"^handshake +[0-9]+ ms\$" "^state +established\$" "^observing +0\$" "^backends +-\$"; do
	printf '%s\n' "$out" | grep -Eq "$re" || fail "show lacks /$re/: $out"
done
ctl show "$id" --json
expect_rc 0
printf '%s\n' "$out" | jq -e --argjson na "$not_after" '.certificate.subject == "CN=client" and
	.certificate.issuer == "CN=TestCA" and .certificate.not_after == $na and .handshake_ms >= 0 and
	.state == "established" and .auth == "x509" and .identity == "client"' >/dev/null || fail "show --json: $out"
ctl --json show "$id"
printf '%s\n' "$out" | jq -e '.id' >/dev/null || fail "--json show: $out"

step "show ID: backends in use and Observe relations"
start_bg obs sh -c 'timeout 20 coap-client-openssl -B 12 -s 10 -u dev1 -k secretPSK123 "$1"' sh \
	"coaps://127.0.0.1:$proxy_port/obs"
i=0
while ! grep -q '^observe-register ' "$tmp/backend.out"; do
	[ $i -lt 100 ] || fail "the backend saw no Observe registration: $(cat "$tmp/backend.out")"
	sleep 0.1
	i=$((i + 1))
done
ctl sessions --json
oid=$(printf '%s\n' "$out" | jq -er '[.[] | select(.auth == "psk" and .identity == "dev1")][0].id') ||
	fail "no PSK dev1 session: $out"
ctl show "$oid" --json
printf '%s\n' "$out" | jq -e '.backends == "default" and .observing == 1 and .certificate == null' \
	>/dev/null || fail "show of an observing session: $out"
ctl show "$oid"
printf '%s\n' "$out" | grep -Eq '^observing +1$' || fail "show: $out"
printf '%s\n' "$out" | grep -Eq '^backends +default$' || fail "show: $out"

step "close --json"
ctl close "$id" --json
expect_rc 0
printf '%s\n' "$out" | jq -e --arg id "$id" '.closed == 1 and .id == $id' >/dev/null || fail "close --json: $out"

step "reload prints its result; a broken file prints the error; status has both"
ctl reload
expect_rc 0
[ "$out" = reloaded ] || fail "reload printed: '$out'"
cp "$tmp/proxy.conf" "$tmp/good.conf"
echo 'bogus_key = 1;' >>"$tmp/proxy.conf"
ctl reload
expect_rc 1
printf '%s\n' "$err" | grep -qF "$tmp/proxy.conf:" || fail "reload error: $err"
ctl status
printf '%s\n' "$out" | grep -Eq "^last_reload +[0-9T:-]+Z failed: .*bogus_key" || fail "status after a failed reload: $out"
ctl status --json
printf '%s\n' "$out" | jq -e '.last_reload.ok == false and (.last_reload.error | test("bogus_key")) and
	.reloads.failed == 1' >/dev/null || fail "status --json after a failed reload: $out"
cp "$tmp/good.conf" "$tmp/proxy.conf"

step "metrics.port changed: the endpoint moves on reload, and reload says so"
new_port=$(free_tcp_port)
conf "$new_port" "$ctl_sock"
ctl reload
expect_rc 0
[ "$out" = "reloaded; metrics endpoint moved to 127.0.0.1 port $new_port" ] || fail "reload: '$out'"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$new_port/healthz") || true
[ "$code" = 200 ] || fail "nothing answers on the new metrics port $new_port ($code)"
curl -s --max-time 5 "http://127.0.0.1:$metrics_port/healthz" >/dev/null &&
	fail "the old metrics port $metrics_port still answers"

step "control.socket changed: reload says a restart is needed (and the log warns)"
conf "$new_port" "$tmp/run/other.sock"
ctl reload
expect_rc 0
printf '%s\n' "$out" | grep -q "^reloaded; control.socket changed: restart coaps-proxyd to apply it (still $ctl_sock)\$" ||
	fail "reload: '$out'"
wait_log "warning event=reload-restart-needed key=control.socket"
ctl --json reload
printf '%s\n' "$out" | jq -e '.result == "reloaded" and (.message | test("restart"))' >/dev/null ||
	fail "reload --json: $out"
ctl status
expect_rc 0
printf '%s\n' "$out" | grep -Eq "^last_reload +.* ok: control.socket changed" || fail "status: $out"

stop_proxy
echo "PASS"
