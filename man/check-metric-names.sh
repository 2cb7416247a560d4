#!/bin/sh
# check-metric-names.sh: fails when a metric family the daemon exports is
# missing from the METRICS section of man/coaps-proxyd.8.in.
#
# Usage: check-metric-names.sh SCRAPE [MANPAGE]
# SCRAPE is a GET /metrics answer of a running coaps-proxyd (its "# TYPE NAME
# KIND" lines name the families); MANPAGE defaults to man/coaps-proxyd.8.in
# next to this script. A family is documented when the page's METRICS
# section (from ".SH METRICS" to the next ".SH") has the line ".B NAME".
# Prints each missing name and exits 1; otherwise prints how many names were
# checked and exits 0. Exit 99 when the inputs cannot be read or hold no names.
set -u

scrape=${1:?usage: check-metric-names.sh SCRAPE [MANPAGE]}
man=${2:-$(cd "$(dirname "$0")" && pwd)/coaps-proxyd.8.in}
for f in "$scrape" "$man"; do
	if ! test -r "$f"; then
		echo "check-metric-names: cannot read $f" >&2
		exit 99
	fi
done
names=$(awk '$1 == "#" && $2 == "TYPE" { print $3 }' "$scrape" | sort -u)
documented=$(awk '/^\.SH / { in_section = ($0 == ".SH METRICS") ; next }
	in_section && $1 == ".B" && NF == 2 { print $2 }' "$man" | sort -u)
if test -z "$names"; then
	echo "check-metric-names: no \"# TYPE\" lines in $scrape" >&2
	exit 99
fi
if test -z "$documented"; then
	echo "check-metric-names: no METRICS section with .B lines in $man" >&2
	exit 99
fi
missing=0
checked=0
for n in $names; do
	checked=$((checked + 1))
	if ! printf '%s\n' "$documented" | grep -Fxq "$n"; then
		echo "missing from the METRICS section of $man: $n (want a line \".B $n\")"
		missing=$((missing + 1))
	fi
done
if test "$missing" -gt 0; then
	echo "check-metric-names: $missing of $checked metric names are not documented"
	exit 1
fi
echo "check-metric-names: all $checked metric names are documented"
exit 0
