# tests/tools/local.mk: test helpers (CoAP backend, fault-injecting UDP proxy) and their test.
noinst_PROGRAMS += tests/tools/coap-test-backend
tests_tools_coap_test_backend_SOURCES = tests/tools/coap-test-backend.c
tests_tools_coap_test_backend_LDADD = $(EVENT_LIBS) $(COAP_LIBS)

noinst_PROGRAMS += tests/tools/faultproxy
tests_tools_faultproxy_SOURCES = tests/tools/faultproxy.c
tests_tools_faultproxy_LDADD = $(EVENT_LIBS)

noinst_PROGRAMS += tests/tools/certcheck
tests_tools_certcheck_SOURCES = tests/tools/certcheck.c tests/tools/tls-compat.h
tests_tools_certcheck_LDADD = $(MBEDTLS_LIBS)

# Shell tests proving the tools work with real peers (openssl, libcoap's coap-client).
TESTS += tests/tools/test-certs.sh tests/tools/test-backend.sh \
	tests/tools/test-faultproxy.sh
EXTRA_DIST += tests/tools/tools-lib.sh tests/tools/debian-root.sh tests/tools/test-certs.sh \
	tests/tools/test-backend.sh tests/tools/test-faultproxy.sh
