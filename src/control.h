/* control.h: the control socket that coaps-proxyctl talks to. */
#ifndef COAPS_CONTROL_H
#define COAPS_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

/*
 * Protocol: the client sends one request line (at most CONTROL_LINE_MAX bytes,
 * ending in \n):
 *   sessions | show ID | close ID | close --identity GLOB | stats | status |
 *   listeners | log PEER | reload | check-config [PATH]
 * each optionally followed by " --json". The daemon answers with lines of
 * text (sessions: a tab-separated table with a header; with --json: one JSON
 * document) and then one last line, "OK" or "ERR message", and closes the
 * connection. IDs are 8 hex digits.
 *
 * Who may connect: the socket file is created with mode 0660 (owner and group
 * of the daemon), and each peer is also checked with SO_PEERCRED: root, the
 * daemon's own uid, and members (primary or supplementary, SO_PEERGROUPS) of
 * the socket file's group are served; anyone else gets "ERR permission
 * denied: ..." even if the file mode was widened. To let operators in without
 * root, make them members of the daemon's group (or set Group= / a setgid
 * RuntimeDirectory so the socket gets an admin group).
 *
 * Limits: CONTROL_CLIENTS_MAX clients at once, and CONTROL_PRIVILEGED_EXTRA
 * more slots for root and the daemon's user, so that group members holding
 * every slot cannot lock them out. Each client has CONTROL_REQUEST_SECS from
 * connecting to send its whole request line (however it trickles in) and
 * CONTROL_ANSWER_SECS to read the answer.
 */
#define CONTROL_LINE_MAX 1024      /* bytes of a request line, newline excluded */
#define CONTROL_CLIENTS_MAX 16     /* clients connected at once */
#define CONTROL_PRIVILEGED_EXTRA 4 /* more slots that only root and the daemon's user take */
#define CONTROL_REQUEST_SECS 10    /* a client must have sent its whole request line by then */
#define CONTROL_ANSWER_SECS 60     /* ... and read its whole answer by then */
#define CONTROL_IDLE_SECS 10       /* a client not reading its answer this long is dropped */

/* What a request line asks for. */
enum control_verb {
	CONTROL_SESSIONS,       /* sessions [--json] */
	CONTROL_STATS,          /* stats [--json] */
	CONTROL_SHOW,           /* show ID */
	CONTROL_CLOSE,          /* close ID */
	CONTROL_CLOSE_IDENTITY, /* close --identity GLOB */
	CONTROL_RELOAD,         /* reload */
	CONTROL_CHECK_CONFIG,   /* check-config [PATH] */
	CONTROL_STATUS,         /* status */
	CONTROL_LISTENERS,      /* listeners */
	CONTROL_LOG,            /* log PEER */
};

/* One request line, parsed. */
struct control_request {
	char line[CONTROL_LINE_MAX +
	          1]; /* without CR LF; "" until the line passed the byte checks */
	enum control_verb verb;
	bool json;       /* the line ended in " --json" (any request) */
	uint32_t id;     /* show, close */
	const char *arg; /* close --identity: the glob; check-config: the path or NULL; log: the
	                    peer (in line) */
};

/*
 * Parses the first len bytes a client sent (the socket handling calls it with
 * at most CONTROL_LINE_MAX + 2). Returns 0 while the line is incomplete, 1
 * with *req filled in, or -1 with *why (a static string) when the request is
 * refused: too long, a NUL or control character, unknown, a bad argument.
 */
int control_parse(const void *buf, size_t len, struct control_request *req, const char **why)
    __attribute__((warn_unused_result));

/*
 * Hands back the result of a reload or check-config: r 0, or -1 with cause
 * (callee frees). On success cause may say what the reload did ("reloaded;
 * ..."), or be NULL.
 */
typedef void control_reply_fn(void *token, int r, char *cause);

/*
 * What the daemon does for `reload` and `check-config`. They run without
 * holding up the loop: each starts the work and returns a handle, and later
 * calls reply(token, ...) from the loop (never before returning); or returns
 * NULL with *cause when it could not start. cancel(handle) says the client
 * left: reply must not be called for it then.
 */
struct control_hooks {
	void *(*reload)(control_reply_fn *reply, void *token, char **cause);
	/* path NULL means the configuration file the daemon was started with. */
	void *(*check_config)(const char *path, control_reply_fn *reply, void *token, char **cause);
	void (*cancel)(void *handle);
};

/*
 * Listens on the Unix stream socket path (mode 0660) on base. An empty path
 * means no control socket: returns 0 and does nothing. A stale socket file
 * (nothing answers on it) is removed; a live one is an error. Peers other
 * than root and the daemon's own user or group are refused (SO_PEERCRED).
 * Returns -1 with *cause (caller frees) on error.
 */
int control_init(struct event_base *base, const char *path, const struct control_hooks *hooks,
    char **cause) __attribute__((warn_unused_result));
/* The path of the open control socket ("" if there is none). */
const char *control_socket_path(void);
/* Closes every client and the socket, and removes the socket file. */
void control_free(void);

#endif
