# lib.sh: what only the hostile-peer, loss and limits tests use (sourced, not run).
#
# Builds on tests/lib/harness.sh and adds:
#   $rclient, $relay, $faultproxy  the helper programs
#   write_psk_conf FILE [EXTRA]    a PSK proxy config (EXTRA: more config text)
#   start_faultproxy ARGS...       faultproxy in front of the proxy; port in $fault_port
#   stop_faultproxy                SIGTERM; its counters line in $fault_stats
#   rss_kb PID                     VmRSS of PID in kB
#   backend_reqs                   "req" lines of coap-test-backend so far
#   run_clients N ROUNDS ARGS...   N robust-clients in parallel; check_backend_counts
#   loss_test CREDENTIALS...       the loss test shared by PSK and ECDHE-ECDSA
#   write_x509_conf FILE ...       an ECDHE-ECDSA proxy config (client certificates required)
. "${srcdir:-.}/tests/lib/harness.sh"

rclient=${RCLIENT:-./tests/tools/robust-client}
relay=${RELAY:-./tests/robust/late-hello-relay}
faultproxy=$tools/faultproxy
[ -x "$rclient" ] || skip "$rclient not built"
[ -x "$relay" ] || skip "$relay not built"

# Writes a PSK proxy config with short DTLS timers to FILE; $2 is appended.
write_psk_conf() {
	write_conf "$1" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
psk = ( { identity = "my_identity"; key = "secretPSK123"; } );
dtls = { handshake_timeout_min = 200; handshake_timeout_max = 8000; };
${2:-}
CONF
}

# Starts faultproxy ARGS... in front of the proxy; its port goes in $fault_port.
# Each one gets a new name (fault1, fault2...) so no stale output is read.
fault_n=0
start_faultproxy() {
	fault_n=$((fault_n + 1))
	fault=fault$fault_n
	start_bg $fault "$faultproxy" --listen 127.0.0.1:0 --server "127.0.0.1:$proxy_port" "$@"
	fault_port=$(wait_listen $fault)
}

# Stops faultproxy; its counters line goes in $fault_stats.
stop_faultproxy() {
	stop_bg $fault
	fault_stats=$(grep -E '^forwarded=' "$tmp/$fault.out" "$tmp/$fault.err" 2>/dev/null | tail -n 1 | sed 's/^[^:]*://')
}

# Prints the VmRSS of PID $1 in kB.
rss_kb() {
	awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

# Prints the backend's "req" lines so far.
backend_reqs() {
	grep '^req ' "$tmp/backend.out" || true
}

# Runs $1 robust-client processes in parallel, $2 rounds each, with the
# client arguments that follow; client k uses message IDs from k*4096+1 and
# writes $tmp/runN-k.out. Prints nothing; sets $rounds_ok and $rounds_all,
# and $tmp/clients.out holds all their lines.
run_n=0
run_clients() {
	run_n=$((run_n + 1))
	nproc=$1
	nrounds=$2
	shift 2
	pids=""
	backend_mark=$(backend_reqs | wc -l)
	k=0
	while [ $k -lt "$nproc" ]; do
		timeout 120 "$rclient" --count "$nrounds" --mid-base $((k * 4096 + 1)) "$@" \
			>"$tmp/run$run_n-$k.out" 2>"$tmp/run$run_n-$k.err" &
		pids="$pids $!"
		k=$((k + 1))
	done
	for p in $pids; do
		wait "$p" || true
	done
	cat "$tmp"/run$run_n-*.out >"$tmp/clients.out"
	rounds_all=$((nproc * nrounds))
	rounds_ok=$(grep -c '^answer ' "$tmp/clients.out" || true)
}

# Checks the backend saw each client request at most (or, with "exact",
# exactly) as many times as the client transmitted it (MIDs are unique).
check_backend_counts() {
	backend_reqs | tail -n +$((backend_mark + 1)) | sed -n 's/.* mid=\(0x[0-9a-f]*\) .*/\1/p' | sort | uniq -c |
		awk '{print $2, $1}' >"$tmp/backend.mids"
	sed -n 's/^\(answer\|fail\) .* mid=\(0x[0-9a-f]*\) tx=\([0-9]*\).*/\2 \3/p' \
		"$tmp/clients.out" | sort >"$tmp/client.mids"
	awk -v exact="${1:-}" '
		NR == FNR { tx[$1] = $2; next }
		!($1 in tx) { print "backend got unknown mid " $1; bad = 1; next }
		$2 > tx[$1] { print "mid " $1 " reached the backend " $2 " times, sent " tx[$1]; bad = 1 }
		{ seen[$1] = 1 }
		END {
			if (exact != "")
				for (m in tx)
					if (!(m in seen)) { print "mid " m " never reached the backend"; bad = 1 }
			exit bad
		}' "$tmp/client.mids" "$tmp/backend.mids" >"$tmp/mids.bad" ||
		fail "backend counts: $(head -n 5 "$tmp/mids.bad")"
	if [ "${1:-}" = exact ]; then
		awk 'NR == FNR { tx[$1] = $2; next } $2 != tx[$1] { print; bad = 1 } END { exit bad }' \
			"$tmp/client.mids" "$tmp/backend.mids" >"$tmp/mids.bad" ||
			fail "backend counts differ from client transmissions: $(head -n 5 "$tmp/mids.bad")"
	fi
}

# The loss test shared by PSK and ECDHE-ECDSA: $@ are the client's credentials.
loss_test() {
	step "100 handshakes + CON GET through faultproxy --drop 5 --duplicate 5 --delay 5"
	start_faultproxy --drop 5 --duplicate 5 --delay 5 --seed 7
	t0=$(date +%s)
	run_clients 10 10 --server "127.0.0.1:$fault_port" --hs-min 200 --hs-max 8000 \
		--ack-ms 300 --deadline-ms 20000 "$@"
	stop_faultproxy
	echo "rounds ok: $rounds_ok of $rounds_all in $(($(date +%s) - t0)) s; faultproxy: $fault_stats"
	grep '^fail ' "$tmp/clients.out" | head -n 5 >&2 || true
	grep -E 'event=handshake-failed' "$proxy_log" | head -n 5 >&2 || true
	[ "$rounds_ok" -ge 99 ] || fail "only $rounds_ok of $rounds_all rounds completed"
	check_backend_counts

	step "50 rounds through faultproxy --duplicate 2: one backend request per transmission"
	start_faultproxy --duplicate 2 --seed 11
	run_clients 2 25 --server "127.0.0.1:$fault_port" --hs-min 200 --hs-max 8000 \
		--ack-ms 1000 --deadline-ms 20000 "$@"
	stop_faultproxy
	echo "rounds ok: $rounds_ok of $rounds_all; faultproxy: $fault_stats"
	[ "$rounds_ok" = "$rounds_all" ] || fail "only $rounds_ok of $rounds_all rounds completed"
	case $fault_stats in *duplicated=0*) fail "faultproxy duplicated nothing" ;; esac
	check_backend_counts exact
}

# Writes an ECDHE-ECDSA proxy config (client certificates required) to FILE;
# $2 and $3: server certificate (chain) and key file names in $certs (default
# server-cert.pem, server-key.pem); $4: more settings for the dtls group.
write_x509_conf() {
	write_conf "$1" <<CONF
listen = ( { address = "127.0.0.1"; port = @PORT@; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = @BACKEND@; } );
x509 = { certificate = "@CERTS@/${2:-server-cert.pem}"; private_key = "@CERTS@/${3:-server-key.pem}";
         client_ca = "@CERTS@/ca-cert.pem"; verify_client = "required"; };
dtls = { ciphersuites = [ "TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8" ];
         handshake_timeout_min = 200; handshake_timeout_max = 8000; ${4:-} };
CONF
}
