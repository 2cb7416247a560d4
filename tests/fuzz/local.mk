# tests/fuzz/local.mk: build rules for tests/fuzz (included from Makefile.am).
