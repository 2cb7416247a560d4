#!/bin/sh
# Observe through the proxy: notifications from coap-server-notls's /time, CON
# notifications acknowledged back to the backend with its own MID, deregistration,
# and RST to a backend that notifies a device whose session has ended.
. "${srcdir:-.}/tests/forward/lib.sh"

start_coap_server            # "clock" (libcoap's /time notifies every second)
start_backend2 observe 300   # "obs": a notification every 300 ms, every fourth CON
write_fw_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "clock"; address = "127.0.0.1"; port = @BACKEND@; },
             { name = "obs";   address = "127.0.0.1"; port = @BACKEND2@; } );
routes = ( { path_prefix = "/obs"; backend = "obs"; },
           { backend = "clock"; } );
@PSKS@
CONF
start_proxy "$tmp/proxy.conf"
url="coaps://127.0.0.1:$proxy_port"

# Prints how many lines of backend2's output match the ERE $1.
b2_count() {
	grep -Ec "$1" "$tmp/backend2.out" || true
}

step "coap-client -s 8 on /time: several distinct notifications (the issue says -s 20; 8 s keeps the test short)"
out=$(timeout 20 coap-client-openssl -B 10 -s 8 -u my_identity -k secretPSK123 "$url/time" 2>&1 || true)
stamps=$(echo "$out" | grep -Eo '[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}' || true)
n=$(echo "$stamps" | grep -c . || true)
d=$(echo "$stamps" | sort -u | grep -c . || true)
[ "$n" -ge 5 ] || fail "expected >= 5 notifications of /time in 8 s, got $n: $out"
[ "$d" -ge 4 ] || fail "expected >= 4 distinct /time values, got $d: $out"

step "coap-client -s 3 on /obs: NON and CON notifications; the device's ACKs reach the backend with its MIDs"
out=$(timeout 15 coap-client-openssl -B 6 -s 3 -u my_identity -k secretPSK123 "$url/obs" 2>&1 || true)
n=$(echo "$out" | grep -o 'n=[0-9]*' | wc -l)
[ "$n" -ge 5 ] || fail "expected >= 5 notifications of /obs, got $n: $out"
[ "$(b2_count '^observe-register ')" = 1 ] || fail "backend saw no observe registration"
[ "$(b2_count '^notify .*type=CON')" -ge 1 ] || fail "backend sent no CON notification"
[ "$(b2_count '^ack mid=0x[0-9a-f]+$')" -ge 1 ] ||
	fail "no ACK of a CON notification reached the backend with the backend's MID"
[ "$(b2_count '^ack .*unmatched')" = 0 ] || fail "an ACK reached the backend with a MID it never sent"
[ "$(b2_count '^retransmit notify')" = 0 ] || fail "a CON notification was retransmitted (ACK lost or mis-mapped)"

step "deregistration (GET with Observe=1 when -s ends) stops the notifications at the backend"
i=0
while [ "$(b2_count '^observe-cancel reason=deregister')" = 0 ] && [ $i -lt 30 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ "$(b2_count '^observe-cancel reason=deregister')" = 1 ] || fail "backend saw no deregistration"
before=$(b2_count '^notify ')
sleep 1.5
[ "$(b2_count '^notify ')" = "$before" ] || fail "notifications continue after the deregistration"

step "the device's RST to a notification cancels the observation at the backend (with the backend's MID)"
# CON GET MID 0x6002 token 0c5e, Observe 0, Uri-Path "obs"; -r resets every notification.
out=$(coaps_send -r -w 1500 "42 01 60 02 0c 5e 60 53 6f 62 73")
echo "$out" | grep -q 'recv .*type=ACK code=2.05 mid=0x6002 tkl=2 token=0c5e ' ||
	fail "raw registration not answered: $out"
echo "$out" | grep -q '^sent-rst ' || fail "no notification to reset: $out"
i=0
while [ "$(b2_count '^observe-cancel reason=rst')" = 0 ] && [ $i -lt 30 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ "$(b2_count '^observe-cancel reason=rst')" = 1 ] || fail "the device's RST did not cancel at the backend"
rmid=$(grep '^rst mid=' "$tmp/backend2.out" | tail -n 1 | grep -o 'mid=0x[0-9a-f]*')
grep -q "^notify .* $rmid " "$tmp/backend2.out" || fail "the RST's $rmid is not a MID the backend sent"
n=$(echo "$out" | sed -n '/^sent-rst /,$p' | grep -c 'recv .*token=0c5e' || true)
[ "$n" -le 1 ] || fail "$n notifications after the RST: $out"

step "raw registration and re-registration (same token) in one session; the session ends (close_notify); the next notification gets RST from the proxy"
# CON GET MID 0x6001 then 0x6011, token 0b5e, Observe 0, Uri-Path "obs"; -a ACKs CON notifications.
r0=$(b2_count '^observe-register ')
out=$(coaps_send -a -w 1300 "42 01 60 01 0b 5e 60 53 6f 62 73" "42 01 60 11 0b 5e 60 53 6f 62 73")
echo "$out" | grep -q 'recv .*type=ACK code=2.05 mid=0x6011 tkl=2 token=0b5e opts=6:' ||
	fail "re-registration not answered with a piggybacked 2.05 with Observe: $out"
[ "$(b2_count '^observe-register ')" = $((r0 + 2)) ] || fail "the backend did not see both registrations"
srcs=$(grep '^req .*mid=0x60[01]1 ' "$tmp/backend2.out" | grep -o 'src=[^ ]*' | sort -u)
[ "$(echo "$srcs" | grep -c .)" = 1 ] ||
	fail "registration and re-registration came from different upstream endpoints: $srcs"
late=$(echo "$out" | sed -n '/^sent .*mid=0x6011/,$p' | grep -c 'recv .*code=2.05 .*token=0b5e' || true)
[ "$late" -le 7 ] || fail "$late notifications in 1.3 s after re-registration at 300 ms: doubled?"
echo "$out" | grep -q 'recv .*type=ACK code=2.05 mid=0x6001 tkl=2 token=0b5e opts=6:' ||
	fail "raw registration not answered with a piggybacked 2.05 with Observe: $out"
nn=$(echo "$out" | grep -c 'recv .*code=2.05 .*token=0b5e' || true)
[ "$nn" -ge 5 ] || fail "expected >= 5 notifications on the raw session, got $nn: $out"
mids=$(echo "$out" | grep 'recv .*token=0b5e' | grep -o 'mid=0x[0-9a-f]*')
[ "$(echo "$mids" | sort | uniq -d | grep -c . || true)" = 0 ] ||
	fail "the device saw one MID twice within the exchange lifetime: $mids"
acks=$(echo "$out" | grep -c '^sent-ack ' || true)
[ "$acks" -ge 1 ] || fail "no CON notification on the raw session: $out"
wait_log 'event=session-closed .*reason="close_notify"'
i=0
while [ "$(b2_count '^observe-cancel reason=rst')" = 1 ] && [ $i -lt 40 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ "$(b2_count '^observe-cancel reason=rst')" = 2 ] ||
	fail "the backend got no RST for notifying a device whose session ended"
[ "$(b2_count '^ack .*unmatched')" = 0 ] || fail "an ACK reached the backend with a MID it never sent"
# The RST carries the backend's MID of a notification it sent ("unmatched" only
# means no CON was pending: an RST to a NON notification is still a match here).
rmid=$(grep '^rst mid=' "$tmp/backend2.out" | tail -n 1 | grep -o 'mid=0x[0-9a-f]*')
[ -n "$rmid" ] || fail "no RST reached the backend"
grep -q "^notify .* $rmid " "$tmp/backend2.out" || fail "the RST's $rmid is not a MID the backend sent"
before=$(b2_count '^notify ')
sleep 1
[ "$(b2_count '^notify ')" = "$before" ] || fail "notifications continue after the RST"

stop_proxy
echo "PASS"
