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

/* ---- lists: the core's decoder run twice ---------------------------------- */

/* One run of a list's decoder: with @p into NULL it checks the answer and
 * counts its entries (*count), else it copies them into @p into, an
 * array of the count, in @p arena. */
typedef int (*list_run_fn)(const uint8_t *buf, size_t len, ec_arena_t *arena,
                           void *into, size_t *count);

/* A list as the codec reads one: checked and counted, at most
 * EC_MAX_ITEMS entries (the codec's cap on a container's elements), then
 * copied into an array of @p size bytes an entry; what a failed copy
 * took of @p arena is given back. */
static int read_list(list_run_fn run, size_t size, const uint8_t *buf,
                     size_t len, void **out, size_t *n, ec_arena_t *arena) {
  size_t mark = arena->used, count = 0;
  int rc = run(buf, len, arena, NULL, &count);
  if (rc < 0) {
    return rc;
  }
  if (count > EC_MAX_ITEMS) {
    return EC_ETOOBIG;
  }
  void *a = ec_arena_alloc(arena, count * size);
  if (a == NULL && count > 0) {
    return EC_ENOMEM;
  }
  if ((rc = run(buf, len, arena, a, &count)) < 0) {
    arena->used = mark;
    return rc;
  }
  *out = a;
  *n = count;
  return 0;
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

static int rows_run(const uint8_t *buf, size_t len, ec_arena_t *arena,
                    void *into, size_t *count) {
  rows_t p = {arena, into};
  return ec_dev_prov_decode(buf, len, into != NULL ? on_row : NULL, &p, count);
}

int ec__client_prov_rows_cbor(const uint8_t *buf, size_t len,
                              ec_prov_component_t **rows, size_t *n,
                              ec_arena_t *arena) {
  void *a;
  int rc = read_list(rows_run, sizeof **rows, buf, len, &a, n, arena);
  if (rc == 0) {
    *rows = a;
  }
  return rc;
}

/* ---- status messages ------------------------------------------------------ */

typedef struct {
  ec_arena_t *arena;
  ec_status_message_t *m; /* NULL: only count */
  size_t n;
} msgs_t;

typedef struct {
  ec_arena_t *arena;
  ec_msg_param_t *p;
} params_t;

static int on_param(void *ctx, size_t idx, ec_dev_str_t key,
                    ec_dev_str_t value) {
  params_t *q = ctx;
  int rc = copy_str(q->arena, key, &q->p[idx].key);
  return rc < 0 ? rc : copy_str(q->arena, value, &q->p[idx].value);
}

static int on_mac(void *ctx, size_t idx, ec_dev_str_t key,
                  ec_dev_str_t value) {
  uint64_t *macs = ctx;
  (void)value;
  /* As the codec reads an address: 12 to 17 characters, one of the
   * spellings ec_mac_parse() takes. */
  return key.len < 12 || key.len > 17 ||
                 ec_mac_parse(key.ptr, key.len, &macs[idx]) < 0
             ? EC_EBADDOC
             : 0;
}

/* One message of the core's view into the codec's struct, with the rules
 * the core leaves to its caller: the date parsed, the lists' caps, the
 * addresses' spellings. */
static int copy_msg(ec_arena_t *arena, const ec_dev_msg_t *v,
                    ec_status_message_t *m) {
  ec_dev_dhcp_view_t d;
  int rc;
  memset(m, 0, sizeof *m);
  m->id = v->id;
  m->code = v->code;
  if (v->n_params > EC_MSG_MAX_PARAMS || v->n_macs > EC_MSG_MAX_MACS) {
    return EC_ETOOBIG;
  }
  /* A stored message has its date, as the codec requires. */
  if (v->date.ptr == NULL ||
      ec_time_parse_ms(v->date.ptr, v->date.len, &m->date_ms) < 0) {
    return EC_EBADDOC;
  }
  m->has_date = true;
  if ((rc = copy_str(arena, v->order_id, &m->order_id)) < 0 ||
      (rc = copy_str(arena, v->subscription_id, &m->subscription_id)) < 0 ||
      (rc = copy_str(arena, v->access_id, &m->access_id)) < 0) {
    return rc;
  }
  if (v->n_params > 0) {
    params_t q = {arena, ec_arena_alloc(arena, v->n_params * sizeof *q.p)};
    if (q.p == NULL) {
      return EC_ENOMEM;
    }
    if ((rc = ec_dev_msg_items(v->params, on_param, &q)) < 0) {
      return rc;
    }
    m->params = q.p;
    m->n_params = v->n_params;
  }
  if (v->n_macs > 0) {
    uint64_t *macs = ec_arena_alloc(arena, v->n_macs * sizeof *macs);
    if (macs == NULL) {
      return EC_ENOMEM;
    }
    if ((rc = ec_dev_msg_items(v->macs, on_mac, macs)) < 0) {
      return rc;
    }
    m->macs = macs;
    m->n_macs = v->n_macs;
  }
  if ((rc = ec_dev_msg_dhcp(v->dhcp, &d)) < 0) {
    return rc;
  }
  ec_dhcp_option_t *o = &m->dhcp;
  o->present = d.present;
  o->has_ipv4 = d.has_ipv4;
  o->has_option82 = d.has_option82;
  o->has_ipv6 = d.has_ipv6;
  o->has_option18 = d.has_option18;
  o->has_option37 = d.has_option37;
  if ((rc = copy_str(arena, d.option82_remote_id, &o->option82_remote_id)) <
          0 ||
      (rc = copy_str(arena, d.option82_circuit_id, &o->option82_circuit_id)) <
          0 ||
      (rc = copy_str(arena, d.option18_interface_id,
                     &o->option18_interface_id)) < 0) {
    return rc;
  }
  return copy_str(arena, d.option37_remote_id, &o->option37_remote_id);
}

static int on_msg(void *ctx, size_t idx, const ec_dev_msg_t *v) {
  msgs_t *p = ctx;
  p->n = idx + 1;
  return p->m == NULL ? 0 : copy_msg(p->arena, v, &p->m[idx]);
}

static int page_run(const uint8_t *buf, size_t len, ec_arena_t *arena,
                    void *into, size_t *count) {
  msgs_t p = {arena, into, 0};
  int rc = ec_dev_msgs_decode(buf, len, on_msg, &p, NULL);
  *count = p.n;
  return rc;
}

int ec__client_msgs_cbor(const uint8_t *buf, size_t len,
                         ec_status_message_t **msgs, size_t *n,
                         ec_arena_t *arena) {
  /* A page ({"StatusMessages": [...]}), or one message, the answer to a
   * post of one: a message has no StatusMessages member, and a document
   * that has one is a page or nothing, as the codec reads it. */
  void *a;
  int rc = read_list(page_run, sizeof **msgs, buf, len, &a, n, arena);
  if (rc == 0) {
    *msgs = a;
  }
  if (rc != EC_ENOTFOUND) {
    return rc;
  }
  size_t mark = arena->used;
  ec_status_message_t *m = ec_arena_alloc(arena, sizeof *m);
  if (m == NULL) {
    return EC_ENOMEM;
  }
  if ((rc = ec__client_msg_cbor(buf, len, m, arena)) < 0) {
    arena->used = mark;
    return rc;
  }
  *msgs = m;
  *n = 1;
  return 0;
}

int ec__client_msg_cbor(const uint8_t *buf, size_t len,
                        ec_status_message_t *msg, ec_arena_t *arena) {
  size_t mark = arena->used;
  ec_dev_msg_t v;
  int rc = ec_dev_msg_decode(buf, len, &v);
  if (rc == 0 && (rc = copy_msg(arena, &v, msg)) < 0) {
    arena->used = mark;
  }
  return rc;
}

/* ---- a status history and a device's deployments --------------------------- */

typedef struct {
  ec_arena_t *arena;
  ec_history_item_t *h;
  ec_deployment_summary_t *d;
} entries_t;

static int on_history(void *ctx, size_t idx, const ec_dev_history_t *v) {
  entries_t *p = ctx;
  ec_history_item_t *h = &p->h[idx];
  memset(h, 0, sizeof *h);
  h->seq = v->seq;
  if (ec_time_parse_ms(v->received_at.ptr, v->received_at.len,
                       &h->received_at_ms) < 0) {
    return EC_EBADDOC;
  }
  return ec__client_status_cbor(v->report.ptr, v->report.len, &h->report,
                                p->arena);
}

static int on_deployment(void *ctx, size_t idx, const ec_dev_deployment_t *v) {
  entries_t *p = ctx;
  ec_deployment_summary_t *d = &p->d[idx];
  memset(d, 0, sizeof *d);
  d->state = (ec_state_t)v->state;
  if (ec_time_parse_ms(v->updated_at.ptr, v->updated_at.len,
                       &d->updated_at_ms) < 0) {
    return EC_EBADDOC;
  }
  return copy_str(p->arena, v->deployment_id, &d->deployment_id);
}

/* A status history's or a device's deployments' run (read_list()). */
static int history_run(const uint8_t *buf, size_t len, ec_arena_t *arena,
                       void *into, size_t *count) {
  entries_t p = {arena, into, NULL};
  return ec_dev_history_decode(buf, len, into != NULL ? on_history : NULL, &p,
                               count);
}

static int deployments_run(const uint8_t *buf, size_t len, ec_arena_t *arena,
                           void *into, size_t *count) {
  entries_t p = {arena, NULL, into};
  return ec_dev_deployments_decode(buf, len,
                                   into != NULL ? on_deployment : NULL, &p,
                                   count);
}

int ec__client_history_cbor(const uint8_t *buf, size_t len,
                            ec_history_item_t **items, size_t *n,
                            ec_arena_t *arena) {
  void *a;
  int rc = read_list(history_run, sizeof **items, buf, len, &a, n, arena);
  if (rc == 0) {
    *items = a;
  }
  return rc;
}

int ec__client_deployments_cbor(const uint8_t *buf, size_t len,
                                ec_deployment_summary_t **list, size_t *n,
                                ec_arena_t *arena) {
  void *a;
  int rc = read_list(deployments_run, sizeof **list, buf, len, &a, n, arena);
  if (rc == 0) {
    *list = a;
  }
  return rc;
}

/* ---- provisioning insert and update answers ------------------------------- */

/* An INT | ARRAY member into the codec's ids, its values in @p arena. */
static int copy_ids(ec_arena_t *arena, ec_dev_cbor_t c, ec_prov_ids_t *ids) {
  bool is_array;
  int n = ec_dev_prov_ids(c, NULL, 0, NULL);
  if (n < 0) {
    return n;
  }
  int64_t *v = ec_arena_alloc(arena, (size_t)n * sizeof *v);
  if (v == NULL) {
    return EC_ENOMEM;
  }
  (void)ec_dev_prov_ids(c, v, (size_t)n, &is_array);
  *ids = (ec_prov_ids_t){v, (size_t)n, true, is_array};
  return 0;
}

int ec__client_prov_result_cbor(const uint8_t *buf, size_t len,
                                ec_prov_result_t *out, ec_arena_t *arena) {
  size_t mark = arena->used;
  ec_dev_prov_result_t v;
  ec_prov_result_t r;
  int rc = ec_dev_prov_result_decode(buf, len, &v);
  if (rc < 0) {
    return rc;
  }
  memset(&r, 0, sizeof r);
  r.action = v.insert ? EC_PROV_INSERT : EC_PROV_UPDATE;
  r.by_pc_id = v.by_pc_id;
  r.provisioning_id = v.provisioning_id;
  r.component_type = (ec_comp_type_t)v.component_type;
  r.active_status = v.active_status > 1 ? 1 : (int)v.active_status;
  r.last_modified_by = v.last_modified_by;
  rc = v.by_pc_id ? copy_ids(arena, v.provisioning_component_id,
                             &r.provisioning_component_id)
                  : copy_ids(arena, v.component_id, &r.component_id);
  /* The core leaves the datetime's date to the codec's reading, which
   * turns it into seconds. */
  if (rc == 0 && v.insert &&
      ec_prov_datetime_parse(v.last_modified.ptr, v.last_modified.len,
                             &r.last_modified_s) < 0) {
    rc = EC_EBADDOC;
  }
  if (rc < 0) {
    arena->used = mark;
    return rc;
  }
  *out = r;
  return 0;
}

int ec__client_prov_error_cbor(const uint8_t *buf, size_t len,
                               ec_prov_error_doc_t *out, ec_arena_t *arena) {
  size_t mark = arena->used;
  ec_dev_prov_error_t v;
  ec_prov_error_doc_t d;
  int rc = ec_dev_prov_error_decode(buf, len, &v);
  if (rc < 0) {
    return rc;
  }
  memset(&d, 0, sizeof d);
  int64_t *ids = NULL;
  if (v.ids.ptr != NULL &&
      (ids = ec_arena_alloc(arena, (v.n_ids ? v.n_ids : 1) * sizeof *ids)) ==
          NULL) {
    return EC_ENOMEM;
  }
  if (v.n_ids > 0) {
    (void)ec_dev_prov_ids(v.ids, ids, v.n_ids, NULL);
  }
  d.ids = ids;
  d.n_ids = v.n_ids;
  if ((rc = copy_str(arena, v.status, &d.status)) < 0 ||
      (rc = copy_str(arena, v.error, &d.error)) < 0 ||
      (rc = copy_str(arena, v.detail, &d.detail)) < 0) {
    arena->used = mark;
    return rc;
  }
  *out = d;
  return 0;
}
