/* pool.c: slabs of fixed-size objects for what sessions keep while they idle. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <event2/event.h>

#include "pool.h"

#define POOL_CHUNK (64 * 1024)
#define BLOB_CLASS 32   /* blob size classes are multiples of this */
#define BLOB_CLASSES 32 /* up to 1024 bytes; larger blobs use malloc */

/* Each thread's own; a block freed by another thread joins that thread's free list. */
static _Thread_local struct pool blob_pools[BLOB_CLASSES];

void *
pool_alloc(struct pool *p)
{
	void *obj;

	if (p->free_list != NULL) {
		obj = p->free_list;
		memcpy(&p->free_list, obj, sizeof p->free_list);
	} else {
		if (p->chunk_next == NULL || (size_t)(p->chunk_end - p->chunk_next) < p->size) {
			char *c = mmap(NULL, POOL_CHUNK, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (c == MAP_FAILED)
				return NULL;
			p->chunk_next = c;
			p->chunk_end = c + POOL_CHUNK;
			p->chunks++;
		}
		obj = p->chunk_next;
		p->chunk_next += p->size;
	}
	memset(obj, 0, p->size);
	p->in_use++;
	return obj;
}

void
pool_free(struct pool *p, void *obj)
{
	if (obj == NULL)
		return;
	memcpy(obj, &p->free_list, sizeof p->free_list);
	p->free_list = obj;
	p->in_use--;
}

void *
pool_blob_alloc(size_t len)
{
	size_t c = (len + BLOB_CLASS - 1) / BLOB_CLASS;

	if (len == 0 || c > BLOB_CLASSES)
		return malloc(len ? len : 1);
	if (blob_pools[c - 1].size == 0)
		blob_pools[c - 1].size = c * BLOB_CLASS;
	return pool_alloc(&blob_pools[c - 1]);
}

void
pool_blob_free(void *buf, size_t len)
{
	size_t c = (len + BLOB_CLASS - 1) / BLOB_CLASS;

	if (len == 0 || c > BLOB_CLASSES)
		free(buf);
	else
		pool_free(&blob_pools[c - 1], buf);
}

#define LE_HEADER 16 /* size and origin of a libevent allocation, keeping 16-byte alignment */
#define LE_SMALL 64  /* libevent allocations up to this size come from the pools */

/*
 * libevent malloc. Its small allocations (per-fd bookkeeping) live as long
 * as the loop: pools keep them packed. Larger ones (events of active
 * sessions, buffers) come and go: malloc, so the pools do not keep them at
 * their peak count.
 */
static void *
le_malloc(size_t len)
{
	size_t head[2] = { len, len <= LE_SMALL };
	unsigned char *p = head[1] ? pool_blob_alloc(len + LE_HEADER) : malloc(len + LE_HEADER);

	if (p == NULL)
		return NULL;
	memcpy(p, head, sizeof head);
	return p + LE_HEADER;
}

/* libevent free. */
static void
le_free(void *ptr)
{
	unsigned char *p = ptr;
	size_t head[2];

	if (p == NULL)
		return;
	p -= LE_HEADER;
	memcpy(head, p, sizeof head);
	if (head[1])
		pool_blob_free(p, head[0] + LE_HEADER);
	else
		free(p);
}

/* libevent realloc. */
static void *
le_realloc(void *ptr, size_t len)
{
	unsigned char *n;
	size_t head[2];

	if (ptr == NULL)
		return le_malloc(len);
	memcpy(head, (unsigned char *)ptr - LE_HEADER, sizeof head);
	if (len == head[0])
		return ptr;
	n = le_malloc(len);
	if (n == NULL)
		return NULL;
	memcpy(n, ptr, head[0] < len ? head[0] : len);
	le_free(ptr);
	return n;
}

void
pool_use_for_libevent(void)
{
	event_set_mem_functions(le_malloc, le_realloc, le_free);
}
