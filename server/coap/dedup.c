/* edgecoap server: remembers applied writes so a retransmission is not applied twice. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "dedup.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* RFC 7252 section 4.8.2: how long a Message ID may come back. */
#define EXCHANGE_LIFETIME_MS 247000
/* Slots examined for one key: bounds the cost of a lookup. */
#define PROBES 8

typedef struct {
  ec_dedup_key_t key;
  uint64_t at_ms;  /* when it was stored (monotonic); 0 = empty */
  ec_dedup_answer_t answer;
  uint8_t *body;   /* ec_dedup_put_body() only; owned */
  size_t body_len;
  int format;
} slot_t;

struct ec_dedup {
  slot_t *slots;
  unsigned mask;
  /* Keys the digest, so nobody can make two requests collide on purpose. */
  uint8_t secret[crypto_generichash_KEYBYTES];
};

/* The digest's input gathered in a buffer and hashed in large pieces: one
 * BLAKE2b update per field cost more than the hashing itself. The byte
 * stream, and so the digest, is the same either way. */
typedef struct {
  crypto_generichash_state st;
  size_t n;
  uint8_t buf[512];
} hasher_t;

static void put(hasher_t *h, const void *p, size_t n) {
  if (h->n + n > sizeof(h->buf)) {
    crypto_generichash_update(&h->st, h->buf, h->n);
    h->n = 0;
    if (n > sizeof(h->buf)) {
      crypto_generichash_update(&h->st, p, n);
      return;
    }
  }
  if (n > 0)
    memcpy(h->buf + h->n, p, n);
  h->n += n;
}

static void hash_bytes(hasher_t *h, const void *p, size_t n) {
  /* Every variable-length field is preceded by its length, so no two
   * different requests hash the same byte stream. */
  uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                    (uint8_t)n};
  put(h, len, sizeof(len));
  put(h, p, n);
}

static void hash_address(hasher_t *h, const coap_address_t *a) {
  const struct sockaddr *sa = &a->addr.sa;
  uint8_t family = (uint8_t)sa->sa_family;
  put(h, &family, 1);
  if (sa->sa_family == AF_INET) {
    hash_bytes(h, &a->addr.sin.sin_port, sizeof(a->addr.sin.sin_port));
    hash_bytes(h, &a->addr.sin.sin_addr, sizeof(a->addr.sin.sin_addr));
  } else if (sa->sa_family == AF_INET6) {
    hash_bytes(h, &a->addr.sin6.sin6_port, sizeof(a->addr.sin6.sin6_port));
    hash_bytes(h, &a->addr.sin6.sin6_addr, sizeof(a->addr.sin6.sin6_addr));
  } else {
    hash_bytes(h, a, sizeof(*a));
  }
}

void ec_dedup_key(const ec_dedup_t *d, coap_session_t *session,
                  const coap_pdu_t *request, ec_dedup_key_t *key) {
  hasher_t h;
  h.n = 0;
  crypto_generichash_init(&h.st, d->secret, sizeof(d->secret), sizeof(key->b));

  /* Who: address and port, and the security context. */
  hash_address(&h, coap_session_get_addr_remote(session));
  coap_proto_t proto = coap_session_get_proto(session);
  uint8_t p8 = (uint8_t)proto;
  put(&h, &p8, 1);
  if (proto == COAP_PROTO_DTLS) {
    const coap_bin_const_t *id = coap_session_get_psk_identity(session);
    const coap_bin_const_t *psk = coap_session_get_psk_key(session);
    hash_bytes(&h, id ? id->s : NULL, id && id->s ? id->length : 0);
    hash_bytes(&h, psk ? psk->s : NULL, psk && psk->s ? psk->length : 0);
  }

  /* What: the message, all but nothing. */
  uint8_t head[4];
  coap_mid_t mid = coap_pdu_get_mid(request);
  head[0] = (uint8_t)coap_pdu_get_type(request);
  head[1] = (uint8_t)coap_pdu_get_code(request);
  head[2] = (uint8_t)((uint16_t)mid >> 8);
  head[3] = (uint8_t)mid;
  put(&h, head, sizeof(head));
  coap_bin_const_t token = coap_pdu_get_token(request);
  hash_bytes(&h, token.s, token.length);

  coap_opt_iterator_t it;
  const coap_opt_t *opt;
  coap_option_iterator_init(request, &it, COAP_OPT_ALL);
  while ((opt = coap_option_next(&it)) != NULL) {
    uint8_t num[2] = {(uint8_t)(it.number >> 8), (uint8_t)it.number};
    put(&h, num, sizeof(num));
    hash_bytes(&h, coap_opt_value(opt), coap_opt_length(opt));
  }
  size_t len = 0;
  const uint8_t *data = NULL;
  if (!coap_get_data(request, &len, &data))
    len = 0;
  hash_bytes(&h, data, len);
  crypto_generichash_update(&h.st, h.buf, h.n);
  crypto_generichash_final(&h.st, key->b, sizeof(key->b));
}

ec_dedup_t *ec_dedup_new(unsigned slots) {
  unsigned n = 64;
  while (n < slots && n < (1u << 24))
    n <<= 1;
  if (sodium_init() < 0)
    return NULL;
  ec_dedup_t *d = calloc(1, sizeof(*d));
  if (d == NULL)
    return NULL;
  d->slots = calloc(n, sizeof(*d->slots));
  if (d->slots == NULL) {
    free(d);
    return NULL;
  }
  d->mask = n - 1;
  crypto_generichash_keygen(d->secret);
  return d;
}

void ec_dedup_free(ec_dedup_t *d) {
  if (d == NULL)
    return;
  for (unsigned i = 0; i <= d->mask; i++)
    free(d->slots[i].body);
  free(d->slots);
  sodium_memzero(d->secret, sizeof(d->secret));
  free(d);
}

/* The key is a keyed digest already: any 32 of its bits are uniform. */
static unsigned first_slot(const ec_dedup_t *d, const ec_dedup_key_t *key) {
  uint32_t h = (uint32_t)key->b[0] | (uint32_t)key->b[1] << 8 |
               (uint32_t)key->b[2] << 16 | (uint32_t)key->b[3] << 24;
  return h & d->mask;
}

static int live(const slot_t *s, uint64_t now) {
  return s->at_ms != 0 && now - s->at_ms < EXCHANGE_LIFETIME_MS;
}

static int same(const slot_t *s, const ec_dedup_key_t *key) {
  return memcmp(s->key.b, key->b, sizeof(key->b)) == 0;
}

static slot_t *find_slot(ec_dedup_t *d, const ec_dedup_key_t *key) {
  uint64_t now = ec_mono_ms();
  unsigned i = first_slot(d, key);
  for (int k = 0; k < PROBES; k++, i = (i + 1) & d->mask) {
    slot_t *s = &d->slots[i];
    if (live(s, now) && same(s, key))
      return s;
  }
  return NULL;
}

const ec_dedup_answer_t *ec_dedup_find(ec_dedup_t *d,
                                       const ec_dedup_key_t *key) {
  slot_t *s = find_slot(d, key);
  return s ? &s->answer : NULL;
}

const uint8_t *ec_dedup_body(ec_dedup_t *d, const ec_dedup_key_t *key,
                             size_t *len, int *format) {
  slot_t *s = find_slot(d, key);
  if (s == NULL || s->body == NULL)
    return NULL;
  *len = s->body_len;
  *format = s->format;
  return s->body;
}

/* The slot for @p key, its old body released. */
static slot_t *claim(ec_dedup_t *d, const ec_dedup_key_t *key) {
  uint64_t now = ec_mono_ms();
  unsigned i = first_slot(d, key);
  slot_t *victim = NULL;
  for (int k = 0; k < PROBES; k++, i = (i + 1) & d->mask) {
    slot_t *s = &d->slots[i];
    if (!live(s, now) || same(s, key)) {
      victim = s;
      break;
    }
    if (victim == NULL || s->at_ms < victim->at_ms)
      victim = s;
  }
  if (live(victim, now) && !same(victim, key))
    ec_log(EC_LOG_DEBUG, "dedup: table full, forgetting a write from %llu ms ago",
           (unsigned long long)(now - victim->at_ms));
  free(victim->body);
  victim->body = NULL;
  victim->key = *key;
  /* 0 marks an empty slot; the monotonic clock starts well past it. */
  victim->at_ms = now ? now : 1;
  return victim;
}

void ec_dedup_put(ec_dedup_t *d, const ec_dedup_key_t *key,
                  const ec_dedup_answer_t *answer) {
  claim(d, key)->answer = *answer;
}

void ec_dedup_put_body(ec_dedup_t *d, const ec_dedup_key_t *key,
                       const ec_dedup_answer_t *answer, const uint8_t *body,
                       size_t len, int format) {
  slot_t *s = claim(d, key);
  uint8_t *copy = NULL;
  if (body != NULL && len <= EC_DEDUP_MAX_BODY &&
      (copy = malloc(len ? len : 1)) != NULL)
    memcpy(copy, body, len);
  s->answer = *answer;
  s->body = copy;
  s->body_len = copy ? len : 0;
  s->format = format;
}
