/* edgecoap tests: the device core's cases for CoAP messages and CBOR documents, written for any target: no heap, no stdio. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "edgecoap/device.h"
#include "device_keys.h"
#include "test_device_cases.h"

/* ---- CoAP messages ----------------------------------------------------- */

/* Room for the largest document of the cases: a report with an unknown
 * member of EC_DEV_MAX_ITEMS + 1 pairs (cbor_hostile()). */
static uint8_t edge[2 * EC_DEV_MAX_ITEMS + 1200];
const uint8_t *ec_test_at_edge(const uint8_t *p, size_t len) {
  memcpy(edge + sizeof edge - len, p, len);
  return edge + sizeof edge - len;
}

static int build_sample(uint8_t *buf, size_t cap) {
  static const uint8_t tok[3] = {1, 2, 3};
  ec_coap_build_t b;
  ec_coap_start(&b, buf, cap, EC_COAP_CON, EC_COAP_POST, 0xBEEF, tok, 3);
  ec_coap_add(&b, EC_COAP_OPT_ETAG, "\x01\x02", 2);
  ec_coap_add(&b, EC_COAP_OPT_URI_PATH, "device", 6);
  ec_coap_add(&b, EC_COAP_OPT_URI_PATH, "d", 1);
  ec_coap_add_uint(&b, EC_COAP_OPT_CONTENT_FORMAT, 60);
  ec_coap_add_uint(&b, EC_COAP_OPT_SIZE2, 70000);
  ec_coap_add(&b, 300, "0123456789abcdef", 16); /* a two-byte delta */
  ec_coap_add(&b, 2000, NULL, 0);
  size_t room;
  uint8_t *p = ec_coap_payload_room(&b, &room);
  if (p != NULL && room >= 3) {
    memcpy(p, "abc", 3);
  }
  ec_coap_payload_done(&b, 3);
  return ec_coap_finish(&b);
}

static void coap_roundtrip(void) {
  uint8_t buf[128];
  int n = build_sample(buf, sizeof buf);
  DCHECK(n > 0);
  ec_coap_msg_t m;
  DCHECK(ec_coap_parse(&m, buf, (size_t)n) == 0);
  DCHECK(m.type == EC_COAP_CON && m.code == EC_COAP_POST && m.mid == 0xBEEF);
  DCHECK(m.tkl == 3 && m.token[2] == 3);
  const uint8_t *v;
  size_t len;
  DCHECK(ec_coap_opt(&m, EC_COAP_OPT_URI_PATH, 1, &v, &len) == 1 && len == 1 &&
         v[0] == 'd');
  DCHECK(ec_coap_opt(&m, EC_COAP_OPT_URI_PATH, 2, &v, &len) == 0);
  DCHECK(ec_coap_opt(&m, 300, 0, &v, &len) == 1 && len == 16);
  DCHECK(ec_coap_opt(&m, 2000, 0, &v, &len) == 1 && len == 0);
  uint32_t u = 0;
  DCHECK(ec_coap_opt_uint(&m, EC_COAP_OPT_SIZE2, &u) == 1 && u == 70000);
  DCHECK(ec_coap_opt_uint(&m, EC_COAP_OPT_CONTENT_FORMAT, &u) == 1 && u == 60);
  DCHECK(ec_coap_opt_uint(&m, 300, &u) == EC_EPROTO);
  DCHECK(ec_coap_opt_uint(&m, EC_COAP_OPT_ACCEPT, &u) == 0);
  DCHECK(m.payload_len == 3 && memcmp(m.payload, "abc", 3) == 0);
  /* Every buffer too small by any amount is refused, never overrun. */
  for (int cap = 0; cap < n; cap++) {
    DCHECK(build_sample(buf, (size_t)cap) == EC_ENOSPC);
  }
}

static void coap_every_prefix(void) {
  uint8_t buf[128];
  int n = build_sample(buf, sizeof buf);
  ec_coap_msg_t m;
  /* Cut before the token ends, inside an option header or value, or just
   * after the payload marker: refused. Cut at an option boundary: a
   * shorter, well-formed message. */
  for (int cut = 0; cut < n; cut++) {
    int rc = ec_coap_parse(&m, ec_test_at_edge(buf, (size_t)cut), (size_t)cut);
    if (cut < 7 || cut == n - 3) {
      DCHECK(rc == EC_EPROTO);
    }
    if (rc == 0 && cut < n - 3) {
      DCHECK(m.payload == NULL);
      DCHECK(m.opts_len == (size_t)cut - 7);
    }
  }
  DCHECK(ec_coap_parse(&m, ec_test_at_edge(buf, (size_t)n), (size_t)n) == 0);
}

static void coap_malformed(void) {
  ec_coap_msg_t m;
  static const struct {
    uint8_t b[8];
    uint8_t len;
  } bad[] = {
      {{0x80, 0x01, 0, 1}, 4},                   /* version 2 */
      {{0x49, 0x01, 0, 1}, 4},                   /* TKL 9 */
      {{0x40, 0x00, 0, 1, 0xFF}, 5},             /* Empty with bytes */
      {{0x40, 0x45, 0, 1, 0xFF}, 5},             /* marker, no payload */
      {{0x40, 0x45, 0, 1, 0xF1, 0}, 6},          /* delta nibble 15 */
      {{0x40, 0x45, 0, 1, 0x1F, 0}, 6},          /* length nibble 15 */
      {{0x40, 0x45, 0, 1, 0xE0, 0xFF, 0xFF}, 7}, /* number past 65535 */
      {{0x40, 0x45, 0, 1, 0x15, 1}, 6},          /* value past the end */
      {{0x40, 0x45, 0}, 3},                      /* short header */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    DCHECK(ec_coap_parse(&m, ec_test_at_edge(bad[i].b, bad[i].len), bad[i].len) ==
           EC_EPROTO);
  }
  static const uint8_t empty_ack[4] = {0x60, 0, 0x12, 0x34};
  DCHECK(ec_coap_parse(&m, empty_ack, 4) == 0 && m.type == EC_COAP_ACK &&
         m.mid == 0x1234);
  /* Options out of order are a caller's error, kept by the builder. */
  uint8_t buf[32];
  ec_coap_build_t b;
  ec_coap_start(&b, buf, sizeof buf, EC_COAP_CON, 1, 1, NULL, 0);
  ec_coap_add(&b, 11, "a", 1);
  ec_coap_add(&b, 4, "a", 1);
  DCHECK(ec_coap_finish(&b) == EC_EINVAL);
}

/* ---- CBOR documents ---------------------------------------------------- */

/* What the server's codec writes for this report (tests/test_device_codec.c
 * checks the same equality against the codec itself on the host). */
const uint8_t ec_test_report_cbor[EC_TEST_REPORT_CBOR_LEN] = {
    0xa5, 0x6a, 0x61, 0x70, 0x69, 0x56, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e,
    0x62, 0x76, 0x31, 0x64, 0x6b, 0x69, 0x6e, 0x64, 0x70, 0x44, 0x65, 0x70,
    0x6c, 0x6f, 0x79, 0x6d, 0x65, 0x6e, 0x74, 0x53, 0x74, 0x61, 0x74, 0x75,
    0x73, 0x6c, 0x64, 0x65, 0x70, 0x6c, 0x6f, 0x79, 0x6d, 0x65, 0x6e, 0x74,
    0x49, 0x64, 0x78, 0x24, 0x61, 0x33, 0x65, 0x32, 0x66, 0x35, 0x64, 0x63,
    0x2d, 0x39, 0x31, 0x32, 0x65, 0x2d, 0x34, 0x39, 0x34, 0x66, 0x2d, 0x38,
    0x33, 0x39, 0x35, 0x2d, 0x35, 0x32, 0x63, 0x66, 0x33, 0x37, 0x36, 0x39,
    0x62, 0x63, 0x30, 0x36, 0x66, 0x73, 0x74, 0x61, 0x74, 0x75, 0x73, 0xa1,
    0x65, 0x73, 0x74, 0x61, 0x74, 0x65, 0x6a, 0x49, 0x6e, 0x73, 0x74, 0x61,
    0x6c, 0x6c, 0x69, 0x6e, 0x67, 0x6a, 0x63, 0x6f, 0x6d, 0x70, 0x6f, 0x6e,
    0x65, 0x6e, 0x74, 0x73, 0x82, 0xa2, 0x64, 0x6e, 0x61, 0x6d, 0x65, 0x62,
    0x64, 0x62, 0x65, 0x73, 0x74, 0x61, 0x74, 0x65, 0x69, 0x49, 0x6e, 0x73,
    0x74, 0x61, 0x6c, 0x6c, 0x65, 0x64, 0xa3, 0x64, 0x6e, 0x61, 0x6d, 0x65,
    0x63, 0x77, 0x65, 0x62, 0x65, 0x73, 0x74, 0x61, 0x74, 0x65, 0x66, 0x46,
    0x61, 0x69, 0x6c, 0x65, 0x64, 0x65, 0x65, 0x72, 0x72, 0x6f, 0x72, 0xa2,
    0x64, 0x63, 0x6f, 0x64, 0x65, 0x61, 0x45, 0x67, 0x6d, 0x65, 0x73, 0x73,
    0x61, 0x67, 0x65, 0x61, 0x6d};

static const ec_dev_component_t sample_comps[] = {
    {"db", EC_DEV_INSTALLED, {NULL, NULL, NULL}},
    {"web", EC_DEV_FAILED, {"E", "m", NULL}}};
const ec_dev_status_t ec_test_sample = {
    "v1", NULL, UUID, NULL, 0, EC_DEV_INSTALLING, {NULL, NULL, NULL},
    sample_comps, 2};

static void cbor_report_encode(void) {
  uint8_t buf[256];
  DCHECK(ec_dev_status_encode(&ec_test_sample, NULL, 0) == (int)sizeof ec_test_report_cbor);
  DCHECK(ec_dev_status_encode(&ec_test_sample, buf, sizeof buf) ==
         (int)sizeof ec_test_report_cbor);
  DCHECK(memcmp(buf, ec_test_report_cbor, sizeof ec_test_report_cbor) == 0);
  ec_dev_status_t bad = ec_test_sample;
  bad.deployment_id = "not-a-uuid";
  DCHECK(ec_dev_status_encode(&bad, buf, sizeof buf) == EC_EINVAL);
  bad = ec_test_sample;
  bad.state = EC_DEV_STATE_COUNT;
  DCHECK(ec_dev_status_encode(&bad, buf, sizeof buf) == EC_EINVAL);
}

static int names_seen;
static int on_comp(void *ctx, size_t idx, const ec_dev_component_view_t *c) {
  (void)ctx;
  if ((idx == 0 && c->name.len == 2 && c->state == EC_DEV_INSTALLED &&
       c->error_code.ptr == NULL && c->error_message.ptr == NULL) ||
      (idx == 1 && c->name.len == 3 && c->state == EC_DEV_FAILED &&
       c->error_code.len == 1 && c->error_code.ptr[0] == 'E' &&
       c->error_message.len == 1 && c->error_message.ptr[0] == 'm' &&
       c->error_source.ptr == NULL)) {
    names_seen++;
  }
  return 0;
}

static void cbor_status_decode(void) {
  ec_dev_status_view_t v;
  names_seen = 0;
  DCHECK(ec_dev_status_decode(ec_test_report_cbor, sizeof ec_test_report_cbor, &v, on_comp,
                              NULL) == 0);
  DCHECK(v.state == EC_DEV_INSTALLING && v.n_components == 2);
  DCHECK(names_seen == 2);
  DCHECK(v.deployment_id.len == 36 &&
         memcmp(v.deployment_id.ptr, UUID, 36) == 0);
  DCHECK(v.error_code.ptr == NULL && v.device_id.ptr == NULL);
  /* Every truncation is refused, every byte read inside the input. */
  for (size_t cut = 0; cut < sizeof ec_test_report_cbor; cut++) {
    DCHECK(ec_dev_status_decode(ec_test_at_edge(ec_test_report_cbor, cut), cut, &v, NULL,
                                NULL) < 0);
  }
  /* A trailing byte. */
  uint8_t more[sizeof ec_test_report_cbor + 1];
  memcpy(more, ec_test_report_cbor, sizeof ec_test_report_cbor);
  more[sizeof ec_test_report_cbor] = 0;
  DCHECK(ec_dev_status_decode(more, sizeof more, &v, NULL, NULL) ==
         EC_ESYNTAX);
}

/* Errors with their sources, of the status and of a component, read
 * back as written; an error of empty fields is none. */
static ec_dev_component_view_t comp_seen[3];
static int keep_comp(void *ctx, size_t idx, const ec_dev_component_view_t *c) {
  (void)ctx;
  if (idx < 3) {
    comp_seen[idx] = *c;
  }
  return idx == 2 ? -77 : 0; /* a callback's refusal stops the decoding */
}
static bool str_eq(ec_dev_str_t s, const char *c) {
  return c == NULL ? s.ptr == NULL
                   : s.ptr != NULL && s.len == strlen(c) &&
                         memcmp(s.ptr, c, s.len) == 0;
}
static void cbor_status_errors(void) {
  static const ec_dev_component_t comps[] = {
      {"a", EC_DEV_FAILED, {"c1", "m1", "s1"}},
      {"b", EC_DEV_REMOVED, {"", "", ""}},
      {"c", EC_DEV_PENDING, {NULL, NULL, NULL}}};
  ec_dev_status_t st = {"v1", NULL, UUID, "d", 9, EC_DEV_FAILED,
                        {"E", "disk", "src"}, comps, 2};
  static uint8_t buf[512];
  int n = ec_dev_status_encode(&st, buf, sizeof buf);
  DCHECK(n > 0 && (size_t)n <= sizeof buf);
  ec_dev_status_view_t v;
  memset(comp_seen, 0, sizeof comp_seen);
  DCHECK(ec_dev_status_decode(buf, (size_t)n, &v, keep_comp, NULL) == 0);
  DCHECK(str_eq(v.error_code, "E") && str_eq(v.error_message, "disk") &&
         str_eq(v.error_source, "src") && str_eq(v.device_id, "d") &&
         v.adopted_manifest_version == 9 && v.n_components == 2);
  DCHECK(str_eq(comp_seen[0].name, "a") && comp_seen[0].state == EC_DEV_FAILED &&
         str_eq(comp_seen[0].error_code, "c1") &&
         str_eq(comp_seen[0].error_message, "m1") &&
         str_eq(comp_seen[0].error_source, "s1"));
  DCHECK(str_eq(comp_seen[1].name, "b") && comp_seen[1].error_code.ptr == NULL &&
         comp_seen[1].error_message.ptr == NULL &&
         comp_seen[1].error_source.ptr == NULL);
  /* Without a source the source is absent. */
  st.error.source = NULL;
  n = ec_dev_status_encode(&st, buf, sizeof buf);
  DCHECK(ec_dev_status_decode(buf, (size_t)n, &v, NULL, NULL) == 0 &&
         str_eq(v.error_code, "E") && v.error_source.ptr == NULL);
  /* Every truncation of it is refused. */
  for (int cut = 0; cut < n; cut++) {
    DCHECK(ec_dev_status_decode(ec_test_at_edge(buf, (size_t)cut), (size_t)cut, &v,
                                keep_comp, NULL) < 0);
  }
  st.n_components = 3;
  n = ec_dev_status_encode(&st, buf, sizeof buf);
  DCHECK(ec_dev_status_decode(buf, (size_t)n, &v, keep_comp, NULL) == -77);
}

/* A provisioning request: action first, the members present in the
 * codec's order, an ID past 32 bits in its 8-byte head; measured as
 * written; refused without values or out of range. */
static void cbor_prov_request(void) {
  static const uint8_t want[] = {
      0xa3, 0x66, 'a', 'c', 't', 'i', 'o', 'n', 0x66, 's', 'e', 'l', 'e',
      'c', 't', 0x6f, 'p', 'r', 'o', 'v', 'i', 's', 'i', 'o', 'n', 'i', 'n',
      'g', '_', 'i', 'd', 0x07, 0x6c, 'c', 'o', 'm', 'p', 'o', 'n', 'e', 'n',
      't', '_', 'i', 'd', 0x82, 0x01, 0x1b, 0, 0, 0, 1, 0, 0, 0, 0};
  static const int64_t ids[] = {1, 4294967296LL};
  ec_dev_prov_req_t rq;
  memset(&rq, 0, sizeof rq);
  rq.has_provisioning_id = true;
  rq.provisioning_id = 7;
  rq.component_id = (ec_dev_prov_ids_t){ids, 2, true, true};
  uint8_t buf[64];
  DCHECK(ec_dev_prov_request_encode(&rq, NULL, 0) == (int)sizeof want);
  DCHECK(ec_dev_prov_request_encode(&rq, buf, sizeof buf) == (int)sizeof want);
  DCHECK(memcmp(buf, want, sizeof want) == 0);
  /* Too small a buffer: the length, nothing past it written. */
  memset(buf, 0xEE, sizeof buf);
  DCHECK(ec_dev_prov_request_encode(&rq, buf, 10) == (int)sizeof want);
  DCHECK(buf[10] == 0xEE);
  rq.component_id.n = 0;
  DCHECK(ec_dev_prov_request_encode(&rq, buf, sizeof buf) == EC_EINVAL);
  rq.component_id.n = 2;
  rq.action = 3;
  DCHECK(ec_dev_prov_request_encode(&rq, buf, sizeof buf) == EC_EINVAL);
  rq.action = 1;
  rq.has_component_type = true;
  rq.component_type = -1;
  DCHECK(ec_dev_prov_request_encode(&rq, buf, sizeof buf) == EC_EINVAL);
  DCHECK(ec_dev_prov_request_encode(NULL, buf, sizeof buf) == EC_EINVAL);
}

/* A report with one unknown member of value @p val ahead of the rest. */
static int decode_with(const uint8_t *val, size_t len) {
  static uint8_t doc[sizeof ec_test_report_cbor + 2 * EC_DEV_MAX_ITEMS + 16];
  size_t n = 0;
  doc[n++] = 0xa6;
  doc[n++] = 0x61;
  doc[n++] = 'x';
  memcpy(doc + n, val, len);
  n += len;
  memcpy(doc + n, ec_test_report_cbor + 1, sizeof ec_test_report_cbor - 1);
  n += sizeof ec_test_report_cbor - 1;
  ec_dev_status_view_t v;
  return ec_dev_status_decode(ec_test_at_edge(doc, n), n, &v, NULL, NULL);
}

static void cbor_hostile(void) {
  static const uint8_t ok1[] = {0xf5};                      /* true */
  static const uint8_t ok2[] = {0xa1, 0x61, 'a', 0x80};     /* {"a": []} */
  static const uint8_t ok3[] = {0xfa, 0x3f, 0x80, 0, 0};    /* 1.0f */
  DCHECK(decode_with(ok1, sizeof ok1) == 0);
  DCHECK(decode_with(ok2, sizeof ok2) == 0);
  DCHECK(decode_with(ok3, sizeof ok3) == 0);
  static const struct {
    uint8_t b[12];
    uint8_t len;
  } bad[] = {
      {{0x7b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 9}, /* text of 2^63 */
      {{0x9b, 0x80, 0, 0, 0, 0, 0, 0, 0}, 9},                      /* array of 2^63 */
      {{0xbb, 0x40, 0, 0, 0, 0, 0, 0, 0}, 9},                      /* map of 2^62 */
      {{0x9f, 0xff}, 2},                                           /* indefinite */
      {{0xc1, 0x00}, 2},                                           /* a tag */
      {{0x41, 0x00}, 2},                                           /* bytes */
      {{0x62, 0xc3, 0x28}, 3},                                     /* bad UTF-8 */
      {{0x61, 0x00}, 2},                                           /* NUL */
      {{0x62, 0xc0, 0x80}, 3},                                     /* overlong */
      {{0xf7}, 1},                                                 /* undefined */
      {{0xfa, 0x7f, 0xc0, 0, 0}, 5},                               /* NaN */
      {{0xf9, 0x7c, 0x00}, 3},                                     /* infinity */
      {{0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0}, 9},                      /* past int64 */
      {{0x1c}, 1},                                                 /* reserved */
      {{0xa1, 0x40, 0x00}, 3},                                     /* bytes key */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    DCHECK(decode_with(bad[i].b, bad[i].len) < 0);
  }
  /* Nesting past the cap: [[[[...]]]]. */
  uint8_t deep[EC_DEV_MAX_DEPTH + 2];
  memset(deep, 0x81, sizeof deep);
  deep[sizeof deep - 1] = 0x80;
  DCHECK(decode_with(deep, sizeof deep) == EC_ETOOBIG);
  DCHECK(decode_with(deep + 3, sizeof deep - 3) == 0);
  /* A known member twice. */
  static const uint8_t twice[] = {0xa2, 0x64, 'k', 'i', 'n', 'd', 0x61, 'a',
                                  0x64, 'k', 'i', 'n', 'd', 0x61, 'a'};
  ec_dev_status_view_t v;
  DCHECK(ec_dev_status_decode(twice, sizeof twice, &v, NULL, NULL) ==
         EC_ESYNTAX);
  /* Any key twice, as the codec refuses it: an unknown member, a key of
   * a map inside an unknown member, an integer key; other keys pass. */
  static const uint8_t unknown_twice[] = {0xa2, 0x61, 'y', 0x00,
                                          0x61, 'y', 0x01};
  DCHECK(ec_dev_status_decode(unknown_twice, sizeof unknown_twice, &v, NULL,
                              NULL) == EC_ESYNTAX);
  static const uint8_t inner_twice[] = {0xa3, 0x61, 'a', 0x00, 0x61,
                                        'b', 0x00, 0x61, 'a', 0x80};
  DCHECK(decode_with(inner_twice, sizeof inner_twice) == EC_ESYNTAX);
  static const uint8_t int_twice[] = {0xa2, 0x21, 0xf6, 0x21, 0xf5};
  DCHECK(decode_with(int_twice, sizeof int_twice) == EC_ESYNTAX);
  static const uint8_t distinct[] = {0xa3, 0x61, 'a', 0x00, 0x62, 'a',
                                     'a', 0x00, 0x20, 0x00};
  DCHECK(decode_with(distinct, sizeof distinct) == 0);
  DCHECK(ec_dev_problem_decode((const uint8_t[]){0xa2, 0x20, 0x61, 'a', 0x20,
                                                 0x61, 'b'},
                               7, &(ec_dev_problem_t){0}) == EC_ESYNTAX);
  /* Keys are compared by value, as the codec's tree keys them
   * (tests/device_keys.h). */
  for (size_t i = 0; i < EC_TEST_N_KEYS; i++) {
    DCHECK(decode_with(ec_test_keys[i].b, ec_test_keys[i].len) ==
           (ec_test_keys[i].twice ? EC_ESYNTAX : 0));
  }
  /* A known member the second time with a longer head. */
  static const uint8_t kind_long[] = {0xa2, 0x64, 'k', 'i', 'n', 'd', 0x61,
                                      'a', 0x78, 0x04, 'k', 'i', 'n', 'd',
                                      0x61, 'a'};
  DCHECK(ec_dev_status_decode(kind_long, sizeof kind_long, &v, NULL, NULL) ==
         EC_ESYNTAX);
  /* The codec's cap on an array's elements and a map's pairs,
   * EC_DEV_MAX_ITEMS: at it read, past it refused (EC_ETOOBIG), before
   * any member of it is read. */
  static uint8_t big[2 * EC_DEV_MAX_ITEMS + 8];
  for (int more = 0; more <= 1; more++) {
    size_t n = EC_DEV_MAX_ITEMS + (size_t)more;
    big[0] = 0x99;
    big[1] = (uint8_t)(n >> 8);
    big[2] = (uint8_t)n;
    memset(big + 3, 0x00, n);
    DCHECK(decode_with(big, 3 + n) == (more ? EC_ETOOBIG : 0));
    DCHECK(ec_dev_cbor_check(big, 3 + n) == (more ? EC_ETOOBIG : 0));
  }
  big[0] = 0xb9; /* a map of EC_DEV_MAX_ITEMS + 1 pairs 0: 0 */
  memset(big + 3, 0x00, 2 * (EC_DEV_MAX_ITEMS + 1));
  DCHECK(decode_with(big, 3 + 2 * (EC_DEV_MAX_ITEMS + 1)) == EC_ETOOBIG);
  ec_dev_cbor_t c = {big, 3 + 2 * (EC_DEV_MAX_ITEMS + 1)};
  ec_dev_cbor_item_t it;
  DCHECK(ec_dev_cbor_next(&c, &it) == EC_ETOOBIG);
  /* Not a map; a map without the required members; empty. */
  static const uint8_t arr[] = {0x80};
  static const uint8_t empty_map[] = {0xa0};
  DCHECK(ec_dev_status_decode(arr, 1, &v, NULL, NULL) == EC_ESYNTAX);
  DCHECK(ec_dev_status_decode(empty_map, 1, &v, NULL, NULL) == EC_EBADDOC);
  DCHECK(ec_dev_status_decode(NULL, 0, &v, NULL, NULL) == EC_ESYNTAX);
}

/* ec_problem_encode(CBOR, "no-status", "none", 4.04, "f"). */
static const uint8_t problem_cbor[] = {
    0xa4, 0x20, 0x69, 0x6e, 0x6f, 0x2d, 0x73, 0x74, 0x61, 0x74, 0x75, 0x73,
    0x21, 0x64, 0x6e, 0x6f, 0x6e, 0x65, 0x23, 0x18, 0x84, 0x38, 0xff, 0x61,
    0x66};

static void cbor_problem(void) {
  ec_dev_problem_t p;
  DCHECK(ec_dev_problem_decode(problem_cbor, sizeof problem_cbor, &p) == 0);
  DCHECK(p.code == 132 && p.title.len == 9 && p.detail.len == 4);
  DCHECK(p.field.len == 1 && p.field.ptr[0] == 'f');
  for (size_t cut = 0; cut < sizeof problem_cbor; cut++) {
    DCHECK(ec_dev_problem_decode(ec_test_at_edge(problem_cbor, cut), cut, &p) < 0);
  }
  /* The JSON names in CBOR, with the dotted code. */
  static const uint8_t named[] = {0xa2, 0x65, 't', 'i', 't', 'l', 'e', 0x61,
                                  'x',  0x6d, 'r', 'e', 's', 'p', 'o', 'n',
                                  's',  'e',  '-', 'c', 'o', 'd', 'e', 0x64,
                                  '4',  '.',  '2', '2'};
  DCHECK(ec_dev_problem_decode(named, sizeof named, &p) == 0 && p.code == 150);
  static const uint8_t badcode[] = {0xa1, 0x23, 0x19, 0x01, 0x00}; /* -4: 256 */
  DCHECK(ec_dev_problem_decode(badcode, sizeof badcode, &p) == EC_EBADDOC);
  /* A concise key as the text of its number is that key, as in the
   * codec's tree ("-1" title), and given both ways it is given twice. */
  static const uint8_t text_key[] = {0xa1, 0x62, '-', '1', 0x61, 'x'};
  DCHECK(ec_dev_problem_decode(text_key, sizeof text_key, &p) == 0 &&
         p.title.len == 1 && p.title.ptr[0] == 'x');
  static const uint8_t both_keys[] = {0xa2, 0x20, 0x61, 'x',
                                      0x62, '-', '1', 0x61, 'y'};
  DCHECK(ec_dev_problem_decode(both_keys, sizeof both_keys, &p) ==
         EC_ESYNTAX);
}

/* {"StatusMessages": [{"statusMessageID": 7, "messageCode": 101, "orderId":
 * "O1", "macAddress": ["aa:bb:cc:dd:ee:ff"]}, {"statusMessageID": "8",
 * "messageCode": 110, "accessId": "A"}], "nextFromStatusMessageID": 8},
 * transcoded by the codec. */
static const uint8_t page_cbor[] = {
    0xa2, 0x6e, 0x53, 0x74, 0x61, 0x74, 0x75, 0x73, 0x4d, 0x65, 0x73, 0x73,
    0x61, 0x67, 0x65, 0x73, 0x82, 0xa4, 0x6f, 0x73, 0x74, 0x61, 0x74, 0x75,
    0x73, 0x4d, 0x65, 0x73, 0x73, 0x61, 0x67, 0x65, 0x49, 0x44, 0x07, 0x6b,
    0x6d, 0x65, 0x73, 0x73, 0x61, 0x67, 0x65, 0x43, 0x6f, 0x64, 0x65, 0x18,
    0x65, 0x67, 0x6f, 0x72, 0x64, 0x65, 0x72, 0x49, 0x64, 0x62, 0x4f, 0x31,
    0x6a, 0x6d, 0x61, 0x63, 0x41, 0x64, 0x64, 0x72, 0x65, 0x73, 0x73, 0x81,
    0x71, 0x61, 0x61, 0x3a, 0x62, 0x62, 0x3a, 0x63, 0x63, 0x3a, 0x64, 0x64,
    0x3a, 0x65, 0x65, 0x3a, 0x66, 0x66, 0xa3, 0x6f, 0x73, 0x74, 0x61, 0x74,
    0x75, 0x73, 0x4d, 0x65, 0x73, 0x73, 0x61, 0x67, 0x65, 0x49, 0x44, 0x61,
    0x38, 0x6b, 0x6d, 0x65, 0x73, 0x73, 0x61, 0x67, 0x65, 0x43, 0x6f, 0x64,
    0x65, 0x18, 0x6e, 0x68, 0x61, 0x63, 0x63, 0x65, 0x73, 0x73, 0x49, 0x64,
    0x61, 0x41, 0x77, 0x6e, 0x65, 0x78, 0x74, 0x46, 0x72, 0x6f, 0x6d, 0x53,
    0x74, 0x61, 0x74, 0x75, 0x73, 0x4d, 0x65, 0x73, 0x73, 0x61, 0x67, 0x65,
    0x49, 0x44, 0x08};

static int64_t page_ids;
static int on_page_msg(void *ctx, size_t idx, const ec_dev_msg_t *m) {
  (void)ctx;
  if ((idx == 0 && m->code == 101 && m->n_macs == 1 && m->order_id.len == 2) ||
      (idx == 1 && m->code == 110 && m->access_id.len == 1)) {
    page_ids += m->id;
  }
  return 0;
}

static void cbor_message_page(void) {
  int64_t next = 0;
  page_ids = 0;
  DCHECK(ec_dev_msgs_decode(page_cbor, sizeof page_cbor, on_page_msg, NULL,
                            &next) == 0);
  DCHECK(next == 8 && page_ids == 15);
  bool refused = true;
  for (size_t cut = 0; cut < sizeof page_cbor; cut++) {
    refused = refused && ec_dev_msgs_decode(ec_test_at_edge(page_cbor, cut), cut, NULL,
                                            NULL, NULL) < 0;
  }
  DCHECK(refused);
}

/* ec_prov_select_encode(CBOR) of two rows: {12, 11, Sensor, 2, "Carbon
 * Monoxide", 1, 1, 2021-10-11 18:35:44} and {13, 11, Group Parameter, 4,
 * "T", 0, 2, 2000-02-29 00:00:00}. */
static const uint8_t prov_cbor[] = {
    0xa1, 0x69, 0x72, 0x65, 0x73, 0x70, 0x6f, 0x6e, 0x73, 0x65, 0x73, 0xa2,
    0x6a, 0x72, 0x65, 0x73, 0x70, 0x6f, 0x6e, 0x73, 0x65, 0x5f, 0x30, 0xa8,
    0x78, 0x19, 0x70, 0x72, 0x6f, 0x76, 0x69, 0x73, 0x69, 0x6f, 0x6e, 0x69,
    0x6e, 0x67, 0x5f, 0x63, 0x6f, 0x6d, 0x70, 0x6f, 0x6e, 0x65, 0x6e, 0x74,
    0x5f, 0x69, 0x64, 0x0c, 0x6f, 0x70, 0x72, 0x6f, 0x76, 0x69, 0x73, 0x69,
    0x6f, 0x6e, 0x69, 0x6e, 0x67, 0x5f, 0x69, 0x64, 0x0b, 0x6e, 0x63, 0x6f,
    0x6d, 0x70, 0x6f, 0x6e, 0x65, 0x6e, 0x74, 0x5f, 0x74, 0x79, 0x70, 0x65,
    0x66, 0x53, 0x65, 0x6e, 0x73, 0x6f, 0x72, 0x6c, 0x63, 0x6f, 0x6d, 0x70,
    0x6f, 0x6e, 0x65, 0x6e, 0x74, 0x5f, 0x69, 0x64, 0x02, 0x64, 0x6e, 0x61,
    0x6d, 0x65, 0x6f, 0x43, 0x61, 0x72, 0x62, 0x6f, 0x6e, 0x20, 0x4d, 0x6f,
    0x6e, 0x6f, 0x78, 0x69, 0x64, 0x65, 0x6d, 0x61, 0x63, 0x74, 0x69, 0x76,
    0x65, 0x5f, 0x73, 0x74, 0x61, 0x74, 0x75, 0x73, 0x01, 0x70, 0x6c, 0x61,
    0x73, 0x74, 0x5f, 0x6d, 0x6f, 0x64, 0x69, 0x66, 0x69, 0x65, 0x64, 0x5f,
    0x62, 0x79, 0x01, 0x76, 0x6c, 0x61, 0x73, 0x74, 0x5f, 0x6d, 0x6f, 0x64,
    0x69, 0x66, 0x69, 0x65, 0x64, 0x5f, 0x64, 0x61, 0x74, 0x65, 0x74, 0x69,
    0x6d, 0x65, 0x73, 0x32, 0x30, 0x32, 0x31, 0x2d, 0x31, 0x30, 0x2d, 0x31,
    0x31, 0x20, 0x31, 0x38, 0x3a, 0x33, 0x35, 0x3a, 0x34, 0x34, 0x6a, 0x72,
    0x65, 0x73, 0x70, 0x6f, 0x6e, 0x73, 0x65, 0x5f, 0x31, 0xa8, 0x78, 0x19,
    0x70, 0x72, 0x6f, 0x76, 0x69, 0x73, 0x69, 0x6f, 0x6e, 0x69, 0x6e, 0x67,
    0x5f, 0x63, 0x6f, 0x6d, 0x70, 0x6f, 0x6e, 0x65, 0x6e, 0x74, 0x5f, 0x69,
    0x64, 0x0d, 0x6f, 0x70, 0x72, 0x6f, 0x76, 0x69, 0x73, 0x69, 0x6f, 0x6e,
    0x69, 0x6e, 0x67, 0x5f, 0x69, 0x64, 0x0b, 0x6e, 0x63, 0x6f, 0x6d, 0x70,
    0x6f, 0x6e, 0x65, 0x6e, 0x74, 0x5f, 0x74, 0x79, 0x70, 0x65, 0x6f, 0x47,
    0x72, 0x6f, 0x75, 0x70, 0x20, 0x50, 0x61, 0x72, 0x61, 0x6d, 0x65, 0x74,
    0x65, 0x72, 0x6c, 0x63, 0x6f, 0x6d, 0x70, 0x6f, 0x6e, 0x65, 0x6e, 0x74,
    0x5f, 0x69, 0x64, 0x04, 0x64, 0x6e, 0x61, 0x6d, 0x65, 0x61, 0x54, 0x6d,
    0x61, 0x63, 0x74, 0x69, 0x76, 0x65, 0x5f, 0x73, 0x74, 0x61, 0x74, 0x75,
    0x73, 0x00, 0x70, 0x6c, 0x61, 0x73, 0x74, 0x5f, 0x6d, 0x6f, 0x64, 0x69,
    0x66, 0x69, 0x65, 0x64, 0x5f, 0x62, 0x79, 0x02, 0x76, 0x6c, 0x61, 0x73,
    0x74, 0x5f, 0x6d, 0x6f, 0x64, 0x69, 0x66, 0x69, 0x65, 0x64, 0x5f, 0x64,
    0x61, 0x74, 0x65, 0x74, 0x69, 0x6d, 0x65, 0x73, 0x32, 0x30, 0x30, 0x30,
    0x2d, 0x30, 0x32, 0x2d, 0x32, 0x39, 0x20, 0x30, 0x30, 0x3a, 0x30, 0x30,
    0x3a, 0x30, 0x30};

static ec_dev_prov_row_t prov_rows[2];
static int on_prov_row(void *ctx, size_t idx, const ec_dev_prov_row_t *row) {
  (void)ctx;
  if (idx < 2) {
    prov_rows[idx] = *row;
  }
  return idx == 5 ? -99 : 0;
}

/* prov_cbor with the first @p from (of its length) replaced by @p to, the
 * result decoded. */
static int prov_with(const char *from, const char *to) {
  static uint8_t doc[sizeof prov_cbor + 64]; /* @p to is < 64 bytes */
  size_t fl = strlen(from), tl = strlen(to), n = 0;
  for (size_t i = 0; i < sizeof prov_cbor; i++) {
    if (fl > 0 && i + fl <= sizeof prov_cbor && memcmp(prov_cbor + i, from, fl) == 0) {
      memcpy(doc + n, to, tl);
      n += tl;
      i += fl - 1;
      fl = 0;
    } else {
      doc[n++] = prov_cbor[i];
    }
  }
  size_t rows;
  return ec_dev_prov_decode(ec_test_at_edge(doc, n), n, NULL, NULL, &rows);
}

static void cbor_prov_decode(void) {
  size_t n = 9;
  memset(prov_rows, 0, sizeof prov_rows);
  DCHECK(ec_dev_prov_decode(prov_cbor, sizeof prov_cbor, on_prov_row, NULL,
                            &n) == 0);
  DCHECK(n == 2);
  const ec_dev_prov_row_t *a = &prov_rows[0], *b = &prov_rows[1];
  DCHECK(a->provisioning_component_id == 12 && a->provisioning_id == 11);
  DCHECK(a->component_type == 0 && a->component_id == 2);
  DCHECK(str_eq(a->name, "Carbon Monoxide") && a->active_status == 1);
  DCHECK(a->last_modified_by == 1 &&
         str_eq(a->last_modified, "2021-10-11 18:35:44"));
  DCHECK(b->provisioning_component_id == 13 && b->provisioning_id == 11);
  DCHECK(b->component_type == 2 && b->component_id == 4);
  DCHECK(str_eq(b->name, "T") && b->active_status == 0);
  DCHECK(b->last_modified_by == 2 &&
         str_eq(b->last_modified, "2000-02-29 00:00:00"));
  /* Every truncation is refused, every byte read inside the input; so is
   * a trailing byte. */
  bool refused = true;
  for (size_t cut = 0; cut < sizeof prov_cbor; cut++) {
    refused = refused && ec_dev_prov_decode(ec_test_at_edge(prov_cbor, cut), cut,
                                            NULL, NULL, &n) < 0;
  }
  DCHECK(refused && n == 0);
  static uint8_t more[sizeof prov_cbor + 1];
  memcpy(more, prov_cbor, sizeof prov_cbor);
  DCHECK(ec_dev_prov_decode(more, sizeof more, NULL, NULL, &n) == EC_ESYNTAX);
  /* What the codec reads too: digit strings, a type's number or name in
   * any case, an active_status past 1 (read as 1), unknown members. */
  DCHECK(prov_with("\x0c", "\x62" "12") == 0);
  DCHECK(prov_with("\x66Sensor", "\x66sENSOR") == 0);
  DCHECK(prov_with("\x66Sensor", "\x61" "2") == 0);
  DCHECK(prov_with("\x66Sensor", "\x01") == 0);
  DCHECK(prov_with("status\x01", "status\x07") == 0);
  DCHECK(prov_with("\x64name", "\x64nome") == EC_EBADDOC); /* name missing */
  /* What it refuses: every member is required and typed, a type past 2,
   * a negative number, a digit string of 19 digits, a day that does not
   * exist, a second 60 that carries into the next day, rows out of
   * order, responses that are no map, no responses at all. */
  DCHECK(prov_with("\x66Sensor", "\x03") == EC_EBADDOC);
  DCHECK(prov_with("\x66Sensor", "\x66Sensar") == EC_EBADDOC);
  DCHECK(prov_with("\x0c", "\x2b") == EC_EBADDOC);
  DCHECK(prov_with("\x0c", "\x73" "1234567890123456789") == EC_EBADDOC);
  DCHECK(prov_with("\x0c", "\x72" "123456789012345678") == 0);
  DCHECK(prov_with("\x64name\x6f", "\x64name\x0f") == EC_EBADDOC);
  DCHECK(prov_with("2000-02-29", "2001-02-29") == EC_EBADDOC);
  DCHECK(prov_with("2000-02-29", "2100-02-29") == EC_EBADDOC);
  DCHECK(prov_with("2021-10-11", "2021-09-31") == EC_EBADDOC);
  DCHECK(prov_with("2021-10-11", "2021-13-11") == EC_EBADDOC);
  DCHECK(prov_with("18:35:44", "23:59:60") == EC_EBADDOC);
  DCHECK(prov_with("18:35:44", "18:59:60") == 0);
  DCHECK(prov_with("18:35:44", "24:00:00") == EC_EBADDOC);
  DCHECK(prov_with("18:35:44", "18:35-44") == EC_EBADDOC);
  DCHECK(prov_with("response_0", "response_1") == EC_EBADDOC);
  DCHECK(prov_with("\x6aresponse_1", "\x6bresponse_01") == 0);
  DCHECK(prov_with("\x69responses\xa2", "\x69responses\x82") == EC_EBADDOC);
  DCHECK(prov_with("responses", "responsez") == EC_EBADDOC);
  /* Hostile heads: a map of 2^62 pairs, a text of 2^63 bytes, nesting past
   * the cap inside an unknown member. */
  DCHECK(prov_with("\x69responses\xa2",
                   "\x69responses\xbb\x40\x00\x00\x00\x00\x00\x00\x00") ==
         EC_ESYNTAX);
  DCHECK(prov_with("\x64name\x6f",
                   "\x64name\x7b\x7f\xff\xff\xff\xff\xff\xff\xff") ==
         EC_ESYNTAX);
  DCHECK(prov_with("\x64name", "\x61x\x81\x81\x81\x81\x81\x81\x81\x81\x81"
                                "\x81\x81\x81\x81\x80\x64name") == EC_ETOOBIG);
  /* The cap is the codec's, 16 levels: the row is the 3rd. */
  DCHECK(prov_with("\xa8", "\xa9\x61x\x81\x81\x81\x81\x81\x81\x81\x81\x81"
                           "\x81\x81\x81\x80") == 0);
  DCHECK(prov_with("\xa8", "\xa9\x61x\x81\x81\x81\x81\x81\x81\x81\x81\x81"
                           "\x81\x81\x81\x81\x80") == EC_ETOOBIG);
  static const uint8_t none[] = {0xa1, 0x69, 'r', 'e', 's', 'p', 'o',
                                 'n',  's',  'e', 's', 0xa0};
  static const uint8_t empty[] = {0xa0};
  DCHECK(ec_dev_prov_decode(none, sizeof none, NULL, NULL, &n) == 0 && n == 0);
  DCHECK(ec_dev_prov_decode(empty, 1, NULL, NULL, &n) == EC_EBADDOC);
  DCHECK(ec_dev_prov_decode(NULL, 0, NULL, NULL, &n) == EC_ESYNTAX);
}

const ec_dev_case_t ec_dev_cases[] = {
    {coap_roundtrip, "coap_roundtrip"},
    {coap_every_prefix, "coap_every_prefix"},
    {coap_malformed, "coap_malformed"},
    {cbor_report_encode, "cbor_report_encode"},
    {cbor_status_decode, "cbor_status_decode"},
    {cbor_status_errors, "cbor_status_errors"},
    {cbor_prov_request, "cbor_prov_request"},
    {cbor_hostile, "cbor_hostile"},
    {cbor_problem, "cbor_problem"},
    {cbor_message_page, "cbor_message_page"},
    {cbor_prov_decode, "cbor_prov_decode"},
};
const size_t ec_dev_n_cases = sizeof ec_dev_cases / sizeof ec_dev_cases[0];
