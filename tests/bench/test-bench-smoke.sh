#!/bin/sh
# test-bench-smoke.sh: a few seconds of coaps-bench (plain against its own echo
# backend, then PSK DTLS against coap-server-openssl, then resumed handshakes,
# --rate and --loss): requests succeed, JSON parses.
# Figures are not checked here; `make bench` measures them.
set -u

BENCH=${COAPS_BENCH:-./tests/bench/coaps-bench}
[ -x "$BENCH" ] || BENCH=${abs_top_builddir:-.}/tests/bench/coaps-bench
if [ ! -x "$BENCH" ]; then
	echo "SKIP: coaps-bench not built"
	exit 77
fi
. "${srcdir:-.}/tests/bench/lib.sh"
bench_tmpdir bench-smoke

# json_get FILE KEY: print a top-level number from a JSON file (fails if it does not parse).
json_get() {
	if command -v jq >/dev/null 2>&1; then
		jq -e ".$2" "$1"
	else
		python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
	fi
}

# check_run NAME FILE: requests > 0, errors == 0, the JSON parses.
check_run() {
	req=$(json_get "$2" requests) || { echo "FAIL: $1: JSON does not parse"; cat "$2"; exit 1; }
	err=$(json_get "$2" errors) || { echo "FAIL: $1: no errors key"; exit 1; }
	if [ "$req" -le 0 ] || [ "$err" -ne 0 ]; then
		echo "FAIL: $1: requests=$req errors=$err"
		cat "$2"
		exit 1
	fi
	echo "ok: $1: $req requests, 0 errors"
}

# A port base unlikely to collide with other tests running at the same time.
base=$((20000 + ($$ % 2000) * 10))

# 1. Echo backend + plain client.
"$BENCH" --backend --listen 127.0.0.1:$base -q &
BP=$!
PIDS="$PIDS $BP"
sleep 0.3
if ! kill -0 $BP 2>/dev/null; then
	echo "FAIL: echo backend did not start on port $base"
	exit 1
fi
timeout 20 "$BENCH" --plain --target 127.0.0.1:$base --sessions 2 --inflight 4 \
	--duration 2 --method post --size 32 --json "$TMP/plain.json" || {
	echo "FAIL: coaps-bench --plain exited with $?"; exit 1; }
check_run plain "$TMP/plain.json"

# 2. PSK DTLS against libcoap's server.
if ! command -v coap-server-openssl >/dev/null 2>&1; then
	echo "SKIP (part): coap-server-openssl not installed, DTLS run not done"
	exit 0
fi
port=$((base + 2))
bench_openssl_conf
coap-server-openssl -k smokekey123 -h smoke -A 127.0.0.1 -p $port >/dev/null 2>&1 &
CP=$!
PIDS="$PIDS $CP"
sleep 0.5
if ! kill -0 $CP 2>/dev/null; then
	echo "FAIL: coap-server-openssl did not start on port $port"
	exit 1
fi
# libcoap 4.3.1 listens for DTLS on port + 1.
timeout 20 "$BENCH" --target 127.0.0.1:$((port + 1)) --psk-identity smoke --psk smokekey123 \
	--path /time --sessions 2 --duration 2 --server-pid $CP --json "$TMP/psk.json" || {
	echo "FAIL: coaps-bench PSK exited with $?"; exit 1; }
check_run psk "$TMP/psk.json"
hs=$(json_get "$TMP/psk.json" handshakes)
[ "$hs" -ge 2 ] || { echo "FAIL: psk: handshakes=$hs"; exit 1; }

# 3. --handshake-only --resume: after each session's first handshake, the next ones resume.
timeout 20 "$BENCH" --target 127.0.0.1:$((port + 1)) --psk-identity smoke --psk smokekey123 \
	--path /time --handshake-only --resume --sessions 2 --duration 1 -q \
	--json "$TMP/resume.json" || { echo "FAIL: coaps-bench --resume exited with $?"; exit 1; }
hs=$(json_get "$TMP/resume.json" handshakes)
res=$(json_get "$TMP/resume.json" resumed)
[ "$hs" -ge 4 ] && [ "$res" -ge $((hs - 2)) ] || {
	echo "FAIL: resume: handshakes=$hs resumed=$res"; cat "$TMP/resume.json"; exit 1; }
echo "ok: resume: $res of $hs handshakes resumed"

# 4. --rate: every session established (said once on stderr), requests at the rate.
timeout 20 "$BENCH" --target 127.0.0.1:$((port + 1)) --psk-identity smoke --psk smokekey123 \
	--path /time --sessions 4 --rate 20 --duration 2 -q --json "$TMP/rate.json" \
	2>"$TMP/rate.err" || { echo "FAIL: coaps-bench --rate exited with $?"; exit 1; }
check_run rate "$TMP/rate.json"
grep -q 'all 4 sessions established' "$TMP/rate.err" || {
	echo "FAIL: rate: no 'all 4 sessions established'"; cat "$TMP/rate.err"; exit 1; }
req=$(json_get "$TMP/rate.json" requests)
[ "$req" -le 60 ] || { echo "FAIL: rate: $req requests in 2 s at 20/s"; exit 1; }

# 5. --loss: datagrams are dropped both ways, retransmissions recover the requests.
timeout 60 "$BENCH" --target 127.0.0.1:$((port + 1)) --psk-identity smoke --psk smokekey123 \
	--path /time --sessions 2 --count 20 --loss 10 --seed 7 --duration 50 -q \
	--json "$TMP/loss.json" || { echo "FAIL: coaps-bench --loss exited with $?"; exit 1; }
python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
sys.exit(not (d["requests"] == 20 and d["dropped"]["sent"] + d["dropped"]["received"] > 0))' \
	"$TMP/loss.json" || { echo "FAIL: loss:"; cat "$TMP/loss.json"; exit 1; }
echo "ok: loss: 20 requests answered with 10% of the datagrams dropped"
exit 0
