# tests/soak/local.mk: the soak run (not part of make check: tests/soak/soak.sh --duration SEC).
EXTRA_DIST += tests/soak/soak.sh tests/soak/README.md
