/* edgecoap codec: JSON and CBOR <-> one capped jansson tree, and the transcoders built on it. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <cbor.h>
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
static const char *parse_title(int code) {
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
    return ec__fail(err, code, parse_title(code), "", "%s at byte %d", je.text,
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

/* ---- CBOR reading ------------------------------------------------------ */

/* One open array or map. Containers are linked into their parent when they
 * start, so the parent (or the root) always owns them and unwinding is one
 * json_decref() of the root. */
typedef struct {
  json_t *node; /* borrowed */
  json_t *key;  /* owned: a map key still waiting for its value */
  size_t left;  /* definite only: keys + values, or elements, still to come */
  size_t count; /* elements, or complete pairs, so far */
  bool is_map;
  bool indef;
} frame_t;

typedef struct {
  frame_t stack[EC_MAX_DEPTH];
  size_t sp;
  json_t *root;
  char *text; /* chunks of an open indefinite-length text string */
  size_t text_len;
  bool text_open;
  size_t avail; /* bytes from the current item's head to the end of input */
  int code;
  ec_codec_error_t *err;
} cbor_ctx_t;

/* libcbor's callbacks return nothing, so the first failure is latched in the
 * context and the driving loop stops after the current item. */
__attribute__((format(printf, 3, 4))) static void
cfail(cbor_ctx_t *c, int code, const char *fmt, ...) {
  if (c->code != 0) {
    return;
  }
  c->code = code;
  if (c->err != NULL) {
    char detail[sizeof c->err->detail];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    ec__fail(c->err, code, parse_title(code), "", "%s", detail);
  }
}

/* Every item but a text chunk or a break must not appear inside an open
 * indefinite-length text string (RFC 8949 section 3.2.3). */
static bool item_ok(cbor_ctx_t *c) {
  if (c->code != 0) {
    return false;
  }
  if (c->text_open) {
    cfail(c, EC_ESYNTAX, "an indefinite text string holds a non-text chunk");
    return false;
  }
  return true;
}

static bool awaiting_key(const cbor_ctx_t *c) {
  return c->sp > 0 && c->stack[c->sp - 1].is_map &&
         c->stack[c->sp - 1].key == NULL;
}

/* Close every definite container whose last item has arrived. */
static void settle(cbor_ctx_t *c) {
  while (c->sp > 0) {
    const frame_t *f = &c->stack[c->sp - 1];
    if (f->indef || f->left > 0) {
      return;
    }
    c->sp--;
  }
}

/* Hand a finished item (or a just-started container) to its parent; takes
 * the reference to @p v whatever happens. */
static void put(cbor_ctx_t *c, json_t *v) {
  if (v == NULL) {
    cfail(c, EC_ENOMEM, "out of memory");
    return;
  }
  if (c->sp == 0) {
    c->root = v;
    return;
  }
  frame_t *f = &c->stack[c->sp - 1];
  if (f->is_map && f->key == NULL) {
    if (!json_is_string(v)) {
      json_decref(v);
      cfail(c, EC_ESYNTAX, "a map key is neither a text string nor an integer");
      return;
    }
    if (json_object_get(f->node, json_string_value(v)) != NULL) {
      cfail(c, EC_ESYNTAX, "duplicate map key \"%s\"", json_string_value(v));
      json_decref(v);
      return;
    }
    f->key = v;
  } else {
    int rc = f->is_map ? json_object_set_new_nocheck(
                             f->node, json_string_value(f->key), v)
                       : json_array_append_new(f->node, v);
    if (f->is_map) {
      json_decref(f->key);
      f->key = NULL;
    }
    if (rc != 0) {
      cfail(c, EC_ENOMEM, "out of memory");
      return;
    }
    if (++f->count > EC_MAX_ITEMS) {
      cfail(c, EC_ETOOBIG, "an array or map has more than %d items",
            EC_MAX_ITEMS);
      return;
    }
  }
  if (!f->indef) {
    f->left--;
  }
}

static void put_scalar(cbor_ctx_t *c, json_t *v) {
  put(c, v);
  settle(c);
}

static void put_int(cbor_ctx_t *c, int64_t v) {
  if (!item_ok(c)) {
    return;
  }
  if (awaiting_key(c)) {
    char k[24];
    int n = snprintf(k, sizeof k, "%" PRId64, v);
    put_scalar(c, json_stringn_nocheck(k, (size_t)n));
    return;
  }
  put_scalar(c, json_integer((json_int_t)v));
}

static void start(cbor_ctx_t *c, bool is_map, bool indef, size_t n) {
  if (!item_ok(c)) {
    return;
  }
  if (c->sp >= EC_MAX_DEPTH) {
    cfail(c, EC_ETOOBIG, "nesting is deeper than %d levels", EC_MAX_DEPTH);
    return;
  }
  if (!indef) {
    /* Every item takes at least one byte, so a count above the bytes left is
     * a lie and is refused before anything is allocated for it. */
    size_t room = c->avail - 1;
    if (is_map ? n > room / 2 : n > room) {
      cfail(c, EC_ESYNTAX, "a container claims %zu items but %zu bytes follow",
            n, room);
      return;
    }
    if (n > EC_MAX_ITEMS) {
      cfail(c, EC_ETOOBIG, "an array or map has more than %d items",
            EC_MAX_ITEMS);
      return;
    }
  }
  json_t *v = is_map ? json_object() : json_array();
  put(c, v);
  if (c->code != 0) {
    return;
  }
  frame_t *f = &c->stack[c->sp++];
  *f = (frame_t){.node = v, .is_map = is_map, .indef = indef,
                 .left = is_map ? 2 * n : n};
  settle(c);
}

static void on_uint8(void *ctx, uint8_t v) { put_int(ctx, v); }
static void on_uint16(void *ctx, uint16_t v) { put_int(ctx, v); }
static void on_uint32(void *ctx, uint32_t v) { put_int(ctx, v); }
static void on_uint64(void *ctx, uint64_t v) {
  if (v > INT64_MAX) {
    cfail(ctx, EC_ESYNTAX, "integer %" PRIu64 " is beyond int64", v);
    return;
  }
  put_int(ctx, (int64_t)v);
}
static void on_negint8(void *ctx, uint8_t v) { put_int(ctx, -1 - (int64_t)v); }
static void on_negint16(void *ctx, uint16_t v) { put_int(ctx, -1 - (int64_t)v); }
static void on_negint32(void *ctx, uint32_t v) { put_int(ctx, -1 - (int64_t)v); }
static void on_negint64(void *ctx, uint64_t v) {
  if (v > INT64_MAX) {
    cfail(ctx, EC_ESYNTAX, "integer -1-%" PRIu64 " is beyond int64", v);
    return;
  }
  put_int(ctx, -1 - (int64_t)v);
}

static void on_bytes(void *ctx, cbor_data data, size_t len) {
  cfail(ctx, EC_ESYNTAX, "byte strings have no JSON form");
}
static void on_bytes_start(void *ctx) {
  cfail(ctx, EC_ESYNTAX, "byte strings have no JSON form");
}

static void on_string(void *ctx, cbor_data data, size_t len) {
  cbor_ctx_t *c = ctx;
  if (c->code != 0) {
    return;
  }
  size_t have = c->text_open ? c->text_len : 0;
  if (len > EC_MAX_TEXT - have) {
    cfail(c, EC_ETOOBIG, "a text string is longer than %d bytes", EC_MAX_TEXT);
    return;
  }
  /* Each chunk must be valid on its own: RFC 8949 forbids splitting a
   * character between chunks. */
  if (!ec__utf8_valid((const char *)data, len)) {
    cfail(c, EC_ESYNTAX, "a text string is not valid UTF-8");
    return;
  }
  if (memchr(data, 0, len) != NULL) {
    cfail(c, EC_ESYNTAX, "a text string contains a NUL byte");
    return;
  }
  if (c->text_open) {
    memcpy(c->text + c->text_len, data, len);
    c->text_len += len;
    return;
  }
  put_scalar(c, json_stringn_nocheck((const char *)data, len));
}

static void on_string_start(void *ctx) {
  cbor_ctx_t *c = ctx;
  if (!item_ok(c)) {
    return;
  }
  if (c->text == NULL) {
    c->text = malloc(EC_MAX_TEXT > 0 ? EC_MAX_TEXT : 1);
    if (c->text == NULL) {
      cfail(c, EC_ENOMEM, "out of memory");
      return;
    }
  }
  c->text_open = true;
  c->text_len = 0;
}

static void on_array(void *ctx, size_t n) { start(ctx, false, false, n); }
static void on_indef_array(void *ctx) { start(ctx, false, true, 0); }
static void on_map(void *ctx, size_t n) { start(ctx, true, false, n); }
static void on_indef_map(void *ctx) { start(ctx, true, true, 0); }

static void on_tag(void *ctx, uint64_t tag) {
  cfail(ctx, EC_ESYNTAX, "tag %" PRIu64 " is not supported", tag);
}

static void put_real(cbor_ctx_t *c, double d) {
  if (!item_ok(c)) {
    return;
  }
  if (!isfinite(d)) {
    cfail(c, EC_ESYNTAX, "NaN and infinities have no JSON form");
    return;
  }
  if (awaiting_key(c)) {
    cfail(c, EC_ESYNTAX, "a map key is neither a text string nor an integer");
    return;
  }
  put_scalar(c, json_real(d));
}
static void on_float(void *ctx, float f) { put_real(ctx, f); }
static void on_double(void *ctx, double d) { put_real(ctx, d); }

static void on_undefined(void *ctx) {
  cfail(ctx, EC_ESYNTAX, "undefined has no JSON form");
}
static void on_null(void *ctx) {
  if (item_ok(ctx)) {
    put_scalar(ctx, json_null());
  }
}
static void on_bool(void *ctx, bool b) {
  if (item_ok(ctx)) {
    put_scalar(ctx, json_boolean(b));
  }
}

static void on_break(void *ctx) {
  cbor_ctx_t *c = ctx;
  if (c->code != 0) {
    return;
  }
  if (c->text_open) {
    c->text_open = false;
    put_scalar(c, json_stringn_nocheck(c->text, c->text_len));
    return;
  }
  if (c->sp == 0 || !c->stack[c->sp - 1].indef) {
    cfail(c, EC_ESYNTAX, "a break outside an indefinite-length item");
    return;
  }
  if (c->stack[c->sp - 1].key != NULL) {
    cfail(c, EC_ESYNTAX, "a map ends after a key without its value");
    return;
  }
  c->sp--;
  settle(c);
}

static const struct cbor_callbacks callbacks = {
    .uint8 = on_uint8,
    .uint16 = on_uint16,
    .uint32 = on_uint32,
    .uint64 = on_uint64,
    .negint8 = on_negint8,
    .negint16 = on_negint16,
    .negint32 = on_negint32,
    .negint64 = on_negint64,
    .byte_string = on_bytes,
    .byte_string_start = on_bytes_start,
    .string = on_string,
    .string_start = on_string_start,
    .array_start = on_array,
    .indef_array_start = on_indef_array,
    .map_start = on_map,
    .indef_map_start = on_indef_map,
    .tag = on_tag,
    .float2 = on_float,
    .float4 = on_float,
    .float8 = on_double,
    .undefined = on_undefined,
    .null = on_null,
    .boolean = on_bool,
    .indef_break = on_break,
};

static int parse_cbor(const uint8_t *buf, size_t len, json_t **out,
                      ec_codec_error_t *err) {
  cbor_ctx_t c;
  memset(&c, 0, sizeof c);
  c.err = err;
  size_t pos = 0;
  /* cbor_stream_decode() reads one head (or one whole definite string) per
   * call and never reads past the length it is given. */
  while (pos < len && c.code == 0) {
    if (c.root != NULL && c.sp == 0 && !c.text_open) {
      cfail(&c, EC_ESYNTAX, "%zu bytes follow the document", len - pos);
      break;
    }
    c.avail = len - pos;
    struct cbor_decoder_result r =
        cbor_stream_decode(buf + pos, len - pos, &callbacks, &c);
    if (c.code != 0) {
      break;
    }
    if (r.status == CBOR_DECODER_NEDATA) {
      cfail(&c, EC_ESYNTAX, "the body ends inside an item at byte %zu", pos);
    } else if (r.status != CBOR_DECODER_FINISHED || r.read == 0) {
      cfail(&c, EC_ESYNTAX, "malformed CBOR at byte %zu", pos);
    }
    pos += r.read;
  }
  if (c.code == 0 && (c.root == NULL || c.sp > 0 || c.text_open)) {
    cfail(&c, EC_ESYNTAX, len == 0 ? "the body is empty"
                                   : "the body ends before the document does");
  }
  free(c.text);
  for (size_t i = 0; i < c.sp; i++) {
    json_decref(c.stack[i].key);
  }
  if (c.code != 0) {
    json_decref(c.root);
    return c.code;
  }
  *out = c.root;
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
    return parse_cbor(buf, len, out, err);
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
