/* edgecoap fuzz: the device core's CoAP parser (rebuilt byte for byte as oracle) and its engine fed the datagram mid-exchange. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "edgecoap/device.h"
#include "fuzz.h"

static const uint8_t *in_lo, *in_hi; /* the input, for the bounds checks */

static int inside(const uint8_t *p, size_t n) {
  return p >= in_lo && n <= (size_t)(in_hi - p);
}

/*
 * The oracle for ec_coap_parse(): header, token, options and payload cover
 * the datagram exactly; an independent walk of the options finds each one
 * through ec_coap_opt() at the same place; and ec_coap_start()/_add()/
 * _payload_room() rebuild the same bytes (CoAP's option encoding is unique,
 * so any datagram the parser accepts has one serialisation).
 */
static void check_parse(const uint8_t *data, size_t size) {
  ec_coap_msg_t m;
  if (ec_coap_parse(&m, data, size) != 0) {
    return;
  }
  FUZZ_CHECK(m.tkl <= 8 && memcmp(m.token, data + 4, m.tkl) == 0);
  FUZZ_CHECK(m.opts == data + 4 + m.tkl && inside(m.opts, m.opts_len));
  size_t tail = size - 4 - m.tkl - m.opts_len;
  if (m.payload == NULL) {
    FUZZ_CHECK(tail == 0 && m.payload_len == 0);
  } else {
    FUZZ_CHECK(m.payload == m.opts + m.opts_len + 1 && m.payload[-1] == 0xFF &&
               m.payload_len >= 1 && tail == m.payload_len + 1);
  }
  static uint8_t out[65536 + 64];
  ec_coap_build_t b;
  ec_coap_start(&b, out, sizeof out, m.type, m.code, m.mid, m.token, m.tkl);
  const uint8_t *p = m.opts, *end = m.opts + m.opts_len;
  unsigned num = 0, prev = 0xFFFFFFFFu, idx = 0;
  while (p < end) {
    unsigned d = *p >> 4, l = *p & 15;
    p++;
    if (d == 13) {
      d = 13u + *p++;
    } else if (d == 14) {
      d = 269u + ((unsigned)p[0] << 8 | p[1]);
      p += 2;
    }
    if (l == 13) {
      l = 13u + *p++;
    } else if (l == 14) {
      l = 269u + ((unsigned)p[0] << 8 | p[1]);
      p += 2;
    }
    num += d;
    idx = num == prev ? idx + 1 : 0;
    prev = num;
    FUZZ_CHECK(num <= 0xFFFF && p + l <= end);
    const uint8_t *v;
    size_t vl;
    FUZZ_CHECK(ec_coap_opt(&m, (uint16_t)num, idx, &v, &vl) == 1 && v == p &&
               vl == l);
    uint32_t u;
    int rc = ec_coap_opt_uint(&m, (uint16_t)num, &u);
    FUZZ_CHECK(rc == 1 || rc == EC_EPROTO);
    ec_coap_add(&b, (uint16_t)num, p, l);
    p += l;
  }
  FUZZ_CHECK(p == end);
  if (m.payload != NULL) {
    size_t room;
    uint8_t *pl = ec_coap_payload_room(&b, &room);
    FUZZ_CHECK(pl != NULL && room >= m.payload_len);
    memcpy(pl, m.payload, m.payload_len);
    ec_coap_payload_done(&b, m.payload_len);
  }
  int n = ec_coap_finish(&b);
  FUZZ_CHECK(n >= 0 && (size_t)n == size && memcmp(out, data, size) == 0);
}

/* The engine's platform: datagrams are checked for being CoAP the core
 * itself parses, time is the harness's, random bytes are zero so the
 * exchanges' tokens (00000000, 00000001) and Message IDs (0, 1) are fixed
 * and the corpus can answer them. */
static uint32_t now;

static int t_send(void *ctx, const uint8_t *d, size_t len) {
  (void)ctx;
  ec_coap_msg_t m;
  FUZZ_CHECK(len >= 4 && len <= EC_DEV_MAX_DATAGRAM &&
             ec_coap_parse(&m, d, len) == 0);
  return 0;
}

static uint32_t t_now(void *ctx) {
  (void)ctx;
  return now;
}

static void t_random(void *ctx, void *buf, size_t len) {
  (void)ctx;
  memset(buf, 0, len);
}

static uint8_t body[2048];

static void on_answer(ec_dev_t *dev, void *user, const ec_dev_answer_t *a) {
  (void)dev;
  (void)user;
  if (a->payload_len > 0) {
    FUZZ_CHECK(inside(a->payload, a->payload_len) ||
               (a->payload >= body &&
                a->payload_len <= (size_t)(body + sizeof body - a->payload)));
    ec_dev_status_view_t v;
    ec_dev_problem_t pr;
    (void)ec_dev_status_decode(a->payload, a->payload_len, &v, NULL, NULL);
    (void)ec_dev_problem_decode(a->payload, a->payload_len, &pr);
  }
}

static void feed_engine(const uint8_t *data, size_t size) {
  static const ec_dev_transport_t t = {t_send, t_now, t_random, NULL, NULL};
  static const ec_dev_status_t st = {
      .api_version = "deployment.margo/v1",
      .deployment_id = "a3e2f5dc-912e-494f-8395-52cf3769bc06",
      .state = EC_DEV_INSTALLING};
  static ec_dev_t dev;
  static uint8_t rq[512], ob[256], get[256];
  now = 1000;
  ec_dev_init(&dev, &t);
  FUZZ_CHECK(ec_dev_report(&dev, "dev-1", &st, rq, sizeof rq, on_answer,
                           NULL) == 0);
  int xid = ec_dev_observe(&dev, "dev-1", st.deployment_id, ob, sizeof ob,
                           on_answer, NULL);
  FUZZ_CHECK(xid == 1 && ec_dev_set_body(&dev, xid, body, sizeof body) == 0);
  FUZZ_CHECK(ec_dev_get(&dev, "api/2.3/statusmessages", false, get,
                        sizeof get, on_answer, NULL) == 2);
  (void)ec_dev_step(&dev, now, NULL, 0);
  /* Twice: the second copy is a retransmission for a CON. */
  (void)ec_dev_step(&dev, now, data, size);
  (void)ec_dev_step(&dev, now + 10, data, size);
  /* Then let every deadline pass, so each exchange ends or re-registers. */
  for (int i = 0; i < 8; i++) {
    now += 40000;
    (void)ec_dev_step(&dev, now, NULL, 0);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  in_lo = data;
  in_hi = data + size;
  check_parse(data, size);
  feed_engine(data, size);
  return 0;
}
