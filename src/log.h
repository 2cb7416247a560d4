/* log.h: logging for people who debug at 3 a.m.; one event per line. */
#ifndef COAPS_LOG_H
#define COAPS_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_LVL_ERROR,   /* the daemon cannot do what it was asked */
	LOG_LVL_WARNING, /* something is wrong but service goes on */
	LOG_LVL_INFO,    /* session events, start, stop, reload */
	LOG_LVL_DEBUG,   /* per-datagram detail, library debug output */
};

/*
 * A session event with its fields. Unset strings are NULL, unset numbers -1.
 * Rendered as one line of key=value pairs. Every string is escaped by the
 * renderer (callers pass peer bytes raw): an event is always exactly one line.
 */
struct log_event {
	const char *event;    /* session-new, handshake-ok, session-closed, ... */
	uint32_t session;     /* session id, 0 for none */
	const char *peer;     /* device address:port */
	const char *local;    /* local address:port the device sent to */
	const char *auth;     /* how identity was proven: "psk", "x509" or "anonymous" */
	const char *identity; /* PSK identity or certificate subject CN (raw) */
	size_t identity_len;  /* bytes of identity (identity may hold NUL) */
	const char *cipher;   /* negotiated cipher suite */
	const char *reason;   /* why, in words; may quote peer bytes raw (escaped on output) */
	size_t reason_len;    /* bytes of reason when it may hold NUL; 0: up to its NUL */
	long duration_ms;     /* handshake or session duration */
	long long bytes_in, bytes_out; /* CoAP bytes from / to the device */
	long long msgs_in, msgs_out;   /* CoAP messages from / to the device */
	struct log_extra {             /* further fields: replaces=, offered=, depth=, ... */
		const char *key;
		const char *value;
		size_t len; /* bytes of value when it may hold NUL; 0: up to its NUL */
		bool quote; /* a string (quoted) rather than a number or word */
	} extra[8];
	size_t n_extra;
};

#define LOG_EVENT_INIT                                                                             \
	{                                                                                          \
		.duration_ms = -1, .bytes_in = -1, .bytes_out = -1, .msgs_in = -1, .msgs_out = -1  \
	}

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Starts logging to stderr; with timestamps unless the journal reads it. */
void log_init(void);
/*
 * Chooses the sinks: JSON lines of events appended to json_file (NULL: none),
 * syslog instead of stderr. Returns 0, or -1 with *cause (sinks unchanged).
 */
int log_configure(const char *json_file, bool use_syslog, char **cause)
    __attribute__((warn_unused_result));
/*
 * The two halves of log_configure, for a reload that must change all or
 * nothing: log_json_open opens json_file (NULL or "": none, *out = NULL)
 * without using it yet; log_switch then makes it the JSON sink (closing the
 * old one), or log_json_discard closes it unused.
 */
struct log_json_file;
int log_json_open(const char *json_file, struct log_json_file **out, char **cause)
    __attribute__((warn_unused_result));
void log_switch(struct log_json_file *json, bool use_syslog);
void log_json_discard(struct log_json_file *json);
/* Reopens the JSON file (after logrotate moved it); 0 or -1 with *cause. */
int log_reopen(char **cause) __attribute__((warn_unused_result));
/* Closes the sinks. */
void log_shutdown(void);
/* Adds a field to an event; value must live until log_event returns. */
void log_event_add(struct log_event *ev, const char *key, const char *value, bool quote);
/* Adds a quoted field of len raw bytes (which may hold NUL); value must live until log_event returns. */
void log_event_add_bytes(struct log_event *ev, const char *key, const void *value, size_t len);
/* Sets the most verbose level that is written. */
void log_set_level(enum log_level level);
/* Tells whether a message at level would be written. */
bool log_enabled(enum log_level level);
/* Parses "error", "warning", "info" or "debug"; -1 if unknown. */
int log_level_parse(const char *name);

void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2); /* appends errno */
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_error(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
/* Logs and exits 1: only at start-up or for a broken invariant. */
__attribute__((noreturn)) void fatal(const char *fmt, ...) LOG_PRINTF(1, 2);
__attribute__((noreturn)) void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2);

/* Writes one session event line at level (to the JSON log whatever the level). */
void log_event(enum log_level level, const struct log_event *ev);
/* Renders an event as the text line log_event writes (no time stamp, level or newline). */
void log_event_text(const struct log_event *ev, char *buf, size_t len);
/* Renders an event as the JSON line log_event appends to log.json_file (with its newline). */
void log_event_json_line(enum log_level level, const struct log_event *ev, char *buf, size_t len);
/* Escapes control bytes and bytes >= 0x7f of a plain message as \xNN into dst; returns dst. */
char *log_clean(char *dst, size_t dstlen, const char *src);

/*
 * Escapes len bytes of src into dst (NUL-terminated, truncated with "..."
 * when it does not fit): printable ASCII stays, '"' and '\\' and everything
 * else become \" \\ \xNN. Returns dst.
 */
char *log_escape(char *dst, size_t dstlen, const void *src, size_t len);

#endif
