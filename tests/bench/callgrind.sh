#!/bin/sh
# callgrind.sh: instructions coaps-proxyd executes per relayed request and per
# PSK session, counted by valgrind's callgrind (repeatable, unlike times).
# CALLGRIND_DTLS="session_tickets = false; session_cache = 0;" measures without
# session resumption (no ticket sealed, no session cached per handshake).
# The daemon runs under callgrind twice per figure, with N1 and N2 units of
# work; the figure is the difference divided by N2 - N1, so start-up and exit
# cancel out. Run from the build directory: tests/bench/callgrind.sh
set -u
BUILD=${BUILD:-$(pwd)}
PROXYD=$BUILD/src/coaps-proxyd
BENCH=$BUILD/tests/bench/coaps-bench
. "$(dirname "$0")/lib.sh"

command -v valgrind >/dev/null 2>&1 || { echo "callgrind: valgrind is not installed"; exit 1; }
[ -x "$PROXYD" ] && [ -x "$BENCH" ] || { echo "callgrind: build first (no $PROXYD or $BENCH)"; exit 1; }
bench_tmpdir callgrind
ECHO=$((20000 + $$ % 5000))
PX=$((ECHO + 1))

"$BENCH" --backend --listen 127.0.0.1:$ECHO >"$TMP/echo.log" 2>&1 &
PIDS="$PIDS $!"
cat >"$TMP/proxyd.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $PX; } );
backends = ( { name = "default"; address = "127.0.0.1"; port = $ECHO; } );
psk = ( { identity = "bench"; key = "benchkey123"; } );
dtls = { ciphersuites = [ "TLS-PSK-WITH-AES-128-CCM-8" ]; ${CALLGRIND_DTLS:-} };
control = { socket = ""; };
session = { state_file = ""; }; # no saved sessions (never in /var/lib/coaps-proxy)
log = { level = "warning"; };
CONF

# instructions NAME BENCH-ARGS...: total instructions of one daemon run in
# which coaps-bench does BENCH-ARGS; prints the number.
instructions() {
	name=$1
	shift
	valgrind -q --tool=callgrind --callgrind-out-file="$TMP/$name.out" \
		"$PROXYD" -c "$TMP/proxyd.conf" >"$TMP/$name.log" 2>&1 &
	vpid=$!
	i=0
	until ss -Huln "sport = :$PX" 2>/dev/null | grep -q . || [ $i -ge 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	"$BENCH" -q --target 127.0.0.1:$PX --psk-identity bench --psk benchkey123 \
		--duration 120 --json "$TMP/$name.json" "$@" >/dev/null 2>&1
	kill -TERM $vpid
	wait $vpid
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(1 if d.get("errors") else 0)' \
		"$TMP/$name.json" || { echo "callgrind: $name had errors:" >&2; cat "$TMP/$name.json" >&2; }
	sed -n 's/^summary: //p; s/^totals: //p' "$TMP/$name.out" | head -1
}

# per LABEL N1 N2 ARGS...: the figure for one kind of work.
per() {
	label=$1 n1=$2 n2=$3
	shift 3
	a=$(instructions "$label-$n1" --count "$n1" "$@")
	b=$(instructions "$label-$n2" --count "$n2" "$@")
	echo "$label: $(( (b - a) / (n2 - n1) )) instructions (runs of $n1 and $n2: $a, $b)"
}

per "relayed CON request + response" 200 2200 --sessions 1 --inflight 1
per "PSK session (cookie, handshake, one request, close_notify)" 20 220 --sessions 1 --handshake-only
