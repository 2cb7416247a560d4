/* log.c: log lines to stderr, the journal or syslog; session events also as JSON lines. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_SYSTEMD
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#endif

#include "log.h"

static enum log_level log_level = LOG_LVL_INFO;
static bool log_timestamps = true;
static bool log_journal;  /* stderr is the systemd journal: send structured entries */
static bool log_syslog;   /* log.syslog = true */
static FILE *log_json;    /* log.json_file, or NULL */
static char *log_json_path;

static const char *const log_level_names[] = { "error", "warning", "info", "debug" };
static const int log_syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

/* Tells whether stderr is the stream systemd's journal gave us. */
static bool
stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void
log_init(void)
{
	/* systemd's journal stamps lines itself. */
	log_timestamps = getenv("JOURNAL_STREAM") == NULL;
#ifdef HAVE_SYSTEMD
	log_journal = stderr_is_journal();
#else
	(void)stderr_is_journal;
#endif
}

int
log_configure(const char *json_file, bool use_syslog, char **cause)
{
	FILE *f = NULL;

	if (json_file != NULL && json_file[0] != '\0') {
		f = fopen(json_file, "ae");
		if (f == NULL) {
			if (asprintf(cause, "cannot open log.json_file %s: %s", json_file,
			        strerror(errno)) < 0)
				*cause = NULL;
			return -1;
		}
		setvbuf(f, NULL, _IOLBF, 0);
	}
	if (log_json != NULL)
		fclose(log_json);
	free(log_json_path);
	log_json = f;
	log_json_path = f != NULL ? strdup(json_file) : NULL;
	if (use_syslog && !log_syslog)
		openlog("coaps-proxyd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!use_syslog && log_syslog)
		closelog();
	log_syslog = use_syslog;
	return 0;
}

int
log_reopen(char **cause)
{
	char *path;
	int r;

	if (log_json_path == NULL)
		return 0;
	path = strdup(log_json_path);
	r = log_configure(path, log_syslog, cause);
	free(path);
	return r;
}

void
log_shutdown(void)
{
	char *cause = NULL;

	if (log_configure(NULL, false, &cause) < 0)
		free(cause);
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

/* Formats the current time as RFC 3339 UTC with milliseconds. */
static void
log_time(char *buf, size_t len)
{
	struct timeval tv;
	struct tm tm;
	char sec[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(sec, sizeof sec, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%.20s.%03dZ", sec, (int)(tv.tv_usec / 1000) % 1000);
}

/* Writes one finished line to the text sink: syslog, the journal or stderr. */
static void
log_write_line(enum log_level level, const char *line, const struct log_event *ev);

void
log_event_add(struct log_event *ev, const char *key, const char *value, bool quote)
{
	if (ev->n_extra < sizeof ev->extra / sizeof *ev->extra)
		ev->extra[ev->n_extra++] = (struct log_extra){ key, value, quote };
}

/* Writes one plain message line, with ": strerror" when errnum is set. */
static void
log_vwrite(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[1024], line[1200];

	if (!log_enabled(level))
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (errnum != 0)
		snprintf(line, sizeof line, "%s: %s", msg, strerror(errnum));
	else
		snprintf(line, sizeof line, "%s", msg);
	log_write_line(level, line, NULL);
}

#define LOG_FN(name, level, use_errno)                             \
	void name(const char *fmt, ...)                            \
	{                                                          \
		int saved = errno;                                 \
		va_list ap;                                        \
		va_start(ap, fmt);                                 \
		log_vwrite(level, use_errno ? saved : 0, fmt, ap); \
		va_end(ap);                                        \
		errno = saved;                                     \
	}

LOG_FN(log_warn, LOG_LVL_WARNING, 1)
LOG_FN(log_warnx, LOG_LVL_WARNING, 0)
LOG_FN(log_error, LOG_LVL_ERROR, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_debug, LOG_LVL_DEBUG, 0)

/*
 * Ends the process after a fatal error: status 1, without exit handlers (a
 * fatal error at start-up leaves the half-built state it found; LeakSanitizer
 * must not turn that into another exit status).
 */
static void __attribute__((noreturn))
log_die(void)
{
	fflush(NULL);
	_exit(1);
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, saved, fmt, ap);
	va_end(ap);
	log_die();
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	log_die();
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

/* Appends printf output to a line buffer, keeping track of its length. */
static void LOG_PRINTF(3, 4)
buf_add(char *buf, size_t *o, const char *fmt, ...)
{
	size_t len = 4096;
	va_list ap;
	int n;

	if (*o >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *o, len - *o, fmt, ap);
	va_end(ap);
	if (n > 0)
		*o += (size_t)n;
	if (*o >= len)
		*o = len - 1;
}

/* Appends s as a JSON string (bytes >= 0x80 as \u00XX, so the file stays valid UTF-8). */
static void
json_add_string(char *buf, size_t *o, const char *s, size_t len)
{
	buf_add(buf, o, "\"");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			buf_add(buf, o, "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			buf_add(buf, o, "%c", c);
		else
			buf_add(buf, o, "\\u%04x", c);
	}
	buf_add(buf, o, "\"");
}

/* Writes an event as one JSON object line to log.json_file. */
static void
log_event_json(enum log_level level, const struct log_event *ev)
{
	char line[4096], ts[40], id[16];
	size_t o = 0;

	log_time(ts, sizeof ts);
	buf_add(line, &o, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":\"%s\"", ts,
	    log_level_names[level], ev->event);
	if (ev->session != 0) {
		snprintf(id, sizeof id, "%08x", ev->session);
		buf_add(line, &o, ",\"session\":\"%s\"", id);
	}
#define JSTR(name, v)                                        \
	if ((v) != NULL) {                                   \
		buf_add(line, &o, ",\"" name "\":");         \
		json_add_string(line, &o, (v), strlen(v));   \
	}
	JSTR("peer", ev->peer)
	JSTR("local", ev->local)
	if (ev->identity != NULL) {
		buf_add(line, &o, ",\"identity\":");
		json_add_string(line, &o, ev->identity, ev->identity_len);
	}
	JSTR("cipher", ev->cipher)
	JSTR("reason", ev->reason)
#undef JSTR
	if (ev->duration_ms >= 0)
		buf_add(line, &o, ",\"duration_ms\":%ld", ev->duration_ms);
	if (ev->bytes_in >= 0)
		buf_add(line, &o, ",\"bytes_in\":%lld,\"bytes_out\":%lld", ev->bytes_in,
		    ev->bytes_out);
	if (ev->msgs_in >= 0)
		buf_add(line, &o, ",\"msgs_in\":%lld,\"msgs_out\":%lld", ev->msgs_in, ev->msgs_out);
	for (size_t i = 0; i < ev->n_extra; i++) {
		buf_add(line, &o, ",\"%s\":", ev->extra[i].key);
		if (ev->extra[i].quote)
			json_add_string(line, &o, ev->extra[i].value, strlen(ev->extra[i].value));
		else
			buf_add(line, &o, "%s", ev->extra[i].value);
	}
	buf_add(line, &o, "}\n");
	fputs(line, log_json);
}

#ifdef HAVE_SYSTEMD
/* Sends a line to the journal with the event's fields as COAPS_* fields. */
static void
log_journal_send(enum log_level level, const char *line, const struct log_event *ev)
{
	char fields[24][600], esc[512];
	struct iovec iov[24];
	size_t n = 0;

#define FIELD(...)                                                          \
	do {                                                                \
		if (n < 24) {                                               \
			snprintf(fields[n], sizeof fields[n], __VA_ARGS__); \
			iov[n].iov_base = fields[n];                        \
			iov[n].iov_len = strlen(fields[n]);                 \
			n++;                                                \
		}                                                           \
	} while (0)
	FIELD("MESSAGE=%s", line);
	FIELD("PRIORITY=%d", log_syslog_prio[level]);
	FIELD("SYSLOG_IDENTIFIER=coaps-proxyd");
	if (ev != NULL) {
		FIELD("COAPS_EVENT=%s", ev->event);
		if (ev->session != 0)
			FIELD("COAPS_SESSION=%08x", ev->session);
		if (ev->peer != NULL)
			FIELD("COAPS_PEER=%s", ev->peer);
		if (ev->local != NULL)
			FIELD("COAPS_LOCAL=%s", ev->local);
		if (ev->identity != NULL)
			FIELD("COAPS_IDENTITY=%s",
			    log_escape(esc, sizeof esc, ev->identity, ev->identity_len));
		if (ev->cipher != NULL)
			FIELD("COAPS_CIPHER=%s", ev->cipher);
		if (ev->reason != NULL)
			FIELD("COAPS_REASON=%s", ev->reason);
		if (ev->duration_ms >= 0)
			FIELD("COAPS_DURATION_MS=%ld", ev->duration_ms);
		if (ev->bytes_in >= 0) {
			FIELD("COAPS_BYTES_IN=%lld", ev->bytes_in);
			FIELD("COAPS_BYTES_OUT=%lld", ev->bytes_out);
		}
		if (ev->msgs_in >= 0) {
			FIELD("COAPS_MSGS_IN=%lld", ev->msgs_in);
			FIELD("COAPS_MSGS_OUT=%lld", ev->msgs_out);
		}
		for (size_t i = 0; i < ev->n_extra; i++) {
			char key[40];
			size_t k = 0;

			for (const char *p = ev->extra[i].key; *p != '\0' && k < sizeof key - 1; p++)
				key[k++] = (*p >= 'a' && *p <= 'z') ? (char)(*p - 32) : *p;
			key[k] = '\0';
			FIELD("COAPS_%s=%s", key, ev->extra[i].value);
		}
	} else if (strncmp(line, "event=", 6) == 0) {
		/* A daemon event logged as text (event=NAME ...): its name as a field too. */
		FIELD("COAPS_EVENT=%.*s", (int)strcspn(line + 6, " "), line + 6);
	}
#undef FIELD
	sd_journal_sendv(iov, (int)n);
}
#endif

static void
log_write_line(enum log_level level, const char *line, const struct log_event *ev)
{
	if (log_syslog) {
		syslog(log_syslog_prio[level], "%s", line);
		return;
	}
#ifdef HAVE_SYSTEMD
	if (log_journal) {
		log_journal_send(level, line, ev);
		return;
	}
#else
	(void)ev;
#endif
	flockfile(stderr);
	if (log_timestamps) {
		char ts[40];

		log_time(ts, sizeof ts);
		fprintf(stderr, "%s ", ts);
	}
	fprintf(stderr, "%s %s\n", log_level_names[level], line);
	funlockfile(stderr);
}

void
log_event(enum log_level level, const struct log_event *ev)
{
	char line[4096], esc[512];
	size_t o = 0;

	if (!log_enabled(level))
		return;
	buf_add(line, &o, "event=%s", ev->event);
	if (ev->session != 0)
		buf_add(line, &o, " session=%08x", ev->session);
	if (ev->peer != NULL)
		buf_add(line, &o, " peer=%s", ev->peer);
	if (ev->local != NULL)
		buf_add(line, &o, " local=%s", ev->local);
	if (ev->identity != NULL)
		buf_add(line, &o, " identity=\"%s\"",
		    log_escape(esc, sizeof esc, ev->identity, ev->identity_len));
	if (ev->cipher != NULL)
		buf_add(line, &o, " cipher=%s", ev->cipher);
	if (ev->duration_ms >= 0)
		buf_add(line, &o, " ms=%ld", ev->duration_ms);
	if (ev->bytes_in >= 0)
		buf_add(line, &o, " bytes_in=%lld bytes_out=%lld", ev->bytes_in, ev->bytes_out);
	if (ev->msgs_in >= 0)
		buf_add(line, &o, " msgs_in=%lld msgs_out=%lld", ev->msgs_in, ev->msgs_out);
	for (size_t i = 0; i < ev->n_extra; i++) {
		if (ev->extra[i].quote)
			buf_add(line, &o, " %s=\"%s\"", ev->extra[i].key,
			    log_escape(esc, sizeof esc, ev->extra[i].value,
			        strlen(ev->extra[i].value)));
		else
			buf_add(line, &o, " %s=%s", ev->extra[i].key, ev->extra[i].value);
	}
	if (ev->reason != NULL)
		buf_add(line, &o, " reason=\"%s\"", ev->reason);
	log_write_line(level, line, ev);
	if (log_json != NULL)
		log_event_json(level, ev);
}
