/* fdlimit.c: descriptors kept in reserve for the data path. */
#include "config.h"

#include <sys/resource.h>

#include "fdlimit.h"

bool
fdlimit_spare_ok(int fd)
{
	struct rlimit rl;

	/* Read each time: the limit can change under us (prlimit), and accepts here are rare. */
	if (fd < 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return true;
	return (rlim_t)fd + FDLIMIT_RESERVE < rl.rlim_cur;
}
