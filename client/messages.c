/* edgecoap: the client library's calls for ON-API status messages (post, list,
 * fetch, sync, observe). */
/* SPDX-License-Identifier: Apache-2.0 */
#define _GNU_SOURCE /* memmem */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "edgecoap/client.h"
#include "edgecoap/device.h"

/* Built on ec_client_request() and ec_client_observe(), so this file needs
 * nothing of the client's internals. */

#define COLLECTION "/api/2.3/statusmessages"
/* The path plus a query of every filter at its longest. */
#define MAX_PATH 768

/* Send, keep the answer in *out (and *resp), map its code. */
static int call(ec_client_t *c, const char *method, const char *path, int fmt,
                const uint8_t *body, size_t len, ec_response_t *out,
                ec_response_t *resp) {
  int rc = ec_client_request(c, method, path, fmt, body, len, out);
  if (rc < 0)
    return rc;
  if (resp)
    *resp = *out;
  return ec_client_code_error(out->code);
}

/* Decode a list answer (or, for a POST of one, a single message). */
static int decode_list(const ec_response_t *r, ec_status_message_t **msgs,
                       size_t *n, ec_arena_t *arena) {
  int fmt = ec_client_answer_format(r);
  if (fmt < 0)
    return EC_EPROTO;
  /* CBOR through the device core's decoders, JSON through the codec. */
  int rc = fmt == EC_FORMAT_CBOR
               ? ec__client_msgs_cbor(r->body, r->body_len, msgs, n, arena)
               : ec_status_messages_decode((ec_format_t)fmt, r->body,
                                           r->body_len, EC_MSG_STORED, msgs, n,
                                           NULL, arena, NULL);
  return rc < 0 ? ec_client_decode_error(rc) : 0;
}

/* "/api/2.3/statusmessages[/latest]?<filters>", without the limit for
 * latest. */
static int filter_path(char *out, size_t cap, const char *tail,
                       const ec_msg_filter_t *f) {
  int n = snprintf(out, cap, COLLECTION "%s", tail);
  if (n < 0 || (size_t)n >= cap)
    return EC_EINVAL;
  if (f == NULL)
    return 0;
  ec_msg_filter_t g = *f;
  if (*tail != '\0')
    g.limit = 0;
  out[n] = '?';
  ssize_t q = ec_msg_filter_query(&g, out + n + 1, cap - (size_t)n - 1);
  if (q < 0)
    return q == EC_ENOSPC ? EC_EINVAL : (int)q;
  if (q == 0)
    out[n] = '\0'; /* no filter: no '?' */
  return 0;
}

/*
 * Messages to post as CBOR from the device core's encoder
 * (ec_dev_msgs_encode(), the server codec's bytes): the same CBOR a device
 * sends. The core's messages borrow the strings; they and their parameters
 * are malloc'd here.
 */
static ssize_t encode_cbor(const ec_status_message_t *msgs, size_t n,
                           bool batch, uint8_t **out) {
  size_t n_params = 0;
  for (size_t i = 0; i < n; i++)
    n_params += msgs[i].n_params;
  ec_dev_msg_new_t *dm = calloc(n, sizeof *dm);
  ec_dev_msg_param_t *params = calloc(n_params ? n_params : 1, sizeof *params);
  ssize_t len = EC_ENOMEM;
  *out = NULL;
  if (dm == NULL || params == NULL)
    goto done;
  ec_dev_msg_param_t *p = params;
  for (size_t i = 0; i < n; i++) {
    const ec_status_message_t *m = &msgs[i];
    const ec_dhcp_option_t *o = &m->dhcp;
    dm[i] = (ec_dev_msg_new_t){m->code, m->has_date, m->date_ms, m->order_id,
                               m->subscription_id, m->access_id, p,
                               m->n_params, m->macs, m->n_macs,
                               {o->present, o->has_ipv4, o->has_option82,
                                o->has_ipv6, o->has_option18, o->has_option37,
                                o->option82_remote_id, o->option82_circuit_id,
                                o->option18_interface_id,
                                o->option37_remote_id}};
    if (m->params == NULL)
      dm[i].params = NULL; /* refused by the encoder when n_params > 0 */
    for (size_t j = 0; m->params != NULL && j < m->n_params; j++)
      *p++ = (ec_dev_msg_param_t){m->params[j].key, m->params[j].value};
  }
  int need = ec_dev_msgs_encode(dm, n, batch, NULL, 0);
  len = need;
  if (need >= 0) {
    *out = malloc(need > 0 ? (size_t)need : 1);
    len = *out == NULL ? EC_ENOMEM
                       : ec_dev_msgs_encode(dm, n, batch, *out, (size_t)need);
  }
done:
  free(dm);
  free(params);
  if (len < 0) {
    free(*out);
    *out = NULL;
  }
  return len;
}

/* Messages to post as JSON from the codec: JSON bodies are sent as JSON.
 * The server assigns IDs and refuses any sent: copies are written
 * without. */
static ssize_t encode_json(const ec_status_message_t *msgs, size_t n,
                           bool batch, uint8_t **out) {
  ec_status_message_t *copy = malloc(n * sizeof(*copy));
  ssize_t len = EC_ENOMEM;
  *out = NULL;
  if (copy == NULL)
    return len;
  for (size_t i = 0; i < n; i++) {
    copy[i] = msgs[i];
    copy[i].id = 0;
  }
  len = batch ? ec_status_messages_encode(EC_FORMAT_JSON, copy, n, NULL, 0)
              : ec_status_message_encode(EC_FORMAT_JSON, copy, NULL, 0);
  if (len >= 0 && (*out = malloc((size_t)len + 1)) == NULL)
    len = EC_ENOMEM;
  if (len >= 0) {
    ssize_t m = batch ? ec_status_messages_encode(EC_FORMAT_JSON, copy, n,
                                                  *out, (size_t)len + 1)
                      : ec_status_message_encode(EC_FORMAT_JSON, copy, *out,
                                                 (size_t)len + 1);
    if (m != len) {
      free(*out);
      *out = NULL;
      len = m < 0 ? m : EC_EINVAL;
    }
  }
  free(copy);
  return len;
}

int ec_client_msg_post(ec_client_t *c, ec_format_t fmt,
                       const ec_status_message_t *msgs, size_t n, bool batch,
                       ec_status_message_t **stored, size_t *n_stored,
                       ec_arena_t *arena, ec_response_t *resp) {
  int bf = ec_client_body_format(fmt);
  if (c == NULL || msgs == NULL || n == 0 || bf < 0 ||
      (stored != NULL && (n_stored == NULL || arena == NULL)))
    return EC_EINVAL;
  if (n > 1)
    batch = true;
  uint8_t *body;
  ssize_t len = bf == EC_FORMAT_CBOR ? encode_cbor(msgs, n, batch, &body)
                                     : encode_json(msgs, n, batch, &body);
  if (len < 0)
    return (int)len;
  ec_response_t r;
  ec_client_next_has_request_id(c);
  int rc = call(c, "POST", COLLECTION, bf, body, (size_t)len, &r, resp);
  free(body);
  /* Every refusal of a post is an error answer, 4.04 included. */
  if (rc == EC_ENOTFOUND)
    rc = EC_ERESPONSE;
  if (rc == 0 && stored != NULL)
    rc = decode_list(&r, stored, n_stored, arena);
  return rc;
}

int ec_client_msg_list(ec_client_t *c, const ec_msg_filter_t *f,
                       ec_status_message_t **msgs, size_t *n, ec_arena_t *arena,
                       ec_response_t *resp) {
  char path[MAX_PATH];
  ec_response_t r;
  int rc;
  if (c == NULL || msgs == NULL || n == NULL || arena == NULL)
    return EC_EINVAL;
  if ((rc = filter_path(path, sizeof(path), "", f)) < 0 ||
      (rc = call(c, "GET", path, -1, NULL, 0, &r, resp)) < 0)
    return rc;
  return decode_list(&r, msgs, n, arena);
}

/* A FETCH body: in CBOR the device core's (the codec's bytes,
 * tests/test_device_codec.c), in JSON the codec's. */
static ssize_t encode_filter(ec_format_t fmt, const ec_msg_filter_t *f,
                             uint8_t *buf, size_t cap) {
  if (fmt != EC_FORMAT_CBOR)
    return ec_msg_filter_encode(fmt, f, buf, cap);
  ec_dev_msg_filter_t d = {f->order_id,     f->subscription_id, f->access_id,
                           f->has_mac,      f->mac,             f->has_from_date,
                           f->from_date_ms, f->has_to_date,     f->to_date_ms,
                           f->has_from_id,  f->from_id,         f->has_to_id,
                           f->to_id,        f->limit};
  return ec_dev_msg_filter_encode(&d, buf, cap);
}

int ec_client_msg_fetch(ec_client_t *c, ec_format_t fmt,
                        const ec_msg_filter_t *f, ec_status_message_t **msgs,
                        size_t *n, ec_arena_t *arena, ec_response_t *resp) {
  static const ec_msg_filter_t none;
  int bf = ec_client_body_format(fmt);
  if (c == NULL || msgs == NULL || n == NULL || arena == NULL || bf < 0)
    return EC_EINVAL;
  if (f == NULL)
    f = &none;
  ssize_t len = encode_filter((ec_format_t)bf, f, NULL, 0);
  uint8_t *body = len >= 0 ? malloc((size_t)len + 1) : NULL;
  int rc = len < 0 ? (int)len : EC_ENOMEM;
  ec_response_t r;
  if (body != NULL &&
      encode_filter((ec_format_t)bf, f, body, (size_t)len + 1) == len &&
      (rc = call(c, "FETCH", COLLECTION, bf, body, (size_t)len, &r, resp)) == 0)
    rc = decode_list(&r, msgs, n, arena);
  free(body);
  return rc;
}

int ec_client_msg_get(ec_client_t *c, int64_t id, ec_status_message_t *msg,
                      ec_arena_t *arena, ec_response_t *resp) {
  char path[64];
  ec_response_t r;
  int rc;
  if (c == NULL || id < 1 || msg == NULL || arena == NULL)
    return EC_EINVAL;
  snprintf(path, sizeof(path), COLLECTION "/%" PRId64, id);
  if ((rc = call(c, "GET", path, -1, NULL, 0, &r, resp)) < 0)
    return rc;
  int fmt = ec_client_answer_format(&r);
  if (fmt < 0)
    return EC_EPROTO;
  rc = fmt == EC_FORMAT_CBOR
           ? ec__client_msg_cbor(r.body, r.body_len, msg, arena)
           : ec_status_message_decode((ec_format_t)fmt, r.body, r.body_len,
                                      EC_MSG_STORED, msg, arena, NULL);
  return rc < 0 ? ec_client_decode_error(rc) : 0;
}

/*
 * True when a list answer says that the server's byte cap ended the page
 * before the limit (API.md section 3, "Pages"): the envelope's
 * nextFromStatusMessageID member. A message parameter spelling the same key
 * can only make the walk ask for one page more, never skip one.
 */
static bool page_cut(const ec_response_t *r) {
  static const char json_key[] = "\"nextFromStatusMessageID\":";
  static const char cbor_key[] = "\x77nextFromStatusMessageID";
  const char *key = ec_client_answer_format(r) == EC_FORMAT_CBOR ? cbor_key
                                                                 : json_key;
  return r->body != NULL &&
         memmem(r->body, r->body_len, key, strlen(key)) != NULL;
}

int ec_client_msg_sync(ec_client_t *c, const ec_msg_filter_t *f,
                       int64_t after_id, ec_msg_cb cb, void *ud,
                       int64_t *last_id) {
  static const ec_msg_filter_t none;
  if (c == NULL || cb == NULL || after_id < 0)
    return EC_EINVAL;
  ec_msg_filter_t g = f != NULL ? *f : none;
  size_t page = g.limit > 0 ? (size_t)g.limit : EC_MSG_LIMIT_DEFAULT;
  size_t cap = 256 * 1024;
  void *mem = NULL;
  int rc = 0;
  if (last_id != NULL)
    *last_id = after_id;
  for (;;) {
    ec_status_message_t *msgs = NULL;
    size_t n = 0;
    ec_response_t r = {0};
    ec_arena_t arena;
    g.has_from_id = true;
    g.from_id = after_id;
    if (mem == NULL && (mem = malloc(cap)) == NULL) {
      rc = EC_ENOMEM;
      break;
    }
    ec_arena_init(&arena, mem, cap);
    rc = ec_client_msg_list(c, &g, &msgs, &n, &arena, &r);
    if (rc == EC_ENOMEM && r.body_len > 0 && cap < 16 * r.body_len + 65536) {
      /* The first guess was small: size the arena from the page and ask
       * for the same page again. */
      free(mem);
      mem = NULL;
      cap = 16 * r.body_len + 65536;
      continue;
    }
    if (rc < 0)
      break;
    int stop = 0;
    for (size_t i = 0; i < n && !stop; i++) {
      /* A server that broke the order would make the walk skip or repeat
       * messages: refuse its answer instead. */
      if (msgs[i].id <= after_id) {
        rc = EC_EPROTO;
        break;
      }
      after_id = msgs[i].id;
      if (last_id != NULL)
        *last_id = after_id;
      stop = cb(ud, &msgs[i]);
    }
    if (rc < 0 || stop || n == 0 || (n < page && !page_cut(&r)))
      break;
  }
  free(mem);
  return rc;
}

int ec_client_msg_observe(ec_client_t *c, const ec_msg_filter_t *f,
                          ec_observe_cb cb, void *ud, unsigned max_ms) {
  char path[MAX_PATH];
  int rc;
  if (c == NULL || cb == NULL)
    return EC_EINVAL;
  if ((rc = filter_path(path, sizeof(path), "/latest", f)) < 0)
    return rc;
  return ec_client_observe(c, path, cb, ud, max_ms);
}
