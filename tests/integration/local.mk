# tests/integration/local.mk: build rules for tests/integration (included from Makefile.am).
