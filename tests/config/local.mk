# tests/config/local.mk: configuration files (coaps-proxyd -t, includes, psk_dir,
# file modes), reload by SIGHUP and by coaps-proxyctl, atomic reloads.
CONFIG_TESTS = \
	tests/config/test-config-check.sh \
	tests/config/test-config-files.sh \
	tests/config/test-config-include.sh \
	tests/config/test-psk-dir.sh \
	tests/config/test-config-async.sh \
	tests/config/test-reload.sh \
	tests/config/test-reload-atomic.sh

TESTS += $(CONFIG_TESTS)
EXTRA_DIST += tests/config/lib.sh $(CONFIG_TESTS)
