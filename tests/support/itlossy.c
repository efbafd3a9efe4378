/* edgecoap tests: a device core's UDP port that loses its first sends. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "itlossy.h"

static int lossy_send(void *ctx, const uint8_t *d, size_t len) {
  it_lossy_t *l = ctx;
  l->sends++;
  if (l->drop > 0) {
    l->drop--;
    return 0; /* lost on the way */
  }
  return l->udp.transport.send(&l->udp, d, len);
}

static uint32_t lossy_now(void *ctx) {
  it_lossy_t *l = ctx;
  return l->udp.transport.now_ms(&l->udp);
}

static void lossy_random(void *ctx, void *buf, size_t len) {
  it_lossy_t *l = ctx;
  l->udp.transport.random(&l->udp, buf, len);
}

int it_lossy_open(it_lossy_t *l, uint16_t port, int drop) {
  int rc = ec_dev_udp_open(&l->udp, "127.0.0.1", port);
  if (rc < 0)
    return rc;
  l->transport =
      (ec_dev_transport_t){lossy_send, lossy_now, lossy_random, NULL, l};
  l->drop = drop;
  l->sends = 0;
  return 0;
}
