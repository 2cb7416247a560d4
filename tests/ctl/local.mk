# tests/ctl/local.mk: coaps-proxyctl and the metrics endpoint against a running coaps-proxyd.
CTL_TESTS = \
	tests/ctl/test-ctl.sh \
	tests/ctl/test-metrics.sh \
	tests/ctl/test-ctl-slowloris.sh \
	tests/ctl/test-metrics-limits.sh \
	tests/ctl/test-ctl-daily.sh \
	tests/ctl/test-health-metrics.sh \
	tests/ctl/test-metrics-doc.sh

TESTS += $(CTL_TESTS)
EXTRA_DIST += tests/ctl/ctl-lib.sh $(CTL_TESTS)
