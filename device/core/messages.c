/* edgecoap device core: a page of status messages (ON-API) pulled from CBOR, one message at a time. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "cbor.h"

/* An integer, or a string of decimal digits as the codec reads numbers in
 * answers ("statusMessageID": "1000023424553123"). */
static int read_int(ec__cbr_t *r, int64_t *v) {
  int t = ec__cbr_peek(r);
  if (t == 0 || t == 1) {
    return ec__cbr_int(r, v);
  }
  ec_dev_str_t s;
  int rc = ec__cbr_member_text(r, &s);
  if (rc < 0) {
    return rc;
  }
  int64_t x = 0;
  for (size_t i = 0; i < s.len; i++) {
    if (s.ptr[i] < '0' || s.ptr[i] > '9' || x > (INT64_MAX - 9) / 10) {
      return EC_EBADDOC;
    }
    x = x * 10 + (s.ptr[i] - '0');
  }
  *v = x;
  return s.len == 0 ? EC_EBADDOC : 0;
}

/* Each element of an array member, of major type @p major (a map: one
 * text member with a text value, messageParameters' shape; text:
 * macAddress). *n gets their count. */
static int read_list(ec__cbr_t *r, int major, size_t *n, int depth) {
  size_t count;
  int rc = ec__cbr_enter(r, 4, depth - 1, &count);
  for (size_t i = 0; i < count && rc == 0; i++) {
    ec_dev_str_t s;
    size_t one;
    if (ec__cbr_peek(r) != major) {
      return EC_EBADDOC;
    }
    if (major == 3) {
      rc = ec__cbr_text(r, &s);
    } else if ((rc = ec__cbr_container(r, 5, &one)) == 0) {
      rc = one != 1 || ec__cbr_peek(r) != 3 ? EC_EBADDOC : ec__cbr_text(r, &s);
      if (rc == 0) {
        rc = ec__cbr_member_text(r, &s);
      }
    }
  }
  *n = count;
  return rc;
}

enum { M_ID, M_DATE, M_CODE, M_ORDER, M_SUB, M_ACCESS, M_PARAMS, M_MACS, M_DHCP };

static int msg_member(ec__cbr_t *r, int f, void *ctx, int depth) {
  ec_dev_msg_t *m = ctx;
  int64_t v;
  int rc;
  switch (f) {
  case M_ID:
  case M_CODE:
    if ((rc = read_int(r, &v)) < 0) {
      return rc;
    }
    if (f == M_ID) {
      m->id = v;
      return v < 1 ? EC_EBADDOC : 0;
    }
    m->code = (int)v;
    return v < 100 || v > 999 ? EC_EBADDOC : 0;
  case M_PARAMS:
    return read_list(r, 5, &m->n_params, depth);
  case M_MACS:
    return read_list(r, 3, &m->n_macs, depth);
  case M_DHCP:
    return ec__cbr_peek(r) != 5 ? EC_EBADDOC : ec__cbr_skip(r, depth);
  default: {
    ec_dev_str_t *s = f == M_DATE    ? &m->date
                      : f == M_ORDER ? &m->order_id
                      : f == M_SUB   ? &m->subscription_id
                                     : &m->access_id;
    return ec__cbr_member_text(r, s);
  }
  }
}

typedef struct {
  ec_dev_msg_fn fn;
  void *ctx;
  int64_t next_from;
} page_t;

/* Every member is read by msg_member(). */
static const uint8_t fn_spec[18];
static const ec__map_t msg_members = {
    "statusMessageID\0messageDate\0messageCode\0orderId\0subscriptionId\0"
    "accessId\0messageParameters\0macAddress\0dhcpOption\0",
    fn_spec};

static int page_member(ec__cbr_t *r, int f, void *ctx, int depth) {
  page_t *p = ctx;
  if (f == 1) {
    int rc = read_int(r, &p->next_from);
    return rc == 0 && p->next_from < 1 ? EC_EBADDOC : rc;
  }
  size_t n;
  int rc = ec__cbr_enter(r, 4, depth, &n);
  for (size_t i = 0; i < n && rc == 0; i++) {
    ec_dev_msg_t m;
    unsigned seen;
    ec__zero(&m, sizeof m);
    rc = ec__cbr_map(r, &msg_members, msg_member, &m, depth - 1, &seen);
    /* The server always writes the ID and the code, and one of the three
     * IDs a message must have. */
    if (rc == 0 && ((seen & (1u << M_ID | 1u << M_CODE)) !=
                        (1u << M_ID | 1u << M_CODE) ||
                    (seen & (1u << M_ORDER | 1u << M_SUB | 1u << M_ACCESS)) == 0)) {
      rc = EC_EBADDOC;
    }
    if (rc == 0 && p->fn != NULL) {
      rc = p->fn(p->ctx, i, &m);
    }
  }
  return rc;
}

static const ec__map_t page_members = {
    "StatusMessages\0nextFromStatusMessageID\0", fn_spec};

int ec_dev_msgs_decode(const uint8_t *buf, size_t len, ec_dev_msg_fn fn,
                       void *ctx, int64_t *next_from) {
  page_t p = {fn, ctx, 0};
  int rc = ec__cbr_doc(buf, len, &page_members, page_member, &p, 1);
  if (rc == 0 && next_from != NULL) {
    *next_from = p.next_from;
  }
  return rc;
}
