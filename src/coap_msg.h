/* coap_msg.h: CoAP message inspection (placeholder until the full module lands). */
#ifndef COAPS_COAP_MSG_H
#define COAPS_COAP_MSG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
struct coap_msg_ctx;
struct coap_msg_info {
	uint8_t type, code, token_len, token[8];
	uint16_t mid;
	bool is_request, is_response, is_empty;
};
struct coap_msg_ctx *coap_msg_ctx_new(size_t max_size);
void coap_msg_ctx_free(struct coap_msg_ctx *c);
int coap_msg_inspect(struct coap_msg_ctx *c, const uint8_t *buf, size_t len,
    struct coap_msg_info *info, const char **why);
#endif
