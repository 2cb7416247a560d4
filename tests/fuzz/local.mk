# tests/fuzz/local.mk: build rules for tests/fuzz (included from Makefile.am).
# With ./configure --enable-fuzzing (CC=clang), builds the libFuzzer targets;
# `make fuzz-smoke FUZZ_SECONDS=60` runs each for that long from its seed corpus.
FUZZ_SECONDS = 60
FUZZ_TARGETS = coap_msg

EXTRA_DIST += tests/fuzz/corpus/coap_msg tests/fuzz/make-corpus.sh

if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_coap_msg
tests_fuzz_fuzz_coap_msg_SOURCES = tests/fuzz/fuzz_coap_msg.c
tests_fuzz_fuzz_coap_msg_LDFLAGS = -fsanitize=fuzzer
tests_fuzz_fuzz_coap_msg_LDADD = src/libcoapsproxy.a $(COAP_LIBS)

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
