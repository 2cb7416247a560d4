#!/bin/sh
# session.handshake_threads: certificate handshakes run in the coaps-hs-N threads at SCHED_IDLE
# (the loop's thread does not do their cryptography); with 0 there are no such threads.
. "${srcdir:-.}/tests/lib/harness.sh"

make_certs
start_coap_server
c=$certs
# Writes a proxy config with session.handshake_threads = $1.
conf() {
	write_conf "$tmp/proxy.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
x509 = { certificate = "@CERTS@/server-cert.pem"; private_key = "@CERTS@/server-key.pem";
         client_ca = "@CERTS@/ca-cert.pem"; verify_client = "required"; };
session = { handshake_threads = $1; };
CONF
}
url="coaps://127.0.0.1:$proxy_port"

# Prints the task ids of the proxy's threads named $1 (a glob).
threads_named() {
	pid=$(cat "$tmp/proxy.pid")
	for t in /proc/"$pid"/task/*; do
		case "$(cat "$t/comm" 2>/dev/null)" in
		$1) echo "${t##*/}" ;;
		esac
	done
}

# Prints the CPU time (ns) the proxy's threads named $1 have run, in total.
cpu_ns() {
	pid=$(cat "$tmp/proxy.pid")
	total=0
	for t in $(threads_named "$1"); do
		ns=$(cut -d' ' -f1 "/proc/$pid/task/$t/schedstat")
		total=$((total + ns))
	done
	echo "$total"
}

# Makes $1 certificate handshakes, each with a GET.
handshakes() {
	i=0
	while [ "$i" -lt "$1" ]; do
		out=$(client coap-client-openssl 5 -m get -j "$c/client-key.pem" -c "$c/client-cert.pem" \
			-R "$c/ca-cert.pem" "$url/time") || fail "certificate GET $i failed"
		[ -n "$out" ] || fail "certificate GET $i: no answer"
		i=$((i + 1))
	done
}

step "handshake_threads = 2: two threads coaps-hs-0 and coaps-hs-1, at SCHED_IDLE"
conf 2
start_proxy "$tmp/proxy.conf"
names=$(threads_named 'coaps-hs-*')
[ "$(echo "$names" | grep -c .)" = 2 ] || fail "expected 2 coaps-hs-N threads, found: $names"
for t in $names; do
	chrt -p "$t" | grep -q SCHED_IDLE || fail "thread $t is not SCHED_IDLE: $(chrt -p "$t")"
done

step "the handshakes' cryptography runs in them, not in the loop's thread"
pool0=$(cpu_ns 'coaps-hs-*')
loop0=$(cpu_ns 'coaps-[pw]*')   # the event loops: coaps-proxyd (worker 0), coaps-w-N
handshakes 6
wait_count 'event=handshake-ok .*auth=x509 identity="client"' 6
pool1=$(cpu_ns 'coaps-hs-*')
loop1=$(cpu_ns 'coaps-[pw]*')   # the event loops: coaps-proxyd (worker 0), coaps-w-N
echo "pool threads ran $(((pool1 - pool0) / 1000)) us, the loop $(((loop1 - loop0) / 1000)) us"
# Six ECDHE-ECDSA handshakes with a certificate check: several ms of signing and verifying.
[ $((pool1 - pool0)) -gt 3000000 ] || fail "the pool threads ran only $((pool1 - pool0)) ns"
[ $((pool1 - pool0)) -gt $((loop1 - loop0)) ] ||
	fail "the loop ran more ($((loop1 - loop0)) ns) than the pool threads ($((pool1 - pool0)) ns)"
stop_proxy

step "handshake_threads = 0: no handshake thread; handshakes run in the loop"
conf 0
: >"$proxy_log"
start_proxy "$tmp/proxy.conf"
[ -z "$(threads_named 'coaps-hs-*')" ] || fail "coaps-hs-N threads with handshake_threads = 0"
loop0=$(cpu_ns 'coaps-[pw]*')   # the event loops: coaps-proxyd (worker 0), coaps-w-N
handshakes 3
wait_count 'event=handshake-ok .*auth=x509 identity="client"' 3
loop1=$(cpu_ns 'coaps-[pw]*')   # the event loops: coaps-proxyd (worker 0), coaps-w-N
[ $((loop1 - loop0)) -gt 1500000 ] || fail "the loop ran only $((loop1 - loop0)) ns"
stop_proxy
echo "PASS"
