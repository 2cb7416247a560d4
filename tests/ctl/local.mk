# tests/ctl/local.mk: what an operator sees of a running coaps-proxyd: coaps-proxyctl,
# the metrics and health endpoint, the text and JSON session logs.
CTL_TESTS = \
	tests/ctl/test-ctl.sh \
	tests/ctl/test-metrics.sh \
	tests/ctl/test-ctl-slowloris.sh \
	tests/ctl/test-metrics-limits.sh \
	tests/ctl/test-ctl-daily.sh \
	tests/ctl/test-health-metrics.sh \
	tests/ctl/test-metrics-doc.sh \
	tests/ctl/test-json-log.sh \
	tests/ctl/test-device-story.sh

TESTS += $(CTL_TESTS)
EXTRA_DIST += tests/ctl/lib.sh $(CTL_TESTS)
