/* frontdoor.h: every datagram from a listener first: the stateless cookie stage, limits and refusals, then the session it belongs to. */
#ifndef COAPS_FRONTDOOR_H
#define COAPS_FRONTDOOR_H

#include "listener.h"

/* Seeds the per-source rate table's hash; call once before the first datagram. */
void frontdoor_init(void);
/* Handles one datagram from a listener (listener_input_fn). */
void frontdoor_input(const struct datagram *d);

#endif
