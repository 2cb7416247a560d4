#!/bin/sh
# SIGHUP reload: new identities work without dropping live sessions, a removed identity's
# session closes with credentials-revoked, a broken file keeps the old configuration.
. "${srcdir:-.}/tests/config/lib.sh"

start_coap_server
conf() {
	write_conf "$tmp/proxy.conf"
}
conf <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; },
        { identity = "dev-42"; key = "secret42"; } );
CONF
start_proxy "$tmp/proxy.conf"
pid=$(cat "$tmp/proxy.pid")

# Opens a long-lived s_client PSK session named $1 with identity $2 and text key $3.
live() {
	mkfifo "$tmp/$1.in"
	openssl s_client -dtls1_2 -connect "127.0.0.1:$proxy_port" -psk "$(printf %s "$3" | od -An -tx1 | tr -d ' \n')" \
		-psk_identity "$2" -cipher PSK-AES128-CCM8:@SECLEVEL=0 <"$tmp/$1.in" >"$tmp/$1.out" 2>&1 &
	echo $! >"$tmp/$1.pid"
	bg_names="$bg_names $1"
	eval "exec $4>\"$tmp/$1.in\""
}
get() {
	client coap-client-openssl 5 -m get -u "$1" -k "$2" "coaps://127.0.0.1:$proxy_port/time"
}

step "two live sessions"
live a my_identity secretPSK123 3
live b dev-42 secret42 4
wait_log 'event=handshake-ok .*identity="my_identity"'
wait_log 'event=handshake-ok .*identity="dev-42"'
get new-dev newkey >/dev/null 2>&1 || true
wait_log 'reason="unknown PSK identity .new-dev.'

step "reload: add new-dev, drop dev-42"
conf <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; },
        { identity = "new-dev"; key = "newkey"; } );
CONF
kill -HUP "$pid"
wait_log 'event=reloaded .*psk_identities=2 .*credentials_revoked=1'
wait_log 'event=session-closed .*identity="dev-42" .*reason="credentials-revoked"'
[ "$(log_count 'event=session-closed .*identity="my_identity"')" = 0 ] || fail "my_identity's session was dropped"
out=$(get new-dev newkey) || fail "new identity does not work after reload"
[ -n "$out" ] || fail "new identity got no answer"

step "a broken file keeps the old configuration, with file and line in the log"
cp "$tmp/proxy.conf" "$tmp/good.conf"
printf 'psk = ( { identity = "x"; key_hex = "nothex"; } );\nfrobnicate = 1;\n' >>"$tmp/proxy.conf"
kill -HUP "$pid"
wait_log "event=reload-failed .*reason=\"$tmp/proxy.conf:[0-9]+: "
out=$(get new-dev newkey) || fail "old configuration lost after a failed reload"
[ "$(log_count 'event=session-closed .*identity="my_identity"')" = 0 ] || fail "my_identity's session was dropped"

step "a changed key revokes that identity's session"
sed 's/secretPSK123/otherkey/' "$tmp/good.conf" >"$tmp/proxy.conf"
kill -HUP "$pid"
wait_log 'event=session-closed .*identity="my_identity" .*reason="credentials-revoked"'
stop_proxy
echo PASS
