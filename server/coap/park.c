/* edgecoap server: writes that wait for a store out of reach (a database restart), then run again. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "park.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* Writes parked at once, and their bodies' bytes, at most: past either a
 * write is answered 5.03 at once. Each runs again on the synchronous path
 * (one round trip to the database), all in the round the store is back. */
#ifndef EC_PARK_MAX
#define EC_PARK_MAX 1024
#endif
#ifndef EC_PARK_BYTES
#define EC_PARK_BYTES (16 * 1024 * 1024)
#endif
/* A parked write libcoap never ran again (its session went away) is
 * dropped this long after it was due. */
#define STALE_MS 60000

struct ec_parked {
  struct ec_parked *next;
  coap_async_t *async;
  int64_t until_ms;   /* its bound: run again by then, whatever the store */
  int64_t due_ms;     /* 0, or when it was run again */
  uint64_t since_us;  /* its first dispatch */
  ec_dedup_key_t key; /* its answer's, for retransmissions (dedup.h) */
  size_t req_size;    /* the request's bytes on the wire (amplification) */
  size_t body_len;
  uint8_t body[];
};

static int64_t now_ms(void) {
  return (int64_t)ec_mono_ms();
}

bool ec_park(ec_req_t *rq) {
  ec_server_t *srv = rq->srv;
  if (!rq->park_ok || !ec_store_unreachable(srv->store) ||
      srv->n_parked >= EC_PARK_MAX ||
      srv->parked_bytes + rq->body_len > EC_PARK_BYTES)
    return false;
  struct ec_parked *p = malloc(sizeof(*p) + rq->body_len);
  if (p == NULL)
    return false;
  /* Its key from the request as received: the copy libcoap runs again
   * need not hold the payload, which is kept here. */
  p->key = *ec_req_dedup_key(rq);
  /* Delay 0: until ec_park_poll() triggers it. */
  p->async = coap_register_async(rq->session, rq->request, 0);
  if (p->async == NULL) {
    free(p);
    return false;
  }
  coap_async_set_app_data(p->async, p);
  p->until_ms = now_ms() + EC_STORE_WAIT_MS;
  p->due_ms = 0;
  p->since_us = rq->since_us;
  p->req_size = rq->req_size;
  p->body_len = rq->body_len;
  if (rq->body_len > 0)
    memcpy(p->body, rq->body, rq->body_len);
  p->next = srv->parked;
  srv->parked = p;
  srv->n_parked++;
  srv->parked_bytes += rq->body_len;
  rq->park_ok = false;
  ec_log(EC_LOG_DEBUG, "a write waits for the store (%u parked)",
         srv->n_parked);
  return true;
}

/* Take @p p off the list (it is there). */
static void unlink_parked(ec_server_t *srv, struct ec_parked *p) {
  struct ec_parked **pp = &srv->parked;
  while (*pp != p)
    pp = &(*pp)->next;
  *pp = p->next;
  srv->n_parked--;
  srv->parked_bytes -= p->body_len;
}

bool ec_park_take(ec_req_t *rq, uint64_t *since_us) {
  ec_server_t *srv = rq->srv;
  if (srv->parked == NULL)
    return false;
  coap_async_t *a =
      coap_find_async(rq->session, coap_pdu_get_token(rq->request));
  void *data = a != NULL ? coap_async_get_app_data(a) : NULL;
  struct ec_parked *p = srv->parked;
  while (p != NULL && p != data)
    p = p->next;
  if (p == NULL)
    return false; /* a group commit's (batch.h) */
  unlink_parked(srv, p);
  coap_async_set_app_data(a, NULL); /* libcoap frees it after this run */
  rq->parked = p;
  rq->body = p->body;
  rq->body_len = p->body_len;
  rq->dedup_key = p->key;
  rq->dedup_keyed = 1;
  rq->req_size = p->req_size;
  *since_us = p->since_us;
  return true;
}

void ec_park_release(ec_req_t *rq) {
  free(rq->parked);
  rq->parked = NULL;
}

void ec_park_poll(ec_server_t *srv) {
  if (srv->parked == NULL)
    return;
  bool back = !ec_store_unreachable(srv->store);
  int64_t now = now_ms();
  unsigned ran = 0;
  for (struct ec_parked *p = srv->parked, *next; p != NULL; p = next) {
    next = p->next;
    if (p->due_ms == 0 && (back || now >= p->until_ms)) {
      p->due_ms = now;
      coap_async_trigger(p->async);
      ran++;
    } else if (p->due_ms != 0 && now - p->due_ms > STALE_MS) {
      unlink_parked(srv, p);
      free(p);
    }
  }
  if (ran > 0)
    ec_log(back ? EC_LOG_INFO : EC_LOG_WARN,
           "%u writes that waited for the store run again (%s)", ran,
           back ? "it is back" : "it is still out of reach: 5.03");
}

int ec_park_next_ms(ec_server_t *srv) {
  int64_t now = now_ms(), next = -1;
  for (const struct ec_parked *p = srv->parked; p != NULL; p = p->next) {
    if (p->due_ms != 0)
      continue;
    int64_t left = p->until_ms > now ? p->until_ms - now : 0;
    if (next < 0 || left < next)
      next = left;
  }
  return (int)next;
}

void ec_park_free_all(ec_server_t *srv) {
  while (srv->parked != NULL) {
    struct ec_parked *p = srv->parked;
    srv->parked = p->next;
    free(p); /* libcoap frees its async with the context */
  }
  srv->n_parked = 0;
  srv->parked_bytes = 0;
}
