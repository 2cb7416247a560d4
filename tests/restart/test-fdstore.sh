#!/bin/sh
# Sockets passed by systemd (LISTEN_FDS, as from the fd store after a restart):
# without any the daemon binds its own as before; one for a configured address
# is adopted (no second bind); one for an address no longer configured is
# closed, not used. systemd-socket-activate passes them the way systemd does.
. "${srcdir:-.}/tests/lib/harness.sh"

activate=$(command -v systemd-socket-activate || true)
[ -n "$activate" ] || skip "systemd-socket-activate missing (package systemd)"
"$proxyd" -V >/dev/null || fail "coaps-proxyd -V"
other_port=$(free_port)

start_coap_server
write_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; } );
workers = 2;
CONF

# Starts the proxy under systemd-socket-activate, which binds 127.0.0.1:$1 and
# passes it as fd 3 named $2 (LISTEN_FDS=1, LISTEN_FDNAMES=$2). It execs the
# daemon when a first datagram arrives: a ClientHello (dtls-probe as "early",
# waiting 10 s for the answer) that stays in the socket buffer meanwhile.
start_activated() {
	start_bg proxy "$activate" --datagram -l "127.0.0.1:$1" --fdname="$2" \
		"$proxyd" -f -c "$tmp/proxy.conf"
	i=0
	while ! grep -q 'Listening on' "$proxy_log" 2>/dev/null; do
		[ $i -lt 50 ] || fail "systemd-socket-activate did not bind 127.0.0.1:$1"
		sleep 0.1
		i=$((i + 1))
	done
	start_bg early "$probe" hello 127.0.0.1 "$1" --timeout-ms 10000
	i=0
	while ! grep -q 'event=started' "$proxy_log" 2>/dev/null; do
		kill -0 "$(cat "$tmp/proxy.pid")" 2>/dev/null || fail "coaps-proxyd exited at start"
		[ $i -lt 100 ] || fail "coaps-proxyd did not start"
		sleep 0.1
		i=$((i + 1))
	done
}

# Prints the inode of the UDP socket bound to 127.0.0.1:$1 (from /proc/net/udp).
udp_inode() {
	hex=$(printf '0100007F:%04X' "$1")
	awk -v a="$hex" '$2 == a {print $10; exit}' /proc/net/udp
}

# Sends one ClientHello to 127.0.0.1:$1; 0 when a HelloVerifyRequest came back.
hello() {
	"$probe" hello 127.0.0.1 "$1" --timeout-ms 2000 2>&1 | grep -q 'hello-verify-request'
}

step "no LISTEN_FDS: the daemon binds its socket itself, as before"
start_proxy "$tmp/proxy.conf"
wait_log "event=listening address=127.0.0.1:$proxy_port socket=new"
hello "$proxy_port" || fail "no HelloVerifyRequest from a daemon started without LISTEN_FDS"
[ "$(log_count 'fdstore')" = 0 ] || fail "fdstore events without LISTEN_FDS"
stop_proxy

step "an inherited socket for the configured address is adopted"
start_activated "$proxy_port" listen
wait_log "event=listening address=127.0.0.1:$proxy_port socket=kept"
inode=$(udp_inode "$proxy_port")
[ -n "$inode" ] || fail "nothing bound to 127.0.0.1:$proxy_port"
[ "$(readlink /proc/"$(cat "$tmp/proxy.pid")"/fd/3)" = "socket:[$inode]" ] ||
	fail "fd 3 is not the socket bound to the port (inode $inode)"
[ "$(udp_inode "$proxy_port")" = "$inode" ] || fail "a second socket on the port"
hello "$proxy_port" || fail "no HelloVerifyRequest on the adopted socket"
wait "$(cat "$tmp/early.pid")" || fail "the ClientHello sent before the daemon ran got no answer"
grep -q hello-verify-request "$tmp/early.out" || fail "no HelloVerifyRequest for the early ClientHello"
[ "$(log_count 'fdstore-dropped')" = 0 ] || fail "the adopted socket was dropped"
# systemd-socket-activate's socket has no SO_REUSEPORT: worker 0 reads it alone.
wait_log "event=listener-not-shared address=127.0.0.1:$proxy_port "
stop_proxy

step "workers = 2 and our own kept socket without SO_REUSEPORT (a run with one worker): bound anew, shared"
start_activated "$proxy_port" "listen-127.0.0.1_$proxy_port"
wait_log "event=fdstore-dropped address=127.0.0.1:$proxy_port reason=\"the kept socket has no SO_REUSEPORT"
wait_log "event=listening address=127.0.0.1:$proxy_port socket=new workers=2"
[ "$(log_count 'listener-not-shared')" = 0 ] || fail "our own socket was kept unshared"
hello "$proxy_port" || fail "no HelloVerifyRequest on the socket bound anew"
kill "$(cat "$tmp/early.pid")" 2>/dev/null || true
stop_proxy

step "an inherited socket for another address is closed, not used"
start_activated "$other_port" "listen-127.0.0.1_$other_port"
wait_log "event=fdstore-dropped name=\"listen-127.0.0.1_$other_port\""
wait_log "event=listening address=127.0.0.1:$proxy_port socket=new"
old=$(udp_inode "$other_port")
[ -z "$old" ] || fail "the socket on port $other_port is still open (inode $old)"
hello "$other_port" && fail "the socket for the unconfigured port $other_port answered"
wait "$(cat "$tmp/early.pid")" && fail "the unconfigured port $other_port answered the early ClientHello"
hello "$proxy_port" || fail "no HelloVerifyRequest on the configured port"
stop_proxy

step "an inherited IPv6 socket with IPV6_V6ONLY on (ours is off) is refused"
command -v python3 >/dev/null || { echo "PASS (python3 missing: IPv6 step skipped)"; exit 0; }
python3 -c 'import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("::1", 0))' \
	2>/dev/null || { echo "PASS (no ::1: IPv6 step skipped)"; exit 0; }
sed -i 's/address = "127.0.0.1"; port = '"$proxy_port"'/address = "::1"; port = '"$proxy_port"'/' "$tmp/proxy.conf"
# Passes one socket the way systemd does (fd 3, LISTEN_PID, LISTEN_FDS), then
# execs the daemon: bound to [::1]:PORT with IPV6_V6ONLY set.
start_bg proxy python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind(("::1", int(sys.argv[1])))
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1", LISTEN_FDNAMES="listen-v6")
os.execv(sys.argv[2], sys.argv[2:])' "$proxy_port" "$proxyd" -f -c "$tmp/proxy.conf"
wait_log 'event=started'
wait_log "event=fdstore-dropped address=\[::1\]:$proxy_port reason=\"inherited socket is IPv6-only\""
wait_log "event=listening address=\[::1\]:$proxy_port socket=new"
"$probe" hello ::1 "$proxy_port" --timeout-ms 2000 2>&1 | grep -q hello-verify-request ||
	fail "no HelloVerifyRequest on the newly bound [::1]:$proxy_port"
stop_proxy
echo "PASS"
