/* edgecoap codec: streaming JSON/CBOR writers, stored-CBOR splicing and a CBOR pull reader. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <limits.h>
#include <string.h>

#include "stream.h"
#include "tree.h"

/* ---- raw output ----------------------------------------------------------- */

/* Writes past the caller's capacity are only counted, which gives the
 * measure-only pass and the "needed length" answer from one walk. */
void ec__cbor_emit(ec_wbuf_t *w, const void *p, size_t n) {
  if (n > SIZE_MAX - w->len) {
    w->overflow = true;
    return;
  }
  if (w->buf != NULL && n <= w->cap && w->len <= w->cap - n) {
    memcpy(w->buf + w->len, p, n);
  }
  w->len += n;
}

void ec__cbor_head(ec_wbuf_t *w, uint8_t major, uint64_t v) {
  uint8_t h[9];
  size_t n;
  uint8_t mt = (uint8_t)(major << 5);
  if (v < 24) {
    h[0] = (uint8_t)(mt | v);
    n = 1;
  } else if (v <= UINT8_MAX) {
    h[0] = mt | 24;
    n = 2;
  } else if (v <= UINT16_MAX) {
    h[0] = mt | 25;
    n = 3;
  } else if (v <= UINT32_MAX) {
    h[0] = mt | 26;
    n = 5;
  } else {
    h[0] = mt | 27;
    n = 9;
  }
  for (size_t i = n - 1; i >= 1; i--) {
    h[i] = (uint8_t)v;
    v >>= 8;
  }
  ec__cbor_emit(w, h, n);
}

static void emit_byte(ec_wbuf_t *w, char c) {
  ec__cbor_emit(w, &c, 1);
}

/* A JSON string as jansson writes it (JSON_COMPACT, no JSON_ENSURE_ASCII):
 * '"' and '\\' escaped, the five named control characters by name, the rest
 * below 0x20 as \u00XX in upper case, everything else as it is. */
static void json_quoted(ec_wbuf_t *w, const char *s, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  emit_byte(w, '"');
  size_t run = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') {
      continue;
    }
    ec__cbor_emit(w, s + run, i - run);
    run = i + 1;
    char esc[6] = {'\\', 0, 0, 0, 0, 0};
    size_t n = 2;
    switch (c) {
    case '"':
    case '\\':
      esc[1] = (char)c;
      break;
    case '\b':
      esc[1] = 'b';
      break;
    case '\f':
      esc[1] = 'f';
      break;
    case '\n':
      esc[1] = 'n';
      break;
    case '\r':
      esc[1] = 'r';
      break;
    case '\t':
      esc[1] = 't';
      break;
    default:
      memcpy(esc + 1, "u00", 3);
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      n = 6;
    }
    ec__cbor_emit(w, esc, n);
  }
  ec__cbor_emit(w, s + run, len - run);
  emit_byte(w, '"');
}

/* Decimal as jansson's "%lld": a sign and the magnitude, which for
 * INT64_MIN needs the unsigned negation. */
static void json_decimal(ec_wbuf_t *w, bool neg, uint64_t mag) {
  char d[21];
  size_t i = sizeof d;
  do {
    d[--i] = (char)('0' + mag % 10);
    mag /= 10;
  } while (mag > 0);
  if (neg) {
    d[--i] = '-';
  }
  ec__cbor_emit(w, d + i, sizeof d - i);
}

/* ---- the document writer -------------------------------------------------- */

void ec__dw_init(ec__dw_t *d, ec_format_t fmt, uint8_t *buf, size_t cap) {
  memset(d, 0, sizeof *d);
  d->w.buf = buf;
  d->w.cap = buf != NULL ? cap : 0;
  d->json = fmt == EC_FORMAT_JSON;
}

void ec__dw_fail(ec__dw_t *d, int rc) {
  if (d->rc == 0) {
    d->rc = rc;
  }
}

/* Before a key, an array element or a top-level value: the comma JSON
 * wants between members. */
static void sep(ec__dw_t *d) {
  if (!d->json || d->depth == 0) {
    return;
  }
  if (d->after_key) {
    d->after_key = false;
  } else if (d->first[d->depth]) {
    d->first[d->depth] = false;
  } else {
    emit_byte(&d->w, ',');
  }
}

static void open_container(ec__dw_t *d, uint8_t major, size_t n, char c) {
  if (d->rc != 0) {
    return;
  }
  /* What the tree path would refuse to read back it refuses to write. */
  if (d->depth >= EC_MAX_DEPTH) {
    d->rc = EC_ETOOBIG;
    return;
  }
  if (d->json) {
    sep(d);
    emit_byte(&d->w, c);
  } else {
    ec__cbor_head(&d->w, major, n);
  }
  d->depth++;
  d->first[d->depth] = true;
}

static void close_container(ec__dw_t *d, char c) {
  if (d->rc != 0) {
    return;
  }
  if (d->depth == 0) {
    d->rc = EC_EINVAL;
    return;
  }
  if (d->json) {
    emit_byte(&d->w, c);
  }
  d->depth--;
}

void ec__dw_map(ec__dw_t *d, size_t pairs) { open_container(d, 5, pairs, '{'); }
void ec__dw_array(ec__dw_t *d, size_t n) { open_container(d, 4, n, '['); }
void ec__dw_end_map(ec__dw_t *d) { close_container(d, '}'); }
void ec__dw_end_array(ec__dw_t *d) { close_container(d, ']'); }

static void text_unchecked(ec__dw_t *d, const char *s, size_t len) {
  if (d->json) {
    json_quoted(&d->w, s, len);
  } else {
    ec__cbor_head(&d->w, 3, len);
    ec__cbor_emit(&d->w, s, len);
  }
}

static void keyn(ec__dw_t *d, const char *s, size_t len) {
  if (d->rc != 0) {
    return;
  }
  sep(d);
  text_unchecked(d, s, len);
  if (d->json) {
    emit_byte(&d->w, ':');
    d->after_key = true;
  }
}

void ec__dw_key(ec__dw_t *d, const char *s) { keyn(d, s, strlen(s)); }

void ec__dw_textn(ec__dw_t *d, const char *s, size_t len) {
  if (d->rc != 0) {
    return;
  }
  if (s == NULL || !ec__utf8_valid(s, len)) {
    d->rc = EC_EINVAL;
    return;
  }
  sep(d);
  text_unchecked(d, s, len);
}

void ec__dw_text(ec__dw_t *d, const char *s) {
  if (s == NULL) {
    ec__dw_fail(d, EC_EINVAL);
    return;
  }
  ec__dw_textn(d, s, strlen(s));
}

void ec__dw_int(ec__dw_t *d, int64_t v) {
  if (d->rc != 0) {
    return;
  }
  sep(d);
  uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  if (d->json) {
    json_decimal(&d->w, v < 0, mag);
  } else if (v >= 0) {
    ec__cbor_head(&d->w, 0, mag);
  } else {
    ec__cbor_head(&d->w, 1, mag - 1);
  }
}

void ec__dw_time(ec__dw_t *d, int64_t ms) {
  char ts[32];
  int n = ec_time_format_ms(ms, ts);
  if (n < 0) {
    ec__dw_fail(d, EC_EINVAL);
    return;
  }
  ec__dw_textn(d, ts, (size_t)n);
}

ssize_t ec__dw_finish(const ec__dw_t *d) {
  if (d->rc != 0) {
    return d->rc;
  }
  if (d->depth != 0) {
    return EC_EINVAL;
  }
  if (d->w.overflow || d->w.len > SSIZE_MAX) {
    return EC_ETOOBIG;
  }
  return (ssize_t)d->w.len;
}

ssize_t ec__dw_list(ec_format_t fmt, const char *key, const void *items,
                    size_t n, size_t size, ec__dw_put_fn put, uint8_t *buf,
                    size_t cap) {
  int rc = ec__encode_args(fmt, items, key != NULL ? n : 1, buf, cap);
  if (rc < 0) {
    return rc;
  }
  ec__dw_t d;
  ec__dw_init(&d, fmt, buf, cap);
  if (key == NULL) {
    put(&d, items);
    return ec__dw_finish(&d);
  }
  ec__dw_map(&d, 1);
  ec__dw_key(&d, key);
  ec__dw_array(&d, n);
  const char *item = items;
  for (size_t i = 0; i < n && d.rc == 0; i++, item += size) {
    put(&d, item);
  }
  ec__dw_end_array(&d);
  ec__dw_end_map(&d);
  return ec__dw_finish(&d);
}

/* ---- the pull reader ------------------------------------------------------ */

/* Any head: major type, argument, and whether it was in shortest form.
 * Indefinite lengths and reserved additional information are false. */
static bool head_any(ec__cr_t *r, uint8_t *major, uint64_t *v, bool *shortest) {
  static const uint8_t arg_bytes[4] = {1, 2, 4, 8};
  static const uint64_t below[4] = {24, 0x100, 0x10000, 0x100000000};
  if (r->p >= r->end) {
    return false;
  }
  uint8_t ib = *r->p;
  uint8_t ai = ib & 31;
  *major = ib >> 5;
  if (ai < 24) {
    *v = ai;
    *shortest = true;
    r->p++;
    return true;
  }
  if (ai > 27) {
    return false;
  }
  size_t n = arg_bytes[ai - 24];
  if ((size_t)(r->end - r->p) < 1 + n) {
    return false;
  }
  uint64_t x = 0;
  for (size_t i = 1; i <= n; i++) {
    x = x << 8 | r->p[i];
  }
  *v = x;
  *shortest = x >= below[ai - 24];
  r->p += 1 + n;
  return true;
}

bool ec__cr_head(ec__cr_t *r, uint8_t major, uint64_t *v) {
  ec__cr_t save = *r;
  uint8_t m;
  bool shortest;
  if (!head_any(r, &m, v, &shortest) || m != major) {
    *r = save;
    return false;
  }
  r->loose |= !shortest;
  return true;
}

/* The rules the tree path applies to every text string (tree.c on_string). */
/* No NUL and valid UTF-8. Most text is ASCII without NUL, which one pass
 * of eight bytes at a time tells (a word with a top bit set or a zero
 * byte sends the whole string to the full checks). */
static bool text_ok(const uint8_t *s, uint64_t len, const uint8_t *end) {
  if (len > EC_MAX_TEXT || len > (uint64_t)(end - s)) {
    return false;
  }
  size_t n = (size_t)len, i = 0;
  const uint64_t ones = 0x0101010101010101u, tops = 0x8080808080808080u;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    if (((w | ((w - ones) & ~w)) & tops) != 0) {
      break;
    }
  }
  for (; i < n; i++) {
    if (s[i] == 0 || s[i] >= 0x80) {
      break;
    }
  }
  return i == n || (memchr(s, 0, n) == NULL &&
                    ec__utf8_valid((const char *)s, n));
}

bool ec__cr_text(ec__cr_t *r, const char **s, size_t *len) {
  ec__cr_t save = *r;
  uint64_t n;
  if (!ec__cr_head(r, 3, &n) || !text_ok(r->p, n, r->end)) {
    *r = save;
    return false;
  }
  *s = (const char *)r->p;
  *len = (size_t)n;
  r->p += n;
  return true;
}

/* ---- plain stored CBOR ---------------------------------------------------- */

/* Keys of one map remembered for the duplicate check; a map with more
 * members is left to the tree path (stored documents have a handful). */
#define PLAIN_KEYS 32

/*
 * Walk one item that the tree path would write back byte for byte; with
 * @p out (JSON) transcode it on the way. @p level is the nesting level a
 * container here would have. With @p skip the item must be a map whose
 * pairs go into the map @p out has open, minus the one keyed @p skip.
 */
static bool plain_item(ec__cr_t *r, int level, ec__dw_t *out,
                       const char *skip) {
  uint8_t major;
  uint64_t v;
  bool shortest;
  const uint8_t *start = r->p;
  if (!head_any(r, &major, &v, &shortest) || !shortest) {
    return false;
  }
  ec_wbuf_t *w = out != NULL ? &out->w : NULL;
  switch (major) {
  case 0:
  case 1:
    if (v > INT64_MAX) {
      return false;
    }
    if (w != NULL) {
      json_decimal(w, major == 1, major == 1 ? v + 1 : v);
    }
    return true;
  case 3:
    if (!text_ok(r->p, v, r->end)) {
      return false;
    }
    if (w != NULL) {
      json_quoted(w, (const char *)r->p, (size_t)v);
    }
    r->p += v;
    return true;
  case 4:
  case 5: {
    bool is_map = major == 5;
    if (level >= EC_MAX_DEPTH || v > EC_MAX_ITEMS ||
        v > (uint64_t)(r->end - r->p) || (is_map && v > PLAIN_KEYS) ||
        (skip != NULL && !is_map)) {
      return false;
    }
    const char *keys[PLAIN_KEYS];
    size_t klen[PLAIN_KEYS];
    if (w != NULL && skip == NULL) {
      emit_byte(w, is_map ? '{' : '[');
    }
    bool first = true;
    for (uint64_t i = 0; i < v; i++) {
      const char *k = NULL;
      size_t kl = 0;
      if (is_map) {
        if (!ec__cr_text(r, &k, &kl)) {
          return false;
        }
        for (uint64_t j = 0; j < i; j++) {
          if (klen[j] == kl && memcmp(keys[j], k, kl) == 0) {
            return false;
          }
        }
        keys[i] = k;
        klen[i] = kl;
      }
      bool skipped = skip != NULL && strlen(skip) == kl &&
                     memcmp(skip, k, kl) == 0;
      ec__dw_t *sub = skipped ? NULL : out;
      if (sub != NULL) {
        if (skip != NULL) {
          keyn(out, k, kl);
          sep(out);
        } else {
          if (!first) {
            emit_byte(w, ',');
          }
          if (is_map) {
            json_quoted(w, k, kl);
            emit_byte(w, ':');
          }
        }
        first = false;
      }
      if (!plain_item(r, skip != NULL ? level : level + 1, sub, NULL)) {
        return false;
      }
    }
    if (w != NULL && skip == NULL) {
      emit_byte(w, is_map ? '}' : ']');
    }
    return true;
  }
  case 7:
    /* false, true, null; floats would be written back in the tree path's
     * own width, undefined and simple values are refused there. */
    if (start[0] < 0xF4 || start[0] > 0xF6) {
      return false;
    }
    if (w != NULL) {
      static const char *const words[] = {"false", "true", "null"};
      const char *word = words[start[0] - 0xF4];
      ec__cbor_emit(w, word, strlen(word));
    }
    return true;
  default: /* byte strings and tags have no JSON form */
    return false;
  }
}

/*
 * True when @p cbor is exactly one item that the tree path would read and
 * write back unchanged (shortest heads, definite lengths, text keys without
 * duplicates, no floats, tags or byte strings, every cap of codec.h), with
 * its containers nested less than EC_MAX_DEPTH - @p depth deep.
 */
static bool cbor_plain(const uint8_t *cbor, size_t len, int depth) {
  if (cbor == NULL) {
    return false;
  }
  ec__cr_t r = {cbor, cbor + len, false};
  return plain_item(&r, depth, NULL, NULL) && r.p == r.end;
}

/* The tree path for what the streaming one does not take: parse, then
 * write as ec__tree_write() would at this depth. */
static int stored_tree(ec__dw_t *d, const uint8_t *cbor, size_t len,
                       bool want_map, const char *skip_key) {
  json_t *t;
  int rc = ec__tree_parse(EC_FORMAT_CBOR, cbor, len, &t, NULL);
  if (rc < 0) {
    return rc == EC_ENOMEM ? rc : EC_ESYNTAX;
  }
  if (want_map && !json_is_object(t)) {
    json_decref(t);
    return EC_ESYNTAX;
  }
  if (skip_key == NULL) {
    sep(d);
    rc = ec__tree_emit(&d->w, d->json, t, d->depth);
  } else {
    const char *k;
    json_t *v;
    json_object_foreach(t, k, v) {
      if (strcmp(k, skip_key) == 0) {
        continue;
      }
      ec__dw_key(d, k);
      sep(d);
      if ((rc = ec__tree_emit(&d->w, d->json, v, d->depth)) < 0) {
        break;
      }
    }
  }
  json_decref(t);
  return rc;
}

/* Write @p cbor as it is (CBOR) or transcoded as it is read (JSON) when it
 * is plain; else roll back and give false. */
static bool plain(ec__dw_t *d, const uint8_t *cbor, size_t len,
                  const char *skip_key) {
  if (!d->json) {
    if (!cbor_plain(cbor, len, d->depth)) {
      return false;
    }
    sep(d);
    ec__cbor_emit(&d->w, cbor, len);
    return true;
  }
  ec__cr_t r = {cbor, cbor + len, false};
  ec__dw_t save = *d;
  if (skip_key == NULL) {
    sep(d);
  }
  if (plain_item(&r, d->depth, d, skip_key) && r.p == r.end) {
    return true;
  }
  *d = save;
  return false;
}

bool ec__dw_plain(ec__dw_t *d, const uint8_t *cbor, size_t len) {
  return d->rc == 0 && cbor != NULL && plain(d, cbor, len, NULL);
}

int ec__dw_stored(ec__dw_t *d, const uint8_t *cbor, size_t len, bool want_map,
                  const char *skip_key) {
  if (d->rc != 0) {
    return d->rc;
  }
  if ((cbor == NULL && len > 0) || (skip_key != NULL && !d->json)) {
    d->rc = EC_EINVAL;
    return d->rc;
  }
  bool is_map = len > 0 && cbor[0] >> 5 == 5;
  if ((!want_map || is_map) && plain(d, cbor, len, skip_key)) {
    return 0;
  }
  int rc = stored_tree(d, cbor, len, want_map, skip_key);
  if (rc < 0) {
    d->rc = rc;
  }
  return rc;
}
