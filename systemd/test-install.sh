#!/bin/sh
# test-install.sh: `make install DESTDIR=...` puts every file where it
# belongs (the configuration mode 0640, without keys), keeps an edited
# configuration, installs a unit that `systemd-analyze verify` accepts and
# whose man pages are installed, and `make uninstall` removes it all.
#
# Runs from the top build directory (where automake runs tests), or from
# the directory in $TOP_BUILDDIR. Exit 0 pass, 1 fail, 77 skip.
# Without systemd-analyze the verify step is skipped (the rest still runs),
# unless CI=true, where that is a failure.
set -u

top_builddir=${TOP_BUILDDIR:-$(pwd)}
srcdir=$(cd "$(dirname "$0")/.." && pwd)
make=${MAKE:-make}
if ! test -f "$top_builddir/Makefile"; then
	echo "SKIP: no Makefile in $top_builddir (run from the build directory)"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/coaps-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
dest=$tmp/root
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# Runs make quietly in the build directory; shows its output when it fails.
run_make() {
	if ! $make --no-print-directory -C "$top_builddir" "$@" >"$tmp/make.log" 2>&1; then
		sed 's/^/  | /' "$tmp/make.log"
		fail "make $*"
		return 1
	fi
}

# The directories as make expands them (sbindir=..., bindir=..., ...).
if ! $make -s --no-print-directory -C "$top_builddir" coaps-print-install-dirs \
	>"$tmp/dirs" 2>&1; then
	cat "$tmp/dirs"
	echo "FAIL: make coaps-print-install-dirs"
	exit 1
fi
. "$tmp/dirs"

files="$sbindir/coaps-proxyd
$sysconfdir/coaps-proxy/coaps-proxy.conf
$sysconfdir/logrotate.d/coaps-proxyd
$systemdsystemunitdir/coaps-proxyd.service
$sysusersdir/coaps-proxy.conf
$docdir/examples/example-psk.conf
$mandir/man8/coaps-proxyd.8
$mandir/man5/coaps-proxy.conf.5
$mandir/man1/coaps-proxyctl.1"
case " $bin_programs " in
*coaps-proxyctl*)
	files="$files
$bindir/coaps-proxyctl" ;;
*)
	echo "note: coaps-proxyctl is not built yet: its install is not checked" ;;
esac
unit=$dest$systemdsystemunitdir/coaps-proxyd.service
conf=$dest$sysconfdir/coaps-proxy/coaps-proxy.conf

# 1. Every file where it belongs.
run_make install DESTDIR="$dest" || exit 1
while read -r f; do
	if test -f "$dest$f"; then
		echo "ok: installed $f"
	else
		fail "not installed: $f"
	fi
done <<EOF
$files
EOF
test -x "$dest$sbindir/coaps-proxyd" || fail "$sbindir/coaps-proxyd is not executable"
if test -f "$conf" && ! cmp -s "$srcdir/conf/coaps-proxy.conf" "$conf"; then
	fail "installed configuration differs from conf/coaps-proxy.conf"
fi
if test -f "$conf"; then
	mode=$(stat -c %a "$conf")
	test "$mode" = 640 || fail "installed configuration is mode $mode, not 0640"
fi
for f in "$unit" "$dest$mandir"/man*/coaps-proxy*; do
	if test -f "$f" && grep -n '@[a-zA-Z_][a-zA-Z_]*@' "$f"; then
		fail "$f: placeholder left unsubstituted"
	fi
done
if test -f "$unit"; then
	grep -qx "ExecStart=$sbindir/coaps-proxyd -f -c $sysconfdir/coaps-proxy/coaps-proxy.conf" \
		"$unit" || fail "unit: ExecStart does not name $sbindir and $sysconfdir"
	grep -Eqx 'Type=(notify|exec)' "$unit" || fail "unit: Type= is not notify or exec"
fi

# 2. The installed configuration has no keys: the installed daemon refuses
# it and says why; with the PSK example it is accepted.
if test -x "$dest$sbindir/coaps-proxyd" && test -f "$conf"; then
	out=$("$dest$sbindir/coaps-proxyd" -t -c "$conf" 2>&1)
	case $out in
	*"no credentials: configure psk"*)
		echo "ok: coaps-proxyd -t refuses the installed configuration (no credentials)" ;;
	*) fail "coaps-proxyd -t on the installed configuration: $out" ;;
	esac
	out=$("$dest$sbindir/coaps-proxyd" -t -c "$dest$docdir/examples/example-psk.conf" 2>&1)
	case $out in
	*"configuration OK"*) echo "ok: coaps-proxyd -t accepts examples/example-psk.conf" ;;
	*) fail "coaps-proxyd -t on examples/example-psk.conf: $out" ;;
	esac
fi

# 3. The man pages the unit's Documentation= names are installed.
if test -f "$unit"; then
	for page in $(sed -n 's/^Documentation=//p' "$unit"); do
		case $page in
		man:*"("*")")
			name=${page#man:}
			name=${name%"("*}
			sec=${page##*"("}
			sec=${sec%")"}
			if test -f "$dest$mandir/man$sec/$name.$sec"; then
				echo "ok: Documentation=$page is installed"
			else
				fail "Documentation=$page: no $mandir/man$sec/$name.$sec"
			fi ;;
		*) fail "Documentation=$page: not a man:NAME(SECTION) page" ;;
		esac
	done
fi

# 4. systemd-analyze verify on the installed unit, with its paths pointing
# into DESTDIR so that the binaries it names exist. --man=no: man(1) is not
# on a minimal system; step 3 checked the pages.
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$tmp/verify"
	sed -e "s|$sbindir/|$dest$sbindir/|g" -e "s|$bindir/|$dest$bindir/|g" \
		-e "s|$sysconfdir/|$dest$sysconfdir/|g" \
		"$unit" >"$tmp/verify/coaps-proxyd.service"
	if systemd-analyze verify --man=no "$tmp/verify/coaps-proxyd.service" \
		>"$tmp/verify.log" 2>&1 &&
		! grep -q 'coaps-proxyd.service' "$tmp/verify.log"; then
		echo "ok: systemd-analyze verify"
	else
		sed 's/^/  | /' "$tmp/verify.log"
		fail "systemd-analyze verify on the installed unit"
	fi
elif test "${CI:-}" = true; then
	fail "systemd-analyze not found (CI=true): apt-get install systemd"
else
	echo "SKIP (part): systemd-analyze not found, unit not verified"
fi

# 5. A second install keeps an edited configuration.
echo "# edited by test-install.sh" >>"$conf"
cp "$conf" "$tmp/edited.conf"
run_make install DESTDIR="$dest" || exit 1
if cmp -s "$tmp/edited.conf" "$conf"; then
	echo "ok: a second install keeps the edited configuration"
else
	fail "a second install overwrote the edited configuration"
fi

# 6. Uninstall removes everything, but keeps the edited configuration...
run_make uninstall DESTDIR="$dest" || exit 1
while read -r f; do
	case $f in
	*/coaps-proxy.conf) continue ;;
	esac
	if test -e "$dest$f"; then
		fail "not uninstalled: $f"
	fi
done <<EOF
$files
EOF
if test -f "$conf" && cmp -s "$tmp/edited.conf" "$conf"; then
	echo "ok: uninstall keeps the edited configuration"
else
	fail "uninstall removed the edited configuration"
fi
# ...and removes it once it is the example again.
cp "$srcdir/conf/coaps-proxy.conf" "$conf"
run_make uninstall DESTDIR="$dest" || exit 1
test -e "$conf" && fail "uninstall kept an unedited configuration"
left=$(find "$dest" -type f | sed "s|^$dest||")
if test -n "$left"; then
	fail "files left after uninstall: $left"
else
	echo "ok: uninstall removed every file"
fi

if test "$failures" -gt 0; then
	echo "$failures failure(s)"
	exit 1
fi
exit 0
