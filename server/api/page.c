/* edgecoap server API: list answers in pages, and the members that say where the next one starts. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgecoap/error.h"

/* Append a CBOR head of major type @p major and argument @p v to @p t. */
static size_t cbor_head(uint8_t *t, unsigned major, uint64_t v) {
  size_t n = 0;
  if (v < 24) {
    t[n++] = (uint8_t)(major << 5 | v);
    return n;
  }
  int bytes = v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8;
  t[n++] = (uint8_t)(major << 5 | (bytes == 1   ? 24
                                   : bytes == 2 ? 25
                                   : bytes == 4 ? 26
                                                : 27));
  for (int i = bytes - 1; i >= 0; i--)
    t[n++] = (uint8_t)(v >> (8 * i));
  return n;
}

/*
 * Add @p key with a value to a one-member envelope: @p json is the value as
 * JSON text, @p cbor (@p cbor_len bytes) the same value as CBOR.
 */
static int envelope_add(ec_format_t fmt, uint8_t **buf, size_t *len,
                        const char *key, const char *json, const uint8_t *cbor,
                        size_t cbor_len) {
  size_t klen = strlen(key);
  if (buf == NULL || *buf == NULL || len == NULL || *len < 2 || klen == 0 ||
      klen > 23)
    return EC_EINVAL;
  uint8_t *p = *buf;
  size_t n = *len;
  size_t add = fmt == EC_FORMAT_JSON ? klen + strlen(json) + 5
                                     : 1 + klen + cbor_len;
  if (fmt == EC_FORMAT_JSON ? p[0] != '{' || p[n - 1] != '}'
                            : p[0] != 0xa1) /* a definite map of one */
    return EC_EINVAL;
  uint8_t *q = realloc(p, n + add + 1);
  if (q == NULL)
    return EC_ENOMEM;
  if (fmt == EC_FORMAT_JSON) {
    /* replaces the closing brace */
    snprintf((char *)q + n - 1, add + 2, ",\"%s\":%s}", key, json);
    *len = n - 1 + add;
  } else {
    q[0] = 0xa2;
    q[n] = (uint8_t)(0x60 | klen); /* a text string shorter than 24 */
    memcpy(q + n + 1, key, klen);
    memcpy(q + n + 1 + klen, cbor, cbor_len);
    *len = n + add;
  }
  *buf = q;
  return 0;
}

int ec_envelope_add_int(ec_format_t fmt, uint8_t **buf, size_t *len,
                        const char *key, int64_t value) {
  char json[24];
  uint8_t cbor[9];
  if (value < 0)
    return EC_EINVAL;
  snprintf(json, sizeof(json), "%lld", (long long)value);
  size_t cn = cbor_head(cbor, 0, (uint64_t)value);
  return envelope_add(fmt, buf, len, key, json, cbor, cn);
}

int ec_envelope_add_text(ec_format_t fmt, uint8_t **buf, size_t *len,
                         const char *key, const char *value) {
  char json[264];
  uint8_t cbor[264];
  size_t vlen = strlen(value);
  if (vlen > 255)
    return EC_EINVAL;
  for (size_t i = 0; i < vlen; i++)
    if (value[i] == '"' || value[i] == '\\' || (unsigned char)value[i] < 0x20)
      return EC_EINVAL; /* route ids never need escaping */
  snprintf(json, sizeof(json), "\"%s\"", value);
  size_t cn = cbor_head(cbor, 3, vlen);
  memcpy(cbor + cn, value, vlen);
  return envelope_add(fmt, buf, len, key, json, cbor, cn + vlen);
}
