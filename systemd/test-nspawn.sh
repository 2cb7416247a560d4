#!/bin/bash
# test-nspawn.sh: the Debian package under a real systemd. For each Debian
# release asked for (default: 12 13) it builds the .deb (on this machine when
# it runs that release, else in a build root), boots a minimal Debian of that
# release with systemd-nspawn, and checks in it: install (user, group,
# configuration mode, service not enabled, a clear journal line when started
# unconfigured), start, a PSK request through the proxy to coap-server-notls,
# COAPS_EVENT on every event in the journal, coaps-proxyctl as root, as a
# member of the group coaps-proxyd and (refused) as another user, reload of a
# good and of a broken configuration (systemctl reload fails, the old one
# keeps working), reload by SIGHUP, restart with a sender on loopback (the
# listening socket waits in systemd's fd store: no ICMP port unreachable, a
# ClientHello sent while no daemon runs is answered after the start, the same
# socket before and after), a live DTLS session (PSK, and one with a client
# certificate) across `systemctl restart` and (PSK) across `stop` + `start`:
# the session is saved at the stop (sessions-saved, fd store and file) and
# restored at the start (sessions-restored source=fdstore, or source=file
# after a stop on systemd 252, which empties the store), the next request is
# answered over the same session (no handshake), no state file is left and
# the file was mode 0600; a crash (SIGKILL) saves nothing and the restart
# restores nothing; logrotate of the JSON log, restart, stop (what happens
# to the stored socket), and purge (nothing left).
#
# Usage: systemd/test-nspawn.sh [12] [13]      (`make check-systemd` runs it)
# Environment: ROOTS, the directory of the root file systems (default
# /var/tmp/coaps-proxy-roots): nspawn-12, nspawn-13 (booted; made by
# tests/tools/debian-root.sh with debootstrap when missing, never changed by
# a run: the container writes to a tmpfs overlay) and build-13 (build
# dependencies, for a release other than this machine's).
# Needs root, systemd-nspawn (systemd-container), nsenter and debootstrap;
# network for the Debian mirror. Only loopback traffic in the containers
# (they share this machine's network: UDP ports 25683-25685 and 26683-26685).
# Prints PASS:/FAIL: lines; exit 0 when all passed, 1 otherwise, 77 skip.
set -u

srcdir=$(cd "$(dirname "$0")/.." && pwd)
ROOTS=${ROOTS:-/var/tmp/coaps-proxy-roots}
debian_root="bash $srcdir/tests/tools/debian-root.sh"
releases=${*:-12 13}

for tool in systemd-nspawn nsenter debootstrap dpkg-buildpackage; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool not found (apt-get install systemd-container debootstrap dpkg-dev)"
		exit 77
	fi
done
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (debootstrap, systemd-nspawn)"
	exit 77
fi
if [ ! -f "$srcdir/tests/tools/debian-root.sh" ]; then
	echo "SKIP: tests/tools/debian-root.sh is missing"
	exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/coaps-nspawn.XXXXXX")
nspawn_pid=
failures=0
passes=0

# Powers the container off (SIGTERM to systemd-nspawn), killing it when it hangs.
stop_container() {
	local i
	[ -n "$nspawn_pid" ] || return 0
	kill -TERM "$nspawn_pid" 2>/dev/null
	for i in $(seq 60); do
		kill -0 "$nspawn_pid" 2>/dev/null || break
		sleep 1
	done
	kill -KILL "$nspawn_pid" 2>/dev/null
	wait "$nspawn_pid" 2>/dev/null
	nspawn_pid=
}
trap 'stop_container; rm -rf "$work"' EXIT
trap 'exit 1' INT TERM

pass() {
	echo "PASS: $rel: $*"
	passes=$((passes + 1))
}
fail() {
	echo "FAIL: $rel: $*"
	failures=$((failures + 1))
}
# check DESCRIPTION COMMAND...: PASS when COMMAND succeeds.
check() {
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

# Runs bash -c "$*" in the booted container (all its namespaces and root).
in_ct() {
	nsenter --target "$leader" --all --root --wd /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		DEBIAN_FRONTEND=noninteractive SYSTEMD_PAGER= bash -c "$*"
}

# Copies the source tree (the files git knows, with uncommitted changes) to $1.
copy_source() {
	mkdir -p "$1"
	if git -C "$srcdir" rev-parse --git-dir >/dev/null 2>&1; then
		(cd "$srcdir" && git ls-files -co --exclude-standard -z |
			xargs -0 cp --parents -d -t "$1")
	else
		(cd "$srcdir" && tar cf - --exclude='./build*' .) | (cd "$1" && tar xf -)
	fi
}

# Prints the lines of a failed build's log $1 that say why.
build_errors() {
	{ grep -E '^configure: error' "$1" ||
		grep -E '^(FAIL|ERROR): |\.c:[0-9]+:[0-9]+: error:|^dpkg-buildpackage: error' "$1"; } |
		head -8 | sed 's/^/  | /'
}

# Builds the .deb for release $rel into $debs; 0 on success.
build_deb() {
	local log=$work/build-$rel.log codename tree tool
	codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
	mkdir -p "$debs"
	if [ "$codename" = "$suite" ]; then
		copy_source "$work/src-$rel/coaps-proxy"
		if ! (cd "$work/src-$rel/coaps-proxy" && dpkg-buildpackage -us -uc -b) >"$log" 2>&1; then
			build_errors "$log"
			return 1
		fi
		if command -v lintian >/dev/null 2>&1; then
			lintian "$work/src-$rel"/coaps-proxy_*.changes >"$work/lintian-$rel.log" 2>&1
			if grep -q '^E:' "$work/lintian-$rel.log"; then
				sed 's/^/  | /' "$work/lintian-$rel.log"
				fail "lintian reports errors"
			else
				pass "lintian: no errors ($(grep -c '^W:' "$work/lintian-$rel.log") warnings)"
			fi
		fi
		cp "$work/src-$rel"/coaps-proxy_*.deb "$debs/"
		tree=$work/src-$rel/coaps-proxy
	else
		local broot=$ROOTS/build-$rel
		$debian_root make "$suite" "$broot" build-essential >"$log" 2>&1 ||
			{ tail -5 "$log" | sed 's/^/  | /'; return 1; }
		rm -rf "$broot/build"
		copy_source "$broot/build/coaps-proxy"
		# The build dependencies as debian/control names them.
		if ! $debian_root run "$broot" "cd /build/coaps-proxy &&
			DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -q ./ >/dev/null &&
			dpkg-buildpackage -us -uc -b" >>"$log" 2>&1; then
			build_errors "$log"
			return 1
		fi
		cp "$broot/build"/coaps-proxy_*.deb "$debs/"
		tree=$broot/build/coaps-proxy
	fi
	rm -f "$debs"/*dbgsym*
	# The tests' DTLS client, built with the package for this release's
	# mbedTLS: it keeps one session across a restart (session_check).
	tool=$(find "$tree" -path '*/tests/tools/coaps-send' -type f -perm -u+x | head -1)
	if [ -n "$tool" ]; then
		cp "$tool" "$debs/coaps-send"
	else
		fail "the package build left no tests/tools/coaps-send"
	fi
}

# Boots the root $root with an overlay on tmpfs; sets $leader (its PID 1).
boot() {
	local i c
	systemd-nspawn --register=no --keep-unit --quiet --directory="$root" --volatile=overlay \
		--console=passive --bind-ro="$debs:/mnt/debs" --boot \
		</dev/null >"$work/nspawn-$rel.log" 2>&1 &
	nspawn_pid=$!
	leader=
	for i in $(seq 60); do
		for c in $(cat /proc/"$nspawn_pid"/task/*/children 2>/dev/null); do
			[ "$(cat /proc/"$c"/comm 2>/dev/null)" = systemd ] && leader=$c
		done
		[ -n "$leader" ] && break
		sleep 1
	done
	[ -n "$leader" ] || return 1
	for i in $(seq 120); do
		case $(in_ct 'systemctl is-system-running' 2>/dev/null) in
		running | degraded) return 0 ;;
		esac
		sleep 1
	done
	return 1
}

# Prints the names of the daemon's events in the journal that lack
# COAPS_EVENT=name, or nothing; writes the names of all events it logged to
# $work/events-$rel.
check_journal_fields() {
	local line ev field missing=
	in_ct 'journalctl -u coaps-proxyd -o json --no-pager' >"$work/journal-$rel.json"
	: >"$work/events-$rel"
	while IFS= read -r line; do
		ev=$(printf '%s\n' "$line" | sed -n 's/.*"MESSAGE":"event=\([a-z-]*\).*/\1/p')
		[ -n "$ev" ] || continue
		echo "$ev" >>"$work/events-$rel"
		field=$(printf '%s\n' "$line" | sed -n 's/.*"COAPS_EVENT":"\([a-z-]*\)".*/\1/p')
		[ "$field" = "$ev" ] || missing="$missing $ev"
	done <"$work/journal-$rel.json"
	printf '%s' "$missing"
}

# A UDP sender for the restart check, in Perl (perl-base is in every
# Debian): sends a DTLS ClientHello to 127.0.0.1:PORT from a connected
# socket, which the proxy answers with a HelloVerifyRequest, and counts the
# ICMP port unreachable the kernel reports (ECONNREFUSED on send or recv).
#   stream PORT SECS: one every 20 ms until /run/stop-sender exists (SECS at
#     most); prints "sent=N hvr=N refused=N".
#   once PORT SECS: one; waits SECS for the answer; prints "answered",
#     "refused" or "timeout".
hello_pl='use strict; use IO::Socket::INET;
my ($mode, $port, $secs) = @ARGV;
my $hello = pack("H*", "16fefd0000000000000000004e010000420000000000000042fefd6f1be04d65f141f9" .
	"9822e8dbce9498974fe302a2e9f6e483cba58dd98d994e7700000002c0a801000016000a000400020017000b00020100000d000400020403");
my $s = IO::Socket::INET->new(Proto => "udp", PeerAddr => "127.0.0.1", PeerPort => $port) or die "socket: $!";
$s->blocking(0);
my ($sent, $hvr, $refused) = (0, 0, 0);
my $end = time() + $secs;
sub drain {
	my $buf;
	while (1) {
		my $r = $s->recv($buf, 4096, 0);
		if (!defined $r) { if ($!{ECONNREFUSED}) { $refused++; next; } return; }
		$hvr++ if length($buf) > 13 && ord($buf) == 22 && ord(substr($buf, 13, 1)) == 3;
	}
}
if ($mode eq "once") {
	defined(send($s, $hello, 0)) or do { print "refused\n"; exit 0; };
	while (time() < $end) {
		my $rin = ""; vec($rin, fileno($s), 1) = 1;
		select($rin, undef, undef, 0.2);
		drain();
		if ($hvr) { print "answered\n"; exit 0; }
		if ($refused) { print "refused\n"; exit 0; }
	}
	print "timeout\n"; exit 0;
}
while (time() < $end && ! -e "/run/stop-sender") {
	if (defined(send($s, $hello, 0))) { $sent++; } elsif ($!{ECONNREFUSED}) { $refused++; }
	select(undef, undef, undef, 0.02);
	drain();
}
select(undef, undef, undef, 1); drain();
print "sent=$sent hvr=$hvr refused=$refused\n";'

# Prints the inode of the UDP socket bound to 127.0.0.1:${1:-$pport} (/proc/net/udp
# of the container, which shares this machine's network), or nothing.
udp_inode() {
	in_ct "awk -v a=$(printf '0100007F:%04X' "${1:-$pport}") '\$2 == a {print \$10; exit}' /proc/net/udp"
}

# Restart with a real systemd: the listening socket waits in the fd store.
# A drop-in makes the restart take 3 s (ExecStartPre=sleep) so that a
# ClientHello surely arrives while no daemon runs.
restart_check() {
	local inode1 inode2 inode_mid pid1 pid2 stream once state
	in_ct 'mkdir -p /run/systemd/system/coaps-proxyd.service.d &&
		printf "[Service]\nExecStartPre=/bin/sleep 3\n" >/run/systemd/system/coaps-proxyd.service.d/slow.conf &&
		systemctl daemon-reload && rm -f /run/stop-sender'
	printf '%s\n' "$hello_pl" | in_ct 'cat >/run/hello.pl'
	pid1=$(in_ct 'systemctl show -P MainPID coaps-proxyd')
	inode1=$(udp_inode)
	check "listening socket bound before the restart (inode ${inode1:-none})" test -n "$inode1"
	in_ct "perl /run/hello.pl stream $pport 30 >/run/stream.out 2>&1 &"
	sleep 1
	in_ct 'systemctl restart --no-block coaps-proxyd'
	state=
	for _ in $(seq 50); do
		state=$(in_ct 'systemctl show -P ActiveState,SubState coaps-proxyd | paste -sd/')
		[ "$state" = activating/start-pre ] && break
		sleep 0.1
	done
	inode_mid=$(udp_inode)
	once=$(in_ct "perl /run/hello.pl once $pport 20")
	for _ in $(seq 100); do
		in_ct 'systemctl is-active --quiet coaps-proxyd' && break
		sleep 0.2
	done
	sleep 1
	in_ct 'touch /run/stop-sender'
	for _ in $(seq 50); do
		stream=$(in_ct 'cat /run/stream.out')
		[ -n "$stream" ] && break
		sleep 0.2
	done
	pid2=$(in_ct 'systemctl show -P MainPID coaps-proxyd')
	inode2=$(udp_inode)
	echo "note: $rel: restart ($state, $pid1 -> $pid2): socket inode $inode1, during ${inode_mid:-none}, after $inode2;" \
		"ClientHello while down: $once; every 20 ms: $stream"
	in_ct 'journalctl -u coaps-proxyd --no-pager -o cat | grep -E "event=(listening|fdstore)" | tail -3' | sed 's/^/  | /'
	check "restart: a new process ($pid1 -> $pid2)" test "$pid2" != "$pid1" -a "$pid2" != 0
	check "sender saw HelloVerifyRequests around the restart ($stream)" \
		test "$(echo "$stream" | sed -n 's/.*hvr=\([0-9]*\).*/\1/p')" -gt 0
	# Measured: systemd 252 keeps the store across `systemctl restart` too
	# (one job: the store is released only when the unit is inactive with
	# no job queued), so the same holds on Debian 12 and 13.
	check "restart: no ICMP port unreachable ($stream)" \
		test "$(echo "$stream" | sed -n 's/.*refused=\([0-9]*\).*/\1/p')" = 0
	check "restart: the socket stayed bound while no daemon ran (inode ${inode_mid:-none})" \
		test "$inode_mid" = "$inode1"
	check "restart: a ClientHello sent while no daemon ran is answered after the start ($once)" \
		test "$once" = answered
	check "restart: the same listening socket ($inode1 -> $inode2)" test "$inode2" = "$inode1"
	check "journal: the new process kept the socket (socket=kept)" in_ct \
		"journalctl -u coaps-proxyd _PID=$pid2 -o cat --no-pager | grep -q 'event=listening .*socket=kept'"
	in_ct 'rm -rf /run/systemd/system/coaps-proxyd.service.d && systemctl daemon-reload'
}

# A CON GET for /time with MID 0x$1 and a one-byte token (the MID's low
# byte), as the hex coaps-send takes.
req_time() {
	printf '41 01 %s %s %s b4 74 69 6d 65' "$(echo "$1" | cut -c1-2)" "$(echo "$1" | cut -c3-4)" \
		"$(echo "$1" | cut -c3-4)"
}

# The value of field $2 in the first line of the daemon process $1's
# journal that has event=$3, or nothing.
journal_field() {
	in_ct "journalctl -u coaps-proxyd _PID=$1 -o cat --no-pager" |
		sed -n "/event=$3 /{s/.* $2=\\([^ ]*\\).*/\\1/p;q}"
}

# Waits (at most $2 s) until the client output /run/$1.out in the container
# has a line matching the ERE $3; 0 if it came.
client_printed() {
	local i
	for i in $(seq $(($2 * 5))); do
		in_ct "grep -Eq '$3' /run/$1.out 2>/dev/null" && return 0
		sleep 0.2
	done
	return 1
}

# A live PSK session across `systemctl restart` ($1 = restart) or
# `systemctl stop` + `start` ($1 = stop-start): coaps-send (built with the
# package, run in the container) keeps one DTLS session, sends a request,
# waits until /run/go-$1 exists while the daemon restarts, then sends
# another. The old process saves the session (fd store and file), the new
# one restores it ($2: from where, fdstore or file) and answers over the
# same session: no handshake after the restart. $3, $4: a name for the
# session in the messages and coaps-send's credentials (default: PSK).
session_check() {
	local how="$1${3:+ ($3)}" want_source=$2 tag=sess-$1${3:+-$3} pid1 pid2 saved where restored
	local source out mode n
	in_ct "rm -f /run/go-$tag; (/mnt/debs/coaps-send ${4:-} -S -p $pport -w 1000 '$(req_time 0101)' \
		until:/run/go-$tag '$(req_time 0102)'; echo exit=\$?) >/run/$tag.out 2>&1 &"
	if ! client_printed "$tag" 20 '^recv .*mid=0x0101'; then
		in_ct "cat /run/$tag.out" | sed 's/^/  | /'
		fail "$how: no answer before the $how over the live session"
		in_ct "touch /run/go-$tag"
		return
	fi
	pid1=$(in_ct 'systemctl show -P MainPID coaps-proxyd')
	if [ "$1" = restart ]; then
		check "$how with a live session: systemctl restart" in_ct 'systemctl restart coaps-proxyd'
	else
		check "$how with a live session: systemctl stop" in_ct 'systemctl stop coaps-proxyd'
		mode=$(in_ct 'stat -c "%a %U" /var/lib/coaps-proxy/sessions.state 2>&1')
		check "$how: the state file while stopped is mode 0600, owner coaps-proxyd ($mode)" \
			test "$mode" = "600 coaps-proxyd"
		check "$how: systemctl start" in_ct 'systemctl start coaps-proxyd'
	fi
	pid2=$(in_ct 'systemctl show -P MainPID coaps-proxyd')
	in_ct "touch /run/go-$tag"
	# Until the client ends (close_notify), so that no later stop saves it again.
	client_printed "$tag" 40 '^exit='
	saved=$(journal_field "$pid1" count sessions-saved)
	where=$(journal_field "$pid1" where sessions-saved)
	restored=$(journal_field "$pid2" count sessions-restored)
	source=$(journal_field "$pid2" source sessions-restored)
	echo "note: $rel: $how ($pid1 -> $pid2): sessions-saved count=${saved:-none} where=${where:-none};" \
		"sessions-restored count=${restored:-none} source=${source:-none}"
	in_ct "journalctl -u coaps-proxyd _PID=$pid1 _PID=$pid2 -o cat --no-pager |
		grep -E 'event=(sessions-|session-not-restored|handshake-)'" | sed 's/^/  | /'
	check "$how: a new process ($pid1 -> $pid2)" test "$pid2" != "$pid1" -a "$pid2" != 0
	check "$how: event=sessions-saved count>=1 at the stop (count=${saved:-none})" \
		test "${saved:-0}" -ge 1
	check "$how: saved into the fd store and the file (where=${where:-none})" \
		test "$where" = fdstore+file
	check "$how: event=sessions-restored count>=1 at the start (count=${restored:-none})" \
		test "${restored:-0}" -ge 1
	check "$how: restored from the $want_source (source=${source:-none})" \
		test "$source" = "$want_source"
	out=$(in_ct "cat /run/$tag.out")
	n=$(printf '%s\n' "$out" | grep -c '^handshake ok')
	if printf '%s\n' "$out" | grep -q '^recv .*code=2\.05 mid=0x0102' && [ "$n" = 1 ] &&
		printf '%s\n' "$out" | grep -qx 'exit=0'; then
		pass "$how: the request after it answered (2.05) over the same DTLS session, one handshake"
	else
		printf '%s\n' "$out" | sed 's/^/  | /'
		fail "$how: no answer over the same session after it ($n handshakes)"
	fi
	check "$how: no handshake in the new process" in_ct \
		"! journalctl -u coaps-proxyd _PID=$pid2 -o cat --no-pager | grep -Eq 'event=handshake-(start|ok)'"
	out=$(in_ct 'ls -A /var/lib/coaps-proxy')
	check "$how: no state left in /var/lib/coaps-proxy (${out:-empty})" test -z "$out"
	out=$(in_ct 'find /tmp /var/tmp -name "*state*" -o -user coaps-proxyd -type f' | head -5)
	check "$how: nothing of the daemon's in /tmp or /var/tmp (${out:-none})" test -z "$out"
}

# A crash (SIGKILL): Restart=on-failure starts a new process, which restores
# nothing (no sessions-restored event) though a session was live.
crash_check() {
	local pid1 pid2 out
	in_ct "rm -f /run/go-crash; (/mnt/debs/coaps-send -p $pport -w 1000 '$(req_time 0201)' \
		until:/run/go-crash; echo exit=\$?) >/run/crash.out 2>&1 &"
	client_printed crash 20 '^recv .*mid=0x0201' ||
		fail "crash: no answer before the crash over the live session"
	pid1=$(in_ct 'systemctl show -P MainPID coaps-proxyd')
	in_ct 'systemctl kill -s KILL --kill-whom=main coaps-proxyd'
	pid2=$pid1
	for _ in $(seq 60); do
		pid2=$(in_ct 'systemctl show -P MainPID coaps-proxyd')
		[ "$pid2" != "$pid1" ] && [ "$pid2" != 0 ] &&
			in_ct 'systemctl is-active --quiet coaps-proxyd' && break
		sleep 0.5
	done
	in_ct "touch /run/go-crash"
	check "crash: Restart=on-failure started a new process ($pid1 -> $pid2)" \
		test "$pid2" != "$pid1" -a "$pid2" != 0
	check "crash: nothing saved by the killed process" in_ct \
		"! journalctl -u coaps-proxyd _PID=$pid1 -o cat --no-pager | grep -q 'event=sessions-saved'"
	out=$(in_ct "journalctl -u coaps-proxyd _PID=$pid2 -o cat --no-pager | grep 'event=sessions-restored'")
	check "crash: the next start restores nothing (${out:-no sessions-restored})" test -z "$out"
	out=$(in_ct 'ls -A /var/lib/coaps-proxy')
	check "crash: no state in /var/lib/coaps-proxy (${out:-empty})" test -z "$out"
}

# The whole scenario for one release in the booted container.
scenario() {
	local out pid1 pid2 ev missing
	local client="timeout 30 coap-client-openssl -m get -B 20 coaps://127.0.0.1:$pport/.well-known/core"

	# Install: user, group, configuration, service not enabled.
	out=$(in_ct 'apt-get update -q >/dev/null 2>&1; apt-get install -y -q /mnt/debs/coaps-proxy_*.deb 2>&1')
	if ! in_ct 'dpkg-query -W -f="\${Status}" coaps-proxy' | grep -q 'install ok installed'; then
		printf '%s\n' "$out" | tail -20 | sed 's/^/  | /'
		fail "apt-get install ./coaps-proxy_*.deb"
		return
	fi
	pass "apt-get install ./coaps-proxy_*.deb"
	check "system user and group coaps-proxyd" in_ct 'getent passwd coaps-proxyd >/dev/null && getent group coaps-proxyd >/dev/null'
	out=$(in_ct 'stat -c "%a %U %G" /etc/coaps-proxy/coaps-proxy.conf')
	check "configuration mode 0640 root:coaps-proxyd ($out)" test "$out" = "640 root coaps-proxyd"
	check "no demo keys in /etc" in_ct '! grep -Eq "secretPSK123|my_identity|dev-42" /etc/coaps-proxy/coaps-proxy.conf'
	check "dpkg knows the configuration as a conffile" in_ct 'dpkg-query -W -f="\${Conffiles}" coaps-proxy | grep -q /etc/coaps-proxy/coaps-proxy.conf'
	out=$(in_ct 'systemctl is-enabled coaps-proxyd; systemctl is-active coaps-proxyd')
	check "service neither enabled nor started after install ($(echo $out))" test "$(echo $out)" = "disabled inactive"
	check "unconfigured start fails" in_ct '! systemctl start coaps-proxyd 2>/dev/null'
	check "the journal says why: no credentials" in_ct 'journalctl -u coaps-proxyd --no-pager | grep -q "no credentials: configure psk"'
	in_ct 'systemctl stop coaps-proxyd; systemctl reset-failed coaps-proxyd' 2>/dev/null

	# Configure (the example with the demo keys, on this release's ports) and start.
	in_ct "sed -e 's/port = 5684/port = $pport/; s/port = 5683/port = $bport/' \
		-e 's/\"::\"/\"127.0.0.1\"/' \
		/usr/share/doc/coaps-proxy/examples/example-psk.conf >/etc/coaps-proxy/coaps-proxy.conf &&
		echo 'log = { json_file = \"/var/log/coaps-proxy/sessions.jsonl\"; };' >>/etc/coaps-proxy/coaps-proxy.conf &&
		cp -p /etc/coaps-proxy/coaps-proxy.conf /root/good.conf"
	in_ct "systemd-run --quiet --unit=coaps-test-backend coap-server-notls -A 127.0.0.1 -p $bport"
	check "systemctl enable --now" in_ct 'systemctl enable --now coaps-proxyd 2>/dev/null'
	check "service active" in_ct 'systemctl is-active --quiet coaps-proxyd'
	out=$(in_ct "$client -u my_identity -k secretPSK123" 2>&1)
	case $out in
	*"</time>"*) pass "PSK request through the proxy to the backend" ;;
	*) fail "PSK request through the proxy: $out" ;;
	esac
	check "wrong key refused" in_ct "! timeout 15 $client -u my_identity -k wrongkey 2>/dev/null | grep -q '</time>'"

	# coaps-proxyctl: root, a member of coaps-proxyd, another user.
	check "coaps-proxyctl stats as root" in_ct 'coaps-proxyctl stats >/dev/null'
	in_ct 'useradd --no-create-home --groups coaps-proxyd coapsop && useradd --no-create-home coapsother'
	check "coaps-proxyctl stats as a member of coaps-proxyd" \
		in_ct 'setpriv --reuid=coapsop --regid=coapsop --init-groups coaps-proxyctl stats >/dev/null'
	out=$(in_ct 'setpriv --reuid=coapsother --regid=coapsother --init-groups coaps-proxyctl stats >/dev/null 2>&1; echo $?')
	check "coaps-proxyctl refused to another user (exit $out)" test "$out" = 3

	# Reload: a good file (new identity works), a broken one (reload fails, old one stays).
	in_ct "sed -i 's/{ identity = \"dev-42\";/{ identity = \"sensor-9\"; key = \"newkey9\"; },\n\t&/' /etc/coaps-proxy/coaps-proxy.conf"
	check "systemctl reload (good file) succeeds" in_ct 'systemctl reload coaps-proxyd'
	out=$(in_ct "$client -u sensor-9 -k newkey9" 2>&1)
	case $out in
	*"</time>"*) pass "identity added by reload works" ;;
	*) fail "identity added by reload: $out" ;;
	esac
	in_ct 'echo "this is not libconfig" >>/etc/coaps-proxy/coaps-proxy.conf'
	check "systemctl reload (broken file) fails" in_ct '! systemctl reload coaps-proxyd 2>/dev/null'
	check "still active after the failed reload" in_ct 'systemctl is-active --quiet coaps-proxyd'
	out=$(in_ct "$client -u sensor-9 -k newkey9" 2>&1)
	case $out in
	*"</time>"*) pass "old configuration still in force after the failed reload" ;;
	*) fail "after the failed reload: $out" ;;
	esac
	check "journal: reload-failed with the file and line" in_ct \
		'journalctl -u coaps-proxyd COAPS_EVENT=reload-failed --no-pager | grep -q "coaps-proxy.conf:[0-9]"'
	in_ct 'cp -p /root/good.conf /etc/coaps-proxy/coaps-proxy.conf'
	pid1=$(in_ct 'systemctl show -P MainPID coaps-proxyd')
	n1=$(in_ct 'journalctl -u coaps-proxyd COAPS_EVENT=reloaded -o cat --no-pager | wc -l')
	in_ct 'systemctl kill -s HUP --kill-whom=main coaps-proxyd'
	out=none
	for _ in $(seq 20); do
		n2=$(in_ct 'journalctl -u coaps-proxyd COAPS_EVENT=reloaded -o cat --no-pager | wc -l')
		out=$(in_ct 'systemctl show -P ActiveState coaps-proxyd')
		[ "$out" = active ] && [ "$n2" -gt "$n1" ] && break
		sleep 0.5
	done
	pid2=$(in_ct 'systemctl show -P MainPID coaps-proxyd')
	check "reload by SIGHUP: reloaded, active, same process ($out, $pid1 -> $pid2)" \
		test "$out/$pid1/$((n2 > n1))" = "active/$pid2/1"

	# Reload: a listener added goes into the fd store, one removed leaves it
	# (its port closes at once, as systemd held no other copy).
	local xport=$((pport + 1)) xinode
	in_ct "sed -i 's/^listen = ( { address = \"127.0.0.1\"; port = $pport; } );/listen = ( { address = \"127.0.0.1\"; port = $pport; }, { address = \"127.0.0.1\"; port = $xport; } );/' /etc/coaps-proxy/coaps-proxy.conf"
	check "reload adding the listener 127.0.0.1:$xport" in_ct 'systemctl reload coaps-proxyd'
	xinode=$(udp_inode "$xport")
	check "the added listener is bound (inode ${xinode:-none})" test -n "$xinode"
	in_ct 'cp -p /root/good.conf /etc/coaps-proxy/coaps-proxy.conf'
	check "reload removing it" in_ct 'systemctl reload coaps-proxyd'
	for _ in $(seq 20); do
		xinode=$(udp_inode "$xport")
		[ -z "$xinode" ] && break
		sleep 0.2
	done
	check "the removed listener left the fd store: port $xport closed (inode ${xinode:-none})" test -z "$xinode"

	# Restart, stop.
	restart_check
	pid1=$(in_ct 'systemctl show -P MainPID coaps-proxyd')
	check "systemctl restart" in_ct 'systemctl restart coaps-proxyd'
	pid2=$(in_ct 'systemctl show -P MainPID coaps-proxyd')
	check "restart: a new process ($pid1 -> $pid2)" test "$pid2" != "$pid1" -a "$pid2" != 0
	out=$(in_ct "$client -u my_identity -k secretPSK123" 2>&1)
	case $out in
	*"</time>"*) pass "PSK request after the restart" ;;
	*) fail "PSK request after the restart: $out" ;;
	esac
	session_check restart fdstore
	# A certificate session (ECDHE-ECDSA, client certificate) across a restart.
	in_ct 'install -m 0640 -g coaps-proxyd /mnt/debs/certs/server-cert.pem /mnt/debs/certs/server-key.pem \
		/mnt/debs/certs/ca-cert.pem /etc/coaps-proxy/ &&
		printf "x509 = { certificate = \"/etc/coaps-proxy/server-cert.pem\"; private_key = \"/etc/coaps-proxy/server-key.pem\";\n\tclient_ca = \"/etc/coaps-proxy/ca-cert.pem\"; verify_client = \"required\"; };\n" \
		>>/etc/coaps-proxy/coaps-proxy.conf'
	if in_ct 'systemctl reload coaps-proxyd'; then
		session_check restart fdstore certificate "-C /mnt/debs/certs/client-cert.pem \
			-K /mnt/debs/certs/client-key.pem -A /mnt/debs/certs/ca-cert.pem"
	else
		fail "reload adding x509 (the certificate session)"
	fi
	in_ct 'cp -p /root/good.conf /etc/coaps-proxy/coaps-proxy.conf && systemctl reload coaps-proxyd &&
		rm -f /etc/coaps-proxy/server-cert.pem /etc/coaps-proxy/server-key.pem /etc/coaps-proxy/ca-cert.pem'
	# systemd 254+ (FileDescriptorStorePreserve=yes) keeps the store across a
	# stop; 252 empties it, and the file carries the sessions.
	if [ "$sysv" -ge 254 ]; then
		session_check stop-start fdstore
	else
		session_check stop-start file
	fi
	crash_check
	check "JSON session log written" in_ct 'grep -q "\"event\":\"handshake-ok\"" /var/log/coaps-proxy/sessions.jsonl'
	if in_ct 'command -v logrotate >/dev/null'; then
		out=$(in_ct 'logrotate -f /etc/logrotate.d/coaps-proxyd 2>&1')
		check "logrotate rotates the JSON log${out:+ ($out)}" \
			in_ct 'test -s /var/log/coaps-proxy/sessions.jsonl.1'
		out=none
		for _ in $(seq 20); do
			in_ct 'test -f /var/log/coaps-proxy/sessions.jsonl' && out=reopened && break
			sleep 0.5
		done
		check "the daemon reopens the JSON log after logrotate ($out)" test "$out" = reopened
	else
		fail "logrotate (Recommends) not installed"
	fi
	check "systemctl stop" in_ct 'systemctl stop coaps-proxyd && ! systemctl is-active --quiet coaps-proxyd'
	check "control socket removed at stop" in_ct '! test -e /run/coaps-proxy/control.sock'
	# After a stop: systemd 254+ with FileDescriptorStorePreserve=yes keeps the
	# socket (bound, datagrams queue) until `systemctl clean --what=fdstore`;
	# 252 empties the store, so the port is closed.
	out=$(udp_inode)
	if [ "$sysv" -ge 254 ]; then
		check "stop: the socket stays in the store (inode ${out:-none})" test -n "$out"
		check "systemctl clean --what=fdstore" in_ct 'systemctl clean --what=fdstore coaps-proxyd'
		out=$(udp_inode)
		check "clean: the port is closed (inode ${out:-none})" test -z "$out"
	else
		check "stop: the store is emptied, the port closed (inode ${out:-none})" test -z "$out"
	fi

	# The journal: every event of the daemon carries COAPS_EVENT.
	missing=$(check_journal_fields)
	check "every daemon event in the journal has COAPS_EVENT${missing:+ (missing:$missing)}" test -z "$missing"
	for ev in started listening control-listening stopping stopped cookie-sent session-new \
		handshake-start handshake-ok handshake-failed session-closed control reloading reloaded \
		reload-failed log-reopened sessions-saved sessions-restored; do
		grep -qx "$ev" "$work/events-$rel" || fail "event $ev not in the journal"
	done
	check "journalctl COAPS_EVENT=handshake-ok finds the handshake" in_ct \
		'journalctl -u coaps-proxyd COAPS_EVENT=handshake-ok -o cat --no-pager | grep -q "identity=\"my_identity\""'

	# Purge: nothing left behind.
	out=$(in_ct 'apt-get purge -y -q coaps-proxy 2>&1')
	check "apt-get purge" in_ct '! dpkg-query -W -f="\${Status}" coaps-proxy 2>/dev/null | grep -q installed'
	for path in /etc/coaps-proxy /var/log/coaps-proxy /var/lib/coaps-proxy /run/coaps-proxy \
		/etc/logrotate.d/coaps-proxyd /etc/systemd/system/multi-user.target.wants/coaps-proxyd.service; do
		check "purge removed $path" in_ct "! test -e $path"
	done
	check "purge removed the user and group" in_ct '! getent passwd coaps-proxyd && ! getent group coaps-proxyd'
}

start=$(date +%s)
for rel in $releases; do
	case $rel in
	12) suite=bookworm pport=25684 bport=25683 ;;
	13) suite=trixie pport=26684 bport=26683 ;;
	*) echo "test-nspawn.sh: unknown Debian release $rel (12 or 13)" >&2; exit 2 ;;
	esac
	t0=$(date +%s)
	root=$ROOTS/nspawn-$rel
	debs=$work/debs-$rel
	if ! $debian_root make "$suite" "$root" systemd dbus libcoap3-bin >"$work/root-$rel.log" 2>&1; then
		tail -5 "$work/root-$rel.log" | sed 's/^/  | /'
		fail "root file system $root (debootstrap $suite)"
		continue
	fi
	if ! build_deb; then
		fail "build of the .deb for Debian $rel"
		continue
	fi
	pass "build of the .deb for Debian $rel"
	if ! bash "$srcdir/certs/gen-certs.sh" "$debs/certs" >"$work/certs-$rel.log" 2>&1; then
		sed 's/^/  | /' "$work/certs-$rel.log"
		fail "certs/gen-certs.sh for the certificate session"
	fi
	chmod -R a+rX "$debs/certs"
	if ! boot; then
		tail -20 "$work/nspawn-$rel.log" | sed 's/^/  | /'
		fail "boot of $root with systemd-nspawn"
		stop_container
		continue
	fi
	pass "boot of Debian $rel ($(in_ct 'systemctl --version | head -1'))"
	sysv=$(in_ct 'systemctl --version | sed -n "1s/^systemd \([0-9]*\).*/\1/p"')
	scenario
	stop_container
	echo "note: Debian $rel took $(($(date +%s) - t0)) s"
done

echo "$passes passed, $failures failed in $(($(date +%s) - start)) s"
[ "$failures" -eq 0 ]
