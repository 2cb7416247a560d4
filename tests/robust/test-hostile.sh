#!/bin/sh
# Hostile input: every dtls-probe garbage case, and forged bad-MAC records, leave live sessions unharmed.
. "${srcdir:-.}/tests/robust/lib.sh"

psk="--psk my_identity:secretPSK123"
start_backend
write_psk_conf "$tmp/proxy.conf"
start_proxy "$tmp/proxy.conf"
pid=$(cat "$tmp/proxy.pid")

step "session B: handshake + request from a fixed port, then left open (no close_notify)"
bport=$(free_port)
# shellcheck disable=SC2086
"$rclient" --server "127.0.0.1:$proxy_port" $psk --src-port "$bport" --no-close \
	>"$tmp/b.out" || fail "session B failed"
bsid=$(session_of "event=handshake-ok .*peer=127.0.0.1:$bport ")
[ -n "$bsid" ] || fail "no handshake-ok for session B"

step "session A: request, 20 forged application-data records (bad MAC), 4 s hold, request"
# shellcheck disable=SC2086
"$rclient" --server "127.0.0.1:$proxy_port" $psk --forge 20 --hold-ms 4000 \
	--deadline-ms 15000 >"$tmp/a.out" 2>&1 &
apid=$!
i=0
while ! grep -q '^forged ' "$tmp/a.out" 2>/dev/null; do
	[ $i -lt 50 ] || fail "session A did not get going"
	sleep 0.1
	i=$((i + 1))
done

step "garbage: every case from fresh ports, then every case from session B's port"
timeout 30 "$probe" garbage 127.0.0.1 "$proxy_port" --case all >"$tmp/garbage1.out" 2>&1 || true
# (--case all refuses --src-port: one process per case.)
: >"$tmp/garbage2.out"
for c in $("$probe" garbage --case list | awk '$1 != "all" {print $1}'); do
	timeout 10 "$probe" garbage 127.0.0.1 "$proxy_port" --case "$c" --src-port "$bport" \
		--timeout-ms 50 >>"$tmp/garbage2.out" 2>&1 || true
	echo "case $c" >>"$tmp/garbage2.out"
done
ncase=$(wc -l <"$tmp/garbage1.out")
echo "garbage cases sent: $ncase + $(grep -c '^case ' "$tmp/garbage2.out")"
grep -q 'bind port' "$tmp/garbage2.out" && fail "dtls-probe could not bind session B's port"
[ "$ncase" -ge 10 ] || fail "dtls-probe garbage ran only $ncase cases: $(cat "$tmp/garbage1.out")"
kill -0 "$pid" 2>/dev/null || fail "coaps-proxyd died on garbage"

rc=0
wait "$apid" || rc=$?
cat "$tmp/a.out"
[ "$rc" = 0 ] || fail "session A did not get its second answer after the forged records (exit $rc)"
[ "$(grep -c '^answer ' "$tmp/a.out")" = 2 ] || fail "session A: two answers expected"
aport=$(sed -n 's/^handshake .* port=\([0-9]*\) .*/\1/p' "$tmp/a.out")
asid=$(session_of "event=handshake-ok .*peer=127.0.0.1:$aport ")
wait_log "event=session-closed session=$asid " 10
grep -Eq "event=session-closed session=$asid .*msgs_in=2 msgs_out=2 reason=\"close_notify\"" \
	"$proxy_log" || fail "session A did not end by close_notify with 2 messages each way"

step "session B survived the garbage sent to its address"
grep -Eq "event=session-closed session=$bsid" "$proxy_log" &&
	fail "session B was closed: $(grep "session=$bsid" "$proxy_log" | tail -n 1)"

step "no session state, no data from garbage; an honest client still connects"
# shellcheck disable=SC2086
"$rclient" --server "127.0.0.1:$proxy_port" $psk --deadline-ms 5000 >/dev/null ||
	fail "honest client failed after the garbage"
n=$(log_count 'event=session-new')
[ "$n" = 3 ] || fail "expected 3 session-new lines (the real clients), saw $n"
n=$(backend_reqs | wc -l)
[ "$n" = 4 ] || fail "expected 4 requests at the backend (the real ones), saw $n"
stop_proxy
grep -Eq "event=session-closed session=$bsid .*reason=\"(shutdown|saved for the next start)\"" \
	"$proxy_log" ||
	fail "session B did not last until the shutdown"
echo "PASS"
