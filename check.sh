#!/bin/bash
# check.sh: installs what the build and tests need (Debian 13 or 12, as root), then
# runs, each in its own build directory:
#   1. the whole test suite (make check)
#   2. the whole test suite again under AddressSanitizer + UBSan + LeakSanitizer
#   3. the daemon under valgrind in a few shell tests (no definite leaks)
#   4. each libFuzzer target for FUZZ_SECONDS (default 60)
#   5. a clang build with warnings as errors, without libsystemd
#   6. make distcheck
# QUICK=1 runs phase 1 only. The last line is "N passed, N failed[, N skipped]".
set -u
cd "$(dirname "$0")"
top=$PWD
pass=0 fail=0 skip=0

# Adds the results of one make-check output file ($1) to the totals, prefixed $2;
# under each failed test, the step it was at and why (from its log).
count() {
	local p f s line log
	sed -E "s/^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):/\1: [$2]/" "$1" | grep -E '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS):' |
		while IFS= read -r line; do
			echo "$line"
			case $line in FAIL:* | ERROR:* | XPASS:*) ;; *) continue ;; esac
			log="$(dirname "$1")/${line##* }.log"
			[ -f "$log" ] || continue
			awk '/^== / { step = $0 }
				/^FAIL: |ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error|^SUMMARY: / && n < 4 {
					if (n++ == 0) print "    at: " step
					print "    why: " substr($0, 1, 300)
				}' "$log"
		done
	p=$(grep -cE '^(PASS|XFAIL):' "$1")
	f=$(grep -cE '^(FAIL|ERROR|XPASS):' "$1")
	s=$(grep -cE '^SKIP:' "$1")
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
}

# Shows the logs of the failed tests of a build directory ($1).
show_failures() {
	for t in $(grep -lE '^:test-result: (FAIL|ERROR)' $(find "$1" -name '*.trs') 2>/dev/null); do
		echo "---- ${t%.trs}.log"
		tail -40 "${t%.trs}.log"
	done
}

# Records one named check ($1) as passed if the rest of the command line succeeds.
one() {
	local name=$1
	shift
	if "$@" >"$top/build/$name.out" 2>&1; then
		echo "PASS: [$name]"
		pass=$((pass + 1))
	else
		echo "FAIL: [$name]"
		tail -40 "$top/build/$name.out"
		fail=$((fail + 1))
	fi
}

# Prints the summary line and exits with its verdict.
finish() {
	if [ "$skip" -gt 0 ]; then
		echo "$pass passed, $fail failed, $skip skipped"
	else
		echo "$pass passed, $fail failed"
	fi
	[ "$fail" = 0 ]
	exit
}

deps="build-essential autoconf automake pkg-config libcoap3-dev libcoap3-bin
	libmbedtls-dev libevent-dev libconfig-dev check libsystemd-dev gnutls-bin openssl
	systemd valgrind jq curl iproute2 xxd procps clang clang-format libclang-rt-dev python3"
if [ "$(dpkg-query -W -f='${Status}\n' $deps 2>/dev/null | grep -c '^install ok installed')" != "$(echo $deps | wc -w)" ]; then
	echo "== installing build and test dependencies"
	export DEBIAN_FRONTEND=noninteractive
	if ! { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $deps >/dev/null; }; then
		echo "apt-get install failed"
		fail=1
		finish
	fi
fi

echo "== building"
autoreconf -fi >/dev/null 2>&1 || { echo "autoreconf failed"; fail=1; finish; }
mkdir -p build
if ! (cd build && "$top/configure" -q && make -j2 >/dev/null); then
	(cd build && make 2>&1 | tail -30)
	fail=1
	finish
fi

echo "== 1. make check"
(cd build && make -j2 check >make-check.out 2>&1)
count build/make-check.out check
show_failures build
[ "${QUICK:-0}" = 1 ] && finish

echo "== 2. make check under AddressSanitizer and UndefinedBehaviorSanitizer"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=98
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=97
mkdir -p build-asan
if (cd build-asan && "$top/configure" -q --enable-asan && make -j2 >/dev/null 2>&1); then
	(cd build-asan && make -j2 check >make-check.out 2>&1)
	count build-asan/make-check.out asan
	show_failures build-asan
else
	echo "FAIL: [asan] build"
	fail=$((fail + 1))
fi
unset ASAN_OPTIONS UBSAN_OPTIONS

echo "== 3. the daemon under valgrind"
(cd build && COAPS_VALGRIND=1 make check TESTS="tests/dtls/test-psk-relay.sh \
	tests/dtls/test-x509.sh tests/config/test-reload.sh \
	tests/robust/test-hostile.sh" >make-check-valgrind.out 2>&1)
count build/make-check-valgrind.out valgrind
show_failures build

echo "== 4. fuzz smoke (${FUZZ_SECONDS:-60} s per target)"
mkdir -p build-fuzz
one fuzz-smoke sh -c "cd '$top/build-fuzz' && CC=clang '$top/configure' -q --enable-fuzzing \
	--disable-warnings && make -j2 >/dev/null 2>&1 && make fuzz-smoke FUZZ_SECONDS=${FUZZ_SECONDS:-60}"

echo "== 5. clang with warnings as errors, built without libsystemd"
mkdir -p build-clang
one clang-nosystemd sh -c "cd '$top/build-clang' && CC=clang '$top/configure' -q --without-systemd \
	&& make -j2 >/dev/null"

echo "== 6. make distcheck"
one distcheck sh -c "cd '$top/build' && make -j2 distcheck"

finish
