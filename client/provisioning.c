/* edgecoap: the client library calls for device provisioning. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "edgecoap/client.h"
#include "edgecoap/device.h"

/* Built on ec_client_request() and ec_client_observe(); the token travels
 * in option 65000, which ec_client_set_auth_token() puts on every request. */

#define PATH_LOGIN "/v1/Login"
#define PATH_COMPONENTS "/v1/DeviceProvisioningComponents"

/* Encode with @p encode into a malloc'd buffer: *out and its length. */
typedef ssize_t (*encode_fn)(ec_format_t fmt, const void *doc, uint8_t *buf,
                             size_t cap);

/* A login or logout body in CBOR is the device core's (the codec's bytes,
 * tests/test_device_codec.c), the one a device sends; in JSON the
 * codec's. */
static ssize_t encode_login(ec_format_t fmt, const void *doc, uint8_t *buf,
                            size_t cap) {
  const ec_login_request_t *rq = doc;
  if (fmt == EC_FORMAT_CBOR)
    return ec_dev_login_encode(rq->username, rq->password, rq->token, buf,
                               cap);
  return ec_login_request_encode(fmt, doc, buf, cap);
}

/* A request body in CBOR is the device core's (the codec's bytes,
 * tests/test_device_codec.c); in JSON the codec's. */
static ssize_t encode_request(ec_format_t fmt, const void *doc, uint8_t *buf,
                              size_t cap) {
  const ec_prov_request_t *rq = doc;
  if (fmt != EC_FORMAT_CBOR) {
    return ec_prov_request_encode(fmt, doc, buf, cap);
  }
  const ec_prov_ids_t *p = &rq->provisioning_component_id;
  const ec_prov_ids_t *c = &rq->component_id;
  ec_dev_prov_req_t d = {(int)rq->action,
                         {p->v, p->n, p->present, p->is_array},
                         rq->has_provisioning_id,
                         rq->provisioning_id,
                         rq->has_component_type,
                         (int)rq->component_type,
                         {c->v, c->n, c->present, c->is_array},
                         rq->has_active_status,
                         rq->active_status,
                         rq->has_limit,
                         rq->limit};
  return ec_dev_prov_request_encode(&d, buf, cap);
}

static ssize_t encode_alloc(encode_fn encode, ec_format_t fmt, const void *doc,
                            uint8_t **out) {
  ssize_t n = encode(fmt, doc, NULL, 0);
  *out = NULL;
  if (n < 0)
    return n;
  uint8_t *buf = malloc((size_t)n + 1);
  if (buf == NULL)
    return EC_ENOMEM;
  ssize_t m = encode(fmt, doc, buf, (size_t)n + 1);
  if (m != n) {
    free(buf);
    return m < 0 ? m : EC_EINVAL;
  }
  *out = buf;
  return n;
}

/* POST a document; keep the answer in *r (and *resp) and map its code. */
static int post(ec_client_t *c, const char *path, ec_format_t fmt,
                encode_fn encode, const void *doc, ec_response_t *r,
                ec_response_t *resp) {
  int f = ec_client_body_format(fmt);
  if (f < 0)
    return f;
  uint8_t *body;
  ssize_t n = encode_alloc(encode, (ec_format_t)f, doc, &body);
  if (n < 0)
    return (int)n;
  int rc = ec_client_request(c, "POST", path, f, body, (size_t)n, r);
  free(body);
  if (rc < 0)
    return rc;
  if (resp)
    *resp = *r;
  return ec_client_code_error(r->code);
}

int ec_client_use_token(ec_client_t *c, const char *token_hex) {
  uint8_t raw[EC_PROV_TOKEN_BYTES];
  if (c == NULL || token_hex == NULL ||
      strlen(token_hex) != EC_PROV_TOKEN_HEX ||
      ec_prov_token_read((const uint8_t *)token_hex, EC_PROV_TOKEN_HEX, raw) <
          0)
    return EC_EINVAL;
  /* The raw 32 bytes, not the 64 hex digits: half the option on every
   * request of a constrained device. */
  int rc = ec_client_set_auth_token(c, raw, sizeof(raw));
  memset(raw, 0, sizeof(raw));
  return rc;
}

int ec_client_login(ec_client_t *c, ec_format_t fmt, const char *username,
                    const char *password, ec_login_response_t *out,
                    ec_arena_t *arena, ec_response_t *resp) {
  if (c == NULL || username == NULL || password == NULL ||
      (out != NULL && arena == NULL))
    return EC_EINVAL;
  ec_login_request_t rq = {username, password, NULL};
  ec_response_t r;
  int rc = post(c, PATH_LOGIN, fmt, encode_login, &rq, &r, resp);
  if (rc < 0)
    return rc;
  /* The token is needed whether or not the caller wants the document. */
  uint8_t mem[2048];
  ec_arena_t scratch;
  ec_login_response_t lr;
  ec_arena_init(&scratch, mem, sizeof(mem));
  int fmt_in = ec_client_answer_format(&r);
  if (fmt_in < 0)
    return EC_EPROTO;
  ec_arena_t *a = arena != NULL ? arena : &scratch;
  /* CBOR through the device core's decoder, JSON through the codec. */
  rc = fmt_in == EC_FORMAT_CBOR
           ? ec__client_login_cbor(r.body, r.body_len, &lr, a)
           : ec_login_response_decode((ec_format_t)fmt_in, r.body, r.body_len,
                                      &lr, a, NULL);
  if (rc < 0)
    return ec_client_decode_error(rc);
  if (lr.token == NULL || (rc = ec_client_use_token(c, lr.token)) < 0)
    return EC_EPROTO;
  if (out != NULL)
    *out = lr;
  return 0;
}

int ec_client_logout(ec_client_t *c, ec_format_t fmt, const char *token_hex,
                     ec_response_t *resp) {
  if (c == NULL || token_hex == NULL)
    return EC_EINVAL;
  ec_login_request_t rq = {NULL, NULL, token_hex};
  ec_response_t r;
  int rc = post(c, PATH_LOGIN, fmt, encode_login, &rq, &r, resp);
  if (rc >= 0 || rc == EC_ERESPONSE)
    ec_client_set_auth_token(c, NULL, 0);
  return rc == EC_ENOTFOUND ? EC_ERESPONSE : rc;
}

int ec_client_prov_select(ec_client_t *c, ec_format_t fmt,
                          const ec_prov_request_t *filter,
                          ec_prov_component_t **rows, size_t *n,
                          ec_arena_t *arena, ec_response_t *resp) {
  if (c == NULL || rows == NULL || n == NULL || arena == NULL)
    return EC_EINVAL;
  ec_response_t r;
  int rc;
  if (filter == NULL) {
    rc = ec_client_request(c, "GET", PATH_COMPONENTS, -1, NULL, 0, &r);
    if (rc == 0 && resp)
      *resp = r;
    rc = rc < 0 ? rc : ec_client_code_error(r.code);
  } else {
    ec_prov_request_t f = *filter;
    f.action = EC_PROV_SELECT;
    rc = post(c, PATH_COMPONENTS, fmt, encode_request, &f, &r, resp);
  }
  if (rc < 0)
    return rc;
  int fmt_in = ec_client_answer_format(&r);
  if (fmt_in < 0)
    return EC_EPROTO;
  rc = fmt_in == EC_FORMAT_CBOR
           ? ec__client_prov_rows_cbor(r.body, r.body_len, rows, n, arena)
           : ec_prov_select_decode((ec_format_t)fmt_in, r.body, r.body_len,
                                   rows, n, arena, NULL);
  return rc < 0 ? ec_client_decode_error(rc) : 0;
}

static int write_call(ec_client_t *c, ec_format_t fmt,
                      const ec_prov_request_t *rq, ec_prov_action_t action,
                      ec_prov_result_t *out, ec_arena_t *arena,
                      ec_response_t *resp) {
  if (c == NULL || rq == NULL || (out != NULL && arena == NULL))
    return EC_EINVAL;
  ec_prov_request_t w = *rq;
  w.action = action;
  ec_response_t r;
  int rc = post(c, PATH_COMPONENTS, fmt, encode_request, &w, &r, resp);
  if (rc < 0)
    return rc == EC_ENOTFOUND ? EC_ERESPONSE : rc;
  if (out == NULL)
    return 0;
  int fmt_in = ec_client_answer_format(&r);
  if (fmt_in < 0)
    return EC_EPROTO;
  rc = fmt_in == EC_FORMAT_CBOR
           ? ec__client_prov_result_cbor(r.body, r.body_len, out, arena)
           : ec_prov_result_decode((ec_format_t)fmt_in, r.body, r.body_len,
                                   out, arena, NULL);
  return rc < 0 ? ec_client_decode_error(rc) : 0;
}

int ec_client_prov_insert(ec_client_t *c, ec_format_t fmt,
                          const ec_prov_request_t *rq, ec_prov_result_t *out,
                          ec_arena_t *arena, ec_response_t *resp) {
  return write_call(c, fmt, rq, EC_PROV_INSERT, out, arena, resp);
}

int ec_client_prov_update(ec_client_t *c, ec_format_t fmt,
                          const ec_prov_request_t *rq, ec_prov_result_t *out,
                          ec_arena_t *arena, ec_response_t *resp) {
  return write_call(c, fmt, rq, EC_PROV_UPDATE, out, arena, resp);
}

int ec_client_prov_error(const ec_response_t *r, ec_prov_error_doc_t *out,
                         ec_arena_t *arena) {
  if (r == NULL || out == NULL || arena == NULL)
    return EC_EINVAL;
  int fmt = ec_client_answer_format(r);
  if (fmt < 0)
    return EC_EPROTO;
  int rc = fmt == EC_FORMAT_CBOR
               ? ec__client_prov_error_cbor(r->body, r->body_len, out, arena)
               : ec_prov_error_decode((ec_format_t)fmt, r->body, r->body_len,
                                      out, arena);
  return rc < 0 ? ec_client_decode_error(rc) : 0;
}

int ec_client_prov_observe(ec_client_t *c, int64_t provisioning_id,
                           ec_observe_cb cb, void *ud, unsigned max_ms) {
  char path[96];
  if (provisioning_id >= 0)
    snprintf(path, sizeof(path), PATH_COMPONENTS "?provisioning_id=%" PRId64,
             provisioning_id);
  else
    snprintf(path, sizeof(path), PATH_COMPONENTS);
  return ec_client_observe(c, path, cb, ud, max_ms);
}
