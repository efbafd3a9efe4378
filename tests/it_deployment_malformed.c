/* edgecoap: deployment-status integration tests: malformed requests. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <jansson.h>

#include "edgecoap/codec.h"
#include "edgecoap/deployment.h"
#include "it_deployment.h"
#include "itest.h"

/* ------------------------------------------------------------------------ */
/* 5. Malformed requests                                                     */

static void expect_still_serving(const char *after) {
  it_coap_msg_t *resp = msg_new();
  int rc = raw(IT_GET, SEED_PATH, -1, EC_FORMAT_JSON, NULL, 0, resp);
  if (rc != 0 || resp->code != IT_CODE(2, 5))
    fprintf(stderr, "\nthe server stopped serving after: %s\n", after);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 205);
  free(resp);
}

typedef struct {
  const char *name;
  int method;
  const char *path; /* NULL: the seed's status resource */
  int cf, accept;
  const void *body; /* NULL with len 0: no payload */
  size_t len;
  int want;           /* class*100+detail */
  const char *field;  /* the problem's "field", or NULL not to check */
  const char *needle; /* a name the problem must mention, or NULL */
  int problem_cf;     /* the problem-details body's format; 0 for none */
} bad_case_t;

static void run_bad_case(const bad_case_t *c) {
  it_coap_msg_t *resp = msg_new();
  const char *path = c->path ? c->path : SEED_PATH;
  int rc = raw(c->method, path, c->cf, c->accept, c->body, c->len, resp);
  CU_ASSERT_EQUAL(rc, 0);
  if (rc == 0 && IT_CODE_INT(resp->code) != c->want)
    fprintf(stderr, "\ncase '%s': got %d, want %d: %.*s\n", c->name,
            IT_CODE_INT(resp->code), c->want, (int)resp->payload_len,
            (const char *)resp->payload);
  if (rc == 0 && c->problem_cf != 0)
    check_problem(resp, c->want, c->problem_cf, c->field, c->needle);
  else if (rc == 0)
    CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), c->want);
  free(resp);
  expect_still_serving(c->name);
}

/* A tiny deterministic generator, so a failing burst can be replayed. */
static uint32_t rng_state = 0x9e3779b9u;
static uint32_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

void test_malformed_requests(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  uint8_t *seed;
  size_t seed_len;
  ensure_seed();
  CU_ASSERT_EQUAL_FATAL(it_read_file(SEED_FILE, &seed, &seed_len), 0);
  ssize_t cbor_len = ec_json_to_cbor((const char *)seed, seed_len, NULL, 0);
  CU_ASSERT_TRUE_FATAL(cbor_len > 10);
  uint8_t *cbor = malloc((size_t)cbor_len);
  CU_ASSERT_EQUAL_FATAL(
      ec_json_to_cbor((const char *)seed, seed_len, cbor, (size_t)cbor_len),
      cbor_len);

  static const char unknown_key[] =
      "{\"apiVersion\":\"deployment.margo/v1\",\"kind\":\"DeploymentStatus\","
      "\"deploymentId\":\"" SEED_DEP "\",\"status\":{\"state\":\"Pending\"},"
      "\"components\":[],\"colour\":\"blue\"}";
  static const char bad_state[] =
      "{\"apiVersion\":\"deployment.margo/v1\",\"kind\":\"DeploymentStatus\","
      "\"deploymentId\":\"" SEED_DEP "\",\"status\":{\"state\":\"Exploded\"},"
      "\"components\":[]}";
  static const char no_components[] =
      "{\"apiVersion\":\"deployment.margo/v1\",\"kind\":\"DeploymentStatus\","
      "\"deploymentId\":\"" SEED_DEP "\",\"status\":{\"state\":\"Pending\"}}";
  static const char not_uuid[] =
      "{\"apiVersion\":\"deployment.margo/v1\",\"kind\":\"DeploymentStatus\","
      "\"deploymentId\":\"not-a-uuid\",\"status\":{\"state\":\"Pending\"},"
      "\"components\":[]}";
  static const char array_body[] = "[1,2,3]";
  static const char text[] = "state=Pending";

  const bad_case_t cases[] = {
      {"truncated JSON", IT_POST, NULL, EC_FORMAT_JSON, -1, seed, seed_len / 2,
       400, NULL, NULL, 50},
      {"truncated CBOR", IT_POST, NULL, EC_FORMAT_CBOR, -1, cbor,
       (size_t)cbor_len - 7, 400, NULL, NULL, EC_FORMAT_PROBLEM_CBOR},
      {"truncated CBOR, format sniffed", IT_POST, NULL, -1, -1, cbor,
       (size_t)cbor_len / 3, 400, NULL, NULL, EC_FORMAT_PROBLEM_CBOR},
      {"text/plain body", IT_POST, NULL, 0, -1, text, strlen(text), 415, NULL,
       NULL, 50},
      {"Accept: application/link-format", IT_GET, NULL, -1, 40, NULL, 0, 406,
       NULL, NULL, 50},
      {"Accept: application/xml", IT_POST, NULL, EC_FORMAT_JSON, 41, seed,
       seed_len, 406, NULL, NULL, 50},
      {"unknown top-level key", IT_POST, NULL, EC_FORMAT_JSON, -1, unknown_key,
       strlen(unknown_key), 400, NULL, "colour", 50},
      {"invalid state", IT_POST, NULL, EC_FORMAT_JSON, -1, bad_state,
       strlen(bad_state), 422, "status.state", NULL, 50},
      {"missing components", IT_POST, NULL, EC_FORMAT_JSON, -1, no_components,
       strlen(no_components), 400, NULL, "components", 50},
      {"a JSON array, not an object", IT_POST, NULL, EC_FORMAT_JSON, -1,
       array_body, strlen(array_body), 400, NULL, NULL, 50},
      {"empty POST", IT_POST, NULL, -1, -1, NULL, 0, 400, NULL, NULL, 50},
      {"empty POST with a Content-Format", IT_POST, NULL, EC_FORMAT_JSON, -1,
       NULL, 0, 400, NULL, NULL, 50},
      {"non-UUID deploymentId", IT_POST,
       "device/" SEED_DEV "/deployment/not-a-uuid/status", EC_FORMAT_JSON, -1,
       not_uuid, strlen(not_uuid), 422, "deploymentId", NULL, 50},
      {"GET of an unknown deployment", IT_GET,
       "device/" SEED_DEV "/deployment/" DEP_OTHER "/status", -1, -1, NULL, 0,
       404, NULL, NULL, 50},
      {"history of an unknown deployment", IT_GET,
       "device/" SEED_DEV "/deployment/" DEP_OTHER "/status/history", -1, -1,
       NULL, 0, 404, NULL, NULL, 50},
      {"unknown path", IT_GET, "no/such/thing", -1, -1, NULL, 0, 404, NULL,
       NULL, 50},
      {"unknown path under device", IT_GET, "device/" SEED_DEV "/bogus", -1, -1,
       NULL, 0, 404, NULL, NULL, 50},
      {"DELETE", IT_DELETE, NULL, -1, -1, NULL, 0, 405, NULL, NULL, 0},
      {"DELETE of the history", IT_DELETE,
       "device/" SEED_DEV "/deployment/" SEED_DEP "/status/history", -1, -1,
       NULL, 0, 405, NULL, NULL, 0},
      {"history?limit=0", IT_GET,
       "device/" SEED_DEV "/deployment/" SEED_DEP "/status/history?limit=0", -1,
       -1, NULL, 0, 400, NULL, "limit", 50},
      {"history?since=soon", IT_GET,
       "device/" SEED_DEV "/deployment/" SEED_DEP "/status/history?since=soon",
       -1, -1, NULL, 0, 400, NULL, "since", 50},
      {"history?colour=blue", IT_GET,
       "device/" SEED_DEV "/deployment/" SEED_DEP "/status/history?colour=blue",
       -1, -1, NULL, 0, 400, NULL, "colour", 50},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
    run_bad_case(&cases[i]);

  /* Nothing above may have been stored. */
  json_t *d = get_json(SEED_DEV, SEED_DEP);
  CU_ASSERT_PTR_NOT_NULL(d);
  if (d != NULL)
    check_seed_doc(d);
  json_decref(d);
  int hist = history_len(SEED_DEV, SEED_DEP);
  CU_ASSERT_TRUE(hist >= 1);

  /* Over 64 KiB, block by block without Size1: the server must count the
   * offsets itself and stop at the block that crosses the cap. */
  size_t big_len = 70 * 1024;
  uint8_t *big = malloc(big_len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(big);
  memset(big, ' ', big_len);
  big[0] = '{';
  big[big_len - 1] = '}';
  it_coap_msg_t *resp = msg_new();
  int sent = 0;
  CU_ASSERT_EQUAL(put_blocks(SEED_PATH, big, big_len, false, resp, &sent), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 413);
  /* Blocks 0..63 fill 64 KiB; block 63's "more" flag already says the
   * body is larger, so that is where it must stop. */
  CU_ASSERT_EQUAL(sent, 64);
  CU_ASSERT_EQUAL(it_coap_opt_uint(resp, IT_OPT_SIZE1, 0), 65536);
  expect_still_serving("a 70 KiB Block1 upload without Size1");

  /* The cap itself is allowed: a report padded with JSON whitespace to
   * exactly 64 KiB is stored, one byte more is refused. */
  char *small = report_json(DEP_OTHER, "Pending", 1, "Pending", 0, 0);
  size_t small_len = strlen(small);
  memset(big, ' ', big_len);
  memcpy(big, small, small_len - 1);
  big[65536 - 1] = '}';
  char edge_path[256];
  status_path(edge_path, sizeof(edge_path), "dev7", DEP_OTHER, "");
  CU_ASSERT_EQUAL(put_blocks(edge_path, big, 65536, false, resp, &sent), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 201);
  CU_ASSERT_EQUAL(sent, 64);
  big[65536 - 1] = ' ';
  big[65536] = '}';
  CU_ASSERT_EQUAL(put_blocks(edge_path, big, 65537, false, resp, &sent), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 413);
  CU_ASSERT_EQUAL(history_len("dev7", DEP_OTHER), 1);
  free(small);
  memset(big, ' ', big_len);
  big[0] = '{';
  big[big_len - 1] = '}';

  /* The same with Size1 announced: refused at the first block. */
  CU_ASSERT_EQUAL(put_blocks(SEED_PATH, big, big_len, true, resp, &sent), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 413);
  CU_ASSERT_EQUAL(sent, 1);
  expect_still_serving("a 70 KiB Block1 upload with Size1");

  /* And through libcoap's own client, which announces Size1. */
  char file[320], url[384];
  snprintf(file, sizeof(file), "%s/too-big.json", srv.dir);
  CU_ASSERT_EQUAL(it_write_file(file, big, big_len), 0);
  it_cc_t cc;
  CU_ASSERT_EQUAL(coap_client(&cc, "-m", "post", "-t", "50", "-f", file,
                              url_of(url, sizeof(url), SEED_PATH), NULL),
                  0);
  CU_ASSERT_EQUAL(it_cc_last_code(&cc), 413);
  it_cc_free(&cc);
  expect_still_serving("a 70 KiB POST from coap-client");
  free(big);
  CU_ASSERT_EQUAL(history_len(SEED_DEV, SEED_DEP), hist);

  /* A burst of hostile datagrams from another socket. */
  it_udp_t h;
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&h, srv.port), 0);
  uint8_t valid[IT_COAP_MAX_DGRAM], d8[IT_COAP_MAX_DGRAM];
  it_coap_msg_t *m = msg_new();
  it_coap_init(m, IT_CON, IT_POST, 0x4242, "tok1", 4);
  it_coap_add_path(m, SEED_PATH);
  it_coap_add_uint(m, IT_OPT_CONTENT_FORMAT, EC_FORMAT_CBOR);
  it_coap_set_payload(m, cbor, (size_t)cbor_len);
  ssize_t vlen = it_coap_encode(m, valid, sizeof(valid));
  CU_ASSERT_TRUE_FATAL(vlen > 20);
  free(m);
  for (int i = 0; i < 400; i++) {
    size_t n;
    switch (i % 8) {
    case 0: /* noise */
      n = rng() % 300;
      for (size_t k = 0; k < n; k++)
        d8[k] = (uint8_t)rng();
      break;
    case 1: /* a real request cut anywhere: a truncated option or body */
      n = 1 + rng() % ((size_t)vlen - 1);
      memcpy(d8, valid, n);
      d8[2] = (uint8_t)rng(); /* fresh MIDs, so nothing is a retransmission */
      d8[3] = (uint8_t)rng();
      break;
    case 2: /* a real request with bytes flipped in its options */
      n = (size_t)vlen;
      memcpy(d8, valid, n);
      for (int k = 0; k < 4; k++)
        d8[4 + 4 + rng() % 40] ^= (uint8_t)(1u << (rng() % 8));
      d8[2] = (uint8_t)rng();
      d8[3] = (uint8_t)rng();
      break;
    case 3: /* token length 9..15: a message format error */
      n = 12;
      memcpy(d8, valid, n);
      d8[0] = (uint8_t)(0x40 | (9 + rng() % 7));
      break;
    case 4: /* an option with the reserved nibble 15, or a 65535+ delta */
      n = 0;
      d8[n++] = 0x40;
      d8[n++] = IT_GET;
      d8[n++] = (uint8_t)rng();
      d8[n++] = (uint8_t)rng();
      d8[n++] = (rng() & 1) ? 0xf1 : 0xe0;
      d8[n++] = 0xff;
      d8[n++] = 0xff;
      d8[n++] = 0xe1;
      d8[n++] = 0xff;
      d8[n++] = 0xff;
      d8[n++] = 'x';
      break;
    case 5: /* a payload marker with no payload after it */
      n = 0;
      d8[n++] = 0x40;
      d8[n++] = IT_POST;
      d8[n++] = (uint8_t)rng();
      d8[n++] = (uint8_t)rng();
      d8[n++] = 0xb6;
      memcpy(d8 + n, "device", 6);
      n += 6;
      d8[n++] = 0xff;
      break;
    case 6: /* empty ACK and RST with random MIDs, and an empty datagram */
      n = (rng() % 3 == 0) ? 0 : 4;
      d8[0] = (uint8_t)((rng() & 1) ? 0x60 : 0x70);
      d8[1] = 0;
      d8[2] = (uint8_t)rng();
      d8[3] = (uint8_t)rng();
      break;
    default: /* version 2 and 0, and a response code sent to a server */
      n = (size_t)vlen;
      memcpy(d8, valid, n);
      d8[0] = (uint8_t)((rng() % 3 == 0) ? (0x80 | 4) : (rng() & 1) ? 4 : 0x44);
      d8[1] = (d8[0] == 0x44) ? IT_CODE(2, 5) : d8[1];
      d8[2] = (uint8_t)rng();
      break;
    }
    it_udp_send(&h, d8, n);
    if (i % 50 == 49)
      it_sleep_ms(5); /* let the server drain its socket buffer */
  }
  /* Whatever it answered, it must still answer a real request. */
  for (int k = 0; k < 500; k++)
    if (it_udp_recv(&h, d8, sizeof(d8), 20) < 0)
      break;
  it_udp_close(&h);
  CU_ASSERT_TRUE(it_server_alive(&srv, 3000));
  expect_still_serving("a burst of 400 hostile datagrams");
  CU_ASSERT_EQUAL(history_len(SEED_DEV, SEED_DEP), hist);
  free(resp);
  free(cbor);
  free(seed);
}
