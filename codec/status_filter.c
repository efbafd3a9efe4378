/* edgecoap codec: the StatusMessage filters of GET (Uri-Query) and FETCH
 * (body), and matching. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "status_message_internal.h"

/* The filter names of API.md section 3, in the order they are written. */
enum {
  F_ORDER,
  F_SUBSCRIPTION,
  F_ACCESS,
  F_MAC,
  F_FROM_DATE,
  F_TO_DATE,
  F_FROM_ID,
  F_TO_ID,
  F_LIMIT,
  F_COUNT
};

static const char *const names[F_COUNT + 1] = {"orderId",
                                               "subscriptionId",
                                               "accessId",
                                               "macAddress",
                                               "fromDateTime",
                                               "toDateTime",
                                               "fromStatusMessageID",
                                               "toStatusMessageID",
                                               "limit",
                                               NULL};

static int name_index(const char *name) {
  for (int i = 0; i < F_COUNT; i++) {
    if (strcmp(name, names[i]) == 0) {
      return i;
    }
  }
  return -1;
}

static bool is_set(const ec_msg_filter_t *f, int which) {
  switch (which) {
  case F_ORDER:
    return f->order_id != NULL;
  case F_SUBSCRIPTION:
    return f->subscription_id != NULL;
  case F_ACCESS:
    return f->access_id != NULL;
  case F_MAC:
    return f->has_mac;
  case F_FROM_DATE:
    return f->has_from_date;
  case F_TO_DATE:
    return f->has_to_date;
  case F_FROM_ID:
    return f->has_from_id;
  case F_TO_ID:
    return f->has_to_id;
  default:
    return f->limit != 0;
  }
}

/* An integer filter, already a number: IDs are any int64 >= 0, the limit
 * 1..EC_MSG_LIMIT_MAX. */
static int set_int(ec_msg_filter_t *f, int which, int64_t v,
                   ec_codec_error_t *err) {
  const char *name = names[which];
  if (which == F_LIMIT) {
    if (v < 1 || v > EC_MSG_LIMIT_MAX) {
      return ec__fail(err, EC_EBADDOC, "out-of-range", name,
                      "limit must be between 1 and %d", EC_MSG_LIMIT_MAX);
    }
    f->limit = (int)v;
    return 0;
  }
  if (v < 0) {
    return ec__fail(err, EC_EBADDOC, "out-of-range", name,
                    "%s must be between 0 and %" PRId64, name, INT64_MAX);
  }
  if (which == F_FROM_ID) {
    f->has_from_id = true;
    f->from_id = v;
  } else {
    f->has_to_id = true;
    f->to_id = v;
  }
  return 0;
}

/* Decimal digits only: no sign, no blanks, nothing after them. */
static int parse_int(const char *s, size_t len, const char *name, int64_t *out,
                     ec_codec_error_t *err) {
  uint64_t v = 0;
  if (len == 0) {
    return ec__fail(err, EC_EBADDOC, "invalid-type", name,
                    "%s must be an integer", name);
  }
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') {
      return ec__fail(err, EC_EBADDOC, "invalid-type", name,
                      "%s must be an integer", name);
    }
    v = v * 10 + (uint64_t)(s[i] - '0');
    if (v > (uint64_t)INT64_MAX) {
      return ec__fail(err, EC_EBADDOC, "out-of-range", name,
                      "%s is beyond int64", name);
    }
  }
  *out = (int64_t)v;
  return 0;
}

static int set_text(ec_msg_filter_t *f, int which, const char *value,
                    size_t len, ec_arena_t *arena, ec_codec_error_t *err) {
  const char *name = names[which];
  int64_t v = 0;
  int rc;
  switch (which) {
  case F_ORDER:
  case F_SUBSCRIPTION:
  case F_ACCESS: {
    ec_msg_id_kind_t kind = which == F_ORDER          ? EC_MSG_ORDER
                            : which == F_SUBSCRIPTION ? EC_MSG_SUBSCRIPTION
                                                      : EC_MSG_ACCESS;
    if ((rc = ec__msg_check_id(kind, value, len, name, err)) < 0) {
      return rc;
    }
    const char *copy = ec_arena_strndup(arena, value, len);
    if (copy == NULL) {
      return ec__fail(err, EC_ENOMEM, "out-of-memory", name,
                      "the decode arena is full");
    }
    *(which == F_ORDER          ? &f->order_id
      : which == F_SUBSCRIPTION ? &f->subscription_id
                                : &f->access_id) = copy;
    return 0;
  }
  case F_MAC:
    if ((rc = ec__msg_parse_mac(value, len, name, &f->mac, err)) < 0) {
      return rc;
    }
    f->has_mac = true;
    return 0;
  case F_FROM_DATE:
    if ((rc = ec__msg_parse_date(value, len, name, &f->from_date_ms, err)) <
        0) {
      return rc;
    }
    f->has_from_date = true;
    return 0;
  case F_TO_DATE:
    if ((rc = ec__msg_parse_date(value, len, name, &f->to_date_ms, err)) < 0) {
      return rc;
    }
    f->has_to_date = true;
    return 0;
  default:
    if ((rc = parse_int(value, len, name, &v, err)) < 0) {
      return rc;
    }
    return set_int(f, which, v, err);
  }
}

int ec_msg_filter_set(ec_msg_filter_t *f, const char *name, const char *value,
                      size_t len, ec_arena_t *arena, ec_codec_error_t *err) {
  if (f == NULL || name == NULL || arena == NULL ||
      (value == NULL && len > 0)) {
    return ec__fail(err, EC_EINVAL, "invalid-argument", "",
                    "a required argument is NULL");
  }
  int which = name_index(name);
  if (which < 0) {
    return ec__fail(err, EC_EBADDOC, "unknown-query", name,
                    "%s is not a filter of status messages", name);
  }
  if (is_set(f, which)) {
    return ec__fail(err, EC_EBADDOC, "duplicate-query", name,
                    "%s is given twice", name);
  }
  return set_text(f, which, value != NULL ? value : "", len, arena, err);
}

int ec_msg_filter_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                         ec_msg_filter_t *f, ec_arena_t *arena,
                         ec_codec_error_t *err) {
  if (f == NULL || arena == NULL || (buf == NULL && len > 0)) {
    return ec__fail(err, EC_EINVAL, "invalid-argument", "",
                    "a required argument is NULL");
  }
  int rc = ec__doc_format(fmt, err);
  if (rc < 0) {
    return rc;
  }
  ec_msg_filter_t nf;
  memset(&nf, 0, sizeof nf);
  if (len == 0) {
    *f = nf;
    return 0;
  }
  json_t *t;
  rc = ec__tree_parse(fmt, buf, len, &t, err);
  if (rc < 0) {
    return rc;
  }
  size_t mark = arena->used;
  if (!json_is_object(t)) {
    rc = ec__fail(err, EC_EBADDOC, "invalid-type", "",
                  "a filter must be an object");
  }
  const char *key;
  json_t *v;
  json_object_foreach(t, key, v) {
    if (rc < 0) {
      break;
    }
    int which = name_index(key);
    bool numeric = which == F_FROM_ID || which == F_TO_ID || which == F_LIMIT;
    if (which < 0) {
      rc = ec__fail(err, EC_EBADDOC, "unknown-key", key,
                    "%s is not a filter of status messages", key);
    } else if (numeric && json_is_integer(v)) {
      rc = set_int(&nf, which, (int64_t)json_integer_value(v), err);
    } else if (json_is_string(v)) {
      /* Numbers written as strings are accepted, as in messages. */
      rc = set_text(&nf, which, json_string_value(v), json_string_length(v),
                    arena, err);
    } else {
      rc = ec__fail(err, EC_EBADDOC, "invalid-type", key, "%s must be %s", key,
                    numeric ? "an integer" : "a string");
    }
  }
  json_decref(t);
  if (rc < 0) {
    arena->used = mark;
    return rc;
  }
  *f = nf;
  return 0;
}

/* A filter's text value as it is written, into @p out (>= 40 bytes). */
static int text_value(const ec_msg_filter_t *f, int which, char *out,
                      size_t cap) {
  const char *s = NULL;
  switch (which) {
  case F_ORDER:
    s = f->order_id;
    break;
  case F_SUBSCRIPTION:
    s = f->subscription_id;
    break;
  case F_ACCESS:
    s = f->access_id;
    break;
  case F_MAC:
    ec_mac_format(f->mac, out);
    return 0;
  case F_FROM_DATE:
  case F_TO_DATE:
    return ec_time_format_ms(
               which == F_FROM_DATE ? f->from_date_ms : f->to_date_ms, out) < 0
               ? EC_EINVAL
               : 0;
  default:
    snprintf(out, cap, "%" PRId64,
             which == F_FROM_ID ? f->from_id
             : which == F_TO_ID ? f->to_id
                                : (int64_t)f->limit);
    return 0;
  }
  /* A caller's own strings must pass the rules a server would apply. */
  if (strlen(s) >= cap ||
      ec__msg_check_id(which == F_ORDER          ? EC_MSG_ORDER
                       : which == F_SUBSCRIPTION ? EC_MSG_SUBSCRIPTION
                                                 : EC_MSG_ACCESS,
                       s, strlen(s), names[which], NULL) < 0) {
    return EC_EINVAL;
  }
  snprintf(out, cap, "%s", s);
  return 0;
}

static bool filter_ok(const ec_msg_filter_t *f) {
  return f->limit >= 0 && f->limit <= EC_MSG_LIMIT_MAX &&
         (!f->has_from_id || f->from_id >= 0) &&
         (!f->has_to_id || f->to_id >= 0) &&
         (!f->has_mac || f->mac < (UINT64_C(1) << 48));
}

ssize_t ec_msg_filter_encode(ec_format_t fmt, const ec_msg_filter_t *f,
                             uint8_t *buf, size_t cap) {
  if (f != NULL && !filter_ok(f)) {
    return EC_EINVAL;
  }
  int rc = ec__encode_args(fmt, f, 1, buf, cap);
  if (rc < 0) {
    return rc;
  }
  json_t *t = json_object();
  rc = t == NULL ? EC_ENOMEM : 0;
  for (int i = 0; i < F_COUNT && rc == 0; i++) {
    char v[48];
    if (!is_set(f, i)) {
      continue;
    }
    if (i == F_FROM_ID || i == F_TO_ID || i == F_LIMIT) {
      int64_t n = i == F_FROM_ID ? f->from_id
                  : i == F_TO_ID ? f->to_id
                                 : (int64_t)f->limit;
      rc = ec__set_int(t, names[i], n);
    } else if ((rc = text_value(f, i, v, sizeof v)) == 0) {
      rc = ec__set_new(t, names[i], json_string(v));
    }
  }
  return ec__encode_finish(fmt, t, rc, buf, cap);
}

ssize_t ec_msg_filter_query(const ec_msg_filter_t *f, char *out, size_t cap) {
  static const char hexd[] = "0123456789ABCDEF";
  if (f == NULL || out == NULL || cap == 0 || !filter_ok(f)) {
    return EC_EINVAL;
  }
  size_t n = 0;
  for (int i = 0; i < F_COUNT; i++) {
    char v[48];
    if (!is_set(f, i)) {
      continue;
    }
    if (text_value(f, i, v, sizeof v) < 0) {
      return EC_EINVAL;
    }
    /* name=value, with everything outside RFC 3986's unreserved set and ':'
     * percent-encoded (the rules leave only date offsets to encode). */
    size_t need = (n > 0) + strlen(names[i]) + 1 + 3 * strlen(v);
    if (need >= cap - n) {
      return EC_ENOSPC;
    }
    if (n > 0) {
      out[n++] = '&';
    }
    n += (size_t)sprintf(out + n, "%s=", names[i]);
    for (const char *p = v; *p != '\0'; p++) {
      unsigned char c = (unsigned char)*p;
      if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
          (c >= 'A' && c <= 'Z') || strchr("-._~:", c) != NULL) {
        out[n++] = (char)c;
      } else {
        out[n++] = '%';
        out[n++] = hexd[c >> 4];
        out[n++] = hexd[c & 15];
      }
    }
  }
  out[n] = '\0';
  return (ssize_t)n;
}

static bool same(const char *want, const char *have) {
  return want == NULL || (have != NULL && strcmp(want, have) == 0);
}

bool ec_msg_filter_match(const ec_msg_filter_t *f,
                         const ec_status_message_t *m) {
  if (f == NULL || m == NULL) {
    return false;
  }
  if (!same(f->order_id, m->order_id) ||
      !same(f->subscription_id, m->subscription_id) ||
      !same(f->access_id, m->access_id)) {
    return false;
  }
  /* A message without a date has none to compare: only a stored message,
   * which always has one, is matched against date filters. */
  if ((f->has_from_date || f->has_to_date) && !m->has_date) {
    return false;
  }
  if ((f->has_from_date && m->date_ms < f->from_date_ms) ||
      (f->has_to_date && m->date_ms > f->to_date_ms) ||
      (f->has_from_id && m->id <= f->from_id) ||
      (f->has_to_id && m->id >= f->to_id)) {
    return false;
  }
  if (!f->has_mac) {
    return true;
  }
  for (size_t i = 0; i < m->n_macs; i++) {
    if (m->macs[i] == f->mac) {
      return true;
    }
  }
  return false;
}
