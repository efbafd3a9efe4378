/* edgecoap: the client library's calls for deployment statuses (report, read, history, observe) and device deployments. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "edgecoap/client.h"
#include "edgecoap/device.h"

#define MAX_PATH 1024

/*
 * Join literal pieces and ids into a path, NULL-terminated: the 1st, 3rd...
 * arguments are copied as they are, the 2nd, 4th... percent-encoded so that
 * an id stays one segment whatever it contains.
 */
static int make_path(char *out, size_t cap, ...) {
  va_list ap;
  size_t n = 0;
  int rc = 0;
  const char *s;

  va_start(ap, cap);
  for (int i = 0; rc == 0 && (s = va_arg(ap, const char *)) != NULL; i++) {
    if (i % 2 && !*s)
      rc = EC_EINVAL; /* an empty id would name another resource */
    for (; rc == 0 && *s; s++) {
      bool plain =
          i % 2 == 0 || isalnum((unsigned char)*s) || strchr("-._~", *s);
      if (n + 4 > cap)
        rc = EC_EINVAL;
      else if (plain)
        out[n++] = *s;
      else
        n += (size_t)snprintf(out + n, cap - n, "%%%02X", (unsigned char)*s);
    }
  }
  va_end(ap);
  if (rc == 0)
    out[n] = '\0';
  return rc;
}

static int status_path(char *out, size_t cap, const char *device_id,
                       const char *deployment_id, const char *tail) {
  char dep[256];
  size_t n;

  if (!device_id || !deployment_id || (n = strlen(deployment_id)) >= sizeof dep)
    return EC_EINVAL;
  /* Deployment ids are UUIDs, matched case-insensitively; the server names
   * its resources with the lowercase spelling, and only that path can be
   * observed, so always use it. */
  for (size_t i = 0; i <= n; i++)
    dep[i] = (char)tolower((unsigned char)deployment_id[i]);
  return make_path(out, cap, "/device/", device_id, "/deployment/", dep, tail,
                   (const char *)NULL);
}

int ec_client_answer_format(const ec_response_t *r) {
  if (r->format == EC_FORMAT_JSON || r->format == EC_FORMAT_CBOR)
    return r->format;
  if (r->format < 0 && r->body_len > 0)
    return (int)ec_format_sniff(r->body, r->body_len);
  return EC_EFORMAT;
}

int ec_client_decode_error(int rc) {
  return rc == EC_ENOMEM ? rc : EC_EPROTO;
}

/*
 * A report as CBOR from the device core's encoder (ec_dev_status_encode(),
 * the server codec's bytes): the same CBOR a device sends. The core's view
 * of the document borrows the strings; its components are malloc'd.
 */
static ssize_t encode_cbor(const ec_deployment_status_t *st, uint8_t **out) {
  ec_dev_component_t *comps = NULL;
  ec_dev_status_t d = {st->api_version, st->kind, st->deployment_id,
                       st->device_id, 0, (ec_dev_state_t)st->state,
                       {NULL, NULL, NULL}, NULL, st->n_components};
  int n, m;

  /* The core's document holds a 32-bit version, as devices send. */
  if (st->adopted_manifest_version > UINT32_MAX)
    return EC_EINVAL;
  d.adopted_manifest_version = (uint32_t)st->adopted_manifest_version;
  if (st->kind && strcmp(st->kind, "DeploymentStatus") == 0)
    d.kind = NULL;
  if (st->has_error)
    d.error = (ec_dev_error_t){st->error.code, st->error.message,
                               st->error.source};
  if (st->n_components > 0) {
    comps = calloc(st->n_components, sizeof *comps);
    if (!comps)
      return EC_ENOMEM;
    for (size_t i = 0; i < st->n_components; i++) {
      const ec_component_status_t *s = &st->components[i];
      comps[i] = (ec_dev_component_t){s->name, (ec_dev_state_t)s->state,
                                      {NULL, NULL, NULL}};
      if (s->has_error)
        comps[i].error = (ec_dev_error_t){s->error.code, s->error.message,
                                          s->error.source};
    }
  }
  d.components = comps;
  n = ec_dev_status_encode(&d, NULL, 0);
  *out = n >= 0 ? malloc(n ? (size_t)n : 1) : NULL;
  m = *out ? ec_dev_status_encode(&d, *out, (size_t)n) : EC_ENOMEM;
  free(comps);
  if (n < 0 || m != n) {
    free(*out);
    *out = NULL;
    return n < 0 ? n : m < 0 ? m : EC_EINVAL;
  }
  return n;
}

/* A report as JSON from the codec: JSON bodies are sent as JSON. */
static ssize_t encode_json(const ec_deployment_status_t *st, uint8_t **out) {
  ssize_t n = ec_deployment_status_encode(EC_FORMAT_JSON, st, NULL, 0), m;

  if (n < 0)
    return n;
  *out = malloc(n ? (size_t)n : 1);
  if (!*out)
    return EC_ENOMEM;
  m = ec_deployment_status_encode(EC_FORMAT_JSON, st, *out, (size_t)n);
  if (m != n) {
    free(*out);
    *out = NULL;
    return m < 0 ? m : EC_EINVAL;
  }
  return n;
}

int ec_client_status_report(ec_client_t *c, const char *device_id,
                            const ec_deployment_status_t *st,
                            ec_response_t *resp) {
  char path[MAX_PATH];
  uint8_t *body = NULL;
  ssize_t n;
  int rc;

  if (!c || !st)
    return EC_EINVAL;
  if ((rc = status_path(path, sizeof path, device_id, st->deployment_id,
                        "/status")) < 0)
    return rc;
  n = ec_client_format(c) == EC_FORMAT_JSON ? encode_json(st, &body)
                                            : encode_cbor(st, &body);
  if (n < 0)
    return (int)n;
  ec_client_next_has_request_id(c);
  rc = ec_client_call(c, EC_COAP_POST, path, body, (size_t)n, resp);
  free(body);
  /* The header promises EC_ERESPONSE for every refused report. */
  return rc == EC_ENOTFOUND ? EC_ERESPONSE : rc;
}

int ec_client_status_get(ec_client_t *c, const char *device_id,
                         const char *deployment_id, ec_deployment_status_t *st,
                         ec_arena_t *arena, ec_response_t *out) {
  char path[MAX_PATH];
  ec_response_t local, *resp = out ? out : &local;
  int rc, fmt;

  if (!c || !st || !arena)
    return EC_EINVAL;
  if ((rc = status_path(path, sizeof path, device_id, deployment_id,
                        "/status")) < 0 ||
      (rc = ec_client_call(c, EC_COAP_GET, path, NULL, 0, resp)) < 0)
    return rc;
  if ((fmt = ec_client_answer_format(resp)) < 0)
    return fmt;
  /* CBOR through the device core's decoder, JSON through the codec. */
  rc = fmt == EC_FORMAT_CBOR
           ? ec__client_status_cbor(resp->body, resp->body_len, st, arena)
           : ec_deployment_status_decode((ec_format_t)fmt, resp->body,
                                         resp->body_len, st, arena, NULL);
  return rc < 0 ? ec_client_decode_error(rc) : 0;
}

int ec_client_status_history(ec_client_t *c, const char *device_id,
                             const char *deployment_id, int64_t since,
                             int limit, ec_history_item_t **items, size_t *n,
                             ec_arena_t *arena, ec_response_t *out) {
  char path[MAX_PATH];
  ec_response_t local, *resp = out ? out : &local;
  size_t len;
  int rc, fmt;

  if (!c || since < 0 || limit < 0 || !items || !n || !arena)
    return EC_EINVAL;
  if ((rc = status_path(path, sizeof path, device_id, deployment_id,
                        "/status/history")) < 0)
    return rc;
  /* Only what differs from the server's defaults goes into the query. */
  len = strlen(path);
  if (since > 0)
    len += (size_t)snprintf(path + len, sizeof path - len, "?since=%" PRId64,
                            since);
  if (limit > 0 && len < sizeof path)
    len += (size_t)snprintf(path + len, sizeof path - len, "%slimit=%d",
                            since > 0 ? "&" : "?", limit);
  if (len >= sizeof path)
    return EC_EINVAL;
  if ((rc = ec_client_call(c, EC_COAP_GET, path, NULL, 0, resp)) < 0)
    return rc;
  if ((fmt = ec_client_answer_format(resp)) < 0)
    return fmt;
  rc = fmt == EC_FORMAT_CBOR
           ? ec__client_history_cbor(resp->body, resp->body_len, items, n,
                                     arena)
           : ec_history_decode((ec_format_t)fmt, resp->body, resp->body_len,
                               items, n, arena, NULL);
  return rc < 0 ? ec_client_decode_error(rc) : 0;
}

int ec_client_deployments(ec_client_t *c, const char *device_id,
                          ec_deployment_summary_t **list, size_t *n,
                          ec_arena_t *arena, ec_response_t *out) {
  char path[MAX_PATH];
  ec_response_t local, *resp = out ? out : &local;
  int rc, fmt;

  if (!c || !device_id || !list || !n || !arena)
    return EC_EINVAL;
  if ((rc = make_path(path, sizeof path, "/device/", device_id, "/deployments",
                      (const char *)NULL)) < 0 ||
      (rc = ec_client_call(c, EC_COAP_GET, path, NULL, 0, resp)) < 0)
    return rc;
  if ((fmt = ec_client_answer_format(resp)) < 0)
    return fmt;
  rc = fmt == EC_FORMAT_CBOR
           ? ec__client_deployments_cbor(resp->body, resp->body_len, list, n,
                                         arena)
           : ec_deployments_decode((ec_format_t)fmt, resp->body,
                                   resp->body_len, list, n, arena, NULL);
  return rc < 0 ? ec_client_decode_error(rc) : 0;
}

int ec_client_status_observe(ec_client_t *c, const char *device_id,
                             const char *deployment_id, ec_observe_cb cb,
                             void *ud, unsigned max_ms) {
  char path[MAX_PATH];
  int rc = status_path(path, sizeof path, device_id, deployment_id, "/status");

  return rc < 0 ? rc : ec_client_observe(c, path, cb, ud, max_ms);
}
