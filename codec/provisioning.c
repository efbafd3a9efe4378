/* edgecoap codec: device-provisioning-component requests and answers. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgecoap/provisioning.h"
#include "provisioning_internal.h"

static const char *const type_names[EC_COMP_TYPE_COUNT] = {
    "Sensor", "Parameter", "Group Parameter"};
static const char *const action_names[] = {"select", "insert", "update"};

/* ASCII-only, as ec__ascii_ieq(): a locale must not decide how a key is
 * spelt in an error code. */
static char upper(char c) {
  return c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
}

const char *ec_comp_type_name(ec_comp_type_t t) {
  return (unsigned)t < EC_COMP_TYPE_COUNT ? type_names[t] : NULL;
}

int ec_comp_type_parse(const char *s, size_t len) {
  if (s == NULL) {
    return EC_EINVAL;
  }
  if (len == 1 && s[0] >= '0' && s[0] < '0' + EC_COMP_TYPE_COUNT) {
    return s[0] - '0';
  }
  for (int i = 0; i < EC_COMP_TYPE_COUNT; i++) {
    if (ec__ascii_ieq(s, len, type_names[i])) {
      return i;
    }
  }
  return EC_EBADDOC;
}

/* The seed's datetimes, "YYYY-MM-DD hh:mm:ss" in UTC. */

int ec_prov_datetime_format(int64_t s, char out[20]) {
  /* Years 0..9999 keep the fixed width the seed's format implies. */
  if (s < -62167219200LL || s > 253402300799LL) {
    return EC_EINVAL;
  }
  time_t tt = (time_t)s;
  struct tm tm;
  if (gmtime_r(&tt, &tm) == NULL) {
    return EC_EINVAL;
  }
  /* The range check above keeps every field to its width; the larger
   * buffer only spares the compiler proving it. */
  char tmp[64];
  snprintf(tmp, sizeof tmp, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  memcpy(out, tmp, 20);
  out[19] = '\0';
  return 19;
}

static bool digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

int ec_prov_datetime_parse(const char *s, size_t len, int64_t *out) {
  int y, mo, d, h, mi, se;
  if (s == NULL || out == NULL || len != 19 || s[4] != '-' || s[7] != '-' ||
      s[10] != ' ' || s[13] != ':' || s[16] != ':' || !digits(s, 4, &y) ||
      !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
      !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) ||
      !digits(s + 17, 2, &se) || mo < 1 || mo > 12 || d < 1 || d > 31 ||
      h > 23 || mi > 59 || se > 60) {
    return EC_EBADDOC;
  }
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  /* timegm() normalises 31 February into March; refuse what moved. */
  time_t t = timegm(&tm);
  if (tm.tm_mday != d || tm.tm_mon != mo - 1) {
    return EC_EBADDOC;
  }
  *out = (int64_t)t;
  return 0;
}

/* Fill @p err (may be NULL) and return @p code. */
int ec__prov_fail(ec_prov_error_t *err, int code, const char *error,
                  const char *fmt, ...) {
  if (err != NULL) {
    err->code = code;
    err->error = error;
    err->detail[0] = '\0';
    if (fmt != NULL) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(err->detail, sizeof err->detail, fmt, ap);
      va_end(ap);
    }
  }
  return code;
}

/* Parse failures are the seed's "incorrect JSON format", except memory,
 * which the server answers as its own failure. */
int ec__prov_parse(ec_format_t fmt, const uint8_t *buf, size_t len, json_t **t,
                   ec_prov_error_t *err) {
  if (fmt != EC_FORMAT_JSON && fmt != EC_FORMAT_CBOR) {
    return ec__prov_fail(err, EC_EFORMAT, "INVALID_REQUEST_PRAM", NULL);
  }
  ec_codec_error_t cerr;
  int rc = ec__tree_parse(fmt, buf, len, t, &cerr);
  if (rc < 0) {
    return ec__prov_fail(err, rc, "INVALID_REQUEST_PRAM", NULL);
  }
  if (!json_is_object(*t)) {
    json_decref(*t);
    return ec__prov_fail(err, EC_EBADDOC, "INVALID_REQUEST_PRAM", NULL);
  }
  return 0;
}

int ec__prov_bad_key(ec_prov_error_t *err, const char *key) {
  if (err != NULL) {
    ec__prov_fail(err, EC_EBADDOC, "INVALID_INPUT_PRAM", "INVALID_PRAM_");
    size_t at = strlen(err->detail);
    for (size_t i = 0; key[i] != '\0' && at + 1 < sizeof err->detail; i++) {
      err->detail[at++] = upper(key[i]);
    }
    err->detail[at] = '\0';
  }
  return EC_EBADDOC;
}

/* ---- request decoding ---------------------------------------------------- */

/* An INT parameter: a non-negative integer, or a string of 1..18 decimal
 * digits (so that it cannot overflow int64). */
static bool read_uint(const json_t *v, int64_t *out) {
  if (json_is_integer(v)) {
    json_int_t i = json_integer_value(v);
    if (i < 0) {
      return false;
    }
    *out = (int64_t)i;
    return true;
  }
  if (!json_is_string(v)) {
    return false;
  }
  const char *s = json_string_value(v);
  size_t n = json_string_length(v);
  if (n == 0 || n > 18) {
    return false;
  }
  int64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    x = x * 10 + (s[i] - '0');
  }
  *out = x;
  return true;
}

/* An INT | ARRAY parameter into @p ids: 0, 1 for a bad value, or EC_ENOMEM. */
static int read_ids(const json_t *v, ec_prov_ids_t *ids, ec_arena_t *arena) {
  size_t n = json_is_array(v) ? json_array_size(v) : 1;
  if (json_is_array(v) && n == 0) {
    return 1; /* an empty list names nothing, and is no filter either */
  }
  int64_t *a = ec_arena_alloc(arena, n * sizeof *a);
  if (a == NULL) {
    return EC_ENOMEM;
  }
  if (!json_is_array(v)) {
    if (!read_uint(v, &a[0])) {
      return 1;
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      if (!read_uint(json_array_get(v, i), &a[i])) {
        return 1;
      }
    }
  }
  ids->v = a;
  ids->n = n;
  ids->present = true;
  ids->is_array = json_is_array(v);
  return 0;
}

static bool read_type(const json_t *v, ec_comp_type_t *out) {
  int t;
  int64_t i;
  if (json_is_string(v)) {
    t = ec_comp_type_parse(json_string_value(v), json_string_length(v));
  } else if (read_uint(v, &i)) {
    t = i < EC_COMP_TYPE_COUNT ? (int)i : -1;
  } else {
    t = -1;
  }
  if (t < 0) {
    return false;
  }
  *out = (ec_comp_type_t)t;
  return true;
}

static const char *const *allowed_keys(ec_prov_action_t a) {
  static const char *const sel[] = {
      "action",          "provisioning_component_id",
      "provisioning_id", "component_type",
      "component_id",    "active_status",
      "limit",           NULL};
  static const char *const ins[] = {"action",         "provisioning_id",
                                    "component_type", "component_id",
                                    "active_status",  NULL};
  static const char *const upd[] = {"action",
                                    "provisioning_component_id",
                                    "provisioning_id",
                                    "component_type",
                                    "component_id",
                                    "active_status",
                                    NULL};
  return a == EC_PROV_SELECT ? sel : a == EC_PROV_INSERT ? ins : upd;
}

bool ec__prov_key_allowed(const char *const *allowed, const char *k) {
  for (; *allowed != NULL; allowed++) {
    if (strcmp(*allowed, k) == 0) {
      return true;
    }
  }
  return false;
}

/* INVALID_INPUT_PRAM names the first key outside the action's parameters, in
 * document order (the tree keeps it), upper-cased as the seed's
 * INVALID_PRAM_X. */
static int check_keys(const json_t *t, ec_prov_action_t a,
                      ec_prov_error_t *err) {
  const char *const *allowed = allowed_keys(a);
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)t, k, v) {
    if (ec__prov_key_allowed(allowed, k)) {
      continue;
    }
    return ec__prov_bad_key(err, k);
  }
  return 0;
}

/* Every present value, in a fixed order so that one body always gets one
 * answer: INVALID_<X>_PRAM names the first bad one. */
static int check_values(const json_t *t, ec_prov_request_t *rq,
                        ec_arena_t *arena, ec_prov_error_t *err) {
  const json_t *v;
  int64_t i;
  int rc;
  if ((v = json_object_get(t, "provisioning_component_id")) != NULL &&
      (rc = read_ids(v, &rq->provisioning_component_id, arena)) != 0) {
    /* The seed's update table spells this one without INVALID_ and _PRAM. */
    return rc < 0
               ? ec__prov_fail(err, rc, "INVALID_REQUEST_PRAM", NULL)
               : ec__prov_fail(err, EC_EBADDOC,
                               rq->action == EC_PROV_UPDATE
                                   ? "PROVISIONING_COMPONENT_ID"
                                   : "INVALID_PROVISIONING_COMPONENT_ID_PRAM",
                               NULL);
  }
  if ((v = json_object_get(t, "provisioning_id")) != NULL) {
    if (!read_uint(v, &rq->provisioning_id)) {
      return ec__prov_fail(err, EC_EBADDOC, "INVALID_PROVISIONING_ID_PRAM",
                           NULL);
    }
    rq->has_provisioning_id = true;
  }
  if ((v = json_object_get(t, "component_type")) != NULL) {
    if (!read_type(v, &rq->component_type)) {
      return ec__prov_fail(err, EC_EBADDOC, "INVALID_COMPONENT_TYPE_PRAM",
                           NULL);
    }
    rq->has_component_type = true;
  }
  if ((v = json_object_get(t, "component_id")) != NULL &&
      (rc = read_ids(v, &rq->component_id, arena)) != 0) {
    return rc < 0 ? ec__prov_fail(err, rc, "INVALID_REQUEST_PRAM", NULL)
                  : ec__prov_fail(err, EC_EBADDOC, "INVALID_COMPONENT_ID_PRAM",
                                  NULL);
  }
  if ((v = json_object_get(t, "active_status")) != NULL) {
    if (!read_uint(v, &i) || i > 1) {
      return ec__prov_fail(err, EC_EBADDOC, "INVALID_ACTIVE_STATUS_PRAM", NULL);
    }
    rq->has_active_status = true;
    rq->active_status = (int)i;
  }
  if ((v = json_object_get(t, "limit")) != NULL) {
    if (!read_uint(v, &rq->limit)) {
      return ec__prov_fail(err, EC_EBADDOC, "INVALID_LIMIT_PRAM", NULL);
    }
    rq->has_limit = true;
  }
  return 0;
}

/* The first of the identifying triple that is missing, as a MISSING_ code. */
static const char *missing_triple(const ec_prov_request_t *rq) {
  if (!rq->has_provisioning_id) {
    return "MISSING_PROVISIONING_ID_PRAM";
  }
  if (!rq->has_component_type) {
    return "MISSING_COMPONENT_TYPE_PRAM";
  }
  if (!rq->component_id.present) {
    return "MISSING_COMPONENT_ID_PRAM";
  }
  return NULL;
}

/* The action's required and incompatible parameters. */
static int check_action(const json_t *t, const ec_prov_request_t *rq,
                        ec_prov_error_t *err) {
  const char *missing;
  switch (rq->action) {
  case EC_PROV_SELECT:
    return 0;
  case EC_PROV_INSERT:
    missing = missing_triple(rq);
    return missing ? ec__prov_fail(err, EC_EBADDOC, missing, NULL) : 0;
  case EC_PROV_UPDATE:
    /* Nothing but the action: nothing to change and nothing to change it in. */
    if (json_object_size(t) == 1) {
      return ec__prov_fail(err, EC_EBADDOC, "NO_UPDATED_PRAMS", NULL);
    }
    if (rq->provisioning_component_id.present &&
        (rq->has_provisioning_id || rq->has_component_type ||
         rq->component_id.present)) {
      return ec__prov_fail(err, EC_EBADDOC,
                           "INVALID_INCOMPATABLE_IDENTIFICATION_PARAMS_PRAM",
                           NULL);
    }
    if (!rq->has_active_status) {
      return ec__prov_fail(err, EC_EBADDOC, "MISSING_ACTIVE_STATUS_PRAM", NULL);
    }
    missing = rq->provisioning_component_id.present ? NULL : missing_triple(rq);
    return missing ? ec__prov_fail(err, EC_EBADDOC, missing, NULL) : 0;
  }
  return ec__prov_fail(err, EC_EINVAL, "INVALID_ACTION_PRAM", NULL);
}

int ec_prov_request_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                           ec_prov_request_t *out, ec_arena_t *arena,
                           ec_prov_error_t *err) {
  if (out == NULL || arena == NULL || (buf == NULL && len > 0)) {
    return ec__prov_fail(err, EC_EINVAL, "INVALID_REQUEST_PRAM", NULL);
  }
  json_t *t;
  int rc = ec__prov_parse(fmt, buf, len, &t, err);
  if (rc < 0) {
    return rc;
  }
  size_t mark = arena->used;
  ec_prov_request_t rq;
  memset(&rq, 0, sizeof rq);
  const json_t *a = json_object_get(t, "action");
  int act = -1;
  if (a == NULL) {
    rc = ec__prov_fail(err, EC_EBADDOC, "INVALID_REQUEST_PRAM", NULL);
    goto done;
  }
  for (int i = 0; json_is_string(a) && i < 3; i++) {
    if (ec__ascii_ieq(json_string_value(a), json_string_length(a),
                      action_names[i])) {
      act = i;
    }
  }
  if (act < 0) {
    rc = ec__prov_fail(err, EC_EBADDOC, "INVALID_ACTION_PRAM", NULL);
    goto done;
  }
  rq.action = (ec_prov_action_t)act;
  if ((rc = check_keys(t, rq.action, err)) < 0 ||
      (rc = check_values(t, &rq, arena, err)) < 0 ||
      (rc = check_action(t, &rq, err)) < 0) {
    goto done;
  }
  *out = rq;
done:
  json_decref(t);
  if (rc < 0) {
    arena->used = mark;
  }
  return rc;
}

/* ---- encoding helpers ---------------------------------------------------- */

/* An INT | ARRAY parameter as it was given, or always as an array. */
static int set_ids(json_t *o, const char *k, const ec_prov_ids_t *ids,
                   bool force_array) {
  if (ids->n == 0 || ids->v == NULL) {
    return EC_EINVAL;
  }
  if (!ids->is_array && !force_array) {
    return ec__set_int(o, k, ids->v[0]);
  }
  json_t *a = json_array();
  int rc = ec__set_new(o, k, a);
  for (size_t i = 0; rc == 0 && i < ids->n; i++) {
    rc = json_array_append_new(a, json_integer(ids->v[i])) ? EC_ENOMEM : 0;
  }
  return rc;
}

static int set_type(json_t *o, const char *k, ec_comp_type_t t) {
  const char *name = ec_comp_type_name(t);
  return name ? ec__set_str(o, k, name) : EC_EINVAL;
}

static int set_datetime(json_t *o, const char *k, int64_t s) {
  char dt[20];
  if (ec_prov_datetime_format(s, dt) < 0) {
    return EC_EINVAL;
  }
  return ec__set_str(o, k, dt);
}

ssize_t ec_prov_request_encode(ec_format_t fmt, const ec_prov_request_t *rq,
                               uint8_t *buf, size_t cap) {
  int rc = ec__encode_args(fmt, rq, 1, buf, cap);
  if (rc < 0) {
    return rc;
  }
  if ((unsigned)rq->action > EC_PROV_UPDATE) {
    return EC_EINVAL;
  }
  json_t *t = json_object();
  if (t == NULL) {
    return EC_ENOMEM;
  }
  rc = ec__set_str(t, "action", action_names[rq->action]);
  if (rc == 0 && rq->provisioning_component_id.present) {
    rc = set_ids(t, "provisioning_component_id", &rq->provisioning_component_id,
                 false);
  }
  if (rc == 0 && rq->has_provisioning_id) {
    rc = ec__set_int(t, "provisioning_id", rq->provisioning_id);
  }
  if (rc == 0 && rq->has_component_type) {
    rc = set_type(t, "component_type", rq->component_type);
  }
  if (rc == 0 && rq->component_id.present) {
    rc = set_ids(t, "component_id", &rq->component_id, false);
  }
  if (rc == 0 && rq->has_active_status) {
    rc = ec__set_int(t, "active_status", rq->active_status);
  }
  if (rc == 0 && rq->has_limit) {
    rc = ec__set_int(t, "limit", rq->limit);
  }
  return ec__encode_finish(fmt, t, rc, buf, cap);
}

/* ---- select answers ------------------------------------------------------ */

static int row_to_tree(json_t *o, const ec_prov_component_t *r) {
  int rc;
  if ((rc = ec__set_int(o, "provisioning_component_id",
                        r->provisioning_component_id)) < 0 ||
      (rc = ec__set_int(o, "provisioning_id", r->provisioning_id)) < 0 ||
      (rc = set_type(o, "component_type", r->component_type)) < 0 ||
      (rc = ec__set_int(o, "component_id", r->component_id)) < 0 ||
      (rc = ec__set_str(o, "name", r->name)) < 0 ||
      (rc = ec__set_int(o, "active_status", r->active_status)) < 0 ||
      (rc = ec__set_int(o, "last_modified_by", r->last_modified_by)) < 0) {
    return rc;
  }
  return set_datetime(o, "last_modified_datetime", r->last_modified_s);
}

ssize_t ec_prov_select_encode(ec_format_t fmt, const ec_prov_component_t *rows,
                              size_t n, uint8_t *buf, size_t cap) {
  int rc = ec__encode_args(fmt, rows, n, buf, cap);
  if (rc < 0) {
    return rc;
  }
  json_t *all = json_object();
  json_t *t = ec__envelope("responses", all);
  if (t == NULL) {
    return EC_ENOMEM;
  }
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char key[32];
    snprintf(key, sizeof key, "response_%zu", i);
    json_t *o = json_object();
    if ((rc = ec__set_new(all, key, o)) == 0) {
      rc = row_to_tree(o, &rows[i]);
    }
  }
  return ec__encode_finish(fmt, t, rc, buf, cap);
}

/* ---- reading answers (client side) --------------------------------------- */

/*
 * A client reads what a server sends, so unknown members are skipped (a newer
 * server may add some) and integers written as digit strings, as the seed's
 * examples do, are taken too.
 */
int ec__prov_need_uint(const json_t *o, const char *k, int64_t *out,
                       ec_prov_error_t *err) {
  const json_t *v = json_object_get(o, k);
  if (v == NULL || !read_uint(v, out)) {
    return ec__prov_fail(err, EC_EBADDOC, "INVALID_RESPONSE", "%s", k);
  }
  return 0;
}

int ec__prov_need_str(const json_t *o, const char *k, const char **out,
                      ec_arena_t *arena, ec_prov_error_t *err) {
  const json_t *v = json_object_get(o, k);
  if (!json_is_string(v)) {
    return ec__prov_fail(err, EC_EBADDOC, "INVALID_RESPONSE", "%s", k);
  }
  *out = ec_arena_strndup(arena, json_string_value(v), json_string_length(v));
  return *out ? 0 : ec__prov_fail(err, EC_ENOMEM, "INVALID_RESPONSE", "%s", k);
}

static int need_type(const json_t *o, const char *k, ec_comp_type_t *out,
                     ec_prov_error_t *err) {
  const json_t *v = json_object_get(o, k);
  return v != NULL && read_type(v, out)
             ? 0
             : ec__prov_fail(err, EC_EBADDOC, "INVALID_RESPONSE", "%s", k);
}

static int need_datetime(const json_t *o, const char *k, int64_t *out,
                         ec_prov_error_t *err) {
  const json_t *v = json_object_get(o, k);
  if (!json_is_string(v) ||
      ec_prov_datetime_parse(json_string_value(v), json_string_length(v), out) <
          0) {
    return ec__prov_fail(err, EC_EBADDOC, "INVALID_RESPONSE", "%s", k);
  }
  return 0;
}

/* The N of "response_N", or -1 when the key is not of that form. */
static long response_index(const char *k) {
  static const char prefix[] = "response_";
  if (strncmp(k, prefix, sizeof prefix - 1) != 0) {
    return -1;
  }
  const char *p = k + sizeof prefix - 1;
  long n = 0;
  if (*p == '\0' || strlen(p) > 9) {
    return -1;
  }
  for (; *p != '\0'; p++) {
    if (*p < '0' || *p > '9') {
      return -1;
    }
    n = n * 10 + (*p - '0');
  }
  return n;
}

static int row_from_tree(const json_t *o, ec_prov_component_t *r,
                         ec_arena_t *arena, ec_prov_error_t *err) {
  int64_t st;
  int rc;
  if (!json_is_object(o)) {
    return ec__prov_fail(err, EC_EBADDOC, "INVALID_RESPONSE", "responses");
  }
  if ((rc = ec__prov_need_uint(o, "provisioning_component_id",
                               &r->provisioning_component_id, err)) < 0 ||
      (rc = ec__prov_need_uint(o, "provisioning_id", &r->provisioning_id,
                               err)) < 0 ||
      (rc = need_type(o, "component_type", &r->component_type, err)) < 0 ||
      (rc = ec__prov_need_uint(o, "component_id", &r->component_id, err)) < 0 ||
      (rc = ec__prov_need_str(o, "name", &r->name, arena, err)) < 0 ||
      (rc = ec__prov_need_uint(o, "active_status", &st, err)) < 0 ||
      (rc = ec__prov_need_uint(o, "last_modified_by", &r->last_modified_by,
                               err)) < 0 ||
      (rc = need_datetime(o, "last_modified_datetime", &r->last_modified_s,
                          err)) < 0) {
    return rc;
  }
  r->active_status = (int)(st > 1 ? 1 : st);
  return 0;
}

int ec_prov_select_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                          ec_prov_component_t **rows, size_t *n,
                          ec_arena_t *arena, ec_prov_error_t *err) {
  if (rows == NULL || n == NULL || arena == NULL || (buf == NULL && len > 0)) {
    return ec__prov_fail(err, EC_EINVAL, "INVALID_RESPONSE", NULL);
  }
  json_t *t;
  int rc = ec__prov_parse(fmt, buf, len, &t, err);
  if (rc < 0) {
    return rc;
  }
  size_t mark = arena->used;
  const json_t *all = json_object_get(t, "responses");
  size_t count = json_object_size(all);
  ec_prov_component_t *r = NULL;
  if (!json_is_object(all)) {
    rc = ec__prov_fail(err, EC_EBADDOC, "INVALID_RESPONSE", "responses");
  } else if (count > 0 &&
             (r = ec_arena_alloc(arena, count * sizeof *r)) == NULL) {
    rc = ec__prov_fail(err, EC_ENOMEM, "INVALID_RESPONSE", NULL);
  }
  /* Rows go to the slot their N names, so the key order of the map does not
   * matter; every N from 0 to count-1 must be there exactly once. */
  bool *seen = count > 0 && rc == 0 ? calloc(count, sizeof *seen) : NULL;
  if (count > 0 && rc == 0 && seen == NULL) {
    rc = ec__prov_fail(err, EC_ENOMEM, "INVALID_RESPONSE", NULL);
  }
  const char *k;
  json_t *v;
  if (rc == 0) {
    json_object_foreach((json_t *)all, k, v) {
      long i = response_index(k);
      if (i < 0 || (size_t)i >= count || seen[i]) {
        rc = ec__prov_fail(err, EC_EBADDOC, "INVALID_RESPONSE", "%s", k);
        break;
      }
      seen[i] = true;
      if ((rc = row_from_tree(v, &r[i], arena, err)) < 0) {
        break;
      }
    }
  }
  free(seen);
  json_decref(t);
  if (rc < 0) {
    arena->used = mark;
    return rc;
  }
  *rows = r;
  *n = count;
  return 0;
}

/* ---- insert and update answers ------------------------------------------- */

ssize_t ec_prov_result_encode(ec_format_t fmt, const ec_prov_result_t *r,
                              uint8_t *buf, size_t cap) {
  int rc = ec__encode_args(fmt, r, 1, buf, cap);
  if (rc < 0) {
    return rc;
  }
  if (r->action != EC_PROV_INSERT && r->action != EC_PROV_UPDATE) {
    return EC_EINVAL;
  }
  json_t *t = json_object();
  if (t == NULL) {
    return EC_ENOMEM;
  }
  if (r->action == EC_PROV_UPDATE && r->by_pc_id) {
    rc = set_ids(t, "provisioning_component_id", &r->provisioning_component_id,
                 true);
  } else if ((rc = ec__set_int(t, "provisioning_id", r->provisioning_id)) ==
                 0 &&
             (rc = set_type(t, "component_type", r->component_type)) == 0) {
    rc = set_ids(t, "component_id", &r->component_id, true);
  }
  if (rc == 0) {
    rc = ec__set_int(t, "active_status", r->active_status);
  }
  if (rc == 0 && r->action == EC_PROV_INSERT &&
      (rc = ec__set_int(t, "last_modified_by", r->last_modified_by)) == 0) {
    rc = set_datetime(t, "last_modified_datetime", r->last_modified_s);
  }
  if (rc == 0) {
    rc = ec__set_str(t, "error", "NO_ERROR");
  }
  return ec__encode_finish(fmt, t, rc, buf, cap);
}

/* An array of ids as an answer writes them (or one id, leniently). */
static int need_ids(const json_t *o, const char *k, ec_prov_ids_t *ids,
                    ec_arena_t *arena, ec_prov_error_t *err) {
  const json_t *v = json_object_get(o, k);
  int rc = v != NULL ? read_ids(v, ids, arena) : 1;
  if (rc == EC_ENOMEM) {
    return ec__prov_fail(err, EC_ENOMEM, "INVALID_RESPONSE", NULL);
  }
  return rc ? ec__prov_fail(err, EC_EBADDOC, "INVALID_RESPONSE", "%s", k) : 0;
}

int ec_prov_result_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                          ec_prov_result_t *out, ec_arena_t *arena,
                          ec_prov_error_t *err) {
  if (out == NULL || arena == NULL || (buf == NULL && len > 0)) {
    return ec__prov_fail(err, EC_EINVAL, "INVALID_RESPONSE", NULL);
  }
  json_t *t;
  int rc = ec__prov_parse(fmt, buf, len, &t, err);
  if (rc < 0) {
    return rc;
  }
  size_t mark = arena->used;
  ec_prov_result_t r;
  memset(&r, 0, sizeof r);
  int64_t st;
  const json_t *e = json_object_get(t, "error");
  r.action =
      json_object_get(t, "last_modified_by") ? EC_PROV_INSERT : EC_PROV_UPDATE;
  /* Only an update may name its rows by provisioning_component_id; an
   * insert answer always carries the triple. */
  r.by_pc_id = r.action == EC_PROV_UPDATE &&
               json_object_get(t, "provisioning_component_id") != NULL;
  if (!json_is_string(e) || strcmp(json_string_value(e), "NO_ERROR") != 0) {
    rc = ec__prov_fail(err, EC_EBADDOC, "INVALID_RESPONSE", "error");
  } else if (r.by_pc_id) {
    rc = need_ids(t, "provisioning_component_id", &r.provisioning_component_id,
                  arena, err);
  } else if ((rc = ec__prov_need_uint(t, "provisioning_id", &r.provisioning_id,
                                      err)) == 0 &&
             (rc = need_type(t, "component_type", &r.component_type, err)) ==
                 0) {
    rc = need_ids(t, "component_id", &r.component_id, arena, err);
  }
  if (rc == 0 && (rc = ec__prov_need_uint(t, "active_status", &st, err)) == 0) {
    r.active_status = (int)(st > 1 ? 1 : st);
  }
  if (rc == 0 && r.action == EC_PROV_INSERT &&
      (rc = ec__prov_need_uint(t, "last_modified_by", &r.last_modified_by,
                               err)) == 0) {
    rc = need_datetime(t, "last_modified_datetime", &r.last_modified_s, err);
  }
  json_decref(t);
  if (rc < 0) {
    arena->used = mark;
    return rc;
  }
  *out = r;
  return 0;
}

/* ---- error documents ----------------------------------------------------- */

ssize_t ec_prov_error_encode(ec_format_t fmt, const char *status,
                             const char *error, const char *detail,
                             const int64_t *ids, size_t n_ids, uint8_t *buf,
                             size_t cap) {
  int rc = ec__encode_args(fmt, error, 1, buf, cap);
  if (rc < 0) {
    return rc;
  }
  json_t *t = json_object();
  if (t == NULL) {
    return EC_ENOMEM;
  }
  if (status != NULL) {
    rc = ec__set_str(t, "status", status);
  }
  if (rc == 0) {
    rc = ec__set_str(t, "error", error);
  }
  if (rc == 0 && ids != NULL) {
    ec_prov_ids_t list = {ids, n_ids, true, true};
    /* An empty list still says "these ids", so it is written as []. */
    rc = n_ids > 0 ? set_ids(t, "error_detail", &list, true)
                   : ec__set_new(t, "error_detail", json_array());
  } else if (rc == 0 && detail != NULL && *detail != '\0') {
    rc = ec__set_str(t, "error_detail", detail);
  }
  return ec__encode_finish(fmt, t, rc, buf, cap);
}

static int opt_str(const json_t *o, const char *k, const char **out,
                   ec_arena_t *arena) {
  const json_t *v = json_object_get(o, k);
  if (!json_is_string(v)) {
    return 0;
  }
  *out = ec_arena_strndup(arena, json_string_value(v), json_string_length(v));
  return *out ? 0 : EC_ENOMEM;
}

int ec_prov_error_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                         ec_prov_error_doc_t *out, ec_arena_t *arena) {
  if (out == NULL || arena == NULL || (buf == NULL && len > 0)) {
    return EC_EINVAL;
  }
  json_t *t;
  int rc = ec__prov_parse(fmt, buf, len, &t, NULL);
  if (rc < 0) {
    return rc;
  }
  size_t mark = arena->used;
  ec_prov_error_doc_t d;
  memset(&d, 0, sizeof d);
  const json_t *detail = json_object_get(t, "error_detail");
  if ((rc = opt_str(t, "status", &d.status, arena)) == 0 &&
      (rc = opt_str(t, "error", &d.error, arena)) == 0 &&
      (rc = opt_str(t, "error_detail", &d.detail, arena)) == 0 &&
      json_is_array(detail)) {
    size_t n = json_array_size(detail);
    int64_t *ids = ec_arena_alloc(arena, (n ? n : 1) * sizeof *ids);
    rc = ids == NULL ? EC_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
      if (!read_uint(json_array_get(detail, i), &ids[i])) {
        rc = EC_EBADDOC;
      }
    }
    d.ids = ids;
    d.n_ids = n;
  }
  if (rc == 0 && d.error == NULL) {
    rc = EC_EBADDOC;
  }
  json_decref(t);
  if (rc < 0) {
    arena->used = mark;
    return rc;
  }
  *out = d;
  return 0;
}
