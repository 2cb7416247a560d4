# lib.sh: what only the coaps-proxyctl, metrics and log tests use (sourced, not run).
#
# Builds on tests/lib/harness.sh (which has ctl, expect_rc, ctl_stat, sclient,
# free_tcp_port: other folders use them too) and adds, for the metrics endpoint
# on 127.0.0.1:$metrics_port:
#   scrape                     GET /metrics into $tmp/m.txt (fails on an error)
#   metric NAME                the value of the metric line that starts with NAME
. "${srcdir:-.}/tests/lib/harness.sh"

# Scrapes /metrics into $tmp/m.txt.
scrape() {
	curl -sf --max-time 5 "http://127.0.0.1:$metrics_port/metrics" >"$tmp/m.txt" ||
		fail "GET /metrics failed"
}

# Prints the value of the metric line that starts with $1 (fixed string).
metric() {
	awk -v m="$1" 'index($0, m " ") == 1 {print $2}' "$tmp/m.txt"
}
