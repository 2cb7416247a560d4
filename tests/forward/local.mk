# tests/forward/local.mk: CoAP-aware forwarding tests (included from Makefile.am).
