# tests/unit/local.mk: Check unit tests of the modules that touch no sockets.
UNIT_LIBS = $(PROXY_LIBS) $(CHECK_LIBS)
UNIT_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)

UNIT_TESTS = tests/unit/check_config tests/unit/check_coap_msg tests/unit/check_mid_map \
	tests/unit/check_route tests/unit/check_log tests/unit/check_text \
	tests/unit/check_dtls_cookie tests/unit/check_state
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)

tests_unit_check_config_SOURCES = tests/unit/check_config.c
tests_unit_check_config_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_config_LDADD = $(UNIT_LIBS)

tests_unit_check_coap_msg_SOURCES = tests/unit/check_coap_msg.c
tests_unit_check_coap_msg_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_coap_msg_LDADD = $(UNIT_LIBS)

tests_unit_check_mid_map_SOURCES = tests/unit/check_mid_map.c
tests_unit_check_mid_map_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_mid_map_LDADD = $(UNIT_LIBS)

tests_unit_check_route_SOURCES = tests/unit/check_route.c
tests_unit_check_route_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_route_LDADD = $(UNIT_LIBS)

tests_unit_check_log_SOURCES = tests/unit/check_log.c
tests_unit_check_log_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_log_LDADD = $(UNIT_LIBS)

# The relay against a fake session layer (no DTLS) and a real UDP backend on 127.0.0.1.
check_PROGRAMS += tests/unit/check_relay
TESTS += tests/unit/check_relay
tests_unit_check_relay_SOURCES = tests/unit/check_relay.c tests/unit/fake_session.c \
	tests/unit/fake_session.h src/relay.c
tests_unit_check_relay_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_relay_LDADD = $(UNIT_LIBS)

tests_unit_check_text_SOURCES = tests/unit/check_text.c
tests_unit_check_text_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_text_LDADD = $(UNIT_LIBS)

tests_unit_check_dtls_cookie_SOURCES = tests/unit/check_dtls_cookie.c
tests_unit_check_dtls_cookie_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_dtls_cookie_LDADD = $(UNIT_LIBS)

tests_unit_check_state_SOURCES = tests/unit/check_state.c
tests_unit_check_state_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_state_LDADD = $(UNIT_LIBS)
tests_unit_check_state_CPPFLAGS = $(AM_CPPFLAGS) -DSRCDIR='"$(abs_top_srcdir)"'
EXTRA_DIST += tests/unit/state-v1.hex

# Inputs the fuzz targets (tests/fuzz) found trouble with, replayed in every build.
check_PROGRAMS += tests/unit/check_fuzz_regress
TESTS += tests/unit/check_fuzz_regress
tests_unit_check_fuzz_regress_SOURCES = tests/unit/check_fuzz_regress.c
tests_unit_check_fuzz_regress_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_fuzz_regress_LDADD = $(UNIT_LIBS)
# check_fuzz_regress replays datagram inputs through the fuzz harness's proxy.
tests_unit_check_fuzz_regress_SOURCES += tests/fuzz/fuzz_proxy.c tests/fuzz/fuzz_proxy.h
tests_unit_check_fuzz_regress_CPPFLAGS = $(AM_CPPFLAGS) -DFUZZ_SRCDIR='"$(abs_top_srcdir)"'
EXTRA_DIST += tests/unit/fuzz-inputs

check_PROGRAMS += tests/unit/check_admit
TESTS += tests/unit/check_admit
tests_unit_check_admit_SOURCES = tests/unit/check_admit.c
tests_unit_check_admit_CFLAGS = $(UNIT_CFLAGS)
tests_unit_check_admit_LDADD = $(UNIT_LIBS)
