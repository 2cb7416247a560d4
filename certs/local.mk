# certs/local.mk: build rules for certs (included from Makefile.am).
