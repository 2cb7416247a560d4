# tests/forward/local.mk: CoAP-aware forwarding tests (included from Makefile.am).

# fixed-mid-backend: Observe notifications with MIDs set on the command line.
noinst_PROGRAMS += tests/forward/fixed-mid-backend
tests_forward_fixed_mid_backend_SOURCES = tests/forward/fixed-mid-backend.c

# sized-backend: answers as long as each request asks (for the size limits).
noinst_PROGRAMS += tests/forward/sized-backend
tests_forward_sized_backend_SOURCES = tests/forward/sized-backend.c

FORWARD_TESTS = \
	tests/forward/test-routing.sh \
	tests/forward/test-identity-option.sh \
	tests/forward/test-observe.sh \
	tests/forward/test-blockwise.sh \
	tests/forward/test-backend-failures.sh \
	tests/forward/test-forward-proxy.sh \
	tests/forward/test-mid-remap.sh \
	tests/forward/test-mid-slot-reuse.sh \
	tests/forward/test-route-config.sh \
	tests/forward/test-upstream-sources.sh \
	tests/forward/test-message-size.sh \
	tests/forward/test-route-access.sh \
	tests/forward/test-backend-log.sh

TESTS += $(FORWARD_TESTS)
EXTRA_DIST += tests/forward/lib.sh $(FORWARD_TESTS)
