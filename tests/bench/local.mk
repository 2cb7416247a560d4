# tests/bench/local.mk: build rules for tests/bench (included from Makefile.am).
