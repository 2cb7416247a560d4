/* fuzz_config.c: libFuzzer target for the configuration loader and the mbedTLS set-up built from it. */
#include "config.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "configuration.h"
#include "dtls.h"
#include "log.h"

#include "fuzz_proxy.h"

#define FUZZ_CONFIG_MAX 16384 /* bytes of a configuration file we try */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

static char conf_path[300];
static bool loading; /* config_load is running: file and name look-ups are fenced in */

/*
 * LeakSanitizer: Debian 12's libconfig 1.5 leaks a string token on some syntax
 * errors (libconfig issue #142, fixed in 1.7 by pull request #155); not ours.
 */
const char *
__lsan_default_suppressions(void)
{
	return "leak:libconfig.so\n";
}

/* Tells whether the loader may open path: nothing that can block or is not a plain file. */
static bool
path_allowed(const char *path)
{
	static const char *const denied[] = { "/dev", "/proc", "/sys", "/run", NULL };

	if (!loading || path == NULL)
		return true;
	for (size_t i = 0; denied[i] != NULL; i++) {
		size_t n = strlen(denied[i]);

		if (strncmp(path, denied[i], n) == 0 && (path[n] == '/' || path[n] == '\0'))
			return false;
	}
	return true;
}

/*
 * Replaces libc's fopen while loading: no devices, FIFOs or kernel files,
 * and only regular files. config.c hands any path to mbedTLS, which on a
 * directory asks calloc for 2^63 bytes (see check_config_paths.c: reported,
 * fenced here until config.c checks the file type itself), and on a FIFO
 * blocks.
 */
FILE *
fopen(const char *path, const char *mode)
{
	static FILE *(*real)(const char *, const char *);
	struct stat st;

	if (real == NULL)
		real = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
	if (!path_allowed(path)) {
		errno = EACCES;
		return NULL;
	}
	if (loading && path != NULL && stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		errno = EISDIR;
		return NULL;
	}
	return real(path, mode);
}

/* Replaces libc's opendir while loading: only the fuzz directory (client_ca may be one). */
DIR *
opendir(const char *path)
{
	static DIR *(*real)(const char *);
	const char *dir = fuzz_workdir(NULL);

	if (real == NULL)
		real = (DIR * (*)(const char *)) dlsym(RTLD_NEXT, "opendir");
	if (loading && strncmp(path, dir, strlen(dir)) != 0 && path[0] == '/') {
		errno = EACCES;
		return NULL;
	}
	return real(path);
}

/* Replaces libc's getaddrinfo while loading: numeric addresses only, no DNS queries. */
int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
    struct addrinfo **res)
{
	static int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
	struct addrinfo h = { 0 };

	if (real == NULL)
		real = (int (*)(const char *, const char *, const struct addrinfo *,
		    struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");
	if (hints != NULL)
		h = *hints;
	if (loading)
		h.ai_flags |= AI_NUMERICHOST;
	return real(node, service, &h, res);
}

/* Makes the directory with the test certificates; the input is written there. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char *cause = NULL;

	(void)argc;
	(void)argv;
	log_init();
	log_set_level(getenv("FUZZ_VERBOSE") != NULL ? LOG_LVL_DEBUG : LOG_LVL_ERROR);
	clock_fix(FUZZ_CLOCK_MS);
	if (dtls_init_fixed(&cause) < 0) {
		fprintf(stderr, "fuzz_config: %s\n", cause);
		abort();
	}
	snprintf(conf_path, sizeof conf_path, "%s/input.conf", fuzz_workdir(NULL));
	return 0;
}

/* Loads one input as a configuration file. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_config *cfg;
	char *cause = NULL;
	FILE *f;

	if (size > FUZZ_CONFIG_MAX)
		return 0;
	f = fopen(conf_path, "wb");
	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
		perror(conf_path);
		abort();
	}
	loading = true;
	cfg = config_load(conf_path, &cause);
	if (cfg == NULL) {
		/* Every failure says why, as FILE:LINE: key: why. */
		if (cause == NULL || cause[0] == '\0')
			abort();
	} else if (dtls_config_build(cfg, &cause) < 0 && (cause == NULL || cause[0] == '\0'))
		abort();
	loading = false;
	if (getenv("FUZZ_DEBUG") != NULL)
		fprintf(stderr, "fuzz_config: %s\n", cause != NULL ? cause : "configuration OK");
	if (cfg != NULL)
		config_unref(cfg);
	free(cause);
	return 0;
}
