#!/bin/sh
# test-check-config-keys.sh: proves that check-config-keys.sh fails on an
# undocumented key, using copies of the sources with keys added or removed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-keys.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
failures=0

# Copies the pieces the check reads into a fresh tree at $tmp/t.
fresh_tree() {
	rm -rf "$tmp/t"
	mkdir -p "$tmp/t/src" "$tmp/t/man" "$tmp/t/conf"
	cp "$srcdir"/src/config*.c "$srcdir/src/defaults.h" "$tmp/t/src/"
	cp "$srcdir/man/coaps-proxy.conf.5.in" "$srcdir/man/check-config-keys.sh" "$tmp/t/man/"
	cp "$srcdir/conf/coaps-proxy.conf" "$tmp/t/conf/"
}

# Runs the copied check; expects exit status $1 and each further argument in its output.
expect() {
	want=$1
	shift
	set +e
	sh "$tmp/t/man/check-config-keys.sh" >"$tmp/out" 2>&1
	got=$?
	set -e
	if test "$got" != "$want"; then
		echo "FAIL: exit $got, wanted $want:"
		sed 's/^/  | /' "$tmp/out"
		failures=$((failures + 1))
		return
	fi
	for s in "$@"; do
		if ! grep -Fq -- "$s" "$tmp/out"; then
			echo "FAIL: output lacks '$s':"
			sed 's/^/  | /' "$tmp/out"
			failures=$((failures + 1))
			return
		fi
	done
	echo "ok: exit $got $*"
}

fresh_tree
expect 0 "keys of src/config*.c are documented"

# A new key in a group table: missing from both files.
fresh_tree
sed -i 's/"mtu", /"mtu", "fake_key", /' "$tmp/t/src/config.c"
expect 1 "man/coaps-proxy.conf.5.in: dtls.fake_key" "conf/coaps-proxy.conf: dtls.fake_key"

# A new top-level key.
fresh_tree
sed -i 's/root_keys\[\] = { "listen",/root_keys[] = { "bogus", "listen",/' "$tmp/t/src/config.c"
expect 1 "man/coaps-proxy.conf.5.in: bogus" "conf/coaps-proxy.conf: bogus"

# A key of a table whose group is plural (backend_keys -> backends).
fresh_tree
sed -i 's/"name", "address", "port", "sources", NULL/"name", "address", "port", "sources", "weight", NULL/' \
	"$tmp/t/src/config_net.c"
expect 1 "backends.weight"

# A key whose man page entry was deleted.
fresh_tree
sed -i '/^\.B log\.level$/d' "$tmp/t/man/coaps-proxy.conf.5.in"
expect 1 "man/coaps-proxy.conf.5.in: log.level"

# A key whose example line was deleted (comment kept).
fresh_tree
sed -i '/^\tmtu = /d' "$tmp/t/conf/coaps-proxy.conf"
expect 1 "conf/coaps-proxy.conf: dtls.mtu (want an assignment"

# A default changed in src/defaults.h but not in the docs.
fresh_tree
sed -i 's/^#define CONFIG_DEFAULT_DTLS_MTU 1232 /#define CONFIG_DEFAULT_DTLS_MTU 1280 /' "$tmp/t/src/defaults.h"
expect 1 "man/coaps-proxy.conf.5.in: dtls.mtu says Default: 1232, src/defaults.h says 1280" \
	"conf/coaps-proxy.conf: dtls.mtu says default: 1232, src/defaults.h says 1280"

# A documented default that is not the code's (a macro on the line after "Default:").
fresh_tree
sed -i '/^\.B log\.level$/,/^\.TP/s/^\.BR info \.$/.BR warning ./' "$tmp/t/man/coaps-proxy.conf.5.in"
expect 1 "man/coaps-proxy.conf.5.in: log.level says Default: warning, src/defaults.h says info"
fresh_tree
sed -i 's/type: string, default: "required"/type: string, default: "optional"/' "$tmp/t/conf/coaps-proxy.conf"
expect 1 "conf/coaps-proxy.conf: x509.verify_client says default: optional"

# A table that belongs to no top-level key is an error of the check itself.
fresh_tree
sed -i 's/^static const char \*const log_keys\[\]/static const char *const logging_keys[]/' \
	"$tmp/t/src/config.c"
expect 99 "logging_keys[] matches no top-level key"

if test "$failures" -gt 0; then
	echo "$failures failure(s)"
	exit 1
fi
exit 0
