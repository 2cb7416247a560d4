#!/bin/sh
# The C sources follow .clang-format (STYLE.md: one formatter config and a check).
# Checked with clang-format 14, Debian 12's: other versions format some lines
# differently, so with another version (Debian 13 has 19) or none this is a SKIP.
# To format: clang-format -i FILE (with version 14), or `make check-format` to list.
srcdir=${srcdir:-.}
command -v clang-format >/dev/null 2>&1 || { echo "SKIP: clang-format is not installed"; exit 77; }
major=$(clang-format --version | sed -n 's/.*clang-format version \([0-9]*\)\..*/\1/p')
[ "$major" = 14 ] || { echo "SKIP: clang-format $major, the check needs 14"; exit 77; }
files=$(find "$srcdir/src" "$srcdir/tests" -name '*.[ch]' | sort)
[ -n "$files" ] || { echo "FAIL: no C sources under $srcdir"; exit 1; }
bad=0
for f in $files; do
	if ! clang-format --style=file:"$srcdir/.clang-format" --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f"
		bad=$((bad + 1))
	fi
done
echo "$(echo "$files" | wc -l) files checked, $bad not formatted"
[ "$bad" = 0 ]
