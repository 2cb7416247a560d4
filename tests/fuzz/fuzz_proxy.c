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

#include "clock.h"
#include "configuration.h"
#include "dtls.h"
#include "listener.h"
#include "log.h"
#include "relay.h"
#include "session.h"

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

/* The fixed peers: two ports on 127.0.0.1 (one NATed device moving), 127.0.0.2 and .3. */
static const struct {
	const char *ip;
	uint16_t port;
} fuzz_peers[FUZZ_PEERS] = {
	{ "127.0.0.1", 45684 },
	{ "127.0.0.2", 45685 },
	{ "127.0.0.3", 45686 },
	{ "127.0.0.1", 45687 },
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
		now = (time_t)(FUZZ_TIME + (clock_ms() - FUZZ_CLOCK_MS) / 1000);
	else {
		clock_gettime(CLOCK_REALTIME, &ts);
		now = ts.tv_sec;
	}
	if (t != NULL)
		*t = now;
	return now;
}

/* Aborts with a message: set-up failures are bugs of the harness. */
static void __attribute__((noreturn))
fuzz_die(const char *what, const char *cause)
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
			snprintf(cmd, sizeof cmd, "'%s/certs/gen-certs.sh' '%s/certs' >/dev/null 2>&1",
			    FUZZ_SRCDIR, fuzz_dir);
			have_certs = system(cmd) == 0;
		}
		if (!have_certs)
			fprintf(stderr, "fuzz_proxy: no test certificates (%s/certs/gen-certs.sh or "
			                "$COAPS_FUZZ_CERTS): no x509\n", FUZZ_SRCDIR);
	}
	if (certs != NULL)
		*certs = have_certs;
	return fuzz_dir;
}

/* Writes the configuration file; returns its path. */
static const char *
fuzz_write_config(char *path, size_t len)
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
	/* Backends on the discard port of loopback: nothing answers, nothing leaves. */
	fprintf(f,
	    "listen = ( { address = \"127.0.0.1\"; port = 5684; } );\n"
	    "backends = (\n"
	    "  { name = \"a\"; address = \"127.0.0.1\"; port = 9; },\n"
	    "  { name = \"b\"; address = \"127.0.0.1\"; port = 9; }\n"
	    ");\n"
	    "routes = (\n"
	    "  { path_prefix = \"/fw\"; backend = \"b\"; },\n"
	    "  { uri_host = \"ota.example\"; backend = \"b\"; },\n"
	    "  { identity = \"my_*\"; backend = \"b\"; },\n"
	    "  { backend = \"a\"; }\n"
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
	    "session = { idle_timeout = 60; max_sessions = 3; max_handshakes = 2; "
	    "handshakes_per_source = 0; };\n"
	    "log = { level = \"error\"; };\n",
	    x509);
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
	fuzz_cfg = config_load(fuzz_write_config(path, sizeof path), &cause);
	if (fuzz_cfg == NULL)
		fuzz_die("config_load", cause);
	if (dtls_config_build(fuzz_cfg, &cause) < 0)
		fuzz_die("dtls_config_build", cause);
	fuzz_base = event_base_new();
	if (fuzz_base == NULL)
		fuzz_die("event_base_new", NULL);
	session_init(fuzz_base);
	session_set_config(fuzz_cfg);
	/* Our own listener: 127.0.0.1 and a port of the kernel's choosing. */
	memset(&lc, 0, sizeof lc);
	lc.address = (char *)(uintptr_t)"127.0.0.1";
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lc.addrlen = sizeof *in;
	fuzz_listener = listener_open(fuzz_base, &lc, session_input, &cause);
	if (fuzz_listener == NULL)
		fuzz_die("listener_open", cause);
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
	struct datagram d = { .listener = fuzz_listener, .data = data, .len = len };

	fuzz_peer(peer, &d.peer, &d.peerlen);
	session_input(&d);
}

void
fuzz_proxy_loop(void)
{
	event_base_loop(fuzz_base, EVLOOP_NONBLOCK);
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
	session_close_all("end of fuzz input");
	relay_shutdown();
	if (relay_init(fuzz_base) < 0)
		fuzz_die("relay_init", NULL);
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
		fuzz_proxy_feed(ctl & FUZZ_CTL_PEER_MASK, copy, len);
		free(copy);
		p += len;
		if (ctl & FUZZ_CTL_LOOP)
			fuzz_proxy_loop();
	}
	fuzz_proxy_end();
}
