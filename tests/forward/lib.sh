# lib.sh: what only the CoAP forwarding tests use (sourced, not run).
#
# Builds on tests/lib/harness.sh and adds:
#   start_backend2 [MODE] [DELAY]  a second coap-test-backend, port in $backend2_port
#                                  (@BACKEND2@ in write_fw_conf)
#   reload_proxy PATTERN           SIGHUP, then waits for a new log line matching PATTERN
. "${srcdir:-.}/tests/lib/harness.sh"

# Starts a second coap-test-backend (MODE echo by default) as "backend2", on
# both 127.0.0.1 and ::1 (tests configure it by the name localhost, which a
# standard Debian resolves to ::1 first and some machines to 127.0.0.1 only).
start_backend2() {
	start_bg backend2 "$tools/coap-test-backend" -A :: -p 0 -m "${1:-echo}" \
		-c "$tmp/backend2.count" ${2:+-d "$2"}
	backend2_port=$(wait_listen backend2)
}

# Sends SIGHUP to the proxy and waits for one more log line matching the ERE $1.
reload_proxy() {
	before=$(log_count "$1")
	kill -HUP "$(cat "$tmp/proxy.pid")" || fail "cannot signal coaps-proxyd"
	wait_for 100 log_has "$1" $((before + 1)) || fail "no new log line matching: $1"
}
