/* text.c: byte-level text helpers below every module: JSON string escaping, hex decoding. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

/* Length of the valid UTF-8 sequence (2-4 bytes) at p and its code point, or 0. */
static size_t
text_utf8_len(const unsigned char *p, size_t len, uint32_t *cpp)
{
	uint32_t cp;
	size_t n;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1fu;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0fu;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07u;
	} else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cpp = cp;
	return n;
}

/* Writes \uXXXX (v below 0x10000) into u; returns 6. */
static size_t
text_json_u(char *u, uint32_t v)
{
	static const char hex[] = "0123456789abcdef";

	u[0] = '\\';
	u[1] = 'u';
	u[2] = hex[(v >> 12) & 15];
	u[3] = hex[(v >> 8) & 15];
	u[4] = hex[(v >> 4) & 15];
	u[5] = hex[v & 15];
	return 6;
}

size_t
text_json_unit(const unsigned char *p, size_t len, char *u, size_t *used)
{
	unsigned char c = p[0];
	uint32_t cp;
	size_t n;

	*used = 1;
	if (c == '"' || c == '\\') {
		u[0] = '\\';
		u[1] = (char)c;
		return 2;
	}
	if (c >= 0x20 && c < 0x7f) {
		u[0] = (char)c;
		return 1;
	}
	if (c >= 0x80 && (n = text_utf8_len(p, len, &cp)) > 0) {
		*used = n;
		if (cp < 0x10000)
			return text_json_u(u, cp);
		text_json_u(u, 0xd800 + ((cp - 0x10000) >> 10));
		return 6 + text_json_u(u + 6, 0xdc00 + ((cp - 0x10000) & 0x3ff));
	}
	return text_json_u(u, c);
}

int
text_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
text_hex_decode(const char *hex, unsigned char *out, size_t outlen)
{
	size_t n = strlen(hex);

	if (n == 0 || n % 2 != 0 || n / 2 > outlen)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		int hi = text_hex_digit((unsigned char)hex[i]);
		int lo = text_hex_digit((unsigned char)hex[i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	return (int)(n / 2);
}
