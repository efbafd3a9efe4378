/* edgecoap fuzz: problem-details decoding (JSON and concise CBOR), re-encoded and decoded again as oracle. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static const ec_format_t out_formats[2] = {EC_FORMAT_JSON,
                                           EC_FORMAT_PROBLEM_CBOR};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  for (size_t i = 0; i < 2; i++) {
    ec_arena_t a;
    ec_problem_t p, q;
    fuzz_arena_new(&a, size);
    if (ec_problem_decode(fuzz_formats[i], data, size, &p, &a) == 0) {
      /* An empty field is written as none, so it reads back as NULL. */
      const char *field = p.field != NULL && *p.field != '\0' ? p.field : NULL;
      ssize_t n = ec_problem_encode(out_formats[i], p.title, p.detail,
                                    p.coap_code, field, NULL, 0);
      FUZZ_CHECK(n > 0);
      uint8_t *buf = malloc((size_t)n);
      FUZZ_CHECK(buf != NULL);
      FUZZ_CHECK(ec_problem_encode(out_formats[i], p.title, p.detail,
                                   p.coap_code, field, buf, (size_t)n) == n);
      FUZZ_CHECK(ec_problem_decode(out_formats[i], buf, (size_t)n, &q, &a) == 0);
      FUZZ_CHECK(fuzz_str_eq(p.title, q.title) &&
                 fuzz_str_eq(p.detail, q.detail) &&
                 fuzz_str_eq(field, q.field) && p.coap_code == q.coap_code);
      free(buf);
    }
    fuzz_arena_free(&a);
  }
  return 0;
}
