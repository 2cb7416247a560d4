/* config_psk.h: the psk list and the files of psk_dir. */
#ifndef COAPS_PROXY_CONFIG_PSK_H
#define COAPS_PROXY_CONFIG_PSK_H

#include "config_get.h"

/* Where a PSK entry was written, to name both places of a duplicate. */
struct psk_origin {
	const char *identity; /* cfg->psks[].identity (stays put when the array moves) */
	size_t identity_len;
	const char *file;
	unsigned line;
	unsigned index; /* in its psk list */
	size_t seq;     /* order of reading */
};

/* Parses psk = ( { identity; key | key_hex; } ... ) and the files of psk_dir. */
int load_psks(struct loader *ld, struct proxy_config *cfg);

/* Warns once per file that holds PSK keys and that other users may read. */
void warn_readable_psks(const struct loader *ld);

#endif
