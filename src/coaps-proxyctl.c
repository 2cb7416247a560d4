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
#include <unistd.h>

#define DEFAULT_CONFIG SYSCONFDIR "/coaps-proxy/coaps-proxy.conf"
#define DEFAULT_SOCKET RUNSTATEDIR "/coaps-proxy/control.sock"
#define REQUEST_MAX 1024        /* the daemon's limit on a request line */
#define ANSWER_TIMEOUT_MS 60000 /* reload may take a while: files, keys, names */
#define ANSWER_MAX (1024UL * 1024 * 1024)

enum exit_code {
	EXIT_OK = 0,       /* the daemon answered OK */
	EXIT_ERR = 1,      /* the daemon answered ERR, or the answer was cut */
	EXIT_USAGE = 2,    /* bad command line */
	EXIT_NODAEMON = 3, /* no daemon, no socket, or no permission */
};

static const char *progname = "coaps-proxyctl";

/* Prints usage and exits with status. */
static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: coaps-proxyctl [-s SOCKET | -c CONFIG] COMMAND [ARGS]\n"
	    "  -s SOCKET  control socket of coaps-proxyd (default %s)\n"
	    "  -c CONFIG  read control.socket from this configuration file (default %s;\n"
	    "             without -s or -c the default file is read if it exists)\n"
	    "  -h         this help\n"
	    "  -V         version\n"
	    "commands:\n"
	    "  sessions [--json]       list sessions (id, peer, auth, identity, cipher, state, ...)\n"
	    "  show ID                 one session in detail (ID: 8 hex digits from `sessions`)\n"
	    "  close ID                close one session (close_notify to the device)\n"
	    "  close --identity GLOB   close the established sessions whose PSK identity or\n"
	    "                          certificate CN matches GLOB (psk:GLOB, x509:GLOB: one kind)\n"
	    "  stats [--json]          counters: handshakes, sessions, messages, drops\n"
	    "  reload                  reload the configuration without dropping sessions\n"
	    "  check-config [FILE]     check FILE (default: the daemon's own configuration)\n"
	    "exit status: 0 OK, 1 the daemon reported an error, 2 usage, 3 daemon not reachable\n",
	    DEFAULT_SOCKET, DEFAULT_CONFIG);
	exit(status);
}

/* Prints "coaps-proxyctl: message" on stderr and exits with code. */
static void __attribute__((noreturn, format(printf, 2, 3)))
die(int code, const char *fmt, ...)
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
			    config_error_line(&lc), config_error_text(&lc), DEFAULT_SOCKET);
		config_destroy(&lc);
		return NULL;
	}
	if (config_lookup_string(&lc, "control.socket", &s) == CONFIG_TRUE) {
		if (s[0] == '\0')
			die(EXIT_NODAEMON, "%s: control.socket is \"\": the daemon has no control "
			                   "socket (set control.socket and restart it)", path);
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
	if (strcmp(cmd, "sessions") == 0 || strcmp(cmd, "stats") == 0) {
		if (argc == 1) {
			n = snprintf(req, len, "%s", cmd);
			*table = cmd[1] == 'e';
		} else if (argc == 2 && strcmp(argv[1], "--json") == 0)
			n = snprintf(req, len, "%s --json", cmd);
		else
			die(EXIT_USAGE, "usage: %s [--json]", cmd);
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
	if (n < 0 || (size_t)n >= len || n > REQUEST_MAX)
		die(EXIT_USAGE, "arguments too long (a request is at most %d bytes)", REQUEST_MAX);
	for (const char *p = req; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			die(EXIT_USAGE, "control characters in the arguments");
}

/* Connects to the daemon; exits 3 with advice when that is not possible. */
static int
connect_daemon(const char *path)
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
	switch (errno) {
	case ENOENT:
		die(EXIT_NODAEMON, "no control socket at %s: is coaps-proxyd running? (start it, "
		                   "e.g. `systemctl start coaps-proxyd`, or name its socket with -s "
		                   "SOCKET or -c CONFIG)", path);
	case ECONNREFUSED:
		die(EXIT_NODAEMON, "nothing answers on %s (a stale socket): coaps-proxyd is not "
		                   "running; start it", path);
	case EACCES:
	case EPERM:
		die(EXIT_NODAEMON, "permission denied on %s: run as root, as the daemon's user, or "
		                   "as a member of the socket's group", path);
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

int
main(int argc, char **argv)
{
	const char *config = NULL, *sockpath = NULL;
	char req[REQUEST_MAX + 64], *answer, *last, *status, *body;
	char *from_config = NULL;
	bool table;
	size_t len;
	int c, fd, code, send_errno = 0;

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
		die(EXIT_USAGE, "-s and -c are exclusive: -s names the socket, -c a file naming it");
	if (optind >= argc)
		usage(EXIT_USAGE);
	build_request(argc - optind, argv + optind, req, sizeof req, &table);
	if (sockpath == NULL) {
		from_config = socket_from_config(config ? config : DEFAULT_CONFIG, config != NULL);
		sockpath = from_config != NULL ? from_config : DEFAULT_SOCKET;
	}

	signal(SIGPIPE, SIG_IGN);
	fd = connect_daemon(sockpath);
	strcat(req, "\n");
	/* If the daemon refused us before reading, its answer still says why. */
	if (write_all(fd, req, strlen(req)) < 0)
		send_errno = errno;
	answer = read_answer(fd, sockpath, &len);
	close(fd);
	if (len == 0 && send_errno != 0)
		die(EXIT_NODAEMON, "cannot send to %s: %s", sockpath, strerror(send_errno));

	/* The last line is the status: OK or ERR message. */
	if (len == 0 || answer[len - 1] != '\n')
		die(EXIT_ERR, "the answer from %s was cut short (did coaps-proxyd stop?)", sockpath);
	answer[len - 1] = '\0';
	last = strrchr(answer, '\n');
	if (last != NULL) {
		*last = '\0';
		body = answer;
		status = last + 1;
	} else {
		body = NULL;
		status = answer;
	}
	if (strcmp(status, "OK") == 0)
		code = EXIT_OK;
	else if (strncmp(status, "ERR ", 4) == 0)
		code = strncmp(status + 4, "permission denied", 17) == 0 ? EXIT_NODAEMON : EXIT_ERR;
	else
		die(EXIT_ERR, "unexpected answer from %s: %s", sockpath, status);

	if (body != NULL && code == EXIT_OK && table)
		print_table(body);
	else if (body != NULL)
		printf("%s\n", body);
	if (code != EXIT_OK)
		fprintf(stderr, "%s: %s\n", progname, status + 4);
	free(answer);
	free(from_config);
	return code;
}
