/* edgecoap server: passwords, session tokens and failed-login limits. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "auth.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Failure counters: a fixed table, so that a flood of made-up usernames
 * costs bounded memory. Each key probes this many slots; when all are taken
 * by live windows the oldest is reused (an attacker who can do that already
 * spreads over many peers, which the per-peer limit does not stop anyway). */
#define LIMIT_SLOTS 4096
#define LIMIT_PROBES 8
#define MAX_PASSWORD 1024

typedef struct {
  uint64_t key; /* keyed hash of kind + key; 0 = empty */
  int64_t start_ms;
  unsigned count;
} limit_slot_t;

struct ec_auth {
  ec_auth_config_t cfg;
  char dummy_hash[EC_STORE_PROV_HASH_MAX];
  /* A random hash key, so that nobody can aim usernames at one slot. */
  uint8_t limit_key[crypto_generichash_KEYBYTES];
  limit_slot_t slots[LIMIT_SLOTS];
};

void ec_auth_config_default(ec_auth_config_t *cfg) {
  cfg->token_ttl_ms = 3600LL * 60 * 1000;
  cfg->pair_max_failures = 5;
  cfg->peer_max_failures = 20;
  cfg->user_slow_after = 5;
  cfg->slow_base_ms = 250;
  cfg->slow_max_ms = 4000;
  cfg->window_ms = 15LL * 60 * 1000;
}

int ec_auth_password_hash(const char *password,
                          char out[EC_STORE_PROV_HASH_MAX]) {
  size_t n = password ? strlen(password) : 0;
  if (n == 0 || n > MAX_PASSWORD) {
    return EC_EINVAL;
  }
  /* Safe to repeat; the admin commands hash without an ec_auth_t. */
  if (sodium_init() < 0) {
    return EC_ENOMEM;
  }
  /* crypto_pwhash_str fails only when it cannot get its memory. */
  if (crypto_pwhash_str(out, password, n, EC_AUTH_PWHASH_OPSLIMIT,
                        EC_AUTH_PWHASH_MEMLIMIT) != 0) {
    return EC_ENOMEM;
  }
  return 0;
}

bool ec_auth_password_verify(const char *hash, const char *password) {
  if (hash == NULL || password == NULL ||
      memchr(hash, '\0', EC_STORE_PROV_HASH_MAX) == NULL) {
    return false;
  }
  return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

int ec_auth_new(const ec_auth_config_t *cfg, ec_auth_t **out) {
  if (cfg == NULL || out == NULL || cfg->token_ttl_ms <= 0 ||
      cfg->window_ms <= 0 || cfg->slow_base_ms < 0 || cfg->slow_max_ms < 0) {
    return EC_EINVAL;
  }
  if (sodium_init() < 0) {
    ec_log(EC_LOG_ERROR, "auth: libsodium cannot start");
    return EC_ENOMEM;
  }
  ec_auth_t *a = calloc(1, sizeof(*a));
  if (a == NULL) {
    return EC_ENOMEM;
  }
  a->cfg = *cfg;
  crypto_generichash_keygen(a->limit_key);
  /* The dummy stands in for unknown users; its password is random and
   * thrown away, so nothing can ever match it. */
  uint8_t pw[32];
  char pw_hex[sizeof(pw) * 2 + 1];
  randombytes_buf(pw, sizeof(pw));
  sodium_bin2hex(pw_hex, sizeof(pw_hex), pw, sizeof(pw));
  int rc = ec_auth_password_hash(pw_hex, a->dummy_hash);
  sodium_memzero(pw, sizeof(pw));
  sodium_memzero(pw_hex, sizeof(pw_hex));
  if (rc < 0) {
    free(a);
    return rc;
  }
  *out = a;
  return 0;
}

void ec_auth_free(ec_auth_t *a) {
  free(a);
}

/* ---- failure counters ---------------------------------------------------- */

/* A keyed BLAKE2b of kind and key; the kind's NUL keeps ("u", "p1") and
 * ("up", "1") apart. */
static uint64_t limit_hash(const ec_auth_t *a, const char *kind,
                           const void *key, size_t key_len) {
  crypto_generichash_state st;
  uint8_t out[crypto_generichash_BYTES_MIN];
  uint64_t h;
  crypto_generichash_init(&st, a->limit_key, sizeof(a->limit_key),
                          sizeof(out));
  crypto_generichash_update(&st, (const uint8_t *)kind, strlen(kind) + 1);
  crypto_generichash_update(&st, key, key_len);
  crypto_generichash_final(&st, out, sizeof(out));
  memcpy(&h, out, sizeof(h));
  return h ? h : 1;
}

static limit_slot_t *limit_find(ec_auth_t *a, uint64_t h, bool create,
                                int64_t now_ms) {
  limit_slot_t *victim = NULL;
  bool victim_free = false;
  unsigned i = (unsigned)(h % LIMIT_SLOTS);
  for (int k = 0; k < LIMIT_PROBES; k++, i = (i + 1) % LIMIT_SLOTS) {
    limit_slot_t *s = &a->slots[i];
    if (s->key == h) {
      return s;
    }
    /* Reuse an empty or ended slot first, else the oldest live one. */
    bool is_free = s->key == 0 || now_ms - s->start_ms >= a->cfg.window_ms;
    if (victim == NULL || (is_free && !victim_free) ||
        (!is_free && !victim_free && s->start_ms < victim->start_ms)) {
      victim = s;
      victim_free = is_free;
    }
  }
  if (!create) {
    return NULL;
  }
  victim->key = h;
  victim->start_ms = now_ms;
  victim->count = 0;
  return victim;
}

bool ec_auth_limited(ec_auth_t *a, const char *kind, const void *key,
                     size_t key_len, unsigned max, int64_t now_ms) {
  limit_slot_t *s =
      limit_find(a, limit_hash(a, kind, key, key_len), false, now_ms);
  return s != NULL && now_ms - s->start_ms < a->cfg.window_ms &&
         s->count >= max;
}

void ec_auth_count_failure(ec_auth_t *a, const char *kind, const void *key,
                           size_t key_len, int64_t now_ms) {
  limit_slot_t *s =
      limit_find(a, limit_hash(a, kind, key, key_len), true, now_ms);
  /* A window that ended starts again with this failure. */
  if (now_ms - s->start_ms >= a->cfg.window_ms) {
    s->start_ms = now_ms;
    s->count = 0;
  }
  s->count++;
}

static void limit_forget(ec_auth_t *a, const char *kind, const void *key,
                         size_t key_len, int64_t now_ms) {
  limit_slot_t *s =
      limit_find(a, limit_hash(a, kind, key, key_len), false, now_ms);
  if (s != NULL) {
    memset(s, 0, sizeof(*s));
  }
}

/* ---- sessions ------------------------------------------------------------ */

static void token_digest(const uint8_t raw[EC_PROV_TOKEN_BYTES],
                         uint8_t digest[EC_STORE_PROV_DIGEST_LEN]) {
  crypto_hash_sha256(digest, raw, EC_PROV_TOKEN_BYTES);
}

/* Touching a token is a durable write; doing it at most once per 1/60 of the
 * lifetime (at most once a minute) keeps reads cheap and loses at most that
 * much of the sliding window. */
static int64_t touch_interval(const ec_auth_t *a) {
  int64_t t = a->cfg.token_ttl_ms / 60;
  return t < 60000 ? t : 60000;
}

/* The (username, address) pair as one key: the username's NUL keeps
 * ("ab", "c...") and ("a", "bc...") apart. */
static size_t pair_key(const ec_auth_attempt_t *at, uint8_t *out) {
  size_t ulen = strlen(at->username) + 1;
  memcpy(out, at->username, ulen);
  memcpy(out + ulen, at->peer, at->peer_len);
  return ulen + at->peer_len;
}

/* The wait before a check of a username with @p failures failures from all
 * addresses: none up to user_slow_after, then slow_base_ms doubling with
 * each further failure, at most slow_max_ms. */
static int64_t slow_down(const ec_auth_config_t *cfg, unsigned failures) {
  if (failures < cfg->user_slow_after || cfg->slow_max_ms == 0)
    return 0;
  int64_t d = cfg->slow_base_ms > 0 ? cfg->slow_base_ms : 1;
  for (unsigned i = cfg->user_slow_after; i < failures && d < cfg->slow_max_ms;
       i++)
    d *= 2;
  return d < cfg->slow_max_ms ? d : cfg->slow_max_ms;
}

int ec_auth_login_begin(ec_auth_t *a, ec_store_t *s, const char *username,
                        const void *peer, size_t peer_len, int64_t now_ms,
                        ec_auth_attempt_t *out) {
  if (a == NULL || s == NULL || username == NULL || out == NULL ||
      (peer == NULL && peer_len > 0) ||
      strlen(username) > EC_STORE_PROV_TEXT_MAX) {
    return EC_EINVAL;
  }
  memset(out, 0, sizeof(*out));
  snprintf(out->username, sizeof(out->username), "%s", username);
  out->peer_len = peer_len < sizeof(out->peer) ? peer_len : sizeof(out->peer);
  if (out->peer_len > 0) {
    memcpy(out->peer, peer, out->peer_len);
  }
  uint8_t pk[sizeof(out->username) + sizeof(out->peer)];
  size_t pk_len = pair_key(out, pk);
  if (ec_auth_limited(a, "pair", pk, pk_len, a->cfg.pair_max_failures,
                      now_ms) ||
      ec_auth_limited(a, "peer", out->peer, out->peer_len,
                      a->cfg.peer_max_failures, now_ms)) {
    ec_log(EC_LOG_WARN,
           "auth: login of '%.64s' refused: too many failed "
           "attempts for this user from this address, or from this address",
           username);
    return EC_ENOTFOUND;
  }

  int rc = ec_store_prov_user_find(s, username, &out->user);
  if (rc < 0 && rc != EC_ENOTFOUND) {
    return rc;
  }
  out->known = rc == 0;
  /* Always one slow hash, against the dummy for an unknown user, so that the
   * time taken says nothing about whether the account exists. */
  if (!out->known) {
    memcpy(out->user.password_hash, a->dummy_hash,
           sizeof(out->user.password_hash));
  }
  /* The username's failures from all addresses are the store's, so that
   * every server sharing it slows the same attacks down. */
  int64_t fails = 0;
  rc = ec_store_login_failures(s, username, now_ms, a->cfg.window_ms, &fails);
  if (rc < 0)
    return rc;
  out->delay_ms = slow_down(&a->cfg, (unsigned)fails);
  if (out->delay_ms > 0) {
    ec_log(EC_LOG_INFO,
           "auth: login of '%.64s' delayed %lld ms: %u failed attempts from "
           "all addresses",
           username, (long long)out->delay_ms, (unsigned)fails);
  }
  return 0;
}

int ec_auth_login_finish(ec_auth_t *a, ec_store_t *s, ec_auth_attempt_t *at,
                         bool match, int64_t now_ms, ec_auth_session_t *out) {
  if (a == NULL || s == NULL || at == NULL || (match && out == NULL)) {
    return EC_EINVAL;
  }
  sodium_memzero(at->user.password_hash, sizeof(at->user.password_hash));
  uint8_t pk[sizeof(at->username) + sizeof(at->peer)];
  size_t pk_len = pair_key(at, pk);
  if (!match || !at->known) {
    ec_auth_count_failure(a, "pair", pk, pk_len, now_ms);
    ec_auth_count_failure(a, "peer", at->peer, at->peer_len, now_ms);
    if (ec_store_login_failed(s, at->username, now_ms, a->cfg.window_ms,
                              NULL) < 0)
      ec_log(EC_LOG_WARN, "auth: a failed login of '%.64s' was not counted",
             at->username);
    ec_log(EC_LOG_INFO, "auth: failed login for '%.64s'", at->username);
    return EC_ENOTFOUND;
  }
  /* The pair's count only: the failures of the username from elsewhere are
   * someone else's, and keep slowing them down for the rest of the window. */
  limit_forget(a, "pair", pk, pk_len, now_ms);

  uint8_t raw[EC_PROV_TOKEN_BYTES];
  uint8_t digest[EC_STORE_PROV_DIGEST_LEN];
  randombytes_buf(raw, sizeof(raw));
  token_digest(raw, digest);
  int rc = ec_store_prov_token_add(s, digest, at->user.id, now_ms,
                                   a->cfg.token_ttl_ms);
  if (rc < 0) {
    sodium_memzero(raw, sizeof(raw));
    return rc;
  }
  ec_prov_token_hex(raw, out->token);
  sodium_memzero(raw, sizeof(raw));
  out->user = at->user;
  ec_log(EC_LOG_INFO, "auth: user %lld (%s) logged in", (long long)at->user.id,
         at->user.username);
  return 0;
}

int ec_auth_login(ec_auth_t *a, ec_store_t *s, const char *username,
                  const char *password, const void *peer, size_t peer_len,
                  int64_t now_ms, ec_auth_session_t *out) {
  ec_auth_attempt_t at;
  if (password == NULL) {
    return EC_EINVAL;
  }
  int rc = ec_auth_login_begin(a, s, username, peer, peer_len, now_ms, &at);
  if (rc < 0) {
    return rc;
  }
  bool match = ec_auth_password_verify(at.user.password_hash, password);
  return ec_auth_login_finish(a, s, &at, match, now_ms, out);
}

int ec_auth_logout(ec_auth_t *a, ec_store_t *s, const char *token_hex,
                   int64_t now_ms) {
  uint8_t raw[EC_PROV_TOKEN_BYTES];
  uint8_t digest[EC_STORE_PROV_DIGEST_LEN];
  if (a == NULL || s == NULL || token_hex == NULL) {
    return EC_EINVAL;
  }
  /* In a document the token is always its hex form. */
  if (strlen(token_hex) != EC_PROV_TOKEN_HEX ||
      ec_prov_token_read((const uint8_t *)token_hex, EC_PROV_TOKEN_HEX, raw) <
          0) {
    return EC_ENOTFOUND;
  }
  token_digest(raw, digest);
  sodium_memzero(raw, sizeof(raw));
  return ec_store_prov_token_delete(s, digest, now_ms, a->cfg.token_ttl_ms);
}

int ec_auth_check(ec_auth_t *a, ec_store_t *s, const uint8_t *opt, size_t len,
                  int64_t now_ms, uint8_t digest[EC_STORE_PROV_DIGEST_LEN],
                  int64_t *user_id) {
  uint8_t raw[EC_PROV_TOKEN_BYTES];
  uint8_t d[EC_STORE_PROV_DIGEST_LEN];
  if (a == NULL || s == NULL || user_id == NULL) {
    return EC_EINVAL;
  }
  if (opt == NULL || ec_prov_token_read(opt, len, raw) < 0) {
    return EC_ENOTFOUND;
  }
  token_digest(raw, d);
  sodium_memzero(raw, sizeof(raw));
  int rc = ec_store_prov_token_use(s, d, now_ms, a->cfg.token_ttl_ms,
                                   touch_interval(a), user_id);
  if (rc == 0 && digest != NULL) {
    memcpy(digest, d, sizeof(d));
  }
  return rc;
}

int ec_auth_check_digest(ec_auth_t *a, ec_store_t *s,
                         const uint8_t digest[EC_STORE_PROV_DIGEST_LEN],
                         int64_t now_ms) {
  int64_t user_id;
  if (a == NULL || s == NULL || digest == NULL) {
    return EC_EINVAL;
  }
  return ec_store_prov_token_use(s, digest, now_ms, a->cfg.token_ttl_ms, -1,
                                 &user_id);
}
