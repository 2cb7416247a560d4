/* config_x509.h: the x509 group: certificate chain, key, CAs, CRL. */
#ifndef COAPS_PROXY_CONFIG_X509_H
#define COAPS_PROXY_CONFIG_X509_H

#include "config_get.h"

/* Parses x509 = { ... }: certificate chain, key, CAs, CRL, client policy. */
int load_x509(struct loader *ld, struct proxy_config *cfg);

#endif
