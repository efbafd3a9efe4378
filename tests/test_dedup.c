/* edgecoap: CUnit tests of the retransmission table's key (server/coap/dedup.c). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <coap3/coap.h>

#include "dedup.h"
#include "suite.h"
#include "udpsess.h"

/*
 * A remembered answer goes back only for a true retransmission (RFC 7252:
 * the same message again, from the same security context). So the key must
 * be equal for equal requests from one session, and differ when anything a
 * retransmission repeats differs: the peer's port, the Message ID, the
 * code, the token, any option (Uri-Path, Uri-Query, Content-Format,
 * If-Match, Block1...) or the payload. Plain UDP sessions here; the DTLS
 * identity is covered against the real server (tests/it_dedup.c).
 */

static coap_context_t *ctx;
static coap_session_t *sess_a, *sess_b; /* two ports of one address */
static ec_dedup_t *dd;

typedef struct {
  coap_pdu_code_t code;
  coap_mid_t mid;
  const char *token;
  const char *path;  /* one Uri-Path segment */
  const char *query; /* a Uri-Query, or NULL */
  int cf;            /* Content-Format, or -1 */
  const char *if_match;
  int block1;        /* a Block1 value, or -1 */
  const char *payload;
} req_t;

static const req_t base = {COAP_REQUEST_CODE_POST, 0x1234, "tok1", "status",
                           NULL, 50, NULL, -1, "{\"a\":1}"};

static void key_of(coap_session_t *s, const req_t *r, ec_dedup_key_t *k) {
  coap_pdu_t *pdu = coap_pdu_init(COAP_MESSAGE_CON, r->code, r->mid, 1024);
  uint8_t buf[4];
  CU_ASSERT_PTR_NOT_NULL_FATAL(pdu);
  CU_ASSERT_FATAL(coap_add_token(pdu, strlen(r->token),
                                 (const uint8_t *)r->token));
  if (r->if_match != NULL)
    coap_add_option(pdu, COAP_OPTION_IF_MATCH, strlen(r->if_match),
                    (const uint8_t *)r->if_match);
  coap_add_option(pdu, COAP_OPTION_URI_PATH, strlen(r->path),
                  (const uint8_t *)r->path);
  if (r->cf >= 0)
    coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                    coap_encode_var_safe(buf, sizeof(buf), (unsigned)r->cf),
                    buf);
  if (r->query != NULL)
    coap_add_option(pdu, COAP_OPTION_URI_QUERY, strlen(r->query),
                    (const uint8_t *)r->query);
  if (r->block1 >= 0)
    coap_add_option(pdu, COAP_OPTION_BLOCK1,
                    coap_encode_var_safe(buf, sizeof(buf), (unsigned)r->block1),
                    buf);
  if (r->payload != NULL)
    CU_ASSERT_FATAL(coap_add_data(pdu, strlen(r->payload),
                                  (const uint8_t *)r->payload));
  ec_dedup_key(dd, s, pdu, k);
  coap_delete_pdu(pdu);
}

static bool same_key(const req_t *x, coap_session_t *sx, const req_t *y,
                     coap_session_t *sy) {
  ec_dedup_key_t a, b;
  key_of(sx, x, &a);
  key_of(sy, y, &b);
  return memcmp(&a, &b, sizeof(a)) == 0;
}

static void test_a_retransmission_has_the_same_key(void) {
  CU_ASSERT_TRUE(same_key(&base, sess_a, &base, sess_a));
}

static void test_anything_else_changes_the_key(void) {
  req_t r;
  /* Another port of the same address. */
  CU_ASSERT_FALSE(same_key(&base, sess_a, &base, sess_b));
  r = base, r.mid = 0x1235;
  CU_ASSERT_FALSE(same_key(&base, sess_a, &r, sess_a));
  r = base, r.code = COAP_REQUEST_CODE_PUT;
  CU_ASSERT_FALSE(same_key(&base, sess_a, &r, sess_a));
  r = base, r.token = "tok2";
  CU_ASSERT_FALSE(same_key(&base, sess_a, &r, sess_a));
  r = base, r.token = "tok";
  CU_ASSERT_FALSE(same_key(&base, sess_a, &r, sess_a));
  r = base, r.path = "statuS";
  CU_ASSERT_FALSE(same_key(&base, sess_a, &r, sess_a));
  r = base, r.query = "since=1";
  CU_ASSERT_FALSE(same_key(&base, sess_a, &r, sess_a));
  r = base, r.cf = 60;
  CU_ASSERT_FALSE(same_key(&base, sess_a, &r, sess_a));
  r = base, r.if_match = "\x02";
  CU_ASSERT_FALSE(same_key(&base, sess_a, &r, sess_a));
  r = base, r.block1 = 0x0e;
  CU_ASSERT_FALSE(same_key(&base, sess_a, &r, sess_a));
  r = base, r.payload = "{\"a\":2}";
  CU_ASSERT_FALSE(same_key(&base, sess_a, &r, sess_a));
  r = base, r.payload = NULL;
  CU_ASSERT_FALSE(same_key(&base, sess_a, &r, sess_a));
  /* Moving a byte between fields is another request too: each field is
   * hashed with its length. */
  req_t t1 = base, t2 = base;
  t1.token = "ab", t1.path = "cd";
  t2.token = "abc", t2.path = "d";
  CU_ASSERT_FALSE(same_key(&t1, sess_a, &t2, sess_a));
}

static void test_table_keeps_both_requests_of_one_mid(void) {
  req_t other = base;
  other.payload = "{\"a\":2}";
  ec_dedup_key_t k1, k2;
  key_of(sess_a, &base, &k1);
  key_of(sess_a, &other, &k2);
  ec_dedup_answer_t a1 = {NULL, 201, 7, 1}, a2 = {NULL, 204, 8, 1};
  ec_dedup_put(dd, &k1, &a1);
  CU_ASSERT_PTR_NULL(ec_dedup_find(dd, &k2)); /* new content: not found */
  ec_dedup_put(dd, &k2, &a2);
  const ec_dedup_answer_t *f1 = ec_dedup_find(dd, &k1);
  const ec_dedup_answer_t *f2 = ec_dedup_find(dd, &k2);
  CU_ASSERT_TRUE(f1 != NULL && f1->ref == 7 && f1->code == 201);
  CU_ASSERT_TRUE(f2 != NULL && f2->ref == 8 && f2->code == 204);
  /* A body kept with an answer comes back only for its own key. */
  static const uint8_t body[] = "{\"token\":\"secret\"}";
  ec_dedup_put_body(dd, &k1, &a1, body, sizeof(body) - 1, 50);
  size_t len = 0;
  int fmt = 0;
  const uint8_t *got = ec_dedup_body(dd, &k1, &len, &fmt);
  CU_ASSERT_TRUE(got != NULL && len == sizeof(body) - 1 && fmt == 50 &&
                 memcmp(got, body, len) == 0);
  CU_ASSERT_PTR_NULL(ec_dedup_body(dd, &k2, &len, &fmt));
}

/* A message too large to be gathered whole (a Block1 block of 1,024
 * bytes, options and all) is keyed by its own digest: every byte still
 * counts, and an equal one still has the same key. */
static void test_a_large_message_is_keyed_whole(void) {
  static char big[1001], other[1001];
  memset(big, 'x', sizeof(big) - 1);
  memcpy(other, big, sizeof(big));
  other[sizeof(other) - 2] = 'y'; /* the last byte */
  req_t a = base, b = base, c = base;
  a.payload = big;
  b.payload = other;
  c.payload = big;
  c.query = "a=1";
  CU_ASSERT_TRUE(same_key(&a, sess_a, &a, sess_a));
  CU_ASSERT_FALSE(same_key(&a, sess_a, &b, sess_a));
  CU_ASSERT_FALSE(same_key(&a, sess_a, &c, sess_a));
  CU_ASSERT_FALSE(same_key(&a, sess_a, &base, sess_a));
  /* Without a payload, the options alone. */
  req_t d = base, e = base;
  d.payload = e.payload = NULL;
  e.path = "statuz";
  CU_ASSERT_TRUE(same_key(&d, sess_a, &d, sess_a));
  CU_ASSERT_FALSE(same_key(&d, sess_a, &e, sess_a));
}

/* Two keys from two tables differ: each server start keys its digest. */
static void test_each_table_has_its_own_secret(void) {
  ec_dedup_key_t a, b;
  key_of(sess_a, &base, &a);
  ec_dedup_t *saved = dd;
  dd = ec_dedup_new(64);
  CU_ASSERT_PTR_NOT_NULL_FATAL(dd);
  key_of(sess_a, &base, &b);
  ec_dedup_free(dd);
  dd = saved;
  CU_ASSERT_NOT_EQUAL(memcmp(&a, &b, sizeof(a)), 0);
}

static int suite_init(void) {
  coap_startup();
  coap_set_log_level(LOG_EMERG);
  ctx = coap_new_context(NULL);
  dd = ec_dedup_new(64);
  if (ctx == NULL || dd == NULL)
    return -1;
  /* Two peers on one host: one address, two ports. */
  sess_a = ec_test_session_to(ctx, 40001);
  sess_b = ec_test_session_to(ctx, 40002);
  return sess_a != NULL && sess_b != NULL ? 0 : -1;
}

static int suite_cleanup(void) {
  ec_dedup_free(dd);
  if (ctx != NULL)
    coap_free_context(ctx);
  coap_cleanup();
  return 0;
}

static const ec_test_t tests[] = {
    {test_a_retransmission_has_the_same_key,
     "a_retransmission_has_the_same_key"},
    {test_anything_else_changes_the_key, "anything_else_changes_the_key"},
    {test_table_keeps_both_requests_of_one_mid,
     "table_keeps_both_requests_of_one_mid"},
    {test_each_table_has_its_own_secret, "each_table_has_its_own_secret"},
    {test_a_large_message_is_keyed_whole, "a_large_message_is_keyed_whole"},
};

int main(void) {
  return ec_test_main("dedup", tests, EC_TEST_COUNT(tests), suite_init,
                      suite_cleanup, NULL);
}
