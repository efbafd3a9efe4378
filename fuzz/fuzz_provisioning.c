/* edgecoap fuzz: every provisioning decoder (requests, login, answers, errors), with round trips as oracle. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* Each document type as an encoder the shared helper can drive. */
static ssize_t enc_request(ec_format_t f, const void *d, uint8_t *b, size_t c) {
  return ec_prov_request_encode(f, d, b, c);
}
static ssize_t enc_login(ec_format_t f, const void *d, uint8_t *b, size_t c) {
  return ec_login_request_encode(f, d, b, c);
}
static ssize_t enc_result(ec_format_t f, const void *d, uint8_t *b, size_t c) {
  return ec_prov_result_encode(f, d, b, c);
}
static ssize_t enc_reply(ec_format_t f, const void *d, uint8_t *b, size_t c) {
  return ec_login_response_encode(f, d, b, c);
}
typedef struct {
  const ec_prov_component_t *rows;
  size_t n;
} rows_t;
static ssize_t enc_rows(ec_format_t f, const void *d, uint8_t *b, size_t c) {
  const rows_t *r = d;
  return ec_prov_select_encode(f, r->rows, r->n, b, c);
}
static ssize_t enc_error(ec_format_t f, const void *d, uint8_t *b, size_t c) {
  const ec_prov_error_doc_t *e = d;
  return ec_prov_error_encode(f, e->status, e->error, e->detail, e->ids,
                              e->n_ids, b, c);
}

static int ids_eq(const ec_prov_ids_t *a, const ec_prov_ids_t *b) {
  if (a->present != b->present || (a->present && (a->n != b->n ||
                                                  a->is_array != b->is_array))) {
    return 0;
  }
  return !a->present || memcmp(a->v, b->v, a->n * sizeof *a->v) == 0;
}

static int request_eq(const ec_prov_request_t *a, const ec_prov_request_t *b) {
  return a->action == b->action &&
         ids_eq(&a->provisioning_component_id, &b->provisioning_component_id) &&
         ids_eq(&a->component_id, &b->component_id) &&
         a->has_provisioning_id == b->has_provisioning_id &&
         a->provisioning_id == b->provisioning_id &&
         a->has_component_type == b->has_component_type &&
         a->component_type == b->component_type &&
         a->has_active_status == b->has_active_status &&
         a->active_status == b->active_status && a->has_limit == b->has_limit &&
         a->limit == b->limit;
}

static int row_eq(const ec_prov_component_t *a, const ec_prov_component_t *b) {
  return a->provisioning_component_id == b->provisioning_component_id &&
         a->provisioning_id == b->provisioning_id &&
         a->component_type == b->component_type &&
         a->component_id == b->component_id && fuzz_str_eq(a->name, b->name) &&
         a->active_status == b->active_status &&
         a->last_modified_by == b->last_modified_by &&
         a->last_modified_s == b->last_modified_s;
}

static int result_eq(const ec_prov_result_t *a, const ec_prov_result_t *b) {
  int pc = a->action == EC_PROV_UPDATE && a->by_pc_id;
  int ins = a->action == EC_PROV_INSERT;
  /* The answer writes component_id as an array whatever it was given as. */
  ec_prov_ids_t ac = a->component_id, bc = b->component_id;
  ac.is_array = bc.is_array = true;
  ec_prov_ids_t ap = a->provisioning_component_id;
  ec_prov_ids_t bp = b->provisioning_component_id;
  ap.is_array = bp.is_array = true;
  return a->action == b->action && a->by_pc_id == b->by_pc_id &&
         a->active_status == b->active_status &&
         (pc ? ids_eq(&ap, &bp)
             : a->provisioning_id == b->provisioning_id &&
                   a->component_type == b->component_type &&
                   ids_eq(&ac, &bc)) &&
         (!ins || (a->last_modified_by == b->last_modified_by &&
                   a->last_modified_s == b->last_modified_s));
}

/* Encode @p doc, decode it again with @p dec into @p back, and return 0
 * when that worked; the caller compares. */
#define ROUNDTRIP(enc, fmt, doc, decode_call)                                 \
  do {                                                                        \
    ssize_t len_;                                                             \
    uint8_t *buf_ = fuzz_encode(enc, fmt, doc, &len_);                        \
    FUZZ_CHECK(buf_ != NULL);                                                 \
    const uint8_t *b = buf_;                                                  \
    size_t n = (size_t)len_;                                                  \
    FUZZ_CHECK((decode_call) == 0);                                           \
    free(buf_);                                                               \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  for (size_t i = 0; i < 2; i++) {
    ec_format_t fmt = fuzz_formats[i];
    ec_arena_t a;
    ec_prov_error_t err;
    ec_prov_request_t rq, rq2;
    ec_login_request_t lg, lg2;
    ec_prov_result_t rs, rs2;
    ec_login_response_t lr, lr2;
    ec_prov_error_doc_t ed, ed2;
    ec_prov_component_t *rows, *rows2;
    size_t nrows, nrows2;
    fuzz_arena_new(&a, 8 * size);
    if (ec_prov_request_decode(fmt, data, size, &rq, &a, &err) == 0) {
      ROUNDTRIP(enc_request, fmt, &rq,
                ec_prov_request_decode(fmt, b, n, &rq2, &a, NULL));
      FUZZ_CHECK(request_eq(&rq, &rq2));
    }
    if (ec_login_request_decode(fmt, data, size, &lg, &a, &err) == 0) {
      ROUNDTRIP(enc_login, fmt, &lg,
                ec_login_request_decode(fmt, b, n, &lg2, &a, NULL));
      FUZZ_CHECK(fuzz_str_eq(lg.username, lg2.username) &&
                 fuzz_str_eq(lg.password, lg2.password) &&
                 fuzz_str_eq(lg.token, lg2.token));
    }
    if (ec_prov_select_decode(fmt, data, size, &rows, &nrows, &a, &err) == 0) {
      rows_t r = {rows, nrows};
      ROUNDTRIP(enc_rows, fmt, &r,
                ec_prov_select_decode(fmt, b, n, &rows2, &nrows2, &a, NULL));
      FUZZ_CHECK(nrows2 == nrows);
      for (size_t k = 0; k < nrows; k++) {
        FUZZ_CHECK(row_eq(&rows[k], &rows2[k]));
      }
    }
    /* corpus/provisioning/insert-answer-pc-id.* guard finding F1. */
    if (ec_prov_result_decode(fmt, data, size, &rs, &a, &err) == 0) {
      ROUNDTRIP(enc_result, fmt, &rs,
                ec_prov_result_decode(fmt, b, n, &rs2, &a, NULL));
      FUZZ_CHECK(result_eq(&rs, &rs2));
    }
    if (ec_login_response_decode(fmt, data, size, &lr, &a, &err) == 0) {
      ROUNDTRIP(enc_reply, fmt, &lr,
                ec_login_response_decode(fmt, b, n, &lr2, &a, NULL));
      FUZZ_CHECK(fuzz_str_eq(lr.token, lr2.token) &&
                 (lr.token == NULL || (lr.userid == lr2.userid &&
                                       fuzz_str_eq(lr.userrole, lr2.userrole) &&
                                       fuzz_str_eq(lr.username, lr2.username))) &&
                 fuzz_str_eq(lr.status, lr2.status) &&
                 fuzz_str_eq(lr.error, lr2.error));
    }
    if (ec_prov_error_decode(fmt, data, size, &ed, &a) == 0) {
      ROUNDTRIP(enc_error, fmt, &ed, ec_prov_error_decode(fmt, b, n, &ed2, &a));
      FUZZ_CHECK(fuzz_str_eq(ed.status, ed2.status) &&
                 fuzz_str_eq(ed.error, ed2.error) && ed.n_ids == ed2.n_ids &&
                 (ed.ids == NULL) == (ed2.ids == NULL) &&
                 (ed.ids == NULL ||
                  memcmp(ed.ids, ed2.ids, ed.n_ids * sizeof *ed.ids) == 0) &&
                 (ed.ids != NULL ||
                  fuzz_str_eq(ed.detail != NULL && *ed.detail ? ed.detail : NULL,
                              ed2.detail)));
    }
    uint8_t raw[EC_PROV_TOKEN_BYTES], raw2[EC_PROV_TOKEN_BYTES];
    char hexs[EC_PROV_TOKEN_HEX + 1];
    if (ec_prov_token_read(data, size, raw) == 0) {
      ec_prov_token_hex(raw, hexs);
      FUZZ_CHECK(ec_prov_token_read((const uint8_t *)hexs, EC_PROV_TOKEN_HEX,
                                    raw2) == 0 &&
                 memcmp(raw, raw2, sizeof raw) == 0);
    }
    int64_t s, s2;
    char dt[20];
    if (ec_prov_datetime_parse((const char *)data, size, &s) == 0) {
      FUZZ_CHECK(ec_prov_datetime_format(s, dt) == 19);
      FUZZ_CHECK(ec_prov_datetime_parse(dt, 19, &s2) == 0 && s2 == s);
    }
    (void)ec_comp_type_parse((const char *)data, size);
    fuzz_arena_free(&a);
  }
  return 0;
}
