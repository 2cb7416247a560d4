/* log.c: text log lines on stderr, level filter, escaping of peer bytes. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "log.h"

static enum log_level log_level = LOG_LVL_INFO;
static bool log_timestamps = true;

static const char *const log_level_names[] = { "error", "warning", "info", "debug" };

void
log_init(void)
{
	/* systemd's journal stamps lines itself. */
	log_timestamps = getenv("JOURNAL_STREAM") == NULL;
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

bool
log_enabled(enum log_level level)
{
	return level <= log_level;
}

int
log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof log_level_names / sizeof *log_level_names; i++)
		if (strcmp(name, log_level_names[i]) == 0)
			return (int)i;
	return -1;
}

/* Writes the prefix of a line: time (if wanted) and level. */
static void
log_prefix(FILE *f, enum log_level level)
{
	if (log_timestamps) {
		struct timeval tv;
		struct tm tm;
		char buf[32];

		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(f, "%s.%03ldZ ", buf, (long)(tv.tv_usec / 1000));
	}
	fprintf(f, "%s ", log_level_names[level]);
}

/* Writes one plain message line, with ": strerror" when errnum is set. */
static void
log_vwrite(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[1024];

	if (!log_enabled(level))
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	flockfile(stderr);
	log_prefix(stderr, level);
	if (errnum != 0)
		fprintf(stderr, "%s: %s\n", msg, strerror(errnum));
	else
		fprintf(stderr, "%s\n", msg);
	funlockfile(stderr);
}

#define LOG_FN(name, level, use_errno)                     \
	void name(const char *fmt, ...)                    \
	{                                                  \
		int saved = errno;                         \
		va_list ap;                                \
		va_start(ap, fmt);                         \
		log_vwrite(level, use_errno ? saved : 0, fmt, ap); \
		va_end(ap);                                \
		errno = saved;                             \
	}

LOG_FN(log_warn, LOG_LVL_WARNING, 1)
LOG_FN(log_warnx, LOG_LVL_WARNING, 0)
LOG_FN(log_error, LOG_LVL_ERROR, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

char *
log_escape(char *dst, size_t dstlen, const void *src, size_t len)
{
	const unsigned char *p = src;
	size_t o = 0;

	if (dstlen == 0)
		return dst;
	for (size_t i = 0; i < len; i++) {
		char tmp[5];
		size_t n;

		if (p[i] == '"' || p[i] == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)p[i];
			n = 2;
		} else if (p[i] >= 0x20 && p[i] < 0x7f) {
			tmp[0] = (char)p[i];
			n = 1;
		} else {
			snprintf(tmp, sizeof tmp, "\\x%02x", p[i]);
			n = 4;
		}
		if (o + n + 4 > dstlen) { /* room for "..." and NUL */
			if (o + 4 <= dstlen) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(dst + o, tmp, n);
		o += n;
	}
	dst[o] = '\0';
	return dst;
}

void
log_event(enum log_level level, const struct log_event *ev)
{
	char line[4096], esc[512];
	size_t o = 0;

	if (!log_enabled(level))
		return;
#define ADD(...)                                                           \
	do {                                                               \
		if (o < sizeof line) {                                     \
			int n_ = snprintf(line + o, sizeof line - o, __VA_ARGS__); \
			if (n_ > 0)                                        \
				o += (size_t)n_;                           \
		}                                                          \
	} while (0)

	ADD("event=%s", ev->event);
	if (ev->session != 0)
		ADD(" session=%08x", ev->session);
	if (ev->peer != NULL)
		ADD(" peer=%s", ev->peer);
	if (ev->local != NULL)
		ADD(" local=%s", ev->local);
	if (ev->identity != NULL)
		ADD(" identity=\"%s\"",
		    log_escape(esc, sizeof esc, ev->identity, ev->identity_len));
	if (ev->cipher != NULL)
		ADD(" cipher=%s", ev->cipher);
	if (ev->duration_ms >= 0)
		ADD(" ms=%ld", ev->duration_ms);
	if (ev->bytes_in >= 0)
		ADD(" bytes_in=%lld bytes_out=%lld", ev->bytes_in, ev->bytes_out);
	if (ev->msgs_in >= 0)
		ADD(" msgs_in=%lld msgs_out=%lld", ev->msgs_in, ev->msgs_out);
	if (ev->detail != NULL)
		ADD(" %s", ev->detail);
	if (ev->reason != NULL)
		ADD(" reason=\"%s\"", ev->reason);
#undef ADD
	if (o >= sizeof line)
		o = sizeof line - 1;
	line[o] = '\0';
	flockfile(stderr);
	log_prefix(stderr, level);
	fprintf(stderr, "%s\n", line);
	funlockfile(stderr);
}
