/* edgecoap server: remembers applied writes so a retransmission is not applied twice. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "dedup.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* RFC 7252 section 4.8.2: how long a Message ID may come back. */
#define EXCHANGE_LIFETIME_MS 247000
/* Slots examined for one key: bounds the cost of a lookup. */
#define PROBES 8

typedef struct {
  uint64_t peer;   /* FNV-1a of the peer's address and port; 0 = empty */
  uint64_t at_ms;  /* when it was stored (monotonic) */
  coap_mid_t mid;
  ec_dedup_answer_t answer;
  uint8_t *body;   /* ec_dedup_put_body() only; owned */
  size_t body_len;
  int format;
} slot_t;

struct ec_dedup {
  slot_t *slots;
  unsigned mask;
};

static uint64_t peer_hash(const coap_address_t *a) {
  uint64_t h = EC_FNV1A_INIT;
  const struct sockaddr *sa = &a->addr.sa;
  if (sa->sa_family == AF_INET) {
    h = ec_fnv1a(h, &a->addr.sin.sin_port, sizeof(a->addr.sin.sin_port));
    h = ec_fnv1a(h, &a->addr.sin.sin_addr, sizeof(a->addr.sin.sin_addr));
  } else if (sa->sa_family == AF_INET6) {
    h = ec_fnv1a(h, &a->addr.sin6.sin6_port, sizeof(a->addr.sin6.sin6_port));
    h = ec_fnv1a(h, &a->addr.sin6.sin6_addr, sizeof(a->addr.sin6.sin6_addr));
  } else {
    h = ec_fnv1a(h, a, sizeof(*a));
  }
  return h ? h : 1; /* 0 marks an empty slot */
}

ec_dedup_t *ec_dedup_new(unsigned slots) {
  unsigned n = 64;
  while (n < slots && n < (1u << 24))
    n <<= 1;
  ec_dedup_t *d = calloc(1, sizeof(*d));
  if (d == NULL)
    return NULL;
  d->slots = calloc(n, sizeof(*d->slots));
  if (d->slots == NULL) {
    free(d);
    return NULL;
  }
  d->mask = n - 1;
  return d;
}

void ec_dedup_free(ec_dedup_t *d) {
  if (d == NULL)
    return;
  for (unsigned i = 0; i <= d->mask; i++)
    free(d->slots[i].body);
  free(d->slots);
  free(d);
}

static unsigned first_slot(const ec_dedup_t *d, uint64_t peer, coap_mid_t mid) {
  uint64_t h = peer ^ ((uint64_t)(uint16_t)mid * 0x9e3779b97f4a7c15ull);
  return (unsigned)(h ^ (h >> 29)) & d->mask;
}

static slot_t *find_slot(ec_dedup_t *d, const coap_address_t *peer,
                         coap_mid_t mid) {
  uint64_t key = peer_hash(peer), now = ec_mono_ms();
  unsigned i = first_slot(d, key, mid);
  for (int k = 0; k < PROBES; k++, i = (i + 1) & d->mask) {
    slot_t *s = &d->slots[i];
    if (s->peer == key && s->mid == mid &&
        now - s->at_ms < EXCHANGE_LIFETIME_MS)
      return s;
  }
  return NULL;
}

const ec_dedup_answer_t *ec_dedup_find(ec_dedup_t *d, const coap_address_t *peer,
                                       coap_mid_t mid) {
  slot_t *s = find_slot(d, peer, mid);
  return s ? &s->answer : NULL;
}

const uint8_t *ec_dedup_body(ec_dedup_t *d, const coap_address_t *peer,
                             coap_mid_t mid, size_t *len, int *format) {
  slot_t *s = find_slot(d, peer, mid);
  if (s == NULL || s->body == NULL)
    return NULL;
  *len = s->body_len;
  *format = s->format;
  return s->body;
}

/* The slot for (peer, mid), its old body released. */
static slot_t *claim(ec_dedup_t *d, const coap_address_t *peer,
                     coap_mid_t mid) {
  uint64_t key = peer_hash(peer), now = ec_mono_ms();
  unsigned i = first_slot(d, key, mid);
  slot_t *victim = NULL;
  for (int k = 0; k < PROBES; k++, i = (i + 1) & d->mask) {
    slot_t *s = &d->slots[i];
    if (s->peer == 0 || now - s->at_ms >= EXCHANGE_LIFETIME_MS ||
        (s->peer == key && s->mid == mid)) {
      victim = s;
      break;
    }
    if (victim == NULL || s->at_ms < victim->at_ms)
      victim = s;
  }
  if (victim->peer != 0 && now - victim->at_ms < EXCHANGE_LIFETIME_MS &&
      !(victim->peer == key && victim->mid == mid))
    ec_log(EC_LOG_DEBUG, "dedup: table full, forgetting a write from %llu ms ago",
           (unsigned long long)(now - victim->at_ms));
  free(victim->body);
  victim->body = NULL;
  victim->peer = key;
  victim->mid = mid;
  victim->at_ms = now;
  return victim;
}

void ec_dedup_put(ec_dedup_t *d, const coap_address_t *peer, coap_mid_t mid,
                  const ec_dedup_answer_t *answer) {
  claim(d, peer, mid)->answer = *answer;
}

void ec_dedup_put_body(ec_dedup_t *d, const coap_address_t *peer,
                       coap_mid_t mid, const ec_dedup_answer_t *answer,
                       const uint8_t *body, size_t len, int format) {
  slot_t *s = claim(d, peer, mid);
  uint8_t *copy = NULL;
  if (body != NULL && len <= EC_DEDUP_MAX_BODY &&
      (copy = malloc(len ? len : 1)) != NULL)
    memcpy(copy, body, len);
  s->answer = *answer;
  s->body = copy;
  s->body_len = copy ? len : 0;
  s->format = format;
}
