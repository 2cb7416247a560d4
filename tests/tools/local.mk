# tests/tools/local.mk: build rules for tests/tools (included from Makefile.am).
