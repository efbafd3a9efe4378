/* edgecoap device core: the provisioning select answer (API.md section 4) pulled from CBOR, one row at a time. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "cbor.h"

typedef struct {
  ec_dev_prov_row_t row; /* first: the walk's offsets are the row's */
  int64_t active_status;
} row_t;

/* "YYYY-MM-DD HH:MM:SS" as the codec reads it: the day exists in its
 * month, and a second 60 does not carry into the next day (the codec's
 * timegm() check refuses both). */
static int datetime(const char *s, size_t len) {
  unsigned v[6];
  int k = 0;
  if (len != 19) {
    return EC_EBADDOC;
  }
  ec__zero(v, sizeof v);
  for (size_t i = 0; i < len; i++) {
    /* The separators are at 4, 7, 10, 13 and 16 (the bits of 0x12490),
     * each ending a field; digits elsewhere. */
    unsigned c = (uint8_t)s[i] - (unsigned)'0';
    if (((0x12490u >> i) & 1) != 0) {
      if (s[i] != "-- ::"[k++]) {
        return EC_EBADDOC;
      }
    } else if (c > 9) {
      return EC_EBADDOC;
    } else {
      v[k] = v[k] * 10 + c;
    }
  }
  unsigned y = v[0], mo = v[1];
  /* Every 4th year, but of the hundredth ones every 400th. */
  bool leap = y % (y % 100 != 0 ? 4 : 400) == 0;
  /* 31 days in the odd months up to July and the even ones from August,
   * 30 in the others, and February's 28 or 29. */
  unsigned last = mo == 2 ? 28u + leap : 30 + ((mo ^ mo >> 3) & 1);
  if (mo - 1 > 11 || v[2] - 1 >= last || v[3] > 23 || v[4] > 59 ||
      v[5] > 60 || (v[5] == 60 && v[4] == 59 && v[3] == 23)) {
    return EC_EBADDOC;
  }
  return 0;
}

enum { R_TYPE = 2, R_DATETIME = 7 };

/* component_type: 0..2, "0".."2", or a type's name in any case. */
static int row_member(ec__cbr_t *r, int f, void *out, int depth) {
  ec_dev_prov_row_t *row = out;
  ec_dev_str_t s;
  int64_t v;
  int rc;
  (void)depth;
  if (f == R_DATETIME) {
    rc = ec__cbr_text(r, &row->last_modified);
    return rc < 0 ? rc : datetime(row->last_modified.ptr, row->last_modified.len);
  }
  int t = ec__cbr_peek(r);
  if (t != 3) {
    if (t != 0) {
      return t < 0 ? t : EC_EBADDOC;
    }
    if ((rc = ec__cbr_int(r, &v)) < 0) {
      return rc;
    }
    row->component_type = (int)v;
    return v > 2 ? EC_EBADDOC : 0;
  }
  if ((rc = ec__cbr_text(r, &s)) < 0) {
    return rc;
  }
  rc = ec__lookup("Sensor\0Parameter\0Group Parameter\0", s.ptr, s.len, true);
  if (rc < 0 && s.len == 1 && s.ptr[0] >= '0' && s.ptr[0] <= '2') {
    rc = s.ptr[0] - '0';
  }
  row->component_type = rc;
  return rc < 0 ? EC_EBADDOC : 0;
}

#define ROW(m) offsetof(row_t, m)
#define ROW_NAMES                                                             \
  "provisioning_component_id\0provisioning_id\0component_type\0"               \
  "component_id\0name\0active_status\0last_modified_by\0"                      \
  "last_modified_datetime\0"
static const EC__MAP(8, ROW_NAMES) row_map = {
    8,
    {EC__M_NUM, ROW(row.provisioning_component_id), EC__M_NUM,
     ROW(row.provisioning_id), EC__M_FN, 0, EC__M_NUM, ROW(row.component_id),
     EC__M_TEXT, ROW(row.name), EC__M_NUM, ROW(active_status), EC__M_NUM,
     ROW(row.last_modified_by), EC__M_FN, 0},
    ROW_NAMES};

typedef struct {
  ec_dev_prov_fn fn;
  void *ctx;
  size_t n;
} page_t;

/* {"response_0": row, "response_1": row, ...}: in that order, as the
 * server writes them (the codec takes them in any order, each N once). */
static int responses(ec__cbr_t *r, int f, void *out, int depth) {
  static const char prefix[] = "response_";
  page_t *p = out;
  size_t n;
  (void)f;
  int rc = ec__cbr_enter(r, 5, depth, &n);
  for (size_t i = 0; i < n && rc == 0; i++) {
    ec_dev_str_t k;
    row_t row;
    unsigned seen;
    if ((rc = ec__cbr_text(r, &k)) < 0) {
      return rc;
    }
    size_t d = sizeof prefix - 1;
    if (k.len <= d || k.len > d + 9 || !ec__same(k.ptr, prefix, d) ||
        ec__digits(k.ptr + d, k.len - d) != (int64_t)i) {
      return EC_EBADDOC;
    }
    ec__zero(&row, sizeof row);
    rc = ec__cbr_map(r, EC__M(row_map), row_member, &row, depth - 1, &seen);
    if (rc == 0 && seen != 0xFF) {
      rc = EC_EBADDOC; /* every member is required */
    }
    row.row.active_status = row.active_status > 0;
    if (rc == 0 && p->fn != NULL) {
      rc = p->fn(p->ctx, i, &row.row);
    }
  }
  p->n = n;
  return rc;
}

static const EC__MAP(1, "responses\0") prov_map = {1, {EC__M_FN, 0},
                                                   "responses\0"};

int ec_dev_prov_decode(const uint8_t *buf, size_t len, ec_dev_prov_fn fn,
                       void *ctx, size_t *n_rows) {
  page_t p = {fn, ctx, 0};
  int rc = ec__cbr_doc(buf, len, EC__M(prov_map), responses, &p, 1);
  if (n_rows != NULL) {
    *n_rows = rc == 0 ? p.n : 0;
  }
  return rc;
}
