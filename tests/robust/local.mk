# tests/robust/local.mk: loss, hostile input and limits tests (included from Makefile.am).

# late-hello-relay: loses the server's last flight and replays the ClientHello.
noinst_PROGRAMS += tests/robust/late-hello-relay
tests_robust_late_hello_relay_SOURCES = tests/robust/late-hello-relay.c

ROBUST_TESTS = \
	tests/robust/test-loss-psk.sh \
	tests/robust/test-loss-ecdsa.sh \
	tests/robust/test-mtu-fragment.sh \
	tests/robust/test-late-hello.sh \
	tests/robust/test-late-flight.sh \
	tests/robust/test-flood.sh \
	tests/robust/test-hostile.sh \
	tests/robust/test-limits.sh \
	tests/robust/test-admission-queue.sh \
	tests/robust/test-admission-prefix.sh \
	tests/robust/test-memory-burst.sh \
	tests/robust/test-garbage.sh

TESTS += $(ROBUST_TESTS)
EXTRA_DIST += tests/robust/lib.sh tests/robust/admit-lib.sh $(ROBUST_TESTS)
