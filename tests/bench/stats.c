/* stats.c: latency histogram, clocks, server RSS and the table/JSON report. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench.h"

/* Map a value in microseconds to its histogram bucket (about 1.5% wide). */
static unsigned
hist_index(uint64_t v)
{
	unsigned msb, idx;

	if (v < HIST_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v); /* >= 6 */
	idx = (msb - 5u) * HIST_SUB + (unsigned)((v >> (msb - 6u)) & (HIST_SUB - 1));
	return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

/* Lowest value that lands in bucket idx (the inverse of hist_index). */
static uint64_t
hist_value(unsigned idx)
{
	unsigned msb;

	if (idx < HIST_SUB)
		return idx;
	msb = idx / HIST_SUB + 5u;
	return ((uint64_t)1 << msb) | ((uint64_t)(idx % HIST_SUB) << (msb - 6u));
}

/* Record one sample. */
void
hist_add(struct hist *h, uint64_t us)
{
	h->n++;
	h->sum += us;
	if (us > h->max)
		h->max = us;
	h->b[hist_index(us)]++;
}

/* The p-th percentile (0..100) in microseconds; 0 when empty. */
uint64_t
hist_pct(const struct hist *h, double p)
{
	uint64_t want, seen = 0;
	unsigned i;

	if (h->n == 0)
		return 0;
	want = (uint64_t)((double)h->n * p / 100.0 + 0.5);
	if (want < 1)
		want = 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			uint64_t v = hist_value(i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

/* CPU time (user + system) a process has used, in seconds, or -1. */
double
stats_proc_cpu_s(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long utime, stime;
	size_t n;
	FILE *f;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* After "pid (comm)": state is field 3, utime 14, stime 15. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) !=
	        2)
		return -1;
	return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* VmRSS of a process in kB, or -1. */
long
stats_rss_kb(long pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/* Monotonic time in seconds. */
double
stats_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Monotonic time in nanoseconds. */
uint64_t
stats_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time (user + system) this process has used, in seconds. */
double
stats_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Write a JSON string with the few escapes it can need. */
static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Print a JSON number or null for a negative "unknown" value. */
static void
json_long(FILE *f, long v)
{
	if (v < 0)
		fputs("null", f);
	else
		fprintf(f, "%ld", v);
}

/* Write the JSON object for a result. */
static void
stats_json(FILE *f, const struct bench_result *r, const struct bench_opts *o)
{
	fputs("{\"mode\":", f);
	json_str(f, r->mode);
	if (o->label != NULL) {
		fputs(",\"label\":", f);
		json_str(f, o->label);
	}
	fprintf(f,
	    ",\"sessions\":%u,\"handshakes\":%" PRIu64 ",\"handshakes_per_s\":%.1f"
	    ",\"resumed\":%" PRIu64 ",\"requests\":%" PRIu64 ",\"requests_per_s\":%.1f",
	    r->sessions, r->handshakes, r->handshakes_per_s, r->resumed, r->requests,
	    r->requests_per_s);
	fprintf(f,
	    ",\"latency_us\":{\"p50\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64
	    ",\"max\":%" PRIu64 "}",
	    hist_pct(&r->lat, 50), hist_pct(&r->lat, 90), hist_pct(&r->lat, 99), r->lat.max);
	fprintf(f,
	    ",\"handshake_us\":{\"p50\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"max\":%" PRIu64 "}",
	    hist_pct(&r->hs_lat, 50), hist_pct(&r->hs_lat, 99), r->hs_lat.max);
	fprintf(f, ",\"retransmissions\":%" PRIu64 ",\"errors\":%" PRIu64, r->retransmissions,
	    r->errors);
	fprintf(f,
	    ",\"error_detail\":{\"handshake\":%" PRIu64 ",\"timeout\":%" PRIu64 ",\"code\":%" PRIu64
	    ",\"rst\":%" PRIu64 ",\"io\":%" PRIu64 "}",
	    r->err_handshake, r->err_timeout, r->err_code, r->err_rst, r->err_io);
	fputs(",\"server_rss_start_kb\":", f);
	json_long(f, r->server_rss_start_kb);
	fputs(",\"server_rss_kb\":", f);
	json_long(f, r->server_rss_kb);
	fprintf(f, ",\"elapsed_s\":%.3f,\"client_cpu_s\":%.3f", r->elapsed_s, r->client_cpu_s);
	if (r->server_cpu_s >= 0)
		fprintf(f, ",\"server_cpu_s\":%.2f", r->server_cpu_s);
	if (o->wake_rate > 0)
		fprintf(f,
		    ",\"wake\":{\"sent\":%" PRIu64 ",\"answered\":%" PRIu64 ",\"skipped\":%" PRIu64
		    ",\"seconds\":%.3f}",
		    r->wake_sent, r->wake_answered, r->wake_skipped, r->wake_s);
	fprintf(f,
	    ",\"max_answer_gap_s\":%.3f,\"max_answer_gap_end_s\":%.3f,\"sessions_failed\":%" PRIu64,
	    r->max_gap_s, r->max_gap_end_s, r->sessions_failed);
	if (o->loss > 0)
		fprintf(f, ",\"dropped\":{\"sent\":%" PRIu64 ",\"received\":%" PRIu64 "}",
		    r->dropped_out, r->dropped_in);
	if (r->server_us_per_hs > 0)
		fprintf(f, ",\"server_us_per_handshake\":%.1f,\"client_us_per_handshake\":%.1f",
		    r->server_us_per_hs, r->client_us_per_hs);
	fprintf(f, ",\"inflight\":%u,\"size\":%u,\"method\":\"%s\"}\n", o->inflight, o->size,
	    o->post ? "post" : "get");
}

/* Print the table to stdout and write the JSON file if asked; 0 or -1. */
int
stats_report(const struct bench_result *r, const struct bench_opts *o)
{
	FILE *f;

	if (!o->quiet) {
		printf("%-22s %s%s%s\n", "mode", r->mode, o->label ? "  " : "",
		    o->label ? o->label : "");
		printf("%-22s %u\n", "sessions", r->sessions);
		printf("%-22s %" PRIu64 " (%.1f/s)\n", "handshakes", r->handshakes,
		    r->handshakes_per_s);
		if (o->resume)
			printf("%-22s %" PRIu64 "\n", "resumed", r->resumed);
		printf("%-22s %" PRIu64 " (%.1f/s)\n", "requests", r->requests, r->requests_per_s);
		printf("%-22s p50 %" PRIu64 "  p90 %" PRIu64 "  p99 %" PRIu64 "  max %" PRIu64 "\n",
		    "latency (us)", hist_pct(&r->lat, 50), hist_pct(&r->lat, 90),
		    hist_pct(&r->lat, 99), r->lat.max);
		if (r->hs_lat.n > 0)
			printf("%-22s p50 %" PRIu64 "  p99 %" PRIu64 "  max %" PRIu64 "\n",
			    "handshake (us)", hist_pct(&r->hs_lat, 50), hist_pct(&r->hs_lat, 99),
			    r->hs_lat.max);
		if (r->server_us_per_hs > 0)
			printf("%-22s server %.1f  client %.1f\n", "cpu us/handshake",
			    r->server_us_per_hs, r->client_us_per_hs);
		printf("%-22s %" PRIu64 "\n", "retransmissions", r->retransmissions);
		printf("%-22s %.3f s (ended %.1f s after the start)\n", "longest answer gap",
		    r->max_gap_s, r->max_gap_end_s);
		if (o->loss > 0)
			printf("%-22s %u%%: %" PRIu64 " sent, %" PRIu64 " received\n",
			    "datagrams dropped", o->loss, r->dropped_out, r->dropped_in);
		printf("%-22s %" PRIu64 " (handshake %" PRIu64 ", timeout %" PRIu64
		       ", code %" PRIu64 ", rst %" PRIu64 ", io %" PRIu64 ")\n",
		    "errors", r->errors, r->err_handshake, r->err_timeout, r->err_code, r->err_rst,
		    r->err_io);
		if (r->server_rss_kb >= 0)
			printf("%-22s %ld kB (at start %ld kB)\n", "server RSS", r->server_rss_kb,
			    r->server_rss_start_kb);
		if (o->wake_rate > 0)
			printf("%-22s %" PRIu64 " sent, %" PRIu64 " answered 2.xx, %" PRIu64
			       " sessions not ready, %.1f s\n",
			    "wake after hold", r->wake_sent, r->wake_answered, r->wake_skipped,
			    r->wake_s);
		printf("%-22s %.2f s wall, %.2f s cpu\n", "bench", r->elapsed_s, r->client_cpu_s);
		if (r->server_cpu_s >= 0)
			printf("%-22s %.2f s cpu during the run\n", "server", r->server_cpu_s);
		fflush(stdout);
	}
	if (o->json == NULL)
		return 0;
	if (strcmp(o->json, "-") == 0) {
		stats_json(stdout, r, o);
		return 0;
	}
	if ((f = fopen(o->json, "w")) == NULL) {
		fprintf(stderr, "coaps-bench: %s: %s\n", o->json, strerror(errno));
		return -1;
	}
	stats_json(f, r, o);
	if (fclose(f) != 0)
		return -1;
	return 0;
}
