/* fuzz_proxy.c: an in-process proxy with fixed time, RNG and cookie key, for fuzz targets. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ssl.h>

#include "clock.h"
#include "configuration.h"
#include "dtls.h"
#include "listener.h"
#include "log.h"
#include "frontdoor.h"
#include "relay.h"
#include "session.h"

#include "../tools/tls-compat.h"
#include "fuzz_proxy.h"

#ifndef FUZZ_SRCDIR
#define FUZZ_SRCDIR "."
#endif

static struct event_base *fuzz_base;
static struct proxy_config *fuzz_cfg;
static struct listener *fuzz_listener;
static char fuzz_dir[256];
static uint64_t fuzz_clock;
static bool fuzz_time_fixed;
static bool fuzz_time_certs;   /* the client's handshake: a time the test certificates hold */
static time_t fuzz_certs_time; /* a day after the server certificate's valid_from */

/* The fake backend "a": a socket of ours; what the proxy relays to it lands here. */
static struct {
	int fd;
	struct sockaddr_storage from; /* the upstream socket that sent last */
	socklen_t fromlen;
	uint8_t last[4]; /* first bytes of the last message it received */
	size_t last_len;
} backend = { .fd = -1 };

/* The in-process DTLS client whose plaintext the input gives (FUZZ_CTL_CLIENT). */
enum client_kind {
	CLIENT_PSK,          /* PSK dev-42 */
	CLIENT_CERT,         /* ECDHE-ECDSA, client certificate CN=client */
	CLIENT_CERT_REVOKED, /* ECDHE-ECDSA, a revoked client certificate */
	CLIENT_ANONYMOUS,    /* ECDHE-ECDSA, no client certificate */
	CLIENT_KINDS
};
static struct {
	int fd;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	mbedtls_ssl_config conf[CLIENT_KINDS];
	bool conf_ok[CLIENT_KINDS];
	mbedtls_x509_crt crt[2];
	mbedtls_pk_context key[2];
	mbedtls_ssl_context ssl;
	mbedtls_ctr_drbg_context drbg;
	enum {
		CLIENT_DOWN,
		CLIENT_UP,
		CLIENT_FAILED
	} state;
	uint8_t last[4]; /* first bytes of the last message it received */
	size_t last_len;
} client = { .fd = -1 };

/* The fixed peers: two ports on 127.0.0.1 (one NATed device moving), 127.0.0.2 and .3;
 * below the ephemeral port range, so that no socket of ours takes one. */
static const struct {
	const char *ip;
	uint16_t port;
} fuzz_peers[FUZZ_PEERS] = {
	{ "127.0.0.1", 15684 },
	{ "127.0.0.2", 15685 },
	{ "127.0.0.3", 15686 },
	{ "127.0.0.1", 15687 },
};

/*
 * Replaces libc's time() (mbedTLS puts it into the ServerHello random and
 * checks certificate dates with it): fixed, moving only with the fixed clock.
 */
time_t
time(time_t *t)
{
	struct timespec ts;
	time_t now;

	if (fuzz_time_fixed)
		now = (time_t)((fuzz_time_certs ? fuzz_certs_time : FUZZ_TIME) +
		               (clock_ms() - FUZZ_CLOCK_MS) / 1000);
	else {
		clock_gettime(CLOCK_REALTIME, &ts);
		now = ts.tv_sec;
	}
	if (t != NULL)
		*t = now;
	return now;
}

/* Aborts with a message: set-up failures are bugs of the harness. */
static void __attribute__((noreturn)) fuzz_die(const char *what, const char *cause)
{
	fprintf(stderr, "fuzz_proxy: %s: %s\n", what, cause != NULL ? cause : "failed");
	abort();
}

/* Removes the temporary directory at exit. */
static void
fuzz_cleanup(void)
{
	char cmd[300];

	if (fuzz_dir[0] == '\0')
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_proxy: cannot remove %s\n", fuzz_dir);
}

const char *
fuzz_workdir(bool *certs)
{
	static bool made, have_certs;
	const char *env = getenv("COAPS_FUZZ_CERTS"), *tmp = getenv("TMPDIR");
	char cmd[700];

	if (!made) {
		snprintf(fuzz_dir, sizeof fuzz_dir, "%s/coaps-fuzz.XXXXXX",
		    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
		if (mkdtemp(fuzz_dir) == NULL)
			fuzz_die(fuzz_dir, strerror(errno));
		atexit(fuzz_cleanup);
		made = true;
		if (env != NULL && strcmp(env, "none") == 0)
			have_certs = false;
		else if (env != NULL && env[0] != '\0') {
			snprintf(cmd, sizeof cmd, "%s/certs", fuzz_dir);
			have_certs = symlink(env, cmd) == 0;
		} else {
			snprintf(cmd, sizeof cmd,
			    "'%s/certs/gen-certs.sh' '%s/certs' >/dev/null 2>&1", FUZZ_SRCDIR,
			    fuzz_dir);
			have_certs = system(cmd) == 0;
		}
		if (!have_certs)
			fprintf(stderr,
			    "fuzz_proxy: no test certificates (%s/certs/gen-certs.sh or "
			    "$COAPS_FUZZ_CERTS): no x509\n",
			    FUZZ_SRCDIR);
	}
	if (certs != NULL)
		*certs = have_certs;
	return fuzz_dir;
}

/* Writes the configuration file; returns its path. */
static const char *
fuzz_write_config(char *path, size_t len, unsigned backend_port)
{
	const char *x509 = "";
	bool certs;
	FILE *f;

	snprintf(path, len, "%s/fuzz.conf", fuzz_workdir(&certs));
	if (certs)
		x509 = "x509 = {\n"
		       "  certificate = \"certs/server-cert.pem\";\n"
		       "  private_key = \"certs/server-key.pem\";\n"
		       "  client_ca = \"certs/ca-cert.pem\";\n"
		       "  crl = \"certs/ca.crl\";\n"
		       "  verify_client = \"optional\";\n"
		       "};\n";
	f = fopen(path, "w");
	if (f == NULL)
		fuzz_die(path, strerror(errno));
	/*
	 * Backend a is ours (FUZZ_CTL_BACKEND answers for it); b is the discard
	 * port of loopback: nothing answers (ICMP: 5.02), nothing leaves.
	 */
	fprintf(f,
	    "listen = ( { address = \"127.0.0.1\"; port = 5684; } );\n"
	    "backends = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = %u; },\n"
	    "  { name = \"b\"; address = \"127.0.0.1\"; port = 9; }\n"
	    ");\n"
	    "routes = (\n"
	    "  { path_prefix = \"/fw\"; backend = \"b\"; },\n"
	    "  { uri_host = \"ota.example\"; backend = \"b\"; },\n"
	    "  { identity = \"my_*\"; backend = \"b\"; },\n"
	    "  { backend = \"a\"; forward_proxy = true; },\n"
	    "  { anonymous = true; backend = \"a\"; }\n"
	    ");\n"
	    "identity_option = 65000;\n"
	    "backend_timeout = 5;\n"
	    "psk = (\n"
	    "  { identity = \"dev-42\"; key_hex = \"736563726574\"; },\n"
	    "  { identity = \"my_identity\"; key = \"secretPSK123\"; }\n"
	    ");\n"
	    "%s"
	    "dtls = { handshake_timeout_min = 1000; handshake_timeout_max = 8000; mtu = 512; "
	    "badmac_limit = 8; };\n"
	    "session = { idle_timeout = 60; max_sessions = 4; max_handshakes = 3; "
	    "handshakes_per_source = 0; };\n"
	    "log = { level = \"error\"; };\n",
	    backend_port, x509);
	if (fclose(f) != 0)
		fuzz_die(path, strerror(errno));
	return path;
}

void
fuzz_peer(unsigned peer, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof *ss);
	in->sin_family = AF_INET;
	in->sin_port = htons(fuzz_peers[peer % FUZZ_PEERS].port);
	inet_pton(AF_INET, fuzz_peers[peer % FUZZ_PEERS].ip, &in->sin_addr);
	*len = sizeof *in;
}

static void client_read(void);

/* Opens a non-blocking UDP socket on ip with an ephemeral port; its address in *ss. */
static int
fuzz_socket(const char *ip, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	memset(ss, 0, sizeof *ss);
	in->sin_family = AF_INET;
	inet_pton(AF_INET, ip, &in->sin_addr);
	*len = sizeof *in;
	if (fd < 0 || bind(fd, (struct sockaddr *)ss, *len) < 0 ||
	    getsockname(fd, (struct sockaddr *)ss, len) < 0)
		fuzz_die("cannot bind a loopback socket", strerror(errno));
	return fd;
}

/*
 * Which client a client record makes: ECDHE-ECDSA handshakes cost about
 * 300 times a PSK one under the sanitizers, so only fuzz_datagram_x509
 * (built with FUZZ_X509_CLIENTS) makes them.
 */
#ifdef FUZZ_X509_CLIENTS
#define FUZZ_CLIENT_KIND(ctl) ((enum client_kind)((ctl)&FUZZ_CTL_PEER_MASK))
#else
#define FUZZ_CLIENT_KIND(ctl) CLIENT_PSK
#endif

/* Hands a datagram from any address to frontdoor_input. */
static void
fuzz_feed_from(const struct sockaddr_storage *from, socklen_t fromlen, const uint8_t *data,
    size_t len)
{
	struct datagram d = { .listener = fuzz_listener,
		.peer = *from,
		.peerlen = fromlen,
		.data = data,
		.len = len };

	frontdoor_input(&d);
}

/* Reads what the proxy relayed to backend a; remembers who sent it and how it began. */
static void
backend_drain(void)
{
	uint8_t buf[2048];

	for (int i = 0; i < 256; i++) {
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof from;
		ssize_t n =
		    recvfrom(backend.fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fromlen);

		if (n < 0)
			return;
		backend.from = from;
		backend.fromlen = fromlen;
		backend.last_len =
		    (size_t)n < sizeof backend.last ? (size_t)n : sizeof backend.last;
		memcpy(backend.last, buf, backend.last_len);
	}
}

/* Copies the MID of a remembered message into msg (FUZZ_CTL_PATCH_MID). */
static void
patch_mid(uint8_t *msg, size_t len, const uint8_t *last, size_t last_len)
{
	if (len >= 4 && last_len >= 4)
		memcpy(msg + 2, last + 2, 2);
}

/* Backend a sends a datagram to the upstream socket that talked to it last. */
static void
backend_send(const uint8_t *data, size_t len, bool mid)
{
	uint8_t buf[2048];

	backend_drain();
	if (backend.fromlen == 0 || len > sizeof buf)
		return;
	memcpy(buf, data, len);
	if (mid)
		patch_mid(buf, len, backend.last, backend.last_len);
	if (sendto(backend.fd, buf, len, 0, (struct sockaddr *)&backend.from, backend.fromlen) < 0)
		return; /* a full buffer is a loss */
	fuzz_proxy_loop();
	client_read();
}

/* mbedTLS send of the client: straight into frontdoor_input. */
static int
client_send_cb(void *ctx, const unsigned char *buf, size_t len)
{
	(void)ctx;
	fuzz_feed_from(&client.addr, client.addrlen, buf, len);
	return (int)len;
}

/* mbedTLS receive of the client: what the proxy already sent it. */
static int
client_recv_cb(void *ctx, unsigned char *buf, size_t len)
{
	ssize_t n = recv(client.fd, buf, len, 0);

	(void)ctx;
	if (n < 0)
		return MBEDTLS_ERR_SSL_WANT_READ;
	return (int)n;
}

/* mbedTLS timers of the client: never expire (the proxy answers at once or never). */
static void
client_set_timer_cb(void *ctx, uint32_t int_ms, uint32_t fin_ms)
{
	(void)ctx;
	(void)int_ms;
	(void)fin_ms;
}

/* mbedTLS timer state of the client: not expired. */
static int
client_get_timer_cb(void *ctx)
{
	(void)ctx;
	return 0;
}

/* Fixed entropy of the client: the same handshake in every run. */
static int
client_entropy(void *ctx, unsigned char *out, size_t len)
{
	(void)ctx;
	for (size_t i = 0; i < len; i++)
		out[i] = (unsigned char)(i * 11 + 3);
	return 0;
}

/* Configures one kind of client; false if it cannot be had (no certificates). */
static bool
client_conf(enum client_kind kind)
{
	static const int psk_suites[] = { MBEDTLS_TLS_PSK_WITH_AES_128_CCM_8, 0 };
	static const int ecdhe_suites[] = { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, 0 };
	static const char id[] = "dev-42", key[] = "secret";
	static const char *const names[2] = { "client", "client-revoked" };
	mbedtls_ssl_config *c = &client.conf[kind];
	char crt[600], pk[600];
	bool certs;
	int i = kind == CLIENT_CERT_REVOKED ? 1 : 0;

	mbedtls_ssl_config_init(c);
	if (mbedtls_ssl_config_defaults(c, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_DATAGRAM,
	        MBEDTLS_SSL_PRESET_DEFAULT) != 0)
		fuzz_die("client", "cannot configure");
	mbedtls_ssl_conf_rng(c, mbedtls_ctr_drbg_random, &client.drbg);
	tc_conf_dtls12(c);
	if (kind == CLIENT_PSK) {
		mbedtls_ssl_conf_ciphersuites(c, psk_suites);
		return mbedtls_ssl_conf_psk(c, (const unsigned char *)key, strlen(key),
		           (const unsigned char *)id, strlen(id)) == 0;
	}
	mbedtls_ssl_conf_ciphersuites(c, ecdhe_suites);
	/* The proxy's certificate is made afresh each run: nothing to pin it to. */
	mbedtls_ssl_conf_authmode(c, MBEDTLS_SSL_VERIFY_NONE);
	fuzz_workdir(&certs);
	if (!certs)
		return false;
	if (kind == CLIENT_ANONYMOUS)
		return true;
	snprintf(crt, sizeof crt, "%s/certs/%s-cert.pem", fuzz_dir, names[i]);
	snprintf(pk, sizeof pk, "%s/certs/%s-key.pem", fuzz_dir, names[i]);
	mbedtls_x509_crt_init(&client.crt[i]);
	mbedtls_pk_init(&client.key[i]);
	return mbedtls_x509_crt_parse_file(&client.crt[i], crt) == 0 &&
	       tc_pk_parse_keyfile(&client.key[i], pk) == 0 &&
	       mbedtls_ssl_conf_own_cert(c, &client.crt[i], &client.key[i]) == 0;
}

/* Sets up the clients once; from 127.0.0.5. */
static void
client_init(void)
{
	client.fd = fuzz_socket("127.0.0.5", &client.addr, &client.addrlen);
	mbedtls_ctr_drbg_init(&client.drbg);
	if (mbedtls_ctr_drbg_seed(&client.drbg, client_entropy, NULL, NULL, 0) != 0)
		fuzz_die("client", "cannot seed");
	mbedtls_ssl_init(&client.ssl);
	for (int k = 0; k < CLIENT_KINDS; k++)
		client.conf_ok[k] = client_conf((enum client_kind)k);
	if (fuzz_cfg->x509 != NULL) {
		/* Client certificates are checked against the time: pick one they hold. */
		const mbedtls_x509_time *t = &fuzz_cfg->x509->certificate.valid_from;
		fuzz_certs_time = (time_t)dtls_x509_time_unix(t) + 86400;
	} else
		fuzz_certs_time = FUZZ_TIME;
}

/* Throws away what the proxy sent the client. */
static void
client_drain(void)
{
	uint8_t buf[2048];

	for (int i = 0; i < 256 && recv(client.fd, buf, sizeof buf, 0) >= 0; i++)
		;
}

/*
 * Handshakes a client of the given kind with the proxy, once per input (the
 * first client record chooses); false if that failed.
 */
static bool
client_up(enum client_kind kind)
{
	int r = MBEDTLS_ERR_SSL_WANT_READ;

	if (client.state != CLIENT_DOWN)
		return client.state == CLIENT_UP;
	client.state = CLIENT_FAILED;
	if (!client.conf_ok[kind])
		kind = CLIENT_PSK;
	/* The same client random and keys in every run, whatever came before. */
	mbedtls_ctr_drbg_free(&client.drbg);
	mbedtls_ctr_drbg_init(&client.drbg);
	mbedtls_ssl_free(&client.ssl);
	mbedtls_ssl_init(&client.ssl);
	if (mbedtls_ctr_drbg_seed(&client.drbg, client_entropy, NULL, NULL, 0) != 0 ||
	    mbedtls_ssl_setup(&client.ssl, &client.conf[kind]) != 0)
		return false;
	mbedtls_ssl_set_bio(&client.ssl, NULL, client_send_cb, client_recv_cb, NULL);
	mbedtls_ssl_set_timer_cb(&client.ssl, NULL, client_set_timer_cb, client_get_timer_cb);
	client_drain();
	fuzz_time_certs = true;
	for (int i = 0; i < 16 && r != 0; i++) {
		r = mbedtls_ssl_handshake(&client.ssl);
		if (r != 0 && r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE)
			break;
	}
	fuzz_time_certs = false;
	if (r != 0)
		return false;
	client.state = CLIENT_UP;
	return true;
}

/* Reads what the proxy sent the client (answers, notifications), bounded. */
static void
client_read(void)
{
	uint8_t buf[2048];

	for (int i = 0; i < 16 && client.state == CLIENT_UP; i++) {
		int r = mbedtls_ssl_read(&client.ssl, buf, sizeof buf);

		if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE)
			return;
		if (r <= 0) {
			client.state = CLIENT_FAILED; /* closed or broken: no more from it */
			return;
		}
		client.last_len = (size_t)r < sizeof client.last ? (size_t)r : sizeof client.last;
		memcpy(client.last, buf, client.last_len);
	}
}

/* The client sends one plaintext message (a CoAP message, usually) over its session. */
static void
client_send(enum client_kind kind, const uint8_t *data, size_t len, bool mid)
{
	uint8_t buf[2048];

	if (len > sizeof buf || !client_up(kind))
		return;
	memcpy(buf, data, len);
	if (mid)
		patch_mid(buf, len, client.last, client.last_len);
	if (mbedtls_ssl_write(&client.ssl, buf, len) < 0) {
		client.state = CLIENT_FAILED;
		return;
	}
	client_read();
}

void
fuzz_proxy_init(void)
{
	struct listen_conf lc;
	struct sockaddr_in *in = (struct sockaddr_in *)&lc.addr;
	char path[300], *cause = NULL;

	log_init();
	log_set_level(getenv("FUZZ_VERBOSE") != NULL ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
	clock_fix(FUZZ_CLOCK_MS);
	fuzz_clock = FUZZ_CLOCK_MS;
	fuzz_time_fixed = true;
	if (dtls_init_fixed(&cause) < 0)
		fuzz_die("dtls_init_fixed", cause);
	backend.fd = fuzz_socket("127.0.0.1", &backend.from, &backend.fromlen);
	fuzz_cfg = config_load(fuzz_write_config(path, sizeof path,
	                           ntohs(((struct sockaddr_in *)&backend.from)->sin_port)),
	    &cause);
	backend.fromlen = 0;
	if (fuzz_cfg == NULL)
		fuzz_die("config_load", cause);
	if (dtls_config_build(fuzz_cfg, &cause) < 0)
		fuzz_die("dtls_config_build", cause);
	fuzz_base = event_base_new();
	if (fuzz_base == NULL)
		fuzz_die("event_base_new", NULL);
	if (session_init(fuzz_base, &cause) < 0)
		fuzz_die("session_init", cause);
	session_set_config(fuzz_cfg);
	session_set_hooks(&relay_hooks);
	frontdoor_init();
	if (relay_init(fuzz_base) < 0)
		fuzz_die("relay_init", NULL);
	/* Our own listener: 127.0.0.1 and a port of the kernel's choosing. */
	memset(&lc, 0, sizeof lc);
	lc.address = (char *)(uintptr_t) "127.0.0.1";
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lc.addrlen = sizeof *in;
	fuzz_listener = listener_open(fuzz_base, &lc, frontdoor_input, &cause);
	if (fuzz_listener == NULL)
		fuzz_die("listener_open", cause);
	client_init();
}

void
fuzz_proxy_local(struct sockaddr_storage *ss, socklen_t *len)
{
	*len = sizeof *ss;
	if (getsockname(fuzz_listener->fd, (struct sockaddr *)ss, len) < 0)
		fuzz_die("getsockname", strerror(errno));
}

void
fuzz_proxy_begin(void)
{
	char *cause = NULL;

	fuzz_clock = FUZZ_CLOCK_MS;
	clock_fix(fuzz_clock);
	/* The same ServerHello random, session ids and cookies in every run. */
	dtls_shutdown();
	if (dtls_init_fixed(&cause) < 0)
		fuzz_die("dtls_init_fixed", cause);
}

void
fuzz_proxy_feed(unsigned peer, const uint8_t *data, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen;

	fuzz_peer(peer, &ss, &sslen);
	fuzz_feed_from(&ss, sslen, data, len);
}

void
fuzz_proxy_loop(void)
{
	event_base_loop(fuzz_base, EVLOOP_NONBLOCK);
}

/* event_base_foreach_event: collects the pending timers (events without a socket). */
static int
collect_timer_cb(const struct event_base *base, const struct event *ev, void *arg)
{
	struct timer_list {
		struct event *ev[64];
		size_t n;
	} *tl = arg;

	(void)base;
	if (event_get_fd(ev) == -1 && tl->n < sizeof tl->ev / sizeof tl->ev[0] &&
	    event_pending(ev, EV_TIMEOUT, NULL))
		tl->ev[tl->n++] = (struct event *)(uintptr_t)ev;
	return 0;
}

void
fuzz_proxy_fire_timers(void)
{
	struct timer_list {
		struct event *ev[64];
		size_t n;
	} tl = { .n = 0 };

	/*
	 * Collected first, then made active: a callback that frees another
	 * session's timer takes it off the active queue (event_free), so
	 * nothing runs on a freed event.
	 */
	event_base_foreach_event(fuzz_base, collect_timer_cb, &tl);
	for (size_t i = 0; i < tl.n; i++)
		event_active(tl.ev[i], EV_TIMEOUT, 1);
	event_base_loop(fuzz_base, EVLOOP_NONBLOCK);
	if (client.state == CLIENT_UP)
		client_read();
}

void
fuzz_proxy_advance(uint64_t ms)
{
	fuzz_clock += ms;
	clock_fix(fuzz_clock);
}

void
fuzz_proxy_end(void)
{
	session_close_all(CLOSE_SHUTDOWN);
	relay_shutdown();
	if (relay_init(fuzz_base) < 0)
		fuzz_die("relay_init", NULL);
	backend_drain();
	backend.fromlen = 0;
	backend.last_len = 0;
	client_drain();
	client.state = CLIENT_DOWN;
	client.last_len = 0;
}

void
fuzz_proxy_run(const uint8_t *data, size_t size)
{
	static const uint64_t advance_ms[4] = { 0, 1000, 10000, 100000 };
	size_t p = 0;

	fuzz_proxy_begin();
	for (int n = 0; n < FUZZ_MAX_DATAGRAMS && size - p >= 3; n++) {
		uint8_t ctl = data[p];
		size_t len = (size_t)data[p + 1] << 8 | data[p + 2];
		uint8_t *copy;

		p += 3;
		if (len > size - p)
			len = size - p;
		fuzz_proxy_advance(advance_ms[(ctl >> FUZZ_CTL_CLOCK_SHIFT) & 3]);
		/* An exact-size copy lets AddressSanitizer see any over-read. */
		copy = malloc(len > 0 ? len : 1);
		if (copy == NULL)
			fuzz_die("malloc", NULL);
		memcpy(copy, data + p, len);
		if ((ctl & FUZZ_CTL_TIMERS) == FUZZ_CTL_TIMERS)
			fuzz_proxy_fire_timers();
		else if (ctl & FUZZ_CTL_CLIENT)
			client_send(FUZZ_CLIENT_KIND(ctl), copy, len, ctl & FUZZ_CTL_PATCH_MID);
		else if (ctl & FUZZ_CTL_BACKEND)
			backend_send(copy, len, ctl & FUZZ_CTL_PATCH_MID);
		else
			fuzz_proxy_feed(ctl & FUZZ_CTL_PEER_MASK, copy, len);
		free(copy);
		p += len;
		if (ctl & FUZZ_CTL_LOOP) {
			fuzz_proxy_loop();
			if (client.state == CLIENT_UP)
				client_read();
		}
	}
	fuzz_proxy_end();
}
