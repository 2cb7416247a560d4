# tests/tools/local.mk: the test programs and helper peers the shell tests of several
# folders use, the shared harness (tests/lib) and the tests of the tools themselves.
EXTRA_DIST += tests/lib/harness.sh tests/README.md

noinst_PROGRAMS += tests/tools/coap-test-backend
tests_tools_coap_test_backend_SOURCES = tests/tools/coap-test-backend.c
tests_tools_coap_test_backend_LDADD = $(EVENT_LIBS) $(COAP_LIBS)

noinst_PROGRAMS += tests/tools/faultproxy
tests_tools_faultproxy_SOURCES = tests/tools/faultproxy.c
tests_tools_faultproxy_LDADD = $(EVENT_LIBS)

noinst_PROGRAMS += tests/tools/certcheck
tests_tools_certcheck_SOURCES = tests/tools/certcheck.c tests/tools/tls-compat.h
tests_tools_certcheck_LDADD = $(MBEDTLS_LIBS)

# dtls-probe crafts raw DTLS 1.2 datagrams (built by plain `make`: the shell tests use it).
noinst_PROGRAMS += tests/tools/dtls-probe
tests_tools_dtls_probe_SOURCES = tests/tools/dtls-probe.c \
	tests/tools/probe-wire.c tests/tools/probe-wire.h \
	tests/tools/probe-garbage.c tests/tools/probe-garbage.h

# robust-client: DTLS 1.2 CoAP client with short timers (PSK or ECDHE-ECDSA).
noinst_PROGRAMS += tests/tools/robust-client
tests_tools_robust_client_SOURCES = tests/tools/robust-client.c
tests_tools_robust_client_LDADD = $(MBEDTLS_LIBS)

# coaps-send: a DTLS client (PSK or certificate) that sends raw (also malformed) CoAP bytes.
noinst_PROGRAMS += tests/tools/coaps-send
tests_tools_coaps_send_SOURCES = tests/tools/coaps-send.c
tests_tools_coaps_send_LDADD = $(MBEDTLS_LIBS)

# Shell tests proving the tools work with real peers (openssl, libcoap's coap-client).
TESTS += tests/tools/test-certs.sh tests/tools/test-backend.sh \
	tests/tools/test-faultproxy.sh tests/tools/test-probe.sh
EXTRA_DIST += tests/tools/debian-root.sh tests/tools/test-certs.sh \
	tests/tools/test-backend.sh tests/tools/test-faultproxy.sh tests/tools/test-probe.sh

# The C sources follow .clang-format (checked with clang-format 14; a SKIP with
# another version). `make check-format` runs only that check.
TESTS += tests/tools/test-format.sh
EXTRA_DIST += tests/tools/test-format.sh tests/tools/fdstore-emu.py
check-format:
	srcdir=$(srcdir) $(SHELL) $(srcdir)/tests/tools/test-format.sh
.PHONY: check-format
