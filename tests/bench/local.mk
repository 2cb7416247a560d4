# tests/bench/local.mk: build rules for tests/bench (included from Makefile.am).
# coaps-bench is built by `make` but not installed; `make bench` runs the
# comparison, `make check` only a short smoke of the tool.
noinst_PROGRAMS += tests/bench/coaps-bench
tests_bench_coaps_bench_SOURCES = \
	tests/bench/coaps-bench.c tests/bench/client.c tests/bench/servers.c \
	tests/bench/inproc.c tests/bench/coap.c tests/bench/tls.c tests/bench/stats.c \
	tests/bench/bench.h
tests_bench_coaps_bench_LDADD = $(EVENT_LIBS) $(MBEDTLS_LIBS)

TESTS += tests/bench/test-bench-smoke.sh
dist_noinst_SCRIPTS += tests/bench/test-bench-smoke.sh tests/bench/run-bench.sh \
	tests/bench/scale.sh tests/bench/callgrind.sh tests/bench/restart.sh tests/bench/storm.sh \
	tests/bench/workers.sh
EXTRA_DIST += tests/bench/README.md tests/bench/bench-certs.sh tests/bench/lib.sh
CLEANFILES += bench-results.json scale-results.json

# Full comparison (a few minutes): direct, UDP relay, coaps-proxyd, libcoap proxy;
# then a restart under load, the handshake storm measurements and the cost of
# worker threads (figures only).
bench: all
	$(SHELL) $(srcdir)/tests/bench/run-bench.sh $(abs_top_builddir) $(abs_top_srcdir)
	$(SHELL) $(srcdir)/tests/bench/restart.sh $(abs_top_builddir) $(abs_top_srcdir)
	$(SHELL) $(srcdir)/tests/bench/storm.sh $(abs_top_builddir) $(abs_top_srcdir)
	$(SHELL) $(srcdir)/tests/bench/workers.sh $(abs_top_builddir) $(abs_top_srcdir)
.PHONY: bench

# Each of the last three alone (about 1, 1.5 and 2.5 minutes at their default sizes).
bench-restart: all
	$(SHELL) $(srcdir)/tests/bench/restart.sh $(abs_top_builddir) $(abs_top_srcdir)
bench-storm: all
	$(SHELL) $(srcdir)/tests/bench/storm.sh $(abs_top_builddir) $(abs_top_srcdir)
bench-workers: all
	$(SHELL) $(srcdir)/tests/bench/workers.sh $(abs_top_builddir) $(abs_top_srcdir)
.PHONY: bench-restart bench-storm bench-workers

# 100,000 concurrent sessions, parked, each answering a request after its restore
# (about 2 minutes; SCALE_SESSIONS=N for another count).
scale: all
	$(SHELL) $(srcdir)/tests/bench/scale.sh $(abs_top_builddir) $(abs_top_srcdir)
.PHONY: scale

# Instructions per relayed request and per PSK session, counted by callgrind
# (repeatable on a noisy machine; needs valgrind; under a minute).
callgrind: all
	BUILD=$(abs_top_builddir) $(SHELL) $(srcdir)/tests/bench/callgrind.sh
.PHONY: callgrind
