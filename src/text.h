/* text.h: byte-level text helpers below every module: JSON string escaping, hex decoding. */
#ifndef COAPS_PROXY_TEXT_H
#define COAPS_PROXY_TEXT_H

#include <stddef.h>

/* The longest escape text_json_unit writes: a surrogate pair, "\ud83d\ude00". */
#define TEXT_JSON_UNIT_MAX 12

/*
 * Escapes the first unit of the len (> 0) bytes at p for the inside of a JSON
 * string into u (TEXT_JSON_UNIT_MAX bytes, not terminated); returns the bytes
 * written and sets *used to the input bytes taken. Printable ASCII stays,
 * '"' and '\\' become \" and \\, every other byte below 0x80 (NUL, control
 * bytes, DEL) becomes \u00NN, a valid UTF-8 sequence becomes its code point
 * (\uNNNN, or a surrogate pair), and a byte that starts no valid sequence
 * becomes \u00NN. The output is ASCII: no raw control, C1 or bidi character.
 */
size_t text_json_unit(const unsigned char *p, size_t len, char *u, size_t *used);

struct evbuffer;
/* Appends len bytes of src to out as the inside of a JSON string (text_json_unit; text_evbuffer.c). */
void text_json_evbuffer(struct evbuffer *out, const void *src, size_t len);

/* The value of one hex digit (0-9, a-f, A-F), or -1. */
int text_hex_digit(int c);

/*
 * Decodes the hex string hex (an even number of digits, at least two) into
 * at most outlen bytes of out; returns the byte count, or -1 if it is empty,
 * odd, too long or has a non-hex character.
 */
int text_hex_decode(const char *hex, unsigned char *out, size_t outlen)
    __attribute__((warn_unused_result));

#endif
