#!/bin/sh
# check-config and reload never stall the relaying loop: a FIFO as the configuration is
# refused at once, and a file that takes libconfig seconds to parse (many keys in one group,
# under the 1 MiB limit) is parsed in a thread of its own while metrics and DTLS requests are
# answered.
. "${srcdir:-.}/tests/config/lib.sh"
command -v curl >/dev/null || skip "curl missing"

start_coap_server
metrics_port=$(free_tcp_port)
write_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "dev-42"; key = "secret42"; } );
control = { socket = "$ctl_sock"; };
metrics = { address = "127.0.0.1"; port = $metrics_port; };
CONF
chmod 600 "$tmp/proxy.conf"
start_proxy "$tmp/proxy.conf"
wait_log "event=metrics-listening"
pid=$(cat "$tmp/proxy.pid")

# Fails unless GET /metrics is answered within 2 s ($1 says when).
metrics_answer() {
	curl -sf --max-time 2 "http://127.0.0.1:$metrics_port/metrics" >/dev/null ||
		fail "GET /metrics not answered within 2 s $1"
}
# Fails unless a PSK GET through the proxy is answered ($1 says when).
dtls_answer() {
	client coap-client-openssl 3 -m get -u dev-42 -k secret42 "coaps://127.0.0.1:$proxy_port/time" \
		>/dev/null 2>&1 || fail "no answer to a DTLS request $1"
}

step "check-config on a FIFO: refused at once, the loop keeps answering"
mkfifo "$tmp/fifo.conf"
start_bg ctl_fifo timeout 20 "$proxyctl" -s "$ctl_sock" check-config "$tmp/fifo.conf"
sleep 0.5
metrics_answer "after check-config of a FIFO"
i=0
while kill -0 "$(cat "$tmp/ctl_fifo.pid")" 2>/dev/null; do
	[ $i -lt 100 ] || fail "check-config of a FIFO still has no answer after 10 s"
	sleep 0.1
	i=$((i + 1))
done
grep -qF "$tmp/fifo.conf:0: (file): is a FIFO, not a regular file" "$tmp/ctl_fifo.out" "$tmp/ctl_fifo.err" ||
	fail "check-config of a FIFO: $(cat "$tmp/ctl_fifo.out" "$tmp/ctl_fifo.err")"

# A file libconfig needs seconds for: 16,000 members of one group (its duplicate check is
# quadratic: about 6 s here, 20 s under ASan with 25,000, too close to coaps-proxyctl's 60 s), 200 KB.
awk 'BEGIN { for (i = 0; i < 16000; i++) printf "k%05d = 1;\n", i }' >"$tmp/slow.conf"
chmod 600 "$tmp/slow.conf"

step "check-config of a slow file: metrics and DTLS requests answered while it parses"
start_bg ctl_slow timeout 120 "$proxyctl" -s "$ctl_sock" check-config "$tmp/slow.conf"
sleep 0.5
metrics_answer "while check-config parses"
dtls_answer "while check-config parses"
metrics_answer "while check-config parses"
kill -0 "$(cat "$tmp/ctl_slow.pid")" 2>/dev/null ||
	echo "note: check-config finished before the requests (a fast machine): nothing measured" >&2
i=0
while kill -0 "$(cat "$tmp/ctl_slow.pid")" 2>/dev/null; do
	[ $i -lt 1200 ] || fail "check-config of the slow file has no answer after 120 s"
	sleep 0.1
	i=$((i + 1))
done
grep -q "unknown key" "$tmp/ctl_slow.out" "$tmp/ctl_slow.err" ||
	fail "check-config of the slow file: $(cat "$tmp/ctl_slow.out" "$tmp/ctl_slow.err")"

step "reload of the slow file: answered meanwhile, then reload-failed, old configuration kept"
cp "$tmp/proxy.conf" "$tmp/good.conf"
cp "$tmp/slow.conf" "$tmp/proxy.conf"
kill -HUP "$pid"
wait_log 'event=reloading '
metrics_answer "while a reload parses"
dtls_answer "while a reload parses"
wait_log 'event=reload-failed .*unknown key' 120
dtls_answer "after the failed reload"

step "reload of a FIFO: refused at once"
rm "$tmp/proxy.conf"
mkfifo "$tmp/proxy.conf"
kill -HUP "$pid"
wait_log 'event=reload-failed .*is a FIFO, not a regular file' 10
metrics_answer "after a reload of a FIFO"
stop_proxy
echo PASS
