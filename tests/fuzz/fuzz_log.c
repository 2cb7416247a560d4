/* fuzz_log.c: libFuzzer target for the log renderers: hostile bytes in every field stay on one line. */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts so that libFuzzer records the input. */
static void
fuzz_assert_at(int cond, int line)
{
	if (!cond) {
		fprintf(stderr, "assertion at line %d\n", line);
		abort();
	}
}
#define fuzz_assert(c) fuzz_assert_at((c), __LINE__)

/* The input, consumed as length-prefixed chunks. */
struct input {
	const uint8_t *p;
	size_t n;
};

/* Takes the next chunk (1 length byte, then up to that many bytes) into buf; its length. */
static size_t
take(struct input *in, char *buf, size_t cap)
{
	size_t len;

	if (in->n == 0) {
		buf[0] = '\0';
		return 0;
	}
	len = in->p[0];
	in->p++;
	in->n--;
	if (len > in->n)
		len = in->n;
	if (len > cap - 1)
		len = cap - 1;
	memcpy(buf, in->p, len);
	buf[len] = '\0';
	in->p += len;
	in->n -= len;
	return len;
}

/* Fails on any byte outside printable ASCII in len bytes of s. */
static void
assert_printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		fuzz_assert((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f);
}

/*
 * Checks a text line: tokens "key=value" split by single spaces, value a
 * word or a closed "..." string with \-escapes, keys exactly the expected
 * ones in order (the line may end early when it is full). Returns the
 * number of tokens.
 */
static size_t
check_text(const char *line, const char *const *keys, size_t n_keys)
{
	const char *p = line;
	size_t k = 0;

	while (*p != '\0') {
		size_t kl;

		fuzz_assert(k < n_keys);
		kl = strlen(keys[k]);
		fuzz_assert(strncmp(p, keys[k], kl) == 0 && p[kl] == '=');
		p += kl + 1;
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				fuzz_assert(*p != '\0');
				if (*p == '\\') {
					p++;
					fuzz_assert(*p == '"' || *p == '\\' || *p == 'x');
				}
			}
			p++;
		} else {
			while (*p != ' ' && *p != '\0') {
				fuzz_assert(*p != '"');
				p++;
			}
		}
		k++;
		if (*p == ' ')
			p++;
		else
			fuzz_assert(*p == '\0');
	}
	return k;
}

/* Skips a JSON string at *p (which must start with '"'); false if it is not one. */
static bool
json_string(const char **p)
{
	const char *s = *p;

	if (*s != '"')
		return false;
	for (s++; *s != '"'; s++) {
		if (*s == '\0' || (unsigned char)*s < 0x20)
			return false;
		if (*s == '\\') {
			s++;
			if (*s == 'u') {
				for (int i = 1; i <= 4; i++)
					if (strchr("0123456789abcdef", s[i]) == NULL ||
					    s[i] == '\0')
						return false;
				s += 4;
			} else if (*s != '"' && *s != '\\')
				return false;
		}
	}
	*p = s + 1;
	return true;
}

/* Checks that a line is one flat JSON object of strings and integers, then "\n". */
static void
check_json(const char *line)
{
	const char *p = line;

	fuzz_assert(*p++ == '{');
	for (;;) {
		fuzz_assert(json_string(&p));
		fuzz_assert(*p++ == ':');
		if (*p == '"') {
			fuzz_assert(json_string(&p));
		} else {
			if (*p == '-')
				p++;
			fuzz_assert(*p >= '0' && *p <= '9');
			fuzz_assert(*p != '0' || !(p[1] >= '0' && p[1] <= '9'));
			while (*p >= '0' && *p <= '9')
				p++;
		}
		if (*p == '}')
			break;
		fuzz_assert(*p++ == ',');
	}
	fuzz_assert(strcmp(p, "}\n") == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const extra_keys[8] = { "depth", "subject", "issuer", "problem",
		"answer", "offered", "replaces", "valid_until" };
	struct input in = { data, size };
	struct log_event ev = LOG_EVENT_INIT;
	/* Up to 56 bytes a field: escaped 4 times over, all 17 fields fit in the text line. */
	char event[57], peer[57], local[57], auth[57], identity[57], cipher[57], reason[57],
	    extra[8][57], line[4096], small[64];
	const char *keys[32];
	size_t n_keys = 0, id_len, reason_len, n;
	unsigned flags, sizes;

	if (size < 3)
		return 0;
	flags = data[0] | (unsigned)data[1] << 8;
	sizes = data[2];
	in.p += 3;
	in.n -= 3;

	take(&in, event, sizeof event);
	ev.event = event;
	keys[n_keys++] = "event";
	if (flags & 1) {
		ev.session = 0x1234abcd;
		keys[n_keys++] = "session";
	}
#define STR(bit, field, buf)                                                                       \
	take(&in, buf, sizeof buf);                                                                \
	if (flags & (bit)) {                                                                       \
		ev.field = buf;                                                                    \
		keys[n_keys++] = #field;                                                           \
	}
	STR(2, peer, peer)
	STR(4, local, local)
	STR(8, auth, auth)
	id_len = take(&in, identity, sizeof identity);
	if (flags & 16) {
		ev.identity = identity;
		ev.identity_len = id_len;
		keys[n_keys++] = "identity";
	}
	STR(32, cipher, cipher)
#undef STR
	if (flags & 64) {
		ev.duration_ms = 12;
		keys[n_keys++] = "ms";
	}
	if (flags & 128) {
		ev.bytes_in = 1;
		ev.bytes_out = 2;
		keys[n_keys++] = "bytes_in";
		keys[n_keys++] = "bytes_out";
	}
	reason_len = take(&in, reason, sizeof reason);
	for (size_t i = 0; i < 8; i++) {
		size_t len = take(&in, extra[i], sizeof extra[i]);

		if (!(flags & (256u << i)))
			continue;
		if (i % 3 == 0)
			log_event_add_bytes(&ev, extra_keys[i], extra[i], len);
		else
			log_event_add(&ev, extra_keys[i], extra[i], i % 3 == 1);
		keys[n_keys++] = extra_keys[i];
	}
	if (sizes & 1) {
		ev.reason = reason;
		ev.reason_len = (sizes & 2) ? reason_len : 0;
		keys[n_keys++] = "reason";
	}

	/* The text line: whole fields, printable only, one line, in a big and a small buffer. */
	log_event_text(&ev, line, sizeof line);
	n = strlen(line);
	fuzz_assert(n < sizeof line);
	assert_printable(line, n);
	fuzz_assert(check_text(line, keys, n_keys) == n_keys);
	log_event_text(&ev, small, 16 + (sizes >> 2) % 48);
	assert_printable(small, strlen(small));
	check_text(small, keys, n_keys);

	/* The JSON line: one object of strings and integers, one newline at its end. */
	log_event_json_line(LOG_LVL_INFO, &ev, line, sizeof line);
	n = strlen(line);
	fuzz_assert(n > 0 && n < sizeof line);
	assert_printable(line, n - 1);
	check_json(line);
	log_event_json_line(LOG_LVL_WARNING, &ev, line, 128 + sizes);
	check_json(line);

	/* The escaping helpers on their own. */
	log_escape(small, 1 + sizes % sizeof small, reason, reason_len);
	fuzz_assert(strlen(small) < 1 + sizes % sizeof small);
	assert_printable(small, strlen(small));
	log_clean(line, 1 + (sizes * 16) % sizeof line, reason);
	assert_printable(line, strlen(line));
	return 0;
}
