# tests/robust/local.mk: loss, hostile input and limits tests (included from Makefile.am).
