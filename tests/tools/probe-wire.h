/* probe-wire.h: DTLS 1.2 record building and parsing for dtls-probe. */
#ifndef PROBE_WIRE_H
#define PROBE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* DTLS wire constants used by the probe. */
#define CT_CCS 20
#define CT_ALERT 21
#define CT_HANDSHAKE 22
#define CT_APPDATA 23
#define HS_CLIENT_HELLO 1
#define HS_SERVER_HELLO 2
#define HS_HELLO_VERIFY_REQUEST 3
#define HS_SERVER_HELLO_DONE 14
#define HS_FINISHED 20
#define DTLS12_VERSION 0xFEFD
#define REC_HDR_LEN 13
#define HS_HDR_LEN 12

/* Sizes: lists in a ClientHello, a cookie, a datagram, the largest IPv4 UDP payload. */
#define MAX_SUITES 128
#define MAX_CURVES 32
#define MAX_COOKIE 255
#define MAX_DGRAM 65535
#define MAX_UDP4_PAYLOAD 65507

/* A bounded output buffer; writes past cap set err instead of overflowing. */
struct wbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
	bool err;
};

/* What a ClientHello carries. */
struct hello_params {
	uint16_t suites[MAX_SUITES];
	size_t n_suites;
	uint16_t curves[MAX_CURVES];
	size_t n_curves;
	uint8_t random[32];
	uint8_t cookie[MAX_COOKIE];
	size_t cookie_len;
};

/* Counters and the last interesting values seen in received records. */
struct recv_stats {
	unsigned long datagrams;
	unsigned long bytes;
	unsigned long records;
	unsigned long hvr;
	unsigned long server_hellos;
	unsigned long alerts;
	unsigned long malformed;
	bool terminal;  /* HVR, alert or ServerHelloDone seen since last reset */
	bool got_hvr;   /* HVR seen since last reset */
	bool refused;   /* ICMP port unreachable reported */
	uint16_t suite; /* suite of the last ServerHello */
	uint8_t cookie[MAX_COOKIE];
	size_t cookie_len;
};

/* How received events are reported. */
enum out_mode {
	OUT_PRINT,   /* one line per event on stdout */
	OUT_COLLECT, /* events joined into one line */
	OUT_QUIET,   /* counters only */
};

/* Destination of "recv ..." event descriptions. */
struct out {
	enum out_mode mode;
	char line[4096];
	size_t len;
};

/* Fills a buffer with random bytes (getrandom, with a rand() fallback). */
void rand_fill(uint8_t *p, size_t n);
/* Appends one byte. */
void wbuf_u8(struct wbuf *b, unsigned v);
/* Appends a 16-bit big-endian value. */
void wbuf_u16(struct wbuf *b, unsigned v);
/* Appends a 24-bit big-endian value. */
void wbuf_u24(struct wbuf *b, unsigned long v);
/* Appends a 48-bit big-endian value. */
void wbuf_u48(struct wbuf *b, uint64_t v);
/* Appends n bytes. */
void wbuf_mem(struct wbuf *b, const void *src, size_t n);
/* Appends n random bytes. */
void wbuf_rand(struct wbuf *b, size_t n);
/* Overwrites a 16-bit value at off (already written). */
void wbuf_set_u16(struct wbuf *b, size_t off, unsigned v);
/* Overwrites a 24-bit value at off (already written). */
void wbuf_set_u24(struct wbuf *b, size_t off, unsigned long v);
/* Writes a record header with a zero length; returns the offset of the length field. */
size_t rec_begin(struct wbuf *b, unsigned type, unsigned version, unsigned epoch, uint64_t seq);
/* Sets the record length field to the bytes written since rec_begin(). */
void rec_end(struct wbuf *b, size_t len_off);
/* Writes an unfragmented handshake header with zero lengths; returns its offset. */
size_t hs_begin(struct wbuf *b, unsigned type, unsigned msg_seq);
/* Sets message and fragment length of the handshake header at off to the body written. */
void hs_end(struct wbuf *b, size_t off);
/* Writes a ClientHello body (no handshake header). */
void hello_body_write(struct wbuf *b, const struct hello_params *hp);
/* Writes a complete ClientHello record (one record, one unfragmented message). */
void hello_record_write(struct wbuf *b, const struct hello_params *hp, unsigned msg_seq,
    uint64_t rec_seq);
/* Records one "recv ..." event in the chosen output mode. */
void out_emit(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reads a big-endian integer of n bytes (n <= 8) from p. */
uint64_t be_get(const uint8_t *p, size_t n);
/* Reports every record in one received datagram, bounds-checking each field. */
void parse_datagram(const uint8_t *d, size_t n, struct recv_stats *st, struct out *o);

#endif
