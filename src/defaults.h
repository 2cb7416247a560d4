/* defaults.h: every default written once: keys with a fixed default, paths the programs share. */
#ifndef COAPS_DEFAULTS_H
#define COAPS_DEFAULTS_H

/* The configuration file coaps-proxyd reads and coaps-proxyctl looks in. */
#define CONFIG_PATH_DEFAULT SYSCONFDIR "/coaps-proxy/coaps-proxy.conf"
/* control.socket when the file does not set it and systemd gives no RUNTIME_DIRECTORY. */
#define CONFIG_CONTROL_SOCKET_DEFAULT RUNSTATEDIR "/coaps-proxy/control.sock"
/* session.state_file when the file does not set it and systemd gives no STATE_DIRECTORY. */
#define CONFIG_SESSION_STATE_FILE_DEFAULT "/var/lib/coaps-proxy/sessions.state"

/*
 * Keys with a fixed default, one a line: the loader takes them from here, and
 * man/check-config-keys.sh checks that coaps-proxy.conf(5) and the example
 * configuration give the same value ("Default: VALUE", "default: VALUE").
 * Keep the form: #define CONFIG_DEFAULT_NAME VALUE then the key in a comment.
 */
#define CONFIG_DEFAULT_IDENTITY_OPTION 65000            /* identity_option */
#define CONFIG_DEFAULT_BACKEND_TIMEOUT 5                /* backend_timeout */
#define CONFIG_DEFAULT_DIAGNOSTIC_PAYLOADS false        /* diagnostic_payloads */
#define CONFIG_DEFAULT_X509_VERIFY_CLIENT "required"    /* x509.verify_client */
#define CONFIG_DEFAULT_X509_EXPIRY_WARNING 30           /* x509.expiry_warning */
#define CONFIG_DEFAULT_DTLS_HANDSHAKE_TIMEOUT_MIN 8000  /* dtls.handshake_timeout_min */
#define CONFIG_DEFAULT_DTLS_HANDSHAKE_TIMEOUT_MAX 60000 /* dtls.handshake_timeout_max */
#define CONFIG_DEFAULT_DTLS_MTU 1232                    /* dtls.mtu */
#define CONFIG_DEFAULT_DTLS_BADMAC_LIMIT 0              /* dtls.badmac_limit */
#define CONFIG_DEFAULT_DTLS_MAX_HANDSHAKE_MESSAGE 880   /* dtls.max_handshake_message */
#define CONFIG_DEFAULT_DTLS_CID_LENGTH 8                /* dtls.cid_length */
#define CONFIG_DEFAULT_DTLS_SESSION_TICKETS true        /* dtls.session_tickets */
#define CONFIG_DEFAULT_DTLS_TICKET_LIFETIME 86400       /* dtls.ticket_lifetime */
#define CONFIG_DEFAULT_DTLS_SESSION_CACHE 1024          /* dtls.session_cache */
#define CONFIG_DEFAULT_SESSION_IDLE_TIMEOUT 300         /* session.idle_timeout */
#define CONFIG_DEFAULT_SESSION_PARK_AFTER 30            /* session.park_after */
#define CONFIG_DEFAULT_SESSION_MAX_SESSIONS 10000       /* session.max_sessions */
#define CONFIG_DEFAULT_SESSION_MAX_HANDSHAKES 1000      /* session.max_handshakes */
#define CONFIG_DEFAULT_SESSION_HANDSHAKES_PER_SOURCE 0  /* session.handshakes_per_source */
#define CONFIG_DEFAULT_SESSION_HANDSHAKES_PER_PREFIX 0  /* session.handshakes_per_prefix */
#define CONFIG_DEFAULT_SESSION_PREFIX_LEN_V4 32         /* session.prefix_len_v4 */
#define CONFIG_DEFAULT_SESSION_PREFIX_LEN_V6 64         /* session.prefix_len_v6 */
#define CONFIG_DEFAULT_LOG_LEVEL "info"                 /* log.level */
#define CONFIG_DEFAULT_LOG_SYSLOG false                 /* log.syslog */
#define CONFIG_DEFAULT_METRICS_ADDRESS "127.0.0.1"      /* metrics.address */
#define CONFIG_DEFAULT_METRICS_PORT 9684                /* metrics.port */

/* session.handshake_threads unset: as many as the cores the daemon may run on. */
#define CONFIG_HANDSHAKE_THREADS_AUTO UINT32_MAX
/* workers unset: as many as the cores the daemon may run on, at most CONFIG_WORKERS_MAX. */
#define CONFIG_WORKERS_AUTO UINT32_MAX
#define CONFIG_WORKERS_MAX 64 /* a Connection ID's first byte names the worker (WORKER_MAX) */

#endif
