#!/bin/bash
# debian-root.sh: makes and uses a Debian root file system for testing on
# another Debian release (CI runs the suite in a Debian 13 root on a Debian 12
# machine; the quick-start and systemd tests boot such roots).
#
#   debian-root.sh make SUITE DIR [PACKAGE...]  debootstrap --variant=minbase SUITE
#                                               into DIR from this machine's mirror,
#                                               /etc/hosts as an installed system has
#                                               it, then apt-get install PACKAGEs
#   debian-root.sh run DIR COMMAND...           runs COMMAND (bash -c) inside DIR with
#                                               /dev, /proc and /sys bind-mounted,
#                                               and unmounts them afterwards
#   debian-root.sh umount DIR                   unmounts what run mounted (after a kill)
#
# Needs root and debootstrap. Only the mirror named in /etc/apt/sources.list.d/
# (or /etc/apt/sources.list) is contacted.
set -u

# Prints the Debian mirror this machine's apt uses (not the security archive).
mirror() {
	local m
	m=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list 2>/dev/null |
		grep -v '^[[:space:]]*#' | grep -oE 'https?://[^ ]+' |
		grep -v -e security -e nodesource -e google | grep -m1 /debian)
	echo "${m:-http://deb.debian.org/debian}"
}

# Writes /etc/hosts as Debian's installer does: localhost on IPv4 and IPv6.
write_hosts() {
	cat >"$1/etc/hosts" <<'EOF'
127.0.0.1	localhost
::1		localhost ip6-localhost ip6-loopback
ff02::1		ip6-allnodes
ff02::2		ip6-allrouters
EOF
}

# Unmounts /dev, /proc and /sys of root $1 (those that are mounted).
do_umount() {
	local m
	for m in sys proc dev/pts dev; do
		mountpoint -q "$1/$m" && umount -l "$1/$m"
	done
	return 0
}

# Runs bash -c "$2..." inside root $1 with /dev, /proc and /sys mounted.
do_run() {
	local root=$1 rc m
	shift
	for m in dev dev/pts proc sys; do
		mountpoint -q "$root/$m" || mount --bind "/$m" "$root/$m" || { do_umount "$root"; return 1; }
	done
	cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null
	chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		CI="${CI:-}" QUICK="${QUICK:-}" FUZZ_SECONDS="${FUZZ_SECONDS:-}" \
		bash -c "$*"
	rc=$?
	do_umount "$root"
	return $rc
}

# debootstraps suite $1 into $2 and installs packages $3...
do_make() {
	local suite=$1 root=$2
	shift 2
	command -v debootstrap >/dev/null || { echo "debian-root.sh: debootstrap is missing" >&2; return 1; }
	if [ ! -x "$root/usr/bin/apt-get" ]; then
		mkdir -p "$root"
		debootstrap --variant=minbase "$suite" "$root" "$(mirror)" >"$root.debootstrap.log" 2>&1 ||
			{ echo "debian-root.sh: debootstrap $suite failed:" >&2; tail -5 "$root.debootstrap.log" >&2; return 1; }
	fi
	write_hosts "$root"
	[ $# -eq 0 ] && return 0
	do_run "$root" "export DEBIAN_FRONTEND=noninteractive; apt-get update -q >/dev/null &&
		apt-get install -y -q --no-install-recommends $* >/dev/null"
}

case "${1:-}" in
make) shift; do_make "$@" ;;
run) shift; do_run "$@" ;;
umount) do_umount "$2" ;;
*) echo "usage: debian-root.sh make SUITE DIR [PKG...] | run DIR COMMAND... | umount DIR" >&2; exit 2 ;;
esac
