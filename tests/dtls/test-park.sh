#!/bin/sh
# Parking: idle PSK and X.509 sessions are parked (DTLS state saved, context freed) and
# restored by the next request or by an Observe notification that arrives while parked.
. "${srcdir:-.}/tests/lib/harness.sh"

make_certs
start_backend echo
echo_port=$backend_port
start_bg obs "$tools/coap-test-backend" -A 127.0.0.1 -p 0 -m observe -d 2500
obs_port=$(wait_listen obs)
sock=$tmp/control.sock
write_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "echo"; address = "127.0.0.1"; port = $echo_port; },
             { name = "obs"; address = "127.0.0.1"; port = $obs_port; } );
routes = ( { path_prefix = "/obs"; backend = "obs"; }, { backend = "echo"; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; } );
x509 = { certificate = "@CERTS@/server-cert.pem"; private_key = "@CERTS@/server-key.pem";
         client_ca = "@CERTS@/ca-cert.pem"; };
session = { park_after = 1; };
control = { socket = "$sock"; };
CONF
start_proxy "$tmp/proxy.conf"
ctl=./src/coaps-proxyctl
# Prints one counter of `coaps-proxyctl stats --json`.
stat() {
	"$ctl" -s "$sock" stats --json | jq -r ".$1"
}

step "PSK: a request, 2.5 s idle (parked), a second request on the same session"
out=$(timeout 30 ./tests/tools/robust-client --server "127.0.0.1:$proxy_port" \
	--psk my_identity:secretPSK123 --hold-ms 2500) || fail "PSK client: $out"
[ "$(echo "$out" | grep -c '^answer .*code=2.05')" = 2 ] || fail "PSK: two answers wanted: $out"
[ "$(stat parked_total)" -ge 1 ] || fail "the PSK session was not parked"
[ "$(stat unparked_total)" -ge 1 ] || fail "the PSK session was not restored"

step "X.509 with a client certificate: the same"
out=$(timeout 30 ./tests/tools/robust-client --server "127.0.0.1:$proxy_port" \
	--cert "$certs/client-cert.pem" --key "$certs/client-key.pem" --ca "$certs/ca-cert.pem" \
	--hold-ms 2500) || fail "X.509 client: $out"
[ "$(echo "$out" | grep -c '^answer .*code=2.05')" = 2 ] || fail "X.509: two answers wanted: $out"
[ "$(stat parked_total)" -ge 2 ] || fail "the X.509 session was not parked"
[ "$(stat unparked_total)" -ge 2 ] || fail "the X.509 session was not restored"
[ "$(log_count 'event=handshake-ok')" = 2 ] || fail "a restore must not need a new handshake"

step "Observe: notifications every 2.5 s reach the device through a parked session"
client coap-client-openssl 9 -s 9 -m get -u my_identity -k secretPSK123 \
	"coaps://127.0.0.1:$proxy_port/obs/x" >"$tmp/observe.out" 2>&1 &
cpid=$!
i=0
while [ "$(stat sessions_parked)" = 0 ] && [ $i -lt 60 ]; do sleep 0.1; i=$((i + 1)); done
"$ctl" -s "$sock" sessions | grep -q ' parked ' || fail "no session shows as parked: $("$ctl" -s "$sock" sessions)"
before=$(stat unparked_total)
wait $cpid || true
n=$(grep -o 'n=[0-9]*' "$tmp/observe.out" | wc -l)
[ "$n" -ge 3 ] || fail "expected the registration answer and 2+ notifications, got $n: $(cat "$tmp/observe.out")"
[ "$(stat unparked_total)" -gt "$before" ] || fail "no notification arrived while parked"
grep -q 'notify seq=' "$tmp/obs.out" || fail "the backend sent no notification"
stop_proxy
echo PASS
