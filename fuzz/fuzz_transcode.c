/* edgecoap fuzz: ec_cbor_to_json and ec_json_to_cbor, checked to reach a fixed point after one round. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

typedef struct {
  const uint8_t *p;
  size_t n;
} bytes_t;

static ssize_t to_json(ec_format_t fmt, const void *doc, uint8_t *buf,
                       size_t cap) {
  const bytes_t *in = doc;
  return ec_cbor_to_json(in->p, in->n, (char *)buf, cap);
}

static ssize_t to_cbor(ec_format_t fmt, const void *doc, uint8_t *buf,
                       size_t cap) {
  const bytes_t *in = doc;
  return ec_json_to_cbor((const char *)in->p, in->n, buf, cap);
}

/* Convert @p data with @p f; whatever converts must convert back with
 * @p g, and converting that again with @p f must give the same bytes. */
static void check(fuzz_encode_fn f, fuzz_encode_fn g, const uint8_t *data,
                  size_t size) {
  bytes_t in = {data, size};
  ssize_t n1, n2, n3;
  uint8_t *a = fuzz_encode(f, EC_FORMAT_JSON, &in, &n1);
  if (a == NULL) {
    return;
  }
  in = (bytes_t){a, (size_t)n1};
  uint8_t *b = fuzz_encode(g, EC_FORMAT_JSON, &in, &n2);
  FUZZ_CHECK(b != NULL);
  in = (bytes_t){b, (size_t)n2};
  uint8_t *c = fuzz_encode(f, EC_FORMAT_JSON, &in, &n3);
  FUZZ_CHECK(c != NULL && n3 == n1 && memcmp(a, c, (size_t)n1) == 0);
  free(a);
  free(b);
  free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check(to_json, to_cbor, data, size);
  check(to_cbor, to_json, data, size);
  (void)ec_format_sniff(data, size);
  return 0;
}
