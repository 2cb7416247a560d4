/*
 * config_get.h: the loader state that the pieces of the configuration loader
 * (config*.c) share, and typed reads of settings with FILE:LINE: key: why errors.
 */
#ifndef COAPS_PROXY_CONFIG_GET_H
#define COAPS_PROXY_CONFIG_GET_H

#include <libconfig.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "configuration.h"
#include "log.h"

struct psk_origin;

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

/* Reads an optional true/false member; *out keeps its default when absent. */
int get_bool(struct loader *ld, const config_setting_t *group, const char *name, bool *out);

#endif
