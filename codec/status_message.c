/* edgecoap codec: ON-API StatusMessages, one or a batch, and stored rows, in
 * JSON and CBOR. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "status_message_internal.h"

#define MAC_MAX ((UINT64_C(1) << 48) - 1)

static const char *const message_keys[] = {
    "statusMessageID", "messageDate",
    "messageCode",     "messageParameters",
    "orderId",         "subscriptionId",
    "accessId",        "macAddress",
    "dhcpOption",      NULL};

/* ---- field rules ------------------------------------------------------- */

/* API.md section 3 makes every bad value of a message a 4.00 naming the
 * field, where the shared typed readers call lengths and ranges 4.22. */
static int as_baddoc(int rc, ec_codec_error_t *err) {
  if (rc == EC_ESEMANTIC) {
    rc = EC_EBADDOC;
    if (err != NULL) {
      err->code = EC_EBADDOC;
    }
  }
  return rc;
}

static bool is_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z');
}

int ec__msg_check_id(ec_msg_id_kind_t kind, const char *s, size_t len,
                     const char *field, ec_codec_error_t *err) {
  bool dash_dot = kind != EC_MSG_ACCESS;
  size_t max = dash_dot ? EC_MSG_ORDER_ID_MAX : EC_MSG_ACCESS_ID_MAX;
  if (s == NULL || len < 1 || len > max) {
    return ec__fail(err, EC_EBADDOC, "invalid-length", field,
                    "%s must be 1 to %zu characters long", field, max);
  }
  for (size_t i = 0; i < len; i++) {
    /* ASCII classes by hand: isalnum() follows the locale. */
    if (!is_alnum(s[i]) && !(dash_dot && (s[i] == '-' || s[i] == '.'))) {
      return ec__fail(err, EC_EBADDOC, "invalid-characters", field,
                      "%s may only hold %s", field,
                      dash_dot ? "A-Z a-z 0-9 - ." : "A-Z a-z 0-9");
    }
  }
  return 0;
}

int ec_mac_parse(const char *s, size_t len, uint64_t *mac) {
  if (s == NULL || mac == NULL) {
    return EC_EINVAL;
  }
  /* The three spellings in use: aabbccddeeff, aa:bb:cc:dd:ee:ff (or with
   * '-' or '.'), and aabb.ccdd.eeff (or with ':' or '-'). One separator
   * throughout; anything else is not a MAC address. */
  size_t group;
  if (len == 12) {
    group = 12;
  } else if (len == 17) {
    group = 2;
  } else if (len == 14) {
    group = 4;
  } else {
    return EC_EBADDOC;
  }
  char sep = group < 12 ? s[group] : '\0';
  if (group < 12 && sep != ':' && sep != '-' && sep != '.') {
    return EC_EBADDOC;
  }
  uint64_t v = 0;
  size_t digits = 0;
  for (size_t i = 0; i < len; i++) {
    if (group < 12 && i % (group + 1) == group) {
      if (s[i] != sep) {
        return EC_EBADDOC;
      }
      continue;
    }
    int d = ec__hex_digit(s[i]);
    if (d < 0) {
      return EC_EBADDOC;
    }
    v = v << 4 | (uint64_t)d;
    digits++;
  }
  if (digits != 12) {
    return EC_EBADDOC;
  }
  *mac = v;
  return 0;
}

void ec_mac_format(uint64_t mac, char out[18]) {
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 6; i++) {
    unsigned b = (unsigned)(mac >> (40 - 8 * i)) & 0xFFu;
    out[3 * i] = digits[b >> 4];
    out[3 * i + 1] = digits[b & 0xF];
    out[3 * i + 2] = i < 5 ? ':' : '\0';
  }
}

int ec__msg_parse_mac(const char *s, size_t len, const char *field,
                      uint64_t *mac, ec_codec_error_t *err) {
  if (len < 12 || len > 17) {
    return ec__fail(err, EC_EBADDOC, "invalid-length", field,
                    "%s must be 12 to 17 characters long", field);
  }
  if (ec_mac_parse(s, len, mac) < 0) {
    return ec__fail(err, EC_EBADDOC, "invalid-mac-address", field,
                    "%s must be 12 hex digits, alone or as aa:bb:cc:dd:ee:ff, "
                    "aa-bb-cc-dd-ee-ff or aabb.ccdd.eeff",
                    field);
  }
  return 0;
}

int ec__msg_parse_date(const char *s, size_t len, const char *field,
                       int64_t *ms, ec_codec_error_t *err) {
  if (ec_time_parse_ms(s, len, ms) < 0) {
    return ec__fail(err, EC_EBADDOC, "invalid-date-time", field,
                    "%s must be an RFC 3339 date-time such as "
                    "2018-06-17T14:50:10.033Z",
                    field);
  }
  return 0;
}

/* ---- decoding ---------------------------------------------------------- */

/* Member @p key as an object; *v stays NULL when it is absent. In
 * EC_MSG_NEW its keys must come from @p allowed. */
static int get_object(const json_t *parent, const char *key, const char *path,
                      ec_msg_kind_t kind, const char *const *allowed,
                      const json_t **v, char *sub, ec_codec_error_t *err) {
  ec__path_key(sub, EC_FIELD_CAP, path, key);
  int rc = ec__get_member(parent, key, path, false, JSON_OBJECT, v, err);
  if (rc < 0 || *v == NULL) {
    return rc;
  }
  return kind == EC_MSG_NEW ? ec__check_keys(*v, sub, allowed, err) : 0;
}

static int get_text(const json_t *obj, const char *key, const char *path,
                    ec_arena_t *arena, const char **out,
                    ec_codec_error_t *err) {
  return as_baddoc(
      ec__get_string(obj, key, path, false, 0, EC_MAX_TEXT, arena, out, err),
      err);
}

static int get_dhcp(const json_t *msg, const char *path, ec_msg_kind_t kind,
                    ec_dhcp_option_t *d, ec_arena_t *arena,
                    ec_codec_error_t *err) {
  static const char *const top_keys[] = {"IPv4", "IPv6", NULL};
  static const char *const v4_keys[] = {"option82", NULL};
  static const char *const v6_keys[] = {"option18", "option37", NULL};
  static const char *const o82_keys[] = {"remoteId", "circuitId", NULL};
  static const char *const o18_keys[] = {"interfaceId", NULL};
  static const char *const o37_keys[] = {"remoteId", NULL};
  char p0[EC_FIELD_CAP], p4[EC_FIELD_CAP], p6[EC_FIELD_CAP], po[EC_FIELD_CAP];
  const json_t *top, *v4 = NULL, *v6 = NULL, *o;
  int rc = get_object(msg, "dhcpOption", path, kind, top_keys, &top, p0, err);
  if (rc < 0 || top == NULL) {
    return rc;
  }
  d->present = true;
  if ((rc = get_object(top, "IPv4", p0, kind, v4_keys, &v4, p4, err)) < 0 ||
      (rc = get_object(top, "IPv6", p0, kind, v6_keys, &v6, p6, err)) < 0) {
    return rc;
  }
  d->has_ipv4 = v4 != NULL;
  d->has_ipv6 = v6 != NULL;
  if (v4 != NULL) {
    if ((rc = get_object(v4, "option82", p4, kind, o82_keys, &o, po, err)) <
        0) {
      return rc;
    }
    d->has_option82 = o != NULL;
    if (o != NULL && ((rc = get_text(o, "remoteId", po, arena,
                                     &d->option82_remote_id, err)) < 0 ||
                      (rc = get_text(o, "circuitId", po, arena,
                                     &d->option82_circuit_id, err)) < 0)) {
      return rc;
    }
  }
  if (v6 != NULL) {
    if ((rc = get_object(v6, "option18", p6, kind, o18_keys, &o, po, err)) <
        0) {
      return rc;
    }
    d->has_option18 = o != NULL;
    if (o != NULL && (rc = get_text(o, "interfaceId", po, arena,
                                    &d->option18_interface_id, err)) < 0) {
      return rc;
    }
    if ((rc = get_object(v6, "option37", p6, kind, o37_keys, &o, po, err)) <
        0) {
      return rc;
    }
    d->has_option37 = o != NULL;
    if (o != NULL && (rc = get_text(o, "remoteId", po, arena,
                                    &d->option37_remote_id, err)) < 0) {
      return rc;
    }
  }
  return 0;
}

/* A list member: *a stays NULL when it is absent; @p apath gets its path. */
static int get_list(const json_t *msg, const char *key, const char *path,
                    size_t cap, const json_t **a, char *apath,
                    ec_codec_error_t *err) {
  ec__path_key(apath, EC_FIELD_CAP, path, key);
  int rc = ec__get_member(msg, key, path, false, JSON_ARRAY, a, err);
  if (rc < 0 || *a == NULL) {
    return rc;
  }
  if (json_array_size(*a) > cap) {
    return ec__fail(err, EC_ETOOBIG, "too-large", apath,
                    "%s holds at most %zu entries", apath, cap);
  }
  return 0;
}

static int get_params(const json_t *msg, const char *path,
                      ec_status_message_t *m, ec_arena_t *arena,
                      ec_codec_error_t *err) {
  const json_t *a;
  char apath[EC_FIELD_CAP];
  int rc = get_list(msg, "messageParameters", path, EC_MSG_MAX_PARAMS, &a,
                    apath, err);
  if (rc < 0 || a == NULL || json_array_size(a) == 0) {
    return rc;
  }
  size_t n = json_array_size(a);
  ec_msg_param_t *p = ec__alloc_array(arena, n, sizeof *p, apath, err);
  if (p == NULL) {
    return EC_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    const json_t *e = json_array_get(a, i);
    char epath[EC_FIELD_CAP], vpath[EC_FIELD_CAP];
    ec__path_index(epath, sizeof epath, apath, i);
    if (!json_is_object(e) || json_object_size(e) != 1) {
      return ec__fail(err, EC_EBADDOC,
                      json_is_object(e) ? "invalid-parameter" : "invalid-type",
                      epath, "%s must be an object with exactly one key",
                      epath);
    }
    void *it = json_object_iter((json_t *)e);
    const char *key = json_object_iter_key(it);
    const json_t *val = json_object_iter_value(it);
    ec__path_key(vpath, sizeof vpath, epath, key);
    if (*key == '\0') {
      return ec__fail(err, EC_EBADDOC, "invalid-length", epath,
                      "%s has an empty key", epath);
    }
    if (!json_is_string(val)) {
      return ec__fail(err, EC_EBADDOC, "invalid-type", vpath,
                      "%s must be a string", vpath);
    }
    p[i].key = ec_arena_strndup(arena, key, strlen(key));
    p[i].value = ec_arena_strndup(arena, json_string_value(val),
                                  json_string_length(val));
    if (p[i].key == NULL || p[i].value == NULL) {
      return ec__fail(err, EC_ENOMEM, "out-of-memory", vpath,
                      "the decode arena is full");
    }
  }
  m->params = p;
  m->n_params = n;
  return 0;
}

static int get_macs(const json_t *msg, const char *path, ec_status_message_t *m,
                    ec_arena_t *arena, ec_codec_error_t *err) {
  const json_t *a;
  char apath[EC_FIELD_CAP];
  int rc = get_list(msg, "macAddress", path, EC_MSG_MAX_MACS, &a, apath, err);
  if (rc < 0 || a == NULL || json_array_size(a) == 0) {
    return rc;
  }
  size_t n = json_array_size(a);
  uint64_t *macs = ec__alloc_array(arena, n, sizeof *macs, apath, err);
  if (macs == NULL) {
    return EC_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    const json_t *e = json_array_get(a, i);
    char epath[EC_FIELD_CAP];
    ec__path_index(epath, sizeof epath, apath, i);
    if (!json_is_string(e)) {
      return ec__fail(err, EC_EBADDOC, "invalid-type", epath,
                      "%s must be a string", epath);
    }
    if ((rc = ec__msg_parse_mac(json_string_value(e), json_string_length(e),
                                epath, &macs[i], err)) < 0) {
      return rc;
    }
  }
  m->macs = macs;
  m->n_macs = n;
  return 0;
}

static int get_id(const json_t *msg, const char *key, const char *path,
                  ec_msg_id_kind_t kind, ec_arena_t *arena, const char **out,
                  ec_codec_error_t *err) {
  int rc = get_text(msg, key, path, arena, out, err);
  if (rc < 0 || *out == NULL) {
    return rc;
  }
  char field[EC_FIELD_CAP];
  ec__path_key(field, sizeof field, path, key);
  return ec__msg_check_id(kind, *out, strlen(*out), field, err);
}

static int get_date(const json_t *msg, const char *path, bool required,
                    ec_status_message_t *m, ec_codec_error_t *err) {
  char field[EC_FIELD_CAP];
  const json_t *v;
  int rc =
      ec__get_member(msg, "messageDate", path, required, JSON_STRING, &v, err);
  if (rc < 0 || v == NULL) {
    return rc;
  }
  ec__path_key(field, sizeof field, path, "messageDate");
  rc = ec__msg_parse_date(json_string_value(v), json_string_length(v), field,
                          &m->date_ms, err);
  m->has_date = rc == 0;
  return rc;
}

/* Every rule of API.md section 3 on one message; @p path prefixes the
 * fields named in errors ("" or "StatusMessages[3]"). */
static int msg_from_tree(const json_t *o, const char *path, ec_msg_kind_t kind,
                         ec_status_message_t *m, ec_arena_t *arena,
                         ec_codec_error_t *err) {
  char field[EC_FIELD_CAP];
  int64_t code;
  int rc;
  memset(m, 0, sizeof *m);
  if (!json_is_object(o)) {
    return ec__fail(err, EC_EBADDOC, "invalid-type", path,
                    "a StatusMessage must be an object");
  }
  if (kind == EC_MSG_NEW) {
    if ((rc = ec__check_keys(o, path, message_keys, err)) < 0) {
      return rc;
    }
    if (json_object_get(o, "statusMessageID") != NULL) {
      ec__path_key(field, sizeof field, path, "statusMessageID");
      return ec__fail(err, EC_EBADDOC, "server-assigned", field,
                      "%s is assigned by the server and must not be sent",
                      field);
    }
  } else if ((rc = as_baddoc(ec__get_int_lenient(o, "statusMessageID", path,
                                                 true, 1, INT64_MAX, &m->id,
                                                 NULL, err),
                             err)) < 0) {
    return rc;
  }
  if ((rc = get_date(o, path, kind == EC_MSG_STORED, m, err)) < 0 ||
      (rc = as_baddoc(ec__get_int_lenient(o, "messageCode", path, true,
                                          EC_MSG_CODE_MIN, EC_MSG_CODE_MAX,
                                          &code, NULL, err),
                      err)) < 0 ||
      (rc = get_params(o, path, m, arena, err)) < 0 ||
      (rc = get_id(o, "orderId", path, EC_MSG_ORDER, arena, &m->order_id,
                   err)) < 0 ||
      (rc = get_id(o, "subscriptionId", path, EC_MSG_SUBSCRIPTION, arena,
                   &m->subscription_id, err)) < 0 ||
      (rc = get_id(o, "accessId", path, EC_MSG_ACCESS, arena, &m->access_id,
                   err)) < 0) {
    return rc;
  }
  m->code = (int)code;
  if (m->order_id == NULL && m->subscription_id == NULL &&
      m->access_id == NULL) {
    /* The rule is about three fields; the first is the one named. */
    ec__path_key(field, sizeof field, path, "orderId");
    return ec__fail(err, EC_EBADDOC, "missing-field", field,
                    "at least one of orderId, subscriptionId and accessId is "
                    "required");
  }
  if ((rc = get_macs(o, path, m, arena, err)) < 0) {
    return rc;
  }
  return get_dhcp(o, path, kind, &m->dhcp, arena, err);
}

int ec_status_message_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                             ec_msg_kind_t kind, ec_status_message_t *out,
                             ec_arena_t *arena, ec_codec_error_t *err) {
  if (out == NULL || arena == NULL || (buf == NULL && len > 0) ||
      (kind != EC_MSG_NEW && kind != EC_MSG_STORED)) {
    return ec__fail(err, EC_EINVAL, "invalid-argument", "",
                    "a required argument is NULL");
  }
  json_t *t;
  int rc = ec__doc_parse(fmt, buf, len, &t, err);
  if (rc < 0) {
    return rc;
  }
  size_t mark = arena->used;
  ec_status_message_t m;
  rc = msg_from_tree(t, "", kind, &m, arena, err);
  json_decref(t);
  if (rc < 0) {
    arena->used = mark;
    return rc;
  }
  *out = m;
  return 0;
}

static int batch_from_tree(const json_t *t, ec_msg_kind_t kind,
                           ec_status_message_t **msgs, size_t *n,
                           ec_arena_t *arena, ec_codec_error_t *err) {
  static const char *const envelope_keys[] = {"StatusMessages", NULL};
  const json_t *a = json_object_get(t, "StatusMessages");
  int rc;
  if (kind == EC_MSG_NEW &&
      (rc = ec__check_keys(t, "", envelope_keys, err)) < 0) {
    return rc;
  }
  if (!json_is_array(a)) {
    return ec__fail(err, EC_EBADDOC, "invalid-type", "StatusMessages",
                    "StatusMessages must be an array");
  }
  size_t count = json_array_size(a);
  if (kind == EC_MSG_NEW && count == 0) {
    return ec__fail(err, EC_EBADDOC, "invalid-length", "StatusMessages",
                    "a batch holds 1 to %d messages", EC_MSG_MAX_BATCH);
  }
  if (kind == EC_MSG_NEW && count > EC_MSG_MAX_BATCH) {
    return ec__fail(err, EC_ETOOBIG, "too-large", "StatusMessages",
                    "a batch holds at most %d messages", EC_MSG_MAX_BATCH);
  }
  ec_status_message_t *m = NULL;
  if (count > 0 && (m = ec__alloc_array(arena, count, sizeof *m,
                                        "StatusMessages", err)) == NULL) {
    return EC_ENOMEM;
  }
  for (size_t i = 0; i < count; i++) {
    char path[EC_FIELD_CAP];
    ec__path_index(path, sizeof path, "StatusMessages", i);
    if ((rc = msg_from_tree(json_array_get(a, i), path, kind, &m[i], arena,
                            err)) < 0) {
      return rc;
    }
  }
  *msgs = m;
  *n = count;
  return 0;
}

int ec_status_messages_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                              ec_msg_kind_t kind, ec_status_message_t **msgs,
                              size_t *n, bool *batch, ec_arena_t *arena,
                              ec_codec_error_t *err) {
  if (msgs == NULL || n == NULL || arena == NULL || (buf == NULL && len > 0) ||
      (kind != EC_MSG_NEW && kind != EC_MSG_STORED)) {
    return ec__fail(err, EC_EINVAL, "invalid-argument", "",
                    "a required argument is NULL");
  }
  json_t *t;
  int rc = ec__doc_parse(fmt, buf, len, &t, err);
  if (rc < 0) {
    return rc;
  }
  size_t mark = arena->used;
  ec_status_message_t *m = NULL;
  size_t count = 0;
  /* A message never has a StatusMessages key, so its presence tells the
   * two forms apart. */
  bool is_batch =
      json_is_object(t) && json_object_get(t, "StatusMessages") != NULL;
  if (is_batch) {
    rc = batch_from_tree(t, kind, &m, &count, arena, err);
  } else if ((m = ec__alloc_array(arena, 1, sizeof *m, "", err)) == NULL) {
    rc = EC_ENOMEM;
  } else {
    rc = msg_from_tree(t, "", kind, m, arena, err);
    count = 1;
  }
  json_decref(t);
  if (rc < 0) {
    arena->used = mark;
    return rc;
  }
  *msgs = m;
  *n = count;
  if (batch != NULL) {
    *batch = is_batch;
  }
  return 0;
}

/* ---- encoding ---------------------------------------------------------- */

/*
 * Written straight from the struct in the seed's order, the order the tree
 * path's jansson objects kept: statusMessageID, messageDate, messageCode,
 * messageParameters, orderId, subscriptionId, accessId, macAddress,
 * dhcpOption. Every string is checked as the tree path checked it.
 */
static void put_id(ec__dw_t *d, const char *key, ec_msg_id_kind_t kind,
                   const char *s) {
  if (s == NULL) {
    return;
  }
  if (ec__msg_check_id(kind, s, strlen(s), key, NULL) < 0) {
    ec__dw_fail(d, EC_EINVAL);
    return;
  }
  ec__dw_key(d, key);
  ec__dw_text(d, s);
}

/* A member holding one string when @p s is set. */
static void put_opt(ec__dw_t *d, const char *key, const char *s) {
  if (s != NULL) {
    ec__dw_key(d, key);
    ec__dw_text(d, s);
  }
}

static void put_dhcp(ec__dw_t *d, const ec_dhcp_option_t *o) {
  if (!o->present) {
    return;
  }
  ec__dw_key(d, "dhcpOption");
  ec__dw_map(d, (size_t)o->has_ipv4 + o->has_ipv6);
  if (o->has_ipv4) {
    ec__dw_key(d, "IPv4");
    ec__dw_map(d, o->has_option82);
    if (o->has_option82) {
      ec__dw_key(d, "option82");
      ec__dw_map(d, (size_t)(o->option82_remote_id != NULL) +
                        (o->option82_circuit_id != NULL));
      put_opt(d, "remoteId", o->option82_remote_id);
      put_opt(d, "circuitId", o->option82_circuit_id);
      ec__dw_end_map(d);
    }
    ec__dw_end_map(d);
  }
  if (o->has_ipv6) {
    ec__dw_key(d, "IPv6");
    ec__dw_map(d, (size_t)o->has_option18 + o->has_option37);
    if (o->has_option18) {
      ec__dw_key(d, "option18");
      ec__dw_map(d, o->option18_interface_id != NULL);
      put_opt(d, "interfaceId", o->option18_interface_id);
      ec__dw_end_map(d);
    }
    if (o->has_option37) {
      ec__dw_key(d, "option37");
      ec__dw_map(d, o->option37_remote_id != NULL);
      put_opt(d, "remoteId", o->option37_remote_id);
      ec__dw_end_map(d);
    }
    ec__dw_end_map(d);
  }
  ec__dw_end_map(d);
}

static void put_msg(ec__dw_t *d, const void *item) {
  const ec_status_message_t *m = item;
  if (m->id < 0 || m->code < EC_MSG_CODE_MIN || m->code > EC_MSG_CODE_MAX ||
      (m->params == NULL && m->n_params > 0) ||
      (m->macs == NULL && m->n_macs > 0) ||
      (m->order_id == NULL && m->subscription_id == NULL &&
       m->access_id == NULL)) {
    ec__dw_fail(d, EC_EINVAL);
    return;
  }
  ec__dw_map(d, (size_t)(m->id > 0) + m->has_date + 1 + (m->n_params > 0) +
                    (m->order_id != NULL) + (m->subscription_id != NULL) +
                    (m->access_id != NULL) + (m->n_macs > 0) +
                    m->dhcp.present);
  if (m->id > 0) {
    ec__dw_key(d, "statusMessageID");
    ec__dw_int(d, m->id);
  }
  if (m->has_date) {
    ec__dw_key(d, "messageDate");
    ec__dw_time(d, m->date_ms);
  }
  ec__dw_key(d, "messageCode");
  ec__dw_int(d, m->code);
  if (m->n_params > 0) {
    ec__dw_key(d, "messageParameters");
    ec__dw_array(d, m->n_params);
    for (size_t i = 0; i < m->n_params && d->rc == 0; i++) {
      const char *k = m->params[i].key;
      if (k == NULL || *k == '\0' || !ec__utf8_valid(k, strlen(k))) {
        ec__dw_fail(d, EC_EINVAL);
        return;
      }
      ec__dw_map(d, 1);
      ec__dw_key(d, k);
      ec__dw_text(d, m->params[i].value);
      ec__dw_end_map(d);
    }
    ec__dw_end_array(d);
  }
  put_id(d, "orderId", EC_MSG_ORDER, m->order_id);
  put_id(d, "subscriptionId", EC_MSG_SUBSCRIPTION, m->subscription_id);
  put_id(d, "accessId", EC_MSG_ACCESS, m->access_id);
  if (m->n_macs > 0) {
    ec__dw_key(d, "macAddress");
    ec__dw_array(d, m->n_macs);
    for (size_t i = 0; i < m->n_macs && d->rc == 0; i++) {
      char mac[18];
      if (m->macs[i] > MAC_MAX) {
        ec__dw_fail(d, EC_EINVAL);
        return;
      }
      ec_mac_format(m->macs[i], mac);
      ec__dw_textn(d, mac, 17);
    }
    ec__dw_end_array(d);
  }
  put_dhcp(d, &m->dhcp);
  ec__dw_end_map(d);
}

ssize_t ec_status_message_encode(ec_format_t fmt, const ec_status_message_t *m,
                                 uint8_t *buf, size_t cap) {
  return ec__dw_list(fmt, NULL, m, 1, sizeof *m, put_msg, buf, cap);
}

ssize_t ec_status_messages_encode(ec_format_t fmt,
                                  const ec_status_message_t *msgs, size_t n,
                                  uint8_t *buf, size_t cap) {
  return ec__dw_list(fmt, "StatusMessages", msgs, n, sizeof *msgs, put_msg,
                     buf, cap);
}

/* One stored row as a message object with its ID first: the stored map's
 * pairs follow, transcoded as they are read (stream.h). The document was
 * written by ec_status_message_encode(), so anything but a CBOR map is
 * corruption in the store. */
static void put_row(ec__dw_t *d, const void *item) {
  const ec_msg_row_t *r = item;
  if ((r->doc == NULL && r->doc_len > 0) || r->id < 1) {
    ec__dw_fail(d, EC_EINVAL);
    return;
  }
  ec__dw_map(d, 0); /* JSON only: the count is not written */
  ec__dw_key(d, "statusMessageID");
  ec__dw_int(d, r->id);
  ec__dw_stored(d, r->doc, r->doc_len, true, "statusMessageID");
  ec__dw_end_map(d);
}

/* The head of a stored row: a definite-length map; its pair count and the
 * head's size. 0, or EC_ESYNTAX for anything else. */
static int stored_map_head(const uint8_t *d, size_t len, uint64_t *count,
                           size_t *head_len) {
  static const uint8_t arg_bytes[4] = {1, 2, 4, 8};
  if (len < 1 || d[0] >> 5 != 5) {
    return EC_ESYNTAX;
  }
  uint8_t ai = d[0] & 31;
  if (ai < 24) {
    *count = ai;
    *head_len = 1;
    return 0;
  }
  if (ai > 27 || len < 1u + arg_bytes[ai - 24]) {
    return EC_ESYNTAX;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < arg_bytes[ai - 24]; i++) {
    v = v << 8 | d[1 + i];
  }
  *count = v;
  *head_len = 1u + arg_bytes[ai - 24];
  return 0;
}

/*
 * CBOR answers are spliced from the stored bytes: a stored row is the map
 * ec_status_message_encode() wrote without an ID, so the answer's map is the
 * same pairs with a longer head and "statusMessageID" first, exactly what
 * the tree path below writes, without parsing each row back into a tree.
 */
static ssize_t rows_cbor(const ec_msg_row_t *rows, size_t n, bool envelope,
                         uint8_t *buf, size_t cap) {
  static const char list_key[] = "StatusMessages";
  static const char id_key[] = "statusMessageID";
  ec_wbuf_t w = {buf, cap, 0, false};
  if (envelope) {
    ec__cbor_head(&w, 5, 1);
    ec__cbor_head(&w, 3, sizeof list_key - 1);
    ec__cbor_emit(&w, list_key, sizeof list_key - 1);
    ec__cbor_head(&w, 4, n);
  }
  for (size_t i = 0; i < n; i++) {
    uint64_t pairs;
    size_t head;
    if (rows[i].id < 1 || (rows[i].doc == NULL && rows[i].doc_len > 0)) {
      return EC_EINVAL;
    }
    if (stored_map_head(rows[i].doc, rows[i].doc_len, &pairs, &head) < 0) {
      return EC_ESYNTAX;
    }
    ec__cbor_head(&w, 5, pairs + 1);
    ec__cbor_head(&w, 3, sizeof id_key - 1);
    ec__cbor_emit(&w, id_key, sizeof id_key - 1);
    ec__cbor_head(&w, 0, (uint64_t)rows[i].id);
    ec__cbor_emit(&w, rows[i].doc + head, rows[i].doc_len - head);
  }
  return w.overflow || w.len > SSIZE_MAX ? EC_ENOMEM : (ssize_t)w.len;
}

ssize_t ec_msg_rows_encode(ec_format_t fmt, const ec_msg_row_t *rows, size_t n,
                           bool with_envelope, uint8_t *buf, size_t cap) {
  int rc = ec__encode_args(fmt, rows, n, buf, cap);
  if (rc < 0) {
    return rc;
  }
  if (fmt == EC_FORMAT_CBOR && (with_envelope || n == 1)) {
    return rows_cbor(rows, n, with_envelope, buf, cap);
  }
  if (!with_envelope && n != 1) {
    return EC_EINVAL;
  }
  return ec__dw_list(fmt, with_envelope ? "StatusMessages" : NULL, rows, n,
                     sizeof *rows, put_row, buf, cap);
}
