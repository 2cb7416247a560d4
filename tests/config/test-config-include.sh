#!/bin/sh
# @include: a relative name is relative to the file that includes it (not to the working
# directory), nested includes work, and errors name the file that was looked for and the
# file and line inside an included file.
. "${srcdir:-.}/tests/config/lib.sh"

etc=$tmp/etc
mkdir -p "$etc/sub"

start_coap_server
write_conf "$etc/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = (
@include "psk.inc"
);
@include "sub/more.inc"
CONF
printf '{ identity = "top"; key = "topkey"; },\n{ identity = "second"; key = "secondkey"; }\n' >"$etc/psk.inc"
# sub/more.inc includes a file next to itself, by a name relative to sub/.
printf '# more settings\n@include "deeper.inc"\n' >"$etc/sub/more.inc"
printf 'session = { idle_timeout = 60; };\n' >"$etc/sub/deeper.inc"
chmod 600 "$etc/proxy.conf" "$etc/psk.inc" "$etc/sub/more.inc" "$etc/sub/deeper.inc"

step "coaps-proxyd -t from /: includes are found next to the including file"
check_config "$etc/proxy.conf"
expect_out 0 "configuration OK"

step "the daemon started from / loads them; PSK devices from the included list connect"
cd /
start_proxy "$etc/proxy.conf"
cd - >/dev/null
for id in top:topkey second:secondkey; do
	out=$(client coap-client-openssl 5 -m get -u "${id%%:*}" -k "${id#*:}" \
		"coaps://127.0.0.1:$proxy_port/time") || fail "GET as ${id%%:*} failed"
	[ -n "$out" ] || fail "GET as ${id%%:*}: no answer"
done
wait_log 'event=handshake-ok .*identity="second"'

step "a reload from / reads the included files again"
printf '{ identity = "third"; key = "thirdkey"; }\n' >"$etc/psk.inc"
kill -HUP "$(cat "$tmp/proxy.pid")"
wait_log 'event=reloaded .*psk_identities=1'
out=$(client coap-client-openssl 5 -m get -u third -k thirdkey \
	"coaps://127.0.0.1:$proxy_port/time") || fail "GET as third after reload failed"
[ -n "$out" ] || fail "GET as third: no answer"
stop_proxy

step "a missing include names the file looked for and the line that includes it"
printf '{ identity = "top"; key = "topkey"; }\n' >"$etc/psk.inc"
printf '# more settings\n@include "nothere.inc"\n' >"$etc/sub/more.inc"
check_config "$etc/proxy.conf"
expect_out 1 "$etc/sub/more.inc:2: @include \"nothere.inc\": $etc/sub/nothere.inc: cannot read: No such file or directory"

step "errors inside a nested include name that file and its line"
printf '# more settings\n@include "deeper.inc"\n' >"$etc/sub/more.inc"
printf 'session = {\n  idle_timeout = 0;\n};\n' >"$etc/sub/deeper.inc"
check_config "$etc/proxy.conf"
expect_out 1 "$etc/sub/deeper.inc:2: session.idle_timeout: 0 is out of range"
printf '\n\nsession = { idle_timeout = ; };\n' >"$etc/sub/deeper.inc"
check_config "$etc/proxy.conf"
expect_out 1 "$etc/sub/deeper.inc:3: (syntax)"
printf '{ identity = "top"; key_hex = "xyz"; }\n' >"$etc/psk.inc"
printf 'session = { idle_timeout = 60; };\n' >"$etc/sub/deeper.inc"
check_config "$etc/proxy.conf"
expect_out 1 "$etc/psk.inc:1: psk[0].key_hex: not valid hex"
printf '{ identity = "top"; key = "topkey"; }\n' >"$etc/psk.inc"
# A setting after the include is still named with its own line of the main file.
printf 'dtls = { mtu = 1; };\n' >>"$etc/proxy.conf"
check_config "$etc/proxy.conf"
expect_out 1 "$etc/proxy.conf:7: dtls.mtu: 1 is out of range"

step "an include loop is an error, not a hang"
printf '@include "../proxy.conf"\n' >"$etc/sub/deeper.inc"
check_config "$etc/proxy.conf"
expect_out 1 "deeper.inc: @include files nested more than 10 deep"
echo PASS
