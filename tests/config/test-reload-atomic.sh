#!/bin/sh
# A reload applies all of its changes or none: when a new listener cannot be opened,
# the new log.json_file is not switched to either (and not even created).
. "${srcdir:-.}/tests/config/lib.sh"

start_coap_server
conf() {
	write_conf "$tmp/proxy.conf"
}
conf <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "dev-42"; key = "secret42"; } );
log = { json_file = "old.jsonl"; };
CONF
start_proxy "$tmp/proxy.conf"
pid=$(cat "$tmp/proxy.pid")
get() {
	client coap-client-openssl 5 -m get -u dev-42 -k secret42 "coaps://127.0.0.1:$proxy_port/time"
}

step "events go to old.jsonl"
get >/dev/null || fail "GET failed"
wait_log 'event=session-closed .*identity="dev-42"'
grep -q '"event":"handshake-ok"' "$tmp/old.jsonl" || fail "no handshake-ok in old.jsonl"

step "a reload with a new json_file and a listener on a port in use fails as a whole"
# The backend (coap-server-notls) holds 127.0.0.1:$backend_port without SO_REUSEPORT.
conf <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; }, { address = "127.0.0.1"; port = @BACKEND@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "dev-42"; key = "secret42"; } );
log = { json_file = "new.jsonl"; };
CONF
kill -HUP "$pid"
wait_log 'event=reload-failed '
[ ! -e "$tmp/new.jsonl" ] || fail "new.jsonl was created by a failed reload"
before=$(grep -c '"event":"handshake-ok"' "$tmp/old.jsonl")
get >/dev/null || fail "GET failed after the failed reload"
i=0
while [ "$(grep -c '"event":"handshake-ok"' "$tmp/old.jsonl")" = "$before" ]; do
	[ $i -lt 50 ] || fail "the next handshake-ok did not go to old.jsonl (new.jsonl: $(cat "$tmp/new.jsonl" 2>/dev/null))"
	sleep 0.1
	i=$((i + 1))
done
[ ! -s "$tmp/new.jsonl" ] || fail "events went to new.jsonl: $(cat "$tmp/new.jsonl")"

step "the same new json_file with the listener fixed: switched"
conf <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "dev-42"; key = "secret42"; } );
log = { json_file = "new.jsonl"; };
CONF
kill -HUP "$pid"
wait_log 'event=reloaded '
get >/dev/null || fail "GET failed after the reload"
i=0
while ! grep -q '"event":"handshake-ok"' "$tmp/new.jsonl" 2>/dev/null; do
	[ $i -lt 50 ] || fail "no handshake-ok in new.jsonl after a good reload"
	sleep 0.1
	i=$((i + 1))
done
stop_proxy
echo PASS
