#!/bin/sh
# Session resumption: tickets and session IDs (OpenSSL, GnuTLS), a shared ticket key file, revocation.
. "${srcdir:-.}/tests/lib/harness.sh"

proxyctl=${PROXYCTL:-./src/coaps-proxyctl}
make_certs
start_coap_server
c=$certs
ctl_sock=$tmp/ctl.sock
head -c 48 /dev/urandom >"$tmp/ticket.key"
chmod 600 "$tmp/ticket.key"
head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/other.key"
chmod 600 "$tmp/other.key"
# Writes $tmp/proxy.conf (port $proxy_port) with extra dtls keys $1 and PSK entries $2.
conf() {
	psks=${2:-'{ identity = "my_identity"; key = "secretPSK123"; }'}
	write_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( $psks );
x509 = { certificate = "@CERTS@/server-cert.pem"; private_key = "@CERTS@/server-key.pem";
         client_ca = "@CERTS@/ca-cert.pem"; verify_client = "optional"; };
dtls = { $1 };
control = { socket = "$ctl_sock"; };
CONF
}
psk_hex=$(printf secretPSK123 | od -An -tx1 | tr -d ' \n')
# openssl s_client with a PSK (CCM-8); extra arguments after; output on stdout.
spsk() {
	echo | timeout 10 openssl s_client -dtls1_2 -connect "127.0.0.1:$proxy_port" \
		-cipher PSK-AES128-CCM8:@SECLEVEL=0 -psk_identity my_identity -psk "$psk_hex" "$@" 2>&1 || true
}
# openssl s_client with a client certificate (ECDHE-ECDSA, CCM-8); extra arguments after.
scert() {
	echo | timeout 10 openssl s_client -dtls1_2 -connect "127.0.0.1:$proxy_port" \
		-cipher ECDHE-ECDSA-AES128-CCM8:@SECLEVEL=0 -CAfile "$c/ca-cert.pem" \
		-cert "$c/client-cert.pem" -key "$c/client-key.pem" "$@" 2>&1 || true
}
# Prints the proxy's handshakes_resumed counter.
resumed_count() {
	timeout 10 "$proxyctl" -s "$ctl_sock" stats | awk '$1 == "handshakes_resumed" {print $2}'
}
# Asserts a first handshake (output $1) was full and wrote a session.
expect_new() {
	echo "$1" | grep -q '^New, ' || fail "first handshake not full: $1"
}
# Asserts s_client output $1 shows a resumed session, and the proxy logged and counted it ($2 = count).
expect_reused() {
	echo "$1" | grep -q '^Reused, ' || fail "not resumed: $1"
	# The client can see Finished before the loop logs the handshake (handshake pool):
	# wait for the $2-th line, not for any (earlier steps already logged some).
	wait_count "event=handshake-ok .*resumed=yes" "$2" 5
	n=$(log_count 'event=handshake-ok .*resumed=yes')
	[ "$n" = "$2" ] || fail "$n resumed=yes lines, want $2"
	m=$(resumed_count)
	[ "$m" = "$2" ] || fail "handshakes_resumed is '$m', want $2"
}

conf "ticket_key_file = \"$tmp/ticket.key\";"
start_proxy "$tmp/proxy.conf"

step "PSK, ticket: -sess_out then -sess_in resumes"
out=$(spsk -sess_out "$tmp/s1")
expect_new "$out"
wait_log 'event=handshake-ok .*identity="my_identity".*resumed=no'
out=$(spsk -sess_in "$tmp/s1")
expect_reused "$out" 1
grep 'resumed=yes' "$proxy_log" | grep -q 'auth=psk identity="my_identity"' ||
	fail "resumed PSK session lost its identity: $(grep resumed=yes "$proxy_log")"

step "PSK, session ID (no ticket) resumes"
out=$(spsk -no_ticket -sess_out "$tmp/s2")
expect_new "$out"
out=$(spsk -no_ticket -sess_in "$tmp/s2")
expect_reused "$out" 2

step "certificate, ticket and session ID resume"
out=$(scert -sess_out "$tmp/c1")
expect_new "$out"
out=$(scert -sess_in "$tmp/c1")
expect_reused "$out" 3
grep 'resumed=yes' "$proxy_log" | tail -1 | grep -q 'auth=x509 identity="client"' ||
	fail "resumed certificate session lost its identity"
out=$(scert -no_ticket -sess_out "$tmp/c2")
expect_new "$out"
out=$(scert -no_ticket -sess_in "$tmp/c2")
expect_reused "$out" 4

if command -v gnutls-cli >/dev/null; then
	step "gnutls-cli --udp --resume (PSK)"
	out=$(timeout 20 gnutls-cli --udp -p "$proxy_port" --resume --pskusername my_identity \
		--pskkey "$psk_hex" \
		--priority 'NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+PSK:+AES-128-CCM-8' \
		127.0.0.1 </dev/null 2>&1) || true
	echo "$out" | grep -q 'This is a resumed session' || fail "gnutls-cli did not resume: $out"
	wait_log "event=handshake-ok .*resumed=yes" 5
fi

step "a ticket from proxy A is accepted by proxy B, running at the same time with the same key file"
out=$(spsk -sess_out "$tmp/s3")
expect_new "$out"
port_a=$proxy_port
proxy_port=$(free_port)
conf "ticket_key_file = \"$tmp/ticket.key\";"
sed "s|$ctl_sock|$tmp/ctlb.sock|" "$tmp/proxy.conf" >"$tmp/proxyb.conf"
start_bg proxyb "$proxyd" -f -c "$tmp/proxyb.conf"
i=0
while ! grep -q 'event=started' "$tmp/proxyb.err"; do
	[ $i -lt 100 ] || fail "proxy B did not start: $(cat "$tmp/proxyb.err")"
	sleep 0.1
	i=$((i + 1))
done
out=$(spsk -sess_in "$tmp/s3")
echo "$out" | grep -q '^Reused, ' || fail "proxy B did not resume proxy A's ticket: $out"
i=0
while ! grep -q 'event=handshake-ok .*identity="my_identity".*resumed=yes' "$tmp/proxyb.err"; do
	[ $i -lt 50 ] || fail "proxy B logged no resumed=yes: $(cat "$tmp/proxyb.err")"
	sleep 0.1
	i=$((i + 1))
done
kill -TERM "$(cat "$tmp/proxyb.pid")"
proxy_port=$port_a
conf "ticket_key_file = \"$tmp/ticket.key\";"

step "... and by proxy A after a restart"
stop_proxy
: >"$proxy_log"
start_proxy "$tmp/proxy.conf"
out=$(spsk -sess_in "$tmp/s3")
expect_reused "$out" 1

step "... and refused (full handshake) by a proxy with another key"
conf "ticket_key_file = \"$tmp/other.key\";"
stop_proxy
: >"$proxy_log"
start_proxy "$tmp/proxy.conf"
out=$(spsk -sess_in "$tmp/s3")
echo "$out" | grep -q '^New, ' || fail "a foreign ticket was accepted: $out"
wait_log 'event=handshake-ok .*resumed=no'
[ "$(log_count 'resumed=yes')" = 0 ] || fail "resumed with another proxy's key"

step "revocation: a reload that removes the PSK identity refuses its ticket and cached session"
out=$(spsk -sess_out "$tmp/r1")
expect_new "$out"
out=$(spsk -no_ticket -sess_out "$tmp/r2")
expect_new "$out"
conf "ticket_key_file = \"$tmp/other.key\";" '{ identity = "someone_else"; key = "secretPSK123"; }'
timeout 10 "$proxyctl" -s "$ctl_sock" reload >/dev/null || fail "reload failed"
for f in r1 r2; do
	out=$(spsk -sess_in "$tmp/$f")
	echo "$out" | grep -q '^Reused, ' && fail "revoked identity resumed ($f): $out"
done
wait_log 'event=resumption-refused session=[0-9a-f]{8} peer=127.0.0.1:[0-9]+ auth=psk identity="[^"]+" offered=ticket reason="its PSK identity is no longer configured"'
wait_log 'event=resumption-refused session=[0-9a-f]{8} peer=127.0.0.1:[0-9]+ auth=psk identity="[^"]+" offered=session-id reason="its PSK identity is no longer configured"'
[ "$(log_count 'resumed=yes')" = 0 ] || fail "a revoked identity resumed"

step "revocation: a client certificate no longer trusted does not resume"
conf "ticket_key_file = \"$tmp/other.key\";"
timeout 10 "$proxyctl" -s "$ctl_sock" reload >/dev/null || fail "reload failed"
out=$(scert -sess_out "$tmp/r3")
expect_new "$out"
sed -i "s|client_ca = \"$c/ca-cert.pem\"|client_ca = \"$c/server-cert.pem\"|" "$tmp/proxy.conf"
grep -q 'server-cert.pem"; verify' "$tmp/proxy.conf" || fail "test config not changed"
timeout 10 "$proxyctl" -s "$ctl_sock" reload >/dev/null || fail "reload with another client_ca failed"
out=$(scert -sess_in "$tmp/r3")
echo "$out" | grep -q '^Reused, ' && fail "untrusted certificate resumed: $out"
wait_log 'event=resumption-refused session=[0-9a-f]{8} peer=127.0.0.1:[0-9]+ auth=x509 offered=ticket reason="its client certificate is no longer trusted'

step "session_tickets = false: no ticket is issued"
conf "session_tickets = false; session_cache = 0;"
timeout 10 "$proxyctl" -s "$ctl_sock" reload >/dev/null || fail "reload failed"
sleep 0.5
out=$(spsk -sess_out "$tmp/t1")
expect_new "$out"
echo "$out" | grep -q 'TLS session ticket:' && fail "a ticket was issued: $out"
out=$(spsk -sess_in "$tmp/t1")
echo "$out" | grep -q '^Reused, ' && fail "resumed with tickets and cache off: $out"

stop_proxy

step "ticket_key_file: world-writable refused, too short refused, readable warned about"
chmod 666 "$tmp/other.key"
conf "ticket_key_file = \"$tmp/other.key\";"
out=$("$proxyd" -t -c "$tmp/proxy.conf" 2>&1) && fail "a world-writable key file was accepted"
echo "$out" | grep -q 'world-writable' || fail "no world-writable complaint: $out"
chmod 644 "$tmp/other.key"
out=$("$proxyd" -t -c "$tmp/proxy.conf" 2>&1) || fail "a readable key file was refused: $out"
echo "$out" | grep -q 'other.key: the private key is readable' || fail "no warning for a readable key file: $out"
printf 'abc' >"$tmp/short.key"
chmod 600 "$tmp/short.key"
conf "ticket_key_file = \"$tmp/short.key\";"
out=$("$proxyd" -t -c "$tmp/proxy.conf" 2>&1) && fail "a 3-byte key file was accepted"
echo "$out" | grep -q 'must hold 32 to 2048 bytes' || fail "no length complaint: $out"
echo "PASS"
