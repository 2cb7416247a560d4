# tests/probe/local.mk: build rules for tests/probe (included from Makefile.am).

# dtls-probe crafts raw DTLS 1.2 datagrams; built by plain `make` so that the
# integration tests can use it.
noinst_PROGRAMS += tests/probe/dtls-probe
tests_probe_dtls_probe_SOURCES = tests/probe/dtls-probe.c \
	tests/probe/probe-wire.c tests/probe/probe-wire.h \
	tests/probe/probe-garbage.c tests/probe/probe-garbage.h

TESTS += tests/probe/test-probe.sh
EXTRA_DIST += tests/probe/test-probe.sh
