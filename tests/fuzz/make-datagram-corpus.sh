#!/bin/bash
# make-datagram-corpus.sh: writes the seed corpus of fuzz_datagram (recorded, derived, client/backend).
#
# Usage: tests/fuzz/make-datagram-corpus.sh RECORD_DATAGRAM [DIR]
# RECORD_DATAGRAM is the recorder of an --enable-fuzzing build
# (tests/fuzz/record_datagram); DIR defaults to tests/fuzz/corpus/datagram,
# and DIR/../datagram_x509 gets the seeds of fuzz_datagram_x509.
# It binds 127.0.0.1:15684 and 15687, 127.0.0.2:15685, 127.0.0.3:15686 (the fixed peers;
# below the ephemeral port range, so that no socket of the harness takes them).
# The input format is described in fuzz_proxy.h and README.md.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 RECORD_DATAGRAM [DIR]" >&2
	exit 2
fi
rec=$1
dir=${2:-$(dirname "$0")/corpus/datagram}
mkdir -p "$dir"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/datagram-corpus.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Recorded PSK (and one ECDHE-ECDSA) handshakes with requests, replay-checked.
"$rec" -c "$dir/psk-request-502.bin" >/dev/null
"$rec" -C -n 2 -u fw "$dir/psk-2req-fw-close.bin" >/dev/null
"$rec" -P 1 -i my_identity -k secretPSK123 -u x "$dir/psk-my-identity.bin" >/dev/null
"$rec" -x -c "$dir/ecdhe-request.bin" >/dev/null

# Splits an input into its records: $tmp/NAME.0, NAME.1, ...; prints the count.
split_records() {
	local file=$1 name=$2 size off=0 n=0 len
	size=$(stat -c %s "$file")
	while [ $((off + 3)) -le "$size" ]; do
		len=$(od -An -tu1 -j $((off + 1)) -N 2 "$file" | awk '{ print $1 * 256 + $2 }')
		dd if="$file" of="$tmp/$name.$n" bs=1 skip="$off" count=$((3 + len)) status=none
		off=$((off + 3 + len))
		n=$((n + 1))
	done
	echo "$n"
}

# Handshakes of peers 2 and 3, for the limits below.
"$rec" -P 2 "$tmp/peer2.bin" >/dev/null
"$rec" -P 3 "$tmp/peer3.bin" >/dev/null

# Inputs made from the recordings.
na=$(split_records "$dir/psk-request-502.bin" a)
nm=$(split_records "$dir/psk-my-identity.bin" m)
cat "$tmp/a.0" >"$dir/hello-only.bin"
# A late duplicate of the cookie-carrying ClientHello, then the request again.
cat "$dir/psk-request-502.bin" "$tmp/a.1" "$tmp/a.$((na - 1))" >"$dir/late-dup-hello.bin"
# Two devices interleaved (the second one's keys differ: it fails at Finished).
: >"$dir/two-peers.bin"
for i in $(seq 0 $(( (na > nm ? na : nm) - 1 ))); do
	[ -f "$tmp/a.$i" ] && cat "$tmp/a.$i" >>"$dir/two-peers.bin"
	[ -f "$tmp/m.$i" ] && cat "$tmp/m.$i" >>"$dir/two-peers.bin"
done
# session.max_handshakes (3): a fourth handshake evicts the oldest; then
# session.max_sessions (4): peer 0's established session plus three
# handshakes leave no room for the in-process client.
split_records "$tmp/peer2.bin" p2 >/dev/null
split_records "$tmp/peer3.bin" p3 >/dev/null
cat "$tmp"/m.[01] "$tmp"/p2.[01] "$tmp"/p3.[01] "$tmp"/a.[01] >"$dir/evict-handshake.bin"
{
	cat "$dir/psk-request-502.bin" "$tmp"/m.[01] "$tmp"/p2.[01] "$tmp"/p3.[01]
	printf '\x20\x00\x04\x40\x00\x01\x01'
} >"$dir/max-sessions.bin"
# Timers (control 0x60 fires them; 0x08/0x10/0x18 first advance the clock by
# 1/10/100 s): handshake retransmission then timeout; idle timeout.
{
	cat "$tmp/a.0" "$tmp/a.1"
	printf '\x68\x00\x00\x70\x00\x00\x70\x00\x00\x70\x00\x00\x70\x00\x00'
} >"$dir/timer-handshake.bin"
{
	cat "$dir/psk-request-502.bin"
	printf '\x70\x00\x00\x78\x00\x00'
} >"$dir/timer-idle.bin"
# The cookie-carrying ClientHello 100 s later: the cookie has expired.
{
	cat "$tmp/a.0"
	printf '\x18'
	tail -c +2 "$tmp/a.1"
	for i in $(seq 2 $((na - 1))); do cat "$tmp/a.$i"; done
} >"$dir/cookie-expired.bin"

# Writes hex digits (spaces allowed) as the bytes of DIR/NAME.bin.
seed() {
	local name=$1
	shift
	printf "$(printf '%s' "$*" | tr -d ' ' | sed 's/../\\x&/g')" >"$dir/$name.bin"
}
# The in-process client (control 0x20) and backend a (0x40); 0x80 patches the MID.
seed client-get-answer 20 0008 42011234aabbb161 \
	c0 000e 62450000aabbc100ff68656c6c6f
seed client-observe 20 000a 410120000160536f6273 \
	c0 000a 61450000016101ff7631 \
	40 000a 41457777016102ff7632 \
	a0 0004 60000000 \
	40 000a 51457778016103ff7633 \
	a0 0004 70000000
seed client-ping 20 0004 40000101
seed client-fw-502 24 000c 4101010205b2667703696d67
seed client-non-post 20 0019 5102010306b1611100e8fccf70736b3a6576696cff64617461
seed client-proxy-uri 24 001c 4101010407dd1607636f61703a2f2f3132372e302e302e313a392f78
seed client-uri-host 20 0013 41010105083b6f74612e6578616d706c658176
seed client-malformed 20 0006 41010106 07d1 \
	20 0007 40010107b161ff
seed client-timeout 20 0008 42011234aabbb161 \
	18 0000 \
	24 0008 42011235aabcb161
# The backend does not answer: 5.04 from the proxy when the timer fires.
seed client-504 20 0008 42011236aabdb161 \
	70 0000
# fuzz_datagram_x509's in-process clients: ECDHE-ECDSA with the certificate
# CN=client, a revoked one, none.
dir=$dir/../datagram_x509
mkdir -p "$dir"
seed client-cert-get 21 0008 42011301c1c2b161 \
	c0 000b 62451301c1c2c100ff6f6b
seed client-cert-revoked 22 0004 40000102
seed client-anonymous-get 23 0009 42011302c1c3b2667700
