# tests/unit/local.mk: build rules for tests/unit (included from Makefile.am).
