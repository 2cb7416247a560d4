# conf/local.mk: the example configuration and the logrotate file.
#
# `make install` copies conf/coaps-proxy.conf to
# $(sysconfdir)/coaps-proxy/coaps-proxy.conf only when no file is there yet:
# an administrator's configuration is never overwritten. `make uninstall`
# removes it only while it is identical to the example; an edited one stays
# (and a message says so). It is installed mode 0644: the daemon runs as a
# dynamic user that must be able to read it (see systemd/coaps-proxyd.service.in
# for keeping real keys secret).
# The logrotate file is always installed, as $(sysconfdir)/logrotate.d/coaps-proxyd,
# and always removed.
EXTRA_DIST += conf/coaps-proxy.conf conf/coaps-proxy.logrotate

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
	  echo " $(INSTALL_DATA) $(srcdir)/conf/coaps-proxy.conf '$(DESTDIR)$(coaps_confdir)/coaps-proxy.conf'"; \
	  $(INSTALL_DATA) "$(srcdir)/conf/coaps-proxy.conf" \
	    "$(DESTDIR)$(coaps_confdir)/coaps-proxy.conf" || exit 1; \
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
