#!/bin/sh
# DTLS Connection IDs (RFC 9146): a client that asks gets a CID and keeps its
# session across a new address:port; one that does not ask is served by address
# as before; forged, replayed and older records from elsewhere move nothing;
# unknown CIDs are dropped and counted; a parked session restores from a CID record.
. "${srcdir:-.}/tests/lib/harness.sh"

grep -q '^#define HAVE_MBEDTLS_CID 1' config.h ||
	skip "this build's mbedTLS has no RFC 9146 Connection IDs (Debian 12's 2.28): the feature does not exist here"
command -v jq >/dev/null || skip "jq missing"

proxyctl=./src/coaps-proxyctl
sock=$tmp/ctl.sock
start_backend
write_fw_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "echo"; address = "127.0.0.1"; port = @BACKEND@; } );
@PSKS@
session = { park_after = 1; };
workers = 1; # one worker: its CIDs begin with 00 (tests/dtls/test-workers.sh has two)
log = { level = "debug"; json_file = "$tmp/events.jsonl"; };
control = { socket = "$sock"; };
CONF
start_proxy "$tmp/proxy.conf"

# Prints one counter of `coaps-proxyctl stats --json`.
stat() {
	timeout 10 "$proxyctl" -s "$sock" stats --json | jq -r ".$1"
}

# Prints the value of KEY=VALUE word $1 in text $2 (first match).
field() {
	echo "$2" | grep -o "$1=[^ ]*" | head -n 1 | cut -d= -f2
}

# A CON GET for /$2 with MID 0x$1 and a one-byte token (the MID's low byte).
req() {
	printf '41 01 %s %s %s b1 %s' "$(echo "$1" | cut -c1-2)" "$(echo "$1" | cut -c3-4)" \
		"$(echo "$1" | cut -c3-4)" "$(hexstr "$2")"
}

step "with a CID: the request after a rebind is answered at the new port; the log shows the move"
out=$(coaps_send -c -w 800 "$(req c101 a)" rebind "$(req c102 b)")
echo "$out" | grep -q 'handshake ok .*cid=00[0-9a-f]\{14\} ' || fail "no 8-byte CID with routing byte 00: $out"
cid=$(field cid "$out")
p1=$(field port "$(echo "$out" | grep '^handshake ok')")
p2=$(field port "$(echo "$out" | grep '^rebind')")
[ -n "$p1" ] && [ -n "$p2" ] && [ "$p1" != "$p2" ] || fail "ports: $out"
echo "$out" | grep -q 'recv .*type=ACK code=2.05 mid=0xc101 ' || fail "first request not answered: $out"
echo "$out" | grep -q 'recv .*type=ACK code=2.05 mid=0xc102 ' || fail "request after the rebind not answered: $out"
wait_log "event=peer-address-changed session=[0-9a-f]+ .*cid=$cid from=127.0.0.1:$p1 to=127.0.0.1:$p2"
wait_log "event=handshake-ok .*cid=$cid"
[ "$(stat peer_address_changes)" = 1 ] || fail "peer_address_changes is not 1"
jq -e -s "map(select(.event == \"peer-address-changed\" and .cid == \"$cid\" and
	.from == \"127.0.0.1:$p1\" and .to == \"127.0.0.1:$p2\" and .identity == \"my_identity\"))
	| length == 1" "$tmp/events.jsonl" >/dev/null || fail "JSON log: no peer-address-changed with the CID"

step "the CID in coaps-proxyctl sessions, show and sessions --json"
start_bg held "$send_tool" -c -p "$proxy_port" -w 100 "$(req c201 c)" wait:6000
i=0
while ! grep -q '^handshake ok' "$tmp/held.out"; do
	[ $i -lt 50 ] || fail "held client: no handshake: $(cat "$tmp/held.out" "$tmp/held.err")"
	sleep 0.1
	i=$((i + 1))
done
hcid=$(field cid "$(cat "$tmp/held.out")")
list=$(timeout 10 "$proxyctl" -s "$sock" sessions)
echo "$list" | head -n 1 | grep -q 'CID[[:space:]]*WORKER$' || fail "no CID column: $list"
line=$(echo "$list" | grep "[[:space:]]$hcid[[:space:]]") || fail "sessions does not show $hcid: $list"
id=$(echo "$line" | awk '{ print $1 }')
timeout 10 "$proxyctl" -s "$sock" show "$id" | grep -qx "cid        $hcid" || fail "show $id: no cid"
timeout 10 "$proxyctl" -s "$sock" sessions --json | jq -e ".[] | select(.cid == \"$hcid\")" >/dev/null ||
	fail "sessions --json: no cid $hcid"

step "without a CID: the same rebind gets no answer; back at the old port all goes on"
before=$(log_count 'event=peer-address-changed')
out=$(coaps_send -w 800 "$(req c301 d)" rebind "$(req c302 e)" back "$(req c303 f)")
echo "$out" | grep -q 'handshake ok .* port=' || fail "no handshake: $out"
echo "$out" | grep -q 'cid=' && fail "a client that did not ask sees a CID: $out"
echo "$out" | grep -q 'mid=0xc301 ' || fail "first request not answered: $out"
echo "$out" | grep -q 'mid=0xc302 ' && fail "answered at a new port without a CID: $out"
echo "$out" | grep -q 'recv .*type=ACK code=2.05 mid=0xc303 ' || fail "session disturbed: $out"
[ "$(reqs backend /e)" = 0 ] || fail "the record from the new port reached the backend"
[ "$(log_count 'event=peer-address-changed')" = "$before" ] || fail "a session moved"
wait_log 'event=handshake-ok .*identity="my_identity" cipher=[^ ]+ ms=[0-9]+ resumed=no$'

step "from another port: a bad MAC, a replay, an older unseen record move nothing and get no answer"
before=$(log_count 'event=peer-address-changed')
out=$(coaps_send -c -w 800 "$(req c401 g)" badmac replay "hold:$(req c402 h)" "$(req c403 i)" \
	release "$(req c404 j)")
[ "$(echo "$out" | grep -c '^raw-sent ')" = 3 ] || fail "raw records not sent: $out"
[ "$(echo "$out" | grep -c '^raw-silent ')" = 3 ] || fail "an answer went to another port: $out"
for mid in c401 c402 c403 c404; do
	echo "$out" | grep -q "recv .*type=ACK code=2.05 mid=0x$mid " ||
		fail "no answer for $mid at the session's own port: $out"
done
[ "$(log_count 'event=peer-address-changed')" = "$before" ] || fail "a forged or older record moved the session"
[ "$(reqs backend /g)" = 1 ] || fail "the replayed record reached the backend again"

step "an unknown CID: dropped, counted and logged; never taken for a handshake"
cookies=$(stat cookies_sent)
out=$(coaps_send -c -w 800 "$(req c501 k)" unknown-cid)
echo "$out" | grep -q '^raw-silent ' || fail "unknown CID answered: $out"
wait_log 'event=cid-unknown peer=127.0.0.1:[0-9]+ local=127.0.0.1:[0-9]+ cid=[0-9a-f]{16} reason='
[ "$(stat drops_unknown_cid)" -ge 1 ] || fail "drops_unknown_cid not counted"
# One cookie for the client's own handshake, none for the unknown CID.
[ "$(stat cookies_sent)" = $((cookies + 1)) ] || fail "an unknown CID was answered with a cookie"

step "parked, rebound, restored by a CID record"
parked=$(stat parked_total)
unparked=$(stat unparked_total)
out=$(coaps_send -c -w 500 "$(req c601 l)" wait:3500 rebind "$(req c602 m)")
cid=$(field cid "$out")
p2=$(field port "$(echo "$out" | grep '^rebind')")
echo "$out" | grep -q 'recv .*type=ACK code=2.05 mid=0xc602 ' || fail "parked session not restored at the new port: $out"
[ "$(stat parked_total)" -gt "$parked" ] || fail "the session was not parked"
[ "$(stat unparked_total)" -gt "$unparked" ] || fail "the session was not restored"
wait_log "event=peer-address-changed .*cid=$cid from=127.0.0.1:[0-9]+ to=127.0.0.1:$p2"
size=$(grep "parked session=.* cid=$cid" "$proxy_log" | grep -o 'bytes=[0-9]*' | head -n 1 | cut -d= -f2)
[ -n "$size" ] && [ "$size" -le 1024 ] || fail "parked session with CID takes ${size:-?} bytes (over 1 KB)"
echo "parked session with CID: $size bytes"

stop_proxy
