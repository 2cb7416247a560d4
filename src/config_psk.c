/* config_psk.c: the PSK table: psk = ( ... ), the psk_dir files, duplicates, lookup. */
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
#include "config_psk.h"
#include "configuration.h"
#include "log.h"
#include "text.h"

static const char *const psk_keys[] = { "identity", "key", "key_hex", NULL };

/* Orders PSK entries by length, then bytes, for binary search. */
static int
psk_cmp(const void *a, const void *b)
{
	const struct psk_conf *x = a, *y = b;

	if (x->identity_len != y->identity_len)
		return x->identity_len < y->identity_len ? -1 : 1;
	return memcmp(x->identity, y->identity, x->identity_len);
}

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
			r = text_hex_decode(hex, p->key, sizeof p->key);
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
	    asprintf(&ld->cause,
	        "%s:%u: psk[%u].identity: duplicate identity \"%s\", first at %s:%u", o[dup].file,
	        o[dup].line, o[dup].index, o[dup].identity, o[dup - 1].file, o[dup - 1].line) < 0)
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
	snprintf(budget, sizeof budget,
	    "a psk_dir file may have %d bytes (1 MiB), all of them "
	    "together %d bytes (16 MiB)",
	    CONFIG_MAX_BYTES, CONFIG_PSK_DIR_MAX_BYTES);
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
		return file_fail(ld, at,
		    r > 0 ? "@include is not allowed in a PSK file" : "out of memory");
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
		          "daemon's group",
		    path, who, (unsigned)(st.st_mode & 07777));
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
int
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

/* Warns once per file that holds PSK keys and that other users may read. */
void
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
		          "daemon's group",
		    f->name ? f->name : ld->path, who, (unsigned)(f->st.st_mode & 07777));
	}
}
