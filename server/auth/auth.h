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
 * stored strings carry their own costs, so older hashes still verify.
 *
 * A login comes in two halves so that the slow check runs elsewhere
 * (server/auth/pwcheck.c runs it on a worker thread): ec_auth_login_begin() on
 * the I/O thread applies the limits and reads the account, the caller
 * checks the password against the hash it names, after the delay it names,
 * and ec_auth_login_finish(), on the I/O thread again, counts the outcome
 * and makes the token. ec_auth_login() does all three at once (tests).
 *
 * A session token is EC_PROV_TOKEN_BYTES bytes from randombytes_buf(); only
 * its SHA-256 digest is stored (a 256-bit random secret needs no slow hash).
 *
 * A wrong password, an unknown user and a refused attempt all give the same
 * answer; an unknown user's attempt is checked against a dummy hash made at
 * start-up, so it costs the same time as a wrong password. Failed attempts
 * are counted in fixed windows per (username, peer address) pair, per peer
 * address, and per username from every address:
 *   - past pair_max_failures, that address is refused for that username,
 *     without hashing, until the window ends;
 *   - past peer_max_failures, that address is refused for every username;
 *   - past user_slow_after failures of a username from all addresses
 *     together, each of its attempts waits before its check: slow_base_ms,
 *     doubling with each further failure, at most slow_max_ms. It is never
 *     refused for that, so nobody can lock an account's owner out by
 *     failing from addresses of their own: the owner, from an address that
 *     has not failed, gets in after the delay.
 * The per-address and per-pair counters live in memory and are lost on
 * restart; the per-username ones are the store's (ec_store_login_failed()),
 * so that every server sharing a store counts into the same window.
 *
 * The module knows nothing of CoAP: a peer is any byte string (its address).
 */

/* Argon2id costs of new password hashes (see above). */
#define EC_AUTH_PWHASH_OPSLIMIT 2
#define EC_AUTH_PWHASH_MEMLIMIT (19u * 1024u * 1024u)
typedef struct ec_auth ec_auth_t;

typedef struct {
  int64_t token_ttl_ms; /**< a token unused this long expires (3600 min) */
  unsigned pair_max_failures; /**< per (username, address) per window (5) */
  unsigned peer_max_failures; /**< per address per window (20) */
  unsigned user_slow_after;   /**< per username, all addresses: then slow (5) */
  int64_t slow_base_ms;       /**< the first delay (250 ms) */
  int64_t slow_max_ms;        /**< the longest delay (4 s) */
  int64_t window_ms;          /**< the counting window (15 min) */
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

/* A peer address is kept up to this many bytes. */
#define EC_AUTH_PEER_MAX 32

/** A login between its two halves; plain data the caller may copy. */
typedef struct {
  char username[EC_STORE_PROV_TEXT_MAX + 1];
  uint8_t peer[EC_AUTH_PEER_MAX];
  size_t peer_len;
  bool known;                 /**< the account exists */
  ec_store_prov_user_t user;  /**< the account; its password_hash (or the
                                   dummy's, when unknown) is to be checked */
  int64_t delay_ms;           /**< check no sooner than this from now */
} ec_auth_attempt_t;

/**
 * First half of a login: apply the limits and read the account.
 * @param[in] peer  the peer's address bytes (for the per-address limits)
 * @return 0 with @p out filled (check out->user.password_hash after
 *         out->delay_ms), EC_ENOTFOUND when a limit refuses it (answer as a
 *         wrong password; nothing to check), EC_EINVAL or EC_ESTORE
 */
int ec_auth_login_begin(ec_auth_t *a, ec_store_t *s, const char *username,
                        const void *peer, size_t peer_len, int64_t now_ms,
                        ec_auth_attempt_t *out);

/**
 * Second half: count the check's outcome @p match and, when it succeeded,
 * make a session token (into @p out, which may be NULL when @p match is
 * false). Wipes @p at's hash.
 * @return 0 with @p out filled, EC_ENOTFOUND (wrong password or unknown
 *         user), or EC_ESTORE / EC_ENOMEM
 */
int ec_auth_login_finish(ec_auth_t *a, ec_store_t *s, ec_auth_attempt_t *at,
                         bool match, int64_t now_ms, ec_auth_session_t *out);

/**
 * Both halves with the check in between, at once and without the delay
 * (for tests and tools; the server never hashes on its I/O thread).
 * @return as ec_auth_login_finish(), or EC_ENOTFOUND refused by a limit
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
