/* edgecoap fuzz: the arena, check and round-trip helpers the harnesses share. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const ec_format_t fuzz_formats[2] = {EC_FORMAT_JSON, EC_FORMAT_CBOR};

void (*fuzz_fail_hook)(void);

void fuzz_fail(const char *file, int line, const char *what) {
  fprintf(stderr, "%s:%d: oracle failed: %s\n", file, line, what);
  if (fuzz_fail_hook != NULL) {
    fuzz_fail_hook();
  }
  abort();
}

void fuzz_arena_new(ec_arena_t *a, size_t body_len) {
  size_t cap = 4 * body_len + 64 * 1024;
  void *buf = malloc(cap);
  FUZZ_CHECK(buf != NULL);
  ec_arena_init(a, buf, cap);
}

void fuzz_arena_free(ec_arena_t *a) {
  free(a->base);
  ec_arena_init(a, NULL, 0);
}

uint8_t *fuzz_encode(fuzz_encode_fn enc, ec_format_t fmt, const void *doc,
                     ssize_t *len) {
  ssize_t n = enc(fmt, doc, NULL, 0);
  *len = n;
  if (n < 0) {
    return NULL;
  }
  /* One spare byte: an encoder must not need more than it measured. */
  uint8_t *buf = malloc((size_t)n + 1);
  FUZZ_CHECK(buf != NULL);
  FUZZ_CHECK(enc(fmt, doc, buf, (size_t)n + 1) == n);
  /* And the exact size must do too. */
  uint8_t *exact = malloc(n > 0 ? (size_t)n : 1);
  FUZZ_CHECK(exact != NULL);
  FUZZ_CHECK(enc(fmt, doc, exact, (size_t)n) == n);
  FUZZ_CHECK(memcmp(buf, exact, (size_t)n) == 0);
  free(exact);
  return buf;
}

int fuzz_str_eq(const char *a, const char *b) {
  return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int error_eq(const ec_error_info_t *a, const ec_error_info_t *b) {
  return fuzz_str_eq(a->code, b->code) && fuzz_str_eq(a->message, b->message) &&
         fuzz_str_eq(a->source, b->source);
}

int fuzz_status_eq(const ec_deployment_status_t *a,
                   const ec_deployment_status_t *b) {
  if (!fuzz_str_eq(a->api_version, b->api_version) ||
      !fuzz_str_eq(a->kind, b->kind) ||
      !fuzz_str_eq(a->deployment_id, b->deployment_id) ||
      !fuzz_str_eq(a->device_id, b->device_id) ||
      a->adopted_manifest_version != b->adopted_manifest_version ||
      a->state != b->state || a->has_error != b->has_error ||
      (a->has_error && !error_eq(&a->error, &b->error)) ||
      a->n_components != b->n_components) {
    return 0;
  }
  for (size_t i = 0; i < a->n_components; i++) {
    const ec_component_status_t *x = &a->components[i];
    const ec_component_status_t *y = &b->components[i];
    if (!fuzz_str_eq(x->name, y->name) || x->state != y->state ||
        x->has_error != y->has_error ||
        (x->has_error && !error_eq(&x->error, &y->error))) {
      return 0;
    }
  }
  return 1;
}

int fuzz_message_eq(const ec_status_message_t *a,
                    const ec_status_message_t *b) {
  const ec_dhcp_option_t *x = &a->dhcp, *y = &b->dhcp;
  if (a->id != b->id || a->has_date != b->has_date ||
      (a->has_date && a->date_ms != b->date_ms) || a->code != b->code ||
      a->n_params != b->n_params || a->n_macs != b->n_macs ||
      !fuzz_str_eq(a->order_id, b->order_id) ||
      !fuzz_str_eq(a->subscription_id, b->subscription_id) ||
      !fuzz_str_eq(a->access_id, b->access_id) ||
      x->present != y->present || x->has_ipv4 != y->has_ipv4 ||
      x->has_option82 != y->has_option82 || x->has_ipv6 != y->has_ipv6 ||
      x->has_option18 != y->has_option18 ||
      x->has_option37 != y->has_option37 ||
      !fuzz_str_eq(x->option82_remote_id, y->option82_remote_id) ||
      !fuzz_str_eq(x->option82_circuit_id, y->option82_circuit_id) ||
      !fuzz_str_eq(x->option18_interface_id, y->option18_interface_id) ||
      !fuzz_str_eq(x->option37_remote_id, y->option37_remote_id)) {
    return 0;
  }
  for (size_t i = 0; i < a->n_params; i++) {
    if (!fuzz_str_eq(a->params[i].key, b->params[i].key) ||
        !fuzz_str_eq(a->params[i].value, b->params[i].value)) {
      return 0;
    }
  }
  for (size_t i = 0; i < a->n_macs; i++) {
    if (a->macs[i] != b->macs[i]) {
      return 0;
    }
  }
  return 1;
}

int fuzz_filter_eq(const ec_msg_filter_t *a, const ec_msg_filter_t *b) {
  return fuzz_str_eq(a->order_id, b->order_id) &&
         fuzz_str_eq(a->subscription_id, b->subscription_id) &&
         fuzz_str_eq(a->access_id, b->access_id) && a->has_mac == b->has_mac &&
         (!a->has_mac || a->mac == b->mac) &&
         a->has_from_date == b->has_from_date &&
         (!a->has_from_date || a->from_date_ms == b->from_date_ms) &&
         a->has_to_date == b->has_to_date &&
         (!a->has_to_date || a->to_date_ms == b->to_date_ms) &&
         a->has_from_id == b->has_from_id &&
         (!a->has_from_id || a->from_id == b->from_id) &&
         a->has_to_id == b->has_to_id &&
         (!a->has_to_id || a->to_id == b->to_id) && a->limit == b->limit;
}

static ssize_t enc_status(ec_format_t fmt, const void *doc, uint8_t *buf,
                          size_t cap) {
  return ec_deployment_status_encode(fmt, doc, buf, cap);
}

void fuzz_status_roundtrip(const ec_deployment_status_t *st) {
  for (size_t i = 0; i < 2; i++) {
    ec_format_t fmt = fuzz_formats[i];
    ssize_t n;
    uint8_t *enc = fuzz_encode(enc_status, fmt, st, &n);
    FUZZ_CHECK(enc != NULL);
    ec_arena_t a;
    ec_deployment_status_t back;
    ec_codec_error_t err;
    fuzz_arena_new(&a, (size_t)n);
    int rc = ec_deployment_status_decode(fmt, enc, (size_t)n, &back, &a, &err);
    if (rc != 0) {
      fprintf(stderr, "re-decode: %d %s %s: %s\n", rc, err.title, err.field,
              err.detail);
    }
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(fuzz_status_eq(st, &back));
    ssize_t n2;
    uint8_t *enc2 = fuzz_encode(enc_status, fmt, &back, &n2);
    FUZZ_CHECK(enc2 != NULL && n2 == n && memcmp(enc, enc2, (size_t)n) == 0);
    free(enc2);
    fuzz_arena_free(&a);
    free(enc);
  }
}

uint8_t *fuzz_transcoded(ec_format_t from, const uint8_t *data, size_t size,
                         size_t *len) {
  ssize_t n = from == EC_FORMAT_JSON
                  ? ec_json_to_cbor((const char *)data, size, NULL, 0)
                  : ec_cbor_to_json(data, size, NULL, 0);
  if (n < 0) {
    return NULL;
  }
  uint8_t *out = malloc((size_t)n + 1);
  FUZZ_CHECK(out != NULL);
  FUZZ_CHECK((from == EC_FORMAT_JSON
                  ? ec_json_to_cbor((const char *)data, size, out, (size_t)n + 1)
                  : ec_cbor_to_json(data, size, (char *)out, (size_t)n + 1)) ==
             n);
  *len = (size_t)n;
  return out;
}

int fuzz_same_refusal(int rc1, const ec_codec_error_t *e1, int rc2,
                      const ec_codec_error_t *e2) {
  if (rc1 != rc2) {
    fprintf(stderr, "outcomes differ: %d %s %s / %d %s %s\n", rc1,
            rc1 < 0 ? e1->title : "", rc1 < 0 ? e1->field : "", rc2,
            rc2 < 0 ? e2->title : "", rc2 < 0 ? e2->field : "");
    return 0;
  }
  return rc1 == 0 || (strcmp(e1->title, e2->title) == 0 &&
                      strcmp(e1->field, e2->field) == 0);
}
