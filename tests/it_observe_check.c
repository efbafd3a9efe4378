/* edgecoap: integration tests of the observers' liveness checks. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "it_prov_util.h"
#include "suite.h"

/*
 * --observe-check: an observation that had no confirmable notification for
 * that many seconds gets one of its current state, even when nothing
 * changed, so an observer that is gone is found out and dropped. The
 * deployment-status watches are checked in it_http; here the two other
 * kinds, the filtered latest status message and a provisioning's
 * components. One server (with the provisioning catalog) serves the suite,
 * checking every second and retransmitting after 100 ms; each observer is
 * a raw socket, so the test decides what it acknowledges.
 */

#define COLL "api/2.3/statusmessages"
#define WAIT_MS 5000

static it_server_t srv;
static char admin_tok[EC_PROV_TOKEN_HEX + 1];

/* The next confirmable 2.05 with Observe and @p token on @p u within
 * @p ms; acknowledged when @p ack. @return 1 when one came, into @p m */
static int next_check(it_udp_t *u, const it_coap_msg_t *first, bool ack,
                      unsigned ms, it_coap_msg_t *m) {
  uint64_t end = it_now_ms() + ms;
  while (it_now_ms() < end) {
    if (it_udp_recv_msg(u, m, 200) < 0)
      continue;
    if (m->type == IT_CON && ack)
      itp_ack_con(u, m);
    if (m->type == IT_CON && IT_CODE_INT(m->code) == 205 &&
        it_coap_opt_count(m, IT_OPT_OBSERVE) == 1 &&
        m->token_len == first->token_len &&
        memcmp(m->token, first->token, m->token_len) == 0)
      return 1;
  }
  return 0;
}

/* The observer stays silent from now on: the server drops it after the
 * retransmissions, and says so in its log (waited for, bounded). */
static void expect_dropped(void) {
  static const char gone[] = "observer gone (confirmable notification "
                             "unanswered)";
  int before = it_server_log_count(&srv, gone), n = before;
  for (int i = 0; i < 60 && n <= before; i++) {
    it_sleep_ms(250);
    n = it_server_log_count(&srv, gone);
  }
  CU_ASSERT(n > before);
}

static int post_message(it_udp_t *u, const char *json) {
  it_coap_msg_t *m = itp_msg_new();
  it_req_t rq = IT_REQ(IT_POST, COLL);
  rq.content_format = EC_FORMAT_JSON;
  rq.payload = json;
  rq.payload_len = strlen(json);
  int code = it_coap_request(u, &rq, m, WAIT_MS) == 0 ? IT_CODE_INT(m->code)
                                                      : -1;
  free(m);
  return code;
}

/* An observer of latest?orderId=... hears, unchanged, the newest matching
 * message in a confirmable notification; once it stops acknowledging, it
 * is dropped. */
static void test_latest_observer_is_checked(void) {
  it_udp_t u;
  it_coap_msg_t *first = itp_msg_new(), *m = itp_msg_new();
  CU_ASSERT_EQUAL_FATAL(it_udp_open_fresh(&u, srv.port), 0);
  CU_ASSERT_EQUAL(it_udp_verify(&u), 0);
  CU_ASSERT_EQUAL(post_message(&u, "{\"messageCode\":101,\"orderId\":"
                                   "\"CHECK-1\"}"),
                  201);
  CU_ASSERT_EQUAL(post_message(&u, "{\"messageCode\":102,\"orderId\":"
                                   "\"CHECK-1\"}"),
                  201);
  CU_ASSERT_EQUAL(post_message(&u, "{\"messageCode\":103,\"orderId\":"
                                   "\"OTHER-1\"}"),
                  201);
  it_req_t rq = IT_REQ(IT_GET, COLL "/latest?orderId=CHECK-1");
  rq.accept = EC_FORMAT_JSON;
  rq.observe = 0;
  CU_ASSERT_EQUAL_FATAL(it_coap_request(&u, &rq, first, WAIT_MS), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(first->code), 205);
  CU_ASSERT_EQUAL_FATAL(it_coap_opt_count(first, IT_OPT_OBSERVE), 1);

  /* Nothing is posted; still a check comes, with what latest answers. */
  CU_ASSERT_EQUAL_FATAL(next_check(&u, first, true, WAIT_MS, m), 1);
  json_t *j = itp_body_json(m->payload, m->payload_len, EC_FORMAT_JSON);
  json_t *list = json_object_get(j, "StatusMessages");
  CU_ASSERT_EQUAL(json_array_size(list), 1);
  json_t *msg = json_array_get(list, 0);
  CU_ASSERT_STRING_EQUAL(itp_jstr(msg, "orderId"), "CHECK-1");
  CU_ASSERT_EQUAL(itp_jint(msg, "messageCode"), 102);
  json_decref(j);
  /* Acknowledged, it stays: the next check comes as well. */
  CU_ASSERT_EQUAL(next_check(&u, first, true, WAIT_MS, m), 1);

  expect_dropped();
  free(first);
  free(m);
  it_udp_close(&u);
}

/* An observer of provisioning 11's components hears its current list in a
 * check, without any insert or update. */
static void test_provisioning_observer_is_checked(void) {
  it_udp_t u;
  it_coap_msg_t *first = itp_msg_new(), *m = itp_msg_new();
  CU_ASSERT_EQUAL_FATAL(it_udp_open_fresh(&u, srv.port), 0);
  CU_ASSERT_EQUAL(it_udp_verify(&u), 0);
  CU_ASSERT_EQUAL_FATAL(itp_raw_req(&u, IT_GET,
                                    ITP_COMPONENTS "?provisioning_id=11", -1,
                                    admin_tok, true, NULL, 0, first),
                        0);
  CU_ASSERT_EQUAL(IT_CODE_INT(first->code), 205);
  CU_ASSERT_EQUAL_FATAL(it_coap_opt_count(first, IT_OPT_OBSERVE), 1);

  CU_ASSERT_EQUAL_FATAL(next_check(&u, first, true, WAIT_MS, m), 1);
  /* The same document as the first answer: the list as it is. */
  CU_ASSERT_EQUAL(m->payload_len, first->payload_len);
  CU_ASSERT_TRUE(m->payload_len == first->payload_len &&
                 memcmp(m->payload, first->payload, m->payload_len) == 0);

  expect_dropped();
  free(first);
  free(m);
  it_udp_close(&u);
}

static int suite_init(void) {
  static const char *const extra[] = {"--observe-check", "1", "--ack-timeout",
                                      "100", NULL};
  it_udp_t u;
  it_init();
  itp_use_server(&srv);
  if (itp_start_server(&srv, extra) < 0 || it_udp_open(&u, srv.port) < 0)
    return -1;
  int code = itp_login_raw(&u, "admin", ITP_ADMIN_PW, admin_tok, NULL);
  it_udp_close(&u);
  return code == 201 ? 0 : -1;
}

static const ec_test_t tests[] = {
    {test_latest_observer_is_checked, "latest_observer_is_checked"},
    {test_provisioning_observer_is_checked,
     "provisioning_observer_is_checked"},
};

int main(void) {
  static const ec_test_after_t after = {it_after_run, &srv, "it_observe_check"};
  return ec_test_main("observe_check", tests, EC_TEST_COUNT(tests), suite_init,
                      NULL, &after);
}
