# tests/probe/local.mk: build rules for tests/probe (included from Makefile.am).
