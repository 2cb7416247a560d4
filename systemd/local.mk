# systemd/local.mk: build rules for systemd (included from Makefile.am).
