/* main.c: flags, signals and the event loop of coaps-proxyd. */
#include "config.h"
#include "log.h"

int
main(void)
{
	log_init();
	log_info("coaps-proxyd skeleton");
	return 0;
}
