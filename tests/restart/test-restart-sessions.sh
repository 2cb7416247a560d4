#!/bin/sh
# Sessions survive a clean restart (issue 14): SIGTERM saves the established
# sessions to session.state_file (mode 0600, no close_notify to the devices),
# the next start restores them and deletes the file, and the same DTLS session
# goes on without a handshake; its records continue the sequence numbers; an
# Observe relation keeps delivering notifications; a certificate session too
# (coaps-proxyctl show keeps its certificate). A crash leaves no state; a
# corrupt state is refused with the reason; a PSK identity the new
# configuration removed, or whose key it changed, ends with credentials-revoked.
. "${srcdir:-.}/tests/lib/harness.sh"

mkdir -m 700 "$tmp/state"
ctl_sock=$tmp/ctl.sock
state=$tmp/state/sessions.state

# A CON request for /$2 with MID 0x$1 and a one-byte token (the MID's low byte).
req() {
	printf '41 01 %s %s %s b%x %s' "$(echo "$1" | cut -c1-2)" "$(echo "$1" | cut -c3-4)" \
		"$(echo "$1" | cut -c3-4)" "${#2}" "$(hexstr "$2")"
}

# Writes the configuration; $1: the PSK lines (default all four identities).
conf() {
	write_fw_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "be"; address = "127.0.0.1"; port = @BACKEND@; } );
${1:-@PSKS@}
session = { state_file = "$state"; };
control = { socket = "$ctl_sock"; };
CONF
}

# Tells whether background process $1 printed a line matching the ERE $2.
printed() {
	grep -Eq "$2" "$tmp/$1.out"
}

# Stops the proxy with SIGTERM and keeps its log as $tmp/$1.log.
restart_stop() {
	stop_proxy
	cp "$proxy_log" "$tmp/$1.log"
}

# Tells whether the observer printed at least $1 notifications since its first "until"
# (the restart); without $1 prints how many.
notes_after_restart() {
	n=$(sed -n '/^until /,$p' "$tmp/obs.out" | grep -c '^recv .*opts=6:' || true)
	[ -n "${1:-}" ] || echo "$n"
	[ "$n" -ge "${1:-0}" ]
}

# The largest record sequence number in the "recv" lines of $1 (stdin), or -1.
max_seq() {
	sed -n 's/^recv .* seq=\([0-9]*\).*/\1/p' | sort -n | tail -n 1 | grep . || echo -1
}

start_backend
conf
start_proxy "$tmp/proxy.conf"

step "a clean stop saves the session (mode 0600, no close_notify) and the next start restores it"
start_bg dev "$send_tool" -S -p "$proxy_port" -w 1000 "$(req 0101 before)" "until:$tmp/go1" \
	"$(req 0102 after)"
wait_for 100 printed dev '^recv .*mid=0x0101' || fail "no answer before the restart"
restart_stop first
grep -q 'event=sessions-saved count=1 ' "$tmp/first.log" || fail "no sessions-saved count=1"
grep -Eq 'session-closed.*reason="?saved for the next start' "$tmp/first.log" ||
	fail "the saved session did not end as saved"
test -f "$state" || fail "no state file after a clean stop"
[ "$(stat -c %a "$state")" = 600 ] || fail "state file mode $(stat -c %a "$state"), not 600"
printed dev 'closed by peer' && fail "the device got a close_notify"
start_proxy "$tmp/proxy.conf"
wait_log 'event=sessions-restored count=1 dropped=0'
test -e "$state" && fail "the state file is still there after the start"
ctl sessions
expect_rc 0
echo "$out" | grep -q 'restored' || fail "coaps-proxyctl sessions does not say restored: $out"
touch "$tmp/go1"
wait_for 300 bg_gone dev || fail "the device's client did not finish"
ctl sessions
echo "$out" | grep -q 'restored' && fail "still restored after its first record: $out"
printed dev '^recv .*code=2\.05 mid=0x0102' || fail "no answer after the restart"
log_has 'handshake-start' 1 && fail "a handshake after the restart"
before=$(sed -n '1,/^until /p' "$tmp/dev.out" | max_seq)
after=$(sed -n '/^until /,$p' "$tmp/dev.out" | max_seq)
[ "$before" -ge 0 ] && [ "$after" -gt "$before" ] ||
	fail "sequence numbers: $before before the restart, $after after"
echo "record sequence: $before before the restart, $after after"

step "a session whose device has sent no record since its handshake is saved and goes on too"
start_bg quiet "$send_tool" -S -p "$proxy_port" -w 1000 "until:$tmp/go2" "$(req 0201 quiet)"
wait_for 100 printed quiet '^handshake ok' || fail "the quiet device's handshake did not finish"
restart_stop quiet-stop
grep -q 'event=sessions-saved count=1 ' "$tmp/quiet-stop.log" ||
	fail "the quiet session was not saved: $(grep 'sessions-saved\|not saved' "$tmp/quiet-stop.log")"
start_proxy "$tmp/proxy.conf"
wait_log 'event=sessions-restored count=1 dropped=0'
touch "$tmp/go2"
wait_for 300 bg_gone quiet || fail "the quiet device's client did not finish"
printed quiet '^recv .*code=2\.05 mid=0x0201' || fail "no answer for the quiet device after the restart"
log_has 'handshake-start' 1 && fail "a handshake after the restart"

step "a session idle longer than session.idle_timeout when the daemon starts again is not restored"
start_bg idle "$send_tool" -p "$proxy_port" -w 1000 "$(req 0251 idle)" "until:$tmp/go3"
wait_for 100 printed idle '^recv .*mid=0x0251' || fail "no answer before the stop"
restart_stop idle-stop
grep -q 'event=sessions-saved count=1 ' "$tmp/idle-stop.log" || fail "the idle session was not saved"
sleep 2
sed -i 's/^session = { /session = { idle_timeout = 1; /' "$tmp/proxy.conf"
start_proxy "$tmp/proxy.conf"
wait_log 'event=sessions-restored count=0 dropped=1 idle=1 '
wait_log 'event=session-not-restored session=[0-9a-f]+ peer=127\.0\.0\.1:[0-9]+ reason=idle'
touch "$tmp/go3"
wait_for 300 bg_gone idle || fail "the idle device's client did not finish"
restart_stop idle-end
conf
start_proxy "$tmp/proxy.conf"

if grep -q '^#define HAVE_MBEDTLS_CID 1' config.h; then
	step "a Connection ID session: after the restart a record from a new port finds it by its CID"
	start_bg cid "$send_tool" -c -p "$proxy_port" -w 1000 "$(req 0111 c1)" "until:$tmp/go3" \
		rebind "$(req 0112 c2)"
	wait_for 100 printed cid '^recv .*mid=0x0111' || fail "no answer before the restart (CID)"
	printed cid 'cid=none' && fail "no CID negotiated"
	restart_stop cidstop
	grep -q 'event=sessions-saved count=1 ' "$tmp/cidstop.log" || fail "the CID session was not saved"
	start_proxy "$tmp/proxy.conf"
	wait_log 'event=sessions-restored count=1 dropped=0'
	touch "$tmp/go3"
	wait_for 300 bg_gone cid || fail "the CID client did not finish"
	printed cid '^recv .*code=2\.05 mid=0x0112' || fail "no answer at the new port after the restart"
	log_has 'handshake-start' 1 && fail "a handshake after the restart (CID)"
	wait_log 'peer-address-changed'
else
	echo "(no Connection IDs in this mbedTLS: the CID step is left out)"
fi

step "an Observe relation goes on: the backend's notifications reach the device after the restart"
stop_bg backend
start_bg backend "$tools/coap-test-backend" -A 127.0.0.1 -p "$backend_port" -m observe -d 400 \
	-c "$tmp/backend.count"
wait_listen backend >/dev/null
obs=$(printf '41 01 02 01 01 60 53 %s' "$(hexstr obs)")
start_bg obs "$send_tool" -a -p "$proxy_port" -w 1500 "$obs" "until:$tmp/go2" wait:3000 \
	"until:$tmp/go2b"
wait_for 100 printed obs '^recv .*opts=6:' || fail "no Observe response before the restart"
restart_stop second
grep -q 'event=sessions-saved count=1 ' "$tmp/second.log" || fail "the observer was not saved"
start_proxy "$tmp/proxy.conf"
wait_log 'event=sessions-restored count=1 dropped=0'
n0=$(grep -c '^recv .*opts=6:' "$tmp/obs.out")
touch "$tmp/go2"
wait_for 300 notes_after_restart 2 ||
	fail "$(notes_after_restart) notifications after the restart ($n0 before)"
# Checked while the observer is still there: its close_notify ends the session, and the
# next notification is then rightly answered with an RST that cancels the relation.
grep -q 'observe-cancel' "$tmp/backend.out" && fail "the backend's Observe relation was cancelled"
touch "$tmp/go2b"
wait_for 300 bg_gone obs || fail "the observer's client did not finish"
echo "notifications: $n0 before the restart, $(notes_after_restart) after"
restart_stop third

step "a crash (SIGKILL) leaves no state: the next start is empty"
rm -f "$state"
start_proxy "$tmp/proxy.conf"
out=$(coaps_send -w 800 "$(req 0301 crash)")
echo "$out" | grep -q 'mid=0x0301' || fail "no answer before the crash: $out"
kill -KILL "$(cat "$tmp/proxy.pid")"
wait_for 50 bg_gone proxy || fail "the proxy did not die"
test -e "$state" && fail "a state file after SIGKILL"
start_proxy "$tmp/proxy.conf"
log_has 'sessions-restored' 1 && fail "sessions restored after a crash"
restart_stop fourth

step "a corrupt state is refused with the reason and deleted; the daemon starts empty"
printf 'COAPSPXS\000\001\000\001garbage' >"$state"
chmod 600 "$state"
start_proxy "$tmp/proxy.conf"
wait_log 'event=sessions-restored count=0 dropped=0 source=file reason="truncated'
test -e "$state" && fail "the corrupt state file is still there"
out=$(coaps_send -w 800 "$(req 0401 fresh)")
echo "$out" | grep -q 'mid=0x0401' || fail "no answer after a refused state: $out"
restart_stop fifth

step "a state file others may read is refused"
start_proxy "$tmp/proxy.conf"
start_bg dev2 "$send_tool" -p "$proxy_port" -w 800 "$(req 0501 a)" wait:100
wait_for 100 printed dev2 '^recv .*mid=0x0501' || fail "no answer"
restart_stop sixth
chmod 644 "$state"
start_proxy "$tmp/proxy.conf"
wait_log 'event=sessions-restored count=0 dropped=0 source=file reason=".*must be 0600'
test -e "$state" && fail "the refused state file is still there"
restart_stop seventh

step "a PSK identity the new configuration removed: credentials-revoked at restore"
start_proxy "$tmp/proxy.conf"
start_bg dev3 "$send_tool" -u sensor-1 -k sensorKey1 -p "$proxy_port" -w 800 "$(req 0601 a)" wait:100
wait_for 100 printed dev3 '^recv .*mid=0x0601' || fail "no answer for sensor-1"
restart_stop eighth
grep -q 'event=sessions-saved count=1 ' "$tmp/eighth.log" || fail "sensor-1 was not saved"
conf 'psk = ( { identity = "my_identity"; key = "secretPSK123"; } );'
start_proxy "$tmp/proxy.conf"
wait_log 'event=sessions-restored count=0 dropped=1 idle=0 credentials_revoked=1'
wait_log 'session-closed.*credentials-revoked'
restart_stop ninth

step "a PSK key the new configuration changed: credentials-revoked at restore"
conf
start_proxy "$tmp/proxy.conf"
start_bg dev4 "$send_tool" -u sensor-2 -k sensorKey2 -p "$proxy_port" -w 800 "$(req 0701 a)" wait:100
wait_for 100 printed dev4 '^recv .*mid=0x0701' || fail "no answer for sensor-2"
restart_stop tenth
grep -q 'event=sessions-saved count=1 ' "$tmp/tenth.log" || fail "sensor-2 was not saved"
conf 'psk = ( { identity = "sensor-2"; key = "anotherKey2"; } );'
start_proxy "$tmp/proxy.conf"
wait_log 'event=sessions-restored count=0 dropped=1 idle=0 credentials_revoked=1'
wait_log 'event=session-not-restored .*reason=credentials-revoked'
stop_proxy

step "a configuration without session.state_file: the harness' daemons save in \$tmp, nowhere else"
write_fw_conf "$tmp/default.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "be"; address = "127.0.0.1"; port = @BACKEND@; } );
@PSKS@
control = { socket = "$ctl_sock"; };
CONF
start_proxy "$tmp/default.conf"
start_bg dev5 "$send_tool" -p "$proxy_port" -w 800 "$(req 0801 a)" wait:100
wait_for 100 printed dev5 '^recv .*mid=0x0801' || fail "no answer"
restart_stop eleventh
case ${STATE_DIRECTORY:-} in
"$tmp"/*) ;;
*) fail "the harness does not give its daemons a STATE_DIRECTORY in \$tmp: '${STATE_DIRECTORY:-}'" ;;
esac
grep -q 'event=sessions-saved count=1 .*where=file' "$tmp/eleventh.log" ||
	fail "the session was not saved to a file: $(grep sessions-saved "$tmp/eleventh.log")"
test -f "$STATE_DIRECTORY/sessions.state" || fail "no $STATE_DIRECTORY/sessions.state"
start_proxy "$tmp/default.conf"
wait_log 'event=sessions-restored count=1 dropped=0 .*source=file'
test -e "$STATE_DIRECTORY/sessions.state" && fail "the state file is still there after the start"
stop_proxy

step "a certificate session (ECDHE-ECDSA, client certificate) goes on after the restart; show keeps the certificate"
make_certs
write_fw_conf "$tmp/x509.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "be"; address = "127.0.0.1"; port = @BACKEND@; } );
@PSKS@
x509 = { certificate = "@CERTS@/server-cert.pem"; private_key = "@CERTS@/server-key.pem";
         client_ca = "@CERTS@/ca-cert.pem"; verify_client = "required"; };
session = { state_file = "$state"; };
control = { socket = "$ctl_sock"; };
CONF
start_proxy "$tmp/x509.conf"
start_bg x5 "$send_tool" -C "$certs/client-cert.pem" -K "$certs/client-key.pem" \
	-A "$certs/ca-cert.pem" -S -p "$proxy_port" -w 1000 "$(req 0901 x1)" "until:$tmp/go4" \
	"$(req 0902 x2)"
wait_for 100 printed x5 '^recv .*mid=0x0901' || fail "no answer before the restart (certificate)"
printed x5 'cipher=TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8' || fail "not an ECDHE-ECDSA session"
xid=$(session_of 'event=handshake-ok .*auth=x509 identity="client"')
[ -n "$xid" ] || fail "no certificate handshake logged"
restart_stop twelfth
grep -q 'event=sessions-saved count=1 ' "$tmp/twelfth.log" || fail "the certificate session was not saved"
start_proxy "$tmp/x509.conf"
wait_log 'event=sessions-restored count=1 dropped=0'
ctl show "$xid"
expect_rc 0
printf '%s\n' "$out" | grep -q '^auth *x509$' || fail "show after the restart: $out"
printf '%s\n' "$out" | grep -q '^cert_subject .*CN=client' ||
	fail "show after the restart has no client certificate: $out"
touch "$tmp/go4"
wait_for 300 bg_gone x5 || fail "the certificate client did not finish"
printed x5 '^recv .*code=2\.05 mid=0x0902' || fail "no answer after the restart (certificate)"
log_has 'handshake-start' 1 && fail "a handshake after the restart (certificate)"
before=$(sed -n '1,/^until /p' "$tmp/x5.out" | max_seq)
after=$(sed -n '/^until /,$p' "$tmp/x5.out" | max_seq)
[ "$before" -ge 0 ] && [ "$after" -gt "$before" ] ||
	fail "sequence numbers (certificate): $before before the restart, $after after"
stop_proxy
