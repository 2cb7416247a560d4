/* fdstore.c: systemd's file descriptor store: inherited fds handed out by name, fds pushed and dropped. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "fdstore.h"
#include "log.h"

#ifdef HAVE_SYSTEMD

#define FDSTORE_NAME_MAX 255 /* systemd's FDNAME_MAX */

/* One fd systemd passed at start. */
struct inherited {
	int fd;     /* -1 once taken or closed */
	char *name; /* from LISTEN_FDNAMES ("unknown" when systemd gave none) */
	bool taken;
};

static struct inherited *inh;
static int n_inh;

/* Tells whether name is one systemd accepts in FDNAME=. */
static bool
fdstore_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > FDSTORE_NAME_MAX)
		return false;
	for (const char *p = name; *p != '\0'; p++)
		if (*p < ' ' || *p >= 127 || *p == ':')
			return false;
	return true;
}

int
fdstore_init(void)
{
	char **names = NULL;
	int n;

	n = sd_listen_fds_with_names(1, &names);
	if (n <= 0) {
		if (n < 0)
			log_warnx("event=fdstore-error reason=\"LISTEN_FDS: %s\"", strerror(-n));
		return 0;
	}
	inh = calloc((size_t)n, sizeof *inh);
	if (inh == NULL)
		fatalx("out of memory");
	for (int i = 0; i < n; i++) {
		inh[i].fd = SD_LISTEN_FDS_START + i;
		inh[i].name = names != NULL && names[i] != NULL ? names[i] : strdup("unknown");
		if (inh[i].name == NULL)
			fatalx("out of memory");
	}
	free(names); /* the strings now belong to inh */
	n_inh = n;
	log_debug("fdstore: %d file descriptors inherited", n);
	return n;
}

int
fdstore_take(const char *prefix, fdstore_match_fn *match, void *arg)
{
	size_t plen = strlen(prefix);

	for (int i = 0; i < n_inh; i++) {
		struct inherited *h = &inh[i];

		if (h->fd < 0 || strncmp(h->name, prefix, plen) != 0)
			continue;
		if (match != NULL && !match(h->fd, h->name, arg))
			continue;
		h->taken = true;
		int fd = h->fd;
		h->fd = -1;
		return fd;
	}
	return -1;
}

int
fdstore_take_named(const char *name)
{
	for (int i = 0; i < n_inh; i++) {
		struct inherited *h = &inh[i];

		if (h->fd >= 0 && strcmp(h->name, name) == 0) {
			int fd = h->fd;

			h->fd = -1;
			h->taken = true;
			return fd;
		}
	}
	return -1;
}

bool
fdstore_available(void)
{
	const char *s = getenv("NOTIFY_SOCKET");

	return s != NULL && *s != '\0';
}

int
fdstore_put(const char *name, int fd)
{
	char msg[32 + FDSTORE_NAME_MAX];
	int r;

	if (!fdstore_available()) {
		errno = ENOSYS;
		return -1;
	}
	if (!fdstore_name_valid(name)) {
		errno = EINVAL;
		return -1;
	}
	snprintf(msg, sizeof msg, "FDSTORE=1\nFDNAME=%s", name);
	r = sd_pid_notify_with_fds(0, 0, msg, &fd, 1);
	if (r <= 0) {
		errno = r < 0 ? -r : ENOSYS;
		return -1;
	}
	return 0;
}

void
fdstore_remove(const char *name)
{
	char msg[32 + FDSTORE_NAME_MAX];

	if (!fdstore_available() || !fdstore_name_valid(name))
		return;
	snprintf(msg, sizeof msg, "FDSTOREREMOVE=1\nFDNAME=%s", name);
	(void)sd_notify(0, msg);
}

/* Tells whether an fd taken from the inherited ones has this name. */
static bool
fdstore_name_taken(const char *name)
{
	for (int i = 0; i < n_inh; i++)
		if (inh[i].taken && strcmp(inh[i].name, name) == 0)
			return true;
	return false;
}

void
fdstore_close_unused(void)
{
	for (int i = 0; i < n_inh; i++) {
		struct inherited *h = &inh[i];

		if (h->fd < 0)
			continue;
		log_info(
		    "event=fdstore-dropped name=\"%s\" reason=\"not used by this configuration\"",
		    h->name);
		close(h->fd);
		h->fd = -1;
		if (!fdstore_name_taken(h->name))
			fdstore_remove(h->name);
	}
	for (int i = 0; i < n_inh; i++)
		free(inh[i].name);
	free(inh);
	inh = NULL;
	n_inh = 0;
}

#else /* !HAVE_SYSTEMD: no service manager to talk to */

int
fdstore_init(void)
{
	return 0;
}

int
fdstore_take(const char *prefix, fdstore_match_fn *match, void *arg)
{
	(void)prefix;
	(void)match;
	(void)arg;
	return -1;
}

int
fdstore_take_named(const char *name)
{
	(void)name;
	return -1;
}

int
fdstore_put(const char *name, int fd)
{
	(void)name;
	(void)fd;
	errno = ENOSYS;
	return -1;
}

void
fdstore_remove(const char *name)
{
	(void)name;
}

void
fdstore_close_unused(void)
{
}

bool
fdstore_available(void)
{
	return false;
}

#endif
