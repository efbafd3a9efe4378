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
  uint8_t secret[crypto_shorthash_siphashx24_KEYBYTES];
};

/*
 * The digest's input, gathered in one buffer and hashed at once with
 * SipHash-2-4 (128-bit output, libsodium's siphashx24): a keyed PRF made
 * for exactly this, a table keyed by what the network sends, and about a
 * third of BLAKE2b's cost on a report. A message larger than the buffer
 * puts the digest of its options and payload in their place, marked so
 * that it never reads as a message that holds those bytes.
 */
typedef struct {
  size_t n;
  uint8_t buf[1024];
} hasher_t;

static void put(hasher_t *h, const void *p, size_t n) {
  if (n > 0)
    memcpy(h->buf + h->n, p, n);
  h->n += n;
}

static void put_len(hasher_t *h, size_t n) {
  /* Every variable-length field is preceded by its length, so no two
   * different requests give the same input. */
  uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                    (uint8_t)n};
  put(h, len, sizeof(len));
}

/* A field with its length; one longer than 128 bytes (no address, token
 * or usual PSK identity is) as its own digest, its length's top bit set. */
static void hash_field(const ec_dedup_t *d, hasher_t *h, const void *p,
                       size_t n) {
  if (n <= 128) {
    put_len(h, n);
    put(h, p, n);
    return;
  }
  uint8_t sub[crypto_shorthash_siphashx24_BYTES];
  crypto_shorthash_siphashx24(sub, p, n, d->secret);
  put_len(h, (n & 0x7fffffffu) | 0x80000000u);
  put(h, sub, sizeof(sub));
}

static void hash_bytes(hasher_t *h, const void *p, size_t n) {
  put_len(h, n);
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

/*
 * The request's options and payload as they came: libcoap keeps a PDU's
 * options in their wire form one after the other behind the token, then
 * the payload marker and the payload, and its iterator says where they
 * start and how many bytes follow (batch.c sends a PDU so too). Wire form
 * is one spelling of the options: equal bytes, equal options, and the
 * other way round.
 */
static void message_bytes(const coap_pdu_t *request, const uint8_t **start,
                          size_t *len) {
  coap_opt_iterator_t it;
  if (coap_option_iterator_init(request, &it, COAP_OPT_ALL) == NULL ||
      it.next_option == NULL) {
    *start = NULL;
    *len = 0;
    return;
  }
  *start = it.next_option;
  *len = it.length;
}

void ec_dedup_key(const ec_dedup_t *d, coap_session_t *session,
                  const coap_pdu_t *request, ec_dedup_key_t *key) {
  _Static_assert(sizeof(key->b) == crypto_shorthash_siphashx24_BYTES,
                 "a key is one SipHash-128 digest");
  hasher_t h;
  h.n = 0;

  /* Who: address and port, and the security context. */
  hash_address(&h, coap_session_get_addr_remote(session));
  coap_proto_t proto = coap_session_get_proto(session);
  uint8_t p8 = (uint8_t)proto;
  put(&h, &p8, 1);
  if (proto == COAP_PROTO_DTLS) {
    const coap_bin_const_t *id = coap_session_get_psk_identity(session);
    const coap_bin_const_t *psk = coap_session_get_psk_key(session);
    hash_field(d, &h, id ? id->s : NULL, id && id->s ? id->length : 0);
    hash_field(d, &h, psk ? psk->s : NULL, psk && psk->s ? psk->length : 0);
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
  hash_field(d, &h, token.s, token.length);

  const uint8_t *msg;
  size_t len;
  message_bytes(request, &msg, &len);
  uint8_t whole = len + 5 <= sizeof(h.buf) - h.n;
  put(&h, &whole, 1);
  if (whole) {
    put_len(&h, len);
    put(&h, msg, len);
  } else {
    uint8_t sub[crypto_shorthash_siphashx24_BYTES];
    crypto_shorthash_siphashx24(sub, msg, len, d->secret);
    put(&h, sub, sizeof(sub));
  }
  crypto_shorthash_siphashx24(key->b, h.buf, h.n, d->secret);
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
  randombytes_buf(d->secret, sizeof(d->secret));
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
