/* log.c: log lines to stderr, the journal or syslog; session events also as JSON lines. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
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
#include "log_ring.h"
#include "text.h"

static _Atomic enum log_level log_level = LOG_LVL_INFO; /* set by worker 0, read by every thread */
static bool log_timestamps = true;
#ifdef HAVE_SYSTEMD
static bool log_journal; /* stderr is the systemd journal: send structured entries */
#endif
static bool log_syslog; /* log.syslog = true */
static FILE *log_json;  /* log.json_file, or NULL */
/* The sinks: the handshake threads log too while the loop switches them (reload, SIGUSR1). */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
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

/* A JSON log file opened by log_json_open, not yet in use. */
struct log_json_file {
	FILE *f;
	char *path;
	bool created; /* by log_json_open: a discarded one is removed again */
};

int
log_json_open(const char *json_file, struct log_json_file **out, char **cause)
{
	struct log_json_file *j;

	*out = NULL;
	if (json_file == NULL || json_file[0] == '\0')
		return 0;
	j = calloc(1, sizeof *j);
	if (j == NULL || (j->path = strdup(json_file)) == NULL) {
		free(j);
		*cause = strdup("out of memory");
		return -1;
	}
	j->created = access(json_file, F_OK) < 0 && errno == ENOENT;
	j->f = fopen(json_file, "ae");
	if (j->f == NULL) {
		if (asprintf(cause, "cannot open log.json_file %s: %s", json_file,
		        strerror(errno)) < 0)
			*cause = NULL;
		free(j->path);
		free(j);
		return -1;
	}
	setvbuf(j->f, NULL, _IOLBF, 0);
	*out = j;
	return 0;
}

void
log_json_discard(struct log_json_file *json)
{
	struct stat st;

	if (json == NULL)
		return;
	if (json->created && fstat(fileno(json->f), &st) == 0 && st.st_size == 0)
		(void)unlink(json->path);
	fclose(json->f);
	free(json->path);
	free(json);
}

void
log_switch(struct log_json_file *json, bool use_syslog)
{
	pthread_mutex_lock(&log_lock);
	if (log_json != NULL)
		fclose(log_json);
	free(log_json_path);
	log_json = json != NULL ? json->f : NULL;
	log_json_path = json != NULL ? json->path : NULL;
	free(json);
	if (use_syslog && !log_syslog)
		openlog("coaps-proxyd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!use_syslog && log_syslog)
		closelog();
	log_syslog = use_syslog;
	pthread_mutex_unlock(&log_lock);
}

int
log_configure(const char *json_file, bool use_syslog, char **cause)
{
	struct log_json_file *json;

	if (log_json_open(json_file, &json, cause) < 0)
		return -1;
	log_switch(json, use_syslog);
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
static void log_write_line(enum log_level level, const char *line, const struct log_event *ev);

void
log_event_add(struct log_event *ev, const char *key, const char *value, bool quote)
{
	if (ev->n_extra < sizeof ev->extra / sizeof *ev->extra)
		ev->extra[ev->n_extra++] = (struct log_extra){ key, value, 0, quote };
}

void
log_event_add_bytes(struct log_event *ev, const char *key, const void *value, size_t len)
{
	if (ev->n_extra < sizeof ev->extra / sizeof *ev->extra)
		ev->extra[ev->n_extra++] = (struct log_extra){ key, value, len, true };
}

/* Writes one plain message line, with ": strerror" when errnum is set. */
static void
log_vwrite(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[1024], raw[1200], line[1200 * 4];

	if (!log_enabled(level))
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (errnum != 0)
		snprintf(raw, sizeof raw, "%s: %s", msg, strerror(errnum));
	else
		snprintf(raw, sizeof raw, "%s", msg);
	/* A message may quote peer bytes (a CoAP path, library debug output): one line always. */
	log_write_line(level, log_clean(line, sizeof line, raw), NULL);
}

#define LOG_FN(name, level, use_errno)                                                             \
	void name(const char *fmt, ...)                                                            \
	{                                                                                          \
		int saved = errno;                                                                 \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		log_vwrite(level, use_errno ? saved : 0, fmt, ap);                                 \
		va_end(ap);                                                                        \
		errno = saved;                                                                     \
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
static void __attribute__((noreturn)) log_die(void)
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

/* How a value is escaped: a quoted text string, a bare text word, or a JSON string. */
enum esc_style {
	ESC_QUOTED,
	ESC_WORD,
	ESC_JSON
};

/*
 * Writes the text escape of byte c into u (at least 5 bytes); returns its
 * length. Printable ASCII stays, except '"' and '\\' (\" \\); the rest
 * becomes \xNN. A word has no ' ' or '"'. (JSON escapes: text_json_unit.)
 */
static size_t
esc_unit(unsigned char c, enum esc_style style, char *u)
{
	if ((c == '"' && style != ESC_WORD) || c == '\\') {
		u[0] = '\\';
		u[1] = (char)c;
		return 2;
	}
	if (c >= 0x20 && c < 0x7f && !((c == ' ' || c == '"') && style == ESC_WORD)) {
		u[0] = (char)c;
		return 1;
	}
	snprintf(u, 5, "\\x%02x", c);
	return 4;
}

char *
log_escape(char *dst, size_t dstlen, const void *src, size_t len)
{
	const unsigned char *p = src;
	size_t o = 0;

	if (dstlen == 0)
		return dst;
	for (size_t i = 0; i < len; i++) {
		char tmp[8];
		size_t n = esc_unit(p[i], ESC_QUOTED, tmp);

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

char *
log_clean(char *dst, size_t dstlen, const char *src)
{
	size_t o = 0;

	if (dstlen == 0)
		return dst;
	for (const unsigned char *p = (const unsigned char *)src; *p != '\0'; p++) {
		if (*p >= 0x20 && *p < 0x7f) {
			if (o + 1 >= dstlen)
				break;
			dst[o++] = (char)*p;
		} else {
			if (o + 4 >= dstlen)
				break;
			snprintf(dst + o, 5, "\\x%02x", *p);
			o += 4;
		}
	}
	dst[o] = '\0';
	return dst;
}

/* A line being built: never more than size - 1 bytes, always NUL-terminated. */
struct line {
	char *buf;
	size_t size;
	size_t o;
	size_t reserve; /* bytes kept free for the line's end ("}\n") */
	bool full;      /* something did not fit: nothing more is added */
};

/* Appends printf output to a line, whole or not at all (a number is never cut). */
static void LOG_PRINTF(2, 3) line_add(struct line *l, const char *fmt, ...)
{
	size_t end = l->size - 1 - l->reserve;
	va_list ap;
	int n;

	if (l->full || l->o >= end) {
		l->full = true;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->o, end - l->o + 1, fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n <= end - l->o)
		l->o += (size_t)n;
	else
		l->full = true;
	l->buf[l->o] = '\0';
}

/*
 * Appends len bytes of v escaped in style, in double quotes unless a word.
 * Where the line is full the value ends in "..." (and its quote) and the
 * line ends there: a value never runs into the next field or line.
 */
static void
line_escape(struct line *l, const void *v, size_t len, enum esc_style style)
{
	const unsigned char *p = v;
	bool quote = style != ESC_WORD;
	size_t end = l->size - 1 - l->reserve;

	if (l->full || l->o + (quote ? 2 : 0) + 3 > end) {
		l->full = true;
		return;
	}
	if (quote)
		l->buf[l->o++] = '"';
	for (size_t i = 0, used = 1; i < len; i += used) {
		char u[TEXT_JSON_UNIT_MAX];
		size_t n = style == ESC_JSON ? text_json_unit(p + i, len - i, u, &used)
		                             : esc_unit(p[i], style, u);

		if (l->o + n + 3 + (quote ? 1 : 0) > end) {
			memcpy(l->buf + l->o, "...", 3);
			l->o += 3;
			l->full = true;
			break;
		}
		memcpy(l->buf + l->o, u, n);
		l->o += n;
	}
	if (quote)
		l->buf[l->o++] = '"';
	l->buf[l->o] = '\0';
}

/* Tells whether a field with a key of keylen bytes and at least min value bytes still fits. */
static bool
line_room(struct line *l, size_t keylen, size_t min)
{
	/* Separator, key (quoted for JSON), '=' or ':', the value or "..." in quotes. */
	if (l->o + 1 + keylen * 4 + 2 + 1 + (min > 5 ? min : 5) > l->size - 1 - l->reserve)
		l->full = true;
	return !l->full;
}

/* Appends " key=" then a string value escaped (text) in style; nothing when the line is full. */
static void
line_field(struct line *l, const char *key, const void *v, size_t len, enum esc_style style)
{
	if (!line_room(l, strlen(key), 0))
		return;
	line_add(l, " ");
	line_escape(l, key, strlen(key), ESC_WORD);
	line_add(l, "=");
	line_escape(l, v, len, style);
}

/* Appends ,"key": then a JSON string value (number: unquoted); nothing when the line is full. */
static void
json_field(struct line *l, const char *key, const void *v, size_t len, bool number)
{
	if (!line_room(l, strlen(key), number ? len : 0))
		return;
	line_add(l, ",");
	line_escape(l, key, strlen(key), ESC_JSON);
	line_add(l, ":");
	if (number)
		line_add(l, "%.*s", (int)len, (const char *)v);
	else
		line_escape(l, v, len, ESC_JSON);
}

/* Tells whether s is a JSON integer (so it can stand unquoted; "0030fa46" cannot). */
static bool
json_is_number(const char *s)
{
	size_t i = s[0] == '-' ? 1 : 0;

	if (s[i] == '\0' || (s[i] == '0' && s[i + 1] != '\0'))
		return false;
	for (; s[i] != '\0'; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Bytes of an event string: its explicit length, or up to its NUL. */
static size_t
str_len(const char *s, size_t len)
{
	return len != 0 ? len : strlen(s);
}

void
log_event_json_line(enum log_level level, const struct log_event *ev, char *buf, size_t len)
{
	struct line l = { buf, len, 0, 2, false };
	char ts[40], id[16];

	if (len < 128) { /* too small for the fixed start: nothing */
		if (len > 0)
			buf[0] = '\0';
		return;
	}
	buf[0] = '\0';
	log_time(ts, sizeof ts);
	line_add(&l, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":", ts, log_level_names[level]);
	line_escape(&l, ev->event, strlen(ev->event), ESC_JSON);
	if (ev->session != 0) {
		snprintf(id, sizeof id, "%08x", ev->session);
		json_field(&l, "session", id, strlen(id), false);
	}
#define JSTR(name, v)                                                                              \
	if ((v) != NULL)                                                                           \
		json_field(&l, name, (v), strlen(v), false);
	JSTR("peer", ev->peer)
	JSTR("local", ev->local)
	JSTR("auth", ev->auth)
	if (ev->identity != NULL)
		json_field(&l, "identity", ev->identity, ev->identity_len, false);
	JSTR("cipher", ev->cipher)
	if (ev->reason != NULL)
		json_field(&l, "reason", ev->reason, str_len(ev->reason, ev->reason_len), false);
#undef JSTR
	if (ev->duration_ms >= 0)
		line_add(&l, ",\"duration_ms\":%ld", ev->duration_ms);
	if (ev->bytes_in >= 0)
		line_add(&l, ",\"bytes_in\":%lld,\"bytes_out\":%lld", ev->bytes_in, ev->bytes_out);
	if (ev->msgs_in >= 0)
		line_add(&l, ",\"msgs_in\":%lld,\"msgs_out\":%lld", ev->msgs_in, ev->msgs_out);
	for (size_t i = 0; i < ev->n_extra; i++) {
		const struct log_extra *x = &ev->extra[i];

		json_field(&l, x->key, x->value, str_len(x->value, x->len),
		    !x->quote && json_is_number(x->value));
	}
	/* The end always fits: it was reserved. */
	memcpy(l.buf + l.o, "}\n", 3);
}

void
log_event_text(const struct log_event *ev, char *buf, size_t len)
{
	struct line l = { buf, len, 0, 0, false };

	if (len < 8) {
		if (len > 0)
			buf[0] = '\0';
		return;
	}
	buf[0] = '\0';
	line_add(&l, "event=");
	line_escape(&l, ev->event, strlen(ev->event), ESC_WORD);
	if (ev->session != 0)
		line_add(&l, " session=%08x", ev->session);
	if (ev->peer != NULL)
		line_field(&l, "peer", ev->peer, strlen(ev->peer), ESC_WORD);
	if (ev->local != NULL)
		line_field(&l, "local", ev->local, strlen(ev->local), ESC_WORD);
	if (ev->auth != NULL)
		line_field(&l, "auth", ev->auth, strlen(ev->auth), ESC_WORD);
	if (ev->identity != NULL)
		line_field(&l, "identity", ev->identity, ev->identity_len, ESC_QUOTED);
	if (ev->cipher != NULL)
		line_field(&l, "cipher", ev->cipher, strlen(ev->cipher), ESC_WORD);
	if (ev->duration_ms >= 0)
		line_add(&l, " ms=%ld", ev->duration_ms);
	if (ev->bytes_in >= 0)
		line_add(&l, " bytes_in=%lld bytes_out=%lld", ev->bytes_in, ev->bytes_out);
	if (ev->msgs_in >= 0)
		line_add(&l, " msgs_in=%lld msgs_out=%lld", ev->msgs_in, ev->msgs_out);
	for (size_t i = 0; i < ev->n_extra; i++) {
		const struct log_extra *x = &ev->extra[i];

		line_field(&l, x->key, x->value, str_len(x->value, x->len),
		    x->quote ? ESC_QUOTED : ESC_WORD);
	}
	if (ev->reason != NULL)
		line_field(&l, "reason", ev->reason, str_len(ev->reason, ev->reason_len),
		    ESC_QUOTED);
}

#ifdef HAVE_SYSTEMD
/* Sends a line to the journal with the event's fields as COAPS_* fields. */
static void
log_journal_send(enum log_level level, const char *line, const struct log_event *ev)
{
	char fields[24][640], esc[560];
	struct iovec iov[24];
	size_t n = 0;

#define FIELD(...)                                                                                 \
	do {                                                                                       \
		if (n < 24) {                                                                      \
			snprintf(fields[n], sizeof fields[n], __VA_ARGS__);                        \
			iov[n].iov_base = fields[n];                                               \
			iov[n].iov_len = strlen(fields[n]);                                        \
			n++;                                                                       \
		}                                                                                  \
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
		if (ev->auth != NULL)
			FIELD("COAPS_AUTH=%s", ev->auth);
		if (ev->identity != NULL)
			FIELD("COAPS_IDENTITY=%s",
			    log_escape(esc, sizeof esc, ev->identity, ev->identity_len));
		if (ev->cipher != NULL)
			FIELD("COAPS_CIPHER=%s", ev->cipher);
		if (ev->reason != NULL)
			FIELD("COAPS_REASON=%s", log_escape(esc, sizeof esc, ev->reason,
			                             str_len(ev->reason, ev->reason_len)));
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

			for (const char *p = ev->extra[i].key; *p != '\0' && k < sizeof key - 1;
			     p++)
				key[k++] = (*p >= 'a' && *p <= 'z') ? (char)(*p - 32) : *p;
			key[k] = '\0';
			FIELD("COAPS_%s=%s", key,
			    log_escape(esc, sizeof esc, ev->extra[i].value,
			        str_len(ev->extra[i].value, ev->extra[i].len)));
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
	log_ring_add(log_level_names[level], line);
	pthread_mutex_lock(&log_lock);
	if (log_syslog) {
		syslog(log_syslog_prio[level], "%s", line);
		pthread_mutex_unlock(&log_lock);
		return;
	}
#ifdef HAVE_SYSTEMD
	if (log_journal) {
		log_journal_send(level, line, ev);
		pthread_mutex_unlock(&log_lock);
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
	pthread_mutex_unlock(&log_lock);
}

void
log_event(enum log_level level, const struct log_event *ev)
{
	char line[4096];

	/* The JSON log is the session record: every event, whatever log.level says. */
	pthread_mutex_lock(&log_lock);
	if (log_json != NULL) {
		log_event_json_line(level, ev, line, sizeof line);
		fputs(line, log_json);
	}
	pthread_mutex_unlock(&log_lock);
	if (!log_enabled(level))
		return;
	log_event_text(ev, line, sizeof line);
	log_write_line(level, line, ev);
}
