/* config_get.c: reads typed settings and records the first error as FILE:LINE: key: why. */
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
#include "configuration.h"
#include "log.h"
#include "text.h"

/* Writes the dotted path of a setting ("psk[1].key_hex") into buf. */
void
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
size_t
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
void
setting_where(const struct loader *ld, const config_setting_t *s, const char **file, unsigned *line)
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
int LOG_PRINTF(4, 5) load_fail(struct loader *ld, const config_setting_t *s, const char *member,
    const char *fmt, ...)
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
int
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
int
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
int
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
int
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
const struct conf_file *
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
		for (o = 0;
		     o + 1 < len && q < end && (isxdigit((unsigned char)*q) || strchr("-+xX", *q));)
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
int
get_uint(struct loader *ld, const config_setting_t *group, const char *name, long long min,
    long long max, uint32_t *out)
{
	config_setting_t *s = config_setting_get_member(group, name);
	char text[64];
	long long v;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return load_fail(ld, s, NULL, "must be an integer");
	v = config_setting_get_int64(s);
	if (config_setting_type(s) == CONFIG_TYPE_INT &&
	    setting_literal(ld, s, v, text, sizeof text))
		return load_fail(ld, s, NULL, "%s is out of range (%lld to %lld)", text, min, max);
	if (v < min || v > max)
		return load_fail(ld, s, NULL, "%lld is out of range (%lld to %lld)", v, min, max);
	*out = (uint32_t)v;
	return 0;
}

/* Reads a port number (1-65535) that must be present. */
int
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

/* Reads an optional true/false member; *out keeps its default when absent. */
int
get_bool(struct loader *ld, const config_setting_t *group, const char *name, bool *out)
{
	config_setting_t *s = config_setting_get_member(group, name);

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return load_fail(ld, s, NULL, "must be true or false");
	*out = config_setting_get_bool(s);
	return 0;
}
