/* admit.c: admission of handshakes under overload: what a ClientHello asks for, half-open handshakes per source prefix, the top prefixes. */
#include "config.h"

#include <stdio.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <mbedtls/ssl.h>
#include <netinet/in.h>

#include "admit.h"
#include "clock.h"
#include "defaults.h"

const char *const admit_class_names[] = {
	[ADMIT_RESUME] = "resumption",
	[ADMIT_PSK] = "psk",
	[ADMIT_FULL] = "full",
};

#define DTLS_RECORD_HEADER 13
#define DTLS_HANDSHAKE_HEADER 12
#define EXT_SESSION_TICKET 35 /* RFC 5077 */

/* Tells whether a cipher suite is a signalling value, not a suite (RFC 5746, RFC 7507). */
static bool
admit_suite_signal(uint16_t id)
{
	return id == 0x00ff || id == 0x5600;
}

/* Tells whether a cipher suite mbedTLS knows keys with a PSK ("TLS-PSK-WITH-...", "TLS-ECDHE-PSK-..."). */
static bool
admit_suite_psk(uint16_t id)
{
	const char *name = mbedtls_ssl_get_ciphersuite_name(id);

	return name != NULL && strstr(name, "-PSK-") != NULL;
}

enum admit_class
admit_classify(const uint8_t *buf, size_t len, const struct client_hello *ch)
{
	size_t p = DTLS_RECORD_HEADER + DTLS_HANDSHAKE_HEADER + 2 + 32, n, end;
	bool psk = false;

	/* session_id: non-empty asks to resume a cached session. */
	if (p + 1 > len)
		return ADMIT_FULL;
	if (buf[p] > 0)
		return ADMIT_RESUME;
	p += 1;
	if (p + 1 > len)
		return ADMIT_FULL;
	p += 1 + buf[p]; /* cookie */
	if (p + 2 > len)
		return ADMIT_FULL;
	p += 2 + ((size_t)buf[p] << 8 | buf[p + 1]); /* cipher suites (ch->suites) */
	if (p + 1 > len)
		return ADMIT_FULL;
	p += 1 + buf[p]; /* compression methods */
	/* extensions: a session_ticket extension with a ticket in it asks to resume. */
	if (p + 2 <= len) {
		end = p + 2 + ((size_t)buf[p] << 8 | buf[p + 1]);
		if (end > len)
			end = len;
		for (p += 2; p + 4 <= end; p += 4 + n) {
			uint16_t type = (uint16_t)(buf[p] << 8 | buf[p + 1]);

			n = (size_t)buf[p + 2] << 8 | buf[p + 3];
			if (type == EXT_SESSION_TICKET && n > 0)
				return ADMIT_RESUME;
		}
	}
	for (size_t i = 0; i < ch->n_suites; i++) {
		uint16_t id = (uint16_t)(ch->suites[2 * i] << 8 | ch->suites[2 * i + 1]);

		if (admit_suite_signal(id))
			continue;
		if (!admit_suite_psk(id))
			return ADMIT_FULL;
		psk = true;
	}
	return psk ? ADMIT_PSK : ADMIT_FULL;
}

/*
 * Half-open handshakes per source prefix: a fixed table hashed by prefix with
 * the process's seed, open addressing over ADMIT_PROBE slots; when all of them
 * hold other prefixes, the prefix shares the first one's count. A slot is free
 * again when its count is 0. Nothing is allocated per peer.
 */
#define ADMIT_SLOTS 8192
#define ADMIT_PROBE 8
struct admit_slot {
	uint8_t prefix[16]; /* the address with the bits past len cleared */
	uint8_t family;     /* AF_INET or AF_INET6 */
	uint8_t len;        /* prefix length */
	uint32_t handshakes;
};
/* One table for all workers: a prefix's devices land in several. */
static pthread_mutex_t admit_lock = PTHREAD_MUTEX_INITIALIZER;
static struct admit_slot admit_slots[ADMIT_SLOTS];
static uint64_t admit_seed;
static bool admit_seeded;

/* The refused prefixes (space-saving: a newcomer takes the least count, plus one). */
static struct admit_top admit_refused[ADMIT_TOP];

/* session.prefix_len_v4 and _v6 of the current configuration (admit_set_prefix_len). */
static uint8_t admit_len_v4 = CONFIG_DEFAULT_SESSION_PREFIX_LEN_V4;
static uint8_t admit_len_v6 = CONFIG_DEFAULT_SESSION_PREFIX_LEN_V6;

void
admit_set_prefix_len(unsigned v4, unsigned v6)
{
	pthread_mutex_lock(&admit_lock);
	admit_len_v4 = (uint8_t)(v4 >= 1 && v4 <= 32 ? v4 : CONFIG_DEFAULT_SESSION_PREFIX_LEN_V4);
	admit_len_v6 = (uint8_t)(v6 >= 1 && v6 <= 128 ? v6 : CONFIG_DEFAULT_SESSION_PREFIX_LEN_V6);
	pthread_mutex_unlock(&admit_lock);
}

/* A peer's source prefix under the current configuration. */
struct admit_key {
	uint8_t prefix[16];
	uint8_t family, len;
};

/* Makes the prefix key of a peer (an IPv4-mapped IPv6 address counts as IPv4). */
static void
admit_key(const struct sockaddr *peer, struct admit_key *k)
{
	const uint8_t *a;
	size_t bytes;

	memset(k, 0, sizeof *k);
	if (peer->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)(const void *)peer)->sin_addr;
		bytes = 4;
	} else {
		a = (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr;
		bytes = 16;
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(const void *)a)) {
			a += 12;
			bytes = 4;
		}
	}
	k->family = bytes == 4 ? AF_INET : AF_INET6;
	k->len = bytes == 4 ? admit_len_v4 : admit_len_v6;
	memcpy(k->prefix, a, bytes);
	for (size_t i = 0; i < bytes; i++) {
		size_t bit = 8 * i;

		if (bit >= k->len)
			k->prefix[i] = 0;
		else if (bit + 8 > k->len)
			k->prefix[i] &= (uint8_t)(0xff00 >> (k->len - bit));
	}
}

/* Writes a prefix key in words. */
static void
admit_key_text(const struct admit_key *k, char out[ADMIT_PREFIX_TEXT])
{
	char a[INET6_ADDRSTRLEN];

	if (inet_ntop(k->family, k->prefix, a, sizeof a) == NULL)
		snprintf(a, sizeof a, "?");
	snprintf(out, ADMIT_PREFIX_TEXT, "%s/%u", a, k->len);
}

/* The slot of a prefix (new ones take a free slot; 0 < return <= ADMIT_SLOTS). */
static uint32_t
admit_slot_of(const struct admit_key *k)
{
	uint64_t h;
	size_t first, i;

	if (!admit_seeded) {
		if (getentropy(&admit_seed, sizeof admit_seed) < 0)
			admit_seed = (uint64_t)clock_ms() ^ (uint64_t)getpid();
		admit_seeded = true;
	}
	h = admit_seed ^ k->family ^ (uint64_t)k->len << 8;
	for (i = 0; i < sizeof k->prefix; i++)
		h = (h ^ k->prefix[i]) * 0x100000001b3ULL;
	first = (size_t)((h ^ h >> 32) % ADMIT_SLOTS);
	for (i = 0; i < ADMIT_PROBE; i++) {
		struct admit_slot *s = &admit_slots[(first + i) % ADMIT_SLOTS];

		if (s->handshakes > 0 && s->family == k->family && s->len == k->len &&
		    memcmp(s->prefix, k->prefix, sizeof s->prefix) == 0)
			return (uint32_t)((first + i) % ADMIT_SLOTS) + 1;
	}
	for (i = 0; i < ADMIT_PROBE; i++) {
		if (admit_slots[(first + i) % ADMIT_SLOTS].handshakes == 0)
			break;
	}
	if (i == ADMIT_PROBE)
		i = 0;
	return (uint32_t)((first + i) % ADMIT_SLOTS) + 1;
}

void
admit_prefix_text(const struct sockaddr *peer, char out[ADMIT_PREFIX_TEXT])
{
	struct admit_key k;

	pthread_mutex_lock(&admit_lock);
	admit_key(peer, &k);
	pthread_mutex_unlock(&admit_lock);
	admit_key_text(&k, out);
}

uint32_t
admit_prefix_handshakes(const struct sockaddr *peer)
{
	struct admit_key k;
	uint32_t n;

	pthread_mutex_lock(&admit_lock);
	admit_key(peer, &k);
	n = admit_slots[admit_slot_of(&k) - 1].handshakes;
	pthread_mutex_unlock(&admit_lock);
	return n;
}

uint32_t
admit_handshake_add(const struct sockaddr *peer)
{
	struct admit_key k;
	uint32_t slot;
	struct admit_slot *s;

	pthread_mutex_lock(&admit_lock);
	admit_key(peer, &k);
	slot = admit_slot_of(&k);
	s = &admit_slots[slot - 1];
	if (s->handshakes == 0) {
		memcpy(s->prefix, k.prefix, sizeof s->prefix);
		s->family = k.family;
		s->len = k.len;
	}
	s->handshakes++;
	pthread_mutex_unlock(&admit_lock);
	return slot;
}

void
admit_handshake_done(uint32_t slot)
{
	if (slot == 0 || slot > ADMIT_SLOTS)
		return;
	pthread_mutex_lock(&admit_lock);
	if (admit_slots[slot - 1].handshakes > 0)
		admit_slots[slot - 1].handshakes--;
	pthread_mutex_unlock(&admit_lock);
}

void
admit_prefix_refused(const struct sockaddr *peer)
{
	char text[ADMIT_PREFIX_TEXT];
	size_t least = 0;

	admit_prefix_text(peer, text);
	pthread_mutex_lock(&admit_lock);
	for (size_t i = 0; i < ADMIT_TOP; i++) {
		if (strcmp(admit_refused[i].prefix, text) == 0) {
			admit_refused[i].count++;
			pthread_mutex_unlock(&admit_lock);
			return;
		}
		if (admit_refused[i].count < admit_refused[least].count)
			least = i;
	}
	snprintf(admit_refused[least].prefix, sizeof admit_refused[least].prefix, "%s", text);
	admit_refused[least].count++;
	pthread_mutex_unlock(&admit_lock);
}

/* Puts (prefix, count) into a top list sorted most first, of *n entries (at most ADMIT_TOP). */
static void
admit_top_insert(struct admit_top out[ADMIT_TOP], size_t *n, const char *prefix, uint64_t count)
{
	size_t i;

	if (*n == ADMIT_TOP) {
		if (out[ADMIT_TOP - 1].count >= count)
			return;
		i = ADMIT_TOP - 1;
	} else
		i = (*n)++;
	for (; i > 0 && out[i - 1].count < count; i--)
		out[i] = out[i - 1];
	snprintf(out[i].prefix, sizeof out[i].prefix, "%s", prefix);
	out[i].count = count;
}

size_t
admit_top_handshakes(struct admit_top out[ADMIT_TOP])
{
	size_t n = 0;
	char text[ADMIT_PREFIX_TEXT];

	memset(out, 0, ADMIT_TOP * sizeof *out);
	pthread_mutex_lock(&admit_lock);
	for (size_t i = 0; i < ADMIT_SLOTS; i++) {
		const struct admit_slot *s = &admit_slots[i];
		struct admit_key k;

		if (s->handshakes == 0 || (n == ADMIT_TOP && out[n - 1].count >= s->handshakes))
			continue;
		memcpy(k.prefix, s->prefix, sizeof k.prefix);
		k.family = s->family;
		k.len = s->len;
		admit_key_text(&k, text);
		admit_top_insert(out, &n, text, s->handshakes);
	}
	pthread_mutex_unlock(&admit_lock);
	return n;
}

size_t
admit_top_refused(struct admit_top out[ADMIT_TOP])
{
	size_t n = 0;
	struct admit_top copy[ADMIT_TOP];

	pthread_mutex_lock(&admit_lock);
	memcpy(copy, admit_refused, sizeof copy);
	pthread_mutex_unlock(&admit_lock);
	memset(out, 0, ADMIT_TOP * sizeof *out);
	for (size_t i = 0; i < ADMIT_TOP; i++) {
		if (copy[i].count > 0)
			admit_top_insert(out, &n, copy[i].prefix, copy[i].count);
	}
	return n;
}
