/* edgecoap fuzz: the device core's CBOR pull decoders, checked against the server's codec on what the server would write. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "edgecoap/device.h"
#include "edgecoap/provisioning.h"
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
  return 0;
}
