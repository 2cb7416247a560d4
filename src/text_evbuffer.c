/* text_evbuffer.c: the JSON escaper into a libevent buffer (apart: text.c needs no libevent). */
#include "config.h"

#include <stddef.h>

#include <event2/buffer.h>

#include "text.h"

void
text_json_evbuffer(struct evbuffer *out, const void *src, size_t len)
{
	const unsigned char *p = src;
	char buf[256];
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		size_t used;

		if (o > sizeof buf - TEXT_JSON_UNIT_MAX) {
			evbuffer_add(out, buf, o);
			o = 0;
		}
		o += text_json_unit(p + i, len - i, buf + o, &used);
		i += used;
	}
	evbuffer_add(out, buf, o);
}
