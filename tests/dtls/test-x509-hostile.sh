#!/bin/sh
# Hostile certificate CNs and PSK identities: no forged log lines, no confusable identities.
. "${srcdir:-.}/tests/lib/harness.sh"
command -v jq >/dev/null || skip "jq missing (apt-get install jq)"

make_certs
sh "$srcdir/certs/gen-hostile-certs.sh" "$certs" || fail "certs/gen-hostile-certs.sh failed"
start_backend
start_bg backend2 "$tools/coap-test-backend" -A 127.0.0.1 -p 0 -m echo -c "$tmp/backend2.count"
backend2_port=$(wait_listen backend2)
write_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; },
             { name = "psk-only"; address = "127.0.0.1"; port = $backend2_port; } );
routes = ( { identity = "psk:my_identity"; backend = "psk-only"; },
           { backend = "default"; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; } );
x509 = { certificate = "@CERTS@/server-cert.pem"; private_key = "@CERTS@/server-key.pem";
         client_ca = "@CERTS@/ca-cert.pem"; verify_client = "required"; };
log = { json_file = "sessions.jsonl"; };
CONF
start_proxy "$tmp/proxy.conf"
json=$tmp/sessions.jsonl
c=$certs

# Runs an s_client handshake with the hostile-$1 client certificate; output on stdout.
hostile_sclient() {
	x509_sclient -CAfile "$c/ca-cert.pem" -cert "$c/hostile-$1-cert.pem" -key "$c/hostile-key.pem"
}
# GETs path $2 with certificate $1 through the proxy; the echo on stdout.
cget() {
	client coap-client-openssl 5 -m get -j "$c/hostile-key.pem" -c "$c/hostile-$1-cert.pem" \
		-R "$c/ca-cert.pem" "coaps://127.0.0.1:$proxy_port$2" 2>&1 || true
}
# Fails unless every line of the proxy's stderr is one whole log line.
lines_whole() {
	bad=$(grep -Evc '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z (error|warning|info|debug) ' \
		"$proxy_log" || true)
	[ "$bad" = 0 ] || fail "$1: $bad log line(s) not starting with a time stamp and a level: $(
		grep -Ev '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z (error|warning|info|debug) ' \
			"$proxy_log" | head -5)"
	jq -e . "$json" >/dev/null || fail "$1: JSON log is not one object per line"
}

step "a CN with a quote and a newline from a fake CA named like the real one: no forged line"
hostile_sclient forge >/dev/null
wait_log "event=handshake-failed .*reason=\"client certificate rejected: bad signature"
lines_whole "bad signature"
grep -q 'identity="admin-1"' "$proxy_log" && fail "a forged identity=\"admin-1\" reached the log"
grep -F "signature on 'evil\\\" x\\x0a2031-01-01T00:00:00.000Z info event=handshake-ok" \
	"$proxy_log" >/dev/null || fail "the reason does not name the subject CN escaped"
jq -e -s 'map(select(.event == "handshake-failed" and (.reason | contains("x\n2031-01-01T")))) |
	length == 1' "$json" >/dev/null || fail "JSON reason does not carry the CN as it is"

step "the same CN from the real CA: accepted, escaped wherever it appears"
out=$(cget quote /q)
echo "$out" | grep -q '^65000 ' || fail "no echo for the quote CN: $out"
wait_log 'event=session-closed .*auth=x509 identity="evil\\" x\\x0a2031'
lines_whole "quote CN"

step "a CN with a NUL inside is refused, with a reason that says so"
hostile_sclient nul >/dev/null
wait_log "event=handshake-failed .*reason=\"client certificate rejected: the subject CN holds a NUL byte"
grep -Eq '^[^ ]+ info event=handshake-ok .*identity="admin-1' "$proxy_log" &&
	fail "a CN with a NUL was cut to admin-1 and accepted"
grep -qF 'event=client-cert session=' "$proxy_log" || fail "no client-cert line"
grep -qF 'subject="admin-1\x00.evil.example"' "$proxy_log" ||
	fail "client-cert line does not show the whole CN with its NUL"

step "CNs over 128 bytes, an empty CN and no CN are refused (no silent cut, no collision)"
hostile_sclient long-a >/dev/null
hostile_sclient long-b >/dev/null
# The line comes when the handshake's completion reaches the loop: maybe after the client left.
long_cn='reason="client certificate rejected: the subject CN is 200 bytes \(at most 128\)'
wait_count "$long_cn" 2
[ "$(log_count "$long_cn")" = 2 ] || fail "long CNs not both refused"
hostile_sclient empty >/dev/null
wait_log 'reason="client certificate rejected: the subject CN is empty'
hostile_sclient nocn >/dev/null
wait_log 'reason="client certificate rejected: the subject has no CN'
[ "$(log_count '^[^ ]+ info event=handshake-ok ')" = 1 ] || fail "a refused certificate got a handshake-ok"

step "CN \"anonymous\" reaches the backend as x509:anonymous, not as the anonymous marker"
out=$(cget anon /anon)
echo "$out" | grep -qx '65000 14 x509:anonymous' || fail "echo does not show x509:anonymous: $out"
wait_log 'event=handshake-ok .*auth=x509 identity="anonymous"'

step "a CN equal to a PSK identity: auth= tells them apart, psk: routes only take the PSK device"
out=$(cget psk /cert-id)
echo "$out" | grep -qx '65000 16 x509:my_identity' || fail "echo does not show x509:my_identity: $out"
grep -q 'path=/cert-id ' "$tmp/backend.out" || fail "certificate my_identity not at the default backend"
grep -q 'path=/cert-id ' "$tmp/backend2.out" && fail "certificate my_identity took the psk: route"
out=$(client coap-client-openssl 5 -m get -u my_identity -k secretPSK123 \
	"coaps://127.0.0.1:$proxy_port/psk-id" 2>&1 || true)
echo "$out" | grep -qx '65000 15 psk:my_identity' || fail "echo does not show psk:my_identity: $out"
grep -q 'path=/psk-id ' "$tmp/backend2.out" || fail "PSK my_identity did not take the psk: route"
wait_log 'event=handshake-ok .*auth=psk identity="my_identity"'
wait_log 'event=handshake-ok .*auth=x509 identity="my_identity"'
jq -e -s 'map(select(.event == "handshake-ok" and .identity == "my_identity")) | map(.auth) | sort ==
	["psk", "x509"]' "$json" >/dev/null || fail "JSON handshake-ok lines do not carry auth"

step "a 200-byte PSK identity is logged with a cut marker"
long=$(printf '%0200d' 0 | tr 0 P)
echo | timeout 10 openssl s_client -dtls1_2 -connect "127.0.0.1:$proxy_port" \
	-cipher PSK-AES128-CCM8:@SECLEVEL=0 -psk_identity "$long" -psk 0102030405 >/dev/null 2>&1 || true
wait_log "reason=\"unknown PSK identity 'P{128}' \(cut at 128 of 200 bytes\)\""
lines_whole "end"
stop_proxy

step "verify_client = optional: the same CN checks after the handshake; no certificate is auth=anonymous"
sed -i 's/verify_client = "required"/verify_client = "optional"/' "$tmp/proxy.conf"
: >"$proxy_log"
start_proxy "$tmp/proxy.conf"
hostile_sclient nul >/dev/null
wait_log "event=handshake-failed .*reason=\"client certificate rejected: the subject CN holds a NUL byte"
echo | timeout 10 openssl s_client -dtls1_2 -connect "127.0.0.1:$proxy_port" \
	-cipher ECDHE-ECDSA-AES128-CCM8:@SECLEVEL=0 -CAfile "$c/ca-cert.pem" >/dev/null 2>&1 || true
wait_log '^[^ ]+ info event=handshake-ok session=[0-9a-f]+ peer=[^ ]+ local=[^ ]+ auth=anonymous cipher='
[ "$(log_count '^[^ ]+ info event=handshake-ok ')" = 1 ] || fail "the NUL CN got a handshake-ok"
lines_whole "optional"
stop_proxy
echo PASS
