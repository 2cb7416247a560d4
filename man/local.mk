# man/local.mk: the man pages, filled from man/*.in at build time, and the
# check that every configuration key is documented.
#
# The pages hold @sysconfdir@, @runstatedir@, ... placeholders; coaps_subst
# replaces them with the directories make knows (fully expanded, so
# `make prefix=...` is honoured). systemd/local.mk uses coaps_subst too.
# (configure has no AC_PROG_SED, so plain sed is used.)
coaps_subst = sed \
	-e 's|@PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g' \
	-e 's|@SERVICE_TYPE[@]|$(SERVICE_TYPE)|g' \
	-e 's|@FDSTORE_PRESERVE[@]|$(FDSTORE_PRESERVE)|g' \
	-e 's|@bindir[@]|$(bindir)|g' \
	-e 's|@sbindir[@]|$(sbindir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	-e 's|@localstatedir[@]|$(localstatedir)|g' \
	-e 's|@runstatedir[@]|$(runstatedir)|g' \
	-e 's|@systemdsystemunitdir[@]|$(systemdsystemunitdir)|g' \
	-e 's|@sysusersdir[@]|$(sysusersdir)|g'

coaps_man_pages = man/coaps-proxyd.8 man/coaps-proxy.conf.5 man/coaps-proxyctl.1
man_MANS = $(coaps_man_pages)
CLEANFILES += $(coaps_man_pages)
EXTRA_DIST += man/coaps-proxyd.8.in man/coaps-proxy.conf.5.in man/coaps-proxyctl.1.in

# Fails when a placeholder is left over, so a new @name@ cannot slip through.
coaps_subst_check = if grep -n '@[a-zA-Z_]*@' $@.tmp; then \
	echo "$@: placeholder left unsubstituted (add it to coaps_subst)" >&2; \
	rm -f $@.tmp; exit 1; fi

man/coaps-proxyd.8: man/coaps-proxyd.8.in Makefile
	$(AM_V_GEN)$(MKDIR_P) man && \
	$(coaps_subst) $(srcdir)/man/coaps-proxyd.8.in >$@.tmp && \
	$(coaps_subst_check) && mv -f $@.tmp $@
man/coaps-proxy.conf.5: man/coaps-proxy.conf.5.in Makefile
	$(AM_V_GEN)$(MKDIR_P) man && \
	$(coaps_subst) $(srcdir)/man/coaps-proxy.conf.5.in >$@.tmp && \
	$(coaps_subst_check) && mv -f $@.tmp $@
man/coaps-proxyctl.1: man/coaps-proxyctl.1.in Makefile
	$(AM_V_GEN)$(MKDIR_P) man && \
	$(coaps_subst) $(srcdir)/man/coaps-proxyctl.1.in >$@.tmp && \
	$(coaps_subst_check) && mv -f $@.tmp $@

# Every key of src/config.c in the man page and the example configuration;
# the second script proves the first one fails on an undocumented key.
TESTS += man/check-config-keys.sh man/test-check-config-keys.sh
EXTRA_DIST += man/check-config-keys.sh man/test-check-config-keys.sh man/check-metric-names.sh
