# tests/integration/local.mk: shell tests that run coaps-proxyd with real peers on loopback.
INTEGRATION_TESTS = \
	tests/integration/test-psk-relay.sh \
	tests/integration/test-handshake-failures.sh \
	tests/integration/test-session-life.sh \
	tests/integration/test-garbage.sh \
	tests/integration/test-config-check.sh \
	tests/integration/test-config-files.sh \
	tests/integration/test-config-include.sh \
	tests/integration/test-psk-dir.sh \
	tests/integration/test-config-async.sh \
	tests/integration/test-x509.sh \
	tests/integration/test-x509-hostile.sh \
	tests/integration/test-x509-expiry.sh \
	tests/integration/test-reconnect.sh \
	tests/integration/test-reload.sh \
	tests/integration/test-resumption.sh \
	tests/integration/test-reload-atomic.sh \
	tests/integration/test-json-log.sh \
	tests/integration/test-park.sh \
	tests/integration/test-device-story.sh \
	tests/integration/test-alert-explained.sh \
	tests/integration/test-fdstore.sh

TESTS += $(INTEGRATION_TESTS)
EXTRA_DIST += tests/integration/lib.sh $(INTEGRATION_TESTS)
