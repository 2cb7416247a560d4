# conf/local.mk: the configuration, the logrotate file and the example.
#
# `make install` copies conf/coaps-proxy.conf to
# $(sysconfdir)/coaps-proxy/coaps-proxy.conf only when no file is there yet:
# an administrator's configuration is never overwritten. `make uninstall`
# removes it only while it is identical to the shipped one; an edited one
# stays (and a message says so). It holds no keys (the daemon refuses to
# start until psk or x509 is configured) and is installed mode 0640; when
# the group coaps-proxyd exists (systemd-sysusers made it from
# systemd/coaps-proxy.sysusers), make runs as root and DESTDIR is empty, it
# gets that group so that the daemon can read it; otherwise (DESTDIR empty)
# a message says what to run. Packages set the group in their own scripts.
# The logrotate file is always installed, as $(sysconfdir)/logrotate.d/coaps-proxyd,
# and always removed. conf/example-psk.conf (demo keys) goes to
# $(docdir)/examples.
EXTRA_DIST += conf/coaps-proxy.conf conf/coaps-proxy.logrotate
coaps_examplesdir = $(docdir)/examples
dist_coaps_examples_DATA = conf/example-psk.conf

coaps_confdir = $(sysconfdir)/coaps-proxy
coaps_logrotatedir = $(sysconfdir)/logrotate.d

install-data-local: install-conf-local
uninstall-local: uninstall-conf-local

.PHONY: install-conf-local uninstall-conf-local
install-conf-local:
	$(MKDIR_P) "$(DESTDIR)$(coaps_confdir)" "$(DESTDIR)$(coaps_logrotatedir)"
	@if test -f "$(DESTDIR)$(coaps_confdir)/coaps-proxy.conf"; then \
	  echo "keeping existing $(DESTDIR)$(coaps_confdir)/coaps-proxy.conf"; \
	else \
	  echo " $(INSTALL) -m 0640 $(srcdir)/conf/coaps-proxy.conf '$(DESTDIR)$(coaps_confdir)/coaps-proxy.conf'"; \
	  $(INSTALL) -m 0640 "$(srcdir)/conf/coaps-proxy.conf" \
	    "$(DESTDIR)$(coaps_confdir)/coaps-proxy.conf" || exit 1; \
	  if test -z "$(DESTDIR)" && test "`id -u`" = 0 && getent group coaps-proxyd >/dev/null 2>&1; then \
	    chgrp coaps-proxyd "$(DESTDIR)$(coaps_confdir)/coaps-proxy.conf" || exit 1; \
	  elif test -z "$(DESTDIR)"; then \
	    echo "note: $(DESTDIR)$(coaps_confdir)/coaps-proxy.conf is mode 0640 and not in group coaps-proxyd:"; \
	    echo "  run systemd-sysusers, then chgrp coaps-proxyd $(coaps_confdir)/coaps-proxy.conf"; \
	  fi; \
	fi
	$(INSTALL_DATA) "$(srcdir)/conf/coaps-proxy.logrotate" \
	  "$(DESTDIR)$(coaps_logrotatedir)/coaps-proxyd"

uninstall-conf-local:
	@f="$(DESTDIR)$(coaps_confdir)/coaps-proxy.conf"; \
	if test -f "$$f"; then \
	  if cmp -s "$(srcdir)/conf/coaps-proxy.conf" "$$f"; then \
	    echo " rm -f '$$f'"; rm -f "$$f"; \
	  else \
	    echo "keeping $$f: it differs from the example"; \
	  fi; \
	fi
	rm -f "$(DESTDIR)$(coaps_logrotatedir)/coaps-proxyd"
