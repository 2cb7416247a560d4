# conf/local.mk: build rules for conf (included from Makefile.am).
