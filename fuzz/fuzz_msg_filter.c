/* edgecoap fuzz: status-message filters from a FETCH body and from Uri-Query text, with round trips as oracle. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static ssize_t enc_filter(ec_format_t fmt, const void *doc, uint8_t *buf,
                          size_t cap) {
  return ec_msg_filter_encode(fmt, doc, buf, cap);
}

static int hex(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Read "a=1&b=2" back the way a CoAP server receives it: one Uri-Query
 * option per pair, percent-decoded. */
static int from_query(char *q, ec_msg_filter_t *f, ec_arena_t *a) {
  memset(f, 0, sizeof *f);
  for (char *save = NULL, *p = strtok_r(q, "&", &save); p != NULL;
       p = strtok_r(NULL, "&", &save)) {
    char *eq = strchr(p, '=');
    FUZZ_CHECK(eq != NULL);
    *eq = '\0';
    size_t n = 0;
    for (char *s = eq + 1; *s != '\0'; s++) {
      if (*s == '%') {
        FUZZ_CHECK(hex(s[1]) >= 0 && hex(s[2]) >= 0);
        eq[1 + n++] = (char)(hex(s[1]) << 4 | hex(s[2]));
        s += 2;
      } else {
        eq[1 + n++] = *s;
      }
    }
    int rc = ec_msg_filter_set(f, p, eq + 1, n, a, NULL);
    if (rc < 0) {
      return rc;
    }
  }
  return 0;
}

static void roundtrip(ec_format_t fmt, const ec_msg_filter_t *f) {
  ssize_t len;
  uint8_t *buf = fuzz_encode(enc_filter, fmt, f, &len);
  FUZZ_CHECK(buf != NULL);
  ec_arena_t a;
  ec_msg_filter_t back;
  fuzz_arena_new(&a, (size_t)len);
  FUZZ_CHECK(ec_msg_filter_decode(fmt, buf, (size_t)len, &back, &a, NULL) == 0);
  FUZZ_CHECK(fuzz_filter_eq(f, &back));
  char q[2048];
  ssize_t n = ec_msg_filter_query(f, q, sizeof q);
  FUZZ_CHECK(n >= 0 && (size_t)n < sizeof q);
  FUZZ_CHECK(from_query(q, &back, &a) == 0 && fuzz_filter_eq(f, &back));
  fuzz_arena_free(&a);
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ec_arena_t a;
  ec_msg_filter_t f;
  ec_codec_error_t err;
  fuzz_arena_new(&a, size);
  for (size_t i = 0; i < 2; i++) {
    if (ec_msg_filter_decode(fuzz_formats[i], data, size, &f, &a, &err) == 0) {
      roundtrip(fuzz_formats[i], &f);
    }
  }
  /* The same bytes as Uri-Query options: split at '&', name up to '='. */
  char *q = malloc(size + 1);
  FUZZ_CHECK(q != NULL);
  memcpy(q, data, size);
  q[size] = '\0';
  memset(&f, 0, sizeof f);
  int rc = 0;
  for (char *save = NULL, *p = strtok_r(q, "&", &save); p != NULL && rc == 0;
       p = strtok_r(NULL, "&", &save)) {
    char *eq = strchr(p, '=');
    const char *v = eq != NULL ? eq + 1 : "";
    if (eq != NULL) {
      *eq = '\0';
    }
    rc = ec_msg_filter_set(&f, p, v, strlen(v), &a, &err);
  }
  if (rc == 0) {
    roundtrip(EC_FORMAT_JSON, &f);
  }
  free(q);
  fuzz_arena_free(&a);
  return 0;
}
