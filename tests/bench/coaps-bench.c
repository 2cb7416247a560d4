/* coaps-bench.c: command line of the CoAPS load generator and its helper modes. */
#include "config.h"

#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/tls-compat.h"
#include "bench.h"

/* Print the usage text. */
static void
usage(FILE *f)
{
	fputs("usage: coaps-bench --target HOST:PORT [credentials] [workload] [output]\n"
	      "       coaps-bench --backend --listen ADDR:PORT\n"
	      "       coaps-bench --udp-relay --listen ADDR:PORT --to ADDR:PORT\n"
	      "       coaps-bench --inprocess-handshakes N (--cert F --key F --ca F\n"
	      "                   --client-cert F --client-key F | --psk-identity ID --psk KEY)\n"
	      "\n"
	      "Load generator: N DTLS sessions on one libevent loop send CoAP CON requests.\n"
	      "credentials:\n"
	      "  --plain                  plain CoAP over UDP (no DTLS)\n"
	      "  --psk-identity ID        PSK identity\n"
	      "  --psk KEY                PSK as text bytes (like libcoap -k)\n"
	      "  --psk-hex HEX            PSK as hex\n"
	      "  --cert FILE --key FILE   client certificate and key (ECDHE-ECDSA)\n"
	      "  --ca FILE                CA that signed the server certificate (verified)\n"
	      "  --server-name NAME       expected server certificate name\n"
	      "  --suite NAME             cipher suite (default TLS-PSK-WITH-AES-128-CCM-8 or\n"
	      "                           TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8)\n"
	      "workload:\n"
	      "  --sessions N             concurrent sessions (default 1)\n"
	      "  --inflight K             requests in flight per session (default 1)\n"
	      "  --duration SEC           run time (default 10; with --count or\n"
	      "                           --requests-per-session: upper bound, default 300)\n"
	      "  --count N                stop after N requests\n"
	      "  --requests-per-session N each session sends N requests, then stays idle;\n"
	      "                           the run ends when all sessions are done\n"
	      "  --method get|post        (default get)\n"
	      "  --size BYTES             POST payload size (default 64)\n"
	      "  --path /x                Uri-Path (default /echo)\n"
	      "  --proxy-uri URI          send Proxy-Uri URI instead of Uri-Path\n"
	      "  --handshake-only         new session, one request, close, repeat\n"
	      "  --resume                 with --handshake-only: each session offers its previous\n"
	      "                           session (ticket, or session ID) to the next handshake\n"
	      "  --ramp N                 at most N handshakes in progress (default 0: no limit)\n"
	      "  --src-addrs A,B,...      bind sessions round-robin to these source addresses\n"
	      "  --hold SEC               keep sessions open SEC s after the run, then read RSS\n"
	      "  --wake-rate N            after --hold, each held session sends one more\n"
	      "                           request, N sessions a second; reported as \"wake\"\n"
	      "  --rate R                 R requests a second over all sessions, one at a\n"
	      "                           time per session, the first right after the\n"
	      "                           handshake (default: back to back); prints\n"
	      "                           \"all N sessions established\" once (stderr)\n"
	      "  --loss PCT               drop PCT%% of the datagrams sent and received, at\n"
	      "                           random (DTLS only)\n"
	      "  --seed N                 seed of --loss (default 1)\n"
	      "output:\n"
	      "  --server-pid PID         report the server's VmRSS\n"
	      "  --json FILE              also write the result as JSON (- for stdout)\n"
	      "  --label TEXT             put TEXT into the report\n"
	      "  -q, --quiet              no table\n"
	      "  -h, --help               this text\n",
	    f);
}

/* Decode a hex string into buf; its length or -1. */
static int
hex_decode(const char *s, unsigned char *buf, size_t cap)
{
	size_t n = strlen(s), i;

	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		buf[i] = (unsigned char)v;
	}
	return (int)i;
}

/* Parse an unsigned number within [lo, hi]; false when invalid. */
static bool
parse_num(const char *s, unsigned long long lo, unsigned long long hi, unsigned long long *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

enum {
	OPT_TARGET = 256,
	OPT_PLAIN,
	OPT_PSK_ID,
	OPT_PSK,
	OPT_PSK_HEX,
	OPT_CERT,
	OPT_KEY,
	OPT_CA,
	OPT_SESSIONS,
	OPT_INFLIGHT,
	OPT_DURATION,
	OPT_COUNT,
	OPT_METHOD,
	OPT_SIZE,
	OPT_PATH,
	OPT_HS_ONLY,
	OPT_RESUME,
	OPT_PROXY_URI,
	OPT_PID,
	OPT_JSON,
	OPT_SUITE,
	OPT_SRC,
	OPT_RAMP,
	OPT_BACKEND,
	OPT_RELAY,
	OPT_LISTEN,
	OPT_TO,
	OPT_INPROC,
	OPT_CCERT,
	OPT_CKEY,
	OPT_HOLD,
	OPT_WAKE,
	OPT_LABEL,
	OPT_SNAME,
	OPT_PER_SESSION,
	OPT_RATE,
	OPT_LOSS,
	OPT_SEED,
};

static const struct option longopts[] = {
	{ "target", required_argument, NULL, OPT_TARGET },
	{ "plain", no_argument, NULL, OPT_PLAIN },
	{ "psk-identity", required_argument, NULL, OPT_PSK_ID },
	{ "psk", required_argument, NULL, OPT_PSK },
	{ "psk-hex", required_argument, NULL, OPT_PSK_HEX },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "server-name", required_argument, NULL, OPT_SNAME },
	{ "sessions", required_argument, NULL, OPT_SESSIONS },
	{ "inflight", required_argument, NULL, OPT_INFLIGHT },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "requests-per-session", required_argument, NULL, OPT_PER_SESSION },
	{ "method", required_argument, NULL, OPT_METHOD },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "path", required_argument, NULL, OPT_PATH },
	{ "handshake-only", no_argument, NULL, OPT_HS_ONLY },
	{ "resume", no_argument, NULL, OPT_RESUME },
	{ "proxy-uri", required_argument, NULL, OPT_PROXY_URI },
	{ "server-pid", required_argument, NULL, OPT_PID },
	{ "json", required_argument, NULL, OPT_JSON },
	{ "suite", required_argument, NULL, OPT_SUITE },
	{ "src-addrs", required_argument, NULL, OPT_SRC },
	{ "ramp", required_argument, NULL, OPT_RAMP },
	{ "hold", required_argument, NULL, OPT_HOLD },
	{ "wake-rate", required_argument, NULL, OPT_WAKE },
	{ "label", required_argument, NULL, OPT_LABEL },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "loss", required_argument, NULL, OPT_LOSS },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "backend", no_argument, NULL, OPT_BACKEND },
	{ "udp-relay", no_argument, NULL, OPT_RELAY },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "to", required_argument, NULL, OPT_TO },
	{ "inprocess-handshakes", required_argument, NULL, OPT_INPROC },
	{ "client-cert", required_argument, NULL, OPT_CCERT },
	{ "client-key", required_argument, NULL, OPT_CKEY },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Split a comma-separated address list into o->src_addrs; false when too many. */
static bool
parse_src(struct bench_opts *o, char *list)
{
	char *save = NULL;

	for (char *t = strtok_r(list, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		if (o->n_src_addrs == BENCH_MAX_SRC_ADDRS)
			return false;
		o->src_addrs[o->n_src_addrs++] = t;
	}
	return o->n_src_addrs > 0;
}

/* Parse the command line and run the chosen mode. */
int
main(int argc, char **argv)
{
	struct bench_opts o;
	bool backend = false, relay = false;
	unsigned long long v;
	char *end;
	int ch, n;

	if (tc_crypto_init() != 0) {
		fprintf(stderr, "coaps-bench: cannot initialise PSA crypto\n");
		return 1;
	}
	memset(&o, 0, sizeof(o));
	o.sessions = 1;
	o.inflight = 1;
	o.size = 64;
	o.path = "/echo";
	o.server_pid = -1;
	o.seed = 1;
	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_TARGET:
			o.target = optarg;
			break;
		case OPT_PLAIN:
			o.plain = true;
			break;
		case OPT_PSK_ID:
			o.psk_identity = optarg;
			break;
		case OPT_PSK:
			if (strlen(optarg) > sizeof(o.psk))
				goto bad;
			o.psk_len = strlen(optarg);
			memcpy(o.psk, optarg, o.psk_len);
			break;
		case OPT_PSK_HEX:
			if ((n = hex_decode(optarg, o.psk, sizeof(o.psk))) <= 0)
				goto bad;
			o.psk_len = (size_t)n;
			break;
		case OPT_CERT:
			o.cert = optarg;
			break;
		case OPT_KEY:
			o.key = optarg;
			break;
		case OPT_CA:
			o.ca = optarg;
			break;
		case OPT_SNAME:
			o.server_name = optarg;
			break;
		case OPT_SESSIONS:
			if (!parse_num(optarg, 1, 1000000, &v))
				goto bad;
			o.sessions = (unsigned)v;
			break;
		case OPT_INFLIGHT:
			if (!parse_num(optarg, 1, 1024, &v))
				goto bad;
			o.inflight = (unsigned)v;
			break;
		case OPT_DURATION:
			o.duration = strtod(optarg, &end);
			if (*end != '\0' || !(o.duration > 0 && o.duration < 1e6))
				goto bad;
			break;
		case OPT_HOLD:
			o.hold = strtod(optarg, &end);
			if (*end != '\0' || !(o.hold >= 0 && o.hold < 1e5))
				goto bad;
			break;
		case OPT_WAKE:
			if (!parse_num(optarg, 1, 10000000, &v))
				goto bad;
			o.wake_rate = (unsigned)v;
			break;
		case OPT_COUNT:
			if (!parse_num(optarg, 1, ULLONG_MAX, &v))
				goto bad;
			o.count = v;
			break;
		case OPT_PER_SESSION:
			if (!parse_num(optarg, 1, ULLONG_MAX, &v))
				goto bad;
			o.per_session = v;
			break;
		case OPT_METHOD:
			if (strcmp(optarg, "get") == 0)
				o.post = false;
			else if (strcmp(optarg, "post") == 0)
				o.post = true;
			else
				goto bad;
			break;
		case OPT_SIZE:
			if (!parse_num(optarg, 0, BENCH_MAX_SIZE, &v))
				goto bad;
			o.size = (unsigned)v;
			break;
		case OPT_PATH:
			o.path = optarg;
			break;
		case OPT_HS_ONLY:
			o.handshake_only = true;
			break;
		case OPT_RESUME:
			o.resume = true;
			break;
		case OPT_PROXY_URI:
			if (strlen(optarg) >= BENCH_MAX_URI)
				goto bad;
			o.proxy_uri = optarg;
			break;
		case OPT_PID:
			if (!parse_num(optarg, 1, INT_MAX, &v))
				goto bad;
			o.server_pid = (long)v;
			break;
		case OPT_JSON:
			o.json = optarg;
			break;
		case OPT_SUITE:
			o.suite = optarg;
			break;
		case OPT_SRC:
			if (!parse_src(&o, optarg))
				goto bad;
			break;
		case OPT_RAMP:
			if (!parse_num(optarg, 0, 1000000, &v))
				goto bad;
			o.ramp = (unsigned)v;
			break;
		case OPT_LABEL:
			o.label = optarg;
			break;
		case OPT_RATE:
			o.rate = strtod(optarg, &end);
			if (*end != '\0' || !(o.rate > 0 && o.rate < 1e7))
				goto bad;
			break;
		case OPT_LOSS:
			if (!parse_num(optarg, 0, 99, &v))
				goto bad;
			o.loss = (unsigned)v;
			break;
		case OPT_SEED:
			if (!parse_num(optarg, 0, ULONG_MAX, &v))
				goto bad;
			o.seed = (unsigned long)v;
			break;
		case OPT_BACKEND:
			backend = true;
			break;
		case OPT_RELAY:
			relay = true;
			break;
		case OPT_LISTEN:
			o.listen = optarg;
			break;
		case OPT_TO:
			o.to = optarg;
			break;
		case OPT_INPROC:
			if (!parse_num(optarg, 1, 100000000, &v))
				goto bad;
			o.inprocess = (unsigned)v;
			break;
		case OPT_CCERT:
			o.client_cert = optarg;
			break;
		case OPT_CKEY:
			o.client_key = optarg;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc)
		goto usage;
	if (backend)
		return o.listen ? backend_run(&o) : (usage(stderr), 2);
	if (relay)
		return o.listen && o.to ? relay_run(&o) : (usage(stderr), 2);
	if (o.inprocess > 0) {
		if (o.psk_len > 0 && o.psk_identity == NULL)
			o.psk_identity = "bench";
		return inproc_run(&o);
	}
	if (o.target == NULL)
		goto usage;
	if (!o.plain && o.cert == NULL && (o.psk_identity == NULL || o.psk_len == 0)) {
		fprintf(stderr, "coaps-bench: give --plain, --psk-identity with --psk/--psk-hex, "
		                "or --cert with --key\n");
		return 2;
	}
	if (o.cert != NULL && o.key == NULL) {
		fprintf(stderr, "coaps-bench: --cert needs --key\n");
		return 2;
	}
	if (o.wake_rate > 0 && (o.hold <= 0 || o.handshake_only)) {
		fprintf(stderr, "coaps-bench: --wake-rate needs --hold and no --handshake-only\n");
		return 2;
	}
	if (o.rate > 0 && (o.handshake_only || o.count > 0 || o.per_session > 0)) {
		fprintf(stderr, "coaps-bench: --rate goes without --handshake-only, --count and "
		                "--requests-per-session\n");
		return 2;
	}
	if (o.loss > 0 && o.plain) {
		fprintf(stderr, "coaps-bench: --loss needs DTLS\n");
		return 2;
	}
	if (o.resume && !o.handshake_only) {
		fprintf(stderr, "coaps-bench: --resume needs --handshake-only\n");
		return 2;
	}
	if (o.plain && o.handshake_only) {
		fprintf(stderr, "coaps-bench: --handshake-only needs DTLS\n");
		return 2;
	}
	if (o.proxy_uri == NULL && strlen(o.path) >= BENCH_MAX_URI) {
		fprintf(stderr, "coaps-bench: --path too long\n");
		return 2;
	}
	return client_run(&o);
bad:
	fprintf(stderr, "coaps-bench: bad value for %s: %s\n", argv[optind - 1], optarg);
	return 2;
usage:
	usage(stderr);
	return 2;
}
