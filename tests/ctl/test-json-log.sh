#!/bin/sh
# log.json_file: one JSON object per event with the session fields; SIGUSR1 reopens it.
. "${srcdir:-.}/tests/ctl/lib.sh"
command -v jq >/dev/null || skip "jq missing (apt-get install jq)"

make_certs
start_coap_server
write_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "::1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "dev-42"; key = "secret42"; } );
x509 = { certificate = "@CERTS@/server-cert.pem"; private_key = "@CERTS@/server-key.pem";
         client_ca = "@CERTS@/ca-cert.pem"; };
log = { json_file = "sessions.jsonl"; };
CONF
start_proxy "$tmp/proxy.conf"
json=$tmp/sessions.jsonl

step "a PSK and an X.509 session"
client coap-client-openssl 5 -m get -u dev-42 -k secret42 "coaps://[::1]:$proxy_port/time" >/dev/null ||
	fail "PSK GET failed"
client coap-client-openssl 5 -m get -j "$certs/client-key.pem" -c "$certs/client-cert.pem" \
	-R "$certs/ca-cert.pem" "coaps://[::1]:$proxy_port/time" >/dev/null || fail "X.509 GET failed"
wait_log 'event=session-closed .*identity="client"'

step "every line parses; the events carry their fields"
jq -e . "$json" >/dev/null || fail "not valid JSON lines: $(cat "$json")"
jq -e -s 'map(select(.event == "handshake-ok" and .identity == "dev-42"
	and .cipher == "TLS-PSK-WITH-AES-128-CCM-8" and (.duration_ms | type) == "number"
	and (.session | test("^[0-9a-f]{8}$")) and (.peer | startswith("[::1]:"))
	and (.ts | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z$")))) | length == 1' "$json" >/dev/null ||
	fail "no PSK handshake-ok with its fields"
jq -e -s 'map(select(.event == "session-closed" and .identity == "dev-42" and .reason == "close_notify"
	and .bytes_in > 0 and .bytes_out > 0 and .msgs_in == 1 and .msgs_out == 1)) | length == 1' "$json" >/dev/null ||
	fail "no PSK session-closed with its counters"
jq -e -s 'map(select(.event == "client-cert" and .depth == 0 and .subject == "client"
	and .issuer == "TestCA" and (.valid_until | test("Z$")))) | length == 1' "$json" >/dev/null ||
	fail "no client-cert event with certificate fields"
jq -e -s 'map(select(.event == "handshake-ok" and .identity == "client"
	and .cipher == "TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8")) | length == 1' "$json" >/dev/null ||
	fail "no X.509 handshake-ok"
jq -e -s 'map(select(.event == "cookie-sent")) | length >= 2' "$json" >/dev/null || fail "no cookie-sent"

step "SIGUSR1 reopens the file after logrotate moved it"
mv "$json" "$json.1"
kill -USR1 "$(cat "$tmp/proxy.pid")"
wait_log 'event=log-reopened'
client coap-client-openssl 5 -m get -u dev-42 -k secret42 "coaps://[::1]:$proxy_port/time" >/dev/null ||
	fail "GET after reopen failed"
i=0
while ! grep -q '"event":"session-closed"' "$json" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
jq -e -s 'map(select(.event == "handshake-ok")) | length == 1' "$json" >/dev/null || fail "new file lacks the new session"
[ "$(grep -c handshake-ok "$json.1")" = 2 ] || fail "old file changed after the reopen"
stop_proxy
echo PASS
