/* probe-garbage.h: the hostile datagram cases of dtls-probe garbage. */
#ifndef PROBE_GARBAGE_H
#define PROBE_GARBAGE_H

#include <stddef.h>

#include "probe-wire.h"

/* A hostile datagram case for the garbage subcommand. */
struct gcase {
	const char *name;
	const char *what;
	void (*build)(struct wbuf *b, const struct hello_params *hp);
};

/* Every case, in the order `--case all` sends them. */
extern const struct gcase gcases[];
/* Number of entries in gcases. */
extern const size_t n_gcases;

/* Prints the case names and what each sends. */
void gcase_list(void);

#endif
