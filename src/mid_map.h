/* mid_map.h: per-session MID remapping for messages that backends initiate (RFC 7252 §4.8.2). */
#ifndef COAPS_MID_MAP_H
#define COAPS_MID_MAP_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Every message a backend starts (separate response, Observe notification,
 * CON or NON) gets a fresh MID from the session's own counter before it goes
 * to the device, so two backends never collide at one device. The device's
 * ACK or RST carries that MID back and is mapped to the backend's MID.
 *
 * Bounds: MID_MAP_SIZE mappings per session (the oldest is evicted, about
 * 1 KB), plus a 64-bucket guard of 256 bytes. The counter never hands out a
 * MID allocated less than EXCHANGE_LIFETIME ago: should a device receive
 * more than about 64,000 backend-initiated messages in 247 s (some 260 a
 * second, far beyond a Thread link), allocation fails and the caller drops
 * the message (the backend retransmits a CON). A backend retransmission
 * whose mapping has been evicted (more than MID_MAP_SIZE newer messages from
 * the session's backends) gets a new MID, so the device sees it as a new
 * message; its ACK for the older MID then no longer maps.
 */
#define MID_MAP_SIZE 64
#define MID_MAP_LIFETIME_MS 247000u /* EXCHANGE_LIFETIME, RFC 7252 §4.8.2 */
#define MID_MAP_BUCKETS 64          /* 1024 MIDs each */

/* One backend MID mapped to a device MID. */
struct mid_map_entry {
	uint64_t t_ms;        /* when the device MID was allocated */
	uint16_t device_mid;  /* MID the device sees */
	uint16_t backend_mid; /* MID the backend sent */
	int16_t backend;      /* backend index, -1 for a free slot */
};

/* The MID state of one session; plain data, no allocation. */
struct mid_map {
	struct mid_map_entry e[MID_MAP_SIZE];
	uint32_t bucket_s[MID_MAP_BUCKETS]; /* last allocation in each bucket, s */
	uint64_t bucket_used;               /* buckets allocated from at all */
	uint16_t next_mid;                  /* next device MID to hand out */
	uint8_t cur_bucket;                 /* bucket of the last allocation */
	uint8_t head;                       /* slot to fill next (the oldest) */
};

/* Starts an empty map whose first MID is first_mid (pick it at random, §4.4). */
void mid_map_init(struct mid_map *m, uint16_t first_mid);

/* Hands out a fresh device MID, e.g. for a NON answer the proxy makes; -1 if none is free. */
int mid_map_alloc(struct mid_map *m, uint64_t now_ms) __attribute__((warn_unused_result));

/*
 * Maps a MID that backend backend_idx (0..32767) sent to the device MID to
 * use: the same one again for a retransmission within EXCHANGE_LIFETIME, a
 * fresh one otherwise. Returns it, or -1 if no MID is free or the index is
 * out of range.
 */
int mid_map_out(struct mid_map *m, int backend_idx, uint16_t backend_mid, uint64_t now_ms)
    __attribute__((warn_unused_result));

/*
 * Looks up the device's ACK or RST for device_mid: 0 with the backend and
 * its MID, or -1 when no live mapping holds it.
 */
int mid_map_in(const struct mid_map *m, uint16_t device_mid, uint64_t now_ms, int *backend_idx,
    uint16_t *backend_mid) __attribute__((warn_unused_result));

/*
 * Puts back a mapping a previous process saved (a restart), t_ms on this
 * process's clock; call oldest first, after mid_map_init with the saved
 * counter. False if backend_idx is out of range.
 */
bool mid_map_restore(struct mid_map *m, int backend_idx, uint16_t backend_mid, uint16_t device_mid,
    uint64_t t_ms);
/* Forgets every mapping of one backend (its upstream went away). */
void mid_map_forget_backend(struct mid_map *m, int backend_idx);

#endif
