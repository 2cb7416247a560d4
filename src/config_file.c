/* config_file.c: reads the configuration files: checks on each file, @include expansion. */
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
#include <mbedtls/platform_util.h>
#include <mbedtls/version.h>

#include "config_get.h"
#include "config_file.h"
#include "configuration.h"
#include "log.h"
#include "text.h"

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
const char *
readable_by_others(const struct stat *st)
{
	if (st->st_mode & S_IROTH)
		return "readable by every user";
	if ((st->st_mode & S_IRGRP) && st->st_gid != getegid())
		return "readable by its group (not the daemon's)";
	return NULL;
}

/* Records "WHERE: why" (WHERE names the file, or the @include line naming it). Returns -1. */
int LOG_PRINTF(3, 4) file_fail(struct loader *ld, const char *where, const char *fmt, ...)
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

/*
 * Moves sc to the next @include directive as libconfig's scanner finds them:
 * `@include "NAME"` at the start of a line (after blanks), outside comments
 * and strings. Returns 1 with *inc filled (inc->name to free), 0 at the end
 * of the text, -1 when out of memory.
 */
int
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
int
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
		return file_fail(ld, where,
		    "is world-writable (mode %04o): anyone could change the "
		    "configuration; chmod o-w %s",
		    (unsigned)(st->st_mode & 07777), path);
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
int
conf_file_read(struct loader *ld, const char *name, const char *where, size_t *idx)
{
	char budget[128];
	struct conf_file *f;
	struct stat st;
	char *buf = NULL;
	size_t n = 0;

	if (ld->n_files == CONFIG_MAX_FILES)
		return file_fail(ld, where, "more than %d configuration files", CONFIG_MAX_FILES);
	snprintf(budget, sizeof budget,
	    "the configuration and its @include files may have %d "
	    "bytes (1 MiB) in all",
	    CONFIG_MAX_BYTES);
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
int
conf_expand(struct loader *ld, size_t idx, int depth)
{
	struct conf_scan sc = { .p = ld->files[idx].text,
		.bol = ld->files[idx].text,
		.line = 1,
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
			return file_fail(ld, at,
			    "@include: the file name has no closing '\"' on its line");
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
			r = file_fail(ld, where,
			    "@include files nested more than %d deep (does a file "
			    "include itself?)",
			    CONFIG_MAX_INCLUDE_DEPTH);
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
		return file_fail(ld, ld->files[idx].name,
		    "ends inside a string or a /* comment */");
	return text_append(ld, copied, (size_t)(sc.p - copied));
}

/* Resolves a path relative to the configuration file's directory into out. */
void
resolve_path(const struct loader *ld, const char *path, char **out)
{
	if (path[0] == '/' || asprintf(out, "%s/%s", ld->dir, path) < 0)
		*out = strdup(path);
}

/* Refuses a file or directory that every user may write (as OpenSSH does with keys). */
int
check_not_world_writable(struct loader *ld, const config_setting_t *s, const char *path,
    const struct stat *st)
{
	if (st->st_mode & S_IWOTH)
		return load_fail(ld, s, NULL,
		    "%s is world-writable (mode %04o): anyone could replace "
		    "it; chmod o-w %s",
		    path, (unsigned)(st->st_mode & 07777), path);
	return 0;
}

/*
 * Checks that path is a regular file before mbedTLS reads it (it would take a
 * directory's size from ftell, LLONG_MAX on ext4, and try to allocate that),
 * and that not everyone may write it; a secret (private key) that others may
 * read is warned about.
 */
int
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
		          "daemon's group",
		    path, who, (unsigned)(st.st_mode & 07777));
	return 0;
}

/* Refuses a CA directory holding a certificate file that every user may write. */
int
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
