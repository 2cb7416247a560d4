/* coaps-proxyctl.c: command-line client of coaps-proxyd's control socket. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <libconfig.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "defaults.h"
#include "dtls_client.h"
#include "text.h"

#define ANSWER_TIMEOUT_MS 60000 /* reload may take a while: files, keys, names */
#define ANSWER_MAX (1024UL * 1024 * 1024)

enum exit_code {
	EXIT_OK = 0,       /* the daemon answered OK */
	EXIT_ERR = 1,      /* the daemon answered ERR, or the answer was cut */
	EXIT_USAGE = 2,    /* bad command line */
	EXIT_NODAEMON = 3, /* no daemon, no socket, or no permission */
};

static const char *progname = "coaps-proxyctl";
static bool json; /* --json, before or after the command */

/* Prints usage and exits with status. */
static void __attribute__((noreturn)) usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: coaps-proxyctl [-s SOCKET | -c CONFIG] [--json] COMMAND [ARGS] [--json]\n"
	    "  -s SOCKET  control socket of coaps-proxyd (default %s)\n"
	    "  -c CONFIG  read control.socket from this configuration file (default %s;\n"
	    "             without -s or -c the default file is read if it exists)\n"
	    "  --json     one JSON document instead of text (every command; also after it)\n"
	    "  -h         this help\n"
	    "  -V         version\n"
	    "commands:\n"
	    "  status                  version, uptime, configuration, last reload, listeners,\n"
	    "                          backends and their errors, session counts, readiness\n"
	    "  sessions                list sessions (id, peer, auth, identity, cipher, state, "
	    "...)\n"
	    "  show ID                 one session in detail (ID: 8 hex digits from `sessions`)\n"
	    "  close ID                close one session (close_notify to the device)\n"
	    "  close --identity GLOB   close the established sessions whose PSK identity or\n"
	    "                          certificate CN matches GLOB (psk:GLOB, x509:GLOB: one "
	    "kind)\n"
	    "  stats                   counters: handshakes, sessions, messages, drops, top\n"
	    "                          source prefixes, backends\n"
	    "  reload                  reload the configuration without dropping sessions\n"
	    "  check-config [FILE]     check FILE (default: the daemon's own configuration)\n"
	    "  test-psk [--to HOST:PORT] [--key-hex] IDENTITY KEY [PATH]\n"
	    "                          handshake with the proxy as a device with this PSK, send a\n"
	    "                          CoAP ping (or GET PATH), print the result and the proxy's\n"
	    "                          log lines for that session\n"
	    "exit status: 0 OK, 1 the daemon reported an error (test-psk: the test failed),\n"
	    "2 usage, 3 daemon not reachable\n",
	    CONFIG_CONTROL_SOCKET_DEFAULT, CONFIG_PATH_DEFAULT);
	exit(status);
}

/* Prints "coaps-proxyctl: message" on stderr and exits with code. */
static void __attribute__((noreturn, format(printf, 2, 3))) die(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* Reads control.socket from a configuration file; NULL if the file has none. */
static char *
socket_from_config(const char *path, bool explicit)
{
	config_t lc;
	const char *s = NULL;
	char *out = NULL;

	config_init(&lc);
	if (!config_read_file(&lc, path)) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO) {
			if (explicit)
				die(EXIT_USAGE, "cannot read %s: %s", path, strerror(errno));
		} else if (explicit)
			die(EXIT_ERR, "%s:%d: %s (fix it, or name the socket with -s)",
			    config_error_file(&lc) ? config_error_file(&lc) : path,
			    config_error_line(&lc), config_error_text(&lc));
		else
			fprintf(stderr, "%s: warning: %s:%d: %s; trying %s\n", progname,
			    config_error_file(&lc) ? config_error_file(&lc) : path,
			    config_error_line(&lc), config_error_text(&lc),
			    CONFIG_CONTROL_SOCKET_DEFAULT);
		config_destroy(&lc);
		return NULL;
	}
	if (config_lookup_string(&lc, "control.socket", &s) == CONFIG_TRUE) {
		if (s[0] == '\0')
			die(EXIT_NODAEMON,
			    "%s: control.socket is \"\": the daemon has no control "
			    "socket (set control.socket and restart it)",
			    path);
		out = strdup(s);
	}
	config_destroy(&lc);
	return out;
}

/* Tells whether s is 1 to 8 hex digits (a session id). */
static bool
valid_id(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 8 && strspn(s, "0123456789abcdefABCDEF") == n;
}

/* Builds the request line from the command words; exits 2 on bad usage. */
static void
build_request(int argc, char **argv, char *req, size_t len, bool *table)
{
	const char *cmd = argv[0];
	char abs[PATH_MAX + 1];
	int n = -1;

	*table = false;
	if (strcmp(cmd, "sessions") == 0 || strcmp(cmd, "stats") == 0 ||
	    strcmp(cmd, "status") == 0) {
		if (argc != 1)
			die(EXIT_USAGE, "usage: %s [--json]", cmd);
		n = snprintf(req, len, "%s", cmd);
		*table = cmd[1] == 'e' && !json;
	} else if (strcmp(cmd, "show") == 0) {
		if (argc != 2 || !valid_id(argv[1]))
			die(EXIT_USAGE, "usage: show ID (ID: the 8 hex digits from `sessions`)");
		n = snprintf(req, len, "show %s", argv[1]);
	} else if (strcmp(cmd, "close") == 0) {
		if (argc == 3 && strcmp(argv[1], "--identity") == 0 && argv[2][0] != '\0')
			n = snprintf(req, len, "close --identity %s", argv[2]);
		else if (argc == 2 && valid_id(argv[1]))
			n = snprintf(req, len, "close %s", argv[1]);
		else
			die(EXIT_USAGE, "usage: close ID | close --identity GLOB");
	} else if (strcmp(cmd, "reload") == 0) {
		if (argc != 1)
			die(EXIT_USAGE, "usage: reload");
		n = snprintf(req, len, "reload");
	} else if (strcmp(cmd, "check-config") == 0) {
		if (argc > 2)
			die(EXIT_USAGE, "usage: check-config [FILE]");
		if (argc == 1)
			n = snprintf(req, len, "check-config");
		else {
			/* The daemon runs elsewhere: give it an absolute path. */
			if (argv[1][0] == '/' || getcwd(abs, sizeof abs) == NULL)
				snprintf(abs, sizeof abs, "%s", argv[1]);
			else if (strlen(abs) + 1 + strlen(argv[1]) < sizeof abs) {
				size_t o = strlen(abs);

				snprintf(abs + o, sizeof abs - o, "/%s", argv[1]);
			} else
				die(EXIT_USAGE, "check-config: path too long");
			n = snprintf(req, len, "check-config %s", abs);
		}
	} else
		die(EXIT_USAGE, "unknown command \"%s\" (try -h)", cmd);
	if (n >= 0 && json && (size_t)n + 7 < len)
		n += snprintf(req + n, len - (size_t)n, " --json");
	if (n < 0 || (size_t)n >= len || n > CONTROL_LINE_MAX)
		die(EXIT_USAGE, "arguments too long (a request is at most %d bytes)",
		    CONTROL_LINE_MAX);
	for (const char *p = req; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			die(EXIT_USAGE, "control characters in the arguments");
}

/* Connects to the daemon; exits 3 with advice when that is not possible (unless quiet: -1). */
static int
connect_daemon(const char *path, bool quiet)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof sun.sun_path)
		die(EXIT_USAGE, "socket path %s is longer than %zu bytes", path,
		    sizeof sun.sun_path - 1);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die(EXIT_NODAEMON, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0)
		return fd;
	if (quiet) {
		close(fd);
		return -1;
	}
	switch (errno) {
	case ENOENT:
		die(EXIT_NODAEMON,
		    "no control socket at %s: is coaps-proxyd running? (start it, "
		    "e.g. `systemctl start coaps-proxyd`, or name its socket with -s "
		    "SOCKET or -c CONFIG)",
		    path);
	case ECONNREFUSED:
		die(EXIT_NODAEMON,
		    "nothing answers on %s (a stale socket): coaps-proxyd is not "
		    "running; start it",
		    path);
	case EACCES:
	case EPERM:
		die(EXIT_NODAEMON,
		    "permission denied on %s: run as root, as the daemon's user, or "
		    "as a member of the socket's group",
		    path);
	default:
		die(EXIT_NODAEMON, "cannot connect to %s: %s", path, strerror(errno));
	}
}

/* Writes all of buf to fd. */
static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads until the daemon closes; returns the NUL-terminated answer and its length. */
static char *
read_answer(int fd, const char *path, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);

	if (buf == NULL)
		die(EXIT_ERR, "out of memory");
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;
		int p = poll(&pfd, 1, ANSWER_TIMEOUT_MS);

		if (p < 0 && errno == EINTR)
			continue;
		if (p == 0)
			die(EXIT_ERR, "no answer from coaps-proxyd on %s within %d s", path,
			    ANSWER_TIMEOUT_MS / 1000);
		if (p < 0)
			die(EXIT_ERR, "poll: %s", strerror(errno));
		if (cap - n < 4096) {
			if (cap >= ANSWER_MAX)
				die(EXIT_ERR, "answer longer than %lu bytes", ANSWER_MAX);
			cap *= 2;
			buf = realloc(buf, cap);
			if (buf == NULL)
				die(EXIT_ERR, "out of memory");
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		/* A refusal may come with a reset: what arrived before it still counts. */
		if (r == 0 || (r < 0 && errno == ECONNRESET && n > 0))
			break;
		if (r < 0)
			die(EXIT_ERR, "reading from %s: %s", path, strerror(errno));
		n += (size_t)r;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Prints tab-separated lines as columns aligned on their widest cell. */
static void
print_table(char *body)
{
	size_t widths[32] = { 0 };
	char *line, *save = NULL;
	size_t nlines = 0;
	char **lines;
	char *p;

	for (p = body; *p != '\0'; p++)
		nlines += *p == '\n';
	lines = calloc(nlines + 1, sizeof *lines);
	if (lines == NULL)
		die(EXIT_ERR, "out of memory");
	nlines = 0;
	for (line = strtok_r(body, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		size_t col = 0, w = 0;

		lines[nlines++] = line;
		for (p = line;; p++) {
			if (*p == '\t' || *p == '\0') {
				if (col < 32 && w > widths[col])
					widths[col] = w;
				col++;
				w = 0;
				if (*p == '\0')
					break;
			} else
				w++;
		}
	}
	for (size_t i = 0; i < nlines; i++) {
		size_t col = 0;
		char *cell = lines[i];

		for (p = cell;; p++) {
			if (*p != '\t' && *p != '\0')
				continue;
			if (*p == '\0') {
				printf("%s\n", cell);
				break;
			}
			*p = '\0';
			printf("%-*s  ", (int)(col < 32 ? widths[col] : 0), cell);
			cell = p + 1;
			col++;
		}
	}
	free(lines);
}

/* Prints s as a JSON string (quotes, backslashes and control characters escaped). */
static void
print_json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

/*
 * Sends one request line and reads the answer: *body (NULL if none) and
 * *status ("OK" or "ERR ...") point into *answer (caller frees). Returns
 * EXIT_OK, EXIT_ERR or EXIT_NODAEMON; quiet: -1 instead of exiting when the
 * daemon cannot be reached.
 */
static int
ask(const char *sockpath, const char *request, bool quiet, char **answer, char **body,
    char **status)
{
	char line[CONTROL_LINE_MAX + 64];
	char *last;
	size_t len;
	int fd, send_errno = 0;

	fd = connect_daemon(sockpath, quiet);
	if (fd < 0)
		return -1;
	snprintf(line, sizeof line, "%s\n", request);
	/* If the daemon refused us before reading, its answer still says why. */
	if (write_all(fd, line, strlen(line)) < 0)
		send_errno = errno;
	*answer = read_answer(fd, sockpath, &len);
	close(fd);
	if (len == 0 && send_errno != 0)
		die(EXIT_NODAEMON, "cannot send to %s: %s", sockpath, strerror(send_errno));

	/* The last line is the status: OK or ERR message. */
	if (len == 0 || (*answer)[len - 1] != '\n')
		die(EXIT_ERR, "the answer from %s was cut short (did coaps-proxyd stop?)",
		    sockpath);
	(*answer)[len - 1] = '\0';
	last = strrchr(*answer, '\n');
	if (last != NULL) {
		*last = '\0';
		*body = *answer;
		*status = last + 1;
	} else {
		*body = NULL;
		*status = *answer;
	}
	if (strcmp(*status, "OK") == 0)
		return EXIT_OK;
	if (strncmp(*status, "ERR ", 4) == 0)
		return strncmp(*status + 4, "permission denied", 17) == 0 ? EXIT_NODAEMON
		                                                          : EXIT_ERR;
	die(EXIT_ERR, "unexpected answer from %s: %s", sockpath, *status);
}

/* Picks the first listener the daemon has, as host and port a client can reach. */
static void
probe_target(const char *sockpath, char *host, size_t hlen, char *port, size_t plen)
{
	char *answer, *body, *status, *colon;
	int code = ask(sockpath, "listeners", false, &answer, &body, &status);

	if (code != EXIT_OK)
		die(code, "listeners: %s", status + 4);
	if (body == NULL || body[0] == '\0')
		die(EXIT_ERR, "the daemon has no listener (name one with --to HOST:PORT)");
	body[strcspn(body, "\n")] = '\0';
	colon = strrchr(body, ':');
	if (colon == NULL)
		die(EXIT_ERR, "cannot read the listener address %s", body);
	*colon = '\0';
	snprintf(port, plen, "%s", colon + 1);
	if (body[0] == '[') {
		body[strlen(body) - 1] = '\0';
		body++;
	}
	/* A wildcard listener is reached on loopback. */
	snprintf(host, hlen, "%s",
	    strcmp(body, "0.0.0.0") == 0 ? "127.0.0.1"
	    : strcmp(body, "::") == 0    ? "::1"
	                                 : body);
	free(answer);
}

/* Fetches the proxy's log lines about peer; waits (bounded) until the session ended in them. */
static char *
probe_log(const char *sockpath, const char *peer, char **answer)
{
	char request[160], *body = NULL, *status;

	snprintf(request, sizeof request, "log %s%s", peer, json ? " --json" : "");
	*answer = NULL;
	for (int i = 0; i < 30; i++) {
		struct timespec pause = { 0, 100 * 1000 * 1000 };

		free(*answer);
		*answer = NULL;
		if (ask(sockpath, request, true, answer, &body, &status) != EXIT_OK)
			return NULL;
		if (body != NULL && (strstr(body, "event=session-closed") != NULL ||
		                        strstr(body, "event=handshake-failed") != NULL))
			break;
		nanosleep(&pause, NULL);
	}
	return body;
}

/* `test-psk [--to HOST:PORT] [--key-hex] IDENTITY KEY [PATH]`: checks a device's credentials. */
static int
test_psk(const char *sockpath, int argc, char **argv)
{
	const char *to = NULL, *identity, *key, *path = NULL;
	char host[256], port[16], *answer = NULL, *log;
	struct dtls_probe_result res;
	bool key_hex = false;
	uint8_t keybuf[64];
	int key_len, i = 1, ok;

	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
			to = argv[++i];
		else if (strcmp(argv[i], "--key-hex") == 0)
			key_hex = true;
		else
			break;
	}
	if (argc - i < 2 || argc - i > 3)
		die(EXIT_USAGE, "usage: test-psk [--to HOST:PORT] [--key-hex] IDENTITY KEY [PATH]");
	identity = argv[i];
	key = argv[i + 1];
	if (argc - i == 3)
		path = argv[i + 2];
	if (key_hex)
		key_len = text_hex_decode(key, keybuf, sizeof keybuf);
	else if ((key_len = (int)strlen(key)) <= (int)sizeof keybuf)
		memcpy(keybuf, key, (size_t)key_len);
	if (key_len <= 0 || key_len > (int)sizeof keybuf)
		die(EXIT_USAGE, "test-psk: the key is 1 to %zu bytes%s", sizeof keybuf,
		    key_hex ? " of hex digits" : "");
	if (to != NULL) {
		const char *colon = strrchr(to, ':');

		if (colon == NULL || colon == to || colon[1] == '\0')
			die(EXIT_USAGE, "test-psk: --to HOST:PORT (IPv6: [ADDR]:PORT)");
		snprintf(host, sizeof host, "%.*s", (int)(colon - to), to);
		if (host[0] == '[' && host[strlen(host) - 1] == ']') {
			memmove(host, host + 1, strlen(host));
			host[strlen(host) - 1] = '\0';
		}
		snprintf(port, sizeof port, "%s", colon + 1);
	} else
		probe_target(sockpath, host, sizeof host, port, sizeof port);

	ok = dtls_probe(host, port, identity, keybuf, (size_t)key_len, path, 5000, &res) == 0;
	log = probe_log(sockpath, res.local, &answer);
	if (json) {
		printf("{\"ok\":%s,\"target\":", ok ? "true" : "false");
		print_json_string(host);
		printf(",\"port\":%s,\"local\":", port);
		print_json_string(res.local);
		printf(",\"handshake_ms\":%lld,\"cipher\":", (long long)res.handshake_ms);
		print_json_string(res.cipher);
		printf(",\"request\":");
		print_json_string(path != NULL ? path : "ping");
		printf(",\"answer\":");
		print_json_string(res.answer);
		printf(",\"rtt_ms\":%lld,\"error\":", (long long)res.rtt_ms);
		print_json_string(res.error);
		printf(",\"log\":%s}\n", log != NULL ? log : "null");
	} else {
		printf("target     %s port %s (from %s)\n", host, port, to ? "--to" : "the daemon");
		printf("local      %s\n", res.local);
		if (res.handshake_ms >= 0)
			printf("handshake  ok in %lld ms, %s\n", (long long)res.handshake_ms,
			    res.cipher);
		else
			printf("handshake  failed: %s\n", res.error);
		if (res.handshake_ms >= 0)
			printf("%-10s %s%s%s\n", path != NULL ? "get" : "ping",
			    res.rtt_ms >= 0 ? res.answer : "failed: ",
			    res.rtt_ms >= 0 ? "" : res.error, "");
		if (res.rtt_ms >= 0)
			printf("rtt        %lld ms\n", (long long)res.rtt_ms);
		if (res.payload_len > 0) {
			printf("payload    ");
			for (size_t k = 0; k < res.payload_len; k++)
				putchar(res.payload[k] >= 0x20 && res.payload[k] < 0x7f
				            ? res.payload[k]
				            : '.');
			putchar('\n');
		}
		printf("result     %s\n", ok ? "OK" : "FAILED");
		if (log != NULL)
			printf("proxy log for %s:\n%s\n", res.local, log[0] ? log : "(no lines)");
		else
			printf("proxy log: not available (no control socket at %s)\n", sockpath);
	}
	free(answer);
	return ok ? EXIT_OK : EXIT_ERR;
}

int
main(int argc, char **argv)
{
	const char *config = NULL, *sockpath = NULL;
	char req[CONTROL_LINE_MAX + 64], *answer, *status, *body;
	char *from_config = NULL;
	bool table = false;
	int c, code, n = 1;

	/* --json may come before or after the command: take it out wherever it is. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			argv[n++] = argv[i];
	}
	argc = n;
	argv[argc] = NULL;
	while ((c = getopt(argc, argv, "+c:hs:V")) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 's':
			sockpath = optarg;
			break;
		case 'h':
			usage(0);
		case 'V':
			printf("coaps-proxyctl %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(EXIT_USAGE);
		}
	}
	if (sockpath != NULL && config != NULL)
		die(EXIT_USAGE,
		    "-s and -c are exclusive: -s names the socket, -c a file naming it");
	if (optind >= argc)
		usage(EXIT_USAGE);
	if (strcmp(argv[optind], "test-psk") != 0)
		build_request(argc - optind, argv + optind, req, sizeof req, &table);
	if (sockpath == NULL) {
		from_config =
		    socket_from_config(config ? config : CONFIG_PATH_DEFAULT, config != NULL);
		sockpath = from_config != NULL ? from_config : CONFIG_CONTROL_SOCKET_DEFAULT;
	}
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[optind], "test-psk") == 0) {
		code = test_psk(sockpath, argc - optind, argv + optind);
		free(from_config);
		return code;
	}

	code = ask(sockpath, req, false, &answer, &body, &status);
	if (body != NULL && code == EXIT_OK && table)
		print_table(body);
	else if (body != NULL)
		printf("%s\n", body);
	if (code != EXIT_OK) {
		if (json) {
			printf("{\"error\":");
			print_json_string(status + 4);
			printf("}\n");
		}
		fprintf(stderr, "%s: %s\n", progname, status + 4);
	}
	free(answer);
	free(from_config);
	return code;
}
