#!/bin/sh
# Requests in flight across a clean restart (issue 14): a device's CON request
# that the backend has not answered when the proxy stops is answered after the
# start, and the backend sees it once. Without an fd store the upstream socket
# is bound to its old port again and the device's retransmission goes out with
# the same MID from it (a CoAP backend takes it as a duplicate: counted here by
# source and MID). With systemd's fd store (emulated by tests/tools/fdstore-emu.py)
# the upstream socket itself is kept: the answer the backend sent while no
# daemon ran waits in its buffer and reaches the device with no retransmission;
# an Observe notification sent in the gap too.
. "${srcdir:-.}/tests/lib/harness.sh"

mkdir -m 700 "$tmp/state" "$tmp/emu"
state=$tmp/state/sessions.state

# A CON request for /$2 with MID 0x$1 and a one-byte token (the MID's low byte).
req() {
	printf '41 01 %s %s %s b%x %s' "$(echo "$1" | cut -c1-2)" "$(echo "$1" | cut -c3-4)" \
		"$(echo "$1" | cut -c3-4)" "${#2}" "$(hexstr "$2")"
}

# Tells whether background process $1 printed a line matching the ERE $2.
printed() {
	grep -Eq "$2" "$tmp/$1.out"
}

# How many requests with MID 0x$1 the backend saw: all datagrams ($2 = all), or
# distinct (source port, MID) pairs, which is what a CoAP server deduplicates by.
backend_saw() {
	if [ "${2:-}" = all ]; then
		grep -c "^req .* mid=0x$1 " "$tmp/backend.out" || true
	else
		grep "^req .* mid=0x$1 " "$tmp/backend.out" | sed 's/.*src=\([^ ]*\) .*/\1/' |
			sort -u | wc -l
	fi
}

start_backend slow 4000
write_fw_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "be"; address = "127.0.0.1"; port = @BACKEND@; } );
@PSKS@
session = { state_file = "$state"; };
CONF

step "no fd store: the device's retransmission after the restart reaches the backend as a duplicate"
start_proxy "$tmp/proxy.conf"
start_bg dev "$send_tool" -p "$proxy_port" -w 300 -W 9000 "$(req 0201 slow)" "until:$tmp/go1" \
	"$(req 0201 slow)"
wait_for 100 grep -q '^req .* mid=0x0201 ' "$tmp/backend.out" || fail "the request did not reach the backend"
stop_proxy
grep -q 'event=sessions-saved count=1 ' "$proxy_log" || fail "the session was not saved"
# The answer comes while no daemon runs: lost (port unreachable).
wait_for 100 grep -q '^slow-answer mid=0x0201' "$tmp/backend.out" || fail "the backend did not answer"
start_proxy "$tmp/proxy.conf"
wait_log 'event=sessions-restored count=1 dropped=0'
touch "$tmp/go1"
wait_for 150 bg_gone dev || fail "the device's client did not finish"
printed dev '^recv .*code=2\.05 mid=0x0201' || fail "the device got no answer to its request"
n=$(backend_saw 0201)
echo "the backend saw the request from $n source port(s) ($(backend_saw 0201 all) datagrams)"
[ "$n" = 1 ] || fail "the backend saw the request as $n different requests"
stop_proxy

command -v python3 >/dev/null || { echo "PASS (python3 missing: fd store steps skipped)"; exit 0; }

# The pid of the proxy the fd store emulator runs ("proxy" is the emulator).
emu_pid() {
	cat "$tmp/emu/child.pid" 2>/dev/null
}
# Tells whether the backend logged more than $1 notifications.
notified_more() {
	[ "$(grep -c '^notify ' "$tmp/backend.out" || true)" -gt "$1" ]
}
# Tells whether the proxy logged event=started at least $1 times.
emu_started() {
	[ "$(grep -c 'event=started' "$proxy_log")" -ge "$1" ]
}

step "fd store: the answer sent while no daemon ran reaches the device, no retransmission"
start_bg proxy python3 "$srcdir/tests/tools/fdstore-emu.py" "$tmp/emu" "$proxyd" -f -c "$tmp/proxy.conf"
wait_for 100 emu_started 1 || fail "coaps-proxyd did not start under the emulator"
start_bg dev2 "$send_tool" -p "$proxy_port" -w 300 -W 300 "$(req 0301 slow)" "until:$tmp/go2"
wait_for 100 grep -q '^req .* mid=0x0301 ' "$tmp/backend.out" || fail "the request did not reach the backend"
kill -TERM "$(emu_pid)"
wait_for 300 test ! -e "$tmp/emu/child.pid" || fail "coaps-proxyd did not stop"
grep -q 'event=sessions-saved count=1 ' "$proxy_log" || fail "the session was not saved"
cat "$tmp/emu/store"
grep -q '^up-' "$tmp/emu/store" || fail "the upstream socket is not in the fd store"
wait_for 100 grep -q '^slow-answer mid=0x0301' "$tmp/backend.out" || fail "the backend did not answer"
touch "$tmp/emu/start"
wait_for 100 emu_started 2 || fail "coaps-proxyd did not start again"
wait_count 'event=sessions-restored count=1 dropped=0' 1
wait_for 100 printed dev2 '^recv .*code=2\.05 mid=0x0301' ||
	fail "the answer the backend sent in the gap did not reach the device"
touch "$tmp/go2"
wait_for 100 bg_gone dev2 || fail "the device's client did not finish"
[ "$(backend_saw 0301 all)" = 1 ] || fail "the backend got $(backend_saw 0301 all) datagrams of the request"

step "fd store: a notification sent while no daemon ran reaches the device"
stop_bg backend
start_bg backend "$tools/coap-test-backend" -A 127.0.0.1 -p "$backend_port" -m observe -d 1500
wait_listen backend >/dev/null
obs=$(printf '41 01 02 01 01 60 53 %s' "$(hexstr obs)")
start_bg obs "$send_tool" -a -p "$proxy_port" -w 2000 "$obs" "until:$tmp/go3" wait:500
wait_for 100 printed obs '^recv .*opts=6:' || fail "no Observe response before the restart"
kill -TERM "$(emu_pid)"
wait_for 300 test ! -e "$tmp/emu/child.pid" || fail "coaps-proxyd did not stop"
grep -q '^up-' "$tmp/emu/store" || fail "the observed upstream socket is not in the fd store"
n0=$(grep -c '^notify ' "$tmp/backend.out" || true)
wait_for 100 notified_more "$n0" ||
	fail "the backend sent no notification in the gap"
gap=$(grep '^notify ' "$tmp/backend.out" | tail -n 1 | sed 's/.* n=\([0-9]*\).*/\1/')
echo "notification n=$gap sent while no daemon ran"
touch "$tmp/emu/start"
wait_for 100 emu_started 3 || fail "coaps-proxyd did not start again"
wait_for 100 printed obs "payload=\"n=$gap\"" ||
	fail "notification n=$gap, sent while no daemon ran, did not reach the device"
# Checked before the observer leaves: its session then ends (close_notify), and the next
# notification is answered with an RST, which rightly cancels the relation.
grep -q 'observe-cancel' "$tmp/backend.out" && fail "the backend's Observe relation was cancelled"
touch "$tmp/go3"
wait_for 100 bg_gone obs || fail "the observer's client did not finish"
stop_bg proxy
echo "PASS"
