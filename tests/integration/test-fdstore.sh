#!/bin/sh
# Sockets passed by systemd (LISTEN_FDS, as from the fd store after a restart):
# without any the daemon binds its own as before; one for a configured address
# is adopted (no second bind); one for an address no longer configured is
# closed, not used. systemd-socket-activate passes them the way systemd does.
. "${srcdir:-.}/tests/integration/lib.sh"

activate=$(command -v systemd-socket-activate || true)
[ -n "$activate" ] || skip "systemd-socket-activate missing (package systemd)"
"$proxyd" -V >/dev/null || fail "coaps-proxyd -V"
other_port=$(free_port)

start_coap_server
write_conf "$tmp/proxy.conf" <<'CONF'
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; } );
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
echo "PASS"
