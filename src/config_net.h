/* config_net.h: the listen, backends and routes groups. */
#ifndef COAPS_PROXY_CONFIG_NET_H
#define COAPS_PROXY_CONFIG_NET_H

#include "config_get.h"

/* Parses listen = ( { address; port; } ... ). */
int load_listens(struct loader *ld, struct proxy_config *cfg);

/* Parses backends = ( { name; address; port; sources; } ... ), resolving names. */
int load_backends(struct loader *ld, struct proxy_config *cfg);

/*
 * Parses routes = ( { path_prefix; identity; uri_host; anonymous; forward_proxy;
 * backend; } ... ).
 */
int load_routes(struct loader *ld, struct proxy_config *cfg);

#endif
