/* edgecoap: status messages posted by the device core against the real server: the feed, its Request-Id, loss and restarts. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "edgecoap/device_posix.h"
#include "itest.h"
#include "itlossy.h"
#include "suite.h"

/*
 * The core over its POSIX port posts ON-API status messages
 * (ec_dev_msg_post()) while another device observes the feed
 * (/api/2.3/statusmessages/latest?orderId=...). A repeat under the same
 * Request-Id, from a new socket (another port and Message ID, as after a
 * reboot) and after a server restart, is answered 2.04 with the IDs of the
 * first post, and neither stores a message nor notifies the observer
 * again. What the server stored is read back with raw CoAP
 * (tests/support/itest.h), not with the code under test.
 */

#define WAIT_MS 20000
#define QUIET_MS 1500

static it_server_t srv;

/* One device: the port, the core, its buffers and what came back. */
typedef struct {
  it_lossy_t net;           /* the port, losing its first sends */
  ec_dev_t dev;
  uint8_t rx[1280];
  uint8_t req[4096];
  int answers;
  uint8_t code;
  int result;
  bool more;
  bool observing;
  int64_t id;  /* the first statusMessageID of the last answer, or -1 */
  size_t n;    /* the messages in it */
  char title[64]; /* of a problem-details answer */
} device_t;

static device_t *device_new(int drop) {
  device_t *t = calloc(1, sizeof *t);
  if (t == NULL || it_lossy_open(&t->net, srv.port, drop) < 0) {
    free(t);
    return NULL;
  }
  ec_dev_init(&t->dev, &t->net.transport);
  return t;
}

static void device_free(device_t *t) {
  if (t != NULL) {
    ec_dev_udp_close(&t->net.udp);
    free(t);
  }
}

static int first_msg(void *ctx, size_t idx, const ec_dev_msg_t *m) {
  device_t *t = ctx;
  if (idx == 0) {
    t->id = m->id;
  }
  t->n = idx + 1;
  return 0;
}

/* Keep what an answer says: its code, and the messages it holds (one
 * message, or a page) as the core reads them. */
static void on_answer(ec_dev_t *dev, void *user, const ec_dev_answer_t *a) {
  (void)dev;
  device_t *t = user;
  ec_dev_msg_t m;
  ec_dev_problem_t p;
  t->answers++;
  t->code = a->code;
  t->result = a->result;
  t->more = a->more;
  t->observing = a->observing;
  t->id = -1;
  t->n = 0;
  t->title[0] = '\0';
  if (a->result < 0 || a->more) {
    return;
  }
  if ((a->code >> 5) != 2) {
    if (ec_dev_problem_decode(a->payload, a->payload_len, &p) == 0 &&
        p.title.ptr != NULL && p.title.len < sizeof t->title) {
      memcpy(t->title, p.title.ptr, p.title.len);
      t->title[p.title.len] = '\0';
    }
  } else if (ec_dev_msg_decode(a->payload, a->payload_len, &m) == 0) {
    t->id = m.id;
    t->n = 1;
  } else {
    (void)ec_dev_msgs_decode(a->payload, a->payload_len, first_msg, t, NULL);
  }
}

/* Step every device of @p d (NULL-terminated) until @p *flag reaches
 * @p want or @p ms pass. */
static bool pump(device_t *const *d, const int *flag, int want, unsigned ms) {
  uint64_t end = it_now_ms() + ms;
  while ((flag == NULL || *flag < want) && it_now_ms() < end) {
    for (int i = 0; d[i] != NULL; i++) {
      (void)ec_dev_udp_poll(&d[i]->net.udp, &d[i]->dev, 5, d[i]->rx,
                            sizeof d[i]->rx);
    }
  }
  return flag != NULL && *flag >= want;
}

/* Post @p n messages from a device of its own (a new port and Message ID,
 * as after a reboot) under @p rid and wait for the answer, kept in
 * *out (freed by the caller). While it runs, @p observer is stepped too. */
static int post_from_new(const ec_dev_msg_new_t *m, size_t n, bool batch,
                         const uint8_t *rid, size_t rid_len, int drop,
                         device_t *observer, device_t **out) {
  device_t *t = device_new(drop);
  *out = t;
  if (t == NULL || ec_dev_msg_post(&t->dev, m, n, batch, rid, rid_len, t->req,
                                   sizeof t->req, on_answer, t) < 0) {
    return -1;
  }
  device_t *both[] = {t, observer, NULL};
  return pump(both, &t->answers, 1, WAIT_MS) &&
                 t->result == 0
             ? (t->code >> 5) * 100 + (t->code & 31)
             : -1;
}

static const ec_dev_msg_param_t params[] = {{"Delivery date", "2018-06-17"}};
static const uint64_t macs[] = {0xfe00ae3544acULL};

static ec_dev_msg_new_t message(const char *order, int code) {
  return (ec_dev_msg_new_t){.code = code, .order_id = order,
                            .params = params, .n_params = 1,
                            .macs = macs, .n_macs = 1};
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */

static void test_repeat_is_answered_from_the_store(void) {
  static const uint8_t rid[12] = "feed-boot1-1";
  ec_dev_msg_new_t m = message("FEED-1", 101);
  /* An observer of the feed for this order: its first answer is the
   * empty list (after the server verified its address with Echo). */
  device_t *obs = device_new(0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(obs);
  uint8_t obs_req[160];
  CU_ASSERT_TRUE_FATAL(ec_dev_get(&obs->dev,
                                  "api/2.3/statusmessages/latest?orderId=FEED-1",
                                  true, obs_req, sizeof obs_req, on_answer,
                                  obs) >= 0);
  device_t *only_obs[] = {obs, NULL};
  CU_ASSERT_TRUE_FATAL(pump(only_obs, &obs->answers, 1, WAIT_MS));
  CU_ASSERT_TRUE(obs->observing);
  CU_ASSERT_EQUAL(obs->n, 0);

  /* The first post: 2.01 with its ID, and one notification. */
  device_t *p;
  CU_ASSERT_EQUAL(post_from_new(&m, 1, false, rid, sizeof rid, 0, obs, &p), 201);
  int64_t id = p->id;
  CU_ASSERT_TRUE(id > 0);
  device_free(p);
  CU_ASSERT_TRUE(pump(only_obs, &obs->answers, 2, WAIT_MS));
  CU_ASSERT_EQUAL(obs->id, id);
  CU_ASSERT_TRUE(obs->observing);

  /* The repeat from another port and Message ID: 2.04 with the same ID,
   * and no notification. */
  CU_ASSERT_EQUAL(post_from_new(&m, 1, false, rid, sizeof rid, 0, obs, &p), 204);
  CU_ASSERT_EQUAL(p->id, id);
  device_free(p);
  (void)pump(only_obs, NULL, 0, QUIET_MS);
  CU_ASSERT_EQUAL(obs->answers, 2);
  CU_ASSERT_EQUAL(it_messages_count(srv.port, "FEED-1", 5000), 1);

  /* Another message under the same Request-Id: 4.09, nothing stored or
   * notified. */
  ec_dev_msg_new_t other = message("FEED-1", 102);
  CU_ASSERT_EQUAL(post_from_new(&other, 1, false, rid, sizeof rid, 0, obs, &p),
                  409);
  CU_ASSERT_STRING_EQUAL(p->title, "request-id-conflict");
  device_free(p);
  (void)pump(only_obs, NULL, 0, QUIET_MS);
  CU_ASSERT_EQUAL(obs->answers, 2);
  CU_ASSERT_EQUAL(it_messages_count(srv.port, "FEED-1", 5000), 1);
  device_free(obs);

  /* After a restart of the server the repeat is still recognised. */
  CU_ASSERT_EQUAL_FATAL(it_server_restart(&srv), 0);
  CU_ASSERT_EQUAL(post_from_new(&m, 1, false, rid, sizeof rid, 0, NULL, &p), 204);
  CU_ASSERT_EQUAL(p->id, id);
  device_free(p);
  CU_ASSERT_EQUAL(it_messages_count(srv.port, "FEED-1", 5000), 1);
  /* Without a Request-Id of its own the core draws one: a new post. */
  CU_ASSERT_EQUAL(post_from_new(&m, 1, false, NULL, 0, 0, NULL, &p), 201);
  CU_ASSERT_TRUE(p->id > id);
  device_free(p);
  CU_ASSERT_EQUAL(it_messages_count(srv.port, "FEED-1", 5000), 2);
}

/* The first two datagrams of a post are lost: the retransmission is
 * stored once. */
static void test_lossy_post_is_stored_once(void) {
  ec_dev_msg_new_t m = message("FEED-LOSSY", 105);
  device_t *p;
  CU_ASSERT_EQUAL(post_from_new(&m, 1, false, NULL, 0, 2, NULL, &p), 201);
  CU_ASSERT_TRUE(p != NULL && p->net.sends >= 3);
  device_free(p);
  CU_ASSERT_EQUAL(it_messages_count(srv.port, "FEED-LOSSY", 5000), 1);
}

/* A batch past one datagram goes block-wise (Block1), each block with the
 * Request-Id; its answer, past one datagram too, comes as block 0. A
 * repeat stores nothing. */
static void test_blockwise_batch_and_its_repeat(void) {
  static const uint8_t rid[16] = "feed-batch-00001";
  static ec_dev_msg_new_t batch[20];
  for (int i = 0; i < 20; i++) {
    batch[i] = message("FEED-BATCH", 101 + i);
  }
  CU_ASSERT_TRUE(ec_dev_msgs_encode(batch, 20, true, NULL, 0) > 1152);
  for (int round = 0; round < 2; round++) {
    device_t *p;
    CU_ASSERT_EQUAL(post_from_new(batch, 20, true, rid, sizeof rid, 0, NULL, &p),
                    round == 0 ? 201 : 204);
    CU_ASSERT_TRUE(p != NULL && p->more);
    device_free(p);
    CU_ASSERT_EQUAL(it_messages_count(srv.port, "FEED-BATCH", 5000), 20);
  }
}

static int suite_init(void) {
  it_init();
  return it_server_start(&srv, NULL) == 0 ? 0 : -1;
}

static const ec_test_t tests[] = {
    {test_repeat_is_answered_from_the_store, "repeat_is_answered_from_the_store"},
    {test_lossy_post_is_stored_once, "lossy_post_is_stored_once"},
    {test_blockwise_batch_and_its_repeat, "blockwise_batch_and_its_repeat"},
};

int main(void) {
  static const ec_test_after_t after = {it_after_run, &srv, "it_device_feed"};
  return ec_test_main("device_feed", tests, EC_TEST_COUNT(tests), suite_init,
                      NULL, &after);
}
