#!/bin/sh
# Every metric family a running coaps-proxyd exports (with certificates, a
# CRL and backends, after traffic) is documented in coaps-proxyd(8); and the
# check fails on an undocumented one.
. "${srcdir:-.}/tests/ctl/lib.sh"
command -v curl >/dev/null || skip "curl missing"
check=${srcdir:-.}/man/check-metric-names.sh
man=${srcdir:-.}/man/coaps-proxyd.8.in

make_certs
start_backend echo
metrics_port=$(free_tcp_port)
write_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "dev1"; key = "secretPSK123"; } );
x509 = { certificate = "@CERTS@/server-cert.pem"; private_key = "@CERTS@/server-key.pem";
         client_ca = "@CERTS@/ca-cert.pem"; crl = "@CERTS@/ca.crl"; };
control = { socket = "$ctl_sock"; };
metrics = { address = "127.0.0.1"; port = $metrics_port; };
CONF
start_proxy "$tmp/proxy.conf"
wait_log "event=metrics-listening address=127.0.0.1 port=$metrics_port"
ctl test-psk dev1 secretPSK123 /x
expect_rc 0
ctl reload
expect_rc 0
curl -sf --max-time 5 "http://127.0.0.1:$metrics_port/metrics" >"$tmp/m.txt" || fail "GET /metrics"

step "every exported family is in the METRICS section of coaps-proxyd(8)"
rc=0
sh "$check" "$tmp/m.txt" "$man" >"$tmp/check.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || fail "undocumented metrics: $(cat "$tmp/check.out")"
n=$(grep -c '^# TYPE ' "$tmp/m.txt")
grep -q "all $n metric names are documented" "$tmp/check.out" || fail "check: $(cat "$tmp/check.out")"
[ "$n" -ge 25 ] || fail "only $n families exported"
grep -q '^# TYPE coaps_backend_rtt_seconds histogram$' "$tmp/m.txt" || fail "no backend histogram"

step "the check fails on a family the page lacks, and on one the daemon added"
sed '/^\.B coaps_backend_rtt_seconds$/d' "$man" >"$tmp/man.in"
rc=0
sh "$check" "$tmp/m.txt" "$tmp/man.in" >"$tmp/check.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "exit $rc for a page without coaps_backend_rtt_seconds"
grep -q 'missing from the METRICS section .*: coaps_backend_rtt_seconds ' "$tmp/check.out" ||
	fail "check output: $(cat "$tmp/check.out")"
{ cat "$tmp/m.txt"; printf '# TYPE coaps_new_thing_total counter\ncoaps_new_thing_total 0\n'; } >"$tmp/m2.txt"
rc=0
sh "$check" "$tmp/m2.txt" "$man" >"$tmp/check.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "exit $rc for an undocumented family"
grep -q ': coaps_new_thing_total ' "$tmp/check.out" || fail "check output: $(cat "$tmp/check.out")"
# A name outside the METRICS section does not count.
sed -n '/^\.SH METRICS$/,/^\.SH EXIT STATUS$/!p' "$man" >"$tmp/man2.in"
rc=0
sh "$check" "$tmp/m.txt" "$tmp/man2.in" >"$tmp/check.out" 2>&1 || rc=$?
[ "$rc" = 99 ] || fail "exit $rc for a page without a METRICS section"

stop_proxy
echo "PASS"
