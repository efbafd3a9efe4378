/* edgecoap fuzz: the history and deployments list decoders, with encode/re-decode round trips as oracle. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* A decoded history goes back out the way the server writes one: each
 * report as stored CBOR, then the envelope in the same format. */
static void history_roundtrip(ec_format_t fmt, const ec_history_item_t *it,
                              size_t n) {
  ec_history_entry_t *e = calloc(n + 1, sizeof *e);
  FUZZ_CHECK(e != NULL);
  for (size_t i = 0; i < n; i++) {
    ssize_t len = ec_deployment_status_encode(EC_FORMAT_CBOR, &it[i].report,
                                              NULL, 0);
    FUZZ_CHECK(len > 0);
    uint8_t *r = malloc((size_t)len);
    FUZZ_CHECK(r != NULL && ec_deployment_status_encode(
                                EC_FORMAT_CBOR, &it[i].report, r,
                                (size_t)len) == len);
    e[i] = (ec_history_entry_t){it[i].seq, it[i].received_at_ms, r,
                                (size_t)len};
  }
  ssize_t len = ec_history_encode(fmt, e, n, NULL, 0);
  FUZZ_CHECK(len > 0);
  uint8_t *buf = malloc((size_t)len);
  FUZZ_CHECK(buf != NULL &&
             ec_history_encode(fmt, e, n, buf, (size_t)len) == len);
  ec_arena_t a;
  ec_history_item_t *back;
  size_t m;
  fuzz_arena_new(&a, (size_t)len);
  FUZZ_CHECK(ec_history_decode(fmt, buf, (size_t)len, &back, &m, &a, NULL) == 0);
  FUZZ_CHECK(m == n);
  for (size_t i = 0; i < n; i++) {
    FUZZ_CHECK(back[i].seq == it[i].seq &&
               back[i].received_at_ms == it[i].received_at_ms &&
               fuzz_status_eq(&back[i].report, &it[i].report));
    free((void *)e[i].report);
  }
  fuzz_arena_free(&a);
  free(buf);
  free(e);
}

static void deployments_roundtrip(ec_format_t fmt,
                                  const ec_deployment_summary_t *d, size_t n) {
  ssize_t len = ec_deployments_encode(fmt, d, n, NULL, 0);
  FUZZ_CHECK(len > 0);
  uint8_t *buf = malloc((size_t)len);
  FUZZ_CHECK(buf != NULL &&
             ec_deployments_encode(fmt, d, n, buf, (size_t)len) == len);
  ec_arena_t a;
  ec_deployment_summary_t *back;
  size_t m;
  fuzz_arena_new(&a, (size_t)len);
  FUZZ_CHECK(ec_deployments_decode(fmt, buf, (size_t)len, &back, &m, &a,
                                   NULL) == 0);
  FUZZ_CHECK(m == n);
  for (size_t i = 0; i < n; i++) {
    FUZZ_CHECK(fuzz_str_eq(back[i].deployment_id, d[i].deployment_id) &&
               back[i].state == d[i].state &&
               back[i].updated_at_ms == d[i].updated_at_ms);
  }
  fuzz_arena_free(&a);
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  for (size_t i = 0; i < 2; i++) {
    ec_arena_t a;
    ec_codec_error_t err;
    ec_history_item_t *items;
    ec_deployment_summary_t *list;
    size_t n;
    fuzz_arena_new(&a, size);
    if (ec_history_decode(fuzz_formats[i], data, size, &items, &n, &a, &err) ==
        0) {
      history_roundtrip(fuzz_formats[i], items, n);
    }
    if (ec_deployments_decode(fuzz_formats[i], data, size, &list, &n, &a,
                              &err) == 0) {
      deployments_roundtrip(fuzz_formats[i], list, n);
    }
    fuzz_arena_free(&a);
  }
  return 0;
}
