# tests/dtls/local.mk: the daemon's DTLS side with real peers: PSK and X.509
# handshakes and their failures, session life, parking, reconnects, Connection IDs.
DTLS_TESTS = \
	tests/dtls/test-psk-relay.sh \
	tests/dtls/test-handshake-failures.sh \
	tests/dtls/test-session-life.sh \
	tests/dtls/test-x509.sh \
	tests/dtls/test-x509-hostile.sh \
	tests/dtls/test-x509-expiry.sh \
	tests/dtls/test-reconnect.sh \
	tests/dtls/test-park.sh \
	tests/dtls/test-alert-explained.sh \
	tests/dtls/test-unknown-session.sh \
	tests/dtls/test-cid.sh \
	tests/dtls/test-cid-config.sh \
	tests/dtls/test-resumption.sh \
	tests/dtls/test-handshake-pool.sh \
	tests/dtls/test-workers.sh

TESTS += $(DTLS_TESTS)
EXTRA_DIST += $(DTLS_TESTS)
