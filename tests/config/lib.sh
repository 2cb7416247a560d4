# lib.sh: what only the configuration tests use (sourced, not run).
#
# Builds on tests/lib/harness.sh and adds:
#   check_config FILE     coaps-proxyd -t -c FILE, run from / as under systemd (10 s at
#                         most; blocking fails the test); output in $out, exit in $rc
#   expect_out RC TEXT    fails unless the last check_config exited RC with the
#                         fixed string TEXT in its output
#   expect_not TEXT       fails if the last check_config printed the fixed string TEXT
. "${srcdir:-.}/tests/lib/harness.sh"

# The daemon runs from /, as under systemd: nothing may depend on the working directory.
proxyd=$(cd "$(dirname "$proxyd")" && pwd)/$(basename "$proxyd")

# Runs `coaps-proxyd -t -c $1` from /; output in $out, exit in $rc.
check_config() {
	rc=0
	out=$(cd / && timeout 10 "$proxyd" -t -c "$1" 2>&1) || rc=$?
	[ "$rc" != 124 ] || fail "coaps-proxyd -t -c $1 blocked for 10 s"
}

# Expects the last check_config to have exited $1 with the fixed string $2 in its output.
expect_out() {
	[ "$rc" = "$1" ] || fail "expected exit $1, got $rc: $out"
	printf '%s\n' "$out" | grep -qF -- "$2" || fail "expected '$2', got: $out"
}

# Expects the last check_config's output not to hold the fixed string $1.
expect_not() {
	printf '%s\n' "$out" | grep -qF -- "$1" && fail "unexpected '$1' in: $out"
	return 0
}
