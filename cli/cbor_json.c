/* edgecoap-client: CBOR read with the device core into a jansson tree, for printing answers as JSON and checking input documents with the codec. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgecoap/codec.h"
#include "edgecoap/device.h"

#include "cbor_json.h"

/*
 * The tree is the one the codec's CBOR reader builds (codec/tree_cbor.c,
 * which the program does not link): integers, text, false, true and null
 * as they are, floats as doubles, integer keys as their decimal text, a
 * key given twice (also as text and as the integer it spells) and more
 * than EC_MAX_ITEMS elements refused; the core's ec_dev_cbor_check() has
 * made the codec's other checks on the whole document first. Written by
 * jansson as the codec writes a tree (JSON_COMPACT), the JSON is the
 * codec's ec_cbor_to_json() text.
 */

/* 2^@p e, exactly. */
static double pow2(int e) {
  double v = 1;
  for (; e > 0; e--)
    v *= 2;
  for (; e < 0; e++)
    v /= 2;
  return v;
}

static double float_value(const ec_dev_cbor_item_t *it) {
  if (it->width == 16) {
    unsigned h = (unsigned)it->bits, e = (h >> 10) & 31;
    double m = (double)(h & 1023);
    double v = e == 0 ? m * pow2(-24) : (m + 1024) * pow2((int)e - 25);
    return h & 0x8000 ? -v : v;
  }
  if (it->width == 32) {
    uint32_t b = (uint32_t)it->bits;
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
  }
  double d;
  memcpy(&d, &it->bits, sizeof d);
  return d;
}

static json_t *tree(ec_dev_cbor_t *c, int *rc);

/* The pairs of a map of @p n pairs into @p obj. */
static int map_pairs(ec_dev_cbor_t *c, json_t *obj, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    ec_dev_cbor_item_t k;
    char num[24];
    const char *key = num;
    size_t len;
    int rc = ec_dev_cbor_next(c, &k);
    if (rc < 0)
      return rc;
    if (k.type == EC_DEV_CBOR_INT) {
      len = (size_t)snprintf(num, sizeof num, "%" PRId64, k.i);
    } else if (k.type == EC_DEV_CBOR_TEXT) {
      key = k.text.ptr;
      len = k.text.len;
    } else {
      return EC_ESYNTAX;
    }
    if (json_object_getn(obj, key, len) != NULL)
      return EC_ESYNTAX; /* "1" and 1, one key to the codec */
    json_t *v = tree(c, &rc);
    if (v == NULL)
      return rc;
    if (json_object_setn_new_nocheck(obj, key, len, v) != 0)
      return EC_ENOMEM;
  }
  return 0;
}

/* The item at @p c and what it holds, or NULL with *rc set. */
static json_t *tree(ec_dev_cbor_t *c, int *rc) {
  ec_dev_cbor_item_t it;
  json_t *v = NULL;
  if ((*rc = ec_dev_cbor_next(c, &it)) < 0)
    return NULL;
  switch (it.type) {
  case EC_DEV_CBOR_INT:
    v = json_integer((json_int_t)it.i);
    break;
  case EC_DEV_CBOR_TEXT:
    v = json_stringn_nocheck(it.text.ptr, it.text.len);
    break;
  case EC_DEV_CBOR_FALSE:
    v = json_false();
    break;
  case EC_DEV_CBOR_TRUE:
    v = json_true();
    break;
  case EC_DEV_CBOR_NULL:
    v = json_null();
    break;
  case EC_DEV_CBOR_FLOAT:
    v = json_real(float_value(&it));
    break;
  case EC_DEV_CBOR_ARRAY:
  case EC_DEV_CBOR_MAP:
    if (it.i > EC_MAX_ITEMS) {
      *rc = EC_ETOOBIG; /* the codec's cap on a container's elements */
      return NULL;
    }
    v = it.type == EC_DEV_CBOR_MAP ? json_object() : json_array();
    if (v == NULL)
      break;
    if (it.type == EC_DEV_CBOR_MAP) {
      *rc = map_pairs(c, v, it.i);
    }
    for (int64_t i = 0; it.type == EC_DEV_CBOR_ARRAY && i < it.i && *rc == 0;
         i++) {
      json_t *e = tree(c, rc);
      if (e != NULL && json_array_append_new(v, e) != 0)
        *rc = EC_ENOMEM;
    }
    if (*rc < 0) {
      json_decref(v);
      return NULL;
    }
    break;
  }
  if (v == NULL)
    *rc = EC_ENOMEM;
  return v;
}

int ec_cli_cbor_json(const uint8_t *buf, size_t len, char **out, size_t *n) {
  int rc = ec_dev_cbor_check(buf, len);
  if (rc < 0)
    return rc;
  ec_dev_cbor_t c = {buf, len};
  json_t *t = tree(&c, &rc);
  if (t == NULL)
    return rc;
  size_t k = json_dumpb(t, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
  char *s = k > 0 ? malloc(k + 1) : NULL;
  if (s != NULL)
    json_dumpb(t, s, k, JSON_COMPACT | JSON_ENCODE_ANY);
  json_decref(t);
  if (s == NULL)
    return EC_ENOMEM;
  s[k] = '\0';
  *out = s;
  *n = k;
  return 0;
}

const char *ec_cli_cbor_why(int rc) {
  return rc == EC_ETOOBIG
             ? "too-large: nested deeper than 16 levels, or a text or "
               "list past the server's caps"
         : rc == EC_ENOMEM
             ? "out of memory"
             : "malformed-body: not CBOR as the server reads it (cut "
               "short, bytes after it, a key given twice, a byte string, "
               "a tag, undefined, a NaN, text not UTF-8)";
}
