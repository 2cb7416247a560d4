/* state.h: the saved-sessions format (encode and decode only; no sockets, no files). */
#ifndef COAPS_STATE_H
#define COAPS_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * Layout, all integers in network byte order:
 *
 *   header (STATE_HEADER_LEN bytes)
 *     0  magic "COAPSPXS"        8 bytes
 *     8  format version          u16 (STATE_VERSION)
 *    10  flags                   u16 (STATE_FLAG_COMPLETE: written last, by a clean stop)
 *    12  session count           u32 (at most STATE_MAX_SESSIONS)
 *    16  body length             u32 (at most STATE_MAX_BODY)
 *    20  saved at, unix ms       u64
 *    28  SHA-256 of bytes 0..27 and the body   32 bytes
 *   body: count records, each a u32 length (at most STATE_MAX_RECORD) and
 *   then TLVs (u8 type, u16 length, value); see STATE_T_* in state.c.
 *
 * A field a newer writer adds that an older reader may skip gets a new TLV
 * type (unknown types are skipped); anything an older reader must not
 * misread bumps STATE_VERSION, and a reader refuses every version it does
 * not know.
 */
#define STATE_MAGIC "COAPSPXS"
#define STATE_VERSION 1
#define STATE_HEADER_LEN 60
#define STATE_FLAG_COMPLETE 0x0001
#define STATE_MAX_SESSIONS 1000000u
#define STATE_MAX_BODY (256u * 1024 * 1024)
#define STATE_MAX_RECORD 65536u
#define STATE_IDENTITY_MAX 512  /* PSK identity or certificate subject */
#define STATE_CID_MAX 32        /* DTLS connection ID */
#define STATE_CIPHER_MAX 96     /* cipher suite name */
#define STATE_CONTEXT_MAX 16384 /* mbedtls_ssl_context_save output */
#define STATE_NAME_MAX 64       /* backend name */
#define STATE_CERT_NAME_MAX 255 /* client certificate subject or issuer text */
#define STATE_UPSTREAMS 8       /* upstream slots per session (relay.h RELAY_UPSTREAMS at most) */
#define STATE_MIDS 64           /* MID map entries per session (mid_map.h MID_MAP_SIZE) */
#define STATE_PENDING 16        /* requests in flight per session (relay.c RELAY_PENDING) */

/* How the device authenticated. */
enum state_kind {
	STATE_KIND_PSK = 1,       /* pre-shared key; identity is the PSK identity */
	STATE_KIND_X509 = 2,      /* certificate; identity is the subject CN */
	STATE_KIND_ANONYMOUS = 3, /* neither (no identity) */
};

/* One upstream socket of a session: which backend, and the local port to bind again. */
struct state_upstream {
	uint16_t slot;                 /* index in the relay's slots; the MID map's backend index */
	char name[STATE_NAME_MAX + 1]; /* the backend's name in the configuration */
	struct sockaddr_storage backend; /* the backend's address */
	socklen_t backend_len;
	uint16_t local_port; /* the upstream socket's local port */
	bool observing;      /* an Observe relation went through it */
};

/* One MID map entry (mid_map.h), its time as an age so it survives the clock change. */
struct state_mid {
	uint16_t device_mid;
	uint16_t backend_mid;
	uint16_t backend; /* a slot in up[] */
	uint32_t age_ms;  /* how long before the save it was allocated */
};

/*
 * A device's CON request forwarded to a backend and not answered yet (its MID
 * and token are the device's: requests go to the backend unchanged).
 */
struct state_pending {
	uint16_t mid;
	uint16_t slot; /* the upstream it went out on, a slot in up[] */
	uint8_t type, code;
	uint8_t token[8];
	uint8_t token_len;
	uint32_t age_ms;  /* how long before the save it was sent */
	uint32_t left_ms; /* how long it still had until backend_timeout */
};

/* One saved session; context points into the decoded buffer (copy it to keep it). */
struct state_session {
	uint32_t id; /* as logged (session=%08x); 0: not saved */
	enum state_kind kind;
	uint8_t identity[STATE_IDENTITY_MAX];
	size_t identity_len;
	uint8_t psk_tag[8]; /* PSK: the first bytes of SHA-256 of the key it was made with */
	bool has_psk_tag;
	struct sockaddr_storage peer, local, listener;
	socklen_t peer_len, local_len, listener_len; /* 0: not saved */
	uint8_t cid[STATE_CID_MAX];
	size_t cid_len;
	uint64_t created_ms, established_ms,
	    last_ms; /* unix ms; last_ms: last record from the device */
	char cipher[STATE_CIPHER_MAX + 1];
	bool has_cert; /* the client certificate, as `coaps-proxyctl show` prints it */
	char cert_subject[STATE_CERT_NAME_MAX + 1], cert_issuer[STATE_CERT_NAME_MAX + 1];
	int64_t cert_not_after; /* unix seconds */
	const uint8_t *context; /* mbedtls_ssl_context_save output */
	size_t context_len;
	struct state_upstream up[STATE_UPSTREAMS];
	size_t n_up;
	struct state_mid mids[STATE_MIDS];
	size_t n_mids;
	uint16_t next_mid; /* the MID map's next device MID */
	int16_t last_slot; /* the backend that last started an exchange, -1 none */
	struct state_pending pend[STATE_PENDING];
	size_t n_pend;
};

/* An encoder: a growing buffer with room for the header in front. */
struct state_out {
	uint8_t *buf;
	size_t len, size;
	uint32_t count;
};

/* A decoder over a buffer whose header and digest have been checked. */
struct state_in {
	const uint8_t *p, *end;
	uint32_t count, done;
	uint64_t saved_ms;
};

/* Starts an empty state; 0, or -1 with *cause. */
int state_out_init(struct state_out *o, char **cause) __attribute__((warn_unused_result));
/* Appends one session; 0, or -1 with *cause (a field out of bounds, out of memory). */
int state_out_add(struct state_out *o, const struct state_session *ss, char **cause)
    __attribute__((warn_unused_result));
/*
 * Writes the header (the complete flag, the digest) last and hands the buffer
 * over in *data and *len (free() it); 0, or -1 with *cause.
 */
int state_out_finish(struct state_out *o, uint64_t saved_ms, uint8_t **data, size_t *len,
    char **cause) __attribute__((warn_unused_result));
/* Frees an encoder that was not finished. */
void state_out_free(struct state_out *o);

/*
 * Checks the header (magic, version, complete flag, bounds, length, digest)
 * of len bytes at buf; 0 with *in ready, or -1 with *cause saying why.
 */
int state_in_open(struct state_in *in, const uint8_t *buf, size_t len, char **cause)
    __attribute__((warn_unused_result));
/* Decodes the next session: 1 with *ss, 0 at the end, -1 with *cause. */
int state_in_next(struct state_in *in, struct state_session *ss, char **cause)
    __attribute__((warn_unused_result));

#endif
