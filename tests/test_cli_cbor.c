/* edgecoap tests: edgecoap-client's CBOR reading (the device core's pull decoder into jansson, cli/cbor_json.c) held to the codec's ec_cbor_to_json(). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <CUnit/Basic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbor_json.h"
#include "edgecoap/codec.h"
#include "suite.h"

/*
 * The codec (edgecoap::codec, with its libcbor reader) is the reference:
 * for each document, its truncations and its one-byte changes, the two
 * readings accept and refuse alike, and what both accept they write as
 * the same JSON text. Indefinite lengths are the one known difference:
 * the codec reads them, the core never (the server writes none), so
 * changes that make a byte an indefinite head or a break are left out.
 */

/* 0 when both agree (both refuse, or both write the same JSON), -1 the
 * codec alone accepts, 1 the client alone, 2 both accept and differ. */
static int both(const uint8_t *buf, size_t len) {
  static char ref[1 << 16];
  ssize_t n = ec_cbor_to_json(buf, len, ref, sizeof ref);
  char *mine = NULL;
  size_t m = 0;
  int rc = ec_cli_cbor_json(buf, len, &mine, &m);
  int r = (n < 0) != (rc < 0) ? (n >= 0 ? -1 : 1)
          : n < 0             ? 0
          : (size_t)n == m && memcmp(ref, mine, m) == 0 ? 0
                                                        : 2;
  if (r != 0) {
    fprintf(stderr, "\n%zu bytes: codec %zd (%.*s), client %d (%.*s)\n", len,
            n, n > 0 ? (int)n : 0, ref, rc, (int)m, mine ? mine : "");
  }
  free(mine);
  return r;
}

static bool indefinite(uint8_t b) {
  return b == 0x5f || b == 0x7f || b == 0x9f || b == 0xbf || b == 0xff;
}

/* Every truncation, and each byte set to every value and to itself with
 * bit 5 flipped. */
static void cuts_and_changes(uint8_t *buf, size_t len) {
  unsigned differ = 0;
  for (size_t cut = 0; cut < len; cut++) {
    differ += both(buf, cut) != 0;
  }
  for (size_t i = 0; i < len; i++) {
    uint8_t orig = buf[i];
    for (unsigned v = 0; v <= 256; v++) {
      buf[i] = v < 256 ? (uint8_t)v : (uint8_t)(orig ^ 0x20);
      if (!indefinite(buf[i])) {
        differ += both(buf, len) != 0;
      }
    }
    buf[i] = orig;
  }
  CU_ASSERT_EQUAL(differ, 0);
}

static size_t hex(const char *h, uint8_t *out) {
  size_t n = 0;
  for (; h[0] && h[1]; h += 2) {
    unsigned v;
    sscanf(h, "%2x", &v);
    out[n++] = (uint8_t)v;
  }
  return n;
}

/* Documents the codec writes (plain) and ones only a peer writes: floats
 * of each width, integer keys, heads longer than they need, a map of 40
 * members (the codec transcodes at most 32 as it reads), nesting at the
 * cap, text with escapes. */
static void test_cli_cbor_equals_codec(void) {
  static const char *const docs[] = {
      /* {"a": 1, "b": [true, false, null], "c": "x\"\n\x01"} */
      "a3616101616283f5f4f661636478220a01",
      /* 1.5 as half, 0.1 as single, 1e300 and -0.0 as double */
      "84f93e00fa3dcccccdfb7e37e43c8800759cfb8000000000000000",
      /* {-1: "t", 5: 0, "k": 1.0} */
      "a320617405006161fb3ff0000000000000",
      /* "apiVersion" with a two-byte head, 23 as a four-byte integer */
      "a2780a61706956657273696f6e627631616b1a00000017",
      /* [[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]], 16 levels */
      "8181818181818181818181818181818100",
      /* 1e-7, 65504 (the largest half), 2^-24 (the least) */
      "83fb3e7ad7f29abcaf48f97bfff90001",
  };
  uint8_t buf[512];
  for (size_t d = 0; d < sizeof docs / sizeof docs[0]; d++) {
    size_t n = hex(docs[d], buf);
    char *json = NULL;
    size_t m;
    CU_ASSERT_EQUAL(ec_cli_cbor_json(buf, n, &json, &m), 0);
    free(json);
    CU_ASSERT_EQUAL(both(buf, n), 0);
    cuts_and_changes(buf, n);
  }
  /* A map of 40 members. */
  size_t n = 0;
  buf[n++] = 0xb8;
  buf[n++] = 40;
  for (int i = 0; i < 40; i++) {
    buf[n++] = 0x62;
    buf[n++] = (uint8_t)('a' + i / 10);
    buf[n++] = (uint8_t)('0' + i % 10);
    buf[n++] = (uint8_t)i;
  }
  CU_ASSERT_EQUAL(both(buf, n), 0);
  cuts_and_changes(buf, n);
}

/* What both refuse: a key twice, also spelled as text and as an integer
 * or with a longer head; nesting past 16 levels; a byte string, a tag,
 * undefined, a NaN, an integer past int64, bad UTF-8, NUL. */
static void test_cli_cbor_refusals(void) {
  static const char *const bad[] = {
      "a2616100616101",         "a2613100 0100",
      "a2616100780161 00"   ,    "818181818181818181818181818181818100",
      "4100",                   "c100",
      "f7",                     "f97e00",
      "1bffffffffffffffff",     "62c328",
      "6100",                   "a1f600",
  };
  uint8_t buf[64];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char h[80];
    size_t k = 0;
    for (const char *p = bad[i]; *p; p++) {
      if (*p != ' ') {
        h[k++] = *p;
      }
    }
    h[k] = '\0';
    size_t n = hex(h, buf);
    char *json = NULL;
    size_t m;
    CU_ASSERT_TRUE(ec_cli_cbor_json(buf, n, &json, &m) < 0);
    CU_ASSERT_PTR_NULL(json);
    CU_ASSERT_EQUAL(both(buf, n), 0);
  }
}

int main(void) {
  static const ec_test_t tests[] = {
      {test_cli_cbor_equals_codec, "cli_cbor_equals_codec"},
      {test_cli_cbor_refusals, "cli_cbor_refusals"},
  };
  return ec_test_main("cli_cbor", tests, EC_TEST_COUNT(tests), NULL, NULL,
                      NULL);
}
