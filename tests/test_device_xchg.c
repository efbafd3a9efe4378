/* edgecoap tests: the device core's cases for exchanges (retransmission, Observe, block-wise, Request-Id, Echo), requests of any kind and status messages posted, written for any target: no heap, no stdio. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "edgecoap/device.h"
#include "test_device_cases.h"

/* ---- exchanges --------------------------------------------------------- */

/* A transport that records what is sent and draws "random" bytes from a
 * fixed value, so timing is exact. */
static uint8_t sent[8][1200];
static size_t sent_len[8];
static unsigned n_sent;
static uint32_t fake_now;
static uint8_t fake_random;

static int fake_send(void *ctx, const uint8_t *d, size_t len) {
  (void)ctx;
  if (len <= sizeof sent[0]) {
    memcpy(sent[n_sent % 8], d, len);
    sent_len[n_sent % 8] = len;
  }
  n_sent++;
  return 0;
}
static uint32_t fake_clock(void *ctx) {
  (void)ctx;
  return fake_now;
}
static void fake_rand(void *ctx, void *buf, size_t len) {
  (void)ctx;
  memset(buf, fake_random, len);
}
static const ec_dev_transport_t fake = {fake_send, fake_clock, fake_rand, NULL,
                                        NULL};

/* The @p back'th datagram sent before the last (0: the last). */
static ec_coap_msg_t sent_back(unsigned back) {
  ec_coap_msg_t m;
  unsigned i = (n_sent - 1 - back) % 8;
  memset(&m, 0, sizeof m);
  (void)ec_coap_parse(&m, sent[i], sent_len[i]);
  return m;
}

static ec_coap_msg_t last_sent(void) { return sent_back(0); }

static struct {
  int calls;
  ec_dev_answer_t last;
  void *user;
} got;
static void on_answer(ec_dev_t *dev, void *user, const ec_dev_answer_t *a) {
  (void)dev;
  got.calls++;
  got.last = *a;
  got.user = user;
}

static void reset(ec_dev_t *dev, uint8_t rnd) {
  fake_now = 1000;
  fake_random = rnd;
  n_sent = 0;
  memset(&got, 0, sizeof got);
  ec_dev_init(dev, &fake);
}

/* A response to @p req from the server, fed to the core. */
static uint32_t feed(ec_dev_t *dev, uint8_t type, uint8_t code, uint16_t mid,
                     const ec_coap_msg_t *req, int observe, int max_age) {
  uint8_t buf[64];
  ec_coap_build_t b;
  ec_coap_start(&b, buf, sizeof buf, type, code, mid, req ? req->token : NULL,
                req ? req->tkl : 0);
  if (observe >= 0) {
    ec_coap_add_uint(&b, EC_COAP_OPT_OBSERVE, (uint32_t)observe);
  }
  if (code != 0) {
    ec_coap_add_uint(&b, EC_COAP_OPT_CONTENT_FORMAT, 60);
  }
  if (max_age >= 0) {
    ec_coap_add_uint(&b, EC_COAP_OPT_MAX_AGE, (uint32_t)max_age);
  }
  if (code != 0) {
    size_t room;
    uint8_t *p = ec_coap_payload_room(&b, &room);
    if (p != NULL && room > 0) {
      p[0] = 0xa0;
    }
    ec_coap_payload_done(&b, 1);
  }
  int n = ec_coap_finish(&b);
  return ec_dev_step(dev, fake_now, buf, n > 0 ? (size_t)n : 0);
}

static ec_dev_t dev;
static uint8_t rq[512];

static void xchg_retransmit_timing(void) {
  reset(&dev, 0); /* random 0: the first timeout is ACK_TIMEOUT exactly */
  int user = 7;
  DCHECK(ec_dev_report(&dev, "dev1", &ec_test_sample, rq, sizeof rq, on_answer, &user) == 0);
  DCHECK(n_sent == 1);
  DCHECK(ec_dev_step(&dev, fake_now, NULL, 0) == 2000);
  DCHECK(ec_dev_step(&dev, fake_now + 1999, NULL, 0) == 1 && n_sent == 1);
  uint32_t t = fake_now, gap = 2000;
  for (unsigned r = 1; r <= EC_DEV_MAX_RETRANSMIT; r++) {
    t += gap;
    gap *= 2;
    DCHECK(ec_dev_step(&dev, t, NULL, 0) == gap);
    DCHECK(n_sent == 1 + r);
    DCHECK(sent_len[r % 8] == sent_len[0] &&
           memcmp(sent[r % 8], sent[0], sent_len[0]) == 0);
  }
  DCHECK(got.calls == 0);
  DCHECK(ec_dev_step(&dev, t + gap, NULL, 0) == EC_DEV_IDLE);
  DCHECK(got.calls == 1 && got.last.result == EC_ETIMEOUT && got.user == &user);
  /* With random bytes 0xFF the first timeout is 2000 + 2^32-1 mod 1001,
   * inside [ACK_TIMEOUT, 1.5 ACK_TIMEOUT]. */
  reset(&dev, 0xFF);
  DCHECK(ec_dev_report(&dev, "dev1", &ec_test_sample, rq, sizeof rq, on_answer, NULL) == 0);
  DCHECK(ec_dev_step(&dev, fake_now, NULL, 0) == 2619);
}

static void xchg_piggybacked_and_separate(void) {
  reset(&dev, 1);
  DCHECK(ec_dev_report(&dev, "dev1", &ec_test_sample, rq, sizeof rq, on_answer, NULL) == 0);
  ec_coap_msg_t req = last_sent();
  DCHECK(req.code == EC_COAP_POST && req.type == EC_COAP_CON && req.tkl == 4);
  const uint8_t *v;
  size_t len;
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_URI_PATH, 3, &v, &len) == 1 &&
         len == 36 && memcmp(v, UUID, 36) == 0);
  DCHECK(req.payload_len == sizeof ec_test_report_cbor &&
         memcmp(req.payload, ec_test_report_cbor, sizeof ec_test_report_cbor) == 0);
  /* An ACK for another Message ID is not ours. */
  feed(&dev, EC_COAP_ACK, EC_COAP_CODE(2, 4), (uint16_t)(req.mid + 1), &req, -1, -1);
  DCHECK(got.calls == 0);
  DCHECK(feed(&dev, EC_COAP_ACK, EC_COAP_CODE(2, 4), req.mid, &req, -1, -1) ==
         EC_DEV_IDLE);
  DCHECK(got.calls == 1 && got.last.result == 0 &&
         got.last.code == EC_COAP_CODE(2, 4) && got.last.content_format == 60 &&
         got.last.payload_len == 1);

  /* Separate: an empty ACK stops retransmission; the CON answer is ACKed
   * and passed on once, its repeat only ACKed again. */
  DCHECK(ec_dev_report(&dev, "dev1", &ec_test_sample, rq, sizeof rq, on_answer, NULL) == 0);
  req = last_sent();
  DCHECK(feed(&dev, EC_COAP_ACK, 0, req.mid, NULL, -1, -1) ==
         EC_DEV_SEPARATE_WAIT_MS);
  unsigned before = n_sent;
  feed(&dev, EC_COAP_CON, EC_COAP_CODE(2, 1), 0x7777, &req, -1, -1);
  DCHECK(got.calls == 2 && got.last.code == EC_COAP_CODE(2, 1));
  DCHECK(n_sent == before + 1);
  ec_coap_msg_t ack = last_sent();
  DCHECK(ack.type == EC_COAP_ACK && ack.code == 0 && ack.mid == 0x7777);
  feed(&dev, EC_COAP_CON, EC_COAP_CODE(2, 1), 0x7777, &req, -1, -1);
  DCHECK(got.calls == 2 && n_sent == before + 2);
  ack = last_sent();
  DCHECK(ack.type == EC_COAP_ACK && ack.mid == 0x7777);
  /* An RST ends an exchange with EC_EPROTO. */
  DCHECK(ec_dev_report(&dev, "dev1", &ec_test_sample, rq, sizeof rq, on_answer, NULL) == 0);
  req = last_sent();
  feed(&dev, EC_COAP_RST, 0, req.mid, NULL, -1, -1);
  DCHECK(got.calls == 3 && got.last.result == EC_EPROTO);
}

/* The answer's options, read in one walk: the first of a repeated option
 * counts, an integer option past 4 bytes counts as absent (Max-Age then
 * its default 60), options the core does not read are passed over. */
static void xchg_answer_options(void) {
  static const uint8_t five[5] = {0, 0, 0, 1, 0};
  reset(&dev, 1);
  DCHECK(ec_dev_report(&dev, "dev1", &ec_test_sample, rq, sizeof rq, on_answer, NULL) == 0);
  ec_coap_msg_t req = last_sent();
  uint8_t buf[64];
  ec_coap_build_t b;
  ec_coap_start(&b, buf, sizeof buf, EC_COAP_ACK, EC_COAP_CODE(2, 4), req.mid,
                req.token, req.tkl);
  ec_coap_add(&b, 8, "x", 1); /* Location-Path: not read */
  ec_coap_add_uint(&b, EC_COAP_OPT_CONTENT_FORMAT, 60);
  ec_coap_add_uint(&b, EC_COAP_OPT_CONTENT_FORMAT, 50);
  ec_coap_add(&b, EC_COAP_OPT_MAX_AGE, five, sizeof five);
  ec_coap_add_uint(&b, EC_COAP_OPT_MAX_AGE, 7);
  ec_coap_add(&b, 65001, "y", 1);
  int n = ec_coap_finish(&b);
  DCHECK(n > 0);
  ec_dev_step(&dev, fake_now, buf, (size_t)n);
  DCHECK(got.calls == 1 && got.last.result == 0 &&
         got.last.content_format == 60 && got.last.max_age == 60 &&
         !got.last.more);
  /* One Max-Age of 4 bytes is read; no Content-Format is -1. */
  DCHECK(ec_dev_report(&dev, "dev1", &ec_test_sample, rq, sizeof rq, on_answer, NULL) == 0);
  req = last_sent();
  ec_coap_start(&b, buf, sizeof buf, EC_COAP_ACK, EC_COAP_CODE(2, 4), req.mid,
                req.token, req.tkl);
  ec_coap_add_uint(&b, EC_COAP_OPT_MAX_AGE, 0x01020304);
  n = ec_coap_finish(&b);
  ec_dev_step(&dev, fake_now, buf, (size_t)n);
  DCHECK(got.calls == 2 && got.last.content_format == -1 &&
         got.last.max_age == 0x01020304);
}

static uint8_t report_buf[512];
static int reports_from_cb;
static void on_notify(ec_dev_t *d, void *user, const ec_dev_answer_t *a) {
  on_answer(d, user, a);
  /* A device reports while it observes, from inside the callback. */
  if (a->observing && a->observe == 7 &&
      ec_dev_report(d, "dev1", &ec_test_sample, report_buf, sizeof report_buf, NULL,
                    NULL) >= 0) {
    reports_from_cb++;
  }
}

static void xchg_observe(void) {
  reset(&dev, 2);
  reports_from_cb = 0;
  DCHECK(ec_dev_observe(&dev, "dev1", "A3E2F5DC-912E-494F-8395-52CF3769BC06",
                        rq, sizeof rq, on_notify, NULL) == 0);
  ec_coap_msg_t req = last_sent();
  const uint8_t *v;
  size_t len;
  DCHECK(req.code == EC_COAP_GET &&
         ec_coap_opt(&req, EC_COAP_OPT_OBSERVE, 0, &v, &len) == 1 && len == 0);
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_URI_PATH, 3, &v, &len) == 1 &&
         memcmp(v, UUID, 36) == 0); /* lowercased */
  DCHECK(feed(&dev, EC_COAP_ACK, EC_COAP_CODE(2, 5), req.mid, &req, 5, 120) ==
         122000);
  DCHECK(got.calls == 1 && got.last.observing && got.last.observe == 5);
  /* Older: dropped. Newer, confirmable: ACKed and passed on, with a report
   * started from the callback; its repeat only ACKed. */
  fake_now += 10;
  feed(&dev, EC_COAP_NON, EC_COAP_CODE(2, 5), 0x100, &req, 4, 120);
  DCHECK(got.calls == 1);
  unsigned before = n_sent;
  feed(&dev, EC_COAP_CON, EC_COAP_CODE(2, 5), 0x101, &req, 7, 120);
  DCHECK(got.calls == 2 && got.last.observe == 7 && reports_from_cb == 1);
  DCHECK(n_sent == before + 2); /* the ACK, then the report */
  feed(&dev, EC_COAP_CON, EC_COAP_CODE(2, 5), 0x101, &req, 7, 120);
  DCHECK(got.calls == 2 && n_sent == before + 3);
  /* Wrapped sequence numbers are newer (7 -> 2^24 - 1 is older). */
  feed(&dev, EC_COAP_NON, EC_COAP_CODE(2, 5), 0x102, &req, 0xFFFFFF, 120);
  DCHECK(got.calls == 2);
  /* Past 128 s any number is fresh. */
  fake_now += 129000;
  feed(&dev, EC_COAP_NON, EC_COAP_CODE(2, 5), 0x103, &req, 3, 120);
  DCHECK(got.calls == 3 && got.last.observe == 3);
  /* A notification for a token we do not know gets an RST. */
  ec_coap_msg_t other = req;
  other.token[0] ^= 0xFF;
  feed(&dev, EC_COAP_NON, EC_COAP_CODE(2, 5), 0x104, &other, 9, 120);
  DCHECK(last_sent().type == EC_COAP_RST && last_sent().mid == 0x104);
  /* Max-Age passes without a notification: registered again, same token,
   * new Message ID. The report started from the callback is still open
   * (no ACK came), so the deadline is its retransmission's. */
  before = n_sent;
  fake_now += 122000;
  ec_dev_step(&dev, fake_now, NULL, 0);
  DCHECK(n_sent == before + 2); /* the registration, the report's retransmission */
  ec_coap_msg_t again = sent_back(1);
  DCHECK(again.code == EC_COAP_GET && again.mid != req.mid &&
         memcmp(again.token, req.token, 4) == 0);
  /* An error code ends the observation. */
  feed(&dev, EC_COAP_ACK, EC_COAP_CODE(4, 4), again.mid, &again, -1, -1);
  DCHECK(got.last.observing == false && got.last.code == EC_COAP_CODE(4, 4));
}

static void xchg_limits(void) {
  reset(&dev, 3);
  for (int i = 0; i < EC_DEV_MAX_EXCHANGES; i++) {
    DCHECK(ec_dev_get(&dev, "a/b?x=1&y=2", false, rq + 64 * i, 64, NULL, NULL) == i);
  }
  DCHECK(ec_dev_get(&dev, "a", false, rq + 128, 64, NULL, NULL) == EC_ENOMEM);
  ec_dev_cancel(&dev, 0);
  DCHECK(ec_dev_get(&dev, "a", false, rq + 128, 8, NULL, NULL) == EC_ENOSPC);
  DCHECK(ec_dev_report(&dev, "dev1", &ec_test_sample, rq + 128, 40, NULL, NULL) ==
         EC_ENOSPC);
  /* However many exchanges come and go, no token is another's follow-up
   * token (the top bit of the last byte is the follow-up's). */
  bool clear = true;
  for (int i = 0; i < 600; i++) {
    ec_dev_cancel(&dev, 0);
    clear = clear && ec_dev_get(&dev, "a", false, rq, 64, NULL, NULL) == 0 &&
            (last_sent().token[3] & 0x80) == 0;
  }
  DCHECK(clear);
}

/* A block of a block-wise answer: @p b2 is the Block2 value (num << 4 |
 * more << 3 | szx), @p size2 0 for none. */
static void feed_block(uint8_t type, uint16_t mid, const uint8_t *token,
                       int observe, const char *etag, uint32_t b2,
                       uint32_t size2, const uint8_t *payload, size_t len) {
  uint8_t buf[160];
  ec_coap_build_t b;
  ec_coap_start(&b, buf, sizeof buf, type, EC_COAP_CODE(2, 5), mid, token, 4);
  ec_coap_add(&b, EC_COAP_OPT_ETAG, etag, strlen(etag));
  if (observe >= 0) {
    ec_coap_add_uint(&b, EC_COAP_OPT_OBSERVE, (uint32_t)observe);
  }
  ec_coap_add_uint(&b, EC_COAP_OPT_CONTENT_FORMAT, 60);
  ec_coap_add_uint(&b, EC_COAP_OPT_BLOCK2, b2);
  if (size2 > 0) {
    ec_coap_add_uint(&b, EC_COAP_OPT_SIZE2, size2);
  }
  size_t room;
  uint8_t *p = ec_coap_payload_room(&b, &room);
  if (p != NULL && room >= len) {
    memcpy(p, payload, len);
  }
  ec_coap_payload_done(&b, len);
  int n = ec_coap_finish(&b);
  ec_dev_step(&dev, fake_now, buf, n > 0 ? (size_t)n : 0);
}

/* The block the core asked for last: its number, or -1 when the last
 * datagram sent was no follow-up GET for exchange token @p tok. */
static int asked_block(const uint8_t *tok, ec_coap_msg_t *req) {
  *req = last_sent();
  uint32_t b2;
  if (req->code != EC_COAP_GET || req->tkl != 4 ||
      memcmp(req->token, tok, 3) != 0 || req->token[3] != (tok[3] ^ 0x80) ||
      ec_coap_opt_uint(req, EC_COAP_OPT_BLOCK2, &b2) != 1 || (b2 & 7) != 0) {
    return -1;
  }
  return (int)(b2 >> 4);
}

static uint8_t body[64];
static uint8_t rep[40];

/* Start a GET whose answer is reassembled into @p cap bytes of body; its
 * request, and its token in @p tok. */
static ec_coap_msg_t start_big(size_t cap, uint8_t tok[4]) {
  int xid = ec_dev_get(&dev, "big", false, rq, sizeof rq, on_answer, NULL);
  DCHECK(xid >= 0 && ec_dev_set_body(&dev, xid, body, cap) == 0);
  ec_coap_msg_t req = last_sent();
  memcpy(tok, req.token, 4);
  return req;
}

static void xchg_block2(void) {
  for (size_t i = 0; i < sizeof rep; i++) {
    rep[i] = (uint8_t)('a' + i % 26);
  }
  reset(&dev, 4);
  uint8_t tok[4];
  ec_coap_msg_t req = start_big(sizeof body, tok), fu;
  /* Three blocks of 16 bytes: 16 + 16 + 8. */
  feed_block(EC_COAP_ACK, req.mid, tok, -1, "e1", 0x08, 40, rep, 16);
  DCHECK(got.calls == 0 && asked_block(tok, &fu) == 1);
  feed_block(EC_COAP_ACK, fu.mid, fu.token, -1, "e1", 0x18, 0, rep + 16, 16);
  DCHECK(got.calls == 0 && asked_block(tok, &fu) == 2);
  /* A follow-up is retransmitted like any confirmable request. */
  unsigned before = n_sent;
  ec_dev_step(&dev, fake_now + 3000, NULL, 0);
  DCHECK(n_sent == before + 1 && asked_block(tok, &fu) == 2);
  feed_block(EC_COAP_ACK, fu.mid, fu.token, -1, "e1", 0x20, 0, rep + 32, 8);
  DCHECK(got.calls == 1 && got.last.result == 0 && !got.last.more &&
         got.last.payload_len == 40 &&
         memcmp(got.last.payload, rep, 40) == 0);

  /* The ETag changes after block 0: start again from block 0. */
  req = start_big(sizeof body, tok);
  feed_block(EC_COAP_ACK, req.mid, tok, -1, "e1", 0x08, 40, rep, 16);
  DCHECK(asked_block(tok, &fu) == 1);
  feed_block(EC_COAP_ACK, fu.mid, fu.token, -1, "e2", 0x18, 0, rep + 16, 16);
  DCHECK(got.calls == 1 && asked_block(tok, &fu) == 0);
  feed_block(EC_COAP_ACK, fu.mid, fu.token, -1, "e2", 0x08, 40, rep, 16);
  DCHECK(asked_block(tok, &fu) == 1);
  feed_block(EC_COAP_ACK, fu.mid, fu.token, -1, "e2", 0x18, 0, rep + 16, 16);
  DCHECK(asked_block(tok, &fu) == 2);
  feed_block(EC_COAP_ACK, fu.mid, fu.token, -1, "e2", 0x20, 0, rep + 32, 8);
  DCHECK(got.calls == 2 && got.last.payload_len == 40);

  /* Size2 past the buffer, or a whole that does not add up to Size2. */
  req = start_big(32, tok);
  feed_block(EC_COAP_ACK, req.mid, req.token, -1, "e1", 0x08, 40, rep, 16);
  DCHECK(got.calls == 3 && got.last.result == EC_ETOOBIG);
  req = start_big(sizeof body, tok);
  feed_block(EC_COAP_ACK, req.mid, tok, -1, "e1", 0x08, 30, rep, 16);
  DCHECK(asked_block(tok, &fu) == 1);
  feed_block(EC_COAP_ACK, fu.mid, fu.token, -1, "e1", 0x10, 0, rep + 16, 16);
  DCHECK(got.calls == 4 && got.last.result == EC_EPROTO);
  /* Without a buffer, block 0 is passed on with more set. */
  DCHECK(ec_dev_get(&dev, "big", false, rq, sizeof rq, on_answer, NULL) >= 0);
  req = last_sent();
  feed_block(EC_COAP_ACK, req.mid, req.token, -1, "e1", 0x08, 40, rep, 16);
  DCHECK(got.calls == 5 && got.last.more && got.last.payload_len == 16);
}

/* A block-wise notification: block 0 comes with Observe, the rest is asked
 * for, and the whole is passed on as the notification. */
static void xchg_observe_block2(void) {
  reset(&dev, 5);
  int xid = ec_dev_observe(&dev, "dev1", UUID, rq, sizeof rq, on_answer, NULL);
  DCHECK(xid >= 0 && ec_dev_set_body(&dev, xid, body, sizeof body) == 0);
  ec_coap_msg_t req = last_sent(), fu;
  uint8_t tok[4];
  memcpy(tok, req.token, 4);
  feed_block(EC_COAP_ACK, req.mid, tok, 3, "e1", 0x08, 40, rep, 16);
  DCHECK(asked_block(tok, &fu) == 1);
  feed_block(EC_COAP_ACK, fu.mid, fu.token, -1, "e1", 0x18, 0, rep + 16, 16);
  feed_block(EC_COAP_ACK, last_sent().mid, last_sent().token, -1, "e1", 0x20,
             0, rep + 32, 8);
  DCHECK(got.calls == 1 && got.last.observing && got.last.observe == 3 &&
         got.last.payload_len == 40);
  /* The next notification, block-wise too, on the observation's token. */
  fake_now += 100;
  feed_block(EC_COAP_NON, 0x300, tok, 4, "e2", 0x08, 40, rep, 16);
  DCHECK(got.calls == 1 && asked_block(tok, &fu) == 1);
  feed_block(EC_COAP_ACK, fu.mid, fu.token, -1, "e2", 0x18, 0, rep + 16, 16);
  feed_block(EC_COAP_ACK, last_sent().mid, last_sent().token, -1, "e2", 0x20,
             0, rep + 32, 8);
  DCHECK(got.calls == 2 && got.last.observing && got.last.observe == 4);
  /* Re-registration sends the request as it was, with its own token and no
   * Block2. */
  fake_now += 200000;
  ec_dev_step(&dev, fake_now, NULL, 0);
  req = last_sent();
  uint32_t b2;
  DCHECK(req.code == EC_COAP_GET && memcmp(req.token, tok, 4) == 0 &&
         ec_coap_opt_uint(&req, EC_COAP_OPT_BLOCK2, &b2) == 0);
}

/* A report too large for one datagram goes block-wise (Block1), each
 * block on 2.31 Continue, in the server's smaller block size if it asks. */
static char comp_names[40][16];
static ec_dev_component_t many[40];
static uint8_t big_rq[3072];

static int sent_block1(ec_coap_msg_t *req, uint32_t *size1) {
  *req = last_sent();
  uint32_t b1;
  *size1 = 0;
  (void)ec_coap_opt_uint(req, 60, size1);
  return ec_coap_opt_uint(req, EC_COAP_OPT_BLOCK1, &b1) == 1 ? (int)b1 : -1;
}

static void feed_b1(uint16_t mid, const uint8_t *tok, uint8_t code, uint32_t b1) {
  uint8_t buf[32];
  ec_coap_build_t b;
  ec_coap_start(&b, buf, sizeof buf, EC_COAP_ACK, code, mid, tok, 4);
  ec_coap_add_uint(&b, EC_COAP_OPT_BLOCK1, b1);
  int n = ec_coap_finish(&b);
  ec_dev_step(&dev, fake_now, buf, n > 0 ? (size_t)n : 0);
}

/* A report of 40 components: past one datagram. */
static ec_dev_status_t many_of(void) {
  for (int i = 0; i < 40; i++) {
    memcpy(comp_names[i], "component-00", 13);
    comp_names[i][10] = (char)('0' + i / 10);
    comp_names[i][11] = (char)('0' + i % 10);
    many[i] = (ec_dev_component_t){comp_names[i], EC_DEV_INSTALLED, {NULL, NULL, NULL}};
  }
  ec_dev_status_t st = ec_test_sample;
  st.components = many;
  st.n_components = 40;
  return st;
}

static void xchg_block1(void) {
  ec_dev_status_t st = many_of();
  int n = ec_dev_status_encode(&st, NULL, 0);
  DCHECK(n > 1152 && n < 2048);
  for (int smaller = 0; smaller < 2; smaller++) {
    reset(&dev, 6);
    DCHECK(ec_dev_report(&dev, "dev1", &st, big_rq, sizeof big_rq, on_answer,
                         NULL) == 0);
    ec_coap_msg_t req;
    uint32_t size1;
    DCHECK(sent_block1(&req, &size1) == 0x0e && size1 == (uint32_t)n);
    DCHECK(req.payload_len == 1024 && sent_len[0] < 1152);
    uint8_t tok[4];
    memcpy(tok, req.token, 4);
    /* Continue; the server may ask for 512-byte blocks from here on. */
    feed_b1(req.mid, tok, EC_COAP_CODE(2, 31), smaller ? 0x0d : 0x0e);
    /* The rest (under 512 bytes) is block 1 of 1024, or block 2 of 512. */
    DCHECK(sent_block1(&req, &size1) == (smaller ? 0x25 : 0x16));
    DCHECK(req.payload_len == (size_t)n - 1024 && n - 1024 < 512);
    DCHECK(got.calls == 0);
    feed_b1(req.mid, tok, EC_COAP_CODE(2, 1), (uint32_t)sent_block1(&req, &size1));
    DCHECK(got.calls == 1 && got.last.code == EC_COAP_CODE(2, 1));
  }
  /* Too small a buffer for the report and one block. */
  DCHECK(ec_dev_report(&dev, "dev1", &st, big_rq, 2000, on_answer, NULL) ==
         EC_ENOSPC);
}

/* Every report carries a Request-Id (option 65004) of 12 bytes from the
 * transport's random source, the same in its retransmissions and in each
 * of its blocks, and another one in the next report. */
static void xchg_request_id(void) {
  const uint8_t *v;
  size_t len;
  reset(&dev, 0x5a);
  DCHECK(ec_dev_report(&dev, "dev1", &ec_test_sample, rq, sizeof rq, on_answer, NULL) == 0);
  ec_coap_msg_t req = last_sent();
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_REQUEST_ID, 0, &v, &len) == 1 &&
         len == 12 && v[0] == 0x5a && v[11] == 0x5a);
  DCHECK(req.payload_len == sizeof ec_test_report_cbor &&
         memcmp(req.payload, ec_test_report_cbor, sizeof ec_test_report_cbor) == 0);
  ec_dev_step(&dev, fake_now + 3000, NULL, 0);
  DCHECK(n_sent == 2 && sent_len[1] == sent_len[0] &&
         memcmp(sent[1], sent[0], sent_len[0]) == 0);
  feed(&dev, EC_COAP_ACK, EC_COAP_CODE(2, 1), req.mid, &req, -1, -1);
  DCHECK(got.calls == 1);
  fake_random = 0x33;
  DCHECK(ec_dev_report(&dev, "dev1", &ec_test_sample, rq, sizeof rq, on_answer, NULL) == 0);
  req = last_sent();
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_REQUEST_ID, 0, &v, &len) == 1 &&
         len == 12 && v[0] == 0x33);
  /* Block-wise: each block has it, after Block1 and Size1. */
  ec_dev_status_t st = many_of();
  reset(&dev, 0x77);
  DCHECK(ec_dev_report(&dev, "dev1", &st, big_rq, sizeof big_rq, on_answer,
                       NULL) == 0);
  uint32_t size1;
  int b1 = sent_block1(&req, &size1);
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_REQUEST_ID, 0, &v, &len) == 1 &&
         len == 12 && v[0] == 0x77 && b1 == 0x0e);
  uint8_t tok[4];
  memcpy(tok, req.token, 4);
  feed_b1(req.mid, tok, EC_COAP_CODE(2, 31), 0x0e);
  DCHECK(sent_block1(&req, &size1) == 0x16);
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_REQUEST_ID, 0, &v, &len) == 1 &&
         len == 12 && v[11] == 0x77);
  /* A buffer that holds the report but not its Request-Id and options. */
  reset(&dev, 1);
  DCHECK(ec_dev_report(&dev, "dev1", &ec_test_sample, rq, sizeof ec_test_report_cbor + 11,
                       on_answer, NULL) == EC_ENOSPC);
  DCHECK(ec_dev_report(&dev, "dev1", &ec_test_sample, rq, sizeof ec_test_report_cbor + 100,
                       on_answer, NULL) == EC_ENOSPC);
  DCHECK(n_sent == 0);
}

/* A piggybacked 4.01 with Echo @p val (RFC 9175) for @p req, fed to the
 * core. */
static void feed_echo(const ec_coap_msg_t *req, const char *val, size_t len) {
  uint8_t buf[64];
  ec_coap_build_t b;
  ec_coap_start(&b, buf, sizeof buf, EC_COAP_ACK, EC_COAP_CODE(4, 1), req->mid,
                req->token, 4);
  ec_coap_add(&b, EC_COAP_OPT_ECHO, val, len);
  int n = ec_coap_finish(&b);
  ec_dev_step(&dev, fake_now, buf, n > 0 ? (size_t)n : 0);
}

/* ---- requests of any kind (device/core/request.c) --------------------- */

/* Option @p num (occurrence @p idx) of @p m equals @p want. */
static bool opt_is(const ec_coap_msg_t *m, uint16_t num, unsigned idx,
                   const char *want) {
  const uint8_t *v;
  size_t n;
  return ec_coap_opt(m, num, idx, &v, &n) == 1 && n == strlen(want) &&
         memcmp(v, want, n) == 0;
}

static const ec_dev_req_t fetch_rq = {EC_COAP_FETCH, "a/b%2Fc?x=1&&y=%26", 60,
                                      60, (const uint8_t *)"abc", 3, 65000,
                                      (const uint8_t *)"tok", 3};

static void req_build(void) {
  reset(&dev, 8);
  DCHECK(ec_dev_request(&dev, &fetch_rq, false, rq, sizeof rq, on_answer,
                        NULL) == 0);
  ec_coap_msg_t m = last_sent();
  uint32_t v = 0;
  DCHECK(m.type == EC_COAP_CON && m.code == EC_COAP_FETCH && m.tkl == 4);
  DCHECK(opt_is(&m, EC_COAP_OPT_URI_PATH, 0, "a") &&
         opt_is(&m, EC_COAP_OPT_URI_PATH, 1, "b/c") &&
         !opt_is(&m, EC_COAP_OPT_URI_PATH, 2, ""));
  DCHECK(opt_is(&m, EC_COAP_OPT_URI_QUERY, 0, "x=1") &&
         opt_is(&m, EC_COAP_OPT_URI_QUERY, 1, "y=&"));
  DCHECK(ec_coap_opt_uint(&m, EC_COAP_OPT_CONTENT_FORMAT, &v) == 1 && v == 60);
  DCHECK(ec_coap_opt_uint(&m, EC_COAP_OPT_ACCEPT, &v) == 1 && v == 60);
  DCHECK(opt_is(&m, 65000, 0, "tok"));
  DCHECK(m.payload_len == 3 && memcmp(m.payload, "abc", 3) == 0);
  feed(&dev, EC_COAP_ACK, EC_COAP_CODE(2, 5), m.mid, &m, -1, -1);
  DCHECK(got.calls == 1 && got.last.code == EC_COAP_CODE(2, 5));
  /* A bad %XX, a segment past 255 bytes, an option the engine's would
   * follow: refused, and no exchange is taken. */
  static char longseg[300];
  memset(longseg, 'a', sizeof longseg - 1);
  ec_dev_req_t bad = fetch_rq;
  bad.path = "a%2";
  DCHECK(ec_dev_request(&dev, &bad, false, rq, sizeof rq, NULL, NULL) == EC_EINVAL);
  bad.path = longseg;
  DCHECK(ec_dev_request(&dev, &bad, false, rq, sizeof rq, NULL, NULL) == EC_EINVAL);
  bad.path = "a";
  bad.opt_num = EC_COAP_OPT_BLOCK2;
  DCHECK(ec_dev_request(&dev, &bad, false, rq, sizeof rq, NULL, NULL) == EC_EINVAL);
  DCHECK(ec_dev_request(&dev, &fetch_rq, false, rq, 20, NULL, NULL) == EC_ENOSPC);
  DCHECK(ec_dev_request(&dev, &fetch_rq, false, rq, sizeof rq, NULL, NULL) == 0);
}

/* A FETCH's answer in blocks: each later block is asked for with the body,
 * which selects the answer, and the extra option after Block2. */
static void req_block2_with_body(void) {
  reset(&dev, 9);
  int xid = ec_dev_request(&dev, &fetch_rq, false, rq, sizeof rq, on_answer, NULL);
  DCHECK(xid >= 0 && ec_dev_set_body(&dev, xid, body, sizeof body) == 0);
  ec_coap_msg_t req = last_sent(), fu;
  uint8_t tok[4];
  memcpy(tok, req.token, 4);
  feed_block(EC_COAP_ACK, req.mid, tok, -1, "e1", 0x08, 40, rep, 16);
  fu = last_sent();
  uint32_t b2 = 0;
  DCHECK(fu.code == EC_COAP_FETCH && fu.token[3] == (tok[3] ^ 0x80) &&
         ec_coap_opt_uint(&fu, EC_COAP_OPT_BLOCK2, &b2) == 1 && b2 == 0x10 &&
         opt_is(&fu, 65000, 0, "tok") && opt_is(&fu, EC_COAP_OPT_URI_QUERY, 1, "y=&") &&
         fu.payload_len == 3 && memcmp(fu.payload, "abc", 3) == 0);
  feed_block(EC_COAP_ACK, fu.mid, fu.token, -1, "e1", 0x18, 0, rep + 16, 16);
  fu = last_sent();
  feed_block(EC_COAP_ACK, fu.mid, fu.token, -1, "e1", 0x20, 0, rep + 32, 8);
  DCHECK(got.calls == 1 && got.last.result == 0 && got.last.payload_len == 40 &&
         memcmp(got.last.payload, rep, 40) == 0);
}

static uint8_t big_body[1500];

/* A body past one datagram goes in blocks (Block1), each with the extra
 * option; an answer in blocks after it is asked for without the body. */
static void req_block1_then_block2(void) {
  for (size_t i = 0; i < sizeof big_body; i++) {
    big_body[i] = (uint8_t)i;
  }
  ec_dev_req_t post = {EC_COAP_POST, "m", 60, 60, big_body, sizeof big_body,
                       65000, (const uint8_t *)"tok", 3};
  reset(&dev, 10);
  int xid = ec_dev_request(&dev, &post, false, big_rq, sizeof big_rq,
                           on_answer, NULL);
  DCHECK(xid >= 0 && ec_dev_set_body(&dev, xid, body, sizeof body) == 0);
  ec_coap_msg_t req;
  uint32_t size1, b2 = 0;
  DCHECK(sent_block1(&req, &size1) == 0x0e && size1 == sizeof big_body);
  DCHECK(req.payload_len == 1024 && memcmp(req.payload, big_body, 1024) == 0 &&
         opt_is(&req, 65000, 0, "tok"));
  uint8_t tok[4];
  memcpy(tok, req.token, 4);
  feed_b1(req.mid, tok, EC_COAP_CODE(2, 31), 0x0e);
  DCHECK(sent_block1(&req, &size1) == 0x16 && req.payload_len == 476 &&
         memcmp(req.payload, big_body + 1024, 476) == 0 &&
         opt_is(&req, 65000, 0, "tok"));
  /* The answer to the last block is block 0 of a larger one. */
  feed_block(EC_COAP_ACK, req.mid, tok, -1, "e1", 0x08, 40, rep, 16);
  ec_coap_msg_t fu = last_sent();
  DCHECK(got.calls == 0 && fu.code == EC_COAP_POST &&
         ec_coap_opt_uint(&fu, EC_COAP_OPT_BLOCK2, &b2) == 1 && b2 == 0x10 &&
         ec_coap_opt_uint(&fu, EC_COAP_OPT_BLOCK1, &b2) == 0 &&
         opt_is(&fu, 65000, 0, "tok") && fu.payload == NULL);
  feed_block(EC_COAP_ACK, fu.mid, fu.token, -1, "e1", 0x18, 0, rep + 16, 16);
  fu = last_sent();
  feed_block(EC_COAP_ACK, fu.mid, fu.token, -1, "e1", 0x20, 0, rep + 32, 8);
  DCHECK(got.calls == 1 && got.last.result == 0 && got.last.payload_len == 40);
}

/* A 4.01 with Echo: a POST goes again once with the value, its extra
 * option and its body. */
static void req_echo(void) {
  ec_dev_req_t post = {EC_COAP_POST, "login", 60, 60, (const uint8_t *)"xy", 2,
                       65000, (const uint8_t *)"t", 1};
  reset(&dev, 11);
  DCHECK(ec_dev_request(&dev, &post, false, rq, sizeof rq, on_answer, NULL) == 0);
  ec_coap_msg_t req = last_sent();
  feed_echo(&req, "ECHO", 4);
  ec_coap_msg_t again = last_sent();
  DCHECK(got.calls == 0 && again.mid != req.mid && again.code == EC_COAP_POST &&
         opt_is(&again, EC_COAP_OPT_ECHO, 0, "ECHO") && opt_is(&again, 65000, 0, "t") &&
         again.payload_len == 2 && memcmp(again.payload, "xy", 2) == 0);
  feed(&dev, EC_COAP_ACK, EC_COAP_CODE(2, 1), again.mid, &again, -1, -1);
  DCHECK(got.calls == 1 && got.last.code == EC_COAP_CODE(2, 1));
}

/* An observation ended on the server: the registration again with
 * Observe 1 on its token; its answer ends the exchange. */
static void req_unobserve(void) {
  ec_dev_req_t get = {EC_COAP_GET, "s?q=1", -1, 60, NULL, 0, 65000,
                      (const uint8_t *)"t", 1};
  reset(&dev, 12);
  int xid = ec_dev_request(&dev, &get, true, rq, sizeof rq, on_answer, NULL);
  DCHECK(xid == 0 && ec_dev_unobserve(&dev, 1) == EC_EINVAL);
  ec_coap_msg_t reg = last_sent(), de;
  uint32_t v = 9;
  DCHECK(ec_coap_opt_uint(&reg, EC_COAP_OPT_OBSERVE, &v) == 1 && v == 0);
  feed(&dev, EC_COAP_ACK, EC_COAP_CODE(2, 5), reg.mid, &reg, 3, 60);
  DCHECK(got.calls == 1 && got.last.observing);
  DCHECK(ec_dev_unobserve(&dev, xid) == 0);
  de = last_sent();
  DCHECK(de.mid != reg.mid && memcmp(de.token, reg.token, 4) == 0 &&
         ec_coap_opt_uint(&de, EC_COAP_OPT_OBSERVE, &v) == 1 && v == 1 &&
         opt_is(&de, EC_COAP_OPT_URI_QUERY, 0, "q=1") && opt_is(&de, 65000, 0, "t"));
  feed(&dev, EC_COAP_ACK, EC_COAP_CODE(2, 5), de.mid, &de, -1, -1);
  DCHECK(got.calls == 2 && !got.last.observing && got.last.result == 0);
  DCHECK(ec_dev_step(&dev, fake_now, NULL, 0) == EC_DEV_IDLE);
  /* Only observations of ec_dev_request() can be ended so. */
  DCHECK(ec_dev_observe(&dev, "d", UUID, rq, sizeof rq, on_answer, NULL) == 0 &&
         ec_dev_unobserve(&dev, 0) == EC_EINVAL);
}

/* A provisioning read: the route, the query and the token (option 65000,
 * after every other option), kept through an Echo challenge and in the
 * follow-up GETs of a block-wise answer. */
static bool has_token(const ec_coap_msg_t *m, const uint8_t *tok) {
  const uint8_t *v;
  size_t len;
  return ec_coap_opt(m, EC_COAP_OPT_AUTH_TOKEN, 0, &v, &len) == 1 &&
         len == 32 && memcmp(v, tok, 32) == 0;
}

static void xchg_prov_get(void) {
  uint8_t tok[32];
  for (int i = 0; i < 32; i++) {
    tok[i] = (uint8_t)(0xA0 + i);
  }
  reset(&dev, 7);
  DCHECK(ec_dev_prov_get(&dev, 11, tok, 31, false, rq, sizeof rq, on_answer,
                         NULL) == EC_EINVAL);
  DCHECK(ec_dev_prov_get(&dev, 11, tok, 32, false, rq, 60, on_answer, NULL) ==
         EC_ENOSPC);
  int xid = ec_dev_prov_get(&dev, 4294967295u, tok, 32, false, rq, 150,
                            on_answer, NULL);
  DCHECK(xid >= 0 && ec_dev_set_body(&dev, xid, body, sizeof body) == 0);
  ec_coap_msg_t req = last_sent(), fu;
  const uint8_t *v;
  size_t len;
  uint32_t u;
  DCHECK(req.code == EC_COAP_GET && has_token(&req, tok));
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_URI_PATH, 0, &v, &len) == 1 &&
         len == 2 && memcmp(v, "v1", 2) == 0);
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_URI_PATH, 1, &v, &len) == 1 &&
         len == 28 && memcmp(v, "DeviceProvisioningComponents", 28) == 0);
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_URI_QUERY, 0, &v, &len) == 1 &&
         len == 26 && memcmp(v, "provisioning_id=4294967295", 26) == 0);
  DCHECK(ec_coap_opt_uint(&req, EC_COAP_OPT_ACCEPT, &u) == 1 && u == 60);
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_OBSERVE, 0, &v, &len) == 0);
  /* 4.01 with Echo: again with the value, before the token. */
  feed_echo(&req, "\x01\x02\x03", 3);
  req = last_sent();
  DCHECK(got.calls == 0 && req.code == EC_COAP_GET && has_token(&req, tok));
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_ECHO, 0, &v, &len) == 1 && len == 3);
  /* A block-wise answer: each follow-up carries the token too. */
  uint8_t t4[4];
  memcpy(t4, req.token, 4);
  feed_block(EC_COAP_ACK, req.mid, t4, -1, "e1", 0x08, 20, rep, 16);
  DCHECK(asked_block(t4, &fu) == 1 && has_token(&fu, tok));
  feed_block(EC_COAP_ACK, fu.mid, fu.token, -1, "e1", 0x10, 0, rep + 16, 4);
  DCHECK(got.calls == 1 && got.last.result == 0 && got.last.payload_len == 20);
  /* Smallest id, observed. */
  DCHECK(ec_dev_prov_get(&dev, 0, tok, 32, true, rq, sizeof rq, on_answer,
                         NULL) >= 0);
  req = last_sent();
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_OBSERVE, 0, &v, &len) == 1 &&
         has_token(&req, tok));
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_URI_QUERY, 0, &v, &len) == 1 &&
         len == 17 && memcmp(v, "provisioning_id=0", 17) == 0);
}

/* ---- status messages posted ---------------------------------------- */

/* {"messageDate": "2018-06-17T14:50:10.033Z", "messageCode": 101,
 * "orderId": "O1", "macAddress": ["fe:00:ae:35:44:ac"]}, as the codec's
 * ec_status_message_encode(CBOR) writes it. */
static const uint8_t msg_cbor[] =
    "\xa4\x6bmessageDate\x78\x18" "2018-06-17T14:50:10.033Z"
    "\x6bmessageCode\x18\x65\x67orderId\x62O1"
    "\x6amacAddress\x81\x71" "fe:00:ae:35:44:ac";
static const uint64_t msg_macs[] = {0xfe00ae3544acULL};
static const ec_dev_msg_new_t msg_sample = {
    .code = 101, .has_date = true, .date_ms = 1529247010033,
    .order_id = "O1", .macs = msg_macs, .n_macs = 1};

static void cbor_message_post(void) {
  uint8_t buf[128];
  int n = ec_dev_msgs_encode(&msg_sample, 1, false, buf, sizeof buf);
  DCHECK(n == (int)sizeof msg_cbor - 1 && memcmp(buf, msg_cbor, (size_t)n) == 0);
  /* A batch of one: the envelope around the same map. */
  n = ec_dev_msgs_encode(&msg_sample, 1, true, buf, sizeof buf);
  DCHECK(n == (int)sizeof msg_cbor - 1 + 17 && buf[0] == 0xa1 &&
         buf[16] == 0x81 && memcmp(buf + 17, msg_cbor, sizeof msg_cbor - 1) == 0);
  /* Dates before 1970 and at the year's end, through 64-bit division. */
  ec_dev_msg_new_t m = msg_sample;
  m.date_ms = -1;
  DCHECK(ec_dev_msgs_encode(&m, 1, false, buf, sizeof buf) == n - 17 &&
         memcmp(buf + 15, "1969-12-31T23:59:59.999Z", 24) == 0);
  m.date_ms = 253402300799999; /* 9999-12-31T23:59:59.999Z */
  DCHECK(ec_dev_msgs_encode(&m, 1, false, buf, sizeof buf) == n - 17 &&
         memcmp(buf + 15, "9999-12-31T23:59:59.999Z", 24) == 0);
  m.date_ms++;
  DCHECK(ec_dev_msgs_encode(&m, 1, false, buf, sizeof buf) == EC_EINVAL);
  m = msg_sample;
  m.access_id = "a.b"; /* accessId takes no '.' */
  DCHECK(ec_dev_msgs_encode(&m, 1, false, NULL, 0) == EC_EINVAL);
  /* The answer to a post: the stored message with its ID, read in place;
   * every truncation refused. */
  static const uint8_t stored[] =
      "\xa3\x6fstatusMessageID\x19\x12\x67\x6bmessageCode\x18\x65"
      "\x6esubscriptionId\x61S";
  ec_dev_msg_t v;
  DCHECK(ec_dev_msg_decode(stored, sizeof stored - 1, &v) == 0 &&
         v.id == 4711 && v.code == 101 && v.subscription_id.len == 1 &&
         v.order_id.ptr == NULL);
  bool refused = true;
  for (size_t cut = 0; cut < sizeof stored - 1; cut++) {
    refused = refused && ec_dev_msg_decode(ec_test_at_edge(stored, cut), cut, &v) < 0;
  }
  DCHECK(refused);
  DCHECK(ec_dev_msg_decode(msg_cbor, sizeof msg_cbor - 1, &v) == EC_EBADDOC);
}

/* A post carries the path, CBOR both ways, and a Request-Id: the
 * transport's 12 random bytes, or the caller's, the same in each
 * retransmission and block; its answer comes through the callback. */
static void xchg_msg_post(void) {
  const uint8_t *v;
  size_t len;
  reset(&dev, 0x4d);
  int user = 3;
  DCHECK(ec_dev_msg_post(&dev, &msg_sample, 1, false, NULL, 0, rq, sizeof rq,
                         on_answer, &user) == 0);
  ec_coap_msg_t req = last_sent();
  static const char *const seg[] = {"api", "2.3", "statusmessages"};
  for (unsigned i = 0; i < 3; i++) {
    DCHECK(ec_coap_opt(&req, EC_COAP_OPT_URI_PATH, i, &v, &len) == 1 &&
           len == strlen(seg[i]) && memcmp(v, seg[i], len) == 0);
  }
  uint32_t u = 0;
  DCHECK(req.code == EC_COAP_POST && req.type == EC_COAP_CON);
  DCHECK(ec_coap_opt_uint(&req, EC_COAP_OPT_CONTENT_FORMAT, &u) == 1 && u == 60);
  DCHECK(ec_coap_opt_uint(&req, EC_COAP_OPT_ACCEPT, &u) == 1 && u == 60);
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_REQUEST_ID, 0, &v, &len) == 1 &&
         len == 12 && v[0] == 0x4d && v[11] == 0x4d);
  DCHECK(req.payload_len == sizeof msg_cbor - 1 &&
         memcmp(req.payload, msg_cbor, req.payload_len) == 0);
  ec_dev_step(&dev, fake_now + 3000, NULL, 0);
  DCHECK(n_sent == 2 && sent_len[1] == sent_len[0] &&
         memcmp(sent[1], sent[0], sent_len[0]) == 0);
  feed(&dev, EC_COAP_ACK, EC_COAP_CODE(2, 1), req.mid, &req, -1, -1);
  DCHECK(got.calls == 1 && got.user == &user &&
         got.last.code == EC_COAP_CODE(2, 1));
  /* The caller's Request-Id, of 16 bytes (a longer option header). */
  static const uint8_t rid[16] = "boot0001-msg0042";
  DCHECK(ec_dev_msg_post(&dev, &msg_sample, 1, false, rid, 16, rq, sizeof rq,
                         on_answer, NULL) >= 0);
  req = last_sent();
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_REQUEST_ID, 0, &v, &len) == 1 &&
         len == 16 && memcmp(v, rid, 16) == 0);
  DCHECK(req.payload_len == sizeof msg_cbor - 1 &&
         memcmp(req.payload, msg_cbor, req.payload_len) == 0);
  ec_dev_cancel(&dev, 0);
  /* Refused before anything is sent: a Request-Id of a wrong length, a
   * bad message, too small a buffer. */
  unsigned before = n_sent;
  DCHECK(ec_dev_msg_post(&dev, &msg_sample, 1, false, rid, 7, rq, sizeof rq,
                         on_answer, NULL) == EC_EINVAL);
  DCHECK(ec_dev_msg_post(&dev, &msg_sample, 1, false, rid, 17, rq, sizeof rq,
                         on_answer, NULL) == EC_EINVAL);
  DCHECK(ec_dev_msg_post(&dev, &msg_sample, 1, false, NULL, 12, rq, sizeof rq,
                         on_answer, NULL) == EC_EINVAL);
  ec_dev_msg_new_t bad = msg_sample;
  bad.code = 42;
  DCHECK(ec_dev_msg_post(&dev, &bad, 1, false, NULL, 0, rq, sizeof rq,
                         on_answer, NULL) == EC_EINVAL);
  DCHECK(ec_dev_msg_post(&dev, &msg_sample, 1, false, NULL, 0, rq,
                         sizeof msg_cbor - 1 + 62, on_answer,
                         NULL) == EC_ENOSPC);
  DCHECK(n_sent == before);
  /* 39 bytes and twice the Request-Id are enough (docs/DEVICE.md). */
  DCHECK(ec_dev_msg_post(&dev, &msg_sample, 1, false, NULL, 0, rq,
                         sizeof msg_cbor - 1 + 63, on_answer, NULL) >= 0);
  DCHECK(n_sent == before + 1);
  /* A batch past one datagram goes block-wise, the Request-Id in each
   * block after Block1 (and Size1). */
  static ec_dev_msg_new_t batch[16];
  for (unsigned i = 0; i < 16; i++) {
    batch[i] = msg_sample;
  }
  int n = ec_dev_msgs_encode(batch, 16, true, NULL, 0);
  DCHECK(n > 1152 && n < 2048);
  reset(&dev, 0x21);
  DCHECK(ec_dev_msg_post(&dev, batch, 16, true, NULL, 0, big_rq, sizeof big_rq,
                         on_answer, NULL) == 0);
  uint32_t size1;
  DCHECK(sent_block1(&req, &size1) == 0x0e && size1 == (uint32_t)n);
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_REQUEST_ID, 0, &v, &len) == 1 &&
         len == 12 && v[0] == 0x21 && req.payload_len == 1024);
  uint8_t tok[4];
  memcpy(tok, req.token, 4);
  feed_b1(req.mid, tok, EC_COAP_CODE(2, 31), 0x0e);
  DCHECK(sent_block1(&req, &size1) == 0x16);
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_REQUEST_ID, 0, &v, &len) == 1 &&
         len == 12 && v[11] == 0x21 && req.payload_len == (size_t)n - 1024);
  feed_b1(req.mid, tok, EC_COAP_CODE(2, 1), 0x16);
  DCHECK(got.calls == 1 && got.last.code == EC_COAP_CODE(2, 1));
}

/* The login: {"username": "dev", "password": "pw"} as the codec writes
 * it, its answer read in place, and the POST that carries it. */
static void xchg_login(void) {
  static const uint8_t login_body[] = "\xa2\x68username\x63" "dev\x68password\x62pw";
  uint8_t buf[64];
  DCHECK(ec_dev_login_encode("dev", "pw", NULL, buf, sizeof buf) ==
             (int)sizeof login_body - 1 &&
         memcmp(buf, login_body, sizeof login_body - 1) == 0);
  DCHECK(ec_dev_login_encode(NULL, NULL, "ab", buf, sizeof buf) == 10 &&
         buf[0] == 0xa1 && buf[7] == 0x62);
  DCHECK(ec_dev_login_encode("dev", NULL, NULL, buf, sizeof buf) == EC_EINVAL);
  DCHECK(ec_dev_login_encode("dev", "pw", "t", buf, sizeof buf) == EC_EINVAL);
  static const uint8_t ok[] =
      "\xa6\x66status\x67SUCCESS\x65" "error\x60\x65token\x62" "ab"
      "\x66userid\x07\x68userrole\x66" "device\x68username\x63" "dev";
  ec_dev_login_t l;
  DCHECK(ec_dev_login_decode(ok, sizeof ok - 1, &l) == 0 && l.userid == 7 &&
         l.token.len == 2 && l.username.len == 3 && l.error.len == 0);
  bool refused = true;
  for (size_t cut = 0; cut < sizeof ok - 1; cut++) {
    refused = refused && ec_dev_login_decode(ec_test_at_edge(ok, cut), cut, &l) < 0;
  }
  DCHECK(refused);
  /* A refusal has no token; a token without its user is refused. */
  static const uint8_t no[] =
      "\xa2\x66status\x6cINVALID_USER\x65" "error\x61x";
  DCHECK(ec_dev_login_decode(no, sizeof no - 1, &l) == 0 && l.token.ptr == NULL);
  static const uint8_t half[] =
      "\xa3\x66status\x67SUCCESS\x65" "error\x60\x65token\x62" "ab";
  DCHECK(ec_dev_login_decode(half, sizeof half - 1, &l) == EC_EBADDOC);
  reset(&dev, 9);
  DCHECK(ec_dev_login(&dev, "dev", "pw", rq, sizeof rq, on_answer, NULL) == 0);
  ec_coap_msg_t req = last_sent();
  const uint8_t *v;
  size_t len;
  uint32_t u = 0;
  DCHECK(req.code == EC_COAP_POST &&
         ec_coap_opt(&req, EC_COAP_OPT_URI_PATH, 1, &v, &len) == 1 &&
         len == 5 && memcmp(v, "Login", 5) == 0);
  DCHECK(ec_coap_opt_uint(&req, EC_COAP_OPT_CONTENT_FORMAT, &u) == 1 && u == 60);
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_REQUEST_ID, 0, &v, &len) == 0);
  DCHECK(req.payload_len == sizeof login_body - 1 &&
         memcmp(req.payload, login_body, sizeof login_body - 1) == 0);
  feed(&dev, EC_COAP_ACK, EC_COAP_CODE(2, 1), req.mid, &req, -1, -1);
  DCHECK(got.calls == 1 && got.last.code == EC_COAP_CODE(2, 1));
  /* A 4.01 with Echo (the server verifying the address) is answered with
   * the request again, the value and the body. */
  reset(&dev, 9);
  DCHECK(ec_dev_login(&dev, "dev", "pw", rq + 1, sizeof rq - 1, on_answer,
                      NULL) == 0);
  req = last_sent();
  feed_echo(&req, "e-1", 3);
  req = last_sent();
  DCHECK(n_sent == 2 && got.calls == 0 && req.code == EC_COAP_POST &&
         ec_coap_opt(&req, EC_COAP_OPT_ECHO, 0, &v, &len) == 1 && len == 3 &&
         req.payload_len == sizeof login_body - 1 &&
         memcmp(req.payload, login_body, sizeof login_body - 1) == 0);
  /* Twice the body and 120 bytes are enough (docs/DEVICE.md). */
  size_t least = 0;
  for (size_t cap = 0; cap < 300 && least == 0; cap++) {
    reset(&dev, 9);
    if (ec_dev_login(&dev, "dev", "pw", rq, cap, on_answer, NULL) >= 0) {
      least = cap;
    }
  }
  DCHECK(least > 0 && least <= 2 * (sizeof login_body - 1) + 120);
}

const ec_dev_case_t ec_dev_xchg_cases[] = {
    {xchg_retransmit_timing, "xchg_retransmit_timing"},
    {xchg_piggybacked_and_separate, "xchg_piggybacked_and_separate"},
    {xchg_answer_options, "xchg_answer_options"},
    {xchg_observe, "xchg_observe"},
    {xchg_limits, "xchg_limits"},
    {xchg_block2, "xchg_block2"},
    {xchg_observe_block2, "xchg_observe_block2"},
    {xchg_block1, "xchg_block1"},
    {xchg_request_id, "xchg_request_id"},
    {req_build, "req_build"},
    {req_block2_with_body, "req_block2_with_body"},
    {req_block1_then_block2, "req_block1_then_block2"},
    {req_echo, "req_echo"},
    {req_unobserve, "req_unobserve"},
    {xchg_prov_get, "xchg_prov_get"},
    {cbor_message_post, "cbor_message_post"},
    {xchg_msg_post, "xchg_msg_post"},
    {xchg_login, "xchg_login"},
};
const size_t ec_dev_n_xchg_cases =
    sizeof ec_dev_xchg_cases / sizeof ec_dev_xchg_cases[0];
