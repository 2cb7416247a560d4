/* config_priv.h: what the pieces of the configuration loader (config*.c) share. */
#ifndef COAPS_PROXY_CONFIG_PRIV_H
#define COAPS_PROXY_CONFIG_PRIV_H

#include <libconfig.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "configuration.h"
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

/* config_get.c */
/* Writes the dotted path of a setting ("psk[1].key_hex") into buf. */
void setting_path(const config_setting_t *s, char *buf, size_t len);

/* Finds the file (index in files[]) and its line that line tline of the expanded text came from. */
size_t loader_locate(const struct loader *ld, unsigned tline, unsigned *line);

/* Names the file and line a setting was written on (the file NULL: the main file). */
void setting_where(const struct loader *ld, const config_setting_t *s, const char **file,
    unsigned *line);

/*
 * Records the first error as "FILE:LINE: key: why" for setting s (or its
 * member named key when s is the group holding it). Returns -1.
 */
int LOG_PRINTF(4, 5) load_fail(struct loader *ld, const config_setting_t *s, const char *member,
    const char *fmt, ...);

/* Rejects members of group whose names are not in allowed. */
int check_keys(struct loader *ld, const config_setting_t *group, const char *const *allowed);

/* Finds member name of group that must be a group (or absent: NULL). */
int get_group(struct loader *ld, const config_setting_t *parent, const char *name,
    config_setting_t **out);

/* Finds member name of parent that must be a list ( ... ) of groups. */
int get_list(struct loader *ld, const config_setting_t *parent, const char *name,
    config_setting_t **out);

/* Reads an optional string member; *out stays NULL when absent. */
int get_string(struct loader *ld, const config_setting_t *group, const char *name, bool required,
    const char **out);

/* Finds the file a setting was read from, and its line there (NULL: not known). */
const struct conf_file *setting_file(const struct loader *ld, const config_setting_t *s,
    unsigned *line);

/* Reads an optional integer member within [min, max]; *out keeps its default. */
int get_uint(struct loader *ld, const config_setting_t *group, const char *name, long long min,
    long long max, uint32_t *out);

/* Reads a port number (1-65535) that must be present. */
int get_port(struct loader *ld, const config_setting_t *group, uint16_t *port);

/* config_file.c */
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

/* config_net.c */
/* Parses listen = ( { address; port; } ... ). */
int load_listens(struct loader *ld, struct proxy_config *cfg);

/* Parses backends = ( { name; address; port; sources; } ... ), resolving names. */
int load_backends(struct loader *ld, struct proxy_config *cfg);

/* Reads an optional true/false member; *out keeps its default when absent. */
int get_route_bool(struct loader *ld, const config_setting_t *group, const char *name, bool *out);

/*
 * Parses routes = ( { path_prefix; identity; uri_host; anonymous; forward_proxy;
 * backend; } ... ).
 */
int load_routes(struct loader *ld, struct proxy_config *cfg);

/* config_psk.c */
/* Parses psk = ( { identity; key | key_hex; } ... ) and the files of psk_dir. */
int load_psks(struct loader *ld, struct proxy_config *cfg);

/* Warns once per file that holds PSK keys and that other users may read. */
void warn_readable_psks(const struct loader *ld);

/* config_x509.c */
/* Parses x509 = { ... }: certificate chain, key, CAs, CRL, client policy. */
int load_x509(struct loader *ld, struct proxy_config *cfg);

#endif
