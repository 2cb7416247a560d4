#!/bin/bash
# check.sh: installs what the build needs (Debian 12, as root), builds in
# ./build and runs the whole test suite. Last line: "N passed, N failed".
set -u
cd "$(dirname "$0")"
top=$PWD

deps="build-essential autoconf automake pkg-config libcoap3-dev libcoap3-bin
	libmbedtls-dev libevent-dev libconfig-dev check libsystemd-dev gnutls-bin openssl
	systemd valgrind jq curl iproute2 xxd procps"
missing=$(dpkg-query -W -f='${Status} ${Package}\n' $deps 2>/dev/null | grep -vc '^install ok installed' || true)
if [ "$(dpkg-query -W -f='${Status}\n' $deps 2>/dev/null | grep -c '^install ok installed')" != "$(echo $deps | wc -w)" ]; then
	echo "== installing build and test dependencies"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $deps >/dev/null ||
		{ echo "apt-get install failed"; echo "0 passed, 1 failed"; exit 1; }
fi

echo "== building"
autoreconf -fi >/dev/null 2>&1 || { echo "autoreconf failed"; echo "0 passed, 1 failed"; exit 1; }
mkdir -p build && cd build
if ! { "$top/configure" -q && make -j2 >/dev/null; }; then
	make 2>&1 | tail -30
	echo "0 passed, 1 failed"
	exit 1
fi

echo "== make check"
make -j2 check >make-check.out 2>&1
grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' make-check.out
for f in $(grep -lE '^:test-result: (FAIL|ERROR)' $(find tests -name '*.trs') 2>/dev/null); do
	echo "---- ${f%.trs}.log"
	tail -40 "${f%.trs}.log"
done
pass=$(grep -cE '^(PASS|XFAIL):' make-check.out)
fail=$(grep -cE '^(FAIL|ERROR|XPASS):' make-check.out)
skip=$(grep -cE '^SKIP:' make-check.out)
if [ "$pass" = 0 ] && [ "$fail" = 0 ]; then
	tail -30 make-check.out
	fail=1
fi
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" = 0 ]
