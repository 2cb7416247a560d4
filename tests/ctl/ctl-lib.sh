# ctl-lib.sh: shared helper for the coaps-proxyctl and metrics tests (sourced).
#
# Builds on tests/integration/lib.sh and adds:
#   $ctl_sock                  the control socket path the configs use (in $tmp/run)
#   ctl ARGS...                coaps-proxyctl -s $ctl_sock ARGS; output in $out, $err, $rc
#   sclient NAME SECS ID KEY   an openssl s_client PSK session held open SECS seconds
#   free_tcp_port              a TCP port nobody on this machine uses
. "${srcdir:-.}/tests/integration/lib.sh"

proxyctl=${PROXYCTL:-./src/coaps-proxyctl}
[ -x "$proxyctl" ] || skip "$proxyctl not built"
command -v openssl >/dev/null || skip "openssl missing"
mkdir -p "$tmp/run"
ctl_sock=$tmp/run/ctl.sock

# Runs coaps-proxyctl (bounded); sets $out (stdout), $err (stderr) and $rc.
ctl() {
	rc=0
	timeout 30 "$proxyctl" -s "$ctl_sock" "$@" >"$tmp/ctl.out" 2>"$tmp/ctl.err" || rc=$?
	out=$(cat "$tmp/ctl.out")
	err=$(cat "$tmp/ctl.err")
}

# Fails unless the last ctl exited with status $1.
expect_rc() {
	[ "$rc" = "$1" ] || fail "expected exit $1, got $rc; stdout: $out; stderr: $err"
}

# Keeps an openssl s_client PSK session (identity $3, text key $4) open for $2 seconds.
sclient() {
	hex=$(printf '%s' "$4" | od -An -tx1 | tr -d ' \n')
	start_bg "$1" sh -c 'sleep "$1" | timeout "$2" openssl s_client -dtls1_2 -connect "$3" \
		-psk "$4" -psk_identity "$5" -cipher PSK-AES128-CCM8:@SECLEVEL=0' sh "$2" $(($2 + 5)) \
		"127.0.0.1:$proxy_port" "$hex" "$3"
}

# Tells whether TCP port $1 is bound on this machine (IPv4 or IPv6).
tcp_port_in_use() {
	hex=$(printf '%04X' "$1")
	cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk -v h=":$hex" '$2 ~ h"$" {f=1} END {exit !f}'
}

# Prints a random free TCP port in 20000-59999.
free_tcp_port() {
	i=0
	while [ $i -lt 100 ]; do
		p=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
		tcp_port_in_use "$p" || { echo "$p"; return 0; }
		i=$((i + 1))
	done
	fail "no free TCP port found"
}
