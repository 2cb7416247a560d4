# tests/fuzz/local.mk: build rules for tests/fuzz (included from Makefile.am).
# With ./configure --enable-fuzzing (CC=clang), builds the libFuzzer targets;
# `make fuzz-smoke FUZZ_SECONDS=60` runs each for that long from its seed corpus.
FUZZ_SECONDS = 60
FUZZ_TARGETS = coap_msg datagram datagram_x509 config log control state

EXTRA_DIST += tests/fuzz/corpus/coap_msg tests/fuzz/corpus/datagram \
	tests/fuzz/corpus/datagram_x509 tests/fuzz/corpus/config tests/fuzz/corpus/log \
	tests/fuzz/corpus/control tests/fuzz/corpus/state \
	tests/fuzz/make-corpus.sh tests/fuzz/make-datagram-corpus.sh tests/fuzz/README.md

if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_coap_msg
tests_fuzz_fuzz_coap_msg_SOURCES = tests/fuzz/fuzz_coap_msg.c
tests_fuzz_fuzz_coap_msg_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_coap_msg_LDADD = src/libcoapsproxy.a $(COAP_LIBS)

# The log renderers (text and JSON lines) with hostile bytes in every field.
noinst_PROGRAMS += tests/fuzz/fuzz_log
tests_fuzz_fuzz_log_SOURCES = tests/fuzz/fuzz_log.c
tests_fuzz_fuzz_log_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_log_LDADD = src/libcoapsproxy.a $(SYSTEMD_LIBS)

# The datagram path and the config loader: an in-process proxy with fixed
# time, RNG and cookie key (fuzz_proxy.c); certs/gen-certs.sh makes the x509
# files at start-up (or $$COAPS_FUZZ_CERTS names a directory of them).
FUZZ_PROXY_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_SRCDIR='"$(abs_top_srcdir)"'
noinst_PROGRAMS += tests/fuzz/fuzz_datagram tests/fuzz/fuzz_config tests/fuzz/record_datagram
tests_fuzz_fuzz_datagram_SOURCES = tests/fuzz/fuzz_datagram.c tests/fuzz/fuzz_proxy.c \
	tests/fuzz/fuzz_proxy.h
tests_fuzz_fuzz_datagram_CPPFLAGS = $(FUZZ_PROXY_CPPFLAGS)
tests_fuzz_fuzz_datagram_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_datagram_LDADD = $(PROXY_LIBS)
# The same with ECDHE-ECDSA clients (client certificates): slow, so apart.
noinst_PROGRAMS += tests/fuzz/fuzz_datagram_x509
tests_fuzz_fuzz_datagram_x509_SOURCES = $(tests_fuzz_fuzz_datagram_SOURCES)
tests_fuzz_fuzz_datagram_x509_CPPFLAGS = $(FUZZ_PROXY_CPPFLAGS) -DFUZZ_X509_CLIENTS
tests_fuzz_fuzz_datagram_x509_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_datagram_x509_LDADD = $(PROXY_LIBS)
tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz_config.c tests/fuzz/fuzz_proxy.c \
	tests/fuzz/fuzz_proxy.h
tests_fuzz_fuzz_config_CPPFLAGS = $(FUZZ_PROXY_CPPFLAGS)
tests_fuzz_fuzz_config_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_config_LDADD = $(PROXY_LIBS)
# The control socket's request parser (control_parse): bytes as a client sends them.
noinst_PROGRAMS += tests/fuzz/fuzz_control
tests_fuzz_fuzz_control_SOURCES = tests/fuzz/fuzz_control.c
tests_fuzz_fuzz_control_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_control_LDADD = $(PROXY_LIBS)
# The saved-sessions loader (state.c): any bytes, with and without a valid digest.
noinst_PROGRAMS += tests/fuzz/fuzz_state
tests_fuzz_fuzz_state_SOURCES = tests/fuzz/fuzz_state.c
tests_fuzz_fuzz_state_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_state_LDADD = $(PROXY_LIBS)
# Records a PSK handshake and a request as a fuzz_datagram seed (see its -h).
tests_fuzz_record_datagram_SOURCES = tests/fuzz/record_datagram.c tests/fuzz/fuzz_proxy.c \
	tests/fuzz/fuzz_proxy.h
tests_fuzz_record_datagram_CPPFLAGS = $(FUZZ_PROXY_CPPFLAGS)
tests_fuzz_record_datagram_LDADD = $(PROXY_LIBS)

# New inputs go to tests/fuzz/work/<target> in the build tree, crashes to
# tests/fuzz/work/; the seed corpus in the source tree is only read.
fuzz-smoke: $(FUZZ_TARGETS:%=tests/fuzz/fuzz_%)
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p tests/fuzz/work/$$t; \
		echo "fuzz-smoke: $$t for $(FUZZ_SECONDS) s"; \
		./tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
			-print_final_stats=1 -artifact_prefix=tests/fuzz/work/ \
			tests/fuzz/work/$$t $(srcdir)/tests/fuzz/corpus/$$t; \
	done
else
fuzz-smoke:
	@echo "fuzzing not enabled (CC=clang ./configure --enable-fuzzing)"
endif

fuzz-clean:
	rm -rf tests/fuzz/work

clean-local: fuzz-clean

.PHONY: fuzz-smoke fuzz-clean
