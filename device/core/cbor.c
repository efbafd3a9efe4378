/* edgecoap device core: the CBOR writer and pull reader (RFC 8949), for just what the documents need. */
/* SPDX-License-Identifier: Apache-2.0 */

#include "cbor.h"

static void emit(ec__cbw_t *w, const void *p, size_t n) {
  if (w->buf != NULL && n <= w->cap && w->len <= w->cap - n) {
    ec__copy(w->buf + w->len, p, n);
  }
  w->len += n;
}

void ec__cbw_head(ec__cbw_t *w, uint8_t major, uint32_t v) {
  uint8_t h[5];
  size_t n = v < 24 ? 0 : v <= 0xFF ? 1 : v <= 0xFFFF ? 2 : 4;
  h[0] = (uint8_t)(major << 5 | (n == 0 ? v : 24 + (n >> 1)));
  for (size_t i = 0; i < n; i++) {
    h[n - i] = (uint8_t)(v >> (8 * i));
  }
  emit(w, h, n + 1);
}

void ec__cbw_uint64(ec__cbw_t *w, uint64_t v) {
  uint8_t h[9];
  if (v <= UINT32_MAX) {
    ec__cbw_head(w, 0, (uint32_t)v);
    return;
  }
  h[0] = 27;
  for (int i = 0; i < 8; i++) {
    h[8 - i] = (uint8_t)(v >> (8 * i));
  }
  emit(w, h, sizeof h);
}

size_t ec__len(const char *s) {
  size_t n = 0;
  while (s[n] != '\0') {
    n++;
  }
  return n;
}

void ec__copy(void *dst, const void *src, size_t n) {
  uint8_t *d = dst;
  const uint8_t *q = src;
  while (n-- > 0) {
    *d++ = *q++;
  }
}

void ec__zero(void *dst, size_t n) {
  uint8_t *d = dst;
  while (n-- > 0) {
    *d++ = 0;
  }
}

bool ec__same(const void *a, const void *b, size_t n) {
  const uint8_t *p = a;
  const uint8_t *q = b;
  for (; n > 0; n--) {
    if (*p++ != *q++) {
      return false;
    }
  }
  return true;
}

void ec__cbw_text(ec__cbw_t *w, const char *s) {
  size_t n = ec__len(s);
  ec__cbw_head(w, 3, (uint32_t)n);
  emit(w, s, n);
}

/* One head: its major type (returned) and argument. Reserved additional
 * info (28-30) and indefinite lengths (31) are refused: the server never
 * writes them, and refusing them keeps every length definite. */
static int head(ec__cbr_t *r, uint64_t *arg) {
  const uint8_t *p = r->p;
  if (p >= r->end) {
    return EC_ESYNTAX;
  }
  uint8_t ai = p[0] & 0x1F;
  size_t n = ai < 24 ? 0 : ai < 28 ? (size_t)1 << (ai - 24) : 9;
  if (n > 8 || n >= (size_t)(r->end - p)) {
    return EC_ESYNTAX;
  }
  uint64_t v = n == 0 ? ai : 0;
  for (size_t i = 1; i <= n; i++) {
    v = v << 8 | p[i];
  }
  *arg = v;
  r->p = p + n + 1;
  return p[0] >> 5;
}

int ec__cbr_peek(const ec__cbr_t *r) {
  return r->p < r->end ? r->p[0] >> 5 : EC_ESYNTAX;
}

/* RFC 3629 UTF-8: no overlong forms, surrogates or code points past
 * U+10FFFF, exactly what the codec accepts; no NUL either. */
static bool utf8_ok(const uint8_t *s, size_t len) {
  /* The fewest bits a code point of 2, 3 and 4 bytes has. */
  static const uint8_t min_bits[3] = {8, 12, 17};
  const uint8_t *end = s + len;
  while (s < end) {
    uint32_t cp = *s++;
    size_t n = cp >= 0xF8 ? 0 : cp >= 0xF0 ? 3 : cp >= 0xE0 ? 2 : cp >= 0xC0;
    if (cp < 0x80) {
      if (cp == 0) {
        return false;
      }
      continue;
    }
    if (n == 0 || n > (size_t)(end - s)) {
      return false;
    }
    cp &= 0x3Fu >> n;
    for (size_t k = 0; k < n; k++, s++) {
      if ((*s & 0xC0) != 0x80) {
        return false;
      }
      cp = cp << 6 | (*s & 0x3Fu);
    }
    if (cp >> (min_bits[n - 1] - 1) == 0 || cp > 0x10FFFF || cp >> 11 == 0x1B) {
      return false;
    }
  }
  return true;
}

int ec__cbr_text(ec__cbr_t *r, ec_dev_str_t *s) {
  uint64_t v;
  if (ec__cbr_peek(r) != 3) {
    return EC_EBADDOC; /* a mistyped member (4.00 in the codec) */
  }
  if (head(r, &v) != 3 || v > (uint64_t)(r->end - r->p)) {
    return EC_ESYNTAX;
  }
  if (v > EC_DEV_MAX_TEXT) {
    return EC_ETOOBIG;
  }
  if (!utf8_ok(r->p, (size_t)v)) {
    return EC_ESYNTAX;
  }
  s->ptr = (const char *)r->p;
  s->len = (size_t)v;
  r->p += v;
  return 0;
}

int ec__cbr_int(ec__cbr_t *r, int64_t *out) {
  uint64_t v;
  int m = head(r, &v);
  if (m < 0 || m > 1 || v > (uint64_t)INT64_MAX) {
    return EC_ESYNTAX; /* outside int64, as the codec refuses */
  }
  *out = m == 0 ? (int64_t)v : -1 - (int64_t)v;
  return 0;
}

/* An integer's decimal text as the codec writes it (int_key() of
 * codec/tree.c): no leading zero, no "-0", inside int64. The text is
 * parsed, not the integer printed, so there is no 64-bit division. */
static bool spells_int(const char *s, size_t n, int64_t *v) {
  bool neg = n > 1 && s[0] == '-';
  s += neg;
  n -= neg;
  /* n - 1 > 18: no digit, or more than 19 (which pass int64 anyway). */
  if (n - 1 > 18 || (s[0] == '0' && (n > 1 || neg))) {
    return false;
  }
  /* At most 19 digits do not pass uint64 (-1 when one is no digit); the
   * magnitude less one for a negative is then within int64, or not. */
  uint64_t m = (uint64_t)ec__digits(s, n) - neg;
  if (m >> 63 != 0) {
    return false;
  }
  *v = neg ? -(int64_t)m - 1 : (int64_t)m;
  return true;
}

/* The length of an integer key, which no text has. */
#define INT_KEY ((size_t)-1)

/* A map key as the codec keys its tree, where an integer key is its
 * decimal text: an integer, or a text that spells one (spells_int()),
 * is *v with *s {NULL, INT_KEY}; any other text is *s with *v 0. */
static int read_key(ec__cbr_t *r, ec_dev_str_t *s, int64_t *v) {
  int t = ec__cbr_peek(r);
  *v = 0;
  /* Of another type (or none), the integer reader refuses it. */
  int rc = t == 3 ? ec__cbr_text(r, s) : ec__cbr_int(r, v);
  if (rc == 0 && (t != 3 || spells_int(s->ptr, s->len, v))) {
    *s = (ec_dev_str_t){NULL, INT_KEY};
  }
  return rc;
}

/* A map of no members: the walk skips every member of it. */
static const ec__map_t no_members[2] = {0, 0};

int ec__cbr_skip(ec__cbr_t *r, int depth) {
  int t = ec__cbr_peek(r);
  size_t n;
  uint64_t v;
  unsigned seen;
  if (t == 5) {
    /* Its keys are text or integers, as JSON names can carry. */
    return ec__cbr_map(r, no_members, NULL, NULL, depth, &seen);
  }
  if (t == 4) {
    int rc = ec__cbr_enter(r, 4, depth, &n);
    for (size_t i = 0; i < n && rc == 0; i++) {
      rc = ec__cbr_skip(r, depth - 1);
    }
    return rc;
  }
  if (t != 7) {
    /* An integer or a text, read as a key is; byte strings, tags and the
     * end of input are refused there. */
    ec_dev_str_t s;
    int64_t i;
    return read_key(r, &s, &i);
  }
  uint8_t ai = r->p[0] & 0x1F;
  if (head(r, &v) < 0) {
    return EC_ESYNTAX;
  }
  /* false, true and null; floats whose exponent bits are not all ones (an
   * infinity or a NaN, which JSON cannot carry and the codec refuses).
   * Undefined and other simple values have no JSON form. */
  uint32_t hi = ai == 27 ? (uint32_t)(v >> 32) : (uint32_t)v;
  uint32_t e = ai == 25 ? 0x7C00u : ai == 26 ? 0x7F800000u : 0x7FF00000u;
  if ((ai >= 20 && ai <= 22) || (ai >= 25 && ai <= 27 && (hi & e) != e)) {
    return 0;
  }
  return EC_ESYNTAX;
}

/* ---- the map walk (cbor.h) ---------------------------------------------- */

/* @p alen bytes of @p a equal NUL-terminated @p b, ASCII case ignored when
 * @p fold (ASCII-only on purpose, as the codec's ec__ascii_ieq(): no
 * locale): two bytes that differ in bit 5 alone are one letter's two
 * cases when that bit set makes a lowercase letter. */
static bool same_name(const char *a, size_t alen, const char *b, bool fold) {
  for (size_t i = 0; i < alen; i++) {
    unsigned x = (uint8_t)a[i], y = (uint8_t)b[i];
    if (y == 0 || (x != y && !(fold && (x ^ y) == 0x20 &&
                               (x | 0x20) - 'a' <= 'z' - 'a'))) {
      return false;
    }
  }
  return b[alen] == '\0';
}

const char *ec__nth(const char *names, unsigned i) {
  for (; *names != '\0' && i > 0; i--) {
    names += ec__len(names) + 1;
  }
  return names;
}

int ec__lookup(const char *names, const char *s, size_t len, bool fold) {
  for (int i = 0; *names != '\0'; i++, names += ec__len(names) + 1) {
    if (same_name(s, len, names, fold)) {
      return i;
    }
  }
  return -1;
}

int64_t ec__digits(const char *s, size_t n) {
  uint64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') {
      return -1;
    }
    x = x * 10 + (uint64_t)(s[i] - '0');
  }
  return n > 0 ? (int64_t)x : -1;
}

/* A member's value of the kinds the walk reads itself. */
static int read_value(ec__cbr_t *r, uint8_t kind, void *dst) {
  ec_dev_str_t s;
  int64_t v;
  int t = ec__cbr_peek(r);
  int rc;
  if (kind == EC__M_POS || (kind == EC__M_NUM && t == 0)) {
    /* An integer: >= 1 for EC__M_POS, >= 0 for EC__M_NUM. */
    if (t > 1) {
      return EC_EBADDOC;
    }
    if ((rc = ec__cbr_int(r, &v)) < 0) {
      return rc;
    }
  } else {
    if ((rc = ec__cbr_text(r, &s)) < 0) {
      return rc;
    }
    if (kind == EC__M_STATE) {
      if ((rc = ec_dev_state_parse(s.ptr, s.len)) < 0) {
        return rc;
      }
      *(ec_dev_state_t *)dst = (ec_dev_state_t)rc;
      return 0;
    }
    if (kind != EC__M_NUM) {
      *(ec_dev_str_t *)dst = s;
      return kind == EC__M_NONEMPTY && s.len == 0 ? EC_EBADDOC : 0;
    }
    /* A string of 1 to 18 decimal digits, as the codec reads the numbers
     * of provisioning answers. */
    v = s.len <= 18 ? ec__digits(s.ptr, s.len) : -1;
  }
  *(int64_t *)dst = v;
  return v < (kind == EC__M_POS) ? EC_EBADDOC : 0;
}

int ec__cbr_map(ec__cbr_t *r, const ec__map_t *m, ec__member_fn fn,
                void *out, int depth, unsigned *seen) {
  size_t n;
  *seen = 0;
  int rc = ec__cbr_enter(r, 5, depth, &n);
  const uint8_t *first = r->p;
  for (size_t i = 0; i < n && rc == 0; i++) {
    ec_dev_str_t k;
    int64_t ik;
    int f = -1;
    const uint8_t *at = r->p;
    if ((rc = read_key(r, &k, &ik)) < 0) {
      break;
    }
    /* The keys before it, read again: the same text, or the same integer
     * in any spelling, is the codec's duplicate key. */
    for (ec__cbr_t q = {first, at}; q.p < at;) {
      ec_dev_str_t qk;
      int64_t qi;
      (void)read_key(&q, &qk, &qi);
      if (qi == ik && qk.len == k.len &&
          (k.len == INT_KEY || ec__same(qk.ptr, k.ptr, k.len))) {
        return EC_ESYNTAX;
      }
      (void)ec__cbr_skip(&q, depth - 1);
    }
    if (k.len != INT_KEY) {
      f = ec__lookup(EC__NAMES(m), k.ptr, k.len, false);
    } else {
      /* Integer keys are -2^(e-1) (cbor.h, EC__IKEY). */
      for (int j = 0; j < m[0]; j++) {
        unsigned e = m[1 + 2 * j] >> 4;
        if (e != 0 && ik == -(int32_t)(1u << (e - 1))) {
          f = j;
        }
      }
    }
    if (f < 0) {
      rc = ec__cbr_skip(r, depth - 1);
      continue;
    }
    *seen |= 1u << f;
    uint8_t kind = m[1 + 2 * f] & 0x0F;
    uint8_t *dst = (uint8_t *)out + m[2 + 2 * f];
    rc = kind == EC__M_FN ? fn(r, f, dst, depth - 1) : read_value(r, kind, dst);
  }
  return rc;
}

int ec__cbr_enter(ec__cbr_t *r, uint8_t major, int depth, size_t *n) {
  int t = ec__cbr_peek(r);
  uint64_t v;
  *n = 0;
  if (t != major) {
    return t < 0 ? EC_ESYNTAX : EC_EBADDOC;
  }
  if (depth <= 0) {
    return EC_ETOOBIG;
  }
  /* Each element is at least one byte, each pair two: a claim of more
   * elements than bytes left is a lie, refused before any loop. */
  if (head(r, &v) < 0 || v > (uint64_t)(r->end - r->p) >> (major == 5)) {
    return EC_ESYNTAX;
  }
  *n = (size_t)v;
  /* Past that, the codec's cap (which bounds the map walk's duplicate
   * check too: a walk over the earlier members for each). */
  return *n > EC_DEV_MAX_ITEMS ? EC_ETOOBIG : 0;
}

int ec__cbr_doc(const uint8_t *buf, size_t len, const ec__map_t *m,
                ec__member_fn fn, void *out, unsigned required) {
  unsigned seen;
  if (out == NULL || (buf == NULL && len > 0)) {
    return EC_EINVAL;
  }
  if (buf == NULL || len == 0 || buf[0] >> 5 != 5) {
    return EC_ESYNTAX; /* an empty body, or no map, is no document */
  }
  ec__cbr_t r = {buf, buf + len};
  int rc = ec__cbr_map(&r, m, fn, out, EC_DEV_MAX_DEPTH, &seen);
  if (rc == 0 && r.p != r.end) {
    return EC_ESYNTAX;
  }
  return rc == 0 && (seen & required) != required ? EC_EBADDOC : rc;
}
