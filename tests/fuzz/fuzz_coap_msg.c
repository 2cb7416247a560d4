/* fuzz_coap_msg.c: libFuzzer target for CoAP inspection, rewriting and target extraction. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <coap3/coap.h>

#include "coap_msg.h"

#define MAX_MSG 1232

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct coap_msg_ctx *ctx;
static coap_pdu_t *pdu;

/* Aborts so that libFuzzer records the input. */
static void
fuzz_assert(int cond)
{
	if (!cond)
		abort();
}

/* Counts the copies of option num in a message libcoap has parsed, checking their value. */
static int
count_opt(uint16_t num, const char *val)
{
	coap_opt_iterator_t it;
	coap_opt_t *o;
	uint16_t last = 0;
	int n = 0;

	coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
	while ((o = coap_option_next(&it)) != NULL) {
		fuzz_assert(it.number >= last);
		last = (uint16_t)it.number;
		if (it.number != num)
			continue;
		fuzz_assert(coap_opt_length(o) == strlen(val));
		fuzz_assert(memcmp(coap_opt_value(o), val, strlen(val)) == 0);
		n++;
	}
	return n;
}

/* Checks the invariants of a rewrite result. */
static void
check_rewritten(const uint8_t *in, size_t inlen, const uint8_t *out, size_t n,
    uint16_t identity_opt, const char *identity, bool strip_proxy)
{
	struct coap_msg_info info, orig;
	const char *why;

	fuzz_assert(coap_msg_inspect(ctx, in, inlen, &orig, &why) == 0);
	/* What we forward must pass our own inspection, as the same request. */
	fuzz_assert(coap_msg_inspect(ctx, out, n, &info, &why) == 0);
	fuzz_assert(info.is_request && info.type == orig.type);
	fuzz_assert(info.code == orig.code && info.mid == orig.mid);
	fuzz_assert(info.token_len == orig.token_len);
	fuzz_assert(memcmp(info.token, orig.token, orig.token_len) == 0);
	fuzz_assert(info.payload_len == orig.payload_len);
	if (strip_proxy)
		fuzz_assert(!info.has_proxy_uri && !info.has_proxy_scheme);
	/*
	 * libcoap, the independent parser, judges option values more strictly
	 * than RFC 7252 §5.4.3; where it takes the input it must take the
	 * output, and the identity must be there exactly once.
	 */
	if (!coap_pdu_parse(COAP_PROTO_UDP, in, inlen, pdu))
		return;
	fuzz_assert(coap_pdu_parse(COAP_PROTO_UDP, out, n, pdu));
	fuzz_assert(count_opt(identity_opt, identity) == 1);
}

/* Runs every parser of coap_msg on one input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct coap_msg_info info, answer_info;
	uint8_t *in, out[MAX_MSG + 1400], ans[64];
	char path[MAX_MSG * 3 + 2], host[300];
	const char *why = NULL;
	uint16_t port;
	size_t n;
	int ok;

	if (ctx == NULL) {
		ctx = coap_msg_ctx_new(MAX_MSG);
		pdu = coap_pdu_init(0, 0, 0, 8192);
		fuzz_assert(ctx != NULL && pdu != NULL);
	}
	/* An exact-size copy lets AddressSanitizer catch any over-read. */
	in = malloc(size > 0 ? size : 1);
	fuzz_assert(in != NULL);
	memcpy(in, data, size);

	ok = coap_msg_inspect(ctx, in, size, &info, &why);
	fuzz_assert(ok == 0 || (why != NULL && strlen(why) > 0));
	if (ok == 0 && info.is_request) {
		n = coap_msg_build_answer(ans, sizeof(ans), &info, COAP_MSG_CODE(4, 4), 7,
		    "no route");
		fuzz_assert(n > 0);
		fuzz_assert(coap_msg_inspect(ctx, ans, n, &answer_info, &why) == 0);
		fuzz_assert(answer_info.is_response);
	}

	why = NULL;
	n = coap_msg_rewrite_request(ctx, in, size, out, sizeof(out), 65001, "psk:dev-42", 10,
	    false, &why);
	fuzz_assert(n > 0 || why != NULL);
	if (n > 0)
		check_rewritten(in, size, out, n, 65001, "psk:dev-42", false);
	why = NULL;
	n = coap_msg_rewrite_request(ctx, in, size, out, sizeof(out), 258, "x", 1, true, &why);
	fuzz_assert(n > 0 || why != NULL);
	if (n > 0)
		check_rewritten(in, size, out, n, 258, "x", true);
	/* A tight output buffer must fail cleanly, never overflow. */
	if (size > 8)
		(void)coap_msg_rewrite_request(ctx, in, size, out, size / 2, 65001, "psk:dev-42",
		    10, true, &why);

	if (coap_msg_proxy_target(ctx, in, size, host, sizeof(host), &port, &why) == 0)
		fuzz_assert(port != 0 && strlen(host) > 0);
	if (coap_msg_request_target(ctx, in, size, path, sizeof(path), host, sizeof(host)) == 0)
		fuzz_assert(path[0] == '/');
	(void)coap_msg_request_target(ctx, in, size, path, 5, host, 3);
	free(in);
	return 0;
}
