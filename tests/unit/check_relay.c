/* check_relay.c: unit tests of the relay against a fake session layer and a real UDP backend on 127.0.0.1. */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "configuration.h"
#include "fake_session.h"
#include "log.h"
#include "relay.h"
#include "stats.h"

static char dir[] = "/tmp/check_relay.XXXXXX";
static char path[512];
static struct event_base *base;
static struct proxy_config *cfg;
static int backend_fd = -1;         /* the backend: a UDP socket on 127.0.0.1 */
static struct sockaddr_in upstream; /* where the relay's datagrams to the backend come from */
static socklen_t upstream_len;

/* Opens the backend socket, writes and loads a config routing /a to it, starts the relay. */
static void
setup(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sin;
	char *cause = NULL;
	FILE *f;

	log_init();
	log_set_level(LOG_LVL_ERROR);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/relay.conf", dir);
	backend_fd = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_ge(backend_fd, 0);
	ck_assert_int_eq(bind(backend_fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(backend_fd, (struct sockaddr *)&sin, &len), 0);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
	    "listen = ( { address = \"127.0.0.1\"; port = 5684; } );\n"
	    "backends = ( { name = \"a\"; address = \"127.0.0.1\"; port = %u; } );\n"
	    "routes = ( { path_prefix = \"/a\"; backend = \"a\"; } );\n"
	    "psk = ( { identity = \"dev-1\"; key = \"secretPSK123\"; } );\n",
	    ntohs(sin.sin_port));
	fclose(f);
	cfg = config_load(path, &cause);
	ck_assert_msg(cfg != NULL, "config_load: %s", cause ? cause : "?");
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	ck_assert_int_eq(relay_init(base), 0);
}

/* Stops the relay and removes what setup made. */
static void
teardown(void)
{
	relay_shutdown();
	event_base_free(base);
	config_unref(cfg);
	close(backend_fd);
	unlink(path);
	rmdir(dir);
	strcpy(dir, "/tmp/check_relay.XXXXXX");
}

/* Reads one datagram at the backend (waits up to 2 s); returns its length. */
static size_t
backend_recv(uint8_t *buf, size_t len)
{
	struct pollfd p = { .fd = backend_fd, .events = POLLIN };
	ssize_t n;

	ck_assert_msg(poll(&p, 1, 2000) == 1, "nothing reached the backend");
	upstream_len = sizeof upstream;
	n = recvfrom(backend_fd, buf, len, 0, (struct sockaddr *)&upstream, &upstream_len);
	ck_assert_int_gt(n, 0);
	return (size_t)n;
}

/* Sends a datagram from the backend to the relay's upstream socket. */
static void
backend_send(const uint8_t *buf, size_t len)
{
	ck_assert_int_eq(sendto(backend_fd, buf, len, 0, (struct sockaddr *)&upstream,
	                     upstream_len),
	    (ssize_t)len);
}

/* Runs the event loop until the device got want messages (up to 2 s). */
static void
loop_until_sent(const struct session *s, size_t want)
{
	for (int i = 0; i < 200 && fake_session_sent_count(s) < want; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(10000);
	}
	ck_assert_uint_eq(fake_session_sent_count(s), want);
}

/* A request no route takes is answered 4.04 with its MID and token, and nothing is forwarded. */
START_TEST(test_no_route)
{
	static const uint8_t get_x[] = { 0x41, 0x01, 0x12, 0x34, 0x07, 0xb1, 'x' };
	struct session *s = fake_session_new(cfg, "dev-1");
	uint64_t before = stats_get()->answers[ANSWER_4_04];
	struct pollfd p = { .fd = backend_fd, .events = POLLIN };
	const uint8_t *m;
	size_t len;

	relay_from_device(s, get_x, sizeof get_x);
	ck_assert_uint_eq(fake_session_sent_count(s), 1);
	m = fake_session_sent(s, 0, &len);
	ck_assert_uint_ge(len, 5);
	ck_assert_uint_eq(m[0], 0x61); /* ACK, token length 1 */
	ck_assert_uint_eq(m[1], 0x84); /* 4.04 */
	ck_assert_uint_eq(m[2], 0x12);
	ck_assert_uint_eq(m[3], 0x34);
	ck_assert_uint_eq(m[4], 0x07);
	ck_assert_uint_eq(stats_get()->answers[ANSWER_4_04], before + 1);
	ck_assert_int_eq(poll(&p, 1, 100), 0);
	relay_session_end(s);
	fake_session_free(s);
}
END_TEST

/* A routed request reaches the backend with the device's MID; the answer goes back through session_send. */
START_TEST(test_forward_and_answer)
{
	static const uint8_t get_a[] = { 0x41, 0x01, 0x23, 0x45, 0x02, 0xb1, 'a' };
	static const uint8_t answer[] = { 0x61, 0x45, 0x23, 0x45, 0x02, 0xff, 'o', 'k' };
	struct session *s = fake_session_new(cfg, "dev-1");
	uint8_t buf[256];
	const uint8_t *m;
	size_t len;

	relay_from_device(s, get_a, sizeof get_a);
	ck_assert_uint_eq(fake_session_sent_count(s), 0);
	len = backend_recv(buf, sizeof buf);
	ck_assert_uint_ge(len, 4);
	ck_assert_uint_eq(buf[0] >> 4 & 3, 0); /* CON */
	ck_assert_uint_eq(buf[1], 0x01);       /* GET */
	ck_assert_uint_eq(buf[2], 0x23);
	ck_assert_uint_eq(buf[3], 0x45);
	backend_send(answer, sizeof answer);
	loop_until_sent(s, 1);
	m = fake_session_sent(s, 0, &len);
	ck_assert_uint_eq(len, sizeof answer);
	ck_assert_mem_eq(m, answer, sizeof answer);
	relay_session_end(s);
	fake_session_free(s);
}
END_TEST

/*
 * A message the backend starts gets a MID of the session's own space; the
 * device's ACK for that MID goes back to the backend with the backend's MID.
 */
START_TEST(test_mid_remap)
{
	static const uint8_t get_a[] = { 0x41, 0x01, 0x31, 0x00, 0x03, 0xb1, 'a' };
	static const uint8_t answer[] = { 0x61, 0x45, 0x31, 0x00, 0x03 };
	static const uint8_t notify[] = { 0x41, 0x45, 0x40, 0x00, 0x03, 0xff, 'n' };
	struct session *s = fake_session_new(cfg, "dev-1");
	uint8_t buf[256], ack[4];
	const uint8_t *m;
	size_t len;

	relay_from_device(s, get_a, sizeof get_a);
	backend_recv(buf, sizeof buf);
	backend_send(answer, sizeof answer);
	loop_until_sent(s, 1);
	backend_send(notify, sizeof notify);
	loop_until_sent(s, 2);
	m = fake_session_sent(s, 1, &len);
	ck_assert_uint_eq(len, sizeof notify);
	ck_assert_uint_eq(m[0], 0x41);
	ck_assert_mem_eq(m + 4, notify + 4, sizeof notify - 4);
	ck_assert_msg(m[2] != 0x40 || m[3] != 0x00, "the device got the backend's own MID");
	ack[0] = 0x60; /* ACK, no token */
	ack[1] = 0x00;
	ack[2] = m[2];
	ack[3] = m[3];
	relay_from_device(s, ack, sizeof ack);
	len = backend_recv(buf, sizeof buf);
	ck_assert_uint_eq(len, 4);
	ck_assert_uint_eq(buf[0], 0x60);
	ck_assert_uint_eq(buf[2], 0x40);
	ck_assert_uint_eq(buf[3], 0x00);
	relay_session_end(s);
	fake_session_free(s);
}
END_TEST

/* Collects the tests. */
static Suite *
relay_suite(void)
{
	Suite *s = suite_create("relay");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_no_route);
	tcase_add_test(tc, test_forward_and_answer);
	tcase_add_test(tc, test_mid_remap);
	suite_add_tcase(s, tc);
	return s;
}

/* Runs the suite. */
int
main(void)
{
	SRunner *sr = srunner_create(relay_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
