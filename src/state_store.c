/* state_store.c: where saved sessions wait for the next start (fd store memfd or a file). */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdstore.h"
#include "state.h"
#include "state_store.h"

#define STATE_FDNAME "state"
#define STATE_STORE_MAX ((size_t)STATE_HEADER_LEN + STATE_MAX_BODY)

/* Sets *cause from a format and errno's text; returns -1. */
static int
store_fail(char **cause, const char *what, const char *path)
{
	if (asprintf(cause, "%s %s: %s", what, path, strerror(errno)) < 0)
		*cause = NULL;
	return -1;
}

/* Reads the whole of fd (at most STATE_STORE_MAX bytes); 0, or -1 with *cause. */
static int
store_read_fd(int fd, const char *name, uint8_t **data, size_t *len, char **cause)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;

	if (fstat(fd, &st) < 0)
		return store_fail(cause, "cannot stat", name);
	if (!S_ISREG(st.st_mode)) {
		if (asprintf(cause, "%s is not a regular file", name) < 0)
			*cause = NULL;
		return -1;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		if (asprintf(cause, "%s has mode %04o and owner %u: must be 0600 and ours", name,
		        (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid) < 0)
			*cause = NULL;
		return -1;
	}
	if ((uint64_t)st.st_size > STATE_STORE_MAX) {
		if (asprintf(cause, "oversize: %s holds %lld bytes (at most %zu)", name,
		        (long long)st.st_size, STATE_STORE_MAX) < 0)
			*cause = NULL;
		return -1;
	}
	if ((buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1)) == NULL)
		return store_fail(cause, "cannot read", name);
	while (got < (size_t)st.st_size) {
		ssize_t r = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(buf);
			if (r == 0)
				errno = EIO;
			return store_fail(cause, "cannot read", name);
		}
		got += (size_t)r;
	}
	*data = buf;
	*len = got;
	return 0;
}

int
state_store_take(const char *path, uint8_t **data, size_t *len, const char **source, char **cause)
{
	int fd = fdstore_take_named(STATE_FDNAME), rc = 0, ffd = -1;

	*data = NULL;
	*len = 0;
	*source = "none";
	if (fd >= 0)
		fdstore_remove(STATE_FDNAME);
	if (path != NULL && path[0] != '\0') {
		ffd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (ffd < 0 && errno != ENOENT) {
			rc = store_fail(cause, "cannot open", path);
			if (fd < 0)
				return rc;
			free(*cause);
			*cause = NULL;
			rc = 0;
		}
		/* Loaded once: gone before anything in it is used. */
		if (ffd >= 0 && unlink(path) < 0) {
			rc = store_fail(cause, "cannot delete", path);
			close(ffd);
			if (fd >= 0)
				close(fd);
			return rc;
		}
	}
	if (fd >= 0) {
		/* The fd store's copy is the one the last stop wrote (a file may be older). */
		*source = "fdstore";
		rc = store_read_fd(fd, "the fd store's state", data, len, cause);
		close(fd);
	} else if (ffd >= 0) {
		*source = "file";
		rc = store_read_fd(ffd, path, data, len, cause);
	} else
		return 0;
	if (ffd >= 0)
		close(ffd);
	return rc < 0 ? -1 : 1;
}

/* Writes all of buf to fd; 0 or -1 with errno. */
static int
store_write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Puts the state into a sealed memfd in systemd's fd store; 0 or -1 with *cause. */
static int
store_put_memfd(const uint8_t *data, size_t len, char **cause)
{
	int fd = memfd_create("coaps-proxy-state", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return store_fail(cause, "cannot create", "a memfd");
	if (fchmod(fd, 0600) < 0 || store_write_all(fd, data, len) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		close(fd);
		return store_fail(cause, "cannot write", "the memfd");
	}
	/* A state from an earlier stop that was never taken must not come back. */
	fdstore_remove(STATE_FDNAME);
	if (fdstore_put(STATE_FDNAME, fd) < 0) {
		close(fd);
		return store_fail(cause, "cannot put the state into", "the fd store");
	}
	close(fd);
	return 0;
}

/* Writes the state file: a temporary file beside it, synced, renamed; 0 or -1 with *cause. */
static int
store_put_file(const char *path, const uint8_t *data, size_t len, char **cause)
{
	char *tmp = NULL, *dir = NULL;
	int fd, dfd;

	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return store_fail(cause, "out of memory for", path);
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		store_fail(cause, "cannot create", tmp);
		free(tmp);
		return -1;
	}
	if (fchmod(fd, 0600) < 0 || store_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		store_fail(cause, "cannot write", tmp);
		close(fd);
		(void)unlink(tmp);
		free(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		store_fail(cause, "cannot rename it to", path);
		(void)unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	/* The rename is what makes it complete: sync the directory too. */
	if ((dir = strdup(path)) != NULL) {
		if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
			(void)fsync(dfd);
			close(dfd);
		}
		free(dir);
	}
	return 0;
}

int
state_store_put(const char *path, const uint8_t *data, size_t len, const char **where, char **cause)
{
	bool in_store = false, in_file = false;
	char *c1 = NULL, *c2 = NULL;

	if (fdstore_available())
		in_store = store_put_memfd(data, len, &c1) == 0;
	if (path != NULL && path[0] != '\0')
		in_file = store_put_file(path, data, len, &c2) == 0;
	*where = in_store && in_file ? "fdstore+file" : in_store ? "fdstore" : "file";
	if (in_store || in_file) {
		free(c1);
		free(c2);
		return 0;
	}
	if (c1 != NULL && c2 != NULL) {
		if (asprintf(cause, "%s; %s", c1, c2) < 0)
			*cause = NULL;
		free(c1);
		free(c2);
	} else
		*cause = c1 != NULL ? c1 : c2 != NULL ? c2 : strdup("no place to keep it");
	return -1;
}
