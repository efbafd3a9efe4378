/* edgecoap device core: the answers the Linux client reads beyond a device's own: a message's lists and dhcpOption, a status history, a device's deployments, a provisioning insert or update answer, the seed's error document. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "cbor.h"

/*
 * Each decoder walks its document with the map walk of cbor.h and passes
 * strings on in place, as the device's own decoders do: the client
 * (client/docs.c) copies them into the codec's structs and applies what
 * needs memory or the codec's date parser. None of this is linked into a
 * device program that does not call it.
 */

/* A reader over a member the decoders found and checked already (an
 * absent one, NULL, is a reader at its end). */
static ec__cbr_t over(ec_dev_cbor_t c) {
  ec__cbr_t r = {c.ptr, c.ptr != NULL ? c.ptr + c.len : NULL};
  return r;
}

int ec_dev_msg_items(ec_dev_cbor_t list, ec_dev_item_fn fn, void *ctx) {
  ec__cbr_t r = over(list);
  size_t n;
  if (list.ptr == NULL) {
    return 0;
  }
  int rc = ec__cbr_enter(&r, 4, 1, &n);
  for (size_t i = 0; i < n && rc == 0; i++) {
    ec_dev_str_t k = {NULL, 0}, v = {NULL, 0};
    size_t one = 1;
    int t = ec__cbr_peek(&r);
    if (t == 5) {
      rc = ec__cbr_enter(&r, 5, 1, &one);
      if (rc == 0 && one == 1 && (rc = ec__cbr_text(&r, &k)) == 0) {
        rc = ec__cbr_text(&r, &v);
      }
    } else {
      rc = ec__cbr_text(&r, &k);
    }
    if (rc == 0 && (one != 1 || (t == 5 && k.len == 0))) {
      rc = EC_EBADDOC;
    }
    if (rc == 0 && fn != NULL) {
      rc = fn(ctx, i, k, v);
    }
  }
  return rc;
}

/* ---- dhcpOption ----------------------------------------------------------- */

#define DH(m) offsetof(ec_dev_dhcp_view_t, m)
#define TOP_NAMES "IPv4\0IPv6\0"
#define V4_NAMES "option82\0"
#define V6_NAMES "option18\0option37\0"
#define O82_NAMES "remoteId\0circuitId\0"
#define O18_NAMES "interfaceId\0"
#define O37_NAMES "remoteId\0"
static const EC__MAP(2, TOP_NAMES) top_map = {2, {EC__M_FN, 0, EC__M_FN, 0},
                                              TOP_NAMES};
static const EC__MAP(1, V4_NAMES) v4_map = {1, {EC__M_FN, 0}, V4_NAMES};
static const EC__MAP(2, V6_NAMES) v6_map = {2, {EC__M_FN, 0, EC__M_FN, 0},
                                            V6_NAMES};
static const EC__MAP(2, O82_NAMES) o82_map = {
    2,
    {EC__M_TEXT, DH(option82_remote_id), EC__M_TEXT, DH(option82_circuit_id)},
    O82_NAMES};
static const EC__MAP(1, O18_NAMES) o18_map = {
    1, {EC__M_TEXT, DH(option18_interface_id)}, O18_NAMES};
static const EC__MAP(1, O37_NAMES) o37_map = {
    1, {EC__M_TEXT, DH(option37_remote_id)}, O37_NAMES};

/* The maps of the option objects: their strings go into the view. */
static int v4_member(ec__cbr_t *r, int f, void *out, int depth) {
  ec_dev_dhcp_view_t *d = out;
  unsigned seen;
  (void)f;
  d->has_option82 = true;
  return ec__cbr_map(r, EC__M(o82_map), NULL, d, depth, &seen);
}

static int v6_member(ec__cbr_t *r, int f, void *out, int depth) {
  ec_dev_dhcp_view_t *d = out;
  unsigned seen;
  *(f == 0 ? &d->has_option18 : &d->has_option37) = true;
  return ec__cbr_map(r, f == 0 ? EC__M(o18_map) : EC__M(o37_map), NULL, d,
                     depth, &seen);
}

static int top_member(ec__cbr_t *r, int f, void *out, int depth) {
  ec_dev_dhcp_view_t *d = out;
  unsigned seen;
  *(f == 0 ? &d->has_ipv4 : &d->has_ipv6) = true;
  return f == 0 ? ec__cbr_map(r, EC__M(v4_map), v4_member, d, depth, &seen)
                : ec__cbr_map(r, EC__M(v6_map), v6_member, d, depth, &seen);
}

int ec_dev_msg_dhcp(ec_dev_cbor_t dhcp, ec_dev_dhcp_view_t *out) {
  unsigned seen;
  if (out == NULL) {
    return EC_EINVAL;
  }
  ec__zero(out, sizeof *out);
  if (dhcp.ptr == NULL) {
    return 0;
  }
  out->present = true;
  ec__cbr_t r = over(dhcp);
  int rc = ec__cbr_map(&r, EC__M(top_map), top_member, out, 4, &seen);
  return rc == 0 && r.p != r.end ? EC_ESYNTAX : rc;
}

/* ---- lists ---------------------------------------------------------------- */

/* The span of the item at @p r, which must be of @p major, skipped with
 * its checks. */
static int span(ec__cbr_t *r, int major, int depth, ec_dev_cbor_t *c) {
  const uint8_t *at = r->p;
  int t = ec__cbr_peek(r);
  if (t != major) {
    return t < 0 ? t : EC_EBADDOC;
  }
  int rc = ec__cbr_skip(r, depth);
  *c = (ec_dev_cbor_t){at, (size_t)(r->p - at)};
  return rc;
}

#define HI(m) offsetof(ec_dev_history_t, m)
#define HISTORY_NAMES "seq\0receivedAt\0report\0"
static const EC__MAP(3, HISTORY_NAMES) history_map = {
    3, {EC__M_POS, HI(seq), EC__M_TEXT, HI(received_at), EC__M_FN, HI(report)},
    HISTORY_NAMES};

#define DE(m) offsetof(ec_dev_deployment_t, m)
#define DEPLOYMENT_NAMES "deploymentId\0state\0updatedAt\0"
static const EC__MAP(3, DEPLOYMENT_NAMES) deployment_map = {
    3,
    {EC__M_NONEMPTY, DE(deployment_id), EC__M_STATE, DE(state), EC__M_TEXT,
     DE(updated_at)},
    DEPLOYMENT_NAMES};

static int report_member(ec__cbr_t *r, int f, void *out, int depth) {
  (void)f;
  return span(r, 5, depth, out);
}

/* The envelope {"key": [entry, ...]}: each entry a map of @p m, all its
 * members required, handed to @p fn. */
typedef struct {
  const ec__map_t *m;
  int (*fn)(void *ctx, size_t idx, const void *entry);
  void *ctx;
  size_t n;
} list_t;

static int entries(ec__cbr_t *r, int f, void *out, int depth) {
  list_t *l = out;
  union {
    ec_dev_history_t h;
    ec_dev_deployment_t d;
  } e;
  size_t n;
  (void)f;
  int rc = ec__cbr_enter(r, 4, depth, &n);
  for (size_t i = 0; i < n && rc == 0; i++) {
    unsigned seen;
    ec__zero(&e, sizeof e);
    rc = ec__cbr_map(r, l->m, report_member, &e, depth - 1, &seen);
    if (rc == 0 && seen != 7) {
      rc = EC_EBADDOC;
    }
    if (rc == 0 && l->fn != NULL) {
      rc = l->fn(l->ctx, i, &e);
    }
  }
  l->n = n;
  return rc;
}

static const EC__MAP(1, "reports\0") reports_map = {1, {EC__M_FN, 0},
                                                    "reports\0"};
static const EC__MAP(1, "deployments\0") deployments_map = {
    1, {EC__M_FN, 0}, "deployments\0"};

static int list(const uint8_t *buf, size_t len, const ec__map_t *envelope,
                list_t *l, size_t *n) {
  int rc = ec__cbr_doc(buf, len, envelope, entries, l, 1);
  if (n != NULL) {
    *n = rc == 0 ? l->n : 0;
  }
  return rc;
}

int ec_dev_history_decode(const uint8_t *buf, size_t len, ec_dev_history_fn fn,
                          void *ctx, size_t *n) {
  list_t l = {EC__M(history_map),
              (int (*)(void *, size_t, const void *))fn, ctx, 0};
  return list(buf, len, EC__M(reports_map), &l, n);
}

int ec_dev_deployments_decode(const uint8_t *buf, size_t len,
                              ec_dev_deployment_fn fn, void *ctx, size_t *n) {
  list_t l = {EC__M(deployment_map),
              (int (*)(void *, size_t, const void *))fn, ctx, 0};
  return list(buf, len, EC__M(deployments_map), &l, n);
}

/* ---- provisioning insert and update answers -------------------------------- */

/* The codec reads only the members of the answer's kind, and tells the kind
 * by which members are there, so the walk first takes each known member's
 * span (checked as CBOR) and the kind's members are read from them after. */
enum {
  P_PC_ID,
  P_PROV_ID,
  P_TYPE,
  P_COMP_ID,
  P_ACTIVE,
  P_BY,
  P_DATETIME,
  P_ERROR,
  P_COUNT
};
#define RESULT_NAMES                                                          \
  "provisioning_component_id\0provisioning_id\0component_type\0"               \
  "component_id\0active_status\0last_modified_by\0last_modified_datetime\0"    \
  "error\0"
#define SP(i) EC__M_FN, (uint8_t)((i) * sizeof(ec_dev_cbor_t))
static const EC__MAP(8, RESULT_NAMES) result_map = {
    8,
    {SP(0), SP(1), SP(2), SP(3), SP(4), SP(5), SP(6), SP(7)},
    RESULT_NAMES};

static int any_member(ec__cbr_t *r, int f, void *out, int depth) {
  ec_dev_cbor_t *c = out;
  const uint8_t *at = r->p;
  (void)f;
  int rc = ec__cbr_skip(r, depth);
  *c = (ec_dev_cbor_t){at, (size_t)(r->p - at)};
  return rc;
}

/* An INT: an integer >= 0, or 1 to 18 decimal digits. */
static int num(ec__cbr_t *r, int64_t *v) {
  ec_dev_str_t s;
  int t = ec__cbr_peek(r);
  if (t == 0) {
    return ec__cbr_int(r, v);
  }
  if (t != 3 || ec__cbr_text(r, &s) < 0 || s.len > 18 ||
      (*v = ec__digits(s.ptr, s.len)) < 0) {
    return EC_EBADDOC;
  }
  return 0;
}

static int span_num(ec_dev_cbor_t c, int64_t *v) {
  ec__cbr_t r = over(c);
  return c.ptr == NULL ? EC_EBADDOC : num(&r, v);
}

int ec_dev_prov_ids(ec_dev_cbor_t ids, int64_t *v, size_t cap,
                    bool *is_array) {
  ec__cbr_t r = over(ids);
  size_t n = 1;
  int64_t x;
  int rc = 0;
  bool array = ids.ptr != NULL && ec__cbr_peek(&r) == 4;
  if (ids.ptr == NULL || (array && (rc = ec__cbr_enter(&r, 4, 1, &n)) < 0)) {
    return ids.ptr == NULL ? EC_EBADDOC : rc;
  }
  for (size_t i = 0; i < n; i++) {
    if ((rc = num(&r, &x)) < 0) {
      return rc;
    }
    if (i < cap) {
      v[i] = x;
    }
  }
  if (is_array != NULL) {
    *is_array = array;
  }
  /* An empty list names nothing. */
  return n == 0 || n > (size_t)INT32_MAX ? EC_EBADDOC : (int)n;
}

/* component_type: a type's name in any case, "0".."2", or 0..2. */
static int type(ec_dev_cbor_t c, int *out) {
  static const char names[] = "Sensor\0Parameter\0Group Parameter\0";
  ec__cbr_t r = over(c);
  ec_dev_str_t s;
  int64_t v;
  if (c.ptr == NULL) {
    return EC_EBADDOC;
  }
  if (ec__cbr_peek(&r) == 3 && ec__cbr_text(&r, &s) == 0) {
    int i = ec__lookup(names, s.ptr, s.len, true);
    if (i < 0 && s.len == 1 && s.ptr[0] >= '0' && s.ptr[0] <= '2') {
      i = s.ptr[0] - '0';
    }
    *out = i;
    return i < 0 ? EC_EBADDOC : 0;
  }
  r = over(c);
  if (num(&r, &v) < 0 || v > 2) {
    return EC_EBADDOC;
  }
  *out = (int)v;
  return 0;
}

/* The text at @p c, if it is text. */
static bool span_text(ec_dev_cbor_t c, ec_dev_str_t *s) {
  ec__cbr_t r = over(c);
  return c.ptr != NULL && ec__cbr_peek(&r) == 3 && ec__cbr_text(&r, s) == 0;
}

/* The spans of map @p map's members of the document into @p m (of
 * @p size bytes), @p out (of @p out_size) cleared for the reading. */
static int spans(const uint8_t *buf, size_t len, const ec__map_t *map,
                 ec_dev_cbor_t *m, size_t size, void *out, size_t out_size) {
  if (out == NULL) {
    return EC_EINVAL;
  }
  ec__zero(m, size);
  ec__zero(out, out_size);
  return ec__cbr_doc(buf, len, map, any_member, m, 0);
}

int ec_dev_prov_result_decode(const uint8_t *buf, size_t len,
                              ec_dev_prov_result_t *out) {
  ec_dev_cbor_t m[P_COUNT];
  ec_dev_str_t e;
  int rc = spans(buf, len, EC__M(result_map), m, sizeof m, out, sizeof *out);
  if (rc < 0) {
    return rc;
  }
  if (!span_text(m[P_ERROR], &e) || e.len != 8 ||
      !ec__same(e.ptr, "NO_ERROR", 8)) {
    return EC_EBADDOC;
  }
  out->insert = m[P_BY].ptr != NULL;
  out->by_pc_id = !out->insert && m[P_PC_ID].ptr != NULL;
  if (out->by_pc_id) {
    out->provisioning_component_id = m[P_PC_ID];
    rc = ec_dev_prov_ids(m[P_PC_ID], NULL, 0, NULL);
  } else if ((rc = span_num(m[P_PROV_ID], &out->provisioning_id)) == 0 &&
             (rc = type(m[P_TYPE], &out->component_type)) == 0) {
    out->component_id = m[P_COMP_ID];
    rc = ec_dev_prov_ids(m[P_COMP_ID], NULL, 0, NULL);
  }
  if (rc >= 0) {
    rc = span_num(m[P_ACTIVE], &out->active_status);
  }
  if (rc == 0 && out->insert &&
      (rc = span_num(m[P_BY], &out->last_modified_by)) == 0) {
    rc = span_text(m[P_DATETIME], &out->last_modified) ? 0 : EC_EBADDOC;
  }
  return rc < 0 ? rc : 0;
}

/* ---- the seed's error document ---------------------------------------------- */

#define PERR_NAMES "status\0error\0error_detail\0"
static const EC__MAP(3, PERR_NAMES) perr_map = {
    3, {SP(0), SP(1), SP(2)}, PERR_NAMES};

int ec_dev_prov_error_decode(const uint8_t *buf, size_t len,
                             ec_dev_prov_error_t *out) {
  ec_dev_cbor_t m[3];
  size_t n;
  int rc = spans(buf, len, EC__M(perr_map), m, sizeof m, out, sizeof *out);
  if (rc < 0) {
    return rc;
  }
  /* As the codec reads it: a status or a detail of another type is none;
   * the error is required; an error_detail array holds IDs, maybe none. */
  (void)span_text(m[0], &out->status);
  if (!span_text(m[1], &out->error)) {
    return EC_EBADDOC;
  }
  ec__cbr_t r = over(m[2]);
  if (m[2].ptr != NULL && ec__cbr_peek(&r) == 4) {
    int64_t v;
    if ((rc = ec__cbr_enter(&r, 4, 1, &n)) < 0) {
      return rc;
    }
    for (size_t i = 0; i < n; i++) {
      if ((rc = num(&r, &v)) < 0) {
        return rc;
      }
    }
    out->ids = m[2];
    out->n_ids = n;
  } else {
    (void)span_text(m[2], &out->detail);
  }
  return 0;
}

/* ---- any document, item by item (a program's JSON printer) --------------- */

int ec_dev_cbor_check(const uint8_t *buf, size_t len) {
  if (buf == NULL || len == 0) {
    return buf == NULL && len > 0 ? EC_EINVAL : EC_ESYNTAX;
  }
  ec__cbr_t r = {buf, buf + len};
  int rc = ec__cbr_skip(&r, EC_DEV_MAX_DEPTH);
  return rc == 0 && r.p != r.end ? EC_ESYNTAX : rc;
}

int ec_dev_cbor_next(ec_dev_cbor_t *c, ec_dev_cbor_item_t *it) {
  if (c == NULL || it == NULL) {
    return EC_EINVAL;
  }
  ec__cbr_t r = over(*c);
  int t = ec__cbr_peek(&r);
  size_t n = 0;
  int rc = EC_ESYNTAX;
  ec__zero(it, sizeof *it);
  if (t == 0 || t == 1) {
    it->type = EC_DEV_CBOR_INT;
    rc = ec__cbr_int(&r, &it->i);
  } else if (t == 3) {
    it->type = EC_DEV_CBOR_TEXT;
    rc = ec__cbr_text(&r, &it->text);
  } else if (t == 4 || t == 5) {
    it->type = t == 4 ? EC_DEV_CBOR_ARRAY : EC_DEV_CBOR_MAP;
    rc = ec__cbr_enter(&r, (uint8_t)t, 1, &n);
    it->i = (int64_t)n;
  } else if (t == 7) {
    /* false, true, null, or a float of 2, 4 or 8 bytes, its bits as
     * they are (ec_dev_cbor_check() refuses infinities and NaNs). */
    uint8_t ai = r.p[0] & 0x1F;
    n = ai == 25 ? 2 : ai == 26 ? 4 : ai == 27 ? 8 : 0;
    if (ai >= 20 && ai <= 22) {
      it->type = (ec_dev_cbor_type_t)(EC_DEV_CBOR_FALSE + (ai - 20));
      rc = 0;
    } else if (n > 0 && n < (size_t)(r.end - r.p)) {
      it->type = EC_DEV_CBOR_FLOAT;
      it->width = (unsigned)(8 * n);
      for (size_t i = 1; i <= n; i++) {
        it->bits = it->bits << 8 | r.p[i];
      }
      rc = 0;
    }
    r.p += rc == 0 ? 1 + n : 0;
  }
  if (rc == 0) {
    *c = (ec_dev_cbor_t){r.p, (size_t)(r.end - r.p)};
  }
  return rc;
}
