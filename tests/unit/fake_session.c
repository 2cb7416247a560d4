/* fake_session.c: a session layer without DTLS for the relay's unit tests: it records what the relay sends. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "configuration.h"
#include "fake_session.h"
#include "log.h"

/* What the relay sees of a session, and what it sent. */
struct session {
	uint32_t id;
	char identity[64];
	size_t identity_len;
	struct proxy_config *cfg;
	void *upper;
	uint64_t bytes_in, msgs_in;
	uint8_t sent[FAKE_SENT_MAX][2048];
	size_t sent_len[FAKE_SENT_MAX];
	size_t n_sent;
};

static struct proxy_config *fake_current;

struct session *
fake_session_new(struct proxy_config *cfg, const char *identity)
{
	static uint32_t next_id = 1;
	struct session *s = calloc(1, sizeof *s);

	if (s == NULL)
		return NULL;
	s->id = next_id++;
	s->identity_len = strlen(identity);
	memcpy(s->identity, identity, s->identity_len);
	s->cfg = cfg;
	fake_current = cfg;
	return s;
}

void
fake_session_free(struct session *s)
{
	free(s);
}

size_t
fake_session_sent_count(const struct session *s)
{
	return s->n_sent;
}

const uint8_t *
fake_session_sent(const struct session *s, size_t i, size_t *len)
{
	*len = s->sent_len[i];
	return s->sent[i];
}

uint32_t
session_id(const struct session *s)
{
	return s->id;
}

enum link_auth
session_auth(const struct session *s)
{
	(void)s;
	return LINK_AUTH_PSK;
}

const uint8_t *
session_identity(const struct session *s, size_t *len)
{
	*len = s->identity_len;
	return (const uint8_t *)s->identity;
}

size_t
session_identity_text(const struct session *s, char *buf, size_t len, bool name)
{
	int n = snprintf(buf, len, "%s%.*s", name ? "" : "psk:", (int)s->identity_len, s->identity);

	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

struct proxy_config *
session_config(const struct session *s)
{
	return s->cfg;
}

struct proxy_config *
session_current_config(void)
{
	return fake_current;
}

void *
session_upper(const struct session *s)
{
	return s->upper;
}

void
session_set_upper(struct session *s, void *upper)
{
	s->upper = upper;
}

void
session_count_in(struct session *s, size_t len)
{
	s->bytes_in += len;
	s->msgs_in++;
}

uint64_t
session_now_ms(void)
{
	return clock_ms();
}

int
session_send(struct session *s, const uint8_t *buf, size_t len)
{
	if (s->n_sent == FAKE_SENT_MAX || len > sizeof s->sent[0])
		return -1;
	memcpy(s->sent[s->n_sent], buf, len);
	s->sent_len[s->n_sent++] = len;
	return 0;
}

size_t
session_send_max(struct session *s)
{
	(void)s;
	return 1024;
}

const char *
session_peer_str(const struct session *s)
{
	(void)s;
	return "192.0.2.1:5684";
}

const char *
session_local_str(const struct session *s)
{
	(void)s;
	return "127.0.0.1:5684";
}

void
session_event(const struct session *s, struct log_event *ev, const char *event)
{
	ev->event = event;
	ev->session = s->id;
	ev->peer = session_peer_str(s);
	ev->local = session_local_str(s);
}
