/* config.c: reads the libconfig file into a validated, immutable snapshot. */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/version.h>

#include "configuration.h"
#include "dtls.h"
#include "log.h"

/* One file of the configuration as read: the main one or an @include. */
struct conf_file {
	char *name; /* the path it was read from (relative to its includer's directory
	             * resolved); NULL: the main file */
	char *text; /* NUL-terminated */
	size_t len;
	struct stat st;
};

/* A run of lines of the text given to libconfig that come from one file. */
struct conf_span {
	unsigned start; /* its first line in the expanded text */
	size_t file;    /* index in files[] */
	unsigned line;  /* that line's number in the file */
};

/* State of one load: the file, its directory, the files read and the first error. */
struct loader {
	config_t lc;
	const char *path;
	char dir[PATH_MAX];
	char *cause;
	struct conf_file files[CONFIG_MAX_FILES];
	size_t n_files;
	size_t bytes; /* in files[] together */
	/* The main file with each @include replaced by what it names, for libconfig. */
	char *text;
	size_t text_len, text_cap;
	unsigned text_line; /* line of text that the next byte appended is on */
	struct conf_span *spans;
	size_t n_spans, cap_spans;
	/* A psk_dir file being parsed (its own libconfig text): errors name it. */
	const char *cur_file;
	char **psk_files; /* names of the psk_dir files read */
	size_t n_psk_files;
	struct psk_origin *origins; /* where each cfg->psks entry was written */
	size_t psk_cap;             /* entries cfg->psks and origins have room for */
};

/* Where a PSK entry was written, to name both places of a duplicate. */
struct psk_origin {
	const char *identity; /* cfg->psks[].identity (stays put when the array moves) */
	size_t identity_len;
	const char *file;
	unsigned line;
	unsigned index; /* in its psk list */
	size_t seq;     /* order of reading */
};

static const char *const root_keys[] = { "listen", "backends", "routes", "identity_option",
	"backend_timeout", "psk", "psk_dir", "x509", "dtls", "session", "log", "control", "metrics",
	"diagnostic_payloads", NULL };
static const char *const listen_keys[] = { "address", "port", NULL };
static const char *const backend_keys[] = { "name", "address", "port", "sources", NULL };
static const char *const route_keys[] = { "path_prefix", "identity", "uri_host", "anonymous",
	"forward_proxy", "backend", NULL };
static const char *const psk_keys[] = { "identity", "key", "key_hex", NULL };
static const char *const x509_keys[] = { "certificate", "private_key", "client_ca", "crl",
	"verify_client", "expiry_warning", NULL };
static const char *const dtls_keys[] = { "ciphersuites", "handshake_timeout_min",
	"handshake_timeout_max", "mtu", "badmac_limit", "max_handshake_message", "connection_id",
	"cid_length", "session_tickets", "ticket_lifetime", "ticket_key_file", "session_cache", NULL };
static const char *const session_keys[] = { "idle_timeout", "park_after", "max_sessions",
	"max_handshakes", "handshakes_per_source", NULL };
static const char *const log_keys[] = { "level", "json_file", "syslog", NULL };
static const char *const control_keys[] = { "socket", NULL };
static const char *const metrics_keys[] = { "address", "port", NULL };

/* Writes the dotted path of a setting ("psk[1].key_hex") into buf. */
static void
setting_path(const config_setting_t *s, char *buf, size_t len)
{
	const config_setting_t *chain[16];
	size_t n = 0, o = 0;

	buf[0] = '\0';
	for (; s != NULL && !config_setting_is_root(s) && n < 16; s = config_setting_parent(s))
		chain[n++] = s;
	while (n-- > 0 && o < len) {
		const char *name = config_setting_name(chain[n]);
		int w;

		if (name != NULL)
			w = snprintf(buf + o, len - o, "%s%s", o ? "." : "", name);
		else
			w = snprintf(buf + o, len - o, "[%d]", config_setting_index(chain[n]));
		if (w > 0)
			o += (size_t)w;
	}
}

/* Finds the file (index in files[]) and its line that line tline of the expanded text came from. */
static size_t
loader_locate(const struct loader *ld, unsigned tline, unsigned *line)
{
	size_t lo = 0, hi = ld->n_spans;

	/* The last span that starts at or before tline. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (ld->spans[mid].start <= tline)
			lo = mid;
		else
			hi = mid;
	}
	if (ld->n_spans == 0 || tline == 0 || ld->spans[lo].start > tline) {
		*line = tline;
		return 0;
	}
	*line = ld->spans[lo].line + (tline - ld->spans[lo].start);
	return ld->spans[lo].file;
}

/* Names the file and line a setting was written on (the file NULL: the main file). */
static void
setting_where(const struct loader *ld, const config_setting_t *s, const char **file,
    unsigned *line)
{
	size_t f;

	if (ld->cur_file != NULL) {
		*file = ld->cur_file;
		*line = config_setting_source_line(s);
		return;
	}
	f = loader_locate(ld, config_setting_source_line(s), line);
	*file = f < ld->n_files ? ld->files[f].name : NULL;
}

/*
 * Records the first error as "FILE:LINE: key: why" for setting s (or its
 * member named key when s is the group holding it). Returns -1.
 */
static int LOG_PRINTF(4, 5)
load_fail(struct loader *ld, const config_setting_t *s, const char *member, const char *fmt, ...)
{
	char key[256], why[512];
	const char *file = NULL;
	unsigned line = 0;
	va_list ap;

	if (ld->cause != NULL)
		return -1;
	if (s != NULL) {
		setting_path(s, key, sizeof key);
		setting_where(ld, s, &file, &line);
	} else
		key[0] = '\0';
	if (member != NULL) {
		size_t o = strlen(key);
		snprintf(key + o, sizeof key - o, "%s%s", o ? "." : "", member);
	}
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (asprintf(&ld->cause, "%s:%u: %s: %s", file ? file : ld->path, line,
	        key[0] ? key : "(top level)", why) < 0)
		ld->cause = NULL;
	return -1;
}

/* Rejects members of group whose names are not in allowed. */
static int
check_keys(struct loader *ld, const config_setting_t *group, const char *const *allowed)
{
	int n = config_setting_length(group);

	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(m);
		bool known = false;

		for (const char *const *a = allowed; *a != NULL && !known; a++)
			known = name != NULL && strcmp(name, *a) == 0;
		if (!known)
			return load_fail(ld, m, NULL, "unknown key");
	}
	return 0;
}

/* Finds member name of group that must be a group (or absent: NULL). */
static int
get_group(struct loader *ld, const config_setting_t *parent, const char *name,
    config_setting_t **out)
{
	config_setting_t *s = config_setting_get_member(parent, name);

	*out = NULL;
	if (s == NULL)
		return 0;
	if (!config_setting_is_group(s))
		return load_fail(ld, s, NULL, "must be a group { ... }");
	*out = s;
	return 0;
}

/* Finds member name of parent that must be a list ( ... ) of groups. */
static int
get_list(struct loader *ld, const config_setting_t *parent, const char *name,
    config_setting_t **out)
{
	config_setting_t *s = config_setting_get_member(parent, name);

	*out = NULL;
	if (s == NULL)
		return 0;
	if (!config_setting_is_list(s))
		return load_fail(ld, s, NULL, "must be a list ( { ... }, ... )");
	for (int i = 0; i < config_setting_length(s); i++)
		if (!config_setting_is_group(config_setting_get_elem(s, (unsigned)i)))
			return load_fail(ld, config_setting_get_elem(s, (unsigned)i), NULL,
			    "must be a group { ... }");
	*out = s;
	return 0;
}

/* Reads an optional string member; *out stays NULL when absent. */
static int
get_string(struct loader *ld, const config_setting_t *group, const char *name, bool required,
    const char **out)
{
	config_setting_t *s = config_setting_get_member(group, name);

	*out = NULL;
	if (s == NULL) {
		if (required)
			return load_fail(ld, group, name, "missing (required)");
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return load_fail(ld, s, NULL, "must be a string in double quotes");
	*out = config_setting_get_string(s);
	if (required && **out == '\0')
		return load_fail(ld, s, NULL, "must not be empty");
	return 0;
}

/* Finds the file a setting was read from, and its line there (NULL: not known). */
static const struct conf_file *
setting_file(const struct loader *ld, const config_setting_t *s, unsigned *line)
{
	size_t f;

	if (ld->cur_file != NULL || ld->n_files == 0)
		return NULL;
	f = loader_locate(ld, config_setting_source_line(s), line);
	return f < ld->n_files ? &ld->files[f] : NULL;
}

/*
 * Copies the integer text of the named setting s ("port = 99999999999;") as
 * written in its file into buf when it is not the parsed value v: libconfig
 * 1.5 keeps an integer without the L suffix in 32 bits and wraps larger ones,
 * so v alone cannot tell 4294967297 from 1. False when the text says v (or
 * is not found on the setting's line).
 */
static bool
setting_literal(const struct loader *ld, const config_setting_t *s, long long v, char *buf,
    size_t len)
{
	unsigned at = 0;
	const struct conf_file *f = setting_file(ld, s, &at);
	const char *name = config_setting_name(s), *p, *end;
	char *rest;
	long long written;
	size_t nlen, o;

	if (f == NULL || name == NULL || at == 0)
		return false;
	p = f->text;
	for (unsigned line = 1; line < at && p != NULL; line++)
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	if (p == NULL)
		return false;
	end = strchr(p, '\n');
	if (end == NULL)
		end = f->text + f->len;
	nlen = strlen(name);
	for (; (p = strstr(p, name)) != NULL && p < end; p += nlen) {
		const char *q = p + nlen;

		if (p > f->text && (isalnum((unsigned char)p[-1]) || strchr("_-*", p[-1]) != NULL))
			continue;
		while (*q == ' ' || *q == '\t')
			q++;
		if (*q != '=' && *q != ':')
			continue;
		q++;
		while (*q == ' ' || *q == '\t')
			q++;
		for (o = 0; o + 1 < len && q < end && (isxdigit((unsigned char)*q) || strchr("-+xX", *q));)
			buf[o++] = *q++;
		buf[o] = '\0';
		errno = 0;
		written = strtoll(buf, &rest, 0);
		/* The text of this setting, and not the one it says? */
		if (o > 0 && *rest == '\0' &&
		    (errno == ERANGE || (written != v && (int32_t)(uint32_t)written == v)))
			return true;
	}
	return false;
}

/* Reads an optional integer member within [min, max]; *out keeps its default. */
static int
get_uint(struct loader *ld, const config_setting_t *group, const char *name, long long min,
    long long max, uint32_t *out)
{
	config_setting_t *s = config_setting_get_member(group, name);
	char text[64];
	long long v;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64)
		return load_fail(ld, s, NULL, "must be an integer");
	v = config_setting_get_int64(s);
	if (config_setting_type(s) == CONFIG_TYPE_INT && setting_literal(ld, s, v, text, sizeof text))
		return load_fail(ld, s, NULL, "%s is out of range (%lld to %lld)", text, min, max);
	if (v < min || v > max)
		return load_fail(ld, s, NULL, "%lld is out of range (%lld to %lld)", v, min, max);
	*out = (uint32_t)v;
	return 0;
}

/* Reads a port number (1-65535) that must be present. */
static int
get_port(struct loader *ld, const config_setting_t *group, uint16_t *port)
{
	uint32_t v = 0;

	if (config_setting_get_member(group, "port") == NULL)
		return load_fail(ld, group, "port", "missing (required)");
	if (get_uint(ld, group, "port", 1, 65535, &v) < 0)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int
config_hex_decode(const char *hex, unsigned char *out, size_t outlen)
{
	size_t n = strlen(hex);

	if (n == 0 || n % 2 != 0 || n / 2 > outlen)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		int v = 0;

		for (size_t j = i; j < i + 2; j++) {
			char c = hex[j];
			int d;

			if (c >= '0' && c <= '9')
				d = c - '0';
			else if (c >= 'a' && c <= 'f')
				d = c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				d = c - 'A' + 10;
			else
				return -1;
			v = v * 16 + d;
		}
		out[i / 2] = (unsigned char)v;
	}
	return (int)(n / 2);
}

/* Names a kind of file that is not a regular file. */
static const char *
file_kind(mode_t mode)
{
	return S_ISDIR(mode)    ? "a directory"
	       : S_ISFIFO(mode) ? "a FIFO"
	       : S_ISSOCK(mode) ? "a socket"
	       : S_ISCHR(mode)  ? "a character device"
	       : S_ISBLK(mode)  ? "a block device"
	                        : "not a file";
}

/* Says who besides its owner (and the daemon's own group) may read a file, or NULL. */
static const char *
readable_by_others(const struct stat *st)
{
	if (st->st_mode & S_IROTH)
		return "readable by every user";
	if ((st->st_mode & S_IRGRP) && st->st_gid != getegid())
		return "readable by its group (not the daemon's)";
	return NULL;
}

/* Records "WHERE: why" (WHERE names the file, or the @include line naming it). Returns -1. */
static int LOG_PRINTF(3, 4)
file_fail(struct loader *ld, const char *where, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	if (ld->cause != NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (asprintf(&ld->cause, "%s: %s", where, why) < 0)
		ld->cause = NULL;
	return -1;
}

/* Where a scan of configuration text is, looking for @include directives. */
struct conf_scan {
	const char *p;
	const char *bol;  /* start of the line p is on */
	unsigned line;
	bool line_start;  /* only blanks since the line began */
	bool open;        /* the text ended inside a string or a comment */
};

/* An @include directive that conf_scan_include found. */
struct conf_include {
	const char *begin; /* start of its line */
	const char *end;   /* just after the closing quote */
	unsigned line;
	char *name; /* decoded as libconfig does (\\ and \"); NULL: no closing quote on the line */
};

/*
 * Moves sc to the next @include directive as libconfig's scanner finds them:
 * `@include "NAME"` at the start of a line (after blanks), outside comments
 * and strings. Returns 1 with *inc filled (inc->name to free), 0 at the end
 * of the text, -1 when out of memory.
 */
static int
conf_scan_include(struct conf_scan *sc, struct conf_include *inc)
{
	const char *p = sc->p;

	while (*p != '\0') {
		if (*p == '\n') {
			sc->line++;
			sc->line_start = true;
			sc->bol = ++p;
		} else if (*p == ' ' || *p == '\t') {
			p++;
		} else if (sc->line_start && strncmp(p, "@include", 8) == 0 &&
		           (p[8] == ' ' || p[8] == '\t')) {
			const char *q = p + 8, *e;
			char *o;

			while (*q == ' ' || *q == '\t')
				q++;
			if (*q != '"') { /* not a directive: libconfig reports the '@' */
				p++;
				sc->line_start = false;
				continue;
			}
			inc->begin = sc->bol;
			inc->line = sc->line;
			inc->name = NULL;
			for (e = q + 1; *e != '\0' && *e != '\n' && *e != '"'; e++)
				if (*e == '\\' && (e[1] == '\\' || e[1] == '"'))
					e++;
			inc->end = *e == '"' ? e + 1 : e;
			/* After the directive the rest of its line starts a line of its own. */
			sc->p = sc->bol = inc->end;
			sc->line_start = true;
			if (*e != '"')
				return 1;
			inc->name = o = malloc((size_t)(e - q));
			if (o == NULL)
				return -1;
			for (q++; q < e; q++) {
				if (*q == '\\' && (q[1] == '\\' || q[1] == '"'))
					q++;
				*o++ = *q;
			}
			*o = '\0';
			return 1;
		} else if (*p == '"') {
			sc->open = true;
			for (p++; *p != '\0' && *p != '"'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				if (*p == '\n')
					sc->line++;
			}
			if (*p == '"') {
				p++;
				sc->open = false;
			}
			sc->line_start = false;
		} else if (p[0] == '/' && p[1] == '*') {
			sc->open = true;
			for (p += 2; *p != '\0' && !(p[0] == '*' && p[1] == '/'); p++)
				if (*p == '\n')
					sc->line++;
			if (*p != '\0') {
				p += 2;
				sc->open = false;
			}
			sc->line_start = false;
		} else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
			while (*p != '\0' && *p != '\n')
				p++;
		} else {
			p++;
			sc->line_start = false;
		}
	}
	sc->p = p;
	return 0;
}

/*
 * Reads path into *text (NUL-terminated, *len bytes): it must be a regular
 * file (a FIFO or device would block or never end), not world-writable,
 * free of NUL bytes and at most left bytes long (budget says what the limit
 * is). where names it in errors.
 */
static int
file_read_text(struct loader *ld, const char *path, const char *where, size_t left,
    const char *budget, char **text, size_t *len, struct stat *st)
{
	size_t n = 0;
	char *buf;
	int fd;

	if (stat(path, st) != 0)
		return file_fail(ld, where, "cannot read: %s", strerror(errno));
	if (!S_ISREG(st->st_mode))
		return file_fail(ld, where, "is %s, not a regular file", file_kind(st->st_mode));
	if (st->st_mode & S_IWOTH)
		return file_fail(ld, where, "is world-writable (mode %04o): anyone could change the "
		    "configuration; chmod o-w %s", (unsigned)(st->st_mode & 07777), path);
	if ((unsigned long long)st->st_size > left)
		return file_fail(ld, where, "is %lld bytes: %s", (long long)st->st_size, budget);
	/* O_NONBLOCK: should the file have been swapped for a FIFO, neither open nor read waits. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return file_fail(ld, where, "cannot read: %s", strerror(errno));
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return file_fail(ld, where, "is not a regular file");
	}
	buf = malloc(left + 1);
	if (buf == NULL) {
		close(fd);
		return file_fail(ld, where, "out of memory");
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, left + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			free(buf);
			return file_fail(ld, where, "cannot read: %s", strerror(errno));
		}
		n += (size_t)r;
		if (r == 0 || n > left)
			break;
	}
	close(fd);
	if (n > left) {
		mbedtls_platform_zeroize(buf, n);
		free(buf);
		return file_fail(ld, where, "grew while it was read: %s", budget);
	}
	if (memchr(buf, '\0', n) != NULL) {
		mbedtls_platform_zeroize(buf, n);
		free(buf);
		return file_fail(ld, where, "contains a NUL byte: not a text file");
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
}

/*
 * Reads one file of the configuration (name NULL: the main file ld->path)
 * into ld->files[*idx], within what is left of CONFIG_MAX_BYTES and
 * CONFIG_MAX_FILES. where names it in errors.
 */
static int
conf_file_read(struct loader *ld, const char *name, const char *where, size_t *idx)
{
	char budget[128];
	struct conf_file *f;
	struct stat st;
	char *buf = NULL;
	size_t n = 0;

	if (ld->n_files == CONFIG_MAX_FILES)
		return file_fail(ld, where, "more than %d configuration files", CONFIG_MAX_FILES);
	snprintf(budget, sizeof budget, "the configuration and its @include files may have %d "
	    "bytes (1 MiB) in all", CONFIG_MAX_BYTES);
	if (file_read_text(ld, name != NULL ? name : ld->path, where, CONFIG_MAX_BYTES - ld->bytes,
	        budget, &buf, &n, &st) < 0)
		return -1;
	f = &ld->files[ld->n_files++];
	f->name = name != NULL ? strdup(name) : NULL;
	f->text = buf;
	f->len = n;
	f->st = st;
	ld->bytes += n;
	*idx = ld->n_files - 1;
	if (name != NULL && f->name == NULL)
		return file_fail(ld, where, "out of memory");
	return 0;
}

/* Appends n bytes of s to the text for libconfig. */
static int
text_append(struct loader *ld, const char *s, size_t n)
{
	if (ld->text_len + n + 1 > ld->text_cap) {
		size_t cap = ld->text_cap ? ld->text_cap : 4096;
		char *t;

		while (cap < ld->text_len + n + 1)
			cap *= 2;
		t = malloc(cap);
		if (t == NULL)
			return file_fail(ld, ld->path, "out of memory");
		if (ld->text != NULL) {
			memcpy(t, ld->text, ld->text_len);
			mbedtls_platform_zeroize(ld->text, ld->text_len); /* PSKs */
			free(ld->text);
		}
		ld->text = t;
		ld->text_cap = cap;
	}
	memcpy(ld->text + ld->text_len, s, n);
	ld->text_len += n;
	ld->text[ld->text_len] = '\0';
	for (const char *p = s; (p = memchr(p, '\n', (size_t)(s + n - p))) != NULL; p++)
		ld->text_line++;
	return 0;
}

/* Says that the text appended next comes from line `line` of files[file]. */
static int
span_push(struct loader *ld, size_t file, unsigned line)
{
	struct conf_span *s;

	if (ld->n_spans > 0 && ld->spans[ld->n_spans - 1].start == ld->text_line)
		ld->n_spans--; /* nothing came from the one before */
	if (ld->n_spans == ld->cap_spans) {
		size_t cap = ld->cap_spans ? ld->cap_spans * 2 : 16;

		s = reallocarray(ld->spans, cap, sizeof *s);
		if (s == NULL)
			return file_fail(ld, ld->path, "out of memory");
		ld->spans = s;
		ld->cap_spans = cap;
	}
	ld->spans[ld->n_spans++] = (struct conf_span){ ld->text_line, file, line };
	return 0;
}

/*
 * Appends files[idx] to the text for libconfig with each @include directive
 * replaced by the file it names (read and expanded in turn, up to
 * CONFIG_MAX_INCLUDE_DEPTH deep): a relative name is relative to the
 * directory of the file that holds the directive. libconfig never opens a
 * file itself, so every file is checked and read once, and spans[] maps
 * libconfig's line numbers back to each file and line.
 */
static int
conf_expand(struct loader *ld, size_t idx, int depth)
{
	struct conf_scan sc = { .p = ld->files[idx].text, .bol = ld->files[idx].text, .line = 1,
		.line_start = true };
	const char *copied = sc.p, *slash;
	struct conf_include inc;
	int r;

	if (span_push(ld, idx, 1) < 0)
		return -1;
	while ((r = conf_scan_include(&sc, &inc)) > 0) {
		const char *shown = ld->files[idx].name ? ld->files[idx].name : ld->path;
		char *path = NULL, *where = NULL;
		size_t j;

		if (inc.name == NULL) {
			char at[PATH_MAX + 32];

			snprintf(at, sizeof at, "%s:%u", shown, inc.line);
			return file_fail(ld, at, "@include: the file name has no closing '\"' on its line");
		}
		slash = strrchr(shown, '/');
		if (inc.name[0] == '/' || slash == NULL)
			path = strdup(inc.name);
		else if (asprintf(&path, "%.*s/%s", (int)(slash - shown), shown, inc.name) < 0)
			path = NULL;
		if (path == NULL || asprintf(&where, "%s:%u: @include \"%s\": %s", shown, inc.line,
		                        inc.name, path) < 0)
			where = NULL;
		free(inc.name);
		r = where == NULL ? file_fail(ld, shown, "out of memory") : 0;
		if (r == 0 && depth >= CONFIG_MAX_INCLUDE_DEPTH)
			r = file_fail(ld, where, "@include files nested more than %d deep (does a file "
			    "include itself?)", CONFIG_MAX_INCLUDE_DEPTH);
		if (r == 0 && (text_append(ld, copied, (size_t)(inc.begin - copied)) < 0 ||
		                  conf_file_read(ld, path, where, &j) < 0 ||
		                  conf_expand(ld, j, depth + 1) < 0))
			r = -1;
		/* A file's last line does not run on into its includer's. */
		if (r == 0 && ld->text_len > 0 && ld->text[ld->text_len - 1] != '\n' &&
		    text_append(ld, "\n", 1) < 0)
			r = -1;
		if (r == 0)
			r = span_push(ld, idx, inc.line);
		free(path);
		free(where);
		if (r < 0)
			return -1;
		copied = inc.end;
	}
	if (r < 0)
		return file_fail(ld, ld->path, "out of memory");
	if (idx > 0 && sc.open)
		return file_fail(ld, ld->files[idx].name, "ends inside a string or a /* comment */");
	return text_append(ld, copied, (size_t)(sc.p - copied));
}

/* Resolves a path relative to the configuration file's directory into out. */
static void
resolve_path(const struct loader *ld, const char *path, char **out)
{
	if (path[0] == '/' || asprintf(out, "%s/%s", ld->dir, path) < 0)
		*out = strdup(path);
}

/* Parses listen = ( { address; port; } ... ). */
static int
load_listens(struct loader *ld, struct proxy_config *cfg)
{
	config_setting_t *list;

	if (get_list(ld, config_root_setting(&ld->lc), "listen", &list) < 0)
		return -1;
	if (list == NULL || config_setting_length(list) == 0)
		return load_fail(ld, config_root_setting(&ld->lc), "listen",
		    "missing: at least one { address = \"::\"; port = 5684; } is needed");
	cfg->n_listens = (size_t)config_setting_length(list);
	cfg->listens = calloc(cfg->n_listens, sizeof *cfg->listens);
	if (cfg->listens == NULL)
		return load_fail(ld, list, NULL, "out of memory");
	for (size_t i = 0; i < cfg->n_listens; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct listen_conf *l = &cfg->listens[i];
		struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_PASSIVE,
			.ai_socktype = SOCK_DGRAM };
		struct addrinfo *ai;
		const char *addr;
		int err;

		if (check_keys(ld, g, listen_keys) < 0 ||
		    get_string(ld, g, "address", true, &addr) < 0 || get_port(ld, g, &l->port) < 0)
			return -1;
		err = getaddrinfo(addr, NULL, &hints, &ai);
		if (err != 0)
			return load_fail(ld, config_setting_get_member(g, "address"), NULL,
			    "\"%s\" is not an IPv4 or IPv6 address (%s)", addr, gai_strerror(err));
		memcpy(&l->addr, ai->ai_addr, ai->ai_addrlen);
		l->addrlen = ai->ai_addrlen;
		freeaddrinfo(ai);
		if (l->addr.ss_family == AF_INET)
			((struct sockaddr_in *)&l->addr)->sin_port = htons(l->port);
		else
			((struct sockaddr_in6 *)&l->addr)->sin6_port = htons(l->port);
		l->address = strdup(addr);
		for (size_t j = 0; j < i; j++)
			if (cfg->listens[j].addrlen == l->addrlen &&
			    memcmp(&cfg->listens[j].addr, &l->addr, l->addrlen) == 0)
				return load_fail(ld, g, NULL, "duplicate listener %s port %u", addr,
				    l->port);
	}
	return 0;
}

/* Parses a backend's optional sources = [ "addr", ... ] of the backend's address family. */
static int
load_sources(struct loader *ld, const config_setting_t *g, struct backend_conf *b)
{
	config_setting_t *list = config_setting_get_member(g, "sources");
	int n;

	if (list == NULL)
		return 0;
	n = config_setting_length(list);
	if (!config_setting_is_array(list) && !config_setting_is_list(list))
		return load_fail(ld, list, NULL, "must be an array of addresses [ \"...\", ... ]");
	if (n == 0 || n > CONFIG_MAX_SOURCES)
		return load_fail(ld, list, NULL, "must name 1 to %d source addresses",
		    CONFIG_MAX_SOURCES);
	b->sources = calloc((size_t)n, sizeof *b->sources);
	if (b->sources == NULL)
		return load_fail(ld, list, NULL, "out of memory");
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_PASSIVE,
			.ai_family = b->addr.ss_family, .ai_socktype = SOCK_DGRAM };
		struct addrinfo *ai;
		const char *addr;

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return load_fail(ld, e, NULL, "must be a string");
		addr = config_setting_get_string(e);
		if (getaddrinfo(addr, NULL, &hints, &ai) != 0)
			return load_fail(ld, e, NULL, "\"%s\" is not an %s address (backend "
			    "address %s is %s)", addr, b->addr.ss_family == AF_INET ? "IPv4" : "IPv6",
			    b->address, b->addr.ss_family == AF_INET ? "IPv4" : "IPv6");
		memcpy(&b->sources[i], ai->ai_addr, ai->ai_addrlen);
		freeaddrinfo(ai);
		b->n_sources++;
	}
	return 0;
}

/*
 * Warns when a backend name resolves to more than one address: the proxy
 * uses the first, in the resolver's order (localhost is ::1 first on a
 * standard Debian), and a backend that listens on another one is refused.
 */
static void
warn_several_addresses(const struct loader *ld, const config_setting_t *g, const char *name,
    const struct addrinfo *ai)
{
	char first[INET6_ADDRSTRLEN], other[INET6_ADDRSTRLEN], key[256];
	const char *file;
	const struct addrinfo *a;
	unsigned line;

	for (a = ai->ai_next; a != NULL; a = a->ai_next)
		if (a->ai_addrlen != ai->ai_addrlen || memcmp(a->ai_addr, ai->ai_addr, a->ai_addrlen) != 0)
			break;
	if (a == NULL || getnameinfo(ai->ai_addr, ai->ai_addrlen, first, sizeof first, NULL, 0,
	                     NI_NUMERICHOST) != 0 ||
	    getnameinfo(a->ai_addr, a->ai_addrlen, other, sizeof other, NULL, 0, NI_NUMERICHOST) != 0)
		return;
	setting_path(g, key, sizeof key);
	setting_where(ld, g, &file, &line);
	log_warnx("%s:%u: %s.address: \"%s\" has several addresses (%s, %s, ...): the proxy "
	          "uses %s, the first in the resolver's order; write the address the backend "
	          "listens on to choose another", file != NULL ? file : ld->path,
	    line, key, name, first, other, first);
}

/* Parses backends = ( { name; address; port; sources; } ... ), resolving names. */
static int
load_backends(struct loader *ld, struct proxy_config *cfg)
{
	config_setting_t *list;

	if (get_list(ld, config_root_setting(&ld->lc), "backends", &list) < 0)
		return -1;
	if (list == NULL || config_setting_length(list) == 0)
		return load_fail(ld, config_root_setting(&ld->lc), "backends",
		    "missing: at least one { name = \"default\"; address = \"127.0.0.1\"; "
		    "port = 5683; } is needed");
	cfg->n_backends = (size_t)config_setting_length(list);
	cfg->backends = calloc(cfg->n_backends, sizeof *cfg->backends);
	if (cfg->backends == NULL)
		return load_fail(ld, list, NULL, "out of memory");
	for (size_t i = 0; i < cfg->n_backends; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct backend_conf *b = &cfg->backends[i];
		struct addrinfo hints = { .ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_DGRAM };
		struct addrinfo *ai;
		const char *name, *addr;
		char port[8];
		int err;

		if (check_keys(ld, g, backend_keys) < 0 ||
		    get_string(ld, g, "name", true, &name) < 0 ||
		    get_string(ld, g, "address", true, &addr) < 0 || get_port(ld, g, &b->port) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->backends[j].name, name) == 0)
				return load_fail(ld, config_setting_get_member(g, "name"), NULL,
				    "duplicate backend name \"%s\"", name);
		snprintf(port, sizeof port, "%u", b->port);
		err = getaddrinfo(addr, port, &hints, &ai);
		if (err != 0)
			return load_fail(ld, config_setting_get_member(g, "address"), NULL,
			    "cannot resolve \"%s\": %s", addr, gai_strerror(err));
		memcpy(&b->addr, ai->ai_addr, ai->ai_addrlen);
		b->addrlen = ai->ai_addrlen;
		warn_several_addresses(ld, g, addr, ai);
		freeaddrinfo(ai);
		b->name = strdup(name);
		b->address = strdup(addr);
		if (load_sources(ld, g, b) < 0)
			return -1;
	}
	return 0;
}

/* Reads an optional true/false member; *out keeps its default when absent. */
static int
get_route_bool(struct loader *ld, const config_setting_t *group, const char *name, bool *out)
{
	config_setting_t *s = config_setting_get_member(group, name);

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return load_fail(ld, s, NULL, "must be true or false");
	*out = config_setting_get_bool(s);
	return 0;
}

/*
 * Parses routes = ( { path_prefix; identity; uri_host; anonymous; forward_proxy;
 * backend; } ... ).
 */
static int
load_routes(struct loader *ld, struct proxy_config *cfg)
{
	config_setting_t *list, *diag, *root = config_root_setting(&ld->lc);
	uint32_t opt = 65000, timeout = 5;

	if (get_uint(ld, root, "identity_option", 0, 65535, &opt) < 0 ||
	    get_uint(ld, root, "backend_timeout", 1, 3600, &timeout) < 0)
		return -1;
	/* Options the proxy itself reads or rewrites cannot carry the identity. */
	if (opt == 3 || opt == 7 || opt == 11 || opt == 15 || opt == 35 || opt == 39 || opt == 6 ||
	    opt == 23 || opt == 27)
		return load_fail(ld, config_setting_get_member(root, "identity_option"), NULL,
		    "%u is a CoAP option the proxy routes or relays by; pick an unused elective "
		    "option such as 65000", opt);
	cfg->identity_option = (uint16_t)opt;
	cfg->backend_timeout = timeout;
	diag = config_setting_get_member(root, "diagnostic_payloads");
	if (diag != NULL) {
		if (config_setting_type(diag) != CONFIG_TYPE_BOOL)
			return load_fail(ld, diag, NULL, "must be true or false");
		cfg->diagnostic_payloads = config_setting_get_bool(diag);
	}
	if (get_list(ld, root, "routes", &list) < 0)
		return -1;
	if (list == NULL) {
		/* No routes: every authenticated device's requests go to the first backend. */
		cfg->routes = calloc(1, sizeof *cfg->routes);
		if (cfg->routes == NULL)
			return load_fail(ld, root, "routes", "out of memory");
		cfg->n_routes = 1;
		return 0;
	}
	cfg->n_routes = (size_t)config_setting_length(list);
	cfg->routes = calloc(cfg->n_routes ? cfg->n_routes : 1, sizeof *cfg->routes);
	if (cfg->routes == NULL)
		return load_fail(ld, list, NULL, "out of memory");
	for (size_t i = 0; i < cfg->n_routes; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct route *r = &cfg->routes[i];
		const char *prefix, *identity, *host, *backend;

		r->backend = -1;
		if (check_keys(ld, g, route_keys) < 0 ||
		    get_string(ld, g, "path_prefix", false, &prefix) < 0 ||
		    get_string(ld, g, "identity", false, &identity) < 0 ||
		    get_string(ld, g, "uri_host", false, &host) < 0 ||
		    get_route_bool(ld, g, "anonymous", &r->anonymous) < 0 ||
		    get_route_bool(ld, g, "forward_proxy", &r->forward_proxy) < 0 ||
		    get_string(ld, g, "backend", true, &backend) < 0)
			return -1;
		if (identity != NULL && r->anonymous)
			return load_fail(ld, config_setting_get_member(g, "identity"), NULL,
			    "cannot go with anonymous = true: an anonymous device has no identity "
			    "to match");
		for (size_t j = 0; j < i; j++) {
			if (!route_shadows(&cfg->routes[j], r))
				continue;
			if (!r->anonymous)
				return load_fail(ld, g, NULL,
				    "comes after the default route (the one with no match keys) and "
				    "could never match");
			return load_fail(ld, g, NULL,
			    "comes after routes[%zu] (anonymous = true and no other match key), which "
			    "takes every anonymous request, so it could never match", j);
		}
		if (prefix != NULL && prefix[0] != '/')
			return load_fail(ld, config_setting_get_member(g, "path_prefix"), NULL,
			    "must start with '/'");
		for (size_t b = 0; b < cfg->n_backends; b++)
			if (strcmp(cfg->backends[b].name, backend) == 0)
				r->backend = (int)b;
		if (r->backend < 0)
			return load_fail(ld, config_setting_get_member(g, "backend"), NULL,
			    "no backend is named \"%s\"", backend);
		r->path_prefix = prefix ? strdup(prefix) : NULL;
		r->identity = identity ? strdup(identity) : NULL;
		r->uri_host = host ? strdup(host) : NULL;
	}
	return 0;
}

int
config_backend_for_target(const struct proxy_config *cfg, const char *host, uint16_t port)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_DGRAM };
	struct addrinfo *ai = NULL;
	int found = -1;

	if (getaddrinfo(host, NULL, &hints, &ai) != 0)
		ai = NULL;
	for (size_t i = 0; i < cfg->n_backends && found < 0; i++) {
		const struct backend_conf *b = &cfg->backends[i];

		if (b->port != port)
			continue;
		if (strcasecmp(b->address, host) == 0)
			found = (int)i;
		else if (ai != NULL && ai->ai_family == b->addr.ss_family) {
			const char *x = (const char *)ai->ai_addr, *y = (const char *)&b->addr;

			if (ai->ai_family == AF_INET &&
			    memcmp(x + offsetof(struct sockaddr_in, sin_addr),
			        y + offsetof(struct sockaddr_in, sin_addr), 4) == 0)
				found = (int)i;
			else if (ai->ai_family == AF_INET6 &&
			         memcmp(x + offsetof(struct sockaddr_in6, sin6_addr),
			             y + offsetof(struct sockaddr_in6, sin6_addr), 16) == 0)
				found = (int)i;
		}
	}
	if (ai != NULL)
		freeaddrinfo(ai);
	return found;
}

/* Orders PSK entries by length, then bytes, for binary search. */
static int
psk_cmp(const void *a, const void *b)
{
	const struct psk_conf *x = a, *y = b;

	if (x->identity_len != y->identity_len)
		return x->identity_len < y->identity_len ? -1 : 1;
	return memcmp(x->identity, y->identity, x->identity_len);
}

static int check_not_world_writable(struct loader *ld, const config_setting_t *s,
    const char *path, const struct stat *st);
static int check_regular_file(struct loader *ld, const config_setting_t *s, const char *path,
    bool secret);

/*
 * Appends the entries of list, psk = ( { identity; key | key_hex; } ... ),
 * to cfg->psks, noting where each was written (in ld->origins).
 */
static int
psk_list_add(struct loader *ld, struct proxy_config *cfg, const config_setting_t *list)
{
	size_t base = cfg->n_psks, count = (size_t)config_setting_length(list);

	if (base + count > ld->psk_cap) {
		size_t cap = ld->psk_cap ? ld->psk_cap : 16;
		struct psk_conf *np;
		struct psk_origin *no;

		while (cap < base + count)
			cap *= 2;
		np = reallocarray(cfg->psks, cap, sizeof *np);
		if (np == NULL)
			return load_fail(ld, list, NULL, "out of memory");
		cfg->psks = np;
		no = reallocarray(ld->origins, cap, sizeof *no);
		if (no == NULL)
			return load_fail(ld, list, NULL, "out of memory");
		ld->origins = no;
		ld->psk_cap = cap;
	}
	memset(cfg->psks + base, 0, count * sizeof *cfg->psks);
	cfg->n_psks = base + count; /* zeroed entries are safe to free */
	for (size_t i = 0; i < count; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct psk_conf *p = &cfg->psks[base + i];
		struct psk_origin *o = &ld->origins[base + i];
		const char *id, *key, *hex;

		if (check_keys(ld, g, psk_keys) < 0 ||
		    get_string(ld, g, "identity", true, &id) < 0 ||
		    get_string(ld, g, "key", false, &key) < 0 ||
		    get_string(ld, g, "key_hex", false, &hex) < 0)
			return -1;
		if (strlen(id) > CONFIG_PSK_IDENTITY_MAX)
			return load_fail(ld, config_setting_get_member(g, "identity"), NULL,
			    "longer than %d bytes", CONFIG_PSK_IDENTITY_MAX);
		if (key != NULL && hex != NULL)
			return load_fail(ld, g, NULL,
			    "has both key (text bytes) and key_hex (hex bytes): keep one");
		if (key == NULL && hex == NULL)
			return load_fail(ld, g, NULL,
			    "needs key = \"text\" (the key as text bytes) or key_hex = \"hex\"");
		if (key != NULL) {
			size_t n = strlen(key);

			if (n == 0)
				return load_fail(ld, config_setting_get_member(g, "key"), NULL,
				    "must not be empty");
			if (n > CONFIG_PSK_KEY_MAX)
				return load_fail(ld, config_setting_get_member(g, "key"), NULL,
				    "%zu bytes is longer than mbedTLS's PSK limit of %d bytes", n,
				    CONFIG_PSK_KEY_MAX);
			memcpy(p->key, key, n);
			p->key_len = n;
		} else {
			size_t n = strlen(hex);
			int r;

			if (n == 0)
				return load_fail(ld, config_setting_get_member(g, "key_hex"), NULL,
				    "must not be empty");
			if (n / 2 > CONFIG_PSK_KEY_MAX)
				return load_fail(ld, config_setting_get_member(g, "key_hex"), NULL,
				    "%zu bytes is longer than mbedTLS's PSK limit of %d bytes",
				    n / 2, CONFIG_PSK_KEY_MAX);
			r = config_hex_decode(hex, p->key, sizeof p->key);
			if (r < 0)
				return load_fail(ld, config_setting_get_member(g, "key_hex"), NULL,
				    "not valid hex: an even number of 0-9 a-f digits is needed");
			p->key_len = (size_t)r;
		}
		p->identity = strdup(id);
		if (p->identity == NULL)
			return load_fail(ld, g, NULL, "out of memory");
		p->identity_len = strlen(id);
		o->identity = p->identity;
		o->identity_len = p->identity_len;
		o->index = (unsigned)i;
		o->seq = base + i;
		setting_where(ld, config_setting_get_member(g, "identity"), &o->file, &o->line);
		if (o->file == NULL)
			o->file = ld->path;
	}
	return 0;
}

/* Orders PSK origins by identity, then by the order they were read in. */
static int
origin_cmp(const void *a, const void *b)
{
	const struct psk_origin *x = a, *y = b;
	int c;

	if (x->identity_len != y->identity_len)
		return x->identity_len < y->identity_len ? -1 : 1;
	c = memcmp(x->identity, y->identity, x->identity_len);
	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Refuses an identity given twice, naming both places (the first duplicate as read). */
static int
psk_check_duplicates(struct loader *ld, const struct proxy_config *cfg)
{
	struct psk_origin *o = ld->origins;
	size_t dup = 0;

	if (cfg->n_psks < 2)
		return 0;
	qsort(o, cfg->n_psks, sizeof *o, origin_cmp);
	for (size_t i = 1; i < cfg->n_psks; i++)
		if (o[i].identity_len == o[i - 1].identity_len &&
		    memcmp(o[i].identity, o[i - 1].identity, o[i].identity_len) == 0 &&
		    (dup == 0 || o[i].seq < o[dup].seq))
			dup = i;
	if (dup == 0)
		return 0;
	if (ld->cause == NULL &&
	    asprintf(&ld->cause, "%s:%u: psk[%u].identity: duplicate identity \"%s\", first at %s:%u",
	        o[dup].file, o[dup].line, o[dup].index, o[dup].identity, o[dup - 1].file,
	        o[dup - 1].line) < 0)
		ld->cause = NULL;
	return -1;
}

/* Tells whether a psk_dir entry is read: NAME.conf, not hidden (no leading dot). */
static bool
psk_file_wanted(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".conf") == 0;
}

/* Orders file names. */
static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Reads one psk_dir file (s: the psk_dir setting) on its own: it may hold
 * psk = ( ... ) only, and no @include. *total counts the bytes of all of them.
 */
static int
psk_file_load(struct loader *ld, struct proxy_config *cfg, const config_setting_t *s,
    const char *path, size_t *total)
{
	static const char *const members[] = { "psk", NULL };
	struct conf_scan sc = { .line = 1, .line_start = true };
	size_t len = 0, before = cfg->n_psks, left = CONFIG_PSK_DIR_MAX_BYTES - *total;
	config_setting_t *list;
	struct conf_include inc;
	char budget[160], *text = NULL;
	const char *who;
	struct stat st;
	config_t pc;
	int r;

	if (check_regular_file(ld, s, path, false) < 0)
		return -1;
	snprintf(budget, sizeof budget, "a psk_dir file may have %d bytes (1 MiB), all of them "
	    "together %d bytes (16 MiB)", CONFIG_MAX_BYTES, CONFIG_PSK_DIR_MAX_BYTES);
	if (file_read_text(ld, path, path, left < CONFIG_MAX_BYTES ? left : CONFIG_MAX_BYTES,
	        budget, &text, &len, &st) < 0)
		return -1;
	*total += len;
	/* libconfig would open an @include itself, relative to the working directory. */
	sc.p = sc.bol = text;
	r = conf_scan_include(&sc, &inc);
	if (r != 0) {
		char at[PATH_MAX + 32];

		if (r > 0)
			free(inc.name);
		mbedtls_platform_zeroize(text, len);
		free(text);
		snprintf(at, sizeof at, "%s:%u", path, r > 0 ? inc.line : 0);
		return file_fail(ld, at, r > 0 ? "@include is not allowed in a PSK file" :
		                                 "out of memory");
	}
	config_init(&pc);
	ld->cur_file = path;
	r = 0;
	if (!config_read_string(&pc, text)) {
		if (ld->cause == NULL && asprintf(&ld->cause, "%s:%d: (syntax): %s", path,
		                             config_error_line(&pc), config_error_text(&pc)) < 0)
			ld->cause = NULL;
		r = -1;
	} else if (check_keys(ld, config_root_setting(&pc), members) < 0 ||
	           get_list(ld, config_root_setting(&pc), "psk", &list) < 0 ||
	           (list != NULL && psk_list_add(ld, cfg, list) < 0))
		r = -1;
	ld->cur_file = NULL;
	config_destroy(&pc);
	mbedtls_platform_zeroize(text, len);
	free(text);
	if (r == 0 && cfg->n_psks > before && (who = readable_by_others(&st)) != NULL)
		log_warnx("%s: holds PSK keys and is %s (mode %04o): chmod 0600, or 0640 with the "
		          "daemon's group", path, who, (unsigned)(st.st_mode & 07777));
	return r;
}

/* Reads the NAME.conf files of directory dir (the psk_dir setting s) in name order. */
static int
load_psk_dir(struct loader *ld, struct proxy_config *cfg, const config_setting_t *s,
    const char *dir)
{
	size_t cap = 0, total = 0;
	struct dirent *e;
	struct stat st;
	DIR *d;

	if (stat(dir, &st) != 0)
		return load_fail(ld, s, NULL, "cannot read %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return load_fail(ld, s, NULL, "%s is not a directory", dir);
	if (check_not_world_writable(ld, s, dir, &st) < 0)
		return -1;
	d = opendir(dir);
	if (d == NULL)
		return load_fail(ld, s, NULL, "cannot read %s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (!psk_file_wanted(e->d_name))
			continue;
		if (ld->n_psk_files == CONFIG_PSK_DIR_MAX_FILES) {
			closedir(d);
			return load_fail(ld, s, NULL, "%s holds more than %d *.conf files", dir,
			    CONFIG_PSK_DIR_MAX_FILES);
		}
		if (ld->n_psk_files == cap) {
			char **n = reallocarray(ld->psk_files, cap ? cap * 2 : 16, sizeof *n);

			if (n == NULL) {
				closedir(d);
				return load_fail(ld, s, NULL, "out of memory");
			}
			ld->psk_files = n;
			cap = cap ? cap * 2 : 16;
		}
		if (asprintf(&ld->psk_files[ld->n_psk_files], "%s/%s", dir, e->d_name) < 0) {
			closedir(d);
			return load_fail(ld, s, NULL, "out of memory");
		}
		ld->n_psk_files++;
	}
	closedir(d);
	qsort(ld->psk_files, ld->n_psk_files, sizeof *ld->psk_files, name_cmp);
	for (size_t i = 0; i < ld->n_psk_files; i++)
		if (psk_file_load(ld, cfg, s, ld->psk_files[i], &total) < 0)
			return -1;
	return 0;
}

/* Parses psk = ( { identity; key | key_hex; } ... ) and the files of psk_dir. */
static int
load_psks(struct loader *ld, struct proxy_config *cfg)
{
	config_setting_t *list, *root = config_root_setting(&ld->lc);
	const char *dir;
	char *path = NULL;
	int r;

	if (get_list(ld, root, "psk", &list) < 0 ||
	    get_string(ld, root, "psk_dir", false, &dir) < 0)
		return -1;
	if (list != NULL && psk_list_add(ld, cfg, list) < 0)
		return -1;
	if (dir != NULL) {
		if (dir[0] == '\0')
			return load_fail(ld, root, "psk_dir", "must not be empty");
		resolve_path(ld, dir, &path);
		if (path == NULL)
			return load_fail(ld, root, "psk_dir", "out of memory");
		r = load_psk_dir(ld, cfg, config_setting_get_member(root, "psk_dir"), path);
		free(path);
		if (r < 0)
			return -1;
	}
	if (psk_check_duplicates(ld, cfg) < 0)
		return -1;
	if (cfg->n_psks > 0)
		qsort(cfg->psks, cfg->n_psks, sizeof *cfg->psks, psk_cmp);
	return 0;
}

const struct psk_conf *
config_psk_find(const struct proxy_config *cfg, const unsigned char *id, size_t id_len)
{
	struct psk_conf key = { .identity = (char *)(uintptr_t)id, .identity_len = id_len };

	if (cfg->n_psks == 0)
		return NULL;
	return bsearch(&key, cfg->psks, cfg->n_psks, sizeof *cfg->psks, psk_cmp);
}

/* Formats an mbedTLS error code in words. */
static const char *
tls_strerror(int err, char *buf, size_t len)
{
	mbedtls_strerror(err, buf, len);
	return buf;
}

/* Refuses a file or directory that every user may write (as OpenSSH does with keys). */
static int
check_not_world_writable(struct loader *ld, const config_setting_t *s, const char *path,
    const struct stat *st)
{
	if (st->st_mode & S_IWOTH)
		return load_fail(ld, s, NULL, "%s is world-writable (mode %04o): anyone could replace "
		    "it; chmod o-w %s", path, (unsigned)(st->st_mode & 07777), path);
	return 0;
}

/*
 * Checks that path is a regular file before mbedTLS reads it (it would take a
 * directory's size from ftell, LLONG_MAX on ext4, and try to allocate that),
 * and that not everyone may write it; a secret (private key) that others may
 * read is warned about.
 */
static int
check_regular_file(struct loader *ld, const config_setting_t *s, const char *path, bool secret)
{
	struct stat st;
	const char *who;

	if (stat(path, &st) != 0)
		return load_fail(ld, s, NULL, "cannot read %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return load_fail(ld, s, NULL, "%s is %s, not a regular file", path,
		    file_kind(st.st_mode));
	if (check_not_world_writable(ld, s, path, &st) < 0)
		return -1;
	if (secret && (who = readable_by_others(&st)) != NULL)
		log_warnx("%s: the private key is %s (mode %04o): chmod 0600, or 0640 with the "
		          "daemon's group", path, who, (unsigned)(st.st_mode & 07777));
	return 0;
}

/* Refuses a CA directory holding a certificate file that every user may write. */
static int
check_ca_dir(struct loader *ld, const config_setting_t *s, const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int r = 0;

	if (d == NULL)
		return 0; /* mbedTLS says why it cannot read it */
	while (r == 0 && (e = readdir(d)) != NULL) {
		char path[PATH_MAX];
		struct stat st;

		if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
			continue;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			r = check_not_world_writable(ld, s, path, &st);
	}
	closedir(d);
	return r;
}

/* Seconds from now until t (negative: t has passed). */
static long long
x509_seconds_left(const mbedtls_x509_time *t)
{
	struct tm tm = { .tm_year = t->year - 1900, .tm_mon = t->mon - 1, .tm_mday = t->day,
		.tm_hour = t->hour, .tm_min = t->min, .tm_sec = t->sec };

	return (long long)timegm(&tm) - (long long)time(NULL);
}

/*
 * Warns about each certificate of chain (the server's, or the client_ca
 * certificates) that ends within days (0: never), and about one that has
 * ended.
 */
static void
warn_expiring(const char *path, bool server, const mbedtls_x509_crt *chain, uint32_t days)
{
	const char *what = server ? "server certificate" : "client_ca certificate";

	for (const mbedtls_x509_crt *c = chain; c != NULL && c->raw.len > 0; c = c->next) {
		long long left = x509_seconds_left(&c->valid_to);
		const char *role = !server ? "" : c == chain ? " (leaf)" : " (chain)";
		char name[256];

		if (left >= (long long)days * 86400 && left >= 0)
			continue;
		if (mbedtls_x509_dn_gets(name, sizeof name, &c->subject) < 0)
			snprintf(name, sizeof name, "(subject not printable)");
		if (left < 0)
			log_warnx("%s: the %s%s %s expired on %04d-%02d-%02d %02d:%02d:%02d UTC: "
			          "certificates it signed are refused", path, what, role, name,
			    c->valid_to.year, c->valid_to.mon, c->valid_to.day, c->valid_to.hour,
			    c->valid_to.min, c->valid_to.sec);
		else
			log_warnx("%s: the %s%s %s expires on %04d-%02d-%02d %02d:%02d:%02d UTC, in "
			          "%lld %s (x509.expiry_warning = %u days): renew it", path, what, role,
			    name, c->valid_to.year, c->valid_to.mon, c->valid_to.day, c->valid_to.hour,
			    c->valid_to.min, c->valid_to.sec,
			    left < 86400 ? (left + 1800) / 3600 : (left + 43200) / 86400,
			    left < 86400 ? "hours" : "days", days);
	}
}

/*
 * Warns about a CRL whose next update has passed (mbedTLS then refuses every
 * client certificate), or comes within a day (or days, when fewer; 0: never).
 */
static void
warn_crl_due(const char *path, const mbedtls_x509_crl *crl, uint32_t days)
{
	for (const mbedtls_x509_crl *c = crl; c != NULL && c->raw.len > 0; c = c->next) {
		const mbedtls_x509_time *t = &c->next_update;
		long long left;

		if (t->year == 0) /* no nextUpdate in it */
			continue;
		left = x509_seconds_left(t);
		if (left < 0)
			log_warnx("%s: the CRL's next update was due on %04d-%02d-%02d %02d:%02d:%02d "
			          "UTC: mbedTLS refuses every client certificate checked against it "
			          "(CRL expired); install a new CRL", path, t->year, t->mon, t->day,
			    t->hour, t->min, t->sec);
		else if (left < 86400 && left < (long long)days * 86400)
			log_warnx("%s: the CRL's next update is due on %04d-%02d-%02d %02d:%02d:%02d "
			          "UTC, in %lld hours: after that mbedTLS refuses every client "
			          "certificate checked against it; install a new CRL before", path,
			    t->year, t->mon, t->day, t->hour, t->min, t->sec, (left + 1800) / 3600);
	}
}

/* Parses x509 = { ... }: certificate chain, key, CAs, CRL, client policy. */
static int
load_x509(struct loader *ld, struct proxy_config *cfg)
{
	config_setting_t *g, *s;
	struct x509_conf *x;
	const char *cert, *key, *ca, *crl, *verify;
	uint32_t warn_days = 30;
	char err[160];
	struct stat st;
	int r;

	if (get_group(ld, config_root_setting(&ld->lc), "x509", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	if (check_keys(ld, g, x509_keys) < 0 || get_string(ld, g, "certificate", true, &cert) < 0 ||
	    get_string(ld, g, "private_key", true, &key) < 0 ||
	    get_string(ld, g, "client_ca", false, &ca) < 0 ||
	    get_string(ld, g, "crl", false, &crl) < 0 ||
	    get_string(ld, g, "verify_client", false, &verify) < 0 ||
	    get_uint(ld, g, "expiry_warning", 0, 3650, &warn_days) < 0)
		return -1;
	x = cfg->x509 = calloc(1, sizeof *x);
	if (x == NULL)
		return load_fail(ld, g, NULL, "out of memory");
	mbedtls_x509_crt_init(&x->certificate);
	mbedtls_pk_init(&x->private_key);
	mbedtls_x509_crt_init(&x->client_ca);
	mbedtls_x509_crl_init(&x->crl);

	x->verify_client = VERIFY_CLIENT_REQUIRED;
	if (verify != NULL) {
		if (strcmp(verify, "required") == 0)
			x->verify_client = VERIFY_CLIENT_REQUIRED;
		else if (strcmp(verify, "optional") == 0)
			x->verify_client = VERIFY_CLIENT_OPTIONAL;
		else if (strcmp(verify, "none") == 0)
			x->verify_client = VERIFY_CLIENT_NONE;
		else
			return load_fail(ld, config_setting_get_member(g, "verify_client"), NULL,
			    "\"%s\" is not one of required, optional, none", verify);
	}

	resolve_path(ld, cert, &x->certificate_path);
	s = config_setting_get_member(g, "certificate");
	if (check_regular_file(ld, s, x->certificate_path, false) < 0)
		return -1;
	r = mbedtls_x509_crt_parse_file(&x->certificate, x->certificate_path);
	if (r != 0)
		return load_fail(ld, s, NULL, "cannot load %s: %s", x->certificate_path,
		    r > 0 ? "some certificates in it do not parse" : tls_strerror(r, err, sizeof err));
	for (const mbedtls_x509_crt *c = &x->certificate; c != NULL; c = c->next) {
		if (mbedtls_x509_time_is_past(&c->valid_to))
			return load_fail(ld, s, NULL, "%s: certificate %s expired on %04d-%02d-%02d",
			    x->certificate_path, c == &x->certificate ? "(leaf)" : "(chain)",
			    c->valid_to.year, c->valid_to.mon, c->valid_to.day);
		x->certificate_msg_len += 3 + c->raw.len;
	}
	x->certificate_msg_len += 12 + 3; /* DTLS handshake header, list length */
	warn_expiring(x->certificate_path, true, &x->certificate, warn_days);

	resolve_path(ld, key, &x->private_key_path);
	s = config_setting_get_member(g, "private_key");
	if (check_regular_file(ld, s, x->private_key_path, true) < 0)
		return -1;
	r = dtls_key_parse_file(&x->private_key, x->private_key_path);
	if (r != 0)
		return load_fail(ld, s, NULL, "cannot load %s: %s", x->private_key_path,
		    tls_strerror(r, err, sizeof err));
	if (!dtls_key_matches(&x->certificate, &x->private_key))
		return load_fail(ld, s, NULL, "%s does not match the certificate in %s",
		    x->private_key_path, x->certificate_path);
	if (!mbedtls_pk_can_do(&x->private_key, MBEDTLS_PK_ECDSA))
		log_warnx("%s: the server key is not an EC key: ECDHE-ECDSA cipher suites (what "
		          "Thread devices use) cannot work with it", x->private_key_path);
	else
		dtls_key_prepare(&x->private_key);

	if (ca != NULL) {
		resolve_path(ld, ca, &x->client_ca_path);
		s = config_setting_get_member(g, "client_ca");
		if (stat(x->client_ca_path, &st) != 0)
			return load_fail(ld, s, NULL, "cannot read %s: %s", x->client_ca_path,
			    strerror(errno));
		if (check_not_world_writable(ld, s, x->client_ca_path, &st) < 0 ||
		    (S_ISDIR(st.st_mode) && check_ca_dir(ld, s, x->client_ca_path) < 0))
			return -1;
		if (S_ISDIR(st.st_mode))
			r = mbedtls_x509_crt_parse_path(&x->client_ca, x->client_ca_path);
		else if (S_ISREG(st.st_mode))
			r = mbedtls_x509_crt_parse_file(&x->client_ca, x->client_ca_path);
		else
			return load_fail(ld, s, NULL, "%s is neither a file nor a directory",
			    x->client_ca_path);
		if (r < 0 || x->client_ca.raw.len == 0)
			return load_fail(ld, s, NULL, "cannot load CA certificates from %s: %s",
			    x->client_ca_path,
			    r < 0 ? tls_strerror(r, err, sizeof err) : "no certificate in it");
		if (r > 0)
			log_warnx("%s: %d certificates could not be parsed and are ignored",
			    x->client_ca_path, r);
		warn_expiring(x->client_ca_path, false, &x->client_ca, warn_days);
		x->has_client_ca = true;
	} else if (x->verify_client != VERIFY_CLIENT_NONE)
		return load_fail(ld, g, "client_ca",
		    "missing: needed to verify client certificates (or set verify_client = "
		    "\"none\")");

	if (crl != NULL) {
		resolve_path(ld, crl, &x->crl_path);
		s = config_setting_get_member(g, "crl");
		if (check_regular_file(ld, s, x->crl_path, false) < 0)
			return -1;
		r = mbedtls_x509_crl_parse_file(&x->crl, x->crl_path);
		if (r != 0)
			return load_fail(ld, s, NULL, "cannot load CRL %s: %s", x->crl_path,
			    tls_strerror(r, err, sizeof err));
		warn_crl_due(x->crl_path, &x->crl, warn_days);
		x->has_crl = true;
	}
	return 0;
}

/* Chooses the default cipher suites for the credentials that are configured. */
static void
default_suites(struct proxy_config *cfg)
{
	static const int both[] = { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8,
		MBEDTLS_TLS_PSK_WITH_AES_128_CCM_8, MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256, 0 };
	static const int psk[] = { MBEDTLS_TLS_PSK_WITH_AES_128_CCM_8,
		MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256, 0 };
	static const int x509[] = { MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8,
		MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 0 };
	const int *src = cfg->x509 == NULL ? psk : cfg->n_psks == 0 ? x509 : both;
	size_t i = 0;

	for (; src[i] != 0; i++)
		cfg->ciphersuites[i] = src[i];
	cfg->ciphersuites[i] = 0;
	cfg->ciphersuites_default = true;
}

/*
 * Parses the session resumption keys of dtls = { ... }: session_tickets,
 * ticket_lifetime, ticket_key_file (read here: hex or raw bytes, at least 32
 * bytes of key, kept as its SHA-256) and session_cache.
 */
static int
load_dtls_resumption(struct loader *ld, const config_setting_t *g, struct proxy_config *cfg)
{
	unsigned char raw[4096], key[2048];
	const char *path;
	config_setting_t *s;
	size_t n = 0, k = 0, hex = 0;
	ssize_t r;
	int fd;

	if (get_route_bool(ld, g, "session_tickets", &cfg->session_tickets) < 0 ||
	    get_uint(ld, g, "ticket_lifetime", 60, 604800, &cfg->ticket_lifetime) < 0 ||
	    get_uint(ld, g, "session_cache", 0, 1000000, &cfg->session_cache) < 0 ||
	    get_string(ld, g, "ticket_key_file", false, &path) < 0)
		return -1;
	if (path == NULL)
		return 0;
	s = config_setting_get_member(g, "ticket_key_file");
	resolve_path(ld, path, &cfg->ticket_key_file);
	if (cfg->ticket_key_file == NULL)
		return load_fail(ld, s, NULL, "out of memory");
	if (check_regular_file(ld, s, cfg->ticket_key_file, true) < 0)
		return -1;
	if ((fd = open(cfg->ticket_key_file, O_RDONLY | O_CLOEXEC)) < 0)
		return load_fail(ld, s, NULL, "cannot read %s: %s", cfg->ticket_key_file,
		    strerror(errno));
	while (n < sizeof raw && (r = read(fd, raw + n, sizeof raw - n)) > 0)
		n += (size_t)r;
	close(fd);
	/* Hex (whitespace ignored) when every byte is a hex digit or space; else binary. */
	for (size_t i = 0; i < n; i++)
		if (isxdigit(raw[i]))
			hex++;
		else if (!isspace(raw[i]))
			hex = SIZE_MAX / 2;
	if (hex < SIZE_MAX / 2) {
		size_t j = 0;
		int d;

		for (size_t i = 0; i < n; i++)
			if (!isspace(raw[i]))
				raw[j++] = raw[i];
		raw[j < sizeof raw ? j : sizeof raw - 1] = '\0';
		d = config_hex_decode((const char *)raw, key, sizeof key);
		k = d > 0 ? (size_t)d : 0;
	} else {
		k = n < sizeof key ? n : sizeof key;
		memcpy(key, raw, k);
	}
	mbedtls_platform_zeroize(raw, sizeof raw);
	if (n >= sizeof raw || k < 32) {
		mbedtls_platform_zeroize(key, sizeof key);
		return load_fail(ld, s, NULL, "%s must hold 32 to 2048 bytes of key, binary or hex "
		    "(e.g. made by: head -c 48 /dev/urandom > FILE)", cfg->ticket_key_file);
	}
	r = mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, k, cfg->ticket_secret);
	mbedtls_platform_zeroize(key, sizeof key);
	if (r != 0)
		return load_fail(ld, s, NULL, "cannot hash the ticket key");
	cfg->has_ticket_secret = true;
	return 0;
}

/* Parses dtls = { ... }. */
static int
load_dtls(struct loader *ld, struct proxy_config *cfg)
{
	config_setting_t *g, *suites;
	uint32_t v;

	if (get_group(ld, config_root_setting(&ld->lc), "dtls", &g) < 0)
		return -1;
	default_suites(cfg);
	if (g == NULL)
		return 0;
	if (check_keys(ld, g, dtls_keys) < 0 ||
	    get_uint(ld, g, "handshake_timeout_min", 100, 600000, &cfg->handshake_timeout_min) < 0 ||
	    get_uint(ld, g, "handshake_timeout_max", 100, 3600000, &cfg->handshake_timeout_max) < 0 ||
	    get_uint(ld, g, "badmac_limit", 0, 1000000, &cfg->badmac_limit) < 0 ||
	    get_uint(ld, g, "max_handshake_message", 256, 65535, &cfg->max_handshake_message) < 0)
		return -1;
	v = cfg->mtu;
	if (get_uint(ld, g, "mtu", 256, 16384, &v) < 0)
		return -1;
	cfg->mtu = (uint16_t)v;
	if (get_uint(ld, g, "cid_length", DTLS_CID_MIN, DTLS_CID_MAX, &cfg->cid_length) < 0 ||
	    get_route_bool(ld, g, "connection_id", &cfg->connection_id) < 0)
		return -1;
	if (load_dtls_resumption(ld, g, cfg) < 0)
		return -1;
	if (cfg->connection_id && !dtls_cid_supported())
		return load_fail(ld, config_setting_get_member(g, "connection_id"), NULL,
		    "this build's mbedTLS (%s) has no RFC 9146 Connection IDs "
		    "(MBEDTLS_SSL_DTLS_CONNECTION_ID, in mbedTLS 3.x); remove the key or set it "
		    "to false", MBEDTLS_VERSION_STRING);
	if (cfg->handshake_timeout_max < cfg->handshake_timeout_min)
		return load_fail(ld, g, "handshake_timeout_max",
		    "%u ms is less than handshake_timeout_min (%u ms)", cfg->handshake_timeout_max,
		    cfg->handshake_timeout_min);

	suites = config_setting_get_member(g, "ciphersuites");
	if (suites != NULL) {
		int n = config_setting_length(suites);

		if (!config_setting_is_array(suites) && !config_setting_is_list(suites))
			return load_fail(ld, suites, NULL,
			    "must be an array of mbedTLS suite names [ \"...\", ... ]");
		if (n == 0)
			return load_fail(ld, suites, NULL, "must name at least one cipher suite");
		if (n > CONFIG_MAX_SUITES)
			return load_fail(ld, suites, NULL, "more than %d cipher suites",
			    CONFIG_MAX_SUITES);
		for (int i = 0; i < n; i++) {
			config_setting_t *e = config_setting_get_elem(suites, (unsigned)i);
			const char *name;
			int id;

			if (config_setting_type(e) != CONFIG_TYPE_STRING)
				return load_fail(ld, e, NULL, "must be a string");
			name = config_setting_get_string(e);
			id = mbedtls_ssl_get_ciphersuite_id(name);
			if (id == 0)
				return load_fail(ld, e, NULL,
				    "unknown cipher suite \"%s\" (use mbedTLS names such as "
				    "TLS-PSK-WITH-AES-128-CCM-8)", name);
			cfg->ciphersuites[i] = id;
		}
		cfg->ciphersuites[n] = 0;
		cfg->ciphersuites_default = false;
	}
	return 0;
}

/* Parses session = { ... } and log = { ... }. */
static int
load_session_log(struct loader *ld, struct proxy_config *cfg)
{
	config_setting_t *g;
	const char *level;

	if (get_group(ld, config_root_setting(&ld->lc), "session", &g) < 0)
		return -1;
	if (g != NULL &&
	    (check_keys(ld, g, session_keys) < 0 ||
	        get_uint(ld, g, "idle_timeout", 1, 86400 * 7, &cfg->idle_timeout) < 0 ||
	        get_uint(ld, g, "park_after", 0, 86400, &cfg->park_after) < 0 ||
	        get_uint(ld, g, "max_sessions", 1, 10000000, &cfg->max_sessions) < 0 ||
	        get_uint(ld, g, "max_handshakes", 1, 10000000, &cfg->max_handshakes) < 0 ||
	        get_uint(ld, g, "handshakes_per_source", 0, 1000000,
	            &cfg->handshakes_per_source) < 0))
		return -1;

	if (get_group(ld, config_root_setting(&ld->lc), "log", &g) < 0)
		return -1;
	if (g != NULL) {
		const char *json;
		config_setting_t *sys;

		if (check_keys(ld, g, log_keys) < 0 || get_string(ld, g, "level", false, &level) < 0 ||
		    get_string(ld, g, "json_file", false, &json) < 0)
			return -1;
		if (json != NULL && json[0] != '\0')
			resolve_path(ld, json, &cfg->log_json_file);
		sys = config_setting_get_member(g, "syslog");
		if (sys != NULL) {
			if (config_setting_type(sys) != CONFIG_TYPE_BOOL)
				return load_fail(ld, sys, NULL, "must be true or false");
			cfg->log_syslog = config_setting_get_bool(sys);
		}
		if (level != NULL) {
			cfg->log_level = log_level_parse(level);
			if (cfg->log_level < 0)
				return load_fail(ld, config_setting_get_member(g, "level"), NULL,
				    "\"%s\" is not one of error, warning, info, debug", level);
		}
	}
	return 0;
}

/* Parses control = { socket; } and metrics = { address; port; }. */
static int
load_control_metrics(struct loader *ld, struct proxy_config *cfg)
{
	config_setting_t *g;
	const char *sock = NULL, *addr = NULL;
	uint32_t port = 9684;

	if (get_group(ld, config_root_setting(&ld->lc), "control", &g) < 0)
		return -1;
	if (g != NULL && (check_keys(ld, g, control_keys) < 0 ||
	                     get_string(ld, g, "socket", false, &sock) < 0))
		return -1;
	if (sock != NULL && sock[0] != '\0' && sock[0] != '/')
		return load_fail(ld, config_setting_get_member(g, "socket"), NULL,
		    "must be an absolute path (or \"\" for no control socket)");
	if (sock == NULL) {
		/* Under systemd, RuntimeDirectory= says where run-time files go. */
		const char *rt = getenv("RUNTIME_DIRECTORY");

		cfg->control_socket_default = true;
		if (rt != NULL && rt[0] == '/' && strchr(rt, ':') == NULL) {
			if (asprintf(&cfg->control_socket, "%s/control.sock", rt) < 0)
				cfg->control_socket = NULL;
		} else
			cfg->control_socket = strdup(CONFIG_CONTROL_SOCKET_DEFAULT);
	} else
		cfg->control_socket = strdup(sock);
	if (cfg->control_socket == NULL)
		return load_fail(ld, g, "socket", "out of memory");

	if (get_group(ld, config_root_setting(&ld->lc), "metrics", &g) < 0)
		return -1;
	if (g == NULL)
		return 0;
	if (check_keys(ld, g, metrics_keys) < 0 || get_string(ld, g, "address", false, &addr) < 0 ||
	    get_uint(ld, g, "port", 1, 65535, &port) < 0)
		return -1;
	if (addr == NULL)
		addr = "127.0.0.1";
	else {
		struct addrinfo hints = { .ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM };
		struct addrinfo *ai;
		int err = getaddrinfo(addr, NULL, &hints, &ai);

		if (err != 0)
			return load_fail(ld, config_setting_get_member(g, "address"), NULL,
			    "\"%s\" is not an IPv4 or IPv6 address (%s)", addr, gai_strerror(err));
		freeaddrinfo(ai);
	}
	cfg->metrics_address = strdup(addr);
	if (cfg->metrics_address == NULL)
		return load_fail(ld, g, "address", "out of memory");
	cfg->metrics_port = (uint16_t)port;
	return 0;
}

/* Checks what needs several sections at once, and warns about risky choices. */
static int
load_crosscheck(struct loader *ld, struct proxy_config *cfg)
{
	bool psk_suite = false, cert_suite = false;

	if (cfg->n_psks == 0 && cfg->x509 == NULL)
		return load_fail(ld, config_root_setting(&ld->lc), NULL,
		    "no credentials: configure psk = ( ... ) and/or x509 = { ... }");
	for (const int *s = cfg->ciphersuites; *s != 0; s++) {
		enum dtls_suite_kind kind = dtls_suite_kind((uint16_t)*s);

		if (kind == DTLS_SUITE_UNKNOWN)
			continue;
		if (kind == DTLS_SUITE_PSK)
			psk_suite = true;
		else
			cert_suite = true;
	}
	if (cfg->n_psks > 0 && !psk_suite)
		log_warnx("%s: psk entries are configured but dtls.ciphersuites enables no PSK "
		          "suite: PSK devices cannot connect", ld->path);
	if (cfg->x509 != NULL && !cert_suite)
		log_warnx("%s: x509 is configured but dtls.ciphersuites enables no certificate "
		          "suite: certificate devices cannot connect", ld->path);
	if (cfg->x509 != NULL && cfg->x509->certificate_msg_len > cfg->max_handshake_message)
		log_warnx("%s: the server's Certificate handshake message is %zu bytes, more than "
		          "dtls.max_handshake_message (%u): OpenThread devices (900-byte input "
		          "buffer) drop it and the handshake stalls; send the leaf only or use a "
		          "smaller chain", cfg->x509->certificate_path, cfg->x509->certificate_msg_len,
		    cfg->max_handshake_message);
	if (cfg->x509 != NULL && cfg->x509->verify_client != VERIFY_CLIENT_REQUIRED) {
		bool anonymous_route = false;

		for (size_t i = 0; i < cfg->n_routes; i++)
			anonymous_route = anonymous_route || cfg->routes[i].anonymous;
		if (!anonymous_route)
			log_warnx("%s: x509.verify_client lets devices without a client certificate "
			          "connect, but no route has anonymous = true: each of their requests "
			          "gets 4.04", ld->path);
	}
	return 0;
}

/* Warns once per file that holds PSK keys and that other users may read. */
static void
warn_readable_psks(const struct loader *ld)
{
	config_setting_t *list = config_setting_get_member(config_root_setting(&ld->lc), "psk");
	bool warned[CONFIG_MAX_FILES] = { false };

	for (int i = 0; list != NULL && i < config_setting_length(list); i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i), *k;
		const struct conf_file *f;
		const char *who;
		unsigned line;

		k = config_setting_get_member(g, "key");
		if (k == NULL)
			k = config_setting_get_member(g, "key_hex");
		if (k == NULL || (f = setting_file(ld, k, &line)) == NULL || warned[f - ld->files])
			continue;
		who = readable_by_others(&f->st);
		if (who == NULL)
			continue;
		warned[f - ld->files] = true;
		log_warnx("%s: holds PSK keys and is %s (mode %04o): chmod 0600, or 0640 with the "
		          "daemon's group", f->name ? f->name : ld->path, who,
		    (unsigned)(f->st.st_mode & 07777));
	}
}

/* Frees what a load read. */
static void
loader_free(struct loader *ld, char *where)
{
	config_destroy(&ld->lc);
	for (size_t i = 0; i < ld->n_files; i++) {
		free(ld->files[i].name);
		mbedtls_platform_zeroize(ld->files[i].text, ld->files[i].len); /* PSKs */
		free(ld->files[i].text);
	}
	if (ld->text != NULL)
		mbedtls_platform_zeroize(ld->text, ld->text_len);
	free(ld->text);
	free(ld->spans);
	for (size_t i = 0; i < ld->n_psk_files; i++)
		free(ld->psk_files[i]);
	free(ld->psk_files);
	free(ld->origins);
	free(where);
}

struct proxy_config *
config_load(const char *path, char **cause)
{
	struct loader ld = { .path = path };
	struct proxy_config *cfg;
	const char *slash;
	char *where = NULL;
	size_t first;

	*cause = NULL;
	cfg = calloc(1, sizeof *cfg);
	if (cfg == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	cfg->refs = 1;
	cfg->path = strdup(path);
	cfg->handshake_timeout_min = 8000;
	cfg->handshake_timeout_max = 60000;
	cfg->mtu = 1232;
	cfg->max_handshake_message = 880;
	cfg->connection_id = dtls_cid_supported();
	cfg->cid_length = 8;
	cfg->session_tickets = true;
	cfg->ticket_lifetime = 86400;
	cfg->session_cache = 1024;
	cfg->idle_timeout = 300;
	cfg->park_after = 30;
	cfg->max_sessions = 10000;
	cfg->max_handshakes = 1000;
	cfg->handshakes_per_source = 0;
	cfg->log_level = LOG_LVL_INFO;

	slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(ld.dir, sizeof ld.dir, ".");
	else
		snprintf(ld.dir, sizeof ld.dir, "%.*s", (int)(slash - path), path);
	if (ld.dir[0] == '\0')
		snprintf(ld.dir, sizeof ld.dir, "/");

	config_init(&ld.lc);
	if (asprintf(&where, "%s:0: (file)", path) < 0) {
		where = NULL;
		goto fail;
	}
	ld.text_line = 1;
	if (conf_file_read(&ld, NULL, where, &first) < 0 || conf_expand(&ld, first, 0) < 0)
		goto fail;
	/* The text read and checked above is what is parsed: nothing is opened twice. */
	if (!config_read_string(&ld.lc, ld.text)) {
		unsigned line;
		size_t f = loader_locate(&ld, (unsigned)config_error_line(&ld.lc), &line);
		const char *file = f < ld.n_files && ld.files[f].name ? ld.files[f].name : path;

		if (asprintf(&ld.cause, "%s:%u: (syntax): %s", file, line,
		        config_error_text(&ld.lc)) < 0)
			ld.cause = NULL;
		goto fail;
	}
	if (check_keys(&ld, config_root_setting(&ld.lc), root_keys) < 0 ||
	    load_listens(&ld, cfg) < 0 || load_backends(&ld, cfg) < 0 || load_routes(&ld, cfg) < 0 ||
	    load_psks(&ld, cfg) < 0 ||
	    load_x509(&ld, cfg) < 0 || load_dtls(&ld, cfg) < 0 || load_session_log(&ld, cfg) < 0 ||
	    load_control_metrics(&ld, cfg) < 0 || load_crosscheck(&ld, cfg) < 0)
		goto fail;
	warn_readable_psks(&ld);
	loader_free(&ld, where);
	return cfg;

fail:
	loader_free(&ld, where);
	*cause = ld.cause != NULL ? ld.cause : strdup("configuration error");
	config_unref(cfg);
	return NULL;
}

struct proxy_config *
config_ref(struct proxy_config *cfg)
{
	cfg->refs++;
	return cfg;
}

void
config_unref(struct proxy_config *cfg)
{
	if (cfg == NULL || --cfg->refs > 0)
		return;
	for (size_t i = 0; i < cfg->n_listens; i++)
		free(cfg->listens[i].address);
	free(cfg->listens);
	for (size_t i = 0; i < cfg->n_backends; i++) {
		free(cfg->backends[i].name);
		free(cfg->backends[i].address);
		free(cfg->backends[i].sources);
	}
	free(cfg->backends);
	for (size_t i = 0; i < cfg->n_routes; i++) {
		free(cfg->routes[i].path_prefix);
		free(cfg->routes[i].identity);
		free(cfg->routes[i].uri_host);
	}
	free(cfg->routes);
	for (size_t i = 0; i < cfg->n_psks; i++) {
		free(cfg->psks[i].identity);
		mbedtls_platform_zeroize(cfg->psks[i].key, sizeof cfg->psks[i].key);
	}
	free(cfg->psks);
	if (cfg->x509 != NULL) {
		struct x509_conf *x = cfg->x509;

		mbedtls_x509_crt_free(&x->certificate);
		mbedtls_pk_free(&x->private_key);
		mbedtls_x509_crt_free(&x->client_ca);
		mbedtls_x509_crl_free(&x->crl);
		free(x->certificate_path);
		free(x->private_key_path);
		free(x->client_ca_path);
		free(x->crl_path);
		free(x);
	}
	if (cfg->ssl_built)
		mbedtls_ssl_config_free(&cfg->ssl);
	free(cfg->ticket_key_file);
	mbedtls_platform_zeroize(cfg->ticket_secret, sizeof cfg->ticket_secret);
	free(cfg->log_json_file);
	free(cfg->control_socket);
	free(cfg->metrics_address);
	free(cfg->path);
	free(cfg);
}
