/* fuzz_control.c: libFuzzer target for the control socket's request parser. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless p points into the request's line, at a non-empty string. */
static void
check_arg(const struct control_request *req, const char *p)
{
	if (p == NULL || p < req->line || p >= req->line + sizeof req->line || *p == '\0')
		abort();
}

/* Aborts unless req->id is the value of the hex digits that end the line (1 to 8 of them). */
static void
check_id(const struct control_request *req)
{
	const char *hex = strrchr(req->line, ' ');
	size_t n;

	if (hex == NULL)
		abort();
	hex++;
	n = strlen(hex);
	if (n == 0 || n > 8 || strspn(hex, "0123456789abcdefABCDEF") != n ||
	    strtoul(hex, NULL, 16) != req->id)
		abort();
}

/* Parses one input as the bytes a client sent, and checks the answer against the protocol. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct control_request req;
	const char *why = NULL;
	const uint8_t *lf = memchr(data, '\n', size);
	size_t raw, n;
	int r;

	r = control_parse(data, size, &req, &why);
	raw = lf != NULL ? (size_t)(lf - data) : size;
	if (raw > 0 && data[raw - 1] == '\r')
		raw--;
	switch (r) {
	case 0:
		/* Incomplete: no end of line yet, and not yet too long. */
		if (lf != NULL || size > CONTROL_LINE_MAX)
			abort();
		break;
	case -1:
		if (why == NULL || why[0] == '\0' || strlen(req.line) > CONTROL_LINE_MAX)
			abort();
		break;
	case 1:
		/* The line is exactly the bytes before the LF (less a CR, and less a
		 * final " --json" when json), printable, bounded. */
		n = strlen(req.line);
		if (req.json && (raw < n + 7 || memcmp(data + n, " --json", 7) != 0))
			abort();
		if (lf == NULL || n > CONTROL_LINE_MAX || n != raw - (req.json ? 7 : 0) ||
		    memcmp(req.line, data, n) != 0)
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)req.line[i] < 0x20 || req.line[i] == 0x7f)
				abort();
		switch (req.verb) {
		case CONTROL_SHOW:
		case CONTROL_CLOSE:
			check_id(&req);
			break;
		case CONTROL_CLOSE_IDENTITY:
			check_arg(&req, req.arg);
			break;
		case CONTROL_CHECK_CONFIG:
			if (req.arg != NULL)
				check_arg(&req, req.arg);
			break;
		case CONTROL_LOG:
			check_arg(&req, req.arg);
			break;
		case CONTROL_SESSIONS:
		case CONTROL_STATS:
		case CONTROL_STATUS:
		case CONTROL_LISTENERS:
		case CONTROL_RELOAD:
			if (req.arg != NULL)
				abort();
			break;
		default:
			abort();
		}
		break;
	default:
		abort();
	}
	return 0;
}
