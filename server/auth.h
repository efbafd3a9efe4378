/* edgecoap server: passwords, session tokens and failed-login limits. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_AUTH_H
#define EDGECOAP_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgecoap/provisioning.h"
#include "store.h"

/*
 * Passwords are stored as libsodium crypto_pwhash_str() strings (Argon2id
 * with OWASP's baseline costs: 2 passes over 19 MiB, one lane; a few tens of
 * milliseconds on this kind of machine). libsodium's "interactive" 64 MiB
 * would alone take the server past its 64 MiB memory budget at every login;
 * stored strings carry their own costs, so older hashes still verify. The hash runs on the server's one I/O
 * thread, so each login attempt that reaches it stalls every other request
 * for that long; the rate limits below bound how often that can happen.
 *
 * A session token is EC_PROV_TOKEN_BYTES bytes from randombytes_buf(); only
 * its SHA-256 digest is stored (a 256-bit random secret needs no slow hash).
 *
 * A wrong password, an unknown user and a refused attempt all give the same
 * answer; an unknown user's attempt is checked against a dummy hash made at
 * start-up, so it costs the same time as a wrong password. Failed attempts are
 * counted per username and per peer address in fixed windows; past the limit
 * every attempt of that user or from that peer is refused without hashing
 * until the window ends. The counters live in memory and are lost on restart.
 *
 * The module knows nothing of CoAP: a peer is any byte string (its address).
 */

/* Argon2id costs of new password hashes (see above). */
#define EC_AUTH_PWHASH_OPSLIMIT 2
#define EC_AUTH_PWHASH_MEMLIMIT (19u * 1024u * 1024u)
typedef struct ec_auth ec_auth_t;

typedef struct {
  int64_t token_ttl_ms; /**< a token unused this long expires (3600 min) */
  unsigned user_max_failures; /**< failed logins per username per window (5) */
  unsigned
      peer_max_failures; /**< failed logins per peer address per window (20) */
  int64_t window_ms;     /**< the counting window (15 min) */
} ec_auth_config_t;

/** Fill @p cfg with the defaults above. */
void ec_auth_config_default(ec_auth_config_t *cfg);

/**
 * Initialise libsodium and make the dummy hash (one slow hash).
 * @return 0, EC_EINVAL or EC_ENOMEM
 */
int ec_auth_new(const ec_auth_config_t *cfg, ec_auth_t **out);

/** Release @p a; NULL is a no-op. */
void ec_auth_free(ec_auth_t *a);

/**
 * Hash @p password for storage (slow).
 * @param[out] out  EC_STORE_PROV_HASH_MAX bytes, NUL-terminated
 * @return 0, EC_EINVAL (empty or too long) or EC_ENOMEM
 */
int ec_auth_password_hash(const char *password,
                          char out[EC_STORE_PROV_HASH_MAX]);

/** True when @p password matches @p hash (slow); false for a malformed hash. */
bool ec_auth_password_verify(const char *hash, const char *password);

/** What a successful login hands out. */
typedef struct {
  char token[EC_PROV_TOKEN_HEX + 1]; /**< hex; shown once, never stored */
  ec_store_prov_user_t user;         /**< password_hash cleared */
} ec_auth_session_t;

/**
 * Check a login attempt and, when it succeeds, make a session token.
 * @param[in] peer  the peer's address bytes (for the per-peer limit)
 * @return 0 with @p out filled, EC_ENOTFOUND for every refusal (wrong
 *         password, unknown user, over a limit), or EC_ESTORE / EC_ENOMEM
 */
int ec_auth_login(ec_auth_t *a, ec_store_t *s, const char *username,
                  const char *password, const void *peer, size_t peer_len,
                  int64_t now_ms, ec_auth_session_t *out);

/**
 * Log a token (hex, as login gave it) out.
 * @return 0, EC_ENOTFOUND (malformed, unknown or expired) or EC_ESTORE
 */
int ec_auth_logout(ec_auth_t *a, ec_store_t *s, const char *token_hex,
                   int64_t now_ms);

/**
 * Check the token of a request's option 65000 (raw bytes or hex, see
 * ec_prov_token_read()) and slide its expiry.
 * @param[out] digest   the token's digest, for a later ec_auth_check_digest()
 *                      (may be NULL)
 * @param[out] user_id  its account
 * @return 0, EC_ENOTFOUND (absent, malformed, unknown or expired) or EC_ESTORE
 */
int ec_auth_check(ec_auth_t *a, ec_store_t *s, const uint8_t *opt, size_t len,
                  int64_t now_ms, uint8_t digest[EC_STORE_PROV_DIGEST_LEN],
                  int64_t *user_id);

/**
 * Check a token by digest without counting it as a use (for notifications,
 * which the token's holder did not ask for just then).
 * @return 0, EC_ENOTFOUND or EC_ESTORE
 */
int ec_auth_check_digest(ec_auth_t *a, ec_store_t *s,
                         const uint8_t digest[EC_STORE_PROV_DIGEST_LEN],
                         int64_t now_ms);

/* ---- The failure counters, exposed for unit tests. ---- */

/** True when @p key has @p max or more failures in its current window. */
bool ec_auth_limited(ec_auth_t *a, const char *kind, const void *key,
                     size_t key_len, unsigned max, int64_t now_ms);

/** Count one failure of @p key. */
void ec_auth_count_failure(ec_auth_t *a, const char *kind, const void *key,
                           size_t key_len, int64_t now_ms);

#endif /* EDGECOAP_AUTH_H */
