/* edgecoap device core: status messages (ON-API): posted as CBOR, and read back one message at a time. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "engine.h"

#define FORMAT_CBOR 60

/* An integer, or a string of decimal digits as the codec reads numbers in
 * answers ("statusMessageID": "1000023424553123"). */
static int read_int(ec__cbr_t *r, int64_t *v) {
  int t = ec__cbr_peek(r);
  if (t == 0 || t == 1) {
    return ec__cbr_int(r, v);
  }
  ec_dev_str_t s;
  int rc = ec__cbr_text(r, &s);
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
    } else if ((rc = ec__cbr_enter(r, 5, 1, &one)) == 0) {
      rc = one != 1 || ec__cbr_peek(r) != 3 ? EC_EBADDOC : ec__cbr_text(r, &s);
      if (rc == 0 && s.len == 0) {
        rc = EC_EBADDOC; /* a parameter's key is not "" */
      }
      if (rc == 0) {
        rc = ec__cbr_text(r, &s);
      }
    }
  }
  *n = count;
  return rc;
}

enum { M_ID, M_DATE, M_CODE, M_ORDER, M_SUB, M_ACCESS, M_PARAMS, M_MACS, M_DHCP };

static bool id_ok(const char *s, size_t n, size_t max, bool dash_dot);

static int msg_member(ec__cbr_t *r, int f, void *ctx, int depth) {
  ec_dev_msg_t *m = ctx;
  const uint8_t *at = r->p;
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
  case M_MACS:
  case M_DHCP: {
    /* Where each is, for ec_dev_msg_items() and ec_dev_msg_dhcp(). */
    ec_dev_cbor_t *c = f == M_PARAMS ? &m->params
                       : f == M_MACS ? &m->macs
                                     : &m->dhcp;
    rc = f == M_PARAMS ? read_list(r, 5, &m->n_params, depth)
         : f == M_MACS ? read_list(r, 3, &m->n_macs, depth)
         : ec__cbr_peek(r) != 5 ? EC_EBADDOC
                                : ec__cbr_skip(r, depth);
    *c = (ec_dev_cbor_t){at, (size_t)(r->p - at)};
    return rc;
  }
  case M_DATE:
    return ec__cbr_text(r, &m->date);
  default: {
    ec_dev_str_t *s = f == M_ORDER ? &m->order_id
                      : f == M_SUB ? &m->subscription_id
                                   : &m->access_id;
    rc = ec__cbr_text(r, s);
    /* The rules of the three IDs, as the codec checks a stored message. */
    return rc == 0 && !id_ok(s->ptr, s->len, f == M_ACCESS ? 32 : 36,
                             f != M_ACCESS)
               ? EC_EBADDOC
               : rc;
  }
  }
}

typedef struct {
  ec_dev_msg_fn fn;
  void *ctx;
  int64_t next_from;
  bool found; /* a StatusMessages member */
} page_t;

/* Every member is read by msg_member(). */
#define MSG_NAMES                                                             \
  "statusMessageID\0messageDate\0messageCode\0orderId\0subscriptionId\0"       \
  "accessId\0messageParameters\0macAddress\0dhcpOption\0"
static const EC__MAP(9, MSG_NAMES) msg_map = {9, {0}, MSG_NAMES};

#define MSG_REQUIRED (1u << M_ID | 1u << M_CODE)

/* A message has at least one of its three IDs (a text read sets ptr). */
static bool has_an_id(const ec_dev_msg_t *m) {
  return m->order_id.ptr != NULL || m->subscription_id.ptr != NULL ||
         m->access_id.ptr != NULL;
}

static int page_member(ec__cbr_t *r, int f, void *ctx, int depth) {
  page_t *p = ctx;
  if (f == 1) {
    int rc = read_int(r, &p->next_from);
    return rc == 0 && p->next_from < 1 ? EC_EBADDOC : rc;
  }
  size_t n;
  p->found = true;
  int rc = ec__cbr_enter(r, 4, depth, &n);
  for (size_t i = 0; i < n && rc == 0; i++) {
    ec_dev_msg_t m;
    unsigned seen;
    ec__zero(&m, sizeof m);
    rc = ec__cbr_map(r, EC__M(msg_map), msg_member, &m, depth - 1, &seen);
    /* The server always writes the ID and the code, and one of the three
     * IDs a message must have. */
    if (rc == 0 && ((seen & MSG_REQUIRED) != MSG_REQUIRED || !has_an_id(&m))) {
      rc = EC_EBADDOC;
    }
    if (rc == 0 && p->fn != NULL) {
      rc = p->fn(p->ctx, i, &m);
    }
  }
  return rc;
}

#define PAGE_NAMES "StatusMessages\0nextFromStatusMessageID\0"
static const EC__MAP(2, PAGE_NAMES) page_map = {2, {0}, PAGE_NAMES};

int ec_dev_msgs_decode(const uint8_t *buf, size_t len, ec_dev_msg_fn fn,
                       void *ctx, int64_t *next_from) {
  page_t p = {fn, ctx, 0, false};
  int rc = ec__cbr_doc(buf, len, EC__M(page_map), page_member, &p, 0);
  if (rc == 0 && !p.found) {
    return EC_ENOTFOUND; /* a map, but no page: one message, maybe */
  }
  if (rc == 0 && next_from != NULL) {
    *next_from = p.next_from;
  }
  return rc;
}

int ec_dev_msg_decode(const uint8_t *buf, size_t len, ec_dev_msg_t *out) {
  if (out != NULL) {
    ec__zero(out, sizeof *out);
  }
  int rc = ec__cbr_doc(buf, len, EC__M(msg_map), msg_member, out, MSG_REQUIRED);
  return rc == 0 && !has_an_id(out) ? EC_EBADDOC : rc;
}

/* ---- encoding ---------------------------------------------------------- */

/* Written as the codec writes a message (codec/status_message.c): its
 * members in the seed's order, statusMessageID (never posted) left out,
 * each map's count written first. Every map here has fewer than 24
 * members, so its head is one byte. */

static void key_text(ec__cbw_t *w, const char *key, const char *s) {
  ec__cbw_text(w, key);
  ec__cbw_text(w, s);
}

/* An ID of @p n, 1 to @p max, of A-Z a-z 0-9, and '-' '.' when
 * @p dash_dot. */
static bool id_ok(const char *s, size_t n, size_t max, bool dash_dot) {
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
          (c >= 'A' && c <= 'Z') || (dash_dot && (c == '-' || c == '.')))) {
      return false;
    }
  }
  return n >= 1 && n <= max;
}

static char *two(char *p, unsigned v) {
  p[0] = (char)('0' + v / 10 % 10);
  p[1] = (char)('0' + v % 10);
  return p + 2;
}

/* RFC 3339 in UTC with milliseconds, as the codec's ec_time_format_ms():
 * the days to a civil date by Howard Hinnant's algorithm (exact over the
 * proleptic Gregorian calendar), for years 0 to 9999 only. */
#define MS_PER_DAY 86400000u
#define MIN_MS (-62167219200000) /* 0000-01-01T00:00:00.000Z */
#define END_MS 253402300800000   /* 10000-01-01T00:00:00.000Z */
static bool put_date(ec__cbw_t *w, const char *key, int64_t ms) {
  if (ms < MIN_MS || ms >= END_MS) {
    return false;
  }
  /* The milliseconds since year 0 split into days and the time of day
   * four bits at a time, in 32-bit steps: a Cortex-M divides 32 bits in
   * one instruction, and libgcc's 64-bit division would cost more flash
   * than this whole function. r stays below 2^27, so r << 4 fits, and
   * days below 3652425. */
  uint64_t t = (uint64_t)(ms - MIN_MS);
  uint32_t days = 0;
  uint32_t r = 0;
  for (int sh = 60; sh >= 0; sh -= 4) {
    r = r << 4 | ((uint32_t)(t >> sh) & 15u);
    days = days << 4 | r / MS_PER_DAY;
    r %= MS_PER_DAY;
  }
  /* Days since 1970 (days - 719528) shifted to start from 0000-03-01. */
  int32_t z = (int32_t)days - 60;
  int32_t era = (z >= 0 ? z : z - 146096) / 146097;
  uint32_t doe = (uint32_t)(z - era * 146097);
  uint32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  uint32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  uint32_t mp = (5 * doy + 2) / 153;
  uint32_t d = doy - (153 * mp + 2) / 5 + 1;
  uint32_t m = mp < 10 ? mp + 3 : mp - 9;
  uint32_t y = (uint32_t)((int32_t)yoe + era * 400) + (m <= 2);
  char ts[25];
  char *p = two(two(ts, y / 100), y % 100);
  *p++ = '-';
  p = two(p, m);
  *p++ = '-';
  p = two(p, d);
  *p++ = 'T';
  p = two(p, r / 3600000);
  *p++ = ':';
  p = two(p, r / 60000 % 60);
  *p++ = ':';
  p = two(p, r / 1000 % 60);
  *p++ = '.';
  *p++ = (char)('0' + r % 1000 / 100);
  p = two(p, r % 100);
  *p++ = 'Z';
  *p = '\0';
  key_text(w, key, ts);
  return true;
}

/* "aa:bb:cc:dd:ee:ff", as the codec's ec_mac_format(). */
static void put_mac(ec__cbw_t *w, uint64_t mac) {
  static const char hex[] = "0123456789abcdef";
  char s[18];
  for (int i = 0; i < 6; i++) {
    uint8_t b = (uint8_t)(mac >> (40 - 8 * i));
    s[3 * i] = hex[b >> 4];
    s[3 * i + 1] = hex[b & 15];
    s[3 * i + 2] = i < 5 ? ':' : '\0';
  }
  ec__cbw_text(w, s);
}

/* An object of the optional strings @p v (NULL: absent) under @p keys. */
static void put_strings(ec__cbw_t *w, const char *key,
                        const char *const *keys, const char *const *v,
                        unsigned n) {
  unsigned count = 0;
  for (unsigned i = 0; i < n; i++) {
    count += v[i] != NULL;
  }
  ec__cbw_text(w, key);
  ec__cbw_head(w, 5, count);
  for (unsigned i = 0; i < n; i++) {
    if (v[i] != NULL) {
      key_text(w, keys[i], v[i]);
    }
  }
}

static void put_dhcp(ec__cbw_t *w, const ec_dev_dhcp_t *o) {
  static const char *const o82[] = {"remoteId", "circuitId"};
  static const char *const o18[] = {"interfaceId"};
  const char *const v82[] = {o->option82_remote_id, o->option82_circuit_id};
  ec__cbw_text(w, "dhcpOption");
  ec__cbw_head(w, 5, (uint32_t)o->has_ipv4 + o->has_ipv6);
  if (o->has_ipv4) {
    ec__cbw_text(w, "IPv4");
    ec__cbw_head(w, 5, o->has_option82);
    if (o->has_option82) {
      put_strings(w, "option82", o82, v82, 2);
    }
  }
  if (o->has_ipv6) {
    ec__cbw_text(w, "IPv6");
    ec__cbw_head(w, 5, (uint32_t)o->has_option18 + o->has_option37);
    if (o->has_option18) {
      put_strings(w, "option18", o18, &o->option18_interface_id, 1);
    }
    if (o->has_option37) {
      put_strings(w, "option37", o82, &o->option37_remote_id, 1);
    }
  }
}

static int put_msg(ec__cbw_t *w, const ec_dev_msg_new_t *m) {
  static const char *const id_keys[] = {"orderId", "subscriptionId",
                                        "accessId"};
  const char *const ids[] = {m->order_id, m->subscription_id, m->access_id};
  if (m->code < 100 || m->code > 999 ||
      (m->params == NULL && m->n_params > 0) ||
      (m->macs == NULL && m->n_macs > 0) ||
      (ids[0] == NULL && ids[1] == NULL && ids[2] == NULL)) {
    return EC_EINVAL;
  }
  for (int i = 0; i < 3; i++) {
    if (ids[i] != NULL && !id_ok(ids[i], ec__len(ids[i]), i < 2 ? 36 : 32,
                                 i < 2)) {
      return EC_EINVAL;
    }
  }
  ec__cbw_head(w, 5,
               (uint32_t)m->has_date + 1 + (m->n_params > 0) +
                   (ids[0] != NULL) + (ids[1] != NULL) + (ids[2] != NULL) +
                   (m->n_macs > 0) + m->dhcp.present);
  if (m->has_date && !put_date(w, "messageDate", m->date_ms)) {
    return EC_EINVAL;
  }
  ec__cbw_text(w, "messageCode");
  ec__cbw_head(w, 0, (uint32_t)m->code);
  if (m->n_params > 0) {
    ec__cbw_text(w, "messageParameters");
    ec__cbw_head(w, 4, (uint32_t)m->n_params);
    for (size_t i = 0; i < m->n_params; i++) {
      const ec_dev_msg_param_t *p = &m->params[i];
      if (p->key == NULL || p->key[0] == '\0' || p->value == NULL) {
        return EC_EINVAL;
      }
      ec__cbw_head(w, 5, 1);
      key_text(w, p->key, p->value);
    }
  }
  for (int i = 0; i < 3; i++) {
    if (ids[i] != NULL) {
      key_text(w, id_keys[i], ids[i]);
    }
  }
  if (m->n_macs > 0) {
    ec__cbw_text(w, "macAddress");
    ec__cbw_head(w, 4, (uint32_t)m->n_macs);
    for (size_t i = 0; i < m->n_macs; i++) {
      if (m->macs[i] >> 48 != 0) {
        return EC_EINVAL;
      }
      put_mac(w, m->macs[i]);
    }
  }
  if (m->dhcp.present) {
    put_dhcp(w, &m->dhcp);
  }
  return 0;
}

int ec_dev_msgs_encode(const ec_dev_msg_new_t *msgs, size_t n, bool batch,
                       uint8_t *buf, size_t cap) {
  if (msgs == NULL || n == 0 || (n > 1 && !batch) || (buf == NULL && cap != 0)) {
    return EC_EINVAL;
  }
  ec__cbw_t w = {buf, cap, 0};
  if (batch) {
    ec__cbw_head(&w, 5, 1);
    ec__cbw_text(&w, "StatusMessages");
    ec__cbw_head(&w, 4, (uint32_t)n);
  }
  for (size_t i = 0; i < n; i++) {
    int rc = put_msg(&w, &msgs[i]);
    if (rc < 0) {
      return rc;
    }
  }
  return w.len > (size_t)INT32_MAX ? EC_ENOSPC : (int)w.len;
}

/* The filters in the codec's order (ec_msg_filter_encode()), and the bit
 * a filter has in set() below. An array, not a literal: in a section of
 * its own, so a program that posts messages but sends no filter does not
 * keep it. */
static const char filter_names[] =
    "orderId\0subscriptionId\0accessId\0macAddress\0fromDateTime\0"
    "toDateTime\0fromStatusMessageID\0toStatusMessageID\0limit\0";

static unsigned set(const ec_dev_msg_filter_t *f) {
  return (unsigned)(f->order_id != NULL) | (unsigned)(f->subscription_id != NULL) << 1 |
         (unsigned)(f->access_id != NULL) << 2 | (unsigned)f->has_mac << 3 |
         (unsigned)f->has_from_date << 4 | (unsigned)f->has_to_date << 5 |
         (unsigned)f->has_from_id << 6 | (unsigned)f->has_to_id << 7 |
         (unsigned)(f->limit > 0) << 8;
}

int ec_dev_msg_filter_encode(const ec_dev_msg_filter_t *f, uint8_t *buf,
                             size_t cap) {
  const char *const ids[] = {f != NULL ? f->order_id : NULL,
                             f != NULL ? f->subscription_id : NULL,
                             f != NULL ? f->access_id : NULL};
  if (f == NULL || (buf == NULL && cap != 0) || f->limit < 0 ||
      f->limit > 10000 || (f->has_from_id && f->from_id < 0) ||
      (f->has_to_id && f->to_id < 0) || (f->has_mac && f->mac >> 48 != 0)) {
    return EC_EINVAL;
  }
  ec__cbw_t w = {buf, cap, 0};
  unsigned bits = set(f);
  uint32_t count = 0;
  for (unsigned b = bits; b != 0; b >>= 1) {
    count += b & 1;
  }
  ec__cbw_head(&w, 5, count);
  for (unsigned i = 0; i < 9; i++) {
    const char *key = ec__nth(filter_names, i);
    if ((bits >> i & 1) == 0) {
      continue;
    }
    if (i < 3) {
      if (!id_ok(ids[i], ec__len(ids[i]), i < 2 ? 36 : 32, i < 2)) {
        return EC_EINVAL;
      }
      key_text(&w, key, ids[i]);
    } else if (i == 3) {
      ec__cbw_text(&w, key);
      put_mac(&w, f->mac);
    } else if (i < 6) {
      if (!put_date(&w, key, i == 4 ? f->from_date_ms : f->to_date_ms)) {
        return EC_EINVAL;
      }
    } else {
      ec__cbw_text(&w, key);
      ec__cbw_uint64(&w, i == 6   ? (uint64_t)f->from_id
                         : i == 7 ? (uint64_t)f->to_id
                                  : (uint64_t)f->limit);
    }
  }
  return w.len > (size_t)INT32_MAX ? EC_ENOSPC : (int)w.len;
}

/* ---- the post ---------------------------------------------------------- */

/* The engine.h helper: the body's CBOR is at the end of the caller's
 * buffer with the Request-Id, if any, before it, as a report's
 * (ec__dev_post()): sent in one datagram built in front of them, or
 * block-wise (Block1) in blocks built there. */
int ec__dev_post_cbor(ec_dev_t *dev, const char *path, uint8_t *buf,
                      size_t cap, size_t len, size_t rl, ec_dev_cb_t cb,
                      void *user) {
  size_t front = cap - len - rl;
  uint8_t *id = buf + front;
  ec_coap_build_t b;
  ec__dev_xchg_t *x =
      ec__dev_begin(dev, &b, buf, front + rl, EC_COAP_POST, false,
                    rl > 0 ? EC_COAP_OPT_REQUEST_ID : 0, id, (uint8_t)rl);
  if (x == NULL) {
    return EC_ENOMEM;
  }
  for (const char *p = path; *p != '\0'; p += ec__len(p) + 1) {
    ec_coap_add(&b, EC_COAP_OPT_URI_PATH, p, ec__len(p));
  }
  ec_coap_add_uint(&b, EC_COAP_OPT_CONTENT_FORMAT, FORMAT_CBOR);
  ec_coap_add_uint(&b, EC_COAP_OPT_ACCEPT, FORMAT_CBOR);
  x->req_len = (uint16_t)b.len;
  /* What goes between the options and the body: the Request-Id's option
   * (a header of one byte, two of delta past Accept, and one of length
   * past 12 bytes), or only the payload marker. */
  size_t mid = rl > 0 ? 3 + (rl > 12) + rl : 1;
  if (b.err != 0 || b.len + mid > front) {
    return b.err != 0 ? b.err : EC_ENOSPC; /* the exchange is still free */
  }
  x->body = id + rl;
  x->body_len = len;
  if (b.len + mid + 1 + len > EC_DEV_MAX_DATAGRAM) {
    /* Each block's datagram is built in front of the Request-Id: Block1
     * and Size1 take at most 10 bytes more. */
    if (front < b.len + 10 + mid + 1 + ((size_t)16 << EC_DEV_BLOCK_SZX)) {
      return EC_ENOSPC;
    }
    x->uploading = true;
  }
  return ec__dev_launch(dev, x, NULL, cb, user);
}

int ec_dev_msg_post(ec_dev_t *dev, const ec_dev_msg_new_t *msgs, size_t n,
                    bool batch, const uint8_t *rid, size_t rid_len,
                    uint8_t *buf, size_t cap, ec_dev_cb_t cb, void *user) {
  if (dev == NULL || buf == NULL ||
      (rid == NULL ? rid_len != 0 : rid_len < 8 || rid_len > 16)) {
    return EC_EINVAL;
  }
  size_t rl = rid == NULL ? EC__RID_LEN : rid_len;
  int len = ec_dev_msgs_encode(msgs, n, batch || n > 1, NULL, 0);
  if (len < 0 || cap < (size_t)len + rl) {
    return len < 0 ? len : EC_ENOSPC;
  }
  uint8_t *id = buf + cap - (size_t)len - rl;
  if (rid == NULL) {
    dev->t->random(dev->t->ctx, id, rl);
  } else {
    ec__copy(id, rid, rl);
  }
  (void)ec_dev_msgs_encode(msgs, n, batch || n > 1, id + rl, (size_t)len);
  return ec__dev_post_cbor(dev, "api\0" "2.3\0" "statusmessages\0", buf, cap,
                           (size_t)len, rl, cb, user);
}
