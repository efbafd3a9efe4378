/* edgecoap tests: the device core's cases (CoAP, CBOR, exchanges), written for any target: no heap, no stdio. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "edgecoap/device.h"
#include "test_device_cases.h"

#define UUID "a3e2f5dc-912e-494f-8395-52cf3769bc06"

/* ---- CoAP messages ----------------------------------------------------- */

/* Copy @p len bytes to the very end of a buffer, so that a read past the
 * input is a read past the array (which ASan reports on the host). */
static uint8_t edge[1200];
static const uint8_t *at_edge(const uint8_t *p, size_t len) {
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
    int rc = ec_coap_parse(&m, at_edge(buf, (size_t)cut), (size_t)cut);
    if (cut < 7 || cut == n - 3) {
      DCHECK(rc == EC_EPROTO);
    }
    if (rc == 0 && cut < n - 3) {
      DCHECK(m.payload == NULL);
      DCHECK(m.opts_len == (size_t)cut - 7);
    }
  }
  DCHECK(ec_coap_parse(&m, at_edge(buf, (size_t)n), (size_t)n) == 0);
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
    DCHECK(ec_coap_parse(&m, at_edge(bad[i].b, bad[i].len), bad[i].len) ==
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
static const uint8_t report_cbor[] = {
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
static const ec_dev_status_t sample = {
    "v1", NULL, UUID, NULL, 0, EC_DEV_INSTALLING, {NULL, NULL, NULL},
    sample_comps, 2};

static void cbor_report_encode(void) {
  uint8_t buf[256];
  DCHECK(ec_dev_status_encode(&sample, NULL, 0) == (int)sizeof report_cbor);
  DCHECK(ec_dev_status_encode(&sample, buf, sizeof buf) ==
         (int)sizeof report_cbor);
  DCHECK(memcmp(buf, report_cbor, sizeof report_cbor) == 0);
  ec_dev_status_t bad = sample;
  bad.deployment_id = "not-a-uuid";
  DCHECK(ec_dev_status_encode(&bad, buf, sizeof buf) == EC_EINVAL);
  bad = sample;
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
  DCHECK(ec_dev_status_decode(report_cbor, sizeof report_cbor, &v, on_comp,
                              NULL) == 0);
  DCHECK(v.state == EC_DEV_INSTALLING && v.n_components == 2);
  DCHECK(names_seen == 2);
  DCHECK(v.deployment_id.len == 36 &&
         memcmp(v.deployment_id.ptr, UUID, 36) == 0);
  DCHECK(v.error_code.ptr == NULL && v.device_id.ptr == NULL);
  /* Every truncation is refused, every byte read inside the input. */
  for (size_t cut = 0; cut < sizeof report_cbor; cut++) {
    DCHECK(ec_dev_status_decode(at_edge(report_cbor, cut), cut, &v, NULL,
                                NULL) < 0);
  }
  /* A trailing byte. */
  uint8_t more[sizeof report_cbor + 1];
  memcpy(more, report_cbor, sizeof report_cbor);
  more[sizeof report_cbor] = 0;
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
    DCHECK(ec_dev_status_decode(at_edge(buf, (size_t)cut), (size_t)cut, &v,
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
  static uint8_t doc[sizeof report_cbor + 64];
  size_t n = 0;
  doc[n++] = 0xa6;
  doc[n++] = 0x61;
  doc[n++] = 'x';
  memcpy(doc + n, val, len);
  n += len;
  memcpy(doc + n, report_cbor + 1, sizeof report_cbor - 1);
  n += sizeof report_cbor - 1;
  ec_dev_status_view_t v;
  return ec_dev_status_decode(at_edge(doc, n), n, &v, NULL, NULL);
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
    DCHECK(ec_dev_problem_decode(at_edge(problem_cbor, cut), cut, &p) < 0);
  }
  /* The JSON names in CBOR, with the dotted code. */
  static const uint8_t named[] = {0xa2, 0x65, 't', 'i', 't', 'l', 'e', 0x61,
                                  'x',  0x6d, 'r', 'e', 's', 'p', 'o', 'n',
                                  's',  'e',  '-', 'c', 'o', 'd', 'e', 0x64,
                                  '4',  '.',  '2', '2'};
  DCHECK(ec_dev_problem_decode(named, sizeof named, &p) == 0 && p.code == 150);
  static const uint8_t badcode[] = {0xa1, 0x23, 0x19, 0x01, 0x00}; /* -4: 256 */
  DCHECK(ec_dev_problem_decode(badcode, sizeof badcode, &p) == EC_EBADDOC);
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
    refused = refused && ec_dev_msgs_decode(at_edge(page_cbor, cut), cut, NULL,
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
  return ec_dev_prov_decode(at_edge(doc, n), n, NULL, NULL, &rows);
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
    refused = refused && ec_dev_prov_decode(at_edge(prov_cbor, cut), cut,
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
  DCHECK(ec_dev_report(&dev, "dev1", &sample, rq, sizeof rq, on_answer, &user) == 0);
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
  DCHECK(ec_dev_report(&dev, "dev1", &sample, rq, sizeof rq, on_answer, NULL) == 0);
  DCHECK(ec_dev_step(&dev, fake_now, NULL, 0) == 2619);
}

static void xchg_piggybacked_and_separate(void) {
  reset(&dev, 1);
  DCHECK(ec_dev_report(&dev, "dev1", &sample, rq, sizeof rq, on_answer, NULL) == 0);
  ec_coap_msg_t req = last_sent();
  DCHECK(req.code == EC_COAP_POST && req.type == EC_COAP_CON && req.tkl == 4);
  const uint8_t *v;
  size_t len;
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_URI_PATH, 3, &v, &len) == 1 &&
         len == 36 && memcmp(v, UUID, 36) == 0);
  DCHECK(req.payload_len == sizeof report_cbor &&
         memcmp(req.payload, report_cbor, sizeof report_cbor) == 0);
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
  DCHECK(ec_dev_report(&dev, "dev1", &sample, rq, sizeof rq, on_answer, NULL) == 0);
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
  DCHECK(ec_dev_report(&dev, "dev1", &sample, rq, sizeof rq, on_answer, NULL) == 0);
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
  DCHECK(ec_dev_report(&dev, "dev1", &sample, rq, sizeof rq, on_answer, NULL) == 0);
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
  DCHECK(ec_dev_report(&dev, "dev1", &sample, rq, sizeof rq, on_answer, NULL) == 0);
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
      ec_dev_report(d, "dev1", &sample, report_buf, sizeof report_buf, NULL,
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
  DCHECK(ec_dev_report(&dev, "dev1", &sample, rq + 128, 40, NULL, NULL) ==
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
  ec_dev_status_t st = sample;
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
  DCHECK(ec_dev_report(&dev, "dev1", &sample, rq, sizeof rq, on_answer, NULL) == 0);
  ec_coap_msg_t req = last_sent();
  DCHECK(ec_coap_opt(&req, EC_COAP_OPT_REQUEST_ID, 0, &v, &len) == 1 &&
         len == 12 && v[0] == 0x5a && v[11] == 0x5a);
  DCHECK(req.payload_len == sizeof report_cbor &&
         memcmp(req.payload, report_cbor, sizeof report_cbor) == 0);
  ec_dev_step(&dev, fake_now + 3000, NULL, 0);
  DCHECK(n_sent == 2 && sent_len[1] == sent_len[0] &&
         memcmp(sent[1], sent[0], sent_len[0]) == 0);
  feed(&dev, EC_COAP_ACK, EC_COAP_CODE(2, 1), req.mid, &req, -1, -1);
  DCHECK(got.calls == 1);
  fake_random = 0x33;
  DCHECK(ec_dev_report(&dev, "dev1", &sample, rq, sizeof rq, on_answer, NULL) == 0);
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
  DCHECK(ec_dev_report(&dev, "dev1", &sample, rq, sizeof report_cbor + 11,
                       on_answer, NULL) == EC_ENOSPC);
  DCHECK(ec_dev_report(&dev, "dev1", &sample, rq, sizeof report_cbor + 100,
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
    refused = refused && ec_dev_msg_decode(at_edge(stored, cut), cut, &v) < 0;
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
    refused = refused && ec_dev_login_decode(at_edge(ok, cut), cut, &l) < 0;
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
const size_t ec_dev_n_cases = sizeof ec_dev_cases / sizeof ec_dev_cases[0];
