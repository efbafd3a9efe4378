/* edgecoap fuzz: RFC 3339 parsing (ec_time_parse_ms) and formatting, which must round-trip. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int64_t ms, back;
  char out[32];
  if (ec_time_parse_ms((const char *)data, size, &ms) == 0) {
    int n = ec_time_format_ms(ms, out);
    FUZZ_CHECK(n > 0 && n < 32);
    FUZZ_CHECK(ec_time_parse_ms(out, (size_t)n, &back) == 0 && back == ms);
  }
  /* Any 64-bit count either formats and reads back, or is refused. */
  if (size >= sizeof ms) {
    memcpy(&ms, data, sizeof ms);
    int n = ec_time_format_ms(ms, out);
    if (n >= 0) {
      FUZZ_CHECK(ec_time_parse_ms(out, (size_t)n, &back) == 0 && back == ms);
    }
  }
  return 0;
}
