/* configuration.h: the immutable configuration snapshot and its loader. */
#ifndef COAPS_CONFIGURATION_H
#define COAPS_CONFIGURATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>

#include "defaults.h"
#include "route.h"

#define CONFIG_PSK_IDENTITY_MAX 128 /* bytes of a PSK identity */
#define CONFIG_MAX_SUITES 32        /* cipher suites in dtls.ciphersuites */
/*
 * Bytes of the configuration file and its @include files together, and how
 * many files: libconfig's parse time grows with the square of a token's
 * length or of a group's member count, so the input is bounded.
 */
#define CONFIG_MAX_BYTES (1024 * 1024)
#define CONFIG_MAX_FILES 64
#define CONFIG_MAX_INCLUDE_DEPTH 10 /* @include files within @include files */
/* psk_dir: NAME.conf files, each parsed alone (at most CONFIG_MAX_BYTES), and their bytes. */
#define CONFIG_PSK_DIR_MAX_FILES 100000
#define CONFIG_PSK_DIR_MAX_BYTES (16 * 1024 * 1024)

struct listen_conf {
	char *address;
	uint16_t port;
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

#define CONFIG_MAX_SOURCES 64 /* source addresses per backend */

struct backend_conf {
	char *name;
	char *address;
	uint16_t port;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	/* Source addresses for upstream sockets (port 0), tried in turn; none: the kernel's. */
	struct sockaddr_storage *sources;
	size_t n_sources;
};

/*
 * Longest PSK key: mbedTLS 2.28's limit (3.6 allows 48 bytes), so that one
 * configuration file loads with either.
 */
#define CONFIG_PSK_KEY_MAX 32
_Static_assert(CONFIG_PSK_KEY_MAX <= MBEDTLS_PSK_MAX_LEN, "mbedTLS's PSK limit is too small");

struct psk_conf {
	char *identity; /* not NUL-safe: use identity_len */
	size_t identity_len;
	unsigned char key[CONFIG_PSK_KEY_MAX];
	size_t key_len;
};

enum verify_client {
	VERIFY_CLIENT_REQUIRED, /* a client certificate must be sent and verify */
	VERIFY_CLIENT_OPTIONAL, /* none is fine; one that is sent must verify */
	VERIFY_CLIENT_NONE,     /* no client certificate is requested */
};

struct x509_conf {
	char *certificate_path, *private_key_path, *client_ca_path, *crl_path;
	mbedtls_x509_crt certificate; /* leaf first, then intermediates */
	mbedtls_pk_context private_key;
	mbedtls_x509_crt client_ca;
	mbedtls_x509_crl crl;
	bool has_client_ca, has_crl;
	enum verify_client verify_client;
	size_t certificate_msg_len; /* bytes of our Certificate handshake message */
};

/*
 * One loaded configuration. Immutable once published; sessions hold a
 * reference to the snapshot they were born with.
 */
struct proxy_config {
	_Atomic int refs; /* workers hold it too */
	char *path;

	struct listen_conf *listens;
	size_t n_listens;
	struct backend_conf *backends;
	size_t n_backends;
	struct route *routes; /* first match wins; the default route matches all */
	size_t n_routes;
	uint16_t identity_option; /* CoAP option carrying the identity, 0 = none */
	uint32_t backend_timeout; /* s before a CON request gets 5.04 */
	bool diagnostic_payloads; /* proxy-made answers say why in their payload */
	struct psk_conf *psks;    /* sorted by (identity_len, identity) */
	size_t n_psks;
	/* config_psk_find, set by config_load: the DTLS layer looks PSKs up through it. */
	const struct psk_conf *(
	    *psk_find)(const struct proxy_config *cfg, const unsigned char *id, size_t id_len);
	struct x509_conf *x509; /* NULL when not configured */

	int ciphersuites[CONFIG_MAX_SUITES + 1]; /* 0-terminated */
	bool ciphersuites_default;
	uint32_t handshake_timeout_min; /* ms */
	uint32_t handshake_timeout_max; /* ms */
	uint16_t mtu;
	unsigned badmac_limit;
	uint32_t max_handshake_message;
	bool connection_id;  /* offer RFC 9146 Connection IDs to clients that ask */
	uint32_t cid_length; /* bytes of the proxy's own CIDs */
	/* Session resumption (dtls_ticket.c). */
	bool session_tickets;            /* issue and accept RFC 5077 tickets */
	uint32_t ticket_lifetime;        /* s a ticket is good for; its key rotates as often */
	char *ticket_key_file;           /* NULL: a random key of this process */
	unsigned char ticket_secret[32]; /* SHA-256 of the key file's key */
	bool has_ticket_secret;
	uint32_t session_cache;         /* session-ID cache entries, 0 = none */
	unsigned char trust_digest[16]; /* of client_ca, crl, verify_client (dtls_resume_conf) */

	uint32_t idle_timeout; /* s */
	uint32_t park_after;   /* s idle before a session is parked, 0 = never */
	uint32_t max_sessions;
	uint32_t max_handshakes;
	uint32_t handshakes_per_source;        /* per second, 0 = unlimited */
	uint32_t handshakes_per_prefix;        /* half-open from one source prefix, 0 = unlimited */
	uint32_t prefix_len_v4, prefix_len_v6; /* bits of a source prefix */
	/* workers, read at start: event loops that own sessions; CONFIG_WORKERS_AUTO */
	uint32_t workers;
	/* session.handshake_threads, read at start: 0 = in the loop; CONFIG_HANDSHAKE_THREADS_AUTO */
	uint32_t handshake_threads;
	char *state_file; /* session.state_file: sessions saved at a clean stop; "" = none */

	int log_level;
	char *log_json_file; /* NULL: no JSON lines */
	bool log_syslog;

	char *control_socket;        /* control.socket: "" = no control socket (not reloadable) */
	bool control_socket_default; /* not set in the file: failing to open it is not fatal */
	char *metrics_address; /* metrics.address: NULL = no metrics endpoint (moves on reload) */
	uint16_t metrics_port;

	/* Built by dtls_config_build() from the fields above. */
	mbedtls_ssl_config ssl;
	bool ssl_built;
};

/*
 * Loads and validates path. Returns the snapshot (refs = 1), or NULL with
 * *cause set to "FILE:LINE: key: why" (caller frees). Warnings that do not
 * stop the load are logged. The file and its @include files must be regular
 * files, not world-writable, CONFIG_MAX_BYTES in all. Uses no global state
 * but the log: it may run in a thread of its own.
 */
struct proxy_config *config_load(const char *path, char **cause)
    __attribute__((warn_unused_result));
/* Takes a reference. */
struct proxy_config *config_ref(struct proxy_config *cfg);
/* Drops a reference, freeing the snapshot with the last one. */
void config_unref(struct proxy_config *cfg);
/* Finds the key for a PSK identity, or NULL. */
const struct psk_conf *config_psk_find(const struct proxy_config *cfg, const unsigned char *id,
    size_t id_len);
/*
 * Finds the backend a forward-proxy target names (host as an address literal
 * or as the configured address string, and port); -1 if none.
 */
int config_backend_for_target(const struct proxy_config *cfg, const char *host, uint16_t port);

#endif
