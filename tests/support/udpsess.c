/* edgecoap tests: libcoap client sessions that stand for peers in unit tests. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "udpsess.h"

#include <arpa/inet.h>

coap_session_t *ec_test_session_to(coap_context_t *ctx, uint16_t port) {
  coap_address_t dst;
  coap_address_init(&dst);
  dst.addr.sin.sin_family = AF_INET;
  dst.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  dst.addr.sin.sin_port = htons(port);
  dst.size = sizeof(dst.addr.sin);
  return coap_new_client_session(ctx, NULL, &dst, COAP_PROTO_UDP);
}
