# tests/unit/local.mk: build rules for tests/unit (included from Makefile.am).
UNIT_LIBS = src/libcoapsproxy.a $(COAP_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/unit/check_coap_msg tests/unit/check_mid_map \
	tests/unit/check_route
TESTS += tests/unit/check_coap_msg tests/unit/check_mid_map \
	tests/unit/check_route

tests_unit_check_coap_msg_SOURCES = tests/unit/check_coap_msg.c
tests_unit_check_coap_msg_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_coap_msg_LDADD = $(UNIT_LIBS)

tests_unit_check_mid_map_SOURCES = tests/unit/check_mid_map.c
tests_unit_check_mid_map_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_mid_map_LDADD = $(UNIT_LIBS)

tests_unit_check_route_SOURCES = tests/unit/check_route.c
tests_unit_check_route_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_check_route_LDADD = $(UNIT_LIBS)
