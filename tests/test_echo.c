/* edgecoap: CUnit tests of Echo values (server/coap/echo.c). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <coap3/coap.h>
#include <sodium.h>

#include "echo.h"
#include "peer.h"
#include "srvfx.h"
#include "suite.h"
#include "udpsess.h"
#include "util.h"

/*
 * An Echo value verifies the address it was made for and nothing else:
 * the same IP address from any port, for EC_ECHO_LIFETIME_S seconds, under
 * the key of the server that made it; a value cut short, altered, from the
 * future, from another address or another server's key verifies nothing,
 * and neither does a request without one. Client sessions of one libcoap
 * context on loopback stand for the peers (nothing is sent).
 */

static coap_context_t *ctx;
static coap_session_t *a1, *a2, *other; /* 127.0.0.1 twice, 127.0.0.2 */
static ec_server_t *srv;

static int suite_init(void) {
  if (sodium_init() < 0)
    return -1;
  if ((srv = ec_test_server_new(&ctx, 0)) == NULL)
    return -1;
  randombytes_buf(srv->echo_key, sizeof(srv->echo_key));
  a1 = ec_test_session_to(ctx, 41001);
  a2 = ec_test_session_to(ctx, 41002);
  other = ec_test_session_at(ctx, "127.0.0.2", 41001);
  return a1 != NULL && a2 != NULL && other != NULL ? 0 : -1;
}

static int suite_cleanup(void) {
  ec_test_server_free(srv, ctx);
  return 0;
}

/* Forget what every peer learnt, so that each check starts unverified. */
static void forget(void) {
  ec_peer_free_all(srv);
}

/* Ask whether @p s is verified by a request carrying @p v (@p len bytes;
 * NULL: no Echo option). */
static bool verify(coap_session_t *s, const uint8_t *v, size_t len) {
  coap_pdu_t *pdu =
      coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, 0x1111, 256);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pdu);
  if (v != NULL)
    CU_ASSERT_FATAL(coap_add_option(pdu, COAP_OPTION_ECHO, len, v) > 0);
  coap_opt_iterator_t it;
  coap_opt_t *opt = coap_check_option(pdu, COAP_OPTION_ECHO, &it);
  CU_ASSERT_FATAL((opt != NULL) == (v != NULL));
  bool ok = ec_echo_verified(srv, s, opt);
  coap_delete_pdu(pdu);
  return ok;
}

/* A value for @p s made at @p t seconds of ec_mono_ms(), as echo.c makes
 * them (so that its age can be chosen): the time, then an 8-byte keyed
 * BLAKE2b of the time and the IPv4 address. */
static void value_at(coap_session_t *s, uint32_t t, uint8_t v[EC_ECHO_LEN]) {
  const coap_address_t *a = coap_session_get_addr_remote(s);
  crypto_generichash_state st;
  v[0] = (uint8_t)(t >> 24);
  v[1] = (uint8_t)(t >> 16);
  v[2] = (uint8_t)(t >> 8);
  v[3] = (uint8_t)t;
  crypto_generichash_init(&st, srv->echo_key, sizeof(srv->echo_key), 8);
  crypto_generichash_update(&st, v, 4);
  crypto_generichash_update(&st, (const uint8_t *)&a->addr.sin.sin_addr,
                            sizeof(a->addr.sin.sin_addr));
  crypto_generichash_final(&st, v + 4, 8);
}

static void test_a_fresh_value_verifies_its_session(void) {
  uint8_t v[EC_ECHO_LEN];
  forget();
  CU_ASSERT_FALSE(verify(a1, NULL, 0));
  ec_echo_make(srv, a1, v);
  CU_ASSERT_TRUE(verify(a1, v, sizeof(v)));
  /* Remembered on the session's peer: no value is needed again. */
  ec_peer_t *p = coap_session_get_app_data(a1);
  CU_ASSERT_TRUE(p != NULL && p->verified);
  CU_ASSERT_TRUE(verify(a1, NULL, 0));
  /* The other session of that address is not verified by it... */
  CU_ASSERT_FALSE(verify(a2, NULL, 0));
  /* ...but the value is the address's: another port may use it. */
  CU_ASSERT_TRUE(verify(a2, v, sizeof(v)));
}

static void test_a_value_is_for_its_ip_address_only(void) {
  uint8_t v[EC_ECHO_LEN];
  forget();
  ec_echo_make(srv, a1, v);
  CU_ASSERT_FALSE(verify(other, v, sizeof(v)));
  CU_ASSERT_PTR_NULL(coap_session_get_app_data(other));
  ec_echo_make(srv, other, v);
  CU_ASSERT_TRUE(verify(other, v, sizeof(v)));
}

static void test_altered_or_cut_values_verify_nothing(void) {
  uint8_t v[EC_ECHO_LEN], w[EC_ECHO_LEN + 1];
  forget();
  ec_echo_make(srv, a1, v);
  for (size_t i = 0; i < sizeof(v); i++) {
    memcpy(w, v, sizeof(v));
    w[i] ^= 0x01;
    CU_ASSERT_FALSE(verify(a1, w, sizeof(v)));
  }
  CU_ASSERT_FALSE(verify(a1, v, sizeof(v) - 1));
  memcpy(w, v, sizeof(v));
  w[sizeof(v)] = 0;
  CU_ASSERT_FALSE(verify(a1, w, sizeof(w)));
  CU_ASSERT_FALSE(verify(a1, v, 0));
  /* None of it left a mark: the right value still works. */
  CU_ASSERT_TRUE(verify(a1, v, sizeof(v)));
}

static void test_values_expire(void) {
  uint8_t v[EC_ECHO_LEN];
  uint32_t now = (uint32_t)(ec_mono_ms() / 1000u);
  CU_ASSERT_FATAL(now > EC_ECHO_LIFETIME_S + 20);
  forget();
  /* The helper makes what echo.c makes: a value of now verifies. */
  value_at(a1, now, v);
  CU_ASSERT_TRUE(verify(a1, v, sizeof(v)));
  forget();
  value_at(a1, now - (EC_ECHO_LIFETIME_S - 10), v);
  CU_ASSERT_TRUE(verify(a1, v, sizeof(v)));
  forget();
  value_at(a1, now - (EC_ECHO_LIFETIME_S + 10), v);
  CU_ASSERT_FALSE(verify(a1, v, sizeof(v)));
  /* A time still to come is no value this server made. */
  value_at(a1, now + 10, v);
  CU_ASSERT_FALSE(verify(a1, v, sizeof(v)));
}

static void test_another_key_verifies_nothing(void) {
  uint8_t v[EC_ECHO_LEN];
  forget();
  ec_echo_make(srv, a1, v);
  /* A restart makes a new key: the old server's values are refused. */
  uint8_t saved[sizeof(srv->echo_key)];
  memcpy(saved, srv->echo_key, sizeof(saved));
  srv->echo_key[0] ^= 0x80;
  CU_ASSERT_FALSE(verify(a1, v, sizeof(v)));
  memcpy(srv->echo_key, saved, sizeof(saved));
  CU_ASSERT_TRUE(verify(a1, v, sizeof(v)));
}

static const ec_test_t tests[] = {
    {test_a_fresh_value_verifies_its_session,
     "a_fresh_value_verifies_its_session"},
    {test_a_value_is_for_its_ip_address_only,
     "a_value_is_for_its_ip_address_only"},
    {test_altered_or_cut_values_verify_nothing,
     "altered_or_cut_values_verify_nothing"},
    {test_values_expire, "values_expire"},
    {test_another_key_verifies_nothing, "another_key_verifies_nothing"},
};

int main(void) {
  return ec_test_main("echo", tests, EC_TEST_COUNT(tests), suite_init,
                      suite_cleanup, NULL);
}
