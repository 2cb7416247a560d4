/* fuzz_state.c: libFuzzer target for the saved-sessions loader (state.c). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>

#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts so that libFuzzer records the input. */
static void
fuzz_assert(int cond)
{
	if (!cond)
		abort();
}

/*
 * Gives a mutated input the digest it needs, so that the fuzzer gets past the
 * checksum into the records (the header's flags are left as they are).
 */
static void
fuzz_seal(uint8_t *buf, size_t len)
{
	const mbedtls_md_info_t *info = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	mbedtls_md_context_t ctx;
	uint8_t hdr[28];

	memcpy(hdr, buf, 28);
	hdr[10] = hdr[11] = 0;
	mbedtls_md_init(&ctx);
	if (mbedtls_md_setup(&ctx, info, 0) == 0 && mbedtls_md_starts(&ctx) == 0 &&
	    mbedtls_md_update(&ctx, hdr, 28) == 0 &&
	    mbedtls_md_update(&ctx, buf + STATE_HEADER_LEN, len - STATE_HEADER_LEN) == 0)
		(void)mbedtls_md_finish(&ctx, buf + 28);
	mbedtls_md_free(&ctx);
}

/* Decodes every session; each one decoded is encoded again and must decode the same. */
static void
fuzz_load(const uint8_t *buf, size_t len)
{
	struct state_in in;
	struct state_out o;
	struct state_session *ss = malloc(sizeof *ss), *again = malloc(sizeof *again);
	char *cause = NULL;
	int rc;

	fuzz_assert(ss != NULL && again != NULL);
	if (state_in_open(&in, buf, len, &cause) == -1) {
		fuzz_assert(cause != NULL);
		goto out;
	}
	while ((rc = state_in_next(&in, ss, &cause)) == 1) {
		uint8_t *enc;
		size_t enc_len;
		struct state_in in2;

		fuzz_assert(ss->context != NULL && ss->context >= buf &&
		            ss->context + ss->context_len <= buf + len);
		fuzz_assert(state_out_init(&o, &cause) == 0);
		fuzz_assert(state_out_add(&o, ss, &cause) == 0);
		fuzz_assert(state_out_finish(&o, in.saved_ms, &enc, &enc_len, &cause) == 0);
		fuzz_assert(state_in_open(&in2, enc, enc_len, &cause) == 0);
		fuzz_assert(state_in_next(&in2, again, &cause) == 1);
		fuzz_assert(again->context_len == ss->context_len &&
		            memcmp(again->context, ss->context, ss->context_len) == 0);
		fuzz_assert(again->identity_len == ss->identity_len && again->n_up == ss->n_up &&
		            again->n_mids == ss->n_mids && again->cid_len == ss->cid_len &&
		            again->last_ms == ss->last_ms &&
		            strcmp(again->cipher, ss->cipher) == 0);
		fuzz_assert(state_in_next(&in2, again, &cause) == 0);
		free(enc);
	}
	fuzz_assert(rc == 0 || cause != NULL);
out:
	free(cause);
	free(ss);
	free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf;

	fuzz_load(data, size);
	if (size < STATE_HEADER_LEN || (buf = malloc(size)) == NULL)
		return 0;
	memcpy(buf, data, size);
	fuzz_seal(buf, size);
	fuzz_load(buf, size);
	free(buf);
	return 0;
}
