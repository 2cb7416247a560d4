# src/local.mk: the daemon, its convenience library and the control CLI.
noinst_LIBRARIES += src/libcoapsproxy.a
src_libcoapsproxy_a_SOURCES = \
	src/certcheck.c src/certcheck.h \
	src/clock.c src/clock.h \
	src/coap_msg.c src/coap_msg.h \
	src/config.c src/configuration.h src/config_get.c src/config_get.h src/config_file.c \
	src/config_file.h src/config_net.h src/config_psk.h src/config_x509.h \
	src/config_net.c src/config_psk.c src/config_x509.c src/defaults.h \
	src/dtls.c src/dtls.h src/dtls_compat.h src/dtls_ticket.c \
	src/fdstore.c src/fdstore.h \
	src/admit.c src/admit.h \
	src/hspool.c src/hspool.h \
	src/frontdoor.c src/frontdoor.h \
	src/listener.c src/listener.h \
	src/log.c src/log.h \
	src/log_ring.c src/log_ring.h \
	src/mid_map.c src/mid_map.h \
	src/pool.c src/pool.h \
	src/ratelimit.c src/ratelimit.h \
	src/route.c src/route.h \
	src/relay.c src/relay.h \
	src/session.c src/session.h \
	src/state.c src/state.h src/state_store.c src/state_store.h \
	src/stats.c src/stats.h \
	src/steer.c src/steer.h \
	src/worker.c src/worker.h \
	src/text.c src/text.h src/text_evbuffer.c

sbin_PROGRAMS += src/coaps-proxyd
src_coaps_proxyd_SOURCES = src/main.c src/config_job.c src/config_job.h src/lifecycle.c \
	src/lifecycle.h
src_coaps_proxyd_LDADD = $(PROXY_LIBS) $(PTHREAD_LIBS)
src_libcoapsproxy_a_SOURCES += src/control.c src/control.h src/metrics.c src/metrics.h \
	src/fdlimit.c src/fdlimit.h src/status.c src/status.h

bin_PROGRAMS += src/coaps-proxyctl
src_coaps_proxyctl_SOURCES = src/coaps-proxyctl.c src/dtls_client.c src/dtls_client.h
# test-psk's DTLS client takes its mbedTLS set-up from dtls.c (in the library).
src_coaps_proxyctl_LDADD = $(PROXY_LIBS)
