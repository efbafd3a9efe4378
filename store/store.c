/* edgecoap store: every public call dispatched through its store's backend
 * table (backend.h); no backend's code. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "edgecoap/error.h"

/* ------------------------------------------------------------------------ */
/* Calls written once for every backend                                     */
/* ------------------------------------------------------------------------ */

int ec_store_history(ec_store_t *s, const char *device_id,
                     const char *deployment_id, int64_t since, int limit,
                     ec_history_entry_t **entries, size_t *n) {
  return ec_store_history_page(s, device_id, deployment_id, since, limit, 0,
                               entries, n, NULL);
}

int ec_store_deployments(ec_store_t *s, const char *device_id,
                         ec_deployment_summary_t **list, size_t *n) {
  return ec_store_deployments_page(s, device_id, NULL, 0, list, n, NULL);
}

int ec_store_msg_insert(ec_store_t *s, const ec_store_msg_write_t *w, size_t n,
                        int64_t received_at_ms, int64_t *first_id) {
  return ec_store_msg_insert_req(s, w, n, received_at_ms, NULL, first_id);
}

int ec_store_msg_list(ec_store_t *s, const ec_msg_filter_t *f, int limit,
                      bool newest_first, ec_msg_row_t **rows, size_t *n) {
  return ec_store_msg_page(s, f, limit, newest_first, 0, rows, n, NULL);
}

int ec_store_prov_select(ec_store_t *s, const ec_prov_request_t *f,
                         ec_prov_component_t **rows, size_t *n) {
  return ec_store_prov_select_owned(s, f, -1, rows, n);
}

void ec_store_prov_outcome_free(ec_store_prov_outcome_t *o) {
  if (o == NULL)
    return;
  free(o->unknown);
  free(o->provisionings);
  memset(o, 0, sizeof(*o));
}

const char *ec_store_device_role_name(ec_device_role_t role) {
  return role == EC_DEVICE_ROLE_OPERATOR ? "operator" : "device";
}

/* ------------------------------------------------------------------------ */
/* Helpers every backend shares (backend.h)                                 */
/* ------------------------------------------------------------------------ */

bool ec__store_id_ok(const char *id) {
  if (id == NULL)
    return false;
  size_t len = strlen(id);
  return len > 0 && len <= EC_STORE_MAX_ID_LEN;
}

/* Deployment IDs are UUIDs, which match case-insensitively; every backend
 * stores and looks them up ASCII-lowercased (not with SQL's lower(), which
 * a locale or an ICU build would change). */
void ec__store_lower_id(const char *id, char *out) {
  size_t i = 0;
  for (; id[i] != '\0' && i < EC_STORE_MAX_ID_LEN; i++) {
    char c = id[i];
    out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  out[i] = '\0';
}

/* A message to store: a date, a code in range, one id at least, 48-bit
 * addresses. */
static bool msg_write_ok(const ec_store_msg_write_t *w) {
  const ec_status_message_t *m = w->msg;
  if (m == NULL || !m->has_date || m->code < EC_MSG_CODE_MIN ||
      m->code > EC_MSG_CODE_MAX || (w->doc == NULL && w->doc_len > 0) ||
      (m->macs == NULL && m->n_macs > 0) ||
      (m->order_id == NULL && m->subscription_id == NULL &&
       m->access_id == NULL))
    return false;
  for (size_t i = 0; i < m->n_macs; i++)
    if (m->macs[i] >= (UINT64_C(1) << 48))
      return false;
  return true;
}

bool ec__store_msg_request_ok(const ec_store_msg_request_t *r) {
  return r->scope != NULL && strlen(r->scope) <= EC_STORE_MAX_ID_LEN &&
         r->id != NULL && r->id_len >= EC_REQUEST_ID_MIN &&
         r->id_len <= EC_REQUEST_ID_MAX && r->count >= 0;
}

int ec__store_msg_check(const ec_store_msg_write_t *w, size_t n,
                        const ec_store_msg_request_t *req) {
  if (w == NULL || n == 0 || n > INT32_MAX ||
      (req != NULL && !ec__store_msg_request_ok(req)))
    return EC_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!msg_write_ok(&w[i]))
      return EC_EINVAL;
  return 0;
}

bool ec__store_msg_filter_ok(const ec_msg_filter_t *f) {
  return f != NULL && (!f->has_from_id || f->from_id >= 0) &&
         (!f->has_to_id || f->to_id >= 0) &&
         (!f->has_mac || f->mac < (UINT64_C(1) << 48));
}

int ec__store_msg_limit(int limit) {
  if (limit <= 0)
    return EC_MSG_LIMIT_DEFAULT;
  return limit > EC_MSG_LIMIT_MAX ? EC_MSG_LIMIT_MAX : limit;
}

bool ec__store_text_ok(const char *t) {
  return t != NULL && *t != '\0' && strlen(t) <= EC_STORE_PROV_TEXT_MAX;
}

bool ec__store_user_ok(const ec_store_prov_user_t *u) {
  return u->id >= 0 && ec__store_text_ok(u->username) &&
         strlen(u->role) <= EC_STORE_PROV_TEXT_MAX &&
         strncmp(u->password_hash, "$argon2", 7) == 0;
}

bool ec__store_identity_ok(const char *identity) {
  size_t n = identity != NULL ? strlen(identity) : 0;
  return n >= 1 && n <= EC_STORE_DEVICE_ID_MAX;
}

bool ec__store_device_ok(const ec_store_device_t *d) {
  return d != NULL && ec__store_identity_ok(d->identity) &&
         (d->role == EC_DEVICE_ROLE_DEVICE ||
          d->role == EC_DEVICE_ROLE_OPERATOR) &&
         d->key_len >= EC_STORE_DEVICE_KEY_MIN &&
         d->key_len <= EC_STORE_DEVICE_KEY_MAX;
}

int ec__store_id_list_add(int64_t **list, size_t *n, int64_t v) {
  for (size_t i = 0; i < *n; i++)
    if ((*list)[i] == v)
      return 0;
  if ((*n & (*n - 1)) == 0) { /* 0, 1, 2, 4...: grow to the next power */
    int64_t *p = realloc(*list, (*n ? *n * 2 : 1) * sizeof(**list));
    if (p == NULL)
      return EC_ENOMEM;
    *list = p;
  }
  (*list)[(*n)++] = v;
  return 0;
}

int ec__store_status_check(const ec_status_write_t *w) {
  if (w == NULL || !ec__store_id_ok(w->device_id) ||
      !ec__store_id_ok(w->deployment_id) || (int)w->state < 0 ||
      w->state >= EC_STATE_COUNT || (w->doc == NULL && w->doc_len > 0) ||
      (w->request_id_len > 0 &&
       (w->request_id == NULL || w->request_id_len < EC_REQUEST_ID_MIN ||
        w->request_id_len > EC_REQUEST_ID_MAX)) ||
      (w->n_failed > 0 && w->failed == NULL))
    return EC_EINVAL;
  for (size_t i = 0; i < w->n_failed; i++)
    if (w->failed[i].component == NULL)
      return EC_EINVAL;
  return 0;
}

/* Copy the string @p s to @p *p and move past it. */
static const char *copy_str(char **p, const char *s) {
  size_t n = strlen(s) + 1;
  char *d = memcpy(*p, s, n);
  *p += n;
  return d;
}

void *ec__store_status_dup(const ec_status_write_t *w, size_t head,
                           size_t w_offset) {
  size_t n = w->n_failed * sizeof(ec_fleet_failure_t);
  if (w->error_code != NULL)
    n += strlen(w->error_code) + 1;
  for (size_t i = 0; i < w->n_failed; i++)
    n += strlen(w->failed[i].component) + 1 +
         strlen(w->failed[i].code != NULL ? w->failed[i].code : "") + 1;
  n += strlen(w->device_id) + 1 + strlen(w->deployment_id) + 1 +
       w->request_id_len + w->doc_len;
  /* head is a struct's size, so the array after it is aligned. */
  char *block = malloc(head + n);
  if (block == NULL)
    return NULL;
  ec_status_write_t *to = (ec_status_write_t *)(void *)(block + w_offset);
  char *p = block + head;
  *to = *w;
  ec_fleet_failure_t *a = (ec_fleet_failure_t *)(void *)p;
  p += w->n_failed * sizeof(*a);
  for (size_t i = 0; i < w->n_failed; i++) {
    a[i].component = copy_str(&p, w->failed[i].component);
    a[i].code = copy_str(&p, w->failed[i].code != NULL ? w->failed[i].code
                                                       : "");
    a[i].devices = 1;
  }
  to->failed = w->n_failed > 0 ? a : NULL;
  to->error_code = w->error_code != NULL ? copy_str(&p, w->error_code) : NULL;
  to->device_id = copy_str(&p, w->device_id);
  to->deployment_id = copy_str(&p, w->deployment_id);
  to->request_id =
      w->request_id_len > 0 ? memcpy(p, w->request_id, w->request_id_len)
                            : NULL;
  p += w->request_id_len;
  to->doc = w->doc_len > 0 ? memcpy(p, w->doc, w->doc_len) : NULL;
  return block;
}

/* ------------------------------------------------------------------------ */
/* Dispatch: one line each, so the contract's argument checks stay the     */
/* backend's                                                                */
/* ------------------------------------------------------------------------ */

int ec_store_ping(ec_store_t *s) {
  return s != NULL ? s->be->ping(s) : EC_EINVAL;
}

void ec_store_set_metrics(ec_store_t *s, ec_metrics_t *m) {
  if (s != NULL)
    s->be->set_metrics(s, m);
}

int ec_store_size(ec_store_t *s, int64_t *bytes) {
  return s != NULL ? s->be->size(s, bytes) : EC_EINVAL;
}

void ec_store_close(ec_store_t *s) {
  if (s != NULL)
    s->be->close(s);
}

const char *ec_store_where(const ec_store_t *s) {
  return s != NULL ? s->be->where(s) : "";
}

bool ec_store_created(const ec_store_t *s) {
  return s != NULL && s->be->created(s);
}

int ec_store_status_by_request(ec_store_t *s, const char *device_id,
                               const uint8_t *rid, size_t rid_len,
                               char dep[EC_STORE_MAX_ID_LEN + 1], int64_t *seq,
                               uint8_t **doc, size_t *doc_len) {
  return s != NULL ? s->be->status_by_request(s, device_id, rid, rid_len, dep,
                                              seq, doc, doc_len)
                   : EC_EINVAL;
}

int ec_store_status_put(ec_store_t *s, const ec_status_write_t *w, int *created,
                        int64_t *seq) {
  return s != NULL ? s->be->status_put(s, w, created, seq) : EC_EINVAL;
}

int ec_store_status_queue(ec_store_t *s, const ec_status_write_t *w,
                          ec_status_done_fn fn, void *ud) {
  return s != NULL ? s->be->status_queue(s, w, fn, ud) : EC_EINVAL;
}

int ec_store_flush(ec_store_t *s) {
  return s != NULL ? s->be->flush(s) : EC_EINVAL;
}

int ec_store_wait(ec_store_t *s) {
  return s != NULL ? s->be->wait(s) : EC_EINVAL;
}

int ec_store_msg_queue(ec_store_t *s, const ec_store_msg_write_t *w, size_t n,
                       int64_t received_at_ms,
                       const ec_store_msg_request_t *req, ec_msg_done_fn fn,
                       void *ud) {
  return s != NULL ? s->be->msg_queue(s, w, n, received_at_ms, req, fn, ud)
                   : EC_EINVAL;
}

size_t ec_store_queued(const ec_store_t *s) {
  return s != NULL ? s->be->queued(s) : 0;
}

int ec_store_fd(ec_store_t *s, short *events, int *due_ms) {
  if (events == NULL || due_ms == NULL)
    return -1;
  *events = 0;
  *due_ms = -1;
  return s != NULL && s->be->fd != NULL ? s->be->fd(s, events, due_ms) : -1;
}

bool ec_store_unreachable(const ec_store_t *s) {
  return s != NULL && s->be->unreachable != NULL && s->be->unreachable(s);
}

int ec_store_listen(ec_store_t *s, ec_store_change_fn fn, void *ud) {
  if (s == NULL)
    return EC_EINVAL;
  return s->be->listen != NULL ? s->be->listen(s, fn, ud) : EC_ENOTSUP;
}

int ec_store_status_get(ec_store_t *s, const char *device_id,
                        const char *deployment_id, uint8_t **doc,
                        size_t *doc_len, int64_t *updated_at_ms, int64_t *seq) {
  return s != NULL ? s->be->status_get(s, device_id, deployment_id, doc,
                                       doc_len, updated_at_ms, seq)
                   : EC_EINVAL;
}

int ec_store_history_page(ec_store_t *s, const char *device_id,
                          const char *deployment_id, int64_t since, int limit,
                          size_t max_bytes, ec_history_entry_t **entries,
                          size_t *n, bool *more) {
  return s != NULL ? s->be->history_page(s, device_id, deployment_id, since,
                                         limit, max_bytes, entries, n, more)
                   : EC_EINVAL;
}

int ec_store_deployments_page(ec_store_t *s, const char *device_id,
                              const char *after, size_t max_bytes,
                              ec_deployment_summary_t **list, size_t *n,
                              bool *more) {
  return s != NULL ? s->be->deployments_page(s, device_id, after, max_bytes,
                                             list, n, more)
                   : EC_EINVAL;
}

int ec_store_each_status(ec_store_t *s,
                         int (*fn)(void *ud, const char *device_id,
                                   const char *deployment_id),
                         void *ud) {
  return s != NULL ? s->be->each_status(s, fn, ud) : EC_EINVAL;
}

int ec_store_fleet_devices(ec_store_t *s, const ec_store_fleet_query_t *q,
                           size_t max_bytes, ec_fleet_device_t **list,
                           size_t *n, bool *more) {
  return s != NULL ? s->be->fleet_devices(s, q, max_bytes, list, n, more)
                   : EC_EINVAL;
}

int ec_store_fleet_rollup(ec_store_t *s, const char *deployment_id,
                          ec_fleet_rollup_t *out, void **block) {
  return s != NULL ? s->be->fleet_rollup(s, deployment_id, out, block)
                   : EC_EINVAL;
}

int ec_store_fleet_rollups(ec_store_t *s, const char *after, int limit,
                           ec_fleet_rollup_t **list, size_t *n, bool *more) {
  return s != NULL ? s->be->fleet_rollups(s, after, limit, list, n, more)
                   : EC_EINVAL;
}

int ec_store_msg_insert_req(ec_store_t *s, const ec_store_msg_write_t *w,
                            size_t n, int64_t received_at_ms,
                            const ec_store_msg_request_t *req,
                            int64_t *first_id) {
  return s != NULL
             ? s->be->msg_insert_req(s, w, n, received_at_ms, req, first_id)
             : EC_EINVAL;
}

int ec_store_msg_request_find(ec_store_t *s, ec_store_msg_request_t *req,
                              int64_t *first_id) {
  return s != NULL ? s->be->msg_request_find(s, req, first_id) : EC_EINVAL;
}

int ec_store_msg_page(ec_store_t *s, const ec_msg_filter_t *f, int limit,
                      bool newest_first, size_t max_bytes, ec_msg_row_t **rows,
                      size_t *n, bool *more) {
  return s != NULL ? s->be->msg_page(s, f, limit, newest_first, max_bytes, rows,
                                     n, more)
                   : EC_EINVAL;
}

int ec_store_msg_get(ec_store_t *s, int64_t id, ec_msg_row_t **row) {
  return s != NULL ? s->be->msg_get(s, id, row) : EC_EINVAL;
}

int ec_store_prov_import(ec_store_t *s, const ec_store_prov_import_t *im) {
  return s != NULL ? s->be->prov_import(s, im) : EC_EINVAL;
}

int ec_store_prov_user_put(ec_store_t *s, const ec_store_prov_user_t *u,
                           int64_t *id, int *created) {
  return s != NULL ? s->be->prov_user_put(s, u, id, created) : EC_EINVAL;
}

int ec_store_prov_user_find(ec_store_t *s, const char *username,
                            ec_store_prov_user_t *out) {
  return s != NULL ? s->be->prov_user_find(s, username, out) : EC_EINVAL;
}

int ec_store_prov_user_get(ec_store_t *s, int64_t id,
                           ec_store_prov_user_t *out) {
  return s != NULL ? s->be->prov_user_get(s, id, out) : EC_EINVAL;
}

int ec_store_prov_user_each(ec_store_t *s,
                            int (*fn)(void *ud, const ec_store_prov_user_t *u),
                            void *ud) {
  return s != NULL ? s->be->prov_user_each(s, fn, ud) : EC_EINVAL;
}

int ec_store_prov_user_remove(ec_store_t *s, const char *username,
                              const char *unknown_hash, bool *kept) {
  return s != NULL ? s->be->prov_user_remove(s, username, unknown_hash, kept)
                   : EC_EINVAL;
}

int ec_store_prov_owner(ec_store_t *s, int64_t id, int64_t *owner_id) {
  return s != NULL ? s->be->prov_owner(s, id, owner_id) : EC_EINVAL;
}

int ec_store_prov_component_of(ec_store_t *s, int64_t pc_id,
                               int64_t *provisioning_id) {
  return s != NULL ? s->be->prov_component_of(s, pc_id, provisioning_id)
                   : EC_EINVAL;
}

int ec_store_prov_token_add(ec_store_t *s, const uint8_t *digest,
                            int64_t user_id, int64_t now_ms, int64_t ttl_ms) {
  return s != NULL ? s->be->prov_token_add(s, digest, user_id, now_ms, ttl_ms)
                   : EC_EINVAL;
}

int ec_store_prov_token_use(ec_store_t *s, const uint8_t *digest,
                            int64_t now_ms, int64_t ttl_ms, int64_t touch_ms,
                            int64_t *user_id) {
  return s != NULL ? s->be->prov_token_use(s, digest, now_ms, ttl_ms, touch_ms,
                                           user_id)
                   : EC_EINVAL;
}

int ec_store_prov_token_delete(ec_store_t *s, const uint8_t *digest,
                               int64_t now_ms, int64_t ttl_ms) {
  return s != NULL ? s->be->prov_token_delete(s, digest, now_ms, ttl_ms)
                   : EC_EINVAL;
}

/* A username as the failed-login counters take it. */
static bool login_args_ok(const char *username, int64_t window_ms) {
  return username != NULL && strlen(username) <= EC_STORE_PROV_TEXT_MAX &&
         window_ms > 0;
}

int ec_store_login_failed(ec_store_t *s, const char *username, int64_t now_ms,
                          int64_t window_ms, int64_t *count) {
  return s != NULL && login_args_ok(username, window_ms)
             ? s->be->login_failed(s, username, now_ms, window_ms, count)
             : EC_EINVAL;
}

int ec_store_login_failures(ec_store_t *s, const char *username,
                            int64_t now_ms, int64_t window_ms,
                            int64_t *count) {
  return s != NULL && login_args_ok(username, window_ms) && count != NULL
             ? s->be->login_failures(s, username, now_ms, window_ms, count)
             : EC_EINVAL;
}

int ec_store_prov_select_owned(ec_store_t *s, const ec_prov_request_t *f,
                               int64_t owner_id, ec_prov_component_t **rows,
                               size_t *n) {
  return s != NULL ? s->be->prov_select_owned(s, f, owner_id, rows, n)
                   : EC_EINVAL;
}

int ec_store_prov_select_start(ec_store_t *s, const ec_prov_request_t *f,
                               int64_t owner_id, ec_prov_select_fn fn,
                               void *ud) {
  if (s == NULL || f == NULL || fn == NULL || (f->has_limit && f->limit < 0))
    return EC_EINVAL;
  return s->be->prov_select_start != NULL
             ? s->be->prov_select_start(s, f, owner_id, fn, ud)
             : EC_ENOTSUP;
}

int ec_store_read_fd(ec_store_t *s, short *events, int *due_ms) {
  if (events == NULL || due_ms == NULL)
    return -1;
  *events = 0;
  *due_ms = -1;
  return s != NULL && s->be->read_fd != NULL ? s->be->read_fd(s, events, due_ms)
                                             : -1;
}

size_t ec_store_reading(const ec_store_t *s) {
  return s != NULL && s->be->reading != NULL ? s->be->reading(s) : 0;
}

/* The outcome is cleared and the request checked here, once for every
 * backend: an insert names a provisioning, a component type and its ids. */
int ec_store_prov_insert(ec_store_t *s, const ec_prov_request_t *rq,
                         int64_t user_id, int64_t now_s,
                         ec_store_prov_outcome_t *o) {
  if (o != NULL)
    memset(o, 0, sizeof(*o));
  if (s == NULL || rq == NULL || o == NULL || !rq->has_provisioning_id ||
      !rq->has_component_type || !rq->component_id.present)
    return EC_EINVAL;
  return s->be->prov_insert(s, rq, user_id, now_s, o);
}

/* An update sets active_status of rows named by provisioning_component_id,
 * or by provisioning_id + component_type + component_id. */
int ec_store_prov_update(ec_store_t *s, const ec_prov_request_t *rq,
                         int64_t user_id, int64_t now_s,
                         ec_store_prov_outcome_t *o) {
  if (o != NULL)
    memset(o, 0, sizeof(*o));
  bool by_pc = rq != NULL && rq->provisioning_component_id.present;
  if (s == NULL || rq == NULL || o == NULL || !rq->has_active_status ||
      (!by_pc && (!rq->has_provisioning_id || !rq->has_component_type ||
                  !rq->component_id.present)))
    return EC_EINVAL;
  return s->be->prov_update(s, rq, user_id, now_s, o);
}

int ec_store_device_add(ec_store_t *s, const ec_store_device_t *d,
                        int64_t *id) {
  return s != NULL ? s->be->device_add(s, d, id) : EC_EINVAL;
}

int ec_store_device_find(ec_store_t *s, const uint8_t *identity, size_t len,
                         ec_store_device_t *out) {
  return s != NULL ? s->be->device_find(s, identity, len, out) : EC_EINVAL;
}

int ec_store_device_remove(ec_store_t *s, const char *identity) {
  return s != NULL ? s->be->device_remove(s, identity) : EC_EINVAL;
}

int ec_store_device_each(ec_store_t *s, bool with_keys,
                         int (*fn)(void *ud, const ec_store_device_t *d),
                         void *ud) {
  return s != NULL ? s->be->device_each(s, with_keys, fn, ud) : EC_EINVAL;
}

int ec_store_device_version(ec_store_t *s, int64_t *version) {
  if (s == NULL || version == NULL)
    return EC_EINVAL;
  return s->be->device_version != NULL ? s->be->device_version(s, version)
                                       : EC_ENOTSUP;
}

int ec_store_device_count(ec_store_t *s, int64_t *n) {
  return s != NULL ? s->be->device_count(s, n) : EC_EINVAL;
}
