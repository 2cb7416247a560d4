#!/bin/sh
# One device's story in one place: identity= and auth= on failed handshakes
# too (text, JSON, coaps-proxyctl), failures at warning, the JSON log whatever
# log.level says, and the documented grep and jq commands find a failed and a
# successful handshake of one device.
. "${srcdir:-.}/tests/ctl/lib.sh"
command -v jq >/dev/null || skip "jq missing (apt-get install jq)"
command -v coap-client-gnutls >/dev/null || skip "coap-client-gnutls missing (apt-get install libcoap3-bin)"

json=$tmp/sessions.jsonl
start_coap_server
# Writes the proxy config with log.level = $1.
story_conf() {
	write_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "thermo-01"; key = "thermoKey1"; },
        { identity = "other-7"; key = "otherKey7"; } );
control = { socket = "$ctl_sock"; };
log = { level = "$1"; json_file = "$json"; };
CONF
}
story_conf info
start_proxy "$tmp/proxy.conf"
url="coaps://127.0.0.1:$proxy_port/time"

# Runs a command line taken from the documentation with dev-42 replaced by
# thermo-01 and the documented file names by ours; prints its output.
run_doc() {
	cmd=$(printf '%s\n' "$1" | sed -e 's/\\-/-/g' -e 's/\\e/\\/g' -e 's/dev-42/thermo-01/g' \
		-e "s|@localstatedir@/log/coaps-proxy/sessions.jsonl|$json|g" \
		-e "s|/var/log/coaps-proxy/sessions.jsonl|$json|g" \
		-e "s|^coaps-proxyctl |$proxyctl -s $ctl_sock |" \
		-e "s|^journalctl -u coaps-proxyd -g |grep |")
	echo "\$ $cmd" >&2
	sh -c "$cmd" 2>&1 || true
}

# Prints the first line of file $1 (relative to the source tree) that holds the fixed string $2.
doc_line() {
	l=$(grep -F -- "$2" "$srcdir/$1" | head -n 1)
	[ -n "$l" ] || fail "$1 has no line with: $2"
	printf '%s\n' "$l"
}

step "log.level = info: a wrong key for thermo-01 is logged at warning with identity= and auth="
client coap-client-gnutls 2 -m get -u thermo-01 -k wrongKey "$url" >/dev/null 2>&1 || true
wait_log '^[^ ]* warning event=handshake-failed session=[0-9a-f]{8} peer=[^ ]+ local=[^ ]+ auth=psk identity="thermo-01" .*reason="wrong key for PSK identity '"'thermo-01'"
wait_log '^[^ ]* info event=session-closed .*auth=psk identity="thermo-01" .*reason="handshake failed"'

step "an unknown PSK identity is named, escaped, in identity="
client coap-client-openssl 2 -m get -u 'ghost"x' -k thermoKey1 "$url" >/dev/null 2>&1 || true
wait_log ' warning event=handshake-failed .*auth=psk identity="ghost\\"x" .*reason="unknown PSK identity '

step "a successful handshake of the same device"
client coap-client-openssl 5 -m get -u thermo-01 -k thermoKey1 "$url" >/dev/null || fail "GET failed"
wait_log ' info event=session-closed .*identity="thermo-01" .*reason="close_notify"'

step "README's and coaps-proxyd(8)'s grep finds the failure and the success"
# README: Find a device's history with `grep 'identity="dev-42"'`
readme_grep=$(doc_line README.md "history with \`grep 'identity=" | sed -e "s/.*history with \`\\(grep '[^']*'\\)\`.*/\\1/")
out=$(run_doc "$readme_grep $proxy_log")
printf '%s\n' "$out" | grep -q 'event=handshake-failed .*reason="wrong key' || fail "README grep: no failure in: $out"
printf '%s\n' "$out" | grep -q 'event=handshake-ok ' || fail "README grep: no success in: $out"
printf '%s\n' "$out" | grep -q 'ghost' && fail "README grep: another device's lines: $out"
man_grep=$(doc_line man/coaps-proxyd.8.in "journalctl -u coaps-proxyd -g 'identity=")
out=$(run_doc "$man_grep $proxy_log")
printf '%s\n' "$out" | grep -q 'event=handshake-failed ' || fail "man grep: no failure in: $out"
printf '%s\n' "$out" | grep -q 'event=handshake-ok ' || fail "man grep: no success in: $out"

step "log.level = warning: failures still at warning, info events only in the JSON log"
story_conf warning
ctl reload
expect_rc 0
before_ok=$(log_count 'event=handshake-ok')
client coap-client-gnutls 2 -m get -u thermo-01 -k wrongKey2 "$url" >/dev/null 2>&1 || true
i=0
while [ "$(log_count 'warning event=handshake-failed .*identity="thermo-01"')" -lt 2 ]; do
	[ $i -lt 100 ] || fail "the second wrong-key failure is not logged at log.level = warning"
	sleep 0.1
	i=$((i + 1))
done
client coap-client-openssl 5 -m get -u thermo-01 -k thermoKey1 "$url" >/dev/null || fail "GET failed"
i=0
while [ "$(jq -c 'select(.event == "session-closed" and .identity == "thermo-01" and .reason == "close_notify")' "$json" | wc -l)" -lt 2 ]; do
	[ $i -lt 100 ] || fail "the JSON log misses the session-closed at log.level = warning: $(cat "$json")"
	sleep 0.1
	i=$((i + 1))
done
[ "$(log_count 'event=handshake-ok')" = "$before_ok" ] || fail "info lines in the text log at log.level = warning"
jq -e -s 'map(select(.event == "handshake-ok" and .auth == "psk" and .identity == "thermo-01"
	and .level == "info")) | length == 2' "$json" >/dev/null ||
	fail "the JSON log does not have both handshake-ok events: $(cat "$json")"
jq -e -s 'map(select(.event == "handshake-failed" and .auth == "psk" and .identity == "thermo-01"
	and .level == "warning")) | length == 2' "$json" >/dev/null ||
	fail "the JSON log does not have both failures with identity and auth: $(cat "$json")"

step "coaps-proxyd(8)'s jq on the JSON log finds the failure and the success"
man_jq=$(doc_line man/coaps-proxyd.8.in "jq -c 'select(.identity ==")
out=$(run_doc "$man_jq")
printf '%s\n' "$out" | grep -q '"event":"handshake-failed"' || fail "man jq: no failure in: $out"
printf '%s\n' "$out" | grep -q '"event":"handshake-ok"' || fail "man jq: no success in: $out"
printf '%s\n' "$out" | grep -q 'ghost' && fail "man jq: another device's lines: $out"

step "coaps-proxyctl: auth and identity apart, the documented jq finds the device"
sclient s1 20 thermo-01 thermoKey1
sclient s2 20 other-7 otherKey7
i=0
while [ "$(jq -c 'select(.event == "handshake-ok")' "$json" | wc -l)" -lt 4 ]; do
	[ $i -lt 100 ] || fail "the s_client sessions did not start: $(cat "$json")"
	sleep 0.1
	i=$((i + 1))
done
ctl sessions
expect_rc 0
printf "%s\n" "$out" | head -1 | grep -Eq '^ID +PEER +AUTH +IDENTITY +CIPHER +STATE ' || fail "bad header: $out"
printf "%s\n" "$out" | grep -Eq '^[0-9a-f]{8} +127\.0\.0\.1:[0-9]+ +psk +thermo-01 +TLS-PSK-WITH-AES-128-CCM-8 +established ' ||
	fail "thermo-01 not listed with auth and identity apart: $out"
ctl_jq=$(doc_line man/coaps-proxyctl.1.in "coaps-proxyctl sessions \\-\\-json | jq")
out=$(run_doc "$ctl_jq")
id=$(printf '%s\n' "$out" | jq -er 'select(.auth == "psk" and .identity == "thermo-01") | .id') ||
	fail "coaps-proxyctl(1)'s jq example finds nothing: $out"
ctl show "$id"
expect_rc 0
printf "%s\n" "$out" | grep -q '^auth *psk$' || fail "show has no auth line: $out"
printf "%s\n" "$out" | grep -q '^identity *thermo-01$' || fail "show has no bare identity: $out"

step "close --identity matches like routes: x509: never a PSK session, psk: and a bare glob do"
ctl close --identity 'x509:thermo-*'
expect_rc 0
ctl sessions --json
printf "%s\n" "$out" | jq -e '[.[] | select(.identity == "thermo-01")] | length == 1' >/dev/null ||
	fail "x509:thermo-* closed the PSK session: $out"
ctl close --identity 'psk:thermo-*'
expect_rc 0
ctl close --identity 'other-*'
expect_rc 0
ctl sessions --json
printf "%s\n" "$out" | jq -e 'length == 0' >/dev/null || fail "sessions left after close --identity: $out"
stop_proxy
echo PASS
