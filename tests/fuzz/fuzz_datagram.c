/* fuzz_datagram.c: libFuzzer target for the datagram path: session table, cookies, DTLS, relay. */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "session.h"

#include "fuzz_proxy.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fuzz_debug;

/* Sets up the proxy once per process. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_debug = getenv("FUZZ_DEBUG") != NULL;
	fuzz_proxy_init();
	return 0;
}

/* Feeds one input's datagrams, then closes every session it made. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_stats before = *stats_get();
	const struct proxy_stats *after;

	fuzz_proxy_run(data, size);
	if (fuzz_debug) {
		/* Shows how deep an input got, to check the seed corpus. */
		after = stats_get();
		fprintf(stderr,
		    "fuzz_datagram: cookies_sent=%llu handshakes_ok=%llu "
		    "handshakes_failed=%llu msgs_relayed_in=%llu msgs_relayed_out=%llu "
		    "answers_5.02=%llu\n",
		    (unsigned long long)(after->cookies_sent - before.cookies_sent),
		    (unsigned long long)(after->handshakes_ok - before.handshakes_ok),
		    (unsigned long long)(after->handshakes_failed - before.handshakes_failed),
		    (unsigned long long)(after->msgs_relayed_in - before.msgs_relayed_in),
		    (unsigned long long)(after->msgs_relayed_out - before.msgs_relayed_out),
		    (unsigned long long)(after->answers[ANSWER_5_02] -
		                         before.answers[ANSWER_5_02]));
	}
	return 0;
}
