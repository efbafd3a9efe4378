/* edgecoap tests: a bare server state on a libcoap context for unit tests. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "srvfx.h"

#include <stdlib.h>

#include "peer.h"
#include "watch.h"

ec_server_t *ec_test_server_new(coap_context_t **ctx, size_t arena_cap) {
  coap_startup();
  coap_set_log_level(LOG_EMERG);
  *ctx = coap_new_context(NULL);
  ec_server_t *srv = calloc(1, sizeof(*srv));
  if (*ctx == NULL || srv == NULL)
    goto fail;
  srv->ctx = *ctx;
  srv->screen_fd = -1;
  srv->arena_cap = arena_cap;
  if (arena_cap > 0 && (srv->arena_buf = malloc(arena_cap)) == NULL)
    goto fail;
  return srv;

fail:
  free(srv);
  return NULL;
}

void ec_test_server_free(ec_server_t *srv, coap_context_t *ctx) {
  if (srv != NULL) {
    ec_watch_free_all(srv);
    ec_peer_free_all(srv);
    free(srv->arena_buf);
    free(srv);
  }
  if (ctx != NULL)
    coap_free_context(ctx);
  coap_cleanup();
}
