/* config_file.h: checks on each configuration file and @include expansion. */
#ifndef COAPS_PROXY_CONFIG_FILE_H
#define COAPS_PROXY_CONFIG_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "config_get.h"

/* Where a scan of configuration text is, looking for @include directives. */
struct conf_scan {
	const char *p;
	const char *bol; /* start of the line p is on */
	unsigned line;
	bool line_start; /* only blanks since the line began */
	bool open;       /* the text ended inside a string or a comment */
};

/* An @include directive that conf_scan_include found. */
struct conf_include {
	const char *begin; /* start of its line */
	const char *end;   /* just after the closing quote */
	unsigned line;
	char *name; /* decoded as libconfig does (\\ and \"); NULL: no closing quote on the line */
};

/* Says who besides its owner (and the daemon's own group) may read a file, or NULL. */
const char *readable_by_others(const struct stat *st);

/* Records "WHERE: why" (WHERE names the file, or the @include line naming it). Returns -1. */
int LOG_PRINTF(3, 4) file_fail(struct loader *ld, const char *where, const char *fmt, ...);

/*
 * Moves sc to the next @include directive as libconfig's scanner finds them:
 * `@include "NAME"` at the start of a line (after blanks), outside comments
 * and strings. Returns 1 with *inc filled (inc->name to free), 0 at the end
 * of the text, -1 when out of memory.
 */
int conf_scan_include(struct conf_scan *sc, struct conf_include *inc);

/*
 * Reads path into *text (NUL-terminated, *len bytes): it must be a regular
 * file (a FIFO or device would block or never end), not world-writable,
 * free of NUL bytes and at most left bytes long (budget says what the limit
 * is). where names it in errors.
 */
int file_read_text(struct loader *ld, const char *path, const char *where, size_t left,
    const char *budget, char **text, size_t *len, struct stat *st);

/*
 * Reads one file of the configuration (name NULL: the main file ld->path)
 * into ld->files[*idx], within what is left of CONFIG_MAX_BYTES and
 * CONFIG_MAX_FILES. where names it in errors.
 */
int conf_file_read(struct loader *ld, const char *name, const char *where, size_t *idx);

/*
 * Appends files[idx] to the text for libconfig with each @include directive
 * replaced by the file it names (read and expanded in turn, up to
 * CONFIG_MAX_INCLUDE_DEPTH deep): a relative name is relative to the
 * directory of the file that holds the directive. libconfig never opens a
 * file itself, so every file is checked and read once, and spans[] maps
 * libconfig's line numbers back to each file and line.
 */
int conf_expand(struct loader *ld, size_t idx, int depth);

/* Resolves a path relative to the configuration file's directory into out. */
void resolve_path(const struct loader *ld, const char *path, char **out);

/* Refuses a file or directory that every user may write (as OpenSSH does with keys). */
int check_not_world_writable(struct loader *ld, const config_setting_t *s, const char *path,
    const struct stat *st);

/*
 * Checks that path is a regular file before mbedTLS reads it (it would take a
 * directory's size from ftell, LLONG_MAX on ext4, and try to allocate that),
 * and that not everyone may write it; a secret (private key) that others may
 * read is warned about.
 */
int check_regular_file(struct loader *ld, const config_setting_t *s, const char *path, bool secret);

/* Refuses a CA directory holding a certificate file that every user may write. */
int check_ca_dir(struct loader *ld, const config_setting_t *s, const char *dir);

#endif
