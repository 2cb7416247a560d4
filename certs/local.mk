# certs/local.mk: the test PKI generator (no keys or certificates are committed).
dist_noinst_SCRIPTS += certs/gen-certs.sh certs/gen-hostile-certs.sh certs/gen-expiring-certs.sh
EXTRA_DIST += certs/README.md
