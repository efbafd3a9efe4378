/* edgecoap: CUnit tests of the notifications on coap:// (server/coap/watch.c).
 */
/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <coap3/coap.h>

#include "edgecoap/error.h"
#include "peer.h"
#include "request.h"
#include "srvfx.h"
#include "suite.h"
#include "udpsess.h"
#include "util.h"
#include "watch.h"

/*
 * On coap:// the server sends notifications itself (watch.h), from the
 * coap:// socket (srv->screen_fd). Here that socket is one of the test's,
 * the observer is a client session of a libcoap context whose remote
 * address is another socket of the test on 127.0.0.1, and what arrives
 * there is parsed with libcoap: NON notifications with rising Observe
 * values, every fifth one confirmable and retransmitted until its ACK, an
 * RST that ends the observation, a large body's first block, and a final
 * answer without Observe at shutdown. (Registration and the caps are
 * test_request.c's.)
 */

static coap_context_t *ctx;
static ec_server_t *srv;
static int send_fd = -1, obs_fd = -1; /* the server's socket, the observer's */
static uint16_t obs_port;
static ec_watch_list_t list;
static int refreshed;

static int bound_socket(uint16_t *port) {
  struct sockaddr_in a = {0};
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) < 0)
    return -1;
  if (port != NULL)
    *port = ntohs(a.sin_port);
  return fd;
}

static void refresh(ec_server_t *s, ec_watch_t *w) {
  static const uint8_t now[] = "{\"state\":\"now\"}";
  refreshed++;
  ec_watch_deliver(s, w, now, sizeof(now) - 1, 7, now, sizeof(now) - 1, 7, 0);
}

static int suite_init(void) {
  if ((srv = ec_test_server_new(&ctx, 16 * 1024)) == NULL)
    return -1;
  srv->cfg.max_body = 4096;
  srv->cfg.max_observers = 100;
  srv->cfg.max_peer_observations = 10;
  srv->cfg.ack_timeout_ms = 2000;
  send_fd = bound_socket(NULL);
  obs_fd = bound_socket(&obs_port);
  srv->screen_fd = send_fd;
  ec_watch_list_init(srv, &list, "test");
  list.refresh = refresh;
  return send_fd >= 0 && obs_fd >= 0 ? 0 : -1;
}

static int suite_cleanup(void) {
  ec_test_server_free(srv, ctx);
  if (send_fd >= 0)
    close(send_fd);
  if (obs_fd >= 0)
    close(obs_fd);
  return 0;
}

/* Register an observation of `list` from a new session to the observer's
 * socket, token @p tok, answers in JSON; the watch. */
static ec_watch_t *watch_new(const char *tok, coap_session_t **out) {
  coap_session_t *s = ec_test_session_to(ctx, obs_port);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  ec_peer_t *p = ec_peer_get(srv, s);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  p->verified = true; /* no Echo challenge for the registration */
  coap_pdu_t *req =
      coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, 0x7070, 256);
  coap_pdu_t *resp = coap_pdu_init(COAP_MESSAGE_ACK, 0, 0x7070, 512);
  CU_ASSERT_FATAL(req != NULL && resp != NULL);
  uint8_t zero = 0, json = 50;
  CU_ASSERT_FATAL(coap_add_token(req, strlen(tok), (const uint8_t *)tok));
  coap_add_option(req, COAP_OPTION_OBSERVE, 0, &zero);
  coap_add_option(req, COAP_OPTION_URI_PATH, 1, (const uint8_t *)"w");
  coap_add_option(req, COAP_OPTION_ACCEPT, 1, &json);
  ec_req_t rq;
  CU_ASSERT_EQUAL_FATAL(ec_req_setup(&rq, srv, NULL, s, req, NULL, resp, ~0u),
                        0);
  CU_ASSERT_EQUAL_FATAL(ec_watch_request(&rq, &list, NULL, NULL), 1);
  ec_req_done(&rq);
  coap_delete_pdu(req);
  coap_delete_pdu(resp);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p->watches);
  *out = s;
  return p->watches;
}

/* The observer's next datagram within @p ms, parsed; NULL for none. */
static coap_pdu_t *next_msg(int ms) {
  uint8_t buf[2048];
  struct pollfd pfd = {obs_fd, POLLIN, 0};
  if (poll(&pfd, 1, ms) != 1)
    return NULL;
  ssize_t n = recv(obs_fd, buf, sizeof(buf), MSG_DONTWAIT);
  coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, sizeof(buf));
  CU_ASSERT_PTR_NOT_NULL_FATAL(pdu);
  CU_ASSERT_FATAL(n > 0 && coap_pdu_parse(COAP_PROTO_UDP, buf, (size_t)n, pdu));
  return pdu;
}

static void drain(void) {
  coap_pdu_t *m;
  while ((m = next_msg(20)) != NULL)
    coap_delete_pdu(m);
}

/* Option @p num of @p m as a number; -1 when it has none. */
static long opt_uint(const coap_pdu_t *m, coap_option_num_t num) {
  coap_opt_iterator_t it;
  coap_opt_t *o = coap_check_option(m, num, &it);
  return o == NULL ? -1
                   : (long)coap_decode_var_bytes(coap_opt_value(o),
                                                 coap_opt_length(o));
}

static bool token_is(const coap_pdu_t *m, const char *tok) {
  coap_bin_const_t t = coap_pdu_get_token(m);
  return t.length == strlen(tok) && memcmp(t.s, tok, t.length) == 0;
}

static const uint8_t doc[] = "{\"state\":\"Installed\"}";

static int deliver(ec_watch_t *w, uint64_t etag) {
  ec_watch_deliver(srv, w, doc, sizeof(doc) - 1, etag, doc, sizeof(doc) - 1,
                   etag, 30);
  return 0;
}

static void test_notifications_are_non_and_every_fifth_confirmable(void) {
  coap_session_t *s;
  drain();
  ec_watch_t *w = watch_new("nt01", &s);
  long last_observe = -1;
  int con = 0, non = 0;
  for (int i = 0; i < 5; i++) {
    deliver(w, 100 + (uint64_t)i);
    coap_pdu_t *m = next_msg(1000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT_EQUAL(coap_pdu_get_code(m), COAP_RESPONSE_CODE_CONTENT);
    CU_ASSERT_TRUE(token_is(m, "nt01"));
    CU_ASSERT_EQUAL(opt_uint(m, COAP_OPTION_ETAG), 100 + i);
    CU_ASSERT_EQUAL(opt_uint(m, COAP_OPTION_CONTENT_FORMAT), 50);
    CU_ASSERT_EQUAL(opt_uint(m, COAP_OPTION_MAXAGE), 30);
    long obs = opt_uint(m, COAP_OPTION_OBSERVE);
    CU_ASSERT(obs > last_observe);
    last_observe = obs;
    size_t len;
    const uint8_t *data;
    CU_ASSERT_TRUE(coap_get_data(m, &len, &data) && len == sizeof(doc) - 1 &&
                   memcmp(data, doc, len) == 0);
    if (coap_pdu_get_type(m) == COAP_MESSAGE_CON) {
      con++;
      /* Acknowledged, it is done. */
      CU_ASSERT_PTR_NOT_NULL(w->con_dgram);
      ec_watch_on_ack(srv, s, (uint16_t)coap_pdu_get_mid(m));
      CU_ASSERT_PTR_NULL(w->con_dgram);
    } else {
      CU_ASSERT_EQUAL(coap_pdu_get_type(m), COAP_MESSAGE_NON);
      non++;
    }
    coap_delete_pdu(m);
  }
  CU_ASSERT_EQUAL(non, 4);
  CU_ASSERT_EQUAL(con, 1);
  CU_ASSERT_PTR_NULL(srv->con_watches);
  ec_watch_remove(w);
}

static void test_an_rst_to_a_notification_ends_the_observation(void) {
  coap_session_t *s;
  drain();
  ec_watch_t *w = watch_new("rs01", &s);
  deliver(w, 1);
  coap_pdu_t *m = next_msg(1000);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  uint16_t mid = (uint16_t)coap_pdu_get_mid(m);
  coap_delete_pdu(m);
  unsigned before = list.count;
  /* Another Message ID ends nothing... */
  ec_watch_on_rst(srv, s, (uint16_t)(mid + 1000));
  CU_ASSERT_EQUAL(list.count, before);
  /* ...the notification's ends the watch. */
  ec_watch_on_rst(srv, s, mid);
  CU_ASSERT_EQUAL(list.count, before - 1);
  ec_peer_t *p = coap_session_get_app_data(s);
  CU_ASSERT_TRUE(p != NULL && p->watches == NULL);
}

static void test_an_unacknowledged_con_is_retransmitted_then_given_up(void) {
  coap_session_t *s;
  drain();
  srv->cfg.ack_timeout_ms = 20;
  ec_watch_t *w = watch_new("rt01", &s);
  for (int i = 0; i < 5; i++) /* four NONs, then the CON */
    deliver(w, 1);
  coap_pdu_t *m;
  int non = 0, con = 0;
  uint16_t con_mid = 0;
  while ((m = next_msg(100)) != NULL) {
    if (coap_pdu_get_type(m) == COAP_MESSAGE_CON) {
      con++;
      con_mid = (uint16_t)coap_pdu_get_mid(m);
    } else {
      non++;
    }
    coap_delete_pdu(m);
  }
  CU_ASSERT(non == 4 && con == 1);
  unsigned before = list.count;
  /* No ACK: the same message again at each timeout (doubled), four
   * times, then the observer counts as gone. */
  int again = 0;
  uint64_t until = ec_mono_ms() + 3000;
  while (ec_mono_ms() < until && list.count == before) {
    ec_watch_tick(srv);
    while ((m = next_msg(5)) != NULL) {
      again += coap_pdu_get_type(m) == COAP_MESSAGE_CON &&
               coap_pdu_get_mid(m) == con_mid;
      coap_delete_pdu(m);
    }
  }
  CU_ASSERT_EQUAL(again, 4);
  CU_ASSERT_EQUAL(list.count, before - 1);
  CU_ASSERT_PTR_NULL(srv->con_watches);
  srv->cfg.ack_timeout_ms = 2000;
  (void)s;
}

static void test_a_large_body_goes_as_its_first_block(void) {
  coap_session_t *s;
  static uint8_t big[3000];
  drain();
  memset(big, 'x', sizeof(big));
  ec_watch_t *w = watch_new("bg01", &s);
  ec_watch_deliver(srv, w, big, sizeof(big), 9, big, sizeof(big), 9, 0);
  coap_pdu_t *m = next_msg(1000);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  /* Block2: block 0, more, 1024 bytes (SZX 6); Size2 the whole. */
  CU_ASSERT_EQUAL(opt_uint(m, COAP_OPTION_BLOCK2), 1 << 3 | 6);
  CU_ASSERT_EQUAL(opt_uint(m, COAP_OPTION_SIZE2), (long)sizeof(big));
  size_t len;
  const uint8_t *data;
  CU_ASSERT_TRUE(coap_get_data(m, &len, &data) && len == 1024);
  coap_delete_pdu(m);
  /* While the observer fetches the rest, the next state waits... */
  refreshed = 0;
  deliver(w, 10);
  CU_ASSERT_PTR_NULL(m = next_msg(50));
  CU_ASSERT_TRUE(w->deferred);
  CU_ASSERT_EQUAL(srv->n_deferred, 1u);
  /* ...and goes out (as the list's current state) once it is done. */
  w->fetch_until = 0;
  ec_watch_tick(srv);
  CU_ASSERT_EQUAL(refreshed, 1);
  CU_ASSERT_FALSE(w->deferred);
  CU_ASSERT_EQUAL(srv->n_deferred, 0u);
  m = next_msg(1000);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  CU_ASSERT_EQUAL(opt_uint(m, COAP_OPTION_ETAG), 7);
  coap_delete_pdu(m);
  /* ec_watch_send() sends whole bodies only. */
  CU_ASSERT_EQUAL(ec_watch_send(srv, w, big, sizeof(big)), EC_ETOOBIG);
  ec_watch_remove(w);
}

static void test_shutdown_ends_every_observation_with_a_final_answer(void) {
  coap_session_t *s1, *s2;
  drain();
  watch_new("sd01", &s1);
  watch_new("sd02", &s2);
  ec_watch_end_all(srv, 503, "shutting-down", "the server stops");
  CU_ASSERT_EQUAL(list.count, 0u);
  int finals = 0;
  coap_pdu_t *m;
  while ((m = next_msg(200)) != NULL) {
    finals += coap_pdu_get_code(m) == COAP_RESPONSE_CODE(503) &&
              opt_uint(m, COAP_OPTION_OBSERVE) == -1 &&
              opt_uint(m, COAP_OPTION_CONTENT_FORMAT) == 50 &&
              (token_is(m, "sd01") || token_is(m, "sd02"));
    coap_delete_pdu(m);
  }
  CU_ASSERT_EQUAL(finals, 2);
  CU_ASSERT_PTR_NULL(srv->con_watches);
}

static const ec_test_t tests[] = {
    {test_notifications_are_non_and_every_fifth_confirmable,
     "notifications_are_non_and_every_fifth_confirmable"},
    {test_an_rst_to_a_notification_ends_the_observation,
     "an_rst_to_a_notification_ends_the_observation"},
    {test_an_unacknowledged_con_is_retransmitted_then_given_up,
     "an_unacknowledged_con_is_retransmitted_then_given_up"},
    {test_a_large_body_goes_as_its_first_block,
     "a_large_body_goes_as_its_first_block"},
    {test_shutdown_ends_every_observation_with_a_final_answer,
     "shutdown_ends_every_observation_with_a_final_answer"},
};

int main(void) {
  return ec_test_main("watch", tests, EC_TEST_COUNT(tests), suite_init,
                      suite_cleanup, NULL);
}
