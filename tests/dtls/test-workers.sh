#!/bin/sh
# workers = 2: each session belongs to the worker that steer.c's rule names
# ((source port * 31 + last address byte) mod 2, or a CID's first byte); the
# control socket lists and closes the sessions of both; /metrics adds them up
# and shows each worker's share; a CID record from a new port that the rule
# sends to the other worker still reaches its owner (mbedTLS 3 only).
. "${srcdir:-.}/tests/lib/harness.sh"
command -v jq >/dev/null || skip "jq missing"
command -v curl >/dev/null || skip "curl missing"

sock=$ctl_sock
mkdir -m 700 "$tmp/state"
cid_conf=""
cid_flag=""
if grep -q '^#define HAVE_MBEDTLS_CID 1' config.h; then
	cid_conf='dtls = { connection_id = true; };'
	cid_flag=-c # the restart step's sessions have CIDs: restored by the CID's worker byte
fi
metrics_port=$(free_tcp_port)
start_backend
write_fw_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; }, { address = "::1"; port = @PORT@; } );
backends = ( { name = "echo"; address = "127.0.0.1"; port = @BACKEND@; } );
@PSKS@
workers = 2;
session = { state_file = "$tmp/state/sessions.state"; };
$cid_conf
control = { socket = "$sock"; };
metrics = { address = "127.0.0.1"; port = $metrics_port; };
CONF
start_proxy "$tmp/proxy.conf"
wait_log 'event=started .*workers=2'
[ "$(ps -L -o comm= -p "$(cat "$tmp/proxy.pid")" | grep -c '^coaps-w-')" = 1 ] ||
	fail "not one coaps-w-N thread beside the main loop: $(ps -L -o comm= -p "$(cat "$tmp/proxy.pid")" | tr '\n' ' ')"

step "a second coaps-proxyd with two workers on the same port does not start (SO_REUSEPORT would let it share the port)"
write_fw_conf "$tmp/second.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "echo"; address = "127.0.0.1"; port = @BACKEND@; } );
@PSKS@
workers = 2;
session = { state_file = ""; };
control = { socket = "$tmp/second.sock"; };
CONF
rc=0
timeout 10 "$proxyd" -f -c "$tmp/second.conf" >"$tmp/second.out" 2>&1 || rc=$?
[ "$rc" != 124 ] || fail "the second daemon started on the port of the first (it ran until timeout)"
[ "$rc" != 0 ] || fail "the second daemon exited 0"
grep -q "cannot listen on 127.0.0.1:$proxy_port: Address already in use" "$tmp/second.out" ||
	fail "no 'Address already in use' from the second daemon: $(tail -n 3 "$tmp/second.out")"

# A CON GET for /$2 with MID 0x$1 and a one-byte token (the MID's low byte).
req() {
	printf '41 01 %s %s %s b1 %s' "$(echo "$1" | cut -c1-2)" "$(echo "$1" | cut -c3-4)" \
		"$(echo "$1" | cut -c3-4)" "$(hexstr "$2")"
}

# Ends the $2 clients named $1 0 .. $1 N-1 that start_bg started (some may have gone already).
kill_clients() {
	i=0
	while [ $i -lt "$2" ]; do
		kill "$(cat "$tmp/$1$i.pid")" 2>/dev/null || true
		i=$((i + 1))
	done
}

# The worker steer.c's rule names for source port $1 from an address whose last byte is 1.
owner() {
	echo $((($1 * 31 + 1) % 2))
}

step "24 sessions from 24 ports (IPv4 and IPv6): each is owned by the worker the rule names"
i=0
while [ $i -lt 24 ]; do
	host=127.0.0.1
	[ $((i % 3)) = 2 ] && host=::1
	start_bg "held$i" "$send_tool" -h "$host" -p "$proxy_port" -w 100 "$(req "d1$(printf %02x $i)" w)" wait:30000
	i=$((i + 1))
done
wait_count 'event=handshake-ok ' 24 20
timeout 10 "$proxyctl" -s "$sock" sessions --json >"$tmp/sessions.json" || fail "sessions --json"
[ "$(jq length "$tmp/sessions.json")" = 24 ] || fail "not 24 sessions listed: $(cat "$tmp/sessions.json")"
jq -r '.[] | "\(.peer) \(.worker)"' "$tmp/sessions.json" >"$tmp/owners.txt"
w0=0
w1=0
while read -r peer worker; do
	port=${peer##*:}
	[ "$worker" = "$(owner "$port")" ] || fail "session of $peer is in worker $worker, the rule says $(owner "$port")"
	if [ "$worker" = 0 ]; then w0=$((w0 + 1)); else w1=$((w1 + 1)); fi
done <"$tmp/owners.txt"
echo "worker 0: $w0 sessions, worker 1: $w1"
[ "$w0" -gt 0 ] && [ "$w1" -gt 0 ] || fail "one worker has all 24 sessions ($w0 / $w1)"

step "/metrics: per-worker sessions add up to the total; counters are summed"
curl -s "http://127.0.0.1:$metrics_port/metrics" >"$tmp/metrics.txt" || fail "GET /metrics"
m0=$(awk '$1 == "coaps_worker_sessions{worker=\"0\"}" {print $2}' "$tmp/metrics.txt")
m1=$(awk '$1 == "coaps_worker_sessions{worker=\"1\"}" {print $2}' "$tmp/metrics.txt")
[ "$m0" = "$w0" ] && [ "$m1" = "$w1" ] || fail "coaps_worker_sessions $m0 / $m1, listed $w0 / $w1"
ok=$(awk '$1 == "coaps_handshakes_total{result=\"ok\"}" {print $2}' "$tmp/metrics.txt")
[ "$ok" = 24 ] || fail "coaps_handshakes_total ok is '$ok', not 24 (not summed over the workers?)"
[ "$(ctl_stat sessions)" = 24 ] || fail "stats sessions is $(ctl_stat sessions), not 24"

step "close by id reaches a session of worker 1; close by identity reaches both workers"
id1=$(jq -r '[.[] | select(.worker == 1)][0].id' "$tmp/sessions.json")
timeout 10 "$proxyctl" -s "$sock" close "$id1" >/dev/null || fail "close $id1 (worker 1)"
wait_log "event=session-closed session=$id1 .*reason=\"closed by coaps-proxyctl\""
timeout 10 "$proxyctl" -s "$sock" close --identity 'my_*' >"$tmp/close.out" ||
	fail "close --identity: $(cat "$tmp/close.out")"
wait_count 'event=session-closed .*reason="closed by coaps-proxyctl"' 24
grep -q 'closed 23 sessions' "$tmp/close.out" || fail "close --identity: $(cat "$tmp/close.out")"
[ "$(ctl_stat sessions)" = 0 ] || fail "$(ctl_stat sessions) sessions left after closing all"
kill_clients held 24

step "a reload reaches both workers: sensor-1's sessions are revoked in either, the others stay"
i=0
while [ $i -lt 12 ]; do
	id=my_identity
	key=secretPSK123
	[ $((i % 2)) = 1 ] && id=sensor-1 && key=sensorKey1
	start_bg "r$i" "$send_tool" -u "$id" -k "$key" -p "$proxy_port" -w 100 "$(req "f1$(printf %02x $i)" r)" wait:30000
	i=$((i + 1))
done
wait_count 'event=handshake-ok ' 36 20
timeout 10 "$proxyctl" -s "$sock" sessions --json >"$tmp/before.json" || fail "sessions --json"
[ "$(jq '[.[] | select(.identity == "sensor-1")] | map(.worker) | unique | length' "$tmp/before.json")" = 2 ] ||
	echo "(sensor-1's 6 sessions happen to be in one worker: $(jq -c 'map(.worker)' "$tmp/before.json"))"
sed -i 's/{ identity = "sensor-1"; key = "sensorKey1"; },//' "$tmp/proxy.conf"
timeout 10 "$proxyctl" -s "$sock" reload >/dev/null || fail "reload"
wait_log 'event=reloaded .*credentials_revoked=6'
[ "$(log_count 'event=session-closed .*identity="sensor-1".*reason="credentials-revoked"')" = 6 ] ||
	fail "not 6 sensor-1 sessions revoked"
[ "$(ctl_stat sessions)" = 6 ] || fail "$(ctl_stat sessions) sessions after the reload, not my_identity's 6"
kill_clients r 12

step "a clean restart: both workers' sessions are saved into one state and each comes back in its owner"
: >"$tmp/go"
rm -f "$tmp/go"
i=0
while [ $i -lt 10 ]; do
	start_bg "s$i" "$send_tool" $cid_flag -p "$proxy_port" -w 1000 "$(req "a1$(printf %02x $i)" x)" "until:$tmp/go" \
		"$(req "a2$(printf %02x $i)" y)"
	i=$((i + 1))
done
i=0
while [ $i -lt 10 ]; do
	wait_for 100 grep -q "^recv .*mid=0xa1$(printf %02x $i)" "$tmp/s$i.out" || fail "client s$i: no answer before the restart"
	i=$((i + 1))
done
timeout 10 "$proxyctl" -s "$sock" sessions --json | jq -r '.[] | "\(.peer) \(.worker)"' | sort >"$tmp/before.txt"
[ "$(wc -l <"$tmp/before.txt")" = 16 ] || fail "not 16 sessions before the restart: $(cat "$tmp/before.txt")"
stop_proxy
cp "$proxy_log" "$tmp/first.log"
grep -q 'event=sessions-saved count=16 ' "$tmp/first.log" || fail "not 16 sessions saved: $(grep sessions-saved "$tmp/first.log")"
: >"$proxy_log"
start_proxy "$tmp/proxy.conf"
wait_log 'event=sessions-restored count=16 '
timeout 10 "$proxyctl" -s "$sock" sessions --json | jq -r '.[] | "\(.peer) \(.worker)"' | sort >"$tmp/after.txt"
cmp -s "$tmp/before.txt" "$tmp/after.txt" || fail "owners differ after the restart: $(diff "$tmp/before.txt" "$tmp/after.txt")"
: >"$tmp/go"
i=0
while [ $i -lt 10 ]; do
	wait_for 100 grep -q "^recv .*mid=0xa2$(printf %02x $i)" "$tmp/s$i.out" || fail "client s$i: no answer after the restart"
	i=$((i + 1))
done
[ "$(log_count 'event=handshake-ok ')" = 0 ] || fail "a handshake after the restart"
kill_clients s 10

if grep -q '^#define HAVE_MBEDTLS_CID 1' config.h; then
	step "CIDs name their worker; a CID record from a port the rule gives the other worker reaches the owner"
	crossed=0
	tries=0
	while [ $crossed = 0 ] && [ $tries -lt 8 ]; do
		tries=$((tries + 1))
		out=$(coaps_send -c -w 600 "$(req e101 a)" rebind "$(req e102 b)" rebind "$(req e103 c)" \
			rebind "$(req e104 d)")
		p0=$(echo "$out" | grep '^handshake ok' | grep -o 'port=[0-9]*' | cut -d= -f2)
		cid=$(echo "$out" | grep '^handshake ok' | grep -o 'cid=[0-9a-f]*' | cut -d= -f2)
		[ -n "$p0" ] && [ -n "$cid" ] || fail "no handshake with a CID: $out"
		[ "$(echo "$cid" | cut -c1-2)" = "0$(owner "$p0")" ] ||
			fail "CID $cid from port $p0: its first byte is not worker $(owner "$p0")"
		for mid in e101 e102 e103 e104; do
			echo "$out" | grep -q "recv .*type=ACK code=2.05 mid=0x$mid " ||
				fail "request $mid not answered: $out"
		done
		for p in $(echo "$out" | grep '^rebind' | grep -o 'port=[0-9]*' | cut -d= -f2); do
			if [ "$(owner "$p")" != "$(owner "$p0")" ]; then crossed=1; fi
		done
	done
	[ $crossed = 1 ] || fail "no rebind to a port of the other worker in $tries tries"
	echo "a CID session moved to a port of the other worker and was answered ($tries tries)"
fi

stop_proxy
echo "PASS"
