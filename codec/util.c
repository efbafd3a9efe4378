/* edgecoap codec: small helpers the document codecs share (formats, arrays,
 * ASCII, tree building). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tree.h"

/* ---- decoding ------------------------------------------------------------ */

int ec__doc_format(ec_format_t fmt, ec_codec_error_t *err) {
  /* Concise problem details are CBOR too, but no document comes in them. */
  if (fmt != EC_FORMAT_JSON && fmt != EC_FORMAT_CBOR) {
    return ec__fail(err, EC_EFORMAT, "unsupported-format", "",
                    "content format %d is not JSON or CBOR", (int)fmt);
  }
  return 0;
}

int ec__doc_parse(ec_format_t fmt, const uint8_t *buf, size_t len, json_t **t,
                  ec_codec_error_t *err) {
  int rc = ec__doc_format(fmt, err);
  return rc < 0 ? rc : ec__tree_parse(fmt, buf, len, t, err);
}

void *ec__alloc_array(ec_arena_t *arena, size_t n, size_t size,
                      const char *field, ec_codec_error_t *err) {
  /* The caps keep n * size far from overflow; the check keeps a future cap
   * change from turning into a short allocation. */
  void *p =
      size > 0 && n > SIZE_MAX / size ? NULL : ec_arena_alloc(arena, n * size);
  if (p == NULL) {
    ec__fail(err, EC_ENOMEM, "out-of-memory", field,
             "the decode arena is full");
  }
  return p;
}

static char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

bool ec__ascii_ieq(const char *a, size_t alen, const char *b) {
  if (alen != strlen(b)) {
    return false;
  }
  for (size_t i = 0; i < alen; i++) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) {
      return false;
    }
  }
  return true;
}

int ec__hex_digit(int c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

/* ---- encoding ------------------------------------------------------------ */

int ec__encode_args(ec_format_t fmt, const void *p, size_t n,
                    const uint8_t *buf, size_t cap) {
  if ((p == NULL && n > 0) || (buf == NULL && cap != 0)) {
    return EC_EINVAL;
  }
  return fmt == EC_FORMAT_JSON || fmt == EC_FORMAT_CBOR ? 0 : EC_EFORMAT;
}

int ec__set_new(json_t *o, const char *k, json_t *v) {
  return json_object_set_new_nocheck(o, k, v) != 0 ? EC_ENOMEM : 0;
}

int ec__set_str(json_t *o, const char *k, const char *s) {
  if (s == NULL || !ec__utf8_valid(s, strlen(s))) {
    return EC_EINVAL;
  }
  return ec__set_new(o, k, json_string_nocheck(s));
}

int ec__set_int(json_t *o, const char *k, int64_t v) {
  return ec__set_new(o, k, json_integer((json_int_t)v));
}

json_t *ec__envelope(const char *key, json_t *v) {
  json_t *t = json_object();
  if (t == NULL) {
    json_decref(v);
    return NULL;
  }
  if (ec__set_new(t, key, v) < 0) {
    json_decref(t);
    return NULL;
  }
  return t;
}

ssize_t ec__encode_finish(ec_format_t fmt, json_t *t, int rc, uint8_t *buf,
                          size_t cap) {
  ssize_t n = rc < 0 ? rc : ec__tree_write(fmt, t, false, buf, cap);
  json_decref(t);
  return n;
}

/* Most documents fit here, so they are encoded once and copied instead of
 * encoded twice (a measure pass, then the write): a list answer of about
 * ten status messages is 2.4 KB of CBOR and twice that in JSON. */
#define ENCODE_STACK 8192

ssize_t ec_encode_new(ec_encode_fn fn, ec_format_t fmt, const void *doc,
                      uint8_t **out) {
  uint8_t stack[ENCODE_STACK];
  if (fn == NULL || out == NULL) {
    return EC_EINVAL;
  }
  ssize_t n = fn(fmt, doc, stack, sizeof(stack));
  if (n < 0) {
    return n;
  }
  uint8_t *buf = (size_t)n < SIZE_MAX ? malloc((size_t)n + 1) : NULL;
  if (buf == NULL) {
    return EC_ENOMEM;
  }
  if ((size_t)n <= sizeof(stack)) {
    memcpy(buf, stack, (size_t)n);
  } else if (fn(fmt, doc, buf, (size_t)n) != n) {
    free(buf);
    return EC_ENOMEM; /* the document changed under us: cannot happen */
  }
  buf[n] = 0;
  *out = buf;
  return n;
}
