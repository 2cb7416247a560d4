/* coap_msg.c: CoAP message inspection (placeholder until the full module lands). */
#include "config.h"
#include <stdlib.h>
#include <coap3/coap.h>
#include "coap_msg.h"
struct coap_msg_ctx {
	coap_pdu_t *pdu;
};
/* Allocates the parser state once. */
struct coap_msg_ctx *
coap_msg_ctx_new(size_t max_size)
{
	struct coap_msg_ctx *c = calloc(1, sizeof *c);
	coap_startup();
	coap_set_log_level(LOG_EMERG);
	if (c == NULL)
		return NULL;
	c->pdu = coap_pdu_init(0, 0, 0, max_size);
	if (c->pdu == NULL) {
		free(c);
		return NULL;
	}
	return c;
}
/* Frees the parser state. */
void
coap_msg_ctx_free(struct coap_msg_ctx *c)
{
	if (c == NULL)
		return;
	coap_delete_pdu(c->pdu);
	free(c);
}
/* Validates one CoAP-over-UDP message with libcoap's parser. */
int
coap_msg_inspect(struct coap_msg_ctx *c, const uint8_t *buf, size_t len,
    struct coap_msg_info *info, const char **why)
{
	if (len < 4) {
		*why = "truncated header";
		return -1;
	}
	if (!coap_pdu_parse(COAP_PROTO_UDP, buf, len, c->pdu)) {
		*why = "not valid CoAP";
		return -1;
	}
	info->type = buf[0] >> 4 & 3;
	info->code = buf[1];
	info->mid = (uint16_t)(buf[2] << 8 | buf[3]);
	return 0;
}
