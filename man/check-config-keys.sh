#!/bin/sh
# check-config-keys.sh: fails when a key that src/config*.c accept is missing
# from man/coaps-proxy.conf.5.in or conf/coaps-proxy.conf.
#
# Usage: check-config-keys.sh [SRCDIR]
# SRCDIR is the source tree (default: the parent of this script's directory,
# which automake passes as $0, so out-of-tree builds work).
#
# The keys are the strings of the `static const char *const NAME_keys[]`
# tables in src/config*.c (each table sits in the piece that reads its
# group). root_keys are top-level names; every other table holds the keys
# of the top-level group named NAME or NAME + "s" (backend_keys ->
# backends.KEY). A key is documented when
#   - the man page has the line ".B GROUP.KEY" (root keys: ".B KEY"), and
#   - the example has a comment "# GROUP.KEY:" and an assignment "KEY =",
#     possibly commented out.
# The documented default of each key in src/defaults.h must be its value
# there: the man page entry's "Default: VALUE" and the example's
# "default: VALUE".
# Prints each missing key and exits 1; otherwise prints how many keys were
# checked and exits 0. Exit 99 when the sources cannot be read.
set -u

srcdir=${1:-$(cd "$(dirname "$0")/.." && pwd)}
config_c=$srcdir/src/config.c
man=$srcdir/man/coaps-proxy.conf.5.in
conf=$srcdir/conf/coaps-proxy.conf

for f in "$config_c" "$man" "$conf"; do
	if ! test -r "$f"; then
		echo "check-config-keys: cannot read $f" >&2
		exit 99
	fi
done

# One "TABLE KEY" line per key, TABLE without the _keys suffix.
pairs=$(awk '
	/static const char \*const [A-Za-z0-9_]+_keys\[\] *=/ {
		t = $0
		sub(/.*static const char \*const /, "", t)
		sub(/_keys\[\].*/, "", t)
		intable = 1
	}
	intable {
		line = $0
		while (match(line, /"[^"]*"/)) {
			print t, substr(line, RSTART + 1, RLENGTH - 2)
			line = substr(line, RSTART + RLENGTH)
		}
		if ($0 ~ /}/)
			intable = 0
	}' "$srcdir"/src/config*.c)

if test -z "$pairs"; then
	echo "check-config-keys: no *_keys[] tables found in $srcdir/src/config*.c" >&2
	exit 99
fi
roots=$(printf '%s\n' "$pairs" | awk '$1 == "root" { print $2 }')
if test -z "$roots"; then
	echo "check-config-keys: no root_keys[] table in $config_c" >&2
	exit 99
fi

# Escapes the regex metacharacters a key name may hold (the dot).
re_quote() {
	printf '%s' "$1" | sed 's/[].[*^$\\]/\\&/g'
}

checked=0
missing=0
# The here-document keeps the loop in this shell, so the counters survive.
while read -r table key; do
	if test "$table" = root; then
		qualified=$key
	else
		group=
		for r in $roots; do
			if test "$r" = "$table" || test "$r" = "${table}s"; then
				group=$r
			fi
		done
		if test -z "$group"; then
			echo "check-config-keys: ${table}_keys[] matches no top-level key" \
				"(expected $table or ${table}s in root_keys[])" >&2
			exit 99
		fi
		qualified=$group.$key
	fi
	checked=$((checked + 1))
	if ! grep -Fxq ".B $qualified" "$man"; then
		echo "missing from man/coaps-proxy.conf.5.in: $qualified (want a line \".B $qualified\")"
		missing=$((missing + 1))
	fi
	q=$(re_quote "$qualified")
	k=$(re_quote "$key")
	if ! grep -Eq "^[[:space:]]*#[[:space:]#]*$q:" "$conf"; then
		echo "missing from conf/coaps-proxy.conf: $qualified (want a comment \"# $qualified: ...\")"
		missing=$((missing + 1))
	elif ! grep -Eq "^[[:space:]#]*$k[[:space:]]*=" "$conf"; then
		echo "missing from conf/coaps-proxy.conf: $qualified (want an assignment \"$key = ...;\")"
		missing=$((missing + 1))
	fi
done <<EOF
$pairs
EOF

# The fixed defaults of src/defaults.h ("#define CONFIG_DEFAULT_NAME VALUE
# /* KEY */"), one "KEY VALUE" line each, quotes taken off the value.
defaults_h=$srcdir/src/defaults.h
if ! test -r "$defaults_h"; then
	echo "check-config-keys: cannot read $defaults_h" >&2
	exit 99
fi
defaults=$(sed -n 's|^#define CONFIG_DEFAULT_[A-Z0-9_]*[[:space:]][[:space:]]*\([^[:space:]]*\)[[:space:]]*/\* \([a-z0-9_.]*\) \*/$|\2 \1|p' \
	"$defaults_h" | tr -d '"')
if test -z "$defaults"; then
	echo "check-config-keys: no CONFIG_DEFAULT_* lines found in $defaults_h" >&2
	exit 99
fi
ndefaults=0
while read -r key value; do
	ndefaults=$((ndefaults + 1))
	# The man page entry: from ".TP" ".B KEY" to the next ".TP" or section,
	# macros taken off so that "Default:" ".BR info ." reads "Default: info .".
	said=$(awk -v k="$key" '
		prev == ".TP" && $0 == ".B " k { on = 1; prev = $0; next }
		on && (/^\.TP/ || /^\.SH/) { exit }
		on { line = $0; sub(/^\.[A-Za-z]+ /, "", line); printf "%s ", line }
		{ prev = $0 }' "$man" |
		sed -n 's/.*Default: *"\{0,1\}\([^ ",;(]*\).*/\1/p' | sed 's/\.$//')
	if test "$said" != "$value"; then
		echo "man/coaps-proxy.conf.5.in: $key says Default: ${said:-(nothing)}," \
			"src/defaults.h says $value"
		missing=$((missing + 1))
	fi
	# The example: the comment block "# KEY: ..." up to the assignment after it.
	said=$(awk -v k="$key" '
		index($0, "# " k ":") { on = 1 }
		on { printf "%s ", $0 }
		on && /^[[:space:]#]*[a-z0-9_]+[[:space:]]*=/ { exit }' "$conf" |
		sed -n 's/.*default: *"\{0,1\}\([^ ",;(]*\).*/\1/p')
	if test "$said" != "$value"; then
		echo "conf/coaps-proxy.conf: $key says default: ${said:-(nothing)}," \
			"src/defaults.h says $value"
		missing=$((missing + 1))
	fi
done <<EOF
$defaults
EOF

if test "$missing" -gt 0; then
	echo "check-config-keys: $missing problem(s) in $checked keys and $ndefaults defaults: fix the docs"
	exit 1
fi
echo "check-config-keys: all $checked keys of src/config*.c are documented," \
	"$ndefaults defaults as src/defaults.h has them"
exit 0
