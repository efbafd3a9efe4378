/* edgecoap server API: the fleet: devices' latest states and deployments' roll-ups, observable (API.md section 7). */
/* SPDX-License-Identifier: Apache-2.0 */
#include "res_fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "edgecoap/fleet.h"
#include "log.h"
#include "page.h"
#include "routes.h"
#include "util.h"
#include "watch.h"

/*
 * GET /device                              every (device, deployment) and
 *                                          its latest state; ?state, ?device,
 *                                          ?after, ?limit
 * GET /deployment                          every deployment's counts
 * GET /deployment/{deploymentId}/rollup    one deployment's counts and
 *                                          failed components; observable
 * GET /deployment/{deploymentId}/devices   its devices; ?state, ?after,
 *                                          ?limit
 *
 * Every read is one indexed store read of a bounded page (store.h). The
 * store keeps the roll-ups in each write's transaction; a write tells this
 * module which deployment changed (ec_fleet_reported()), and once per I/O
 * round ec_fleet_poll() notifies the observers of the roll-ups that
 * changed, each at most once per EC_FLEET_NOTIFY_MS: a burst of reports
 * costs a bounded number of notifications, the last of which carries the
 * counts after the burst. A notification whose document is the one sent
 * last (no count changed) is not sent.
 */

/* Reads are fresh briefly, observations until their next notification
 * (as the status routes, API.md section 2). */
#define READ_MAX_AGE_S 10
#define OBSERVE_MAX_AGE_S 120

/* Observed deployments' entries with no observer left are swept this often. */
#define SWEEP_MS 10000

/* One observed deployment. */
typedef struct dep {
  struct dep *next;
  bool dirty;               /* a report changed it since the last notification */
  uint64_t last_ms;         /* monotonic time of the last notification */
  uint64_t sent_hash;       /* of the last CBOR document sent (0: none) */
  char id[EC_STORE_MAX_ID_LEN + 1];
} dep_t;

typedef struct ec_fleet {
  ec_watch_list_t watch;    /* every roll-up observation; filter: the id */
  dep_t *deps;
  unsigned n_dirty;
  uint64_t last_sweep_ms;
} fleet_t;

static const char watch_name[] = "deployment roll-up";

/* ---- answers ------------------------------------------------------------ */

static void send_encoded(ec_req_t *rq, ec_encode_fn enc, const void *arg,
                         unsigned max_age, uint64_t etag) {
  uint8_t *buf = NULL;
  ssize_t n = ec_encode_new(enc, rq->resp_fmt, arg, &buf);
  size_t len = (size_t)n;
  if (n < 0) {
    ec_req_problem(rq, 500, "encoding-failure", NULL, "cannot encode the answer");
    return;
  }
  ec_req_max_age(rq, max_age);
  ec_req_send(rq, 205, rq->resp_fmt, buf, len, etag);
  free(buf);
}

static void read_failed(ec_req_t *rq, int rc) {
  ec_req_problem(rq, 500,
                 rc == EC_ENOMEM ? "out-of-memory" : "storage-failure", NULL,
                 "cannot read the fleet: %s", ec_strerror(rc));
}

/* ---- query parameters --------------------------------------------------- */

/* ?state=NAME (any case) into *state; -1 when absent. */
static int query_state(ec_req_t *rq, int *state) {
  const uint8_t *v;
  int len = ec_req_query(rq, "state", &v);
  *state = -1;
  if (len < 0)
    return 0;
  int s = ec_state_parse((const char *)v, (size_t)len);
  if (s < 0) {
    ec_req_problem(rq, 400, "invalid-query", "state",
                   "state must be one of Pending, Installing, Installed, "
                   "Failed, Removing, Removed");
    return -1;
  }
  *state = s;
  return 0;
}

/* A query value that must be a route id (1..128 of the route characters)
 * into @p out, or "" when absent. */
static int query_id(ec_req_t *rq, const char *name, char *out, size_t cap,
                    bool allow_slash) {
  const uint8_t *v;
  int len = ec_req_query(rq, name, &v);
  out[0] = '\0';
  if (len < 0)
    return 0;
  if ((size_t)len >= cap) {
    ec_req_problem(rq, 400, "invalid-query", name, "%s is too long", name);
    return -1;
  }
  memcpy(out, v, (size_t)len);
  out[len] = '\0';
  char *slash = allow_slash ? strchr(out, '/') : NULL;
  if (slash != NULL)
    *slash = '\0';
  bool ok = ec_id_valid(out) && (slash == NULL || ec_id_valid(slash + 1));
  if (slash != NULL)
    *slash = '/';
  if (!ok) {
    ec_req_problem(rq, 400, "invalid-query", name,
                   "%s is a nextAfter value of an earlier page", name);
    return -1;
  }
  return 0;
}

static int query_limit(ec_req_t *rq, int *limit) {
  int64_t v;
  if (ec_req_query_int(rq, "limit", 1, EC_STORE_FLEET_MAX,
                       EC_STORE_FLEET_DEFAULT, &v) < 0)
    return -1;
  *limit = (int)v;
  return 0;
}

/* ---- GET /device and /deployment/{id}/devices ----------------------------- */

/* Read the page @p q selects and answer it; @p by_device: the cursor is
 * the deviceId alone (one deployment's devices), else "device/deployment". */
static void answer_devices(ec_req_t *rq, const ec_store_fleet_query_t *q,
                           bool by_device) {
  ec_fleet_device_t *list = NULL;
  size_t n = 0;
  bool more = false;
  int rc = ec_store_fleet_devices(rq->srv->store, q, EC_PAGE_BYTES, &list, &n,
                                  &more);
  if (rc < 0) {
    read_failed(rq, rc);
    return;
  }
  char next[2 * EC_STORE_MAX_ID_LEN + 2];
  ec_fleet_page_t d = {list, n, NULL};
  if (more && n > 0) {
    const ec_fleet_device_t *last = &list[n - 1];
    if (by_device)
      snprintf(next, sizeof(next), "%s", last->device_id);
    else
      snprintf(next, sizeof(next), "%s/%s", last->device_id,
               last->deployment_id);
    d.next_after = next;
  }
  send_encoded(rq, ec_fleet_devices_page_encode, &d, READ_MAX_AGE_S, 0);
  free(list);
}

void ec_fleet_devices(ec_req_t *rq) {
  static const char *const allowed[] = {"state", "device", "after", "limit",
                                        NULL};
  char device[EC_STORE_MAX_ID_LEN + 1], after[2 * EC_STORE_MAX_ID_LEN + 2];
  char own[EC_STORE_MAX_ID_LEN + 1];
  ec_store_fleet_query_t q = {0};
  if (ec_req_query_check(rq, allowed) < 0 || query_state(rq, &q.state) < 0 ||
      query_id(rq, "device", device, sizeof(device), false) < 0 ||
      query_id(rq, "after", after, sizeof(after), true) < 0 ||
      query_limit(rq, &q.limit) < 0)
    return;
  /* A device's DTLS session sees its own rows alone. */
  int scope = ec_access_own_device(rq, own, sizeof(own));
  if (scope < 0)
    return;
  if (scope == 1) {
    if (device[0] != '\0' && strcmp(device, own) != 0) {
      ec_req_problem(rq, 403, "forbidden", "device",
                     "a device sees only its own rows (identity '%s')", own);
      return;
    }
    snprintf(device, sizeof(device), "%s", own);
  }
  q.device_id = device[0] != '\0' ? device : NULL;
  if (after[0] != '\0') {
    char *slash = strchr(after, '/');
    if (slash != NULL)
      *slash++ = '\0';
    q.after_device = after;
    q.after_deployment = slash;
  }
  answer_devices(rq, &q, false);
}

void ec_fleet_members(ec_req_t *rq) {
  static const char *const allowed[] = {"state", "after", "limit", NULL};
  char after[EC_STORE_MAX_ID_LEN + 1];
  ec_store_fleet_query_t q = {0};
  if (ec_req_query_check(rq, allowed) < 0 || query_state(rq, &q.state) < 0 ||
      query_id(rq, "after", after, sizeof(after), false) < 0 ||
      query_limit(rq, &q.limit) < 0)
    return;
  q.deployment_id = rq->params[0];
  q.after_device = after[0] != '\0' ? after : NULL;
  answer_devices(rq, &q, true);
}

/* ---- GET /deployment ------------------------------------------------------ */

void ec_fleet_deployments(ec_req_t *rq) {
  static const char *const allowed[] = {"after", "limit", NULL};
  char after[EC_STORE_MAX_ID_LEN + 1];
  int limit;
  if (ec_req_query_check(rq, allowed) < 0 ||
      query_id(rq, "after", after, sizeof(after), false) < 0 ||
      query_limit(rq, &limit) < 0)
    return;
  ec_fleet_rollup_t *list = NULL;
  size_t n = 0;
  bool more = false;
  int rc = ec_store_fleet_rollups(rq->srv->store,
                                  after[0] != '\0' ? after : NULL, limit,
                                  &list, &n, &more);
  if (rc < 0) {
    read_failed(rq, rc);
    return;
  }
  ec_fleet_page_t r = {list, n,
                       more && n > 0 ? list[n - 1].deployment_id : NULL};
  send_encoded(rq, ec_fleet_rollups_page_encode, &r, READ_MAX_AGE_S, 0);
  free(list);
}

/* ---- GET /deployment/{id}/rollup and its observers ------------------------- */

/* Read @p dep's roll-up; a deployment nobody reported on has zero counts
 * (an observer may start before the first report). *block is freed by
 * the caller. */
static int read_rollup(ec_server_t *srv, const char *dep, ec_fleet_rollup_t *r,
                       void **block) {
  int rc = ec_store_fleet_rollup(srv->store, dep, r, block);
  if (rc == EC_ENOTFOUND) {
    memset(r, 0, sizeof(*r));
    r->deployment_id = dep;
    return 0;
  }
  return rc;
}

/* The ETag of a roll-up document: a digest of its CBOR form, so it
 * changes exactly when a count does. */
static uint64_t rollup_hash(const ec_fleet_rollup_t *r) {
  uint8_t *cbor = NULL;
  ssize_t len = ec_encode_new(ec_fleet_rollup_doc_encode, EC_FORMAT_CBOR, r, &cbor);
  if (len < 0)
    return 0;
  uint64_t h = ec_fnv1a(0xcbf29ce484222325ull, cbor, (size_t)len);
  free(cbor);
  return h != 0 ? h : 1;
}

static uint64_t etag_of(uint64_t hash, ec_format_t fmt) {
  return (hash << 1) | (fmt == EC_FORMAT_CBOR ? 1u : 0u);
}

static dep_t *dep_find(fleet_t *f, const char *id) {
  for (dep_t *d = f->deps; d != NULL; d = d->next)
    if (strcmp(d->id, id) == 0)
      return d;
  return NULL;
}

static dep_t *dep_get(fleet_t *f, const char *id) {
  dep_t *d = dep_find(f, id);
  if (d != NULL)
    return d;
  d = calloc(1, sizeof(*d));
  if (d == NULL)
    return NULL;
  snprintf(d->id, sizeof(d->id), "%s", id);
  d->next = f->deps;
  f->deps = d;
  return d;
}

static void filter_free(void *p) {
  free(p);
}

/* Send @p id's current roll-up to its observers (@p only: to that one),
 * unless it is the one sent last. @return the observers it has */
static unsigned notify_dep(ec_server_t *srv, fleet_t *f, dep_t *d,
                           ec_watch_t *only) {
  ec_fleet_rollup_t r;
  void *block = NULL;
  uint8_t *cbor = NULL, *json = NULL;
  size_t cbor_len = 0, json_len = 0;
  unsigned observers = 0;
  if (read_rollup(srv, d->id, &r, &block) < 0)
    goto done; /* logged by the store; the next change tries again */
  ssize_t n = ec_encode_new(ec_fleet_rollup_doc_encode, EC_FORMAT_CBOR, &r, &cbor);
  ssize_t m = n < 0 ? n : ec_encode_new(ec_fleet_rollup_doc_encode, EC_FORMAT_JSON, &r, &json);
  if (n < 0 || m < 0)
    goto done;
  cbor_len = (size_t)n;
  json_len = (size_t)m;
  uint64_t hash = ec_fnv1a(0xcbf29ce484222325ull, cbor, cbor_len);
  hash = hash != 0 ? hash : 1;
  bool same = hash == d->sent_hash;
  ec_watch_t *next;
  for (ec_watch_t *w = f->watch.head; w != NULL; w = next) {
    next = w->next;
    if (strcmp(w->filter, d->id) != 0)
      continue;
    observers++;
    if ((only == NULL && !same) || only == w)
      ec_watch_deliver(srv, w, cbor, cbor_len, etag_of(hash, EC_FORMAT_CBOR),
                       json, json_len, etag_of(hash, EC_FORMAT_JSON),
                       OBSERVE_MAX_AGE_S);
  }
  if (only == NULL)
    d->sent_hash = hash;
done:
  free(cbor);
  free(json);
  free(block);
  return observers;
}

/* A deferred notification is due (watch.h): the current roll-up. */
static void refresh_one(ec_server_t *srv, ec_watch_t *w) {
  fleet_t *f = srv->fleet;
  dep_t *d = dep_find(f, w->filter);
  if (d != NULL)
    notify_dep(srv, f, d, w);
}

void ec_fleet_rollup(ec_req_t *rq) {
  static const char *const allowed[] = {NULL};
  fleet_t *f = rq->srv->fleet;
  const char *dep = rq->params[0];
  if (ec_req_query_check(rq, allowed) < 0)
    return;
  char *kept = strdup(dep);
  if (kept == NULL) {
    ec_req_problem(rq, 500, "out-of-memory", NULL, "cannot observe now");
    return;
  }
  int observing = ec_watch_request(rq, &f->watch, kept, filter_free);
  if (observing < 0)
    return;
  ec_fleet_rollup_t r;
  void *block = NULL;
  int rc = read_rollup(rq->srv, dep, &r, &block);
  if (rc < 0) {
    if (observing)
      ec_watch_cancel_request(rq, &f->watch);
    read_failed(rq, rc);
    return;
  }
  uint64_t hash = rollup_hash(&r);
  if (observing) {
    bool known = dep_find(f, dep) != NULL;
    dep_t *d = dep_get(f, dep);
    if (d == NULL) {
      free(block);
      ec_watch_cancel_request(rq, &f->watch);
      ec_req_problem(rq, 503, "out-of-memory", NULL, "cannot observe now");
      return;
    }
    if (!known)
      d->sent_hash = hash;
  }
  send_encoded(rq, ec_fleet_rollup_doc_encode, &r,
               observing ? OBSERVE_MAX_AGE_S : READ_MAX_AGE_S,
               etag_of(hash, rq->resp_fmt));
  free(block);
}

/* ---- writes and the I/O round ---------------------------------------------- */

int ec_fleet_write_facts(const ec_deployment_status_t *st, ec_arena_t *arena,
                         ec_status_write_t *w) {
  size_t n = 0;
  w->error_code = st->has_error ? st->error.code : NULL;
  w->failed = NULL;
  w->n_failed = 0;
  for (size_t i = 0; i < st->n_components; i++)
    n += st->components[i].state == EC_STATE_FAILED;
  if (n == 0)
    return 0;
  ec_fleet_failure_t *a = ec_arena_alloc(arena, n * sizeof(*a));
  if (a == NULL)
    return EC_ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < st->n_components; i++) {
    const ec_component_status_t *c = &st->components[i];
    if (c->state != EC_STATE_FAILED)
      continue;
    a[k].component = c->name;
    a[k].code = c->has_error ? c->error.code : "";
    a[k].devices = 1;
    k++;
  }
  w->failed = a;
  w->n_failed = k;
  return 0;
}

void ec_fleet_reported(ec_server_t *srv, const ec_report_t *r) {
  fleet_t *f = srv->fleet;
  if (srv->on_report != NULL)
    srv->on_report(srv->on_report_ud, r);
  if (f == NULL || f->deps == NULL)
    return;
  dep_t *d = dep_find(f, r->deployment_id);
  if (d != NULL && !d->dirty) {
    d->dirty = true;
    f->n_dirty++;
  }
}

bool ec_fleet_listens(const ec_server_t *srv, const char *dep) {
  const fleet_t *f = srv->fleet;
  return srv->on_report != NULL ||
         (f != NULL && f->deps != NULL && dep_find((fleet_t *)f, dep) != NULL);
}

/* Drop the entries of deployments nobody observes any more. */
static void sweep(fleet_t *f) {
  for (dep_t **p = &f->deps; *p != NULL;) {
    dep_t *d = *p;
    bool watched = false;
    for (ec_watch_t *w = f->watch.head; w != NULL && !watched; w = w->next)
      watched = strcmp(w->filter, d->id) == 0;
    if (watched || d->dirty) {
      p = &d->next;
      continue;
    }
    *p = d->next;
    free(d);
  }
}

void ec_fleet_poll(ec_server_t *srv) {
  fleet_t *f = srv->fleet;
  if (f == NULL || f->deps == NULL || ec_store_queued(srv->store) > 0)
    return;
  uint64_t now = ec_mono_ms();
  if (f->n_dirty > 0) {
    for (dep_t *d = f->deps; d != NULL; d = d->next) {
      if (!d->dirty || now < d->last_ms + EC_FLEET_NOTIFY_MS)
        continue;
      d->dirty = false;
      f->n_dirty--;
      d->last_ms = now;
      notify_dep(srv, f, d, NULL);
    }
  }
  if (now >= f->last_sweep_ms + SWEEP_MS) {
    f->last_sweep_ms = now;
    sweep(f);
  }
}

int ec_fleet_next_ms(const ec_server_t *srv) {
  const fleet_t *f = srv->fleet;
  if (f == NULL || f->n_dirty == 0)
    return -1;
  uint64_t now = ec_mono_ms(), due = UINT64_MAX;
  for (const dep_t *d = f->deps; d != NULL; d = d->next)
    if (d->dirty && d->last_ms + EC_FLEET_NOTIFY_MS < due)
      due = d->last_ms + EC_FLEET_NOTIFY_MS;
  return due <= now ? 0 : (int)(due - now);
}

int ec_fleet_init(ec_server_t *srv) {
  fleet_t *f = calloc(1, sizeof(*f));
  if (f == NULL)
    return EC_ENOMEM;
  ec_watch_list_init(srv, &f->watch, watch_name);
  f->watch.owner = f;
  f->watch.refresh = refresh_one;
  srv->fleet = f;
  return 0;
}

void ec_fleet_free(ec_server_t *srv) {
  fleet_t *f = srv->fleet;
  if (f == NULL)
    return;
  for (ec_watch_list_t **p = &srv->watch_lists; *p != NULL; p = &(*p)->next) {
    if (*p == &f->watch) {
      *p = f->watch.next;
      break;
    }
  }
  while (f->deps != NULL) {
    dep_t *d = f->deps;
    f->deps = d->next;
    free(d);
  }
  free(f);
  srv->fleet = NULL;
}
