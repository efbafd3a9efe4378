/* edgecoap codec: device provisioning login documents and tokens. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "provisioning_internal.h"

/* ---- login --------------------------------------------------------------- */

static int login_str(const json_t *t, const char *k, const char **out,
                     ec_arena_t *arena, ec_prov_error_t *err) {
  const json_t *v = json_object_get(t, k);
  if (v == NULL) {
    return 0;
  }
  if (!json_is_string(v) || json_string_length(v) == 0) {
    return ec__prov_fail(err, EC_EBADDOC, "INVALID_REQUEST_PRAM", NULL);
  }
  *out = ec_arena_strndup(arena, json_string_value(v), json_string_length(v));
  return *out ? 0 : ec__prov_fail(err, EC_ENOMEM, "INVALID_REQUEST_PRAM", NULL);
}

int ec_login_request_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                            ec_login_request_t *out, ec_arena_t *arena,
                            ec_prov_error_t *err) {
  static const char *const keys[] = {"username", "password", "token", NULL};
  if (out == NULL || arena == NULL || (buf == NULL && len > 0)) {
    return ec__prov_fail(err, EC_EINVAL, "INVALID_REQUEST_PRAM", NULL);
  }
  json_t *t;
  int rc = ec__prov_parse(fmt, buf, len, &t, err);
  if (rc < 0) {
    return rc;
  }
  size_t mark = arena->used;
  ec_login_request_t rq = {NULL, NULL, NULL};
  const char *k;
  json_t *v;
  json_object_foreach(t, k, v) {
    if (!ec__prov_key_allowed(keys, k)) {
      rc = ec__prov_bad_key(err, k);
      goto done;
    }
  }
  if ((rc = login_str(t, "username", &rq.username, arena, err)) < 0 ||
      (rc = login_str(t, "password", &rq.password, arena, err)) < 0 ||
      (rc = login_str(t, "token", &rq.token, arena, err)) < 0) {
    goto done;
  }
  bool login = rq.username != NULL && rq.password != NULL;
  bool logout = rq.token != NULL && rq.username == NULL && rq.password == NULL;
  if (!login && !logout) {
    rc = ec__prov_fail(err, EC_EBADDOC, "INVALID_REQUEST_PRAM", NULL);
    goto done;
  }
  if (login && rq.token != NULL) {
    rc = ec__prov_fail(err, EC_EBADDOC, "INVALID_REQUEST_PRAM", NULL);
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

ssize_t ec_login_request_encode(ec_format_t fmt, const ec_login_request_t *rq,
                                uint8_t *buf, size_t cap) {
  int rc = ec__encode_args(fmt, rq, 1, buf, cap);
  if (rc < 0) {
    return rc;
  }
  json_t *t = json_object();
  if (t == NULL) {
    return EC_ENOMEM;
  }
  if (rq->token != NULL) {
    rc = ec__set_str(t, "token", rq->token);
  } else if ((rc = ec__set_str(t, "username", rq->username)) == 0) {
    rc = ec__set_str(t, "password", rq->password);
  }
  return ec__encode_finish(fmt, t, rc, buf, cap);
}

ssize_t ec_login_response_encode(ec_format_t fmt, const ec_login_response_t *r,
                                 uint8_t *buf, size_t cap) {
  int rc = ec__encode_args(fmt, r, 1, buf, cap);
  if (rc < 0) {
    return rc;
  }
  json_t *t = json_object();
  if (t == NULL) {
    return EC_ENOMEM;
  }
  if (r->token != NULL &&
      ((rc = ec__set_str(t, "token", r->token)) < 0 ||
       (rc = ec__set_int(t, "userid", r->userid)) < 0 ||
       (rc = ec__set_str(t, "userrole", r->userrole)) < 0 ||
       (rc = ec__set_str(t, "username", r->username)) < 0)) {
    return ec__encode_finish(fmt, t, rc, buf, cap);
  }
  if ((rc = ec__set_str(t, "status", r->status)) == 0) {
    rc = ec__set_str(t, "error", r->error);
  }
  return ec__encode_finish(fmt, t, rc, buf, cap);
}

int ec_login_response_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                             ec_login_response_t *out, ec_arena_t *arena,
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
  ec_login_response_t r;
  memset(&r, 0, sizeof r);
  if ((rc = ec__prov_need_str(t, "status", &r.status, arena, err)) == 0 &&
      (rc = ec__prov_need_str(t, "error", &r.error, arena, err)) == 0 &&
      json_object_get(t, "token") != NULL &&
      (rc = ec__prov_need_str(t, "token", &r.token, arena, err)) == 0 &&
      (rc = ec__prov_need_uint(t, "userid", &r.userid, err)) == 0 &&
      (rc = ec__prov_need_str(t, "userrole", &r.userrole, arena, err)) == 0) {
    rc = ec__prov_need_str(t, "username", &r.username, arena, err);
  }
  json_decref(t);
  if (rc < 0) {
    arena->used = mark;
    return rc;
  }
  *out = r;
  return 0;
}

/* ---- tokens -------------------------------------------------------------- */

int ec_prov_token_read(const uint8_t *v, size_t len,
                       uint8_t out[EC_PROV_TOKEN_BYTES]) {
  if (v == NULL || out == NULL) {
    return EC_EINVAL;
  }
  if (len == EC_PROV_TOKEN_BYTES) {
    memcpy(out, v, EC_PROV_TOKEN_BYTES);
    return 0;
  }
  if (len != EC_PROV_TOKEN_HEX) {
    return EC_EBADDOC;
  }
  uint8_t tmp[EC_PROV_TOKEN_BYTES];
  for (size_t i = 0; i < EC_PROV_TOKEN_BYTES; i++) {
    int hi = ec__hex_digit(v[2 * i]);
    int lo = ec__hex_digit(v[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return EC_EBADDOC;
    }
    tmp[i] = (uint8_t)(hi << 4 | lo);
  }
  memcpy(out, tmp, sizeof tmp);
  return 0;
}

void ec_prov_token_hex(const uint8_t raw[EC_PROV_TOKEN_BYTES],
                       char out[EC_PROV_TOKEN_HEX + 1]) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < EC_PROV_TOKEN_BYTES; i++) {
    out[2 * i] = hex[raw[i] >> 4];
    out[2 * i + 1] = hex[raw[i] & 15];
  }
  out[EC_PROV_TOKEN_HEX] = '\0';
}
