/* edgecoap codec: CBOR read into the capped jansson tree with libcbor, the codec's one use of it. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <cbor.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tree.h"

/*
 * Only edgecoap::codec has this file (and links libcbor): the server
 * reads CBOR with it. edgecoap::codec_json, which the client library
 * links, has the rest of the codec without it, and reads CBOR as an
 * unsupported format; the client reads its CBOR with the device core.
 */

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
    ec__fail(c->err, code, ec__parse_title(code), "", "%s", detail);
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

int ec__tree_parse_cbor(const uint8_t *buf, size_t len, json_t **out,
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
