/* dtls_client.c: a one-shot DTLS PSK client that checks a device's credentials (coaps-proxyctl test-psk). */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>

#include "dtls.h"
#include "dtls_client.h"
#include "listener.h"

/* The handshake timer mbedTLS asks for (mbedtls_ssl_set_timer_cb). */
struct probe_timer {
	int64_t start, int_ms, fin_ms;
};

/* Milliseconds on the monotonic clock. */
static int64_t
probe_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* mbedTLS: starts (or with fin_ms 0 stops) the timer. */
static void
probe_timer_set(void *ctx, uint32_t int_ms, uint32_t fin_ms)
{
	struct probe_timer *t = ctx;

	t->start = probe_now_ms();
	t->int_ms = int_ms;
	t->fin_ms = fin_ms;
}

/* mbedTLS: -1 stopped, 0 running, 1 intermediate passed, 2 final passed. */
static int
probe_timer_get(void *ctx)
{
	struct probe_timer *t = ctx;
	int64_t el = probe_now_ms() - t->start;

	if (t->fin_ms == 0)
		return -1;
	if (el >= t->fin_ms)
		return 2;
	return el >= t->int_ms ? 1 : 0;
}

/* mbedTLS: sends one datagram on the connected socket. */
static int
probe_send(void *ctx, const unsigned char *buf, size_t len)
{
	ssize_t n = send(*(int *)ctx, buf, len, 0);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? MBEDTLS_ERR_SSL_WANT_WRITE
		                                         : MBEDTLS_ERR_NET_SEND_FAILED;
	return (int)n;
}

/* mbedTLS: receives one datagram, waiting at most timeout ms (0: forever). */
static int
probe_recv(void *ctx, unsigned char *buf, size_t len, uint32_t timeout)
{
	struct pollfd pfd = { .fd = *(int *)ctx, .events = POLLIN };
	int r = poll(&pfd, 1, timeout == 0 ? -1 : (int)timeout);
	ssize_t n;

	if (r == 0)
		return MBEDTLS_ERR_SSL_TIMEOUT;
	if (r < 0)
		return errno == EINTR ? MBEDTLS_ERR_SSL_WANT_READ : MBEDTLS_ERR_NET_RECV_FAILED;
	n = recv(pfd.fd, buf, len, 0);
	if (n < 0)
		return errno == ECONNREFUSED ? MBEDTLS_ERR_NET_CONN_RESET
		                             : MBEDTLS_ERR_NET_RECV_FAILED;
	return (int)n;
}

/* Builds a CON GET for path (Uri-Path options) or an empty CON (ping); returns its length. */
static size_t
probe_request(uint8_t *out, size_t cap, uint16_t mid, uint8_t token, const char *path)
{
	size_t o = 4;
	unsigned last = 0;

	out[0] = path != NULL ? 0x41 : 0x40; /* version 1, CON, token length 1 or 0 */
	out[1] = path != NULL ? 0x01 : 0x00; /* GET or empty */
	out[2] = (uint8_t)(mid >> 8);
	out[3] = (uint8_t)mid;
	if (path == NULL)
		return o;
	out[o++] = token;
	while (*path != '\0') {
		size_t n;

		while (*path == '/')
			path++;
		n = strcspn(path, "/?");
		if (n == 0)
			break;
		if (n > 268 || o + 3 + n > cap)
			return 0;
		/* Uri-Path is option 11: delta 11 the first time, 0 after. */
		out[o++] = (uint8_t)((11 - last) << 4 | (n < 13 ? n : 13));
		if (n >= 13)
			out[o++] = (uint8_t)(n - 13);
		memcpy(out + o, path, n);
		o += n;
		last = 11;
		path += n;
		if (*path == '?')
			break;
	}
	return o;
}

/* Names a CoAP response code: "2.05 Content", "4.04 Not Found", ... */
static void
probe_code_name(uint8_t code, char *buf, size_t len)
{
	static const struct {
		uint8_t code;
		const char *name;
	} names[] = { { 0x41, "Created" }, { 0x42, "Deleted" }, { 0x43, "Valid" },
		{ 0x44, "Changed" }, { 0x45, "Content" }, { 0x80, "Bad Request" },
		{ 0x81, "Unauthorized" }, { 0x83, "Forbidden" }, { 0x84, "Not Found" },
		{ 0x85, "Method Not Allowed" }, { 0x8d, "Request Entity Too Large" },
		{ 0xa0, "Internal Server Error" }, { 0xa2, "Bad Gateway" },
		{ 0xa3, "Service Unavailable" }, { 0xa4, "Gateway Timeout" },
		{ 0xa5, "Proxying Not Supported" } };
	const char *name = "";

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].code == code)
			name = names[i].name;
	snprintf(buf, len, "%u.%02u%s%s", code >> 5, code & 31, name[0] ? " " : "", name);
}

/* Offset of the payload of a CoAP message (len if none); 0 if it is malformed. */
static size_t
probe_payload_at(const uint8_t *m, size_t len)
{
	size_t o = 4 + (m[0] & 0x0f);

	while (o < len && m[o] != 0xff) {
		unsigned d = m[o] >> 4, l = m[o] & 0x0f;

		o++;
		if (d == 15 || l == 15)
			return 0;
		o += d == 13 ? 1 : d == 14 ? 2 : 0;
		if (l == 13) {
			if (o >= len)
				return 0;
			l = m[o++] + 13u;
		} else if (l == 14) {
			if (o + 1 >= len)
				return 0;
			l = (unsigned)(m[o] << 8 | m[o + 1]) + 269u;
			o += 2;
		}
		o += l;
	}
	if (o > len)
		return 0;
	return o < len ? o + 1 : len;
}

/* Describes an mbedTLS error of the handshake in words. */
static void
probe_tls_error(mbedtls_ssl_context *ssl, int ret, char *buf, size_t len)
{
	char tls[160];

	if (ret == MBEDTLS_ERR_SSL_TIMEOUT)
		snprintf(buf, len,
		    "handshake timed out: the proxy did not answer (a wrong key makes "
		    "the proxy drop the Finished; is the address right?)");
	else if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE)
		snprintf(buf, len, "the proxy sent the alert %s",
		    dtls_alert_name(dtls_alert_received(ssl)));
	else if (ret == MBEDTLS_ERR_NET_CONN_RESET)
		snprintf(buf, len, "nothing listens there (port unreachable)");
	else {
		mbedtls_strerror(ret, tls, sizeof tls);
		snprintf(buf, len, "handshake failed: %s (-0x%04x)", tls, (unsigned)-ret);
	}
}

/* Sends the request and waits for its answer; 0 or -1 with res->error. */
static int
probe_exchange(mbedtls_ssl_context *ssl, const char *path, int timeout_ms,
    struct dtls_probe_result *res)
{
	uint8_t req[600], buf[2048];
	uint16_t mid = (uint16_t)(probe_now_ms() ^ getpid());
	uint8_t token = (uint8_t)(mid * 7 + 1);
	int64_t t0, deadline;
	size_t n = probe_request(req, sizeof req, mid, token, path);
	int r;

	if (n == 0) {
		snprintf(res->error, sizeof res->error, "path too long");
		return -1;
	}
	t0 = probe_now_ms();
	deadline = t0 + timeout_ms;
	if ((r = mbedtls_ssl_write(ssl, req, n)) < 0) {
		snprintf(res->error, sizeof res->error, "cannot send the request (-0x%04x)",
		    (unsigned)-r);
		return -1;
	}
	for (;;) {
		int64_t left = deadline - probe_now_ms();
		size_t at;

		if (left <= 0) {
			snprintf(res->error, sizeof res->error, "no answer within %d ms",
			    timeout_ms);
			return -1;
		}
		r = mbedtls_ssl_read(ssl, buf, sizeof buf);
		if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_TIMEOUT)
			continue;
		if (r == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
			snprintf(res->error, sizeof res->error, "the proxy closed the session");
			return -1;
		}
		if (r < 0) {
			snprintf(res->error, sizeof res->error,
			    "reading the answer failed (-0x%04x)", (unsigned)-r);
			return -1;
		}
		if (r < 4 || buf[0] >> 6 != 1)
			continue;
		unsigned type = buf[0] >> 4 & 3;
		uint16_t rmid = (uint16_t)(buf[2] << 8 | buf[3]);

		if (path == NULL) {
			if (rmid != mid || (type != 3 && type != 2))
				continue;
			res->rtt_ms = probe_now_ms() - t0;
			snprintf(res->answer, sizeof res->answer, "%s (CoAP ping answered)",
			    type == 3 ? "RST" : "ACK");
			return 0;
		}
		if (type == 2 && rmid == mid && buf[1] == 0)
			continue; /* empty ACK: the answer comes separately */
		if ((buf[0] & 0x0f) != 1 || (size_t)r < 5 || buf[4] != token)
			continue;
		if (type == 0) {
			/* A separate response in a CON: acknowledge it. */
			uint8_t ack[4] = { 0x60, 0x00, buf[2], buf[3] };

			(void)mbedtls_ssl_write(ssl, ack, sizeof ack);
		}
		res->rtt_ms = probe_now_ms() - t0;
		probe_code_name(buf[1], res->answer, sizeof res->answer);
		at = probe_payload_at(buf, (size_t)r);
		if (at > 0 && at < (size_t)r) {
			res->payload_len = (size_t)r - at < sizeof res->payload
			                       ? (size_t)r - at
			                       : sizeof res->payload;
			memcpy(res->payload, buf + at, res->payload_len);
		}
		return 0;
	}
}

int
dtls_probe(const char *host, const char *port, const char *identity, const uint8_t *key,
    size_t key_len, const char *path, int timeout_ms, struct dtls_probe_result *res)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST };
	struct addrinfo *ai = NULL;
	struct sockaddr_storage me;
	socklen_t melen = sizeof me;
	struct probe_timer timer = { 0 };
	mbedtls_ssl_config conf;
	mbedtls_ssl_context ssl;
	char *cause = NULL;
	int fd = -1, r, rc = -1;
	int64_t t0, deadline;

	memset(res, 0, sizeof *res);
	res->handshake_ms = res->rtt_ms = -1;
	mbedtls_ssl_config_init(&conf);
	mbedtls_ssl_init(&ssl);
	if ((r = getaddrinfo(host, port, &hints, &ai)) != 0) {
		snprintf(res->error, sizeof res->error, "%s port %s: %s", host, port,
		    gai_strerror(r));
		goto out;
	}
	fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    getsockname(fd, (struct sockaddr *)&me, &melen) < 0) {
		snprintf(res->error, sizeof res->error, "%s port %s: %s", host, port,
		    strerror(errno));
		goto out;
	}
	addr_format((struct sockaddr *)&me, res->local, sizeof res->local);
	if (dtls_client_config(&conf, &cause) < 0) {
		snprintf(res->error, sizeof res->error, "%s", cause ? cause : "DTLS setup failed");
		goto out;
	}
	if (mbedtls_ssl_conf_psk(&conf, key, key_len, (const unsigned char *)identity,
	        strlen(identity)) != 0) {
		snprintf(res->error, sizeof res->error,
		    "the key or identity is too long for mbedTLS");
		goto out;
	}
	mbedtls_ssl_conf_handshake_timeout(&conf, 1000, (uint32_t)timeout_ms);
	mbedtls_ssl_conf_read_timeout(&conf, 200);
	if (mbedtls_ssl_setup(&ssl, &conf) != 0) {
		snprintf(res->error, sizeof res->error, "DTLS setup failed");
		goto out;
	}
	mbedtls_ssl_set_bio(&ssl, &fd, probe_send, NULL, probe_recv);
	mbedtls_ssl_set_timer_cb(&ssl, &timer, probe_timer_set, probe_timer_get);
	t0 = probe_now_ms();
	deadline = t0 + timeout_ms;
	do
		r = mbedtls_ssl_handshake(&ssl);
	while ((r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) &&
	       probe_now_ms() < deadline);
	if (r != 0) {
		probe_tls_error(&ssl, r == MBEDTLS_ERR_SSL_WANT_READ ? MBEDTLS_ERR_SSL_TIMEOUT : r,
		    res->error, sizeof res->error);
		goto out;
	}
	res->handshake_ms = probe_now_ms() - t0;
	snprintf(res->cipher, sizeof res->cipher, "%s", mbedtls_ssl_get_ciphersuite(&ssl));
	rc = probe_exchange(&ssl, path, timeout_ms, res);
	(void)mbedtls_ssl_close_notify(&ssl);
out:
	free(cause);
	mbedtls_ssl_free(&ssl);
	mbedtls_ssl_config_free(&conf);
	if (ai != NULL)
		freeaddrinfo(ai);
	if (fd >= 0)
		close(fd);
	return rc;
}
