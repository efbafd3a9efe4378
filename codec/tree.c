/* edgecoap codec: JSON and CBOR <-> one capped jansson tree, and the transcoders built on it (CBOR read in tree_cbor.c). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tree.h"

/* The title every parse failure of one kind carries, so that callers can map
 * codes to problem details without a table of their own. */
const char *ec__parse_title(int code) {
  switch (code) {
  case EC_ETOOBIG:
    return "too-large";
  case EC_ENOMEM:
    return "out-of-memory";
  default:
    return "malformed-body";
  }
}

bool ec__utf8_valid(const char *str, size_t len) {
  const uint8_t *s = (const uint8_t *)str;
  if (s == NULL) {
    return len == 0;
  }
  size_t i = 0;
  while (i < len) {
    /* Most text is ASCII: eight bytes at a time while no top bit is set. */
    uint64_t word;
    while (len - i >= 8 &&
           (memcpy(&word, s + i, 8), (word & 0x8080808080808080u) == 0)) {
      i += 8;
    }
    if (i >= len) {
      break;
    }
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    uint32_t cp;
    uint32_t min;
    if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1Fu, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0Fu, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07u, min = 0x10000;
    } else {
      return false;
    }
    if (n > len - i - 1) {
      return false;
    }
    for (size_t k = 1; k <= n; k++) {
      if ((s[i + k] & 0xC0) != 0x80) {
        return false;
      }
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    /* Overlong forms, surrogates and code points past Unicode are refused as
     * RFC 3629 demands, so both formats accept exactly the same strings. */
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

/* ---- JSON reading ------------------------------------------------------ */

/* jansson's own depth limit (2048) is far above ours and reports a plain
 * syntax error, so nesting is measured before jansson allocates anything. */
static bool json_depth_ok(const uint8_t *buf, size_t len) {
  size_t depth = 0;
  bool in_str = false;
  bool esc = false;
  for (size_t i = 0; i < len; i++) {
    uint8_t c = buf[i];
    if (in_str) {
      if (esc) {
        esc = false;
      } else if (c == '\\') {
        esc = true;
      } else if (c == '"') {
        in_str = false;
      }
    } else if (c == '"') {
      in_str = true;
    } else if (c == '[' || c == '{') {
      if (++depth > EC_MAX_DEPTH) {
        return false;
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      depth--;
    }
  }
  return true;
}

/* Text and count caps are checked on the finished tree: its size is bounded
 * by the body's, and the depth check above bounds this recursion. */
static int json_caps(const json_t *v, ec_codec_error_t *err) {
  const char *key;
  json_t *val;
  size_t i;
  switch (json_typeof(v)) {
  case JSON_STRING:
    if (json_string_length(v) > EC_MAX_TEXT) {
      return ec__fail(err, EC_ETOOBIG, "too-large", "",
                      "a text string is longer than %d bytes", EC_MAX_TEXT);
    }
    return 0;
  case JSON_ARRAY:
    if (json_array_size(v) > EC_MAX_ITEMS) {
      return ec__fail(err, EC_ETOOBIG, "too-large", "",
                      "an array has more than %d elements", EC_MAX_ITEMS);
    }
    json_array_foreach(v, i, val) {
      int rc = json_caps(val, err);
      if (rc < 0) {
        return rc;
      }
    }
    return 0;
  case JSON_OBJECT:
    if (json_object_size(v) > EC_MAX_ITEMS) {
      return ec__fail(err, EC_ETOOBIG, "too-large", "",
                      "an object has more than %d members", EC_MAX_ITEMS);
    }
    json_object_foreach((json_t *)v, key, val) {
      if (strlen(key) > EC_MAX_TEXT) {
        return ec__fail(err, EC_ETOOBIG, "too-large", "",
                        "a key is longer than %d bytes", EC_MAX_TEXT);
      }
      int rc = json_caps(val, err);
      if (rc < 0) {
        return rc;
      }
    }
    return 0;
  default:
    return 0;
  }
}

static int parse_json(const uint8_t *buf, size_t len, json_t **out,
                      ec_codec_error_t *err) {
  if (!json_depth_ok(buf, len)) {
    return ec__fail(err, EC_ETOOBIG, "too-large", "",
                    "nesting is deeper than %d levels", EC_MAX_DEPTH);
  }
  json_error_t je;
  /* Any value may stand at the top so the transcoders handle scalars too;
   * document decoders insist on objects themselves. NUL escapes stay
   * refused (jansson's default) because decoded strings are C strings. */
  json_t *t = json_loadb(buf != NULL ? (const char *)buf : "", len,
                         JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
  if (t == NULL) {
    int code = EC_ESYNTAX;
    if (json_error_code(&je) == json_error_out_of_memory) {
      code = EC_ENOMEM;
    } else if (json_error_code(&je) == json_error_stack_overflow) {
      code = EC_ETOOBIG;
    }
    return ec__fail(err, code, ec__parse_title(code), "", "%s at byte %d", je.text,
                    je.position);
  }
  int rc = json_caps(t, err);
  if (rc < 0) {
    json_decref(t);
    return rc;
  }
  *out = t;
  return 0;
}

int ec__tree_parse(ec_format_t fmt, const uint8_t *buf, size_t len,
                   json_t **out, ec_codec_error_t *err) {
  if (out == NULL || (buf == NULL && len > 0)) {
    return ec__fail(err, EC_EINVAL, "invalid-argument", "",
                    "a required argument is NULL");
  }
  switch (fmt) {
  case EC_FORMAT_JSON:
    return parse_json(buf, len, out, err);
  case EC_FORMAT_CBOR:
  case EC_FORMAT_PROBLEM_CBOR:
    /* Linked in with edgecoap::codec, not with edgecoap::codec_json. */
    if (ec__tree_parse_cbor == NULL) {
      return ec__fail(err, EC_EFORMAT, "unsupported-format", "",
                      "CBOR is not read by this build of the codec");
    }
    return ec__tree_parse_cbor(buf, len, out, err);
  default:
    return ec__fail(err, EC_EFORMAT, "unsupported-format", "",
                    "content format %d is not supported", (int)fmt);
  }
}

/* ---- CBOR writing ------------------------------------------------------ */

static void emit_text(ec_wbuf_t *w, const char *s, size_t len) {
  ec__cbor_head(w, 3, len);
  ec__cbor_emit(w, s, len);
}

static void emit_int(ec_wbuf_t *w, int64_t v) {
  if (v >= 0) {
    ec__cbor_head(w, 0, (uint64_t)v);
  } else {
    ec__cbor_head(w, 1, (uint64_t)(-(v + 1)));
  }
}

/* A float when that loses nothing, else a double: the shortest of the two
 * forms that round-trips exactly. */
static void emit_real(ec_wbuf_t *w, double d) {
  uint8_t b[9];
  if (fabs(d) <= FLT_MAX && (double)(float)d == d) {
    float f = (float)d;
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    b[0] = 0xFA;
    for (int i = 4; i >= 1; i--, u >>= 8) {
      b[i] = (uint8_t)u;
    }
    ec__cbor_emit(w, b, 5);
    return;
  }
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  b[0] = 0xFB;
  for (int i = 8; i >= 1; i--, u >>= 8) {
    b[i] = (uint8_t)u;
  }
  ec__cbor_emit(w, b, 9);
}

/* True when @p k is an int64 in its one canonical decimal spelling, so that
 * writing it as an integer and reading it back gives the same key. */
static bool int_key(const char *k, int64_t *out) {
  bool neg = *k == '-';
  const char *p = neg ? k + 1 : k;
  if (*p < '0' || *p > '9' || (*p == '0' && (p[1] != '\0' || neg))) {
    return false;
  }
  uint64_t mag = 0;
  const uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  for (; *p != '\0'; p++) {
    if (*p < '0' || *p > '9') {
      return false;
    }
    unsigned d = (unsigned)(*p - '0');
    if (mag > (lim - d) / 10) {
      return false;
    }
    mag = mag * 10 + d;
  }
  /* mag >= 1 when negative ("-0" was refused), and mag - 1 fits int64. */
  *out = neg ? -(int64_t)(mag - 1) - 1 : (int64_t)mag;
  return true;
}

static int write_cbor(ec_wbuf_t *w, const json_t *v, bool int_keys, int depth) {
  const char *key;
  json_t *val;
  size_t i;
  int64_t ik;
  switch (json_typeof(v)) {
  case JSON_OBJECT:
  case JSON_ARRAY:
    /* What we would refuse to read back we refuse to write. */
    if (depth >= EC_MAX_DEPTH) {
      return EC_ETOOBIG;
    }
    if (json_is_array(v)) {
      ec__cbor_head(w, 4, json_array_size(v));
      json_array_foreach(v, i, val) {
        int rc = write_cbor(w, val, int_keys, depth + 1);
        if (rc < 0) {
          return rc;
        }
      }
      return 0;
    }
    ec__cbor_head(w, 5, json_object_size(v));
    json_object_foreach((json_t *)v, key, val) {
      if (int_keys && int_key(key, &ik)) {
        emit_int(w, ik);
      } else {
        emit_text(w, key, strlen(key));
      }
      int rc = write_cbor(w, val, int_keys, depth + 1);
      if (rc < 0) {
        return rc;
      }
    }
    return 0;
  case JSON_STRING:
    emit_text(w, json_string_value(v), json_string_length(v));
    return 0;
  case JSON_INTEGER:
    emit_int(w, (int64_t)json_integer_value(v));
    return 0;
  case JSON_REAL:
    emit_real(w, json_real_value(v));
    return 0;
  case JSON_TRUE:
    ec__cbor_emit(w, "\xF5", 1);
    return 0;
  case JSON_FALSE:
    ec__cbor_emit(w, "\xF4", 1);
    return 0;
  case JSON_NULL:
    ec__cbor_emit(w, "\xF6", 1);
    return 0;
  }
  return EC_EINVAL;
}

/* The JSON writer's twin of write_cbor()'s depth guard, so both formats
 * refuse the same trees. */
static bool depth_ok(const json_t *v, int depth) {
  const char *key;
  json_t *val;
  size_t i;
  if (!json_is_object(v) && !json_is_array(v)) {
    return true;
  }
  if (depth >= EC_MAX_DEPTH) {
    return false;
  }
  if (json_is_array(v)) {
    json_array_foreach(v, i, val) {
      if (!depth_ok(val, depth + 1)) {
        return false;
      }
    }
    return true;
  }
  json_object_foreach((json_t *)v, key, val) {
    if (!depth_ok(val, depth + 1)) {
      return false;
    }
  }
  return true;
}

int ec__tree_emit(ec_wbuf_t *w, bool json, const json_t *tree, int depth) {
  if (!json) {
    return write_cbor(w, tree, false, depth);
  }
  if (!depth_ok(tree, depth)) {
    return EC_ETOOBIG;
  }
  bool room = w->buf != NULL && w->len <= w->cap;
  size_t n = json_dumpb(tree, room ? (char *)w->buf + w->len : NULL,
                        room ? w->cap - w->len : 0,
                        JSON_COMPACT | JSON_ENCODE_ANY);
  if (n == 0) {
    return EC_ENOMEM;
  }
  if (n > SIZE_MAX - w->len) {
    w->overflow = true;
  } else {
    w->len += n;
  }
  return 0;
}

ssize_t ec__tree_write(ec_format_t fmt, const json_t *tree, bool int_keys,
                       uint8_t *buf, size_t cap) {
  if (tree == NULL || (buf == NULL && cap != 0)) {
    return EC_EINVAL;
  }
  if (fmt == EC_FORMAT_JSON) {
    if (!depth_ok(tree, 0)) {
      return EC_ETOOBIG;
    }
    /* jansson 2.14 returns the full length even when it exceeds @p cap and
     * then writes only the chunks that fit; 0 means it failed, which for a
     * well-formed tree is an allocation in its loop detection. */
    size_t n = json_dumpb(tree, (char *)buf, cap, JSON_COMPACT | JSON_ENCODE_ANY);
    if (n == 0) {
      return EC_ENOMEM;
    }
    return n > SSIZE_MAX ? EC_ETOOBIG : (ssize_t)n;
  }
  if (fmt != EC_FORMAT_CBOR && fmt != EC_FORMAT_PROBLEM_CBOR) {
    return EC_EFORMAT;
  }
  ec_wbuf_t w = {.buf = buf, .cap = cap};
  int rc = write_cbor(&w, tree, int_keys, 0);
  if (rc < 0) {
    return rc;
  }
  if (w.overflow || w.len > SSIZE_MAX) {
    return EC_ETOOBIG;
  }
  return (ssize_t)w.len;
}

/* ---- formats and transcoders ------------------------------------------- */

ec_format_t ec_format_sniff(const uint8_t *buf, size_t len) {
  for (size_t i = 0; buf != NULL && i < len; i++) {
    uint8_t c = buf[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      continue;
    }
    return (c == '{' || c == '[') ? EC_FORMAT_JSON : EC_FORMAT_CBOR;
  }
  return EC_FORMAT_CBOR;
}

ssize_t ec_cbor_to_json(const uint8_t *cbor, size_t len, char *out,
                        size_t cap) {
  if ((cbor == NULL && len > 0) || (out == NULL && cap != 0)) {
    return EC_EINVAL;
  }
  /* Most CBOR is already in the form the tree would write back: that is
   * transcoded as it is read, and only the rest goes through a tree. */
  ec__dw_t d;
  ssize_t n;
  ec__dw_init(&d, EC_FORMAT_JSON, (uint8_t *)out, cap);
  if (ec__dw_plain(&d, cbor, len)) {
    n = ec__dw_finish(&d);
  } else {
    json_t *t;
    int rc = ec__tree_parse(EC_FORMAT_CBOR, cbor, len, &t, NULL);
    if (rc < 0) {
      return rc;
    }
    n = ec__tree_write(EC_FORMAT_JSON, t, false, (uint8_t *)out, cap);
    json_decref(t);
  }
  if (n >= 0 && (size_t)n < cap) {
    out[n] = '\0';
  }
  return n;
}

ssize_t ec_json_to_cbor(const char *json, size_t len, uint8_t *out,
                        size_t cap) {
  if ((json == NULL && len > 0) || (out == NULL && cap != 0)) {
    return EC_EINVAL;
  }
  json_t *t;
  int rc = ec__tree_parse(EC_FORMAT_JSON, (const uint8_t *)json, len, &t, NULL);
  if (rc < 0) {
    return rc;
  }
  ssize_t n = ec__tree_write(EC_FORMAT_CBOR, t, false, out, cap);
  json_decref(t);
  return n;
}
