/* edgecoap: hostile input: payloads, random datagrams, floods and caps. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "edgecoap/codec.h"
#include "it_prov_util.h"
#include "suite.h"

/*
 * One server (with --max-observers 40, so that the per-resource cap can be
 * reached from one client) faces, in order:
 * 1. hostile payloads on every API that takes a body: deployment status
 *    POST, status messages POST and FETCH, provisioning POST (with a valid
 *    token). Each must get the 4.xx API.md names (4.00, 4.13 or 4.15, and
 *    the title or seed error code), and a normal GET must work after each;
 * 2. 3,000 random, framed-at-random and truncated or mutated datagrams;
 * 3. the observation caps: 64 per client session, --max-observers per
 *    resource, refusals 5.03 with no observation made; and a session that
 *    re-registers one resource with new tokens holds one observation;
 * 4. 10,000 peers (distinct UDP sockets) sending one CON GET each, while a
 *    separate client's GETs must keep being answered, the server's memory
 *    must stay bounded and nothing alarming may be logged.
 * The log must hold no [ERROR] line at the end. EC_HOSTILE_SEED repeats a
 * run's random datagrams; EC_HOSTILE_ONLY=<test name> runs one test.
 */

#define DEP "4057113e-0000-4000-8000-00000000beef"
#define DEV "hostile"
#define STATUS_PATH "device/" DEV "/deployment/" DEP "/status"
#define MSGS "api/2.3/statusmessages"

#define RAW_TIMEOUT_MS 5000
#define UPLOAD_TIMEOUT_MS 20000
#define BLOCK 1024
#define BODY_CAP 65536 /* the server's default --max-body */
#define MAX_OBSERVERS 40

#define N_RANDOM 3000
#define N_SOCKS 8

#define FLOOD_PEERS 10000
#define FLOOD_WAVE 200
#define FLOOD_WAVE_WAIT_MS 1000
#define PROBE_TIMEOUT_MS 2000
#define PROBE_GAP_MS 20
#define FLOOD_WAVE_MIN_MS 60 /* 50 waves: the flood lasts about 3 s */
#define RSS_GROWTH_MAX_KIB (64 * 1024)

static it_server_t srv;
static it_udp_t udp;
static char token[EC_PROV_TOKEN_HEX + 1];
static unsigned seed;
static uint32_t rng;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static uint32_t rnd(void) {
  /* xorshift32: reproducible from the printed seed. */
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

/* A growing byte buffer for bodies. */
typedef struct {
  uint8_t *p;
  size_t len, cap;
} bb_t;

static void bb_put(bb_t *b, const void *data, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
      cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL)
      abort();
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void bb_str(bb_t *b, const char *s) {
  bb_put(b, s, strlen(s));
}

static void bb_byte(bb_t *b, uint8_t c) {
  bb_put(b, &c, 1);
}

static void bb_rep(bb_t *b, const char *s, size_t times) {
  for (size_t i = 0; i < times; i++)
    bb_str(b, s);
}

static void bb_repb(bb_t *b, uint8_t c, size_t times) {
  for (size_t i = 0; i < times; i++)
    bb_byte(b, c);
}

/* A CBOR head in its shortest form. */
static void cb_head(bb_t *b, unsigned major, uint64_t v) {
  uint8_t h[9];
  size_t n;
  uint8_t mt = (uint8_t)(major << 5);
  if (v < 24) {
    h[0] = (uint8_t)(mt | v);
    n = 1;
  } else if (v <= 0xff) {
    h[0] = mt | 24;
    n = 2;
  } else if (v <= 0xffff) {
    h[0] = mt | 25;
    n = 3;
  } else if (v <= 0xffffffffu) {
    h[0] = mt | 26;
    n = 5;
  } else {
    h[0] = mt | 27;
    n = 9;
  }
  for (size_t i = n - 1; i >= 1; i--, v >>= 8)
    h[i] = (uint8_t)v;
  bb_put(b, h, n);
}

static void cb_text(bb_t *b, const char *s) {
  cb_head(b, 3, strlen(s));
  bb_str(b, s);
}

/* A head with an 8-byte argument, whatever its value (length claims). */
static void cb_head64(bb_t *b, unsigned major, uint64_t v) {
  bb_byte(b, (uint8_t)(major << 5 | 27));
  for (int s = 56; s >= 0; s -= 8)
    bb_byte(b, (uint8_t)(v >> s));
}

static bool server_ok(void) {
  return itp_server_ok();
}

static int cf_of(const it_coap_msg_t *m) {
  size_t len;
  if (it_coap_opt(m, IT_OPT_CONTENT_FORMAT, 0, &len) == NULL)
    return -1;
  return (int)it_coap_opt_uint(m, IT_OPT_CONTENT_FORMAT, 0);
}

/* A normal GET of the seeded status: the server still serves. */
static bool normal_get(void) {
  it_coap_msg_t *r = itp_msg_new();
  it_req_t rq = IT_REQ(IT_GET, STATUS_PATH);
  rq.accept = EC_FORMAT_JSON;
  bool ok = server_ok() && it_coap_request(&udp, &rq, r, RAW_TIMEOUT_MS) == 0 &&
            r->code == IT_CODE(2, 5);
  free(r);
  if (!ok)
    it_server_alive(&srv, 1000);
  return ok;
}

/* ------------------------------------------------------------------------ */
/* The APIs that take a body                                                 */

typedef struct {
  const char *name;
  int method;
  const char *path;
  bool prov; /* needs the token; errors in the seed's shape */
} api_t;

enum { API_DEP, API_MSG_POST, API_MSG_FETCH, API_PROV, N_APIS };

static const api_t apis[N_APIS] = {
    {"deployment status POST", IT_POST, STATUS_PATH, false},
    {"status messages POST", IT_POST, MSGS, false},
    {"status messages FETCH", IT_FETCH, MSGS, false},
    {"provisioning POST", IT_POST, ITP_COMPONENTS, true},
};

/* Send @p len bytes to @p api on @p u: one datagram when it fits, else
 * Block1 of BLOCK bytes (with Size1 when @p size1), stopping at the first
 * answer that is not 2.31 Continue. @return 0 with the last answer in
 * @p resp */
static int send_body(it_udp_t *u, const api_t *api, int cf, const uint8_t *data,
                     size_t len, bool size1, it_coap_msg_t *resp, int *blocks) {
  it_coap_msg_t *m = itp_msg_new();
  uint64_t deadline = it_now_ms() + UPLOAD_TIMEOUT_MS;
  uint8_t tok[4];
  bool whole = len <= BLOCK;
  int rc = 0;
  *blocks = 0;
  it_udp_token(u, tok);
  for (uint32_t num = 0; rc == 0; num++) {
    size_t off = (size_t)num * BLOCK;
    size_t n = whole ? len : len - off < BLOCK ? len - off : BLOCK;
    bool more = !whole && off + n < len;
    it_coap_init(m, IT_CON, api->method, it_udp_mid(u), tok, sizeof(tok));
    it_coap_add_path(m, api->path);
    if (cf >= 0)
      it_coap_add_uint(m, IT_OPT_CONTENT_FORMAT, (uint32_t)cf);
    it_coap_add_uint(m, IT_OPT_ACCEPT, EC_FORMAT_JSON);
    if (api->prov)
      it_coap_add_opt(m, EC_PROV_AUTH_OPTION, token, strlen(token));
    if (!whole) {
      it_coap_add_block(m, IT_OPT_BLOCK1, num, more, BLOCK);
      if (size1)
        it_coap_add_uint(m, IT_OPT_SIZE1, (uint32_t)len);
    }
    it_coap_set_payload(m, data + off, n);
    uint64_t now = it_now_ms();
    if (!server_ok() || now >= deadline ||
        it_coap_exchange(u, m, resp, (unsigned)(deadline - now)) < 0) {
      fprintf(stderr, "\nit_hostile: %s: no answer to block %u\n", api->name,
              num);
      it_server_alive(&srv, 1000);
      rc = -1;
      break;
    }
    (*blocks)++;
    if (whole || !more || resp->code != IT_CODE(2, 31))
      break;
  }
  free(m);
  return rc;
}

/* The title of a problem answer, or the "error" of a seed-shaped one. */
static char *answer_title(const api_t *api, const it_coap_msg_t *r) {
  int cf = cf_of(r);
  int code = IT_CODE_INT(r->code);
  if (api->prov && code != 413 && code != 415) {
    json_t *j = json_loadb((const char *)r->payload, r->payload_len, 0, NULL);
    const char *e = json_string_value(json_object_get(j, "error"));
    char *s = e ? strdup(e) : NULL;
    json_decref(j);
    return s;
  }
  it_problem_t p;
  if (it_problem_parse(r->payload, r->payload_len, cf, &p) < 0)
    return NULL;
  char *s = p.title ? strdup(p.title) : NULL;
  it_problem_free(&p);
  return s;
}

/* One hostile payload: its body and what each API must answer. */
typedef struct {
  const char *name;
  int cf;
  bb_t body;
  bool size1;
  int want_blocks;        /* blocks sent before the refusal; 0: any */
  unsigned apis;          /* bit per API */
  int want_doc;           /* code for the problem-details APIs */
  const char *title_doc;  /* NULL: not checked */
  int want_prov;          /* code for provisioning */
  const char *title_prov; /* seed error or problem title */
} hcase_t;

#define ALL_APIS ((1u << N_APIS) - 1)
#define ONLY(a) (1u << (a))

static int failures, requests;

static void run_case(hcase_t *c) {
  it_coap_msg_t *r = itp_msg_new();
  char cs[8];
  for (int a = 0; a < N_APIS; a++) {
    if (!(c->apis & (1u << a)))
      continue;
    const api_t *api = &apis[a];
    int want = api->prov ? c->want_prov : c->want_doc;
    const char *title = api->prov ? c->title_prov : c->title_doc;
    int blocks;
    /* libcoap 4.3.1 keeps a Block1 transfer's state per (session, resource)
     * for EXCHANGE_LIFETIME, refused or not, and answers a later transfer
     * in another Content-Format 4.08 "Content-Format mismatch" before the
     * server sees it. A real client would send a Request-Tag; each upload
     * here gets a session of its own instead, from a source address of its
     * own (a new socket alone may get a just-closed one's port back, and
     * with it that session). */
    it_udp_t fresh;
    it_udp_t *u = &udp;
    if (c->body.len > BLOCK) {
      CU_ASSERT_EQUAL_FATAL(it_udp_open_fresh(&fresh, srv.port), 0);
      /* Its refusals are problem details larger than 3x a block: only
       * for a verified address (RFC 9175; docs/SECURITY.md). */
      CU_ASSERT_EQUAL_FATAL(it_udp_verify(&fresh), 0);
      u = &fresh;
    }
    int sent =
        send_body(u, api, c->cf, c->body.p, c->body.len, c->size1, r, &blocks);
    requests++;
    if (u == &fresh)
      it_udp_close(&fresh);
    if (sent < 0) {
      fprintf(stderr, "\nit_hostile: %s on %s: no answer\n", c->name,
              api->name);
      CU_FAIL("no answer to a hostile payload");
      failures++;
      break;
    }
    int got = IT_CODE_INT(r->code);
    char *t = answer_title(api, r);
    bool ok = got == want && (title == NULL || (t && strcmp(t, title) == 0)) &&
              (c->want_blocks == 0 || blocks == c->want_blocks);
    if (!ok) {
      failures++;
      fprintf(stderr,
              "\nit_hostile: %s (%zu bytes) on %s: want %d %s after %d "
              "blocks, got %s %s after %d: %.*s\n",
              c->name, c->body.len, api->name, want, title ? title : "",
              c->want_blocks, it_coap_code_str(r->code, cs), t ? t : "-",
              blocks, (int)(r->payload_len > 300 ? 300 : r->payload_len),
              (const char *)r->payload);
      CU_FAIL("a hostile payload got the wrong answer");
    }
    free(t);
    if (!normal_get()) {
      fprintf(stderr,
              "\nit_hostile: after %s on %s the server stopped "
              "serving\n",
              c->name, api->name);
      CU_FAIL_FATAL("the server stopped serving after a hostile payload");
    }
  }
  free(r);
}

/* ---- bodies ------------------------------------------------------------- */

#define DEP_DOC_HEAD                                                           \
  "{\"apiVersion\":\"deployment.margo/v1\",\"kind\":\"DeploymentStatus\","     \
  "\"deploymentId\":\"" DEP "\",\"status\":{\"state\":\"Installed\"},"
#define DEP_DOC_COMPONENTS                                                     \
  "\"components\":[{\"name\":\"a\",\"state\":\"Installed\"}]"

/* A deployment document in CBOR with one more member, whose value is the
 * raw CBOR @p val (NULL: components is @p val instead). */
static void cb_dep_doc(bb_t *b, const char *key, const bb_t *val) {
  cb_head(b, 5, key ? 6 : 5);
  cb_text(b, "apiVersion");
  cb_text(b, "deployment.margo/v1");
  cb_text(b, "kind");
  cb_text(b, "DeploymentStatus");
  cb_text(b, "deploymentId");
  cb_text(b, DEP);
  cb_text(b, "status");
  cb_head(b, 5, 1);
  cb_text(b, "state");
  cb_text(b, "Installed");
  cb_text(b, "components");
  if (key == NULL) {
    bb_put(b, val->p, val->len);
    return;
  }
  cb_head(b, 4, 1);
  cb_head(b, 5, 2);
  cb_text(b, "name");
  cb_text(b, "a");
  cb_text(b, "state");
  cb_text(b, "Installed");
  cb_text(b, key);
  bb_put(b, val->p, val->len);
}

/* A one-member CBOR map {key: raw}. */
static void cb_one(bb_t *b, const char *key, const uint8_t *raw, size_t n) {
  cb_head(b, 5, 1);
  cb_text(b, key);
  bb_put(b, raw, n);
}

static hcase_t *cases;
static size_t n_cases, cap_cases;

static hcase_t *add(const char *name, int cf, unsigned mask, int want_doc,
                    const char *title_doc, int want_prov,
                    const char *title_prov) {
  if (n_cases == cap_cases) {
    cap_cases = cap_cases ? cap_cases * 2 : 64;
    cases = realloc(cases, cap_cases * sizeof(*cases));
    if (cases == NULL)
      abort();
  }
  hcase_t *c = &cases[n_cases++];
  memset(c, 0, sizeof(*c));
  c->name = name;
  c->cf = cf;
  c->apis = mask;
  c->want_doc = want_doc;
  c->title_doc = title_doc;
  c->want_prov = want_prov;
  c->title_prov = title_prov;
  return c;
}

/* A payload refused while parsing: the same on every API. */
static hcase_t *add_parse(const char *name, int cf, int code) {
  const char *doc = code == 413 ? "too-large" : "malformed-body";
  /* Provisioning answers a body over a codec cap as INVALID_REQUEST_PRAM;
   * only the transport's body cap stays a problem-details 4.13. */
  return add(name, cf, ALL_APIS, code, doc, 400, "INVALID_REQUEST_PRAM");
}

static void build_cases(void) {
  hcase_t *c;
  bb_t v = {0};

  /* Nesting 100,000 deep: past the body cap in both formats, refused while
   * uploading, with and without Size1. */
  /* Without Size1 the 64th block is refused: it ends at 64 KiB with more
   * to come, so the body will be larger than the cap. */
  c = add("JSON nested 100000 deep", 50, ALL_APIS, 413, "too-large", 413,
          "too-large");
  bb_repb(&c->body, '[', 100000);
  bb_repb(&c->body, ']', 100000);
  c->want_blocks = BODY_CAP / BLOCK;
  c = add("JSON nested 100000 deep, Size1", 50, ALL_APIS, 413, "too-large", 413,
          "too-large");
  bb_repb(&c->body, '[', 100000);
  bb_repb(&c->body, ']', 100000);
  c->size1 = true;
  c->want_blocks = 1; /* Size1 gives it away at once */
  c = add("CBOR nested 100000 deep", 60, ALL_APIS, 413, "too-large", 413,
          "too-large");
  bb_repb(&c->body, 0x81, 100000);
  bb_byte(&c->body, 0);
  c->want_blocks = BODY_CAP / BLOCK;
  c = add("CBOR indefinite nested 100000 deep, Size1", 60, ALL_APIS, 413,
          "too-large", 413, "too-large");
  bb_repb(&c->body, 0x9f, 100000);
  bb_repb(&c->body, 0xff, 100000);
  c->size1 = true;
  c->want_blocks = 1;

  /* Deep nesting within the body cap: the depth cap (16) refuses it. */
  c = add_parse("JSON arrays nested 32000 deep", 50, 413);
  bb_repb(&c->body, '[', 32000);
  bb_repb(&c->body, ']', 32000);
  c = add_parse("JSON objects nested 8000 deep", 50, 413);
  bb_rep(&c->body, "{\"a\":", 8000);
  bb_byte(&c->body, '1');
  bb_repb(&c->body, '}', 8000);
  c = add_parse("CBOR arrays nested 60000 deep", 60, 413);
  bb_repb(&c->body, 0x81, 60000);
  bb_byte(&c->body, 0);
  c = add_parse("CBOR indefinite arrays nested 30000 deep", 60, 413);
  bb_repb(&c->body, 0x9f, 30000);
  bb_repb(&c->body, 0xff, 30000);
  c = add_parse("CBOR maps nested 20000 deep", 60, 413);
  for (int i = 0; i < 20000; i++)
    bb_put(&c->body, "\xa1\x61\x61", 3);
  bb_byte(&c->body, 0);

  /* Length claims of 2^63 (and 2^64-1) with a few bytes behind them. */
  c = add_parse("CBOR text claiming 2^63 bytes", 60, 400);
  cb_head64(&c->body, 3, 1ull << 63);
  bb_str(&c->body, "abc");
  c = add_parse("CBOR map value text claiming 2^63 bytes", 60, 400);
  cb_head(&c->body, 5, 1);
  cb_text(&c->body, "apiVersion");
  cb_head64(&c->body, 3, 1ull << 63);
  bb_str(&c->body, "abc");
  c = add_parse("CBOR array claiming 2^63 items", 60, 400);
  cb_head64(&c->body, 4, 1ull << 63);
  bb_put(&c->body, "\x01\x02\x03", 3);
  c = add_parse("CBOR map claiming 2^63 pairs", 60, 400);
  cb_head64(&c->body, 5, 1ull << 63);
  cb_text(&c->body, "a");
  bb_byte(&c->body, 1);
  c = add_parse("CBOR map claiming 2^64-1 pairs", 60, 400);
  cb_head64(&c->body, 5, UINT64_MAX);
  cb_text(&c->body, "a");
  bb_byte(&c->body, 1);
  c = add_parse("CBOR array claiming 2^64-1 items inside a map", 60, 400);
  cb_head(&c->body, 5, 1);
  cb_text(&c->body, "components");
  cb_head64(&c->body, 4, UINT64_MAX);
  bb_byte(&c->body, 1);
  c = add_parse("CBOR text claiming 2^32 bytes as a map key", 60, 400);
  cb_head(&c->body, 5, 1);
  cb_head(&c->body, 3, 1ull << 32);
  bb_str(&c->body, "action");

  /* Indefinite-length items never closed. */
  c = add_parse("CBOR indefinite map unterminated", 60, 400);
  bb_byte(&c->body, 0xbf);
  cb_text(&c->body, "action");
  cb_text(&c->body, "select");
  c = add_parse("CBOR indefinite array unterminated", 60, 400);
  bb_put(&c->body, "\x9f\x01\x02\x03", 4);
  c = add_parse("CBOR indefinite text unterminated", 60, 400);
  bb_put(&c->body, "\x7f\x61\x61\x61\x62", 5);
  c = add_parse("CBOR indefinite array unterminated inside a map", 60, 400);
  cb_head(&c->body, 5, 1);
  cb_text(&c->body, "components");
  bb_put(&c->body, "\x9f\x01", 2);
  c = add_parse("CBOR break outside an indefinite item", 60, 400);
  bb_put(&c->body, "\xa1\x61\x61\xff", 4);

  /* Invalid UTF-8. */
  c = add_parse("JSON value with invalid UTF-8", 50, 400);
  bb_str(&c->body, "{\"apiVersion\":\"\xc3\x28\"}");
  c = add_parse("JSON key with invalid UTF-8", 50, 400);
  bb_str(&c->body, "{\"\xff\xfe\":1}");
  c = add_parse("JSON overlong UTF-8", 50, 400);
  bb_str(&c->body, "{\"action\":\"\xc0\xaf\"}");
  c = add_parse("JSON UTF-8 surrogate", 50, 400);
  bb_str(&c->body, "{\"action\":\"\xed\xa0\x80\"}");
  c = add_parse("JSON escaped lone surrogate", 50, 400);
  bb_str(&c->body, "{\"action\":\"\\ud800\"}");
  c = add_parse("CBOR text with invalid UTF-8", 60, 400);
  cb_one(&c->body, "action", (const uint8_t *)"\x62\xff\xfe", 3);
  c = add_parse("CBOR key with invalid UTF-8", 60, 400);
  bb_put(&c->body, "\xa1\x62\xc3\x28\x01", 5);
  c = add_parse("CBOR character split across text chunks", 60, 400);
  cb_one(&c->body, "action", (const uint8_t *)"\x7f\x61\xc3\x61\xa9\xff", 6);
  c = add_parse("CBOR text past U+10FFFF", 60, 400);
  cb_one(&c->body, "action", (const uint8_t *)"\x64\xf4\x90\x80\x80", 5);

  /* Numbers beyond int64, at the parsing stage. */
  c = add_parse("JSON integer 2^64", 50, 400);
  bb_str(&c->body, "{\"action\":\"select\",\"limit\":18446744073709551616}");
  c = add_parse("JSON integer -2^63-1", 50, 400);
  bb_str(&c->body, "{\"action\":\"select\",\"limit\":-9223372036854775809}");
  c = add_parse("CBOR unsigned 2^63", 60, 400);
  cb_head(&c->body, 5, 1);
  cb_text(&c->body, "limit");
  cb_head64(&c->body, 0, 1ull << 63);
  c = add_parse("CBOR negative -2^64", 60, 400);
  cb_head(&c->body, 5, 1);
  cb_text(&c->body, "limit");
  cb_head64(&c->body, 1, UINT64_MAX);

  /* Duplicate keys, in either format, also an integer key and its text. */
  c = add_parse("JSON duplicate key", 50, 400);
  bb_str(&c->body, "{\"action\":\"select\",\"action\":\"select\"}");
  c = add_parse("JSON duplicate key nested", 50, 400);
  bb_str(&c->body, "{\"a\":{\"state\":\"Failed\",\"state\":\"Failed\"}}");
  c = add_parse("CBOR duplicate key", 60, 400);
  cb_head(&c->body, 5, 2);
  cb_text(&c->body, "action");
  cb_text(&c->body, "select");
  cb_text(&c->body, "action");
  cb_text(&c->body, "select");
  c = add_parse("CBOR integer key 1 beside text key \"1\"", 60, 400);
  bb_put(&c->body, "\xa2\x01\x00\x61\x31\x00", 6);

  /* Arrays past the item cap (20,000), inside the body cap. */
  c = add_parse("JSON array of 20001 integers", 50, 413);
  bb_str(&c->body, "{\"x\":[1");
  bb_rep(&c->body, ",1", 20000);
  bb_str(&c->body, "]}");
  c = add_parse("CBOR array of 20001 integers", 60, 413);
  cb_head(&c->body, 5, 1);
  cb_text(&c->body, "x");
  cb_head(&c->body, 4, 20001);
  bb_repb(&c->body, 1, 20001);
  c = add_parse("CBOR indefinite array of 20001 integers", 60, 413);
  cb_head(&c->body, 5, 1);
  cb_text(&c->body, "x");
  bb_byte(&c->body, 0x9f);
  bb_repb(&c->body, 1, 20001);
  bb_byte(&c->body, 0xff);

  /* Content-Formats that are not 50 or 60. */
  static const int bad_cf[] = {0, 41, 257, 11542, 65535};
  static const char *const bad_cf_names[] = {
      "Content-Format 0 (text/plain)", "Content-Format 41 (XML)",
      "Content-Format 257 (problem+cbor)", "Content-Format 11542",
      "Content-Format 65535"};
  for (size_t i = 0; i < 5; i++) {
    c = add(bad_cf_names[i], bad_cf[i], ALL_APIS, 415,
            "unsupported-content-format", 415, "unsupported-content-format");
    bb_str(&c->body, "{\"action\":\"select\"}");
  }

  /* ---- deployment status: integers where reals or huge numbers come --- */
  static const char *const amv[] = {"1.5", "1e3", "1.0", "9223372036854775808",
                                    "18446744073709551616"};
  static const char *const amv_names[] = {
      "adoptedManifestVersion 1.5", "adoptedManifestVersion 1e3",
      "adoptedManifestVersion 1.0", "adoptedManifestVersion 2^63",
      "adoptedManifestVersion 2^64"};
  for (size_t i = 0; i < 5; i++) {
    /* A real is a wrong type; an integer jansson cannot hold, a body that
     * does not parse. */
    c = add(amv_names[i], 50, ONLY(API_DEP), 400,
            i < 3 ? "invalid-type" : "malformed-body", 0, NULL);
    bb_str(&c->body,
           DEP_DOC_HEAD DEP_DOC_COMPONENTS ",\"adoptedManifestVersion\":");
    bb_str(&c->body, amv[i]);
    bb_str(&c->body, "}");
  }
  c = add("CBOR adoptedManifestVersion half-float 1.5", 60, ONLY(API_DEP), 400,
          "invalid-type", 0, NULL);
  v.len = 0;
  bb_put(&v, "\xf9\x3e\x00", 3);
  cb_dep_doc(&c->body, "adoptedManifestVersion", &v);
  c = add("CBOR adoptedManifestVersion double 1.0", 60, ONLY(API_DEP), 400,
          "invalid-type", 0, NULL);
  v.len = 0;
  bb_put(&v, "\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00", 9);
  cb_dep_doc(&c->body, "adoptedManifestVersion", &v);
  c = add("CBOR adoptedManifestVersion 2^64-1", 60, ONLY(API_DEP), 400,
          "malformed-body", 0, NULL);
  v.len = 0;
  cb_head64(&v, 0, UINT64_MAX);
  cb_dep_doc(&c->body, "adoptedManifestVersion", &v);
  c = add("JSON duplicate apiVersion", 50, ONLY(API_DEP), 400, "malformed-body",
          0, NULL);
  bb_str(&c->body, DEP_DOC_HEAD DEP_DOC_COMPONENTS
         ",\"apiVersion\":\"deployment.margo/v1\"}");
  c = add("JSON 20000 components (integers)", 50, ONLY(API_DEP), 413,
          "too-large", 0, NULL);
  bb_str(&c->body, DEP_DOC_HEAD "\"components\":[1");
  bb_rep(&c->body, ",1", 19999);
  bb_str(&c->body, "]}");
  c = add("CBOR 20000 components (small integers)", 60, ONLY(API_DEP), 413,
          "too-large", 0, NULL);
  v.len = 0;
  cb_head(&v, 4, 20000);
  bb_repb(&v, 1, 20000);
  cb_dep_doc(&c->body, NULL, &v);
  c = add("JSON 20000 components (objects, past the body cap)", 50,
          ONLY(API_DEP), 413, "too-large", 0, NULL);
  bb_str(&c->body, DEP_DOC_HEAD "\"components\":[");
  for (int i = 0; i < 20000; i++) {
    char comp[64];
    snprintf(comp, sizeof(comp), "%s{\"name\":\"c%d\",\"state\":\"Failed\"}",
             i ? "," : "", i);
    bb_str(&c->body, comp);
  }
  bb_str(&c->body, "]}");

  /* ---- status messages ------------------------------------------------ */
  static const char *const mc[] = {"1e3",     "1.5",
                                   "101.0",   "18446744073709551616",
                                   "\"1e3\"", "\"18446744073709551616\""};
  static const char *const mc_names[] = {
      "messageCode 1e3",  "messageCode 1.5",     "messageCode 101.0",
      "messageCode 2^64", "messageCode \"1e3\"", "messageCode \"2^64\""};
  for (size_t i = 0; i < 6; i++) {
    c = add(mc_names[i], 50, ONLY(API_MSG_POST), 400,
            i == 3 ? "malformed-body" : NULL, 0, NULL);
    bb_str(&c->body, "{\"orderId\":\"hostile\",\"messageCode\":");
    bb_str(&c->body, mc[i]);
    bb_str(&c->body, "}");
  }
  c = add("CBOR messageCode float 1000.0", 60, ONLY(API_MSG_POST), 400, NULL, 0,
          NULL);
  cb_head(&c->body, 5, 2);
  cb_text(&c->body, "orderId");
  cb_text(&c->body, "hostile");
  cb_text(&c->body, "messageCode");
  bb_put(&c->body, "\xf9\x63\xd0", 3);
  c = add("JSON duplicate orderId", 50, ONLY(API_MSG_POST), 400,
          "malformed-body", 0, NULL);
  bb_str(&c->body, "{\"messageCode\":101,\"orderId\":\"a\",\"orderId\":\"b\"}");
  c = add("JSON batch of 20000 integers", 50, ONLY(API_MSG_POST), 413,
          "too-large", 0, NULL);
  bb_str(&c->body, "{\"StatusMessages\":[1");
  bb_rep(&c->body, ",1", 19999);
  bb_str(&c->body, "]}");
  c = add("CBOR batch of 20000 small integers", 60, ONLY(API_MSG_POST), 413,
          "too-large", 0, NULL);
  cb_head(&c->body, 5, 1);
  cb_text(&c->body, "StatusMessages");
  cb_head(&c->body, 4, 20000);
  bb_repb(&c->body, 1, 20000);
  c = add("JSON macAddress of 20000 entries", 50, ONLY(API_MSG_POST), 413,
          "too-large", 0, NULL);
  bb_str(&c->body, "{\"messageCode\":101,\"orderId\":\"h\",\"macAddress\":[1");
  bb_rep(&c->body, ",1", 19999);
  bb_str(&c->body, "]}");
  c = add("CBOR messageParameters of 20000 entries", 60, ONLY(API_MSG_POST),
          413, "too-large", 0, NULL);
  cb_head(&c->body, 5, 3);
  cb_text(&c->body, "messageCode");
  cb_head(&c->body, 0, 101);
  cb_text(&c->body, "orderId");
  cb_text(&c->body, "h");
  cb_text(&c->body, "messageParameters");
  cb_head(&c->body, 4, 20000);
  bb_repb(&c->body, 1, 20000);

  static const char *const ff[] = {
      "{\"fromStatusMessageID\":1.5}",
      "{\"fromStatusMessageID\":18446744073709551616}",
      "{\"fromStatusMessageID\":\"99999999999999999999\"}",
      "{\"toStatusMessageID\":-9223372036854775809}",
      "{\"limit\":1e3}",
      "{\"limit\":\"1e3\"}",
      "{\"orderId\":\"a\",\"orderId\":\"a\"}"};
  static const char *const ff_names[] = {"FETCH fromStatusMessageID 1.5",
                                         "FETCH fromStatusMessageID 2^64",
                                         "FETCH fromStatusMessageID \"10^20\"",
                                         "FETCH toStatusMessageID -2^63-1",
                                         "FETCH limit 1e3",
                                         "FETCH limit \"1e3\"",
                                         "FETCH duplicate orderId"};
  for (size_t i = 0; i < 7; i++) {
    c = add(ff_names[i], 50, ONLY(API_MSG_FETCH), 400, NULL, 0, NULL);
    bb_str(&c->body, ff[i]);
  }
  c = add("FETCH orderId as 20000 integers", 50, ONLY(API_MSG_FETCH), 400, NULL,
          0, NULL);
  bb_str(&c->body, "{\"orderId\":[1");
  bb_rep(&c->body, ",1", 19999);
  bb_str(&c->body, "]}");
  c = add("CBOR FETCH limit of 20000 small integers", 60, ONLY(API_MSG_FETCH),
          400, NULL, 0, NULL);
  cb_head(&c->body, 5, 1);
  cb_text(&c->body, "limit");
  cb_head(&c->body, 4, 20000);
  bb_repb(&c->body, 1, 20000);

  /* ---- provisioning --------------------------------------------------- */
  static const char *const pi[] = {
      "18446744073709551616",        "1.5", "1e3", "\"18446744073709551616\"",
      "\"99999999999999999999999\"", "-1"};
  static const char *const pi_names[] = {
      "provisioning_id 2^64",      "provisioning_id 1.5",
      "provisioning_id 1e3",       "provisioning_id \"2^64\"",
      "provisioning_id \"10^22\"", "provisioning_id -1"};
  for (size_t i = 0; i < 6; i++) {
    c = add(pi_names[i], 50, ONLY(API_PROV), 0, NULL, 400,
            i == 0 ? "INVALID_REQUEST_PRAM" : "INVALID_PROVISIONING_ID_PRAM");
    bb_str(&c->body, "{\"action\":\"select\",\"provisioning_id\":");
    bb_str(&c->body, pi[i]);
    bb_str(&c->body, "}");
  }
  c = add("CBOR provisioning_id 2^64-1", 60, ONLY(API_PROV), 0, NULL, 400,
          "INVALID_REQUEST_PRAM");
  cb_head(&c->body, 5, 2);
  cb_text(&c->body, "action");
  cb_text(&c->body, "select");
  cb_text(&c->body, "provisioning_id");
  cb_head64(&c->body, 0, UINT64_MAX);
  c = add("CBOR provisioning_id float 11.0", 60, ONLY(API_PROV), 0, NULL, 400,
          "INVALID_PROVISIONING_ID_PRAM");
  cb_head(&c->body, 5, 2);
  cb_text(&c->body, "action");
  cb_text(&c->body, "select");
  cb_text(&c->body, "provisioning_id");
  bb_put(&c->body, "\xf9\x49\x80", 3);
  c = add("insert of 20000 unknown sensor ids", 50, ONLY(API_PROV), 0, NULL,
          400, "INVALID_COMPONENT_SENSOR_ID_PRAM");
  bb_str(&c->body, "{\"action\":\"insert\",\"provisioning_id\":11,"
                   "\"component_type\":0,\"component_id\":[7");
  bb_rep(&c->body, ",7", 19999);
  bb_str(&c->body, "]}");
  c = add("CBOR update of 20000 unknown provisioning_component_ids", 60,
          ONLY(API_PROV), 0, NULL, 400, NULL);
  cb_head(&c->body, 5, 3);
  cb_text(&c->body, "action");
  cb_text(&c->body, "update");
  cb_text(&c->body, "active_status");
  cb_head(&c->body, 0, 1);
  cb_text(&c->body, "provisioning_component_id");
  cb_head(&c->body, 4, 20000);
  for (int i = 0; i < 20000; i++)
    cb_head(&c->body, 0, 9);
  c = add("CBOR select of 20000 provisioning_component_ids", 60, ONLY(API_PROV),
          0, NULL, 404, "NO_DATA");
  cb_head(&c->body, 5, 2);
  cb_text(&c->body, "action");
  cb_text(&c->body, "select");
  cb_text(&c->body, "provisioning_component_id");
  cb_head(&c->body, 4, 20000);
  for (int i = 0; i < 20000; i++)
    cb_head(&c->body, 0, 24 + (uint64_t)(i % 200)); /* none stored yet */
  free(v.p);
}

/* ------------------------------------------------------------------------ */
/* 1. Hostile payloads                                                       */

static void test_hostile_payloads(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  build_cases();
  failures = requests = 0;
  uint64_t t0 = it_now_ms();
  for (size_t i = 0; i < n_cases; i++)
    run_case(&cases[i]);
  fprintf(stderr,
          "\n  %zu payloads, %d requests (each followed by a GET), %d wrong "
          "answers, %.1f s\n",
          n_cases, requests, failures, (double)(it_now_ms() - t0) / 1000.0);
  for (size_t i = 0; i < n_cases; i++)
    free(cases[i].body.p);
  free(cases);
  cases = NULL;
  n_cases = cap_cases = 0;
  CU_ASSERT_TRUE(it_server_alive(&srv, 2000));
}

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

static void test_random_datagrams(void) {
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

/* ------------------------------------------------------------------------ */
/* 3. Observation caps                                                       */

/* Resources 0..99 take one observation each from one session; 100 is the
 * per-resource cap's; 101 is re-registered with new tokens. */
#define N_OBS_RES 102
#define RES_CAP 100
#define RES_REREG 101
#define PEER_CAP 64

static void obs_dep(char *out, size_t cap, int k) {
  snprintf(out, cap, "4057113e-0000-4000-8000-%012d", k);
}

static void obs_path(char *out, size_t cap, int k) {
  char dep[40];
  obs_dep(dep, sizeof(dep), k);
  snprintf(out, cap, "device/" DEV "-obs/deployment/%s/status", dep);
}

static int post_report(int k, const char *state) {
  char path[160], body[512], dep[40];
  obs_path(path, sizeof(path), k);
  obs_dep(dep, sizeof(dep), k);
  snprintf(body, sizeof(body),
           "{\"apiVersion\":\"v1\",\"kind\":\"DeploymentStatus\","
           "\"deploymentId\":\"%s\",\"status\":{\"state\":\"%s\"},"
           "\"components\":[]}",
           dep, state);
  it_coap_msg_t *r = itp_msg_new();
  it_req_t rq = IT_REQ(IT_POST, path);
  rq.content_format = EC_FORMAT_JSON;
  rq.payload = body;
  rq.payload_len = strlen(body);
  int code = server_ok() && it_coap_request(&udp, &rq, r, RAW_TIMEOUT_MS) == 0
                 ? IT_CODE_INT(r->code)
                 : -1;
  free(r);
  return code;
}

static void obs_token(uint8_t tok[8], uint32_t id) {
  memcpy(tok, "obs", 4);
  tok[4] = (uint8_t)(id >> 24);
  tok[5] = (uint8_t)(id >> 16);
  tok[6] = (uint8_t)(id >> 8);
  tok[7] = (uint8_t)id;
}

/* The observation token's id, or -1 for another token. */
static long obs_token_id(const it_coap_msg_t *r) {
  if (r->token_len != 8 || memcmp(r->token, "obs", 4) != 0)
    return -1;
  return (long)((uint32_t)r->token[4] << 24 | (uint32_t)r->token[5] << 16 |
                (uint32_t)r->token[6] << 8 | r->token[7]);
}

/* GET resource @p k with Observe @p action and token @p tok_id; the
 * answer's code (-1: none), whether it carried Observe, and its title. */
static int observe(it_udp_t *u, int k, uint32_t tok_id, int action,
                   bool *has_observe, char *title, size_t title_cap) {
  char path[160];
  uint8_t tok[8];
  obs_token(tok, tok_id);
  obs_path(path, sizeof(path), k);
  it_coap_msg_t *m = itp_msg_new(), *r = itp_msg_new();
  it_coap_init(m, IT_CON, IT_GET, it_udp_mid(u), tok, sizeof(tok));
  it_coap_add_uint(m, IT_OPT_OBSERVE, (uint32_t)action);
  it_coap_add_path(m, path);
  it_coap_add_uint(m, IT_OPT_ACCEPT, EC_FORMAT_JSON);
  int code = -1;
  size_t len;
  *has_observe = false;
  title[0] = '\0';
  if (server_ok() && it_coap_exchange(u, m, r, RAW_TIMEOUT_MS) == 0) {
    code = IT_CODE_INT(r->code);
    *has_observe = it_coap_opt(r, IT_OPT_OBSERVE, 0, &len) != NULL;
    it_problem_t p;
    if (it_problem_parse(r->payload, r->payload_len, cf_of(r), &p) == 0 &&
        p.title)
      snprintf(title, title_cap, "%s", p.title);
    it_problem_free(&p);
  }
  free(m);
  free(r);
  return code;
}

/* Collect notifications on @p u for @p wait_ms (acknowledging CONs); count
 * them per token id below @p n_ids into @p seen, the rest into *strays. */
static void notifications(it_udp_t *u, unsigned wait_ms, int *seen, long n_ids,
                          int want, int *strays) {
  it_coap_msg_t *r = itp_msg_new();
  uint64_t deadline = it_now_ms() + wait_ms;
  int got = 0;
  *strays = 0;
  while (it_now_ms() < deadline) {
    /* Once all wanted came, only a short wait for ones that should not. */
    if (got == want && deadline > it_now_ms() + 300)
      deadline = it_now_ms() + 300;
    if (it_udp_recv_msg(u, r, (unsigned)(deadline - it_now_ms())) < 0)
      continue;
    if (r->type == IT_CON) {
      uint8_t ack[4] = {(uint8_t)(1u << 6 | IT_ACK << 4), 0,
                        (uint8_t)(r->mid >> 8), (uint8_t)r->mid};
      it_udp_send(u, ack, sizeof(ack));
    }
    long id = obs_token_id(r);
    if (r->code != IT_CODE(2, 5) || id < 0 || id >= n_ids || seen[id]++ > 0)
      (*strays)++;
    else
      got++;
  }
  free(r);
}

static bool obs_resources_made;

static void make_obs_resources(void) {
  if (obs_resources_made)
    return;
  for (int k = 0; k < N_OBS_RES; k++)
    CU_ASSERT_EQUAL_FATAL(post_report(k, "Pending"), 201);
  obs_resources_made = true;
}

static void test_observation_caps(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  make_obs_resources();
  it_udp_t a;
  char title[64];
  bool has_obs;
  int made = 0, refused = 0;
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&a, srv.port), 0);

  /* One session registers 100 observations on 100 resources: the first
   * 64 are made, the rest refused 5.03 without Observe. */
  for (uint32_t i = 0; i < 100; i++) {
    int code = observe(&a, (int)i, i, 0, &has_obs, title, sizeof(title));
    if (i < PEER_CAP && code == 205 && has_obs)
      made++;
    else if (i >= PEER_CAP && code == 503 && !has_obs &&
             strcmp(title, "too-many-observers") == 0)
      refused++;
    else
      fprintf(stderr, "\nit_hostile: observation %u: %d %s%s\n", i, code, title,
              has_obs ? " with Observe" : " without Observe");
  }
  CU_ASSERT_EQUAL(made, PEER_CAP);
  CU_ASSERT_EQUAL(refused, 100 - PEER_CAP);

  /* A change of each resource notifies exactly the 64 that were made. */
  for (int k = 0; k < 100; k++)
    CU_ASSERT_EQUAL(post_report(k, "Installed"), 204);
  int seen[100] = {0}, strays;
  notifications(&a, 5000, seen, PEER_CAP, PEER_CAP, &strays);
  int notified = 0;
  for (int i = 0; i < PEER_CAP; i++)
    notified += seen[i] == 1;
  if (notified != PEER_CAP || strays != 0)
    fprintf(stderr, "\nit_hostile: %d of %d observers notified, %d strays\n",
            notified, PEER_CAP, strays);
  CU_ASSERT_EQUAL(notified, PEER_CAP);
  CU_ASSERT_EQUAL(strays, 0);
  it_udp_close(&a);

  /* The per-resource cap (--max-observers 40), one observation per
   * session: the 41st is refused until one of the 40 is cancelled. */
  it_udp_t b[MAX_OBSERVERS + 2];
  made = 0;
  for (int i = 0; i < MAX_OBSERVERS + 2; i++)
    CU_ASSERT_EQUAL_FATAL(it_udp_open(&b[i], srv.port), 0);
  for (int i = 0; i < MAX_OBSERVERS; i++)
    made += observe(&b[i], RES_CAP, 1000 + (uint32_t)i, 0, &has_obs, title,
                    sizeof(title)) == 205 &&
            has_obs;
  CU_ASSERT_EQUAL(made, MAX_OBSERVERS);
  CU_ASSERT_EQUAL(observe(&b[MAX_OBSERVERS], RES_CAP, 2000, 0, &has_obs, title,
                          sizeof(title)),
                  503);
  CU_ASSERT_FALSE(has_obs);
  CU_ASSERT_STRING_EQUAL(title, "too-many-observers");
  CU_ASSERT_EQUAL(
      observe(&b[0], RES_CAP, 1000, 1, &has_obs, title, sizeof(title)), 205);
  CU_ASSERT_EQUAL(observe(&b[MAX_OBSERVERS], RES_CAP, 2001, 0, &has_obs, title,
                          sizeof(title)),
                  205);
  CU_ASSERT_TRUE(has_obs);
  CU_ASSERT_EQUAL(observe(&b[MAX_OBSERVERS + 1], RES_CAP, 2002, 0, &has_obs,
                          title, sizeof(title)),
                  503);
  for (int i = 0; i < MAX_OBSERVERS + 2; i++)
    it_udp_close(&b[i]);
  CU_ASSERT_TRUE(normal_get());
}

/* RFC 7641 section 4.1 keys an observation by client endpoint and token:
 * a session's observations of one resource with different tokens are
 * different observations, each notified (libcoap 4.3.1 merged them into
 * the last one). Registering the same token again replaces its
 * observation and counts once against the caps. */
static void test_observe_tokens_are_distinct_observations(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  make_obs_resources();
  it_udp_t a, e;
  char title[64];
  bool has_obs;
  int made = 0;
  const uint32_t n = MAX_OBSERVERS - 10; /* under the resource's cap */
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&a, srv.port), 0);
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&e, srv.port), 0);
  for (uint32_t i = 0; i < n; i++) {
    int code =
        observe(&a, RES_REREG, 3000 + i, 0, &has_obs, title, sizeof(title));
    if (code == 205 && has_obs)
      made++;
  }
  CU_ASSERT_EQUAL(made, (int)n);
  /* The same token again, more often than the cap has room for. */
  for (int i = 0; i < 20; i++) {
    CU_ASSERT_EQUAL(
        observe(&a, RES_REREG, 3000, 0, &has_obs, title, sizeof(title)), 205);
    CU_ASSERT_TRUE(has_obs);
  }
  /* Another client can still observe the resource. */
  CU_ASSERT_EQUAL(
      observe(&e, RES_REREG, 4000, 0, &has_obs, title, sizeof(title)), 205);
  CU_ASSERT_TRUE(has_obs);
  /* A change notifies every one of them, once. */
  CU_ASSERT_EQUAL(post_report(RES_REREG, "Failed"), 204);
  int *seen = calloc(5000, sizeof(int)), strays_a, strays_e, got = 0;
  CU_ASSERT_PTR_NOT_NULL_FATAL(seen);
  notifications(&a, 4000, seen, 5000, (int)n, &strays_a);
  for (uint32_t i = 0; i < n; i++)
    got += seen[3000 + i];
  CU_ASSERT_EQUAL(got, (int)n);
  CU_ASSERT_EQUAL(strays_a, 0);
  memset(seen, 0, 5000 * sizeof(int));
  notifications(&e, 3000, seen, 5000, 1, &strays_e);
  CU_ASSERT_EQUAL(seen[4000], 1);
  CU_ASSERT_EQUAL(strays_e, 0);
  free(seen);
  it_udp_close(&a);
  it_udp_close(&e);
  CU_ASSERT_TRUE(normal_get());
}

/* ------------------------------------------------------------------------ */
/* 4. A flood of peers                                                       */

enum { BEFORE, DURING, AFTER, N_PHASES };

typedef struct {
  int sent[N_PHASES];
  int answered[N_PHASES];
  unsigned max_ms;
  unsigned long sum_ms;
  int over_500ms;
} probe_t;

/* The well-behaved client, in a child process: one CON GET at a time, each
 * given PROBE_TIMEOUT_MS, until @p ctl reads EOF; each byte on @p ctl moves
 * it to the next phase (the flood starts, the flood ends). Writes a probe_t
 * on @p out. */
static void prober(int ctl, int out) {
  probe_t p;
  it_udp_t u;
  it_coap_msg_t *m = calloc(1, sizeof(*m)), *r = calloc(1, sizeof(*r));
  int phase = 0;
  memset(&p, 0, sizeof(p));
  if (m == NULL || r == NULL || it_udp_open(&u, srv.port) < 0)
    _exit(2);
  for (;;) {
    struct pollfd pfd = {ctl, POLLIN, 0};
    if (poll(&pfd, 1, 0) > 0) {
      char c;
      if (read(ctl, &c, 1) <= 0)
        break;
      if (phase < AFTER)
        phase++;
    }
    uint8_t tok[4];
    it_udp_token(&u, tok);
    it_coap_init(m, IT_CON, IT_GET, it_udp_mid(&u), tok, sizeof(tok));
    it_coap_add_path(m, STATUS_PATH);
    uint8_t dgram[256];
    ssize_t n = it_coap_encode(m, dgram, sizeof(dgram));
    uint64_t t0 = it_now_ms(), deadline = t0 + PROBE_TIMEOUT_MS;
    p.sent[phase]++;
    if (n > 0 && it_udp_send(&u, dgram, (size_t)n) == 0) {
      while (it_now_ms() < deadline) {
        if (it_udp_recv_msg(&u, r, (unsigned)(deadline - it_now_ms())) < 0)
          continue;
        if (r->type == IT_ACK && r->mid == m->mid && r->code == IT_CODE(2, 5)) {
          unsigned ms = (unsigned)(it_now_ms() - t0);
          p.answered[phase]++;
          p.sum_ms += ms;
          p.max_ms = ms > p.max_ms ? ms : p.max_ms;
          p.over_500ms += ms > 500;
          break;
        }
      }
    }
    it_sleep_ms(PROBE_GAP_MS);
  }
  ssize_t w = write(out, &p, sizeof(p));
  _exit(w == (ssize_t)sizeof(p) ? 0 : 3);
}

/* Raise the soft RLIMIT_NOFILE as far as @p want; the limit in effect. */
static rlim_t raise_nofile(rlim_t want) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
    return 1024;
  if (rl.rlim_cur < want) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want
                      ? want
                      : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

static void test_flood_of_peers(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  rlim_t limit = raise_nofile(FLOOD_PEERS + 128);
  int peers = limit >= FLOOD_PEERS + 128 ? FLOOD_PEERS : (int)limit - 128;
  if (peers < FLOOD_PEERS)
    fprintf(stderr,
            "\n  RLIMIT_NOFILE cannot be raised past %lu: flooding with %d "
            "peers instead of %d\n",
            (unsigned long)limit, peers, FLOOD_PEERS);
  CU_ASSERT_FATAL(peers > 0);
  int warn0 = it_server_log_count(&srv, "[WARN]");
  int err0 = it_server_log_count(&srv, "[ERROR]");
  long rss0 = it_server_rss_kib(&srv);

  int ctl[2], res[2];
  CU_ASSERT_FATAL(pipe(ctl) == 0 && pipe(res) == 0);
  fflush(NULL);
  pid_t child = fork();
  CU_ASSERT_FATAL(child >= 0);
  if (child == 0) {
    close(ctl[1]);
    close(res[0]);
    prober(ctl[0], res[1]);
  }
  close(ctl[0]);
  close(res[1]);
  it_sleep_ms(200); /* a few probes before the flood */

  int *fds = malloc((size_t)peers * sizeof(int));
  CU_ASSERT_PTR_NOT_NULL_FATAL(fds);
  struct pollfd *pfd = malloc(FLOOD_WAVE * sizeof(*pfd));
  CU_ASSERT_PTR_NOT_NULL_FATAL(pfd);
  int opened = 0, answered = 0;
  CU_ASSERT_EQUAL(write(ctl[1], "s", 1), 1);
  uint64_t t0 = it_now_ms();
  it_coap_msg_t *m = itp_msg_new();
  for (int base = 0; base < peers; base += FLOOD_WAVE) {
    uint64_t wave_start = it_now_ms();
    int n = peers - base < FLOOD_WAVE ? peers - base : FLOOD_WAVE;
    for (int i = 0; i < n; i++) {
      it_udp_t u;
      fds[base + i] = -1;
      pfd[i] = (struct pollfd){-1, POLLIN, 0};
      if (it_udp_open(&u, srv.port) < 0)
        continue;
      fds[base + i] = u.fd;
      opened++;
      uint8_t tok[4], dgram[256];
      it_udp_token(&u, tok);
      it_coap_init(m, IT_CON, IT_GET, it_udp_mid(&u), tok, sizeof(tok));
      it_coap_add_path(m, STATUS_PATH);
      ssize_t len = it_coap_encode(m, dgram, sizeof(dgram));
      if (len > 0)
        it_udp_send(&u, dgram, (size_t)len);
      pfd[i].fd = u.fd;
    }
    /* Collect this wave's answers before the next: bounded pacing. */
    int left = n;
    uint64_t deadline = it_now_ms() + FLOOD_WAVE_WAIT_MS;
    while (left > 0 && it_now_ms() < deadline) {
      if (poll(pfd, (nfds_t)n, (int)(deadline - it_now_ms())) <= 0)
        break;
      for (int i = 0; i < n; i++) {
        uint8_t buf[IT_COAP_MAX_DGRAM];
        if (pfd[i].fd < 0 || !(pfd[i].revents & POLLIN))
          continue;
        if (recv(pfd[i].fd, buf, sizeof(buf), MSG_DONTWAIT) >= 4 &&
            buf[1] == IT_CODE(2, 5))
          answered++;
        pfd[i].fd = -1; /* one answer per peer */
        left--;
      }
    }
    uint64_t spent = it_now_ms() - wave_start;
    if (spent < FLOOD_WAVE_MIN_MS)
      it_sleep_ms((unsigned)(FLOOD_WAVE_MIN_MS - spent));
  }
  free(m);
  uint64_t flood_ms = it_now_ms() - t0;
  long rss1 = it_server_rss_kib(&srv);

  /* The flood is over: a second of probes after it, then the results. */
  CU_ASSERT_EQUAL(write(ctl[1], "e", 1), 1);
  it_sleep_ms(1000);
  close(ctl[1]);
  probe_t p;
  memset(&p, 0, sizeof(p));
  ssize_t got = read(res[0], &p, sizeof(p));
  close(res[0]);
  int status = 0;
  waitpid(child, &status, 0);
  CU_ASSERT_EQUAL(got, (ssize_t)sizeof(p));
  CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  for (int i = 0; i < peers; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  free(fds);
  free(pfd);

  int sent = 0, ok = 0;
  for (int i = 0; i < N_PHASES; i++) {
    sent += p.sent[i];
    ok += p.answered[i];
  }
  fprintf(stderr,
          "\n  %d peers (%d sockets) in %.1f s, %d answered; prober: "
          "%d/%d answered during, %d/%d after, mean %.1f ms, max %u ms, "
          "%d over 500 ms; VmRSS %ld -> %ld KiB\n",
          peers, opened, (double)flood_ms / 1000.0, answered,
          p.answered[DURING], p.sent[DURING], p.answered[AFTER], p.sent[AFTER],
          ok ? (double)p.sum_ms / ok : 0.0, p.max_ms, p.over_500ms, rss0, rss1);
  CU_ASSERT_EQUAL(opened, peers);
  /* The well-behaved client was served throughout: 95% within 2 s each,
   * during the flood and after it. */
  CU_ASSERT(p.sent[DURING] >= 20);
  CU_ASSERT(p.answered[DURING] * 100 >= p.sent[DURING] * 95);
  CU_ASSERT(p.sent[AFTER] >= 5);
  CU_ASSERT(p.answered[AFTER] * 100 >= p.sent[AFTER] * 95);
  CU_ASSERT(sent > 0 && ok * 100 >= sent * 95);
  /* Idle sessions are capped: memory stays bounded. */
  CU_ASSERT(rss0 > 0 && rss1 > 0);
  CU_ASSERT(rss1 - rss0 < RSS_GROWTH_MAX_KIB);
  /* Nothing alarming was logged. */
  int warns = it_server_log_count(&srv, "[WARN]") - warn0;
  int errs = it_server_log_count(&srv, "[ERROR]") - err0;
  if (warns != 0 || errs != 0)
    it_server_log_tail(&srv, 40);
  CU_ASSERT_EQUAL(warns, 0);
  CU_ASSERT_EQUAL(errs, 0);
  CU_ASSERT_TRUE(it_server_alive(&srv, 3000));
  CU_ASSERT_TRUE(normal_get());
}

/* ------------------------------------------------------------------------ */
/* Last: everything above left a server that stops cleanly                   */

static void test_server_stops_cleanly(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  CU_ASSERT_EQUAL(it_server_stop(&srv), 0);
  int errors = it_server_log_count(&srv, "[ERROR]");
  if (errors != 0)
    it_server_log_tail(&srv, 60);
  CU_ASSERT_EQUAL(errors, 0);
}

/* ------------------------------------------------------------------------ */

static int suite_init(void) {
  it_init();
  udp.fd = -1;
  const char *s = getenv("EC_HOSTILE_SEED");
  seed = s ? (unsigned)strtoul(s, NULL, 10)
           : (unsigned)time(NULL) ^ (unsigned)getpid() << 8;
  rng = seed ? seed : 1;
  static const char *const extra[] = {"--max-observers", "40", NULL};
  itp_use_server(&srv);
  if (itp_start_server(&srv, extra) < 0 || it_udp_open(&udp, srv.port) < 0 ||
      it_udp_verify(&udp) < 0)
    return -1;
  if (itp_login_raw(&udp, "admin", ITP_ADMIN_PW, token, NULL) != 201)
    return -1;
  /* The status every normal GET reads. */
  static const char doc[] = DEP_DOC_HEAD DEP_DOC_COMPONENTS "}";
  it_coap_msg_t *r = itp_msg_new();
  it_req_t rq = IT_REQ(IT_POST, STATUS_PATH);
  rq.content_format = EC_FORMAT_JSON;
  rq.payload = doc;
  rq.payload_len = strlen(doc);
  int rc = it_coap_request(&udp, &rq, r, RAW_TIMEOUT_MS) == 0 &&
                   r->code == IT_CODE(2, 1)
               ? 0
               : -1;
  free(r);
  return rc;
}

static int suite_cleanup(void) {
  it_udp_close(&udp);
  return 0;
}

static const ec_test_t tests[] = {
    {test_hostile_payloads, "hostile_payloads"},
    {test_random_datagrams, "random_datagrams"},
    {test_observation_caps, "observation_caps"},
    {test_observe_tokens_are_distinct_observations,
     "observe_tokens_are_distinct_observations"},
    {test_flood_of_peers, "flood_of_peers"},
    {test_server_stops_cleanly, "server_stops_cleanly"},
};

/* Say how to repeat a failed run; it_after_run() keeps the server's
 * directory then. */
static unsigned after_run(unsigned failed, void *ctx) {
  if (failed != 0)
    fprintf(stderr, "it_hostile: seed %u (EC_HOSTILE_SEED repeats it)\n", seed);
  return it_after_run(failed, ctx);
}

int main(void) {
  static const ec_test_after_t after = {after_run, &srv, "it_hostile"};
  /* EC_HOSTILE_ONLY=name runs that test alone (and the final clean stop). */
  ec_test_t run[EC_TEST_COUNT(tests)];
  size_t n = 0;
  const char *only = getenv("EC_HOSTILE_ONLY");
  for (size_t i = 0; i < EC_TEST_COUNT(tests); i++)
    if (only == NULL || i + 1 == EC_TEST_COUNT(tests) ||
        strcmp(only, tests[i].name) == 0)
      run[n++] = tests[i];
  return ec_test_main("hostile", run, n, suite_init, suite_cleanup, &after);
}
