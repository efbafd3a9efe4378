/* edgecoap fuzz: the device core's CBOR pull decoders, checked against the server's codec on what the server would write. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "edgecoap/device.h"
#include "edgecoap/provisioning.h"
#include "edgecoap/status_message.h"
#include "fuzz.h"

static const uint8_t *lo, *hi; /* the buffer being decoded */

/* A decoded string points into the decoded buffer, or is absent. */
static void in_buf(ec_dev_str_t s) {
  if (s.ptr != NULL) {
    FUZZ_CHECK((const uint8_t *)s.ptr >= lo &&
               s.len <= (size_t)(hi - (const uint8_t *)s.ptr));
  } else {
    FUZZ_CHECK(s.len == 0);
  }
}

static int str_is(ec_dev_str_t s, const char *c) {
  if (s.ptr == NULL || c == NULL) {
    return s.ptr == NULL && c == NULL;
  }
  return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

/* The components the codec decoded, for the callback to compare with. */
static const ec_deployment_status_t *want;

static int on_component(void *ctx, size_t idx,
                        const ec_dev_component_view_t *c) {
  (void)ctx;
  in_buf(c->name);
  in_buf(c->error_code);
  in_buf(c->error_message);
  in_buf(c->error_source);
  FUZZ_CHECK((unsigned)c->state < EC_DEV_STATE_COUNT);
  FUZZ_CHECK((c->error_code.ptr == NULL) == (c->error_message.ptr == NULL));
  if (want != NULL) {
    const ec_component_status_t *w = &want->components[idx];
    FUZZ_CHECK(idx < want->n_components && str_is(c->name, w->name) &&
               (int)c->state == (int)w->state &&
               (c->error_code.ptr != NULL) == w->has_error);
    FUZZ_CHECK(!w->has_error || (str_is(c->error_code, w->error.code) &&
                                 str_is(c->error_message, w->error.message)));
  }
  return 0;
}

static void check_view(const ec_dev_status_view_t *v) {
  in_buf(v->api_version);
  in_buf(v->kind);
  in_buf(v->deployment_id);
  in_buf(v->device_id);
  in_buf(v->error_code);
  in_buf(v->error_message);
  FUZZ_CHECK((unsigned)v->state < EC_DEV_STATE_COUNT);
}

/*
 * A report the codec accepts, written as the server writes it, must read
 * back in the core with the same fields; and the core's encoder, given the
 * same report, must write the server's bytes (docs/DEVICE.md promises both).
 */
static void status_differential(const uint8_t *data, size_t size) {
  ec_arena_t a;
  ec_deployment_status_t st;
  fuzz_arena_new(&a, size);
  if (ec_deployment_status_decode(EC_FORMAT_CBOR, data, size, &st, &a, NULL) !=
      0) {
    fuzz_arena_free(&a);
    return;
  }
  ssize_t n = ec_deployment_status_encode(EC_FORMAT_CBOR, &st, NULL, 0);
  FUZZ_CHECK(n > 0);
  uint8_t *enc = malloc((size_t)n);
  FUZZ_CHECK(enc != NULL &&
             ec_deployment_status_encode(EC_FORMAT_CBOR, &st, enc,
                                         (size_t)n) == n);
  ec_dev_status_view_t v;
  lo = enc;
  hi = enc + n;
  want = &st;
  FUZZ_CHECK(ec_dev_status_decode(enc, (size_t)n, &v, on_component, NULL) == 0);
  want = NULL;
  check_view(&v);
  FUZZ_CHECK(str_is(v.api_version, st.api_version) &&
             str_is(v.kind, st.kind) &&
             str_is(v.deployment_id, st.deployment_id) &&
             str_is(v.device_id, st.device_id) &&
             v.adopted_manifest_version == st.adopted_manifest_version &&
             (int)v.state == (int)st.state &&
             v.n_components == st.n_components);
  FUZZ_CHECK(st.has_error ? str_is(v.error_code, st.error.code) &&
                                str_is(v.error_message, st.error.message)
                          : v.error_code.ptr == NULL);

  ec_dev_component_t *dc =
      calloc(st.n_components ? st.n_components : 1, sizeof *dc);
  FUZZ_CHECK(dc != NULL);
  for (size_t i = 0; i < st.n_components; i++) {
    const ec_component_status_t *c = &st.components[i];
    dc[i].name = c->name;
    dc[i].state = (ec_dev_state_t)c->state;
    if (c->has_error) {
      dc[i].error = (ec_dev_error_t){c->error.code, c->error.message,
                                     c->error.source};
    }
  }
  ec_dev_status_t ds = {st.api_version, st.kind, st.deployment_id,
                        st.device_id, (uint32_t)st.adopted_manifest_version,
                        (ec_dev_state_t)st.state, {NULL, NULL, NULL}, dc,
                        st.n_components};
  if (st.has_error) {
    ds.error = (ec_dev_error_t){st.error.code, st.error.message,
                                st.error.source};
  }
  /* The core keeps adoptedManifestVersion in 32 bits. */
  if (st.adopted_manifest_version <= UINT32_MAX) {
    int m = ec_dev_status_encode(&ds, NULL, 0);
    FUZZ_CHECK(m == n);
    uint8_t *mine = malloc((size_t)n);
    FUZZ_CHECK(mine != NULL && ec_dev_status_encode(&ds, mine, (size_t)n) == n &&
               memcmp(mine, enc, (size_t)n) == 0);
    free(mine);
  }
  free(dc);
  free(enc);
  fuzz_arena_free(&a);
}

static void problem_differential(const uint8_t *data, size_t size) {
  ec_arena_t a;
  ec_problem_t p;
  fuzz_arena_new(&a, size);
  if (ec_problem_decode(EC_FORMAT_PROBLEM_CBOR, data, size, &p, &a) == 0) {
    const char *field = p.field != NULL && *p.field != '\0' ? p.field : NULL;
    ssize_t n = ec_problem_encode(EC_FORMAT_PROBLEM_CBOR, p.title, p.detail,
                                  p.coap_code, field, NULL, 0);
    FUZZ_CHECK(n > 0);
    uint8_t *enc = malloc((size_t)n);
    FUZZ_CHECK(enc != NULL &&
               ec_problem_encode(EC_FORMAT_PROBLEM_CBOR, p.title, p.detail,
                                 p.coap_code, field, enc, (size_t)n) == n);
    ec_dev_problem_t q;
    lo = enc;
    hi = enc + n;
    FUZZ_CHECK(ec_dev_problem_decode(enc, (size_t)n, &q) == 0);
    in_buf(q.title);
    in_buf(q.detail);
    in_buf(q.field);
    FUZZ_CHECK(str_is(q.title, p.title) && str_is(q.detail, p.detail) &&
               str_is(q.field, field) && q.code == p.coap_code);
    free(enc);
  }
  fuzz_arena_free(&a);
}

static int on_msg(void *ctx, size_t idx, const ec_dev_msg_t *m) {
  size_t *count = ctx;
  FUZZ_CHECK(idx == (*count)++);
  in_buf(m->date);
  in_buf(m->order_id);
  in_buf(m->subscription_id);
  in_buf(m->access_id);
  return 0;
}

/*
 * A provisioning answer the core accepts, the codec accepts too, with the
 * same rows in the same order (the core takes them in order only).
 */
static ec_prov_component_t *prov_want;
static size_t prov_n;

static int on_prov_row(void *ctx, size_t idx, const ec_dev_prov_row_t *r) {
  (void)ctx;
  in_buf(r->name);
  in_buf(r->last_modified);
  FUZZ_CHECK(r->component_type >= 0 && r->component_type <= 2 &&
             (r->active_status == 0 || r->active_status == 1));
  if (prov_want != NULL) {
    const ec_prov_component_t *w = &prov_want[idx];
    FUZZ_CHECK(idx < prov_n);
    FUZZ_CHECK(r->provisioning_component_id == w->provisioning_component_id &&
               r->provisioning_id == w->provisioning_id &&
               r->component_type == (int)w->component_type &&
               r->component_id == w->component_id &&
               str_is(r->name, w->name) &&
               r->active_status == w->active_status &&
               r->last_modified_by == w->last_modified_by);
    char dt[20];
    /* A second 60 is read by the codec as the next minute's 00. */
    if (r->last_modified.ptr[17] != '6') {
      FUZZ_CHECK(ec_prov_datetime_format(w->last_modified_s, dt) == 19 &&
                 str_is(r->last_modified, dt));
    }
  }
  return 0;
}

static void prov_differential(const uint8_t *data, size_t size) {
  size_t n;
  prov_want = NULL;
  lo = data;
  hi = data + size;
  if (ec_dev_prov_decode(data, size, on_prov_row, NULL, &n) != 0) {
    return;
  }
  ec_arena_t a;
  fuzz_arena_new(&a, size);
  FUZZ_CHECK(ec_prov_select_decode(EC_FORMAT_CBOR, data, size, &prov_want,
                                   &prov_n, &a, NULL) == 0);
  FUZZ_CHECK(prov_n == n);
  FUZZ_CHECK(ec_dev_prov_decode(data, size, on_prov_row, NULL, &n) == 0);
  prov_want = NULL;
  fuzz_arena_free(&a);
}

/* ---- the answers the client reads (device/core/answers.c) ---------------- */

static void in_span(ec_dev_cbor_t c) {
  if (c.ptr != NULL) {
    FUZZ_CHECK(c.ptr >= lo && c.len > 0 && c.len <= (size_t)(hi - c.ptr));
  } else {
    FUZZ_CHECK(c.len == 0);
  }
}

static int on_item(void *ctx, size_t idx, ec_dev_str_t key,
                   ec_dev_str_t value) {
  const ec_status_message_t *w = ctx;
  in_buf(key);
  in_buf(value);
  if (w != NULL && value.ptr != NULL) {
    FUZZ_CHECK(idx < w->n_params && str_is(key, w->params[idx].key) &&
               str_is(value, w->params[idx].value));
  } else if (w != NULL) {
    char mac[18];
    FUZZ_CHECK(idx < w->n_macs);
    ec_mac_format(w->macs[idx], mac);
    FUZZ_CHECK(str_is(key, mac));
  }
  return 0;
}

/* The lists and dhcpOption of a message the core read; with @p w, the
 * codec's reading of the same message, equal to it. */
static void check_msg(const ec_dev_msg_t *m, const ec_status_message_t *w) {
  ec_dev_dhcp_view_t d;
  in_span(m->params);
  in_span(m->macs);
  in_span(m->dhcp);
  (void)ec_dev_msg_items(m->params, on_item, NULL);
  (void)ec_dev_msg_items(m->macs, on_item, NULL);
  int rc = ec_dev_msg_dhcp(m->dhcp, &d);
  if (rc == 0) {
    in_buf(d.option82_remote_id);
    in_buf(d.option82_circuit_id);
    in_buf(d.option18_interface_id);
    in_buf(d.option37_remote_id);
  }
  if (w == NULL) {
    return;
  }
  char date[32];
  const ec_dhcp_option_t *o = &w->dhcp;
  FUZZ_CHECK(ec_time_format_ms(w->date_ms, date) > 0 && str_is(m->date, date));
  FUZZ_CHECK(m->id == w->id && m->code == w->code &&
             str_is(m->order_id, w->order_id) &&
             str_is(m->subscription_id, w->subscription_id) &&
             str_is(m->access_id, w->access_id) &&
             m->n_params == w->n_params && m->n_macs == w->n_macs);
  FUZZ_CHECK(ec_dev_msg_items(m->params, on_item, (void *)w) == 0 &&
             ec_dev_msg_items(m->macs, on_item, (void *)w) == 0);
  FUZZ_CHECK(rc == 0 && d.present == o->present && d.has_ipv4 == o->has_ipv4 &&
             d.has_option82 == o->has_option82 && d.has_ipv6 == o->has_ipv6 &&
             d.has_option18 == o->has_option18 &&
             d.has_option37 == o->has_option37 &&
             str_is(d.option82_remote_id, o->option82_remote_id) &&
             str_is(d.option82_circuit_id, o->option82_circuit_id) &&
             str_is(d.option18_interface_id, o->option18_interface_id) &&
             str_is(d.option37_remote_id, o->option37_remote_id));
}

static const ec_status_message_t *msgs_want;

static int on_full_msg(void *ctx, size_t idx, const ec_dev_msg_t *m) {
  (void)ctx;
  check_msg(m, msgs_want != NULL ? &msgs_want[idx] : NULL);
  return 0;
}

static int on_history(void *ctx, size_t idx, const ec_dev_history_t *h) {
  const ec_history_item_t *w = ctx;
  ec_dev_status_view_t v;
  in_buf(h->received_at);
  in_span(h->report);
  FUZZ_CHECK(h->seq >= 1 && h->report.ptr != NULL);
  int rc = ec_dev_status_decode(h->report.ptr, h->report.len, &v, NULL, NULL);
  if (w != NULL) {
    char at[32];
    FUZZ_CHECK(rc == 0 && h->seq == w[idx].seq &&
               ec_time_format_ms(w[idx].received_at_ms, at) > 0 &&
               str_is(h->received_at, at) &&
               v.n_components == w[idx].report.n_components);
  }
  return 0;
}

static int on_deployment(void *ctx, size_t idx, const ec_dev_deployment_t *d) {
  const ec_deployment_summary_t *w = ctx;
  in_buf(d->deployment_id);
  in_buf(d->updated_at);
  FUZZ_CHECK((unsigned)d->state < EC_DEV_STATE_COUNT && d->deployment_id.len > 0);
  if (w != NULL) {
    char at[32];
    FUZZ_CHECK(str_is(d->deployment_id, w[idx].deployment_id) &&
               (int)d->state == (int)w[idx].state &&
               ec_time_format_ms(w[idx].updated_at_ms, at) > 0 &&
               str_is(d->updated_at, at));
  }
  return 0;
}

/* The server writes an answer's IDs as an array, however they came. */
static bool same_ids(ec_dev_cbor_t c, const ec_prov_ids_t *w) {
  int64_t v[64];
  bool is_array;
  int n = ec_dev_prov_ids(c, v, 64, &is_array);
  bool same = n >= 0 && (size_t)n == w->n && is_array;
  for (size_t i = 0; same && i < w->n && i < 64; i++) {
    same = v[i] == w->v[i];
  }
  return same;
}

static void check_result(const ec_dev_prov_result_t *r,
                         const ec_prov_result_t *w) {
  in_span(r->provisioning_component_id);
  in_span(r->component_id);
  in_buf(r->last_modified);
  if (w == NULL) {
    return;
  }
  int64_t s = 0;
  FUZZ_CHECK(r->insert == (w->action == EC_PROV_INSERT) &&
             r->by_pc_id == w->by_pc_id &&
             (r->active_status > 1 ? 1 : r->active_status) == w->active_status);
  FUZZ_CHECK(r->by_pc_id ? same_ids(r->provisioning_component_id,
                                    &w->provisioning_component_id)
                         : r->provisioning_id == w->provisioning_id &&
                               r->component_type == (int)w->component_type &&
                               same_ids(r->component_id, &w->component_id));
  FUZZ_CHECK(!r->insert ||
             (r->last_modified_by == w->last_modified_by &&
              ec_prov_datetime_parse(r->last_modified.ptr,
                                     r->last_modified.len, &s) == 0 &&
              s == w->last_modified_s));
}

/* A list of @p n documents, for the encoders' wrappers below. */
typedef struct {
  const void *p;
  size_t n;
} list_doc_t;

static ssize_t enc_msgs(ec_format_t fmt, const void *doc, uint8_t *buf,
                        size_t cap) {
  const list_doc_t *l = doc;
  return ec_status_messages_encode(fmt, l->p, l->n, buf, cap);
}

static ssize_t enc_deployments(ec_format_t fmt, const void *doc, uint8_t *buf,
                               size_t cap) {
  const list_doc_t *l = doc;
  return ec_deployments_encode(fmt, l->p, l->n, buf, cap);
}

static ssize_t enc_result(ec_format_t fmt, const void *doc, uint8_t *buf,
                          size_t cap) {
  return ec_prov_result_encode(fmt, doc, buf, cap);
}

static ssize_t enc_error(ec_format_t fmt, const void *doc, uint8_t *buf,
                         size_t cap) {
  const ec_prov_error_doc_t *d = doc;
  return ec_prov_error_encode(fmt, d->status, d->error, d->detail, d->ids,
                              d->n_ids, buf, cap);
}

/* A seed's error document read by the core as the codec read it. */
static void check_error(const ec_dev_prov_error_t *e,
                        const ec_prov_error_doc_t *w) {
  int64_t v[64];
  in_buf(e->status);
  in_buf(e->error);
  in_buf(e->detail);
  in_span(e->ids);
  if (w == NULL) {
    return;
  }
  FUZZ_CHECK(str_is(e->status, w->status) && str_is(e->error, w->error) &&
             (e->ids.ptr != NULL) == (w->ids != NULL) &&
             e->n_ids == w->n_ids);
  /* The codec writes a detail only when it is not "". */
  FUZZ_CHECK(str_is(e->detail, w->detail != NULL && *w->detail != '\0' &&
                                       w->ids == NULL
                                   ? w->detail
                                   : NULL));
  if (e->n_ids > 0) {
    FUZZ_CHECK(ec_dev_prov_ids(e->ids, v, 64, NULL) == (int)e->n_ids);
    for (size_t i = 0; i < e->n_ids && i < 64; i++) {
      FUZZ_CHECK(v[i] == w->ids[i]);
    }
  }
}

/* Decode what the codec wrote, @p enc (NULL: nothing) of *@p len bytes,
 * in place (a pointer: the length is set by the call that gives @p enc). */
static bool reading(uint8_t *enc, const ssize_t *len) {
  lo = enc;
  hi = enc != NULL ? enc + *len : NULL;
  return enc != NULL;
}

/* A history of @p n entries as the server writes it, malloc'd. */
static uint8_t *fuzz_history_cbor(const ec_history_item_t *items, size_t n,
                                  ssize_t *len) {
  ec_history_entry_t *e = calloc(n ? n : 1, sizeof *e);
  FUZZ_CHECK(e != NULL);
  for (size_t i = 0; i < n; i++) {
    ssize_t k = ec_deployment_status_encode(EC_FORMAT_CBOR, &items[i].report,
                                            NULL, 0);
    uint8_t *r = k > 0 ? malloc((size_t)k) : NULL;
    FUZZ_CHECK(r != NULL && ec_deployment_status_encode(
                                EC_FORMAT_CBOR, &items[i].report, r,
                                (size_t)k) == k);
    e[i] = (ec_history_entry_t){items[i].seq, items[i].received_at_ms, r,
                                (size_t)k};
  }
  *len = ec_history_encode(EC_FORMAT_CBOR, e, n, NULL, 0);
  uint8_t *enc = *len > 0 ? malloc((size_t)*len) : NULL;
  FUZZ_CHECK(enc != NULL && ec_history_encode(EC_FORMAT_CBOR, e, n, enc,
                                              (size_t)*len) == *len);
  for (size_t i = 0; i < n; i++) {
    free((void *)e[i].report);
  }
  free(e);
  return enc;
}

/* Each answer on the input as it is; and each the codec accepts, written
 * as the server writes it, read by the core with the codec's fields. */
static void answers(const uint8_t *data, size_t size) {
  ec_dev_prov_result_t r;
  ec_arena_t a;
  size_t n;
  lo = data;
  hi = data + size;
  msgs_want = NULL;
  (void)ec_dev_msgs_decode(data, size, on_full_msg, NULL, NULL);
  ec_dev_msg_t m;
  if (ec_dev_msg_decode(data, size, &m) == 0) {
    check_msg(&m, NULL);
  }
  (void)ec_dev_history_decode(data, size, on_history, NULL, &n);
  (void)ec_dev_deployments_decode(data, size, on_deployment, NULL, &n);
  if (ec_dev_prov_result_decode(data, size, &r) == 0) {
    check_result(&r, NULL);
  }
  ec_dev_prov_error_t e;
  if (ec_dev_prov_error_decode(data, size, &e) == 0) {
    check_error(&e, NULL);
  }

  fuzz_arena_new(&a, size);
  ec_status_message_t *msgs;
  ec_history_item_t *items;
  ec_deployment_summary_t *list;
  ec_prov_result_t res;
  uint8_t *enc;
  ssize_t len;
  size_t got;
  if (ec_status_messages_decode(EC_FORMAT_CBOR, data, size, EC_MSG_STORED,
                                &msgs, &n, NULL, &a, NULL) == 0 &&
      reading(enc = fuzz_encode(enc_msgs, EC_FORMAT_CBOR,
                                &(list_doc_t){msgs, n}, &len), &len)) {
    msgs_want = msgs;
    FUZZ_CHECK(ec_dev_msgs_decode(enc, (size_t)len, on_full_msg, NULL, NULL) == 0);
    msgs_want = NULL;
    free(enc);
  }
  ec_arena_reset(&a);
  if (ec_history_decode(EC_FORMAT_CBOR, data, size, &items, &n, &a, NULL) == 0 &&
      reading(enc = fuzz_history_cbor(items, n, &len), &len)) {
    FUZZ_CHECK(ec_dev_history_decode(enc, (size_t)len, on_history, items,
                                     &got) == 0 &&
               got == n);
    free(enc);
  }
  ec_arena_reset(&a);
  if (ec_deployments_decode(EC_FORMAT_CBOR, data, size, &list, &n, &a, NULL) ==
          0 &&
      reading(enc = fuzz_encode(enc_deployments, EC_FORMAT_CBOR,
                                &(list_doc_t){list, n}, &len), &len)) {
    FUZZ_CHECK(ec_dev_deployments_decode(enc, (size_t)len, on_deployment, list,
                                         &got) == 0 &&
               got == n);
    free(enc);
  }
  ec_arena_reset(&a);
  if (ec_prov_result_decode(EC_FORMAT_CBOR, data, size, &res, &a, NULL) == 0 &&
      reading(enc = fuzz_encode(enc_result, EC_FORMAT_CBOR, &res, &len), &len)) {
    FUZZ_CHECK(ec_dev_prov_result_decode(enc, (size_t)len, &r) == 0);
    check_result(&r, &res);
    free(enc);
  }
  ec_arena_reset(&a);
  ec_prov_error_doc_t err;
  if (ec_prov_error_decode(EC_FORMAT_CBOR, data, size, &err, &a) == 0 &&
      reading(enc = fuzz_encode(enc_error, EC_FORMAT_CBOR, &err, &len), &len)) {
    FUZZ_CHECK(ec_dev_prov_error_decode(enc, (size_t)len, &e) == 0);
    check_error(&e, &err);
    free(enc);
  }
  fuzz_arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ec_dev_status_view_t v;
  ec_dev_problem_t p;
  size_t count = 0;
  int64_t next = -1;
  lo = data;
  hi = data + size;
  if (ec_dev_status_decode(data, size, &v, on_component, NULL) == 0) {
    check_view(&v);
  }
  if (ec_dev_problem_decode(data, size, &p) == 0) {
    in_buf(p.title);
    in_buf(p.detail);
    in_buf(p.field);
  }
  if (ec_dev_msgs_decode(data, size, on_msg, &count, &next) == 0) {
    FUZZ_CHECK(next >= 0);
  }
  status_differential(data, size);
  problem_differential(data, size);
  prov_differential(data, size);
  answers(data, size);
  return 0;
}
