/* edgecoap: the client library's CBOR answers read by the device core's decoders into the codec's structs. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "client_internal.h"
#include "edgecoap/device.h"

/*
 * The client decodes the server's CBOR answers with the device core
 * (device/core/), the decoders a device runs, and copies what they read in
 * place into the caller's arena as the codec's structs, so the device side
 * has one CBOR reader. Each decoder is run twice: once to check the whole
 * document and count its parts, once to copy them into memory sized by
 * the count. What the codec refuses beyond the core's own checks (a
 * report's component given twice or past EC_MAX_COMPONENTS, a select
 * answer past EC_MAX_ITEMS rows) is refused here.
 */

/* @p s copied into @p arena, NUL-terminated; NULL stays NULL. */
static int copy_str(ec_arena_t *arena, ec_dev_str_t s, const char **out) {
  if (s.ptr == NULL) {
    *out = NULL;
    return 0;
  }
  *out = ec_arena_strndup(arena, s.ptr, s.len);
  return *out != NULL ? 0 : EC_ENOMEM;
}

/* An error's code, message and source into the codec's; none when the
 * code is absent (the core reads an error of empty fields as none). */
static int copy_error(ec_arena_t *arena, ec_dev_str_t code, ec_dev_str_t msg,
                      ec_dev_str_t source, bool *has, ec_error_info_t *e) {
  int rc = 0;
  *has = code.ptr != NULL;
  memset(e, 0, sizeof *e);
  if (*has && ((rc = copy_str(arena, code, &e->code)) < 0 ||
               (rc = copy_str(arena, msg, &e->message)) < 0 ||
               (rc = copy_str(arena, source, &e->source)) < 0)) {
    return rc;
  }
  return 0;
}

typedef struct {
  ec_arena_t *arena;
  ec_component_status_t *c;
} comps_t;

static int on_component(void *ctx, size_t idx,
                        const ec_dev_component_view_t *v) {
  comps_t *p = ctx;
  ec_component_status_t *c = &p->c[idx];
  int rc;
  memset(c, 0, sizeof *c);
  c->state = (ec_state_t)v->state;
  if ((rc = copy_str(p->arena, v->name, &c->name)) < 0 ||
      (rc = copy_error(p->arena, v->error_code, v->error_message,
                       v->error_source, &c->has_error, &c->error)) < 0) {
    return rc;
  }
  for (size_t j = 0; j < idx; j++) {
    if (strcmp(p->c[j].name, c->name) == 0) {
      return EC_ESEMANTIC; /* as the codec's duplicate-component */
    }
  }
  return 0;
}

int ec__client_status_cbor(const uint8_t *buf, size_t len,
                           ec_deployment_status_t *st, ec_arena_t *arena) {
  ec_dev_status_view_t v;
  size_t mark = arena->used;
  int rc = ec_dev_status_decode(buf, len, &v, NULL, NULL);
  if (rc < 0) {
    return rc;
  }
  if (v.n_components > EC_MAX_COMPONENTS) {
    return EC_ETOOBIG;
  }
  comps_t p = {arena, NULL};
  memset(st, 0, sizeof *st);
  if (v.n_components > 0 &&
      (p.c = ec_arena_alloc(arena, v.n_components * sizeof *p.c)) == NULL) {
    return EC_ENOMEM;
  }
  if ((rc = ec_dev_status_decode(buf, len, &v, on_component, &p)) < 0 ||
      (rc = copy_str(arena, v.api_version, &st->api_version)) < 0 ||
      (rc = copy_str(arena, v.kind, &st->kind)) < 0 ||
      (rc = copy_str(arena, v.deployment_id, &st->deployment_id)) < 0 ||
      (rc = copy_str(arena, v.device_id, &st->device_id)) < 0 ||
      (rc = copy_error(arena, v.error_code, v.error_message, v.error_source,
                       &st->has_error, &st->error)) < 0) {
    arena->used = mark;
    return rc;
  }
  st->adopted_manifest_version = v.adopted_manifest_version;
  st->state = (ec_state_t)v.state;
  st->components = p.c;
  st->n_components = v.n_components;
  return 0;
}

int ec__client_login_cbor(const uint8_t *buf, size_t len,
                          ec_login_response_t *out, ec_arena_t *arena) {
  ec_dev_login_t v;
  size_t mark = arena->used;
  int rc = ec_dev_login_decode(buf, len, &v);
  if (rc < 0) {
    return rc;
  }
  memset(out, 0, sizeof *out);
  /* The user's members belong to a token, as the codec reads them: an
   * answer without one has none. */
  if (v.token.ptr == NULL) {
    v.userid = 0;
    v.userrole.ptr = NULL;
    v.username.ptr = NULL;
  }
  out->userid = v.userid;
  if ((rc = copy_str(arena, v.token, &out->token)) < 0 ||
      (rc = copy_str(arena, v.userrole, &out->userrole)) < 0 ||
      (rc = copy_str(arena, v.username, &out->username)) < 0 ||
      (rc = copy_str(arena, v.status, &out->status)) < 0 ||
      (rc = copy_str(arena, v.error, &out->error)) < 0) {
    arena->used = mark;
  }
  return rc;
}

typedef struct {
  ec_arena_t *arena;
  ec_prov_component_t *r;
} rows_t;

static int on_row(void *ctx, size_t idx, const ec_dev_prov_row_t *v) {
  rows_t *p = ctx;
  ec_prov_component_t *r = &p->r[idx];
  memset(r, 0, sizeof *r);
  r->provisioning_component_id = v->provisioning_component_id;
  r->provisioning_id = v->provisioning_id;
  r->component_type = (ec_comp_type_t)v->component_type;
  r->component_id = v->component_id;
  r->active_status = v->active_status;
  r->last_modified_by = v->last_modified_by;
  /* The core checked the datetime as the codec does; the codec's
   * reading turns it into seconds. */
  int rc = ec_prov_datetime_parse(v->last_modified.ptr, v->last_modified.len,
                                  &r->last_modified_s);
  return rc < 0 ? rc : copy_str(p->arena, v->name, &r->name);
}

int ec__client_prov_rows_cbor(const uint8_t *buf, size_t len,
                              ec_prov_component_t **rows, size_t *n,
                              ec_arena_t *arena) {
  size_t count;
  size_t mark = arena->used;
  int rc = ec_dev_prov_decode(buf, len, NULL, NULL, &count);
  if (rc < 0) {
    return rc;
  }
  if (count > EC_MAX_ITEMS) {
    return EC_ETOOBIG; /* the codec's cap on a map's members */
  }
  rows_t p = {arena, NULL};
  if (count > 0 && (p.r = ec_arena_alloc(arena, count * sizeof *p.r)) == NULL) {
    return EC_ENOMEM;
  }
  if ((rc = ec_dev_prov_decode(buf, len, on_row, &p, NULL)) < 0) {
    arena->used = mark;
    return rc;
  }
  *rows = p.r;
  *n = count;
  return 0;
}
