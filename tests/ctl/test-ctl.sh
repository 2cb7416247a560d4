#!/bin/sh
# coaps-proxyctl: every command against a running coaps-proxyd with live PSK sessions.
. "${srcdir:-.}/tests/ctl/lib.sh"
command -v jq >/dev/null || skip "jq missing"

odd_id=$(printf 'odd\t\377"\\id')
write_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; },
        { identity = "odd\\t\\xff\\"\\\\id"; key = "oddkey"; } );
control = { socket = "$ctl_sock"; };
CONF

step "daemon not running: exit 3 naming the socket"
ctl stats
expect_rc 3
printf "%s\n" "$err" | grep -qF "no control socket at $ctl_sock: is coaps-proxyd running?" ||
	fail "unclear message: $err"

step "bad arguments: exit 2"
for args in "" "bogus" "show" "show xyz" "show 123456789" "close" "close --identity" \
	"sessions --bad" "stats extra" "reload now" "check-config a b"; do
	# shellcheck disable=SC2086
	ctl $args
	[ "$rc" = 2 ] || fail "'coaps-proxyctl $args' exited $rc, not 2: $err"
done
rc=0
timeout 10 "$proxyctl" -s a -c b stats 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "-s with -c exited $rc, not 2"
ctl show "$(printf '%01100d' 0)"
expect_rc 2

start_proxy "$tmp/proxy.conf"
wait_log "event=control-listening path=$ctl_sock"
[ "$(stat -c %a "$ctl_sock")" = 660 ] || fail "socket mode is $(stat -c %a "$ctl_sock"), not 660"

step "-c CONFIG finds the socket through control.socket"
rc=0
timeout 10 "$proxyctl" -c "$tmp/proxy.conf" stats >/dev/null || rc=$?
[ "$rc" = 0 ] || fail "-c CONFIG stats exited $rc"

step "sessions lists a live PSK session"
sclient s1 15 my_identity secretPSK123
wait_log 'event=handshake-ok .*identity="my_identity"'
ctl sessions
expect_rc 0
printf "%s\n" "$out" | head -1 | grep -Eq '^ID +PEER +AUTH +IDENTITY +CIPHER +STATE +AGE +IDLE +BYTES_IN +BYTES_OUT +MSGS_IN +MSGS_OUT +BACKEND +CID +WORKER$' ||
	fail "bad header: $out"
printf "%s\n" "$out" | grep -Eq '^[0-9a-f]{8} +127\.0\.0\.1:[0-9]+ +psk +my_identity +TLS-PSK-WITH-AES-128-CCM-8 +established +[0-9]+[smhd] ' ||
	fail "session not listed: $out"

step "sessions --json parses"
ctl sessions --json
expect_rc 0
id=$(printf "%s\n" "$out" | jq -er '.[] | select(.auth == "psk" and .identity == "my_identity" and .state == "established") | .id') ||
	fail "no my_identity session in: $out"
echo "$id" | grep -Eq '^[0-9a-f]{8}$' || fail "bad id $id"

step "show ID"
ctl show "$id"
expect_rc 0
printf "%s\n" "$out" | grep -q "^identity *my_identity$" || fail "show: $out"
printf "%s\n" "$out" | grep -q "^auth *psk$" || fail "show: $out"
printf "%s\n" "$out" | grep -q "^state *established$" || fail "show: $out"
printf "%s\n" "$out" | grep -q "^peer *127.0.0.1:" || fail "show: $out"

step "stats and stats --json count the handshake"
ctl stats
expect_rc 0
n=$(printf "%s\n" "$out" | awk '$1 == "handshakes_ok" {print $2}')
[ "${n:-0}" -ge 1 ] || fail "handshakes_ok: $out"
[ "$(printf "%s\n" "$out" | awk '$1 == "sessions" {print $2}')" -ge 1 ] || fail "sessions: $out"
ctl stats --json
expect_rc 0
printf "%s\n" "$out" | jq -e '.handshakes_ok >= 1 and .sessions >= 1 and (.handshakes_failed_by | has("wrong_key"))' >/dev/null ||
	fail "stats --json: $out"

step "JSON escapes control characters, quotes, backslashes and non-UTF-8 bytes"
sclient s2 15 "$odd_id" oddkey
wait_log 'event=handshake-ok .*identity="odd'
ctl sessions --json
expect_rc 0
printf "%s\n" "$out" | jq -e '.[] | select(.auth == "psk" and .identity == "odd\t\u00ff\"\\id")' >/dev/null ||
	fail "odd identity not escaped right: $out"
ctl sessions
printf "%s\n" "$out" | grep -qF 'odd\x09\xff\"\\id' || fail "odd identity not escaped in text: $out"

step "close ID ends the session"
ctl close "$id"
expect_rc 0
printf "%s\n" "$out" | grep -q "closed session $id" || fail "close: $out"
wait_log "event=session-closed session=$id .*reason=\"closed by coaps-proxyctl\""
ctl show "$id"
expect_rc 1
printf "%s\n" "$err" | grep -q "no session $id" || fail "show of a closed session: $err"
ctl close "$id"
expect_rc 1

step "close --identity GLOB"
sclient s3 15 my_identity secretPSK123
i=0
while [ "$(log_count 'event=handshake-ok .*identity="my_identity"')" -lt 2 ]; do
	[ $i -lt 100 ] || fail "second my_identity session did not come up"
	sleep 0.1
	i=$((i + 1))
done
ctl close --identity 'my_*'
expect_rc 0
[ "$out" = "closed 1 session" ] || fail "close --identity: $out"
wait_log 'event=session-closed .*identity="my_identity".*reason="closed by coaps-proxyctl"'
[ "$(log_count 'reason="closed by coaps-proxyctl"')" = 2 ] || fail "expected 2 closed-by lines"
ctl sessions --json
[ "$(printf "%s\n" "$out" | jq '[.[] | select(.identity == "my_identity")] | length')" = 0 ] ||
	fail "my_identity session still listed: $out"

step "check-config FILE: OK, and a broken file gives FILE:LINE and exit 1"
ctl check-config "$tmp/proxy.conf"
expect_rc 0
[ "$out" = "configuration OK" ] || fail "check-config: $out"
ctl check-config
expect_rc 0
cp "$tmp/proxy.conf" "$tmp/rel.conf"
rc=0
(cd "$tmp" && timeout 10 "$OLDPWD/$proxyctl" -s "$ctl_sock" check-config rel.conf >/dev/null) || rc=$?
[ "$rc" = 0 ] || fail "check-config with a relative path exited $rc"
cat >"$tmp/bad.conf" <<'CONF'
listen = ( { address = "::"; port = 5684; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = 5683; } );
psk = ( { identity = "a"; key_hex = "zz"; } );
CONF
ctl check-config "$tmp/bad.conf"
expect_rc 1
printf "%s\n" "$err" | grep -qF "$tmp/bad.conf:3: psk[0].key_hex: not valid hex" || fail "check-config: $err"

step "control and metrics keys are checked like the others"
# Expects `coaps-proxyd -t` on config text (stdin) to fail with message $1 (fixed string).
expect_t() {
	{
		echo 'listen = ( { address = "::"; port = 5684; } );'
		echo 'backends = ( { name = "default"; address = "127.0.0.1"; port = 5683; } );'
		echo 'psk = ( { identity = "a"; key = "k"; } );'
		cat
	} >"$tmp/t.conf"
	rc=0
	o=$("$proxyd" -t -c "$tmp/t.conf" 2>&1) || rc=$?
	[ "$rc" = 1 ] || fail "expected exit 1 for $1, got $rc: $o"
	printf '%s\n' "$o" | grep -qF -- "$1" || fail "expected '$1', got: $o"
}
echo 'control = { socket = "rel.sock"; };' |
	expect_t "$tmp/t.conf:4: control.socket: must be an absolute path"
echo 'control = { path = "/x"; };' | expect_t "$tmp/t.conf:4: control.path: unknown key"
echo 'metrics = { address = "localhost"; };' |
	expect_t "$tmp/t.conf:4: metrics.address: \"localhost\" is not an IPv4 or IPv6 address"
echo 'metrics = { port = 0; };' | expect_t "$tmp/t.conf:4: metrics.port: 0 is out of range"
printf 'metrics = { };\ncontrol = { socket = ""; };\n' >"$tmp/ok.conf.tail"
rc=0
{ head -3 "$tmp/t.conf"; cat "$tmp/ok.conf.tail"; } >"$tmp/ok.conf"
"$proxyd" -t -c "$tmp/ok.conf" >/dev/null 2>&1 || fail "metrics = { } and socket = \"\" rejected"

step "reload answers OK or ERR"
ctl reload
case $rc in
0) ;;
1) printf "%s\n" "$err" | grep -q '^coaps-proxyctl: .' || fail "reload ERR without a message" ;;
*) fail "reload exited $rc: $err" ;;
esac
echo "   reload: rc=$rc $out$err"

step "raw protocol limits: long line, unknown request, CRLF, 16+4 clients, 10 s idle (python3)"
if command -v python3 >/dev/null && python3 -c 'import socket' 2>/dev/null; then
	python3 - "$ctl_sock" <<'PY' || fail "raw protocol checks"
import socket, sys, time
path = sys.argv[1]
def talk(data):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused before it read: the answer is still there
    out = b""
    while True:
        try:
            b = s.recv(65536)
        except ConnectionResetError:
            return out
        if not b:
            return out
        out += b
r = talk(b"x" * 2000)
assert r == b"ERR request longer than 1024 bytes\n", r
r = talk(b"frobnicate\n")
assert r.startswith(b"ERR unknown request"), r
r = talk(b"stats\r\n")
assert r.endswith(b"\nOK\n"), r
# 16 idle clients fill the table, and 4 the slots kept for root and the
# daemon's user (which we are); the 21st is told to come back later.
held = []
for i in range(20):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    held.append(s)
time.sleep(0.3)
r = talk(b"stats\n")
assert r.startswith(b"ERR busy"), r
for s in held:
    s.close()
time.sleep(0.3)
assert talk(b"stats\n").endswith(b"\nOK\n")
# A client that says nothing is dropped after 10 s.
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(15)
s.connect(path)
t = time.monotonic()
assert s.recv(100) == b""
assert 9 <= time.monotonic() - t < 14, time.monotonic() - t
PY
else
	echo "   python3 missing: raw protocol checks skipped"
fi

step "permission denied for another user"
runas=""
if [ "$(id -u)" = 0 ]; then
	if setpriv --reuid=nobody --regid=nogroup --clear-groups true 2>/dev/null; then
		runas="setpriv --reuid=nobody --regid=nogroup --clear-groups"
	elif su -s /bin/sh nobody -c true 2>/dev/null; then
		runas="su -s /bin/sh nobody -c"
	fi
fi
if [ -z "$runas" ]; then
	echo "   cannot run as nobody (not root, or no setpriv/su): sub-check skipped"
else
	mkdir -p "$tmp/bin"
	cp "$proxyctl" "$tmp/bin/coaps-proxyctl"
	chmod 755 "$tmp/bin" "$tmp/bin/coaps-proxyctl" "$tmp/run"
	chmod 711 "$tmp"
	# Runs coaps-proxyctl stats as nobody; sets $rc and $err.
	as_nobody() {
		rc=0
		if [ "${runas#su}" != "$runas" ]; then
			timeout 10 $runas "$tmp/bin/coaps-proxyctl -s $ctl_sock stats" \
				>/dev/null 2>"$tmp/nobody.err" || rc=$?
		else
			timeout 10 $runas "$tmp/bin/coaps-proxyctl" -s "$ctl_sock" stats \
				>/dev/null 2>"$tmp/nobody.err" || rc=$?
		fi
		err=$(cat "$tmp/nobody.err")
	}
	as_nobody
	expect_rc 3
	printf "%s\n" "$err" | grep -qF "permission denied on $ctl_sock" || fail "nobody, mode 0660: $err"
	# Even with the file mode opened up, SO_PEERCRED keeps other users out.
	chmod 666 "$ctl_sock"
	as_nobody
	expect_rc 3
	printf "%s\n" "$err" | grep -qF "permission denied: uid $(id -u nobody) is not root" ||
		fail "nobody, mode 0666: $err"
	wait_log "event=control-refused uid=$(id -u nobody)"
	chmod 660 "$ctl_sock"
	# A member of the socket's group (here as a supplementary group) is served.
	gid=$(stat -c %g "$ctl_sock")
	if [ "${runas#setpriv}" != "$runas" ]; then
		rc=0
		timeout 10 setpriv --reuid=nobody --regid=nogroup --groups="$gid" \
			"$tmp/bin/coaps-proxyctl" -s "$ctl_sock" stats >/dev/null 2>"$tmp/nobody.err" || rc=$?
		[ "$rc" = 0 ] || fail "nobody in group $gid: exit $rc: $(cat "$tmp/nobody.err")"
	fi
fi

step "a stale socket (daemon killed) gives exit 3, and the next start removes it"
kill -KILL "$(cat "$tmp/proxy.pid")"
wait "$(cat "$tmp/proxy.pid")" 2>/dev/null || true
[ -S "$ctl_sock" ] || fail "socket file gone after SIGKILL"
ctl stats
expect_rc 3
printf "%s\n" "$err" | grep -qF "nothing answers on $ctl_sock" || fail "stale socket: $err"
start_proxy "$tmp/proxy.conf"
wait_log "event=control-stale-socket-removed path=$ctl_sock"
ctl stats
expect_rc 0

step "a second daemon on the same socket refuses to start"
write_conf "$tmp/second.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $(free_port); } );
backends = ( { name = "default"; address = "127.0.0.1"; port = 9; } );
psk = ( { identity = "a"; key = "k"; } );
control = { socket = "$ctl_sock"; };
CONF
rc=0
timeout 10 "$proxyd" -f -c "$tmp/second.conf" 2>"$tmp/second.err" || rc=$?
[ "$rc" = 1 ] || fail "second daemon exited $rc"
grep -q "another coaps-proxyd answers on it" "$tmp/second.err" || fail "$(cat "$tmp/second.err")"
ctl stats
expect_rc 0

stop_proxy
[ ! -e "$ctl_sock" ] || fail "socket file left after exit"
echo "PASS"
