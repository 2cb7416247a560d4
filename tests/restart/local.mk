# tests/restart/local.mk: what survives a restart of coaps-proxyd: the listening
# sockets in systemd's file descriptor store (the systemd side of it is tested in
# booted containers by systemd/test-nspawn.sh).
RESTART_TESTS = \
	tests/restart/test-fdstore.sh tests/restart/test-restart-sessions.sh \
	tests/restart/test-restart-inflight.sh

TESTS += $(RESTART_TESTS)
EXTRA_DIST += $(RESTART_TESTS)
