# systemd/local.mk: the service unit, filled from systemd/*.in at build time,
# and the install test.
#
# coaps_subst (defined in man/local.mk) replaces @SERVICE_TYPE@, @sbindir@,
# @sysconfdir@, ... with what configure and make know.
systemdsystemunit_DATA = systemd/coaps-proxyd.service
CLEANFILES += systemd/coaps-proxyd.service
EXTRA_DIST += systemd/coaps-proxyd.service.in

# The system user of the unit, for systemd-sysusers(8).
EXTRA_DIST += systemd/coaps-proxy.sysusers
install-data-local: install-sysusers-local
uninstall-local: uninstall-sysusers-local
.PHONY: install-sysusers-local uninstall-sysusers-local
install-sysusers-local:
	$(MKDIR_P) "$(DESTDIR)$(sysusersdir)"
	$(INSTALL_DATA) "$(srcdir)/systemd/coaps-proxy.sysusers" \
	  "$(DESTDIR)$(sysusersdir)/coaps-proxy.conf"
uninstall-sysusers-local:
	rm -f "$(DESTDIR)$(sysusersdir)/coaps-proxy.conf"

systemd/coaps-proxyd.service: systemd/coaps-proxyd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	$(coaps_subst) $(srcdir)/systemd/coaps-proxyd.service.in >$@.tmp && \
	$(coaps_subst_check) && mv -f $@.tmp $@

# configure's default unit directory is the system's (/lib/systemd/system),
# outside the prefix: distcheck installs as a user under its own prefix.
AM_DISTCHECK_CONFIGURE_FLAGS = \
	--with-systemdsystemunitdir='$${prefix}/lib/systemd/system' \
	--with-sysusersdir='$${prefix}/lib/sysusers.d'

# Prints the installation directories, fully expanded, for
# systemd/test-install.sh (one NAME=VALUE per line).
.PHONY: coaps-print-install-dirs
coaps-print-install-dirs:
	@echo "sbindir=$(sbindir)"
	@echo "bindir=$(bindir)"
	@echo "sysconfdir=$(sysconfdir)"
	@echo "mandir=$(mandir)"
	@echo "docdir=$(docdir)"
	@echo "systemdsystemunitdir=$(systemdsystemunitdir)"
	@echo "sysusersdir=$(sysusersdir)"
	@echo "bin_programs='$(bin_PROGRAMS)'"
	@echo "sbin_programs='$(sbin_PROGRAMS)'"

# make install DESTDIR=... into a temporary directory, then uninstall.
TESTS += systemd/test-install.sh
EXTRA_DIST += systemd/test-install.sh

# The Debian package under a real systemd: builds the .deb, boots Debian 12
# and 13 roots with systemd-nspawn and runs the service in them. Not in
# `make check`: it needs root, debootstrap roots (ROOTS=DIR, see the script)
# and takes minutes. CI runs `make check-systemd`.
.PHONY: check-systemd
check-systemd:
	bash $(srcdir)/systemd/test-nspawn.sh $(CHECK_SYSTEMD_RELEASES)
EXTRA_DIST += systemd/test-nspawn.sh \
	debian/changelog debian/control debian/copyright debian/rules \
	debian/source/format debian/coaps-proxy.docs debian/coaps-proxy.postinst \
	debian/coaps-proxy.postrm debian/coaps-proxy.lintian-overrides debian/README.Debian
