/* edgecoap: hostile input: random, truncated and mutated datagrams. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <CUnit/CUnit.h>

#include "edgecoap/codec.h"
#include "it_hostile.h"
#include "it_prov_util.h"

#define N_RANDOM 3000
#define N_SOCKS 8

/* ------------------------------------------------------------------------ */
/* 2. Random, truncated and mutated datagrams                                */

static const uint16_t opt_nums[] = {1,  3,  4,  5,   6,    7,     8,    11,
                                    12, 14, 15, 17,  20,   23,    27,   28,
                                    35, 39, 60, 258, 2049, 65000, 65001};

static void random_bytes(bb_t *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    bb_byte(b, (uint8_t)rnd());
}

/* A payload for a body: bytes, JSON-ish text or CBOR-ish bytes. */
static void random_payload(bb_t *b) {
  static const char alphabet[] = "{}[]\":,0123456789.eE-+truefalsnl\\u ";
  size_t n = rnd() % 600;
  switch (rnd() % 3) {
  case 0:
    random_bytes(b, n);
    break;
  case 1:
    bb_byte(b, '{');
    for (size_t i = 0; i < n; i++)
      bb_byte(b, (uint8_t)alphabet[rnd() % (sizeof(alphabet) - 1)]);
    break;
  default:
    bb_byte(b, (uint8_t)(0xa0 | rnd() % 32));
    for (size_t i = 0; i < n; i++) {
      static const uint8_t heads[] = {0x00, 0x18, 0x1b, 0x3b, 0x61, 0x7f,
                                      0x80, 0x9f, 0xa1, 0xbf, 0xc0, 0xf4,
                                      0xf7, 0xf9, 0xfb, 0xff, 0x5f, 0x7b};
      bb_byte(b, rnd() % 2 ? heads[rnd() % sizeof(heads)] : (uint8_t)rnd());
    }
  }
}

/* A well-framed request with random options (often one of the APIs' paths)
 * and a random payload. */
static void random_framed(bb_t *out, it_coap_msg_t *m) {
  static const uint8_t codes[] = {1, 2, 3, 4, 5, 6, 7};
  uint8_t tok[8];
  size_t tkl = rnd() % 9;
  for (size_t i = 0; i < tkl; i++)
    tok[i] = (uint8_t)rnd();
  int code = rnd() % 4 ? codes[rnd() % sizeof(codes)] : (int)(rnd() % 256);
  it_coap_init(m, (int)(rnd() % 4), code, (uint16_t)rnd(), tok, tkl);
  if (rnd() % 2) {
    const api_t *api = &apis[rnd() % N_APIS];
    it_coap_add_path(m, api->path);
    if (api->prov && rnd() % 2)
      it_coap_add_opt(m, EC_PROV_AUTH_OPTION, token, strlen(token));
  }
  int n_opts = (int)(rnd() % 6);
  uint8_t val[300];
  for (int i = 0; i < n_opts; i++) {
    uint16_t num =
        rnd() % 5 ? opt_nums[rnd() % (sizeof(opt_nums) / sizeof(opt_nums[0]))]
                  : (uint16_t)rnd();
    size_t len = rnd() % 10 ? rnd() % 9 : rnd() % sizeof(val);
    for (size_t k = 0; k < len; k++)
      val[k] = (uint8_t)rnd();
    it_coap_add_opt(m, num, val, len);
  }
  bb_t body = {0};
  if (rnd() % 4)
    random_payload(&body);
  it_coap_set_payload(m, body.p, body.len);
  uint8_t dgram[IT_COAP_MAX_DGRAM];
  ssize_t n = it_coap_encode(m, dgram, sizeof(dgram));
  if (n > 0)
    bb_put(out, dgram, (size_t)n);
  else
    random_bytes(out, 16);
  free(body.p);
}

/* A valid request to one of the APIs, truncated or with bytes flipped. */
static void broken_valid(bb_t *out, it_coap_msg_t *m) {
  static const struct {
    int api;
    const char *body;
  } bases[] = {
      {API_DEP, DEP_DOC_HEAD DEP_DOC_COMPONENTS "}"},
      {API_MSG_POST, "{\"messageCode\":101,\"orderId\":\"fuzz\","
                     "\"macAddress\":[\"aa:bb:cc:dd:ee:ff\"]}"},
      {API_MSG_POST, "{\"StatusMessages\":[{\"messageCode\":102,"
                     "\"accessId\":\"fuzz\"}]}"},
      {API_MSG_FETCH, "{\"orderId\":\"fuzz\",\"limit\":5}"},
      {API_PROV, "{\"action\":\"select\",\"provisioning_id\":11}"},
      {API_PROV, "{\"action\":\"update\",\"provisioning_id\":13,"
                 "\"component_type\":\"Sensor\",\"component_id\":[1],"
                 "\"active_status\":1}"},
  };
  size_t which = rnd() % (sizeof(bases) / sizeof(bases[0]));
  const api_t *api = &apis[bases[which].api];
  uint8_t tok[4], cbor[512];
  const void *body = bases[which].body;
  size_t blen = strlen(bases[which].body);
  int cf = EC_FORMAT_JSON;
  if (rnd() % 2) {
    ssize_t n = ec_json_to_cbor(body, blen, cbor, sizeof(cbor));
    if (n > 0) {
      body = cbor;
      blen = (size_t)n;
      cf = EC_FORMAT_CBOR;
    }
  }
  it_udp_token(&udp, tok);
  it_coap_init(m, IT_CON, api->method, (uint16_t)rnd(), tok, sizeof(tok));
  it_coap_add_path(m, api->path);
  it_coap_add_uint(m, IT_OPT_CONTENT_FORMAT, (uint32_t)cf);
  if (api->prov)
    it_coap_add_opt(m, EC_PROV_AUTH_OPTION, token, strlen(token));
  it_coap_set_payload(m, body, blen);
  uint8_t dgram[IT_COAP_MAX_DGRAM];
  ssize_t n = it_coap_encode(m, dgram, sizeof(dgram));
  if (n <= 1) {
    random_bytes(out, 8);
    return;
  }
  if (rnd() % 2) {
    bb_put(out, dgram, 1 + rnd() % (size_t)(n - 1)); /* truncated */
  } else {
    int flips = 1 + (int)(rnd() % 3);
    for (int i = 0; i < flips; i++)
      dgram[rnd() % (size_t)n] ^= (uint8_t)(1u << (rnd() % 8));
    bb_put(out, dgram, (size_t)n);
  }
}

/* Answers to the random datagrams, by class; 5.00s are kept to be shown. */
static int answer_classes[8];
static int server_errors;

static void drain(it_udp_t *socks, int n, unsigned wait_ms) {
  struct pollfd pfd[N_SOCKS];
  uint8_t buf[IT_COAP_MAX_DGRAM];
  ssize_t len;
  for (int i = 0; i < n; i++)
    pfd[i] = (struct pollfd){socks[i].fd, POLLIN, 0};
  if (poll(pfd, (nfds_t)n, (int)wait_ms) <= 0)
    return;
  for (int i = 0; i < n; i++) {
    while ((len = it_udp_recv(&socks[i], buf, sizeof(buf), 0)) >= 4) {
      answer_classes[buf[1] >> 5]++;
      if (buf[1] == IT_CODE(5, 0) && server_errors++ < 5)
        fprintf(stderr, "\nit_hostile: 5.00 to a random datagram: %.*s\n",
                (int)(len > 200 ? 200 : len), (const char *)buf);
    }
  }
}

void test_random_datagrams(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  it_udp_t socks[N_SOCKS];
  it_coap_msg_t *m = itp_msg_new();
  int kinds[3] = {0, 0, 0};
  uint64_t t0 = it_now_ms();
  memset(answer_classes, 0, sizeof(answer_classes));
  server_errors = 0;
  for (int i = 0; i < N_SOCKS; i++)
    CU_ASSERT_EQUAL_FATAL(it_udp_open(&socks[i], srv.port), 0);
  for (int i = 0; i < N_RANDOM; i++) {
    bb_t d = {0};
    int kind = i % 3;
    kinds[kind]++;
    if (kind == 0)
      random_bytes(&d, rnd() % 8 ? rnd() % 64 : rnd() % 1200);
    else if (kind == 1)
      random_framed(&d, m);
    else
      broken_valid(&d, m);
    /* Send even an empty datagram: recvfrom() sees zero bytes. */
    if (send(socks[i % N_SOCKS].fd, d.p ? (void *)d.p : (void *)"", d.len, 0) <
            0 &&
        errno != ECONNREFUSED)
      CU_FAIL("send failed");
    free(d.p);
    /* Bounded pacing, about 2,000 datagrams a second, so that the server's
     * socket buffer does not drop what it should see; read its answers. */
    drain(socks, N_SOCKS, 0);
    if (i % 10 == 9)
      it_sleep_ms(5);
  }
  drain(socks, N_SOCKS, 300);
  drain(socks, N_SOCKS, 100);
  for (int i = 0; i < N_SOCKS; i++)
    it_udp_close(&socks[i]);
  free(m);
  fprintf(stderr,
          "\n  %d random, %d framed, %d truncated or mutated in %.1f s; "
          "answers: %d empty/RST, %d 2.xx, %d 4.xx, %d 5.xx (seed %u)\n",
          kinds[0], kinds[1], kinds[2], (double)(it_now_ms() - t0) / 1000.0,
          answer_classes[0], answer_classes[2], answer_classes[4],
          answer_classes[5], seed);
  /* Garbage is the client's fault: never a 5.00 (storage or memory). */
  CU_ASSERT_EQUAL(server_errors, 0);
  CU_ASSERT_TRUE_FATAL(it_server_alive(&srv, 3000));
  CU_ASSERT_TRUE(normal_get());
  int errors = it_server_log_count(&srv, "[ERROR]");
  if (errors != 0)
    it_server_log_tail(&srv, 40);
  CU_ASSERT_EQUAL(errors, 0);
}
