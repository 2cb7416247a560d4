/* pool.h: slabs of fixed-size objects for what sessions keep while they idle. */
#ifndef COAPS_POOL_H
#define COAPS_POOL_H

#include <stddef.h>

/*
 * Long-lived small objects allocated between short-lived large ones (handshake
 * state) would pin heap pages full of holes; a pool keeps them packed in their
 * own 64 KB chunks. Chunks are kept for reuse, never returned.
 */
struct pool {
	size_t size;      /* object size, a multiple of 16 */
	void *free_list;  /* freed objects, linked through their first bytes */
	char *chunk_next; /* uncarved space of the newest chunk */
	char *chunk_end;
	size_t in_use; /* objects handed out now */
	size_t chunks; /* 64 KB chunks mapped */
};

/* Returns an object of pool size (zeroed), or NULL. */
void *pool_alloc(struct pool *p);
/* Gives an object back to its pool. */
void pool_free(struct pool *p, void *obj);
/* A buffer of at least len bytes from a size-class pool (or malloc when larger). */
void *pool_blob_alloc(size_t len);
/* Frees a buffer made by pool_blob_alloc(len). */
void pool_blob_free(void *buf, size_t len);

/*
 * Makes libevent allocate from the size-class pools: its per-fd and per-event
 * bookkeeping lives as long as the loop and must not pin heap pages either.
 * Call before the first libevent call.
 */
void pool_use_for_libevent(void);

#endif
