/* mid_map.c: per-session MID remapping for messages that backends initiate (RFC 7252 §4.8.2). */
#include "config.h"

#include <string.h>

#include "mid_map.h"

/*
 * The bucket guard keeps whole seconds (truncated), so a difference of
 * LIFETIME_S of them means at least the lifetime has passed.
 */
#define LIFETIME_S ((MID_MAP_LIFETIME_MS + 999) / 1000 + 1)

/* Starts an empty map whose first MID is first_mid. */
void
mid_map_init(struct mid_map *m, uint16_t first_mid)
{
	int i;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < MID_MAP_SIZE; i++)
		m->e[i].backend = -1;
	m->next_mid = first_mid;
	m->cur_bucket = (uint8_t)(first_mid >> 10);
}

/* Tells whether an entry is live at now_ms. */
static bool
entry_live(const struct mid_map_entry *e, uint64_t now_ms)
{
	return e->backend >= 0 && now_ms - e->t_ms < MID_MAP_LIFETIME_MS;
}

/* Hands out a fresh device MID; -1 if none is free. */
int
mid_map_alloc(struct mid_map *m, uint64_t now_ms)
{
	uint16_t mid = m->next_mid;
	uint8_t b = (uint8_t)(mid >> 10);
	uint32_t now_s = (uint32_t)(now_ms / 1000);

	/*
	 * Entering a bucket again: every MID in it was allocated no later than
	 * its last allocation, so once that is a lifetime old, all are free.
	 */
	if (b != m->cur_bucket) {
		if ((m->bucket_used >> b & 1) != 0 && now_s - m->bucket_s[b] < LIFETIME_S)
			return -1;
		m->cur_bucket = b;
	}
	m->bucket_used |= (uint64_t)1 << b;
	m->bucket_s[b] = now_s;
	m->next_mid = (uint16_t)(mid + 1);
	return mid;
}

/* Puts back a mapping saved by an earlier process (oldest first); false if it is out of range. */
bool
mid_map_restore(struct mid_map *m, int backend_idx, uint16_t backend_mid, uint16_t device_mid,
    uint64_t t_ms)
{
	struct mid_map_entry *e = &m->e[m->head];
	uint8_t b = (uint8_t)(device_mid >> 10);
	uint32_t t_s = (uint32_t)(t_ms / 1000);

	if (backend_idx < 0 || backend_idx > INT16_MAX)
		return false;
	m->head = (uint8_t)((m->head + 1) % MID_MAP_SIZE);
	e->t_ms = t_ms;
	e->device_mid = device_mid;
	e->backend_mid = backend_mid;
	e->backend = (int16_t)backend_idx;
	/* The bucket guard must know the MID is in use (the counter must not hand it out). */
	if ((m->bucket_used >> b & 1) == 0 || (int32_t)(t_s - m->bucket_s[b]) > 0)
		m->bucket_s[b] = t_s;
	m->bucket_used |= (uint64_t)1 << b;
	return true;
}

/* Maps a backend's MID to the device MID to use; -1 if none is free. */
int
mid_map_out(struct mid_map *m, int backend_idx, uint16_t backend_mid, uint64_t now_ms)
{
	struct mid_map_entry *e;
	int i, mid;

	if (backend_idx < 0 || backend_idx > INT16_MAX)
		return -1;
	for (i = 0; i < MID_MAP_SIZE; i++) {
		e = &m->e[i];
		if (e->backend == backend_idx && e->backend_mid == backend_mid &&
		    entry_live(e, now_ms))
			return e->device_mid;
	}
	mid = mid_map_alloc(m, now_ms);
	if (mid < 0)
		return -1;
	/* Slots fill in allocation order, so head is always the oldest. */
	e = &m->e[m->head];
	m->head = (uint8_t)((m->head + 1) % MID_MAP_SIZE);
	e->t_ms = now_ms;
	e->device_mid = (uint16_t)mid;
	e->backend_mid = backend_mid;
	e->backend = (int16_t)backend_idx;
	return mid;
}

/* Looks up the device's ACK or RST for device_mid; 0 or -1. */
int
mid_map_in(const struct mid_map *m, uint16_t device_mid, uint64_t now_ms, int *backend_idx,
    uint16_t *backend_mid)
{
	const struct mid_map_entry *e;
	int i;

	for (i = 0; i < MID_MAP_SIZE; i++) {
		e = &m->e[i];
		if (e->device_mid == device_mid && entry_live(e, now_ms)) {
			*backend_idx = e->backend;
			*backend_mid = e->backend_mid;
			return 0;
		}
	}
	return -1;
}

/* Forgets every mapping of one backend. */
void
mid_map_forget_backend(struct mid_map *m, int backend_idx)
{
	int i;

	for (i = 0; i < MID_MAP_SIZE; i++)
		if (m->e[i].backend == backend_idx)
			m->e[i].backend = -1;
}
