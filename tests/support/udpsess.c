/* edgecoap tests: libcoap client sessions that stand for peers in unit tests. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "udpsess.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

coap_address_t ec_test_addr(const char *ip, uint16_t port) {
  coap_address_t a;
  coap_address_init(&a);
  a.addr.sin.sin_family = AF_INET;
  inet_pton(AF_INET, ip, &a.addr.sin.sin_addr);
  a.addr.sin.sin_port = htons(port);
  a.size = sizeof(a.addr.sin);
  return a;
}

coap_session_t *ec_test_session_at(coap_context_t *ctx, const char *ip,
                                   uint16_t port) {
  coap_address_t dst = ec_test_addr(ip, port);
  return coap_new_client_session(ctx, NULL, &dst, COAP_PROTO_UDP);
}

coap_session_t *ec_test_session_to(coap_context_t *ctx, uint16_t port) {
  return ec_test_session_at(ctx, "127.0.0.1", port);
}

uint16_t ec_test_free_port(void) {
  struct sockaddr_in a = {0};
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) < 0)
    a.sin_port = 0;
  if (fd >= 0)
    close(fd);
  return ntohs(a.sin_port);
}
