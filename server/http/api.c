/* edgecoap server: the dashboard's JSON reads (/api/...): deployments, their devices, devices, a device's history. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgecoap/fleet.h"
#include "internal.h"

/*
 * GET /api/deployments                       every deployment's counts
 *                                            (?after, ?limit)
 * GET /api/deployments/{id}                  one roll-up, failures too
 * GET /api/deployments/{id}/devices          its devices (?state, ?q,
 *                                            ?after, ?limit)
 * GET /api/devices                           devices and their latest
 *                                            state per deployment (?device,
 *                                            ?q, ?deployment, ?state, ?after,
 *                                            ?limit)
 * GET /api/devices/{id}/history              its last reports, newest
 *                                            first (?deployment, ?limit)
 *
 * The same documents as the CoAP fleet resources (API.md section 7, the
 * codec's encoders), read with the same bounded, index-backed store calls,
 * so a page costs one indexed read whatever the fleet's size. ?q is a
 * prefix of the deviceId, walked in the index's order from the first id
 * it could start (no scan). docs/API.md section 8 has every member.
 */

/* The history's default and largest number of reports. */
#define HISTORY_DEFAULT 20
#define HISTORY_MAX 200
/* A device's deployments read for its history at most. */
#define HISTORY_DEPLOYMENTS 64
/* The arena a stored report is decoded into (reports are at most
 * --max-body, 64 KiB by default; decoded, a few times that). */
#define ARENA_BYTES (1u << 20)

typedef struct {
  ec_http_t *h;
  struct MHD_Connection *c;
} call_t;

static const char *arg(const call_t *k, const char *name) {
  const char *v =
      MHD_lookup_connection_value(k->c, MHD_GET_ARGUMENT_KIND, name);
  return v != NULL && *v != '\0' ? v : NULL;
}

static enum MHD_Result bad(const call_t *k, const char *name, const char *why) {
  return ec__http_problem(k->c, MHD_HTTP_BAD_REQUEST, "invalid-query", "%s: %s",
                          name, why);
}

static enum MHD_Result read_failed(const call_t *k, int rc) {
  return ec__http_problem(k->c, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          rc == EC_ENOMEM ? "out-of-memory" : "storage-failure",
                          "cannot read the fleet: %s", ec_strerror(rc));
}

/* ?limit in 1..max, default @p dflt; -1 when invalid. */
static int limit_of(const call_t *k, int dflt, int max) {
  const char *v = arg(k, "limit");
  if (v == NULL)
    return dflt;
  char *end;
  long n = strtol(v, &end, 10);
  return *end == '\0' && n >= 1 && n <= max ? (int)n : -1;
}

/* ?state: a state's name (any case), -1 when absent, -2 when invalid. */
static int state_of(const call_t *k) {
  const char *v = arg(k, "state");
  if (v == NULL)
    return -1;
  int s = ec_state_parse(v, strlen(v));
  return s < 0 ? -2 : s;
}

/* An id from the path or a query (route characters, 1..128). */
static bool id_ok(const char *s) {
  return s != NULL && ec_id_valid(s);
}

static enum MHD_Result send_encoded(const call_t *k, ec_encode_fn enc,
                                    const void *doc) {
  uint8_t *buf = NULL;
  ssize_t n = ec_encode_new(enc, EC_FORMAT_JSON, doc, &buf);
  if (n < 0) {
    free(buf);
    return read_failed(k, (int)n);
  }
  return ec__http_json(k->c, MHD_HTTP_OK, (char *)buf, (size_t)n);
}

/* ---- /api/deployments --------------------------------------------------- */

static enum MHD_Result deployments(const call_t *k) {
  const char *after = arg(k, "after");
  int limit = limit_of(k, EC_STORE_FLEET_DEFAULT, EC_STORE_FLEET_MAX);
  if (limit < 0)
    return bad(k, "limit", "a number from 1 to 1000");
  if (after != NULL && !id_ok(after))
    return bad(k, "after", "the nextAfter of an earlier page");
  ec_fleet_rollup_t *list = NULL;
  size_t n = 0;
  bool more = false;
  int rc =
      ec_store_fleet_rollups(k->h->srv->store, after, limit, &list, &n, &more);
  if (rc < 0)
    return read_failed(k, rc);
  ec_fleet_page_t p = {list, n,
                       more && n > 0 ? list[n - 1].deployment_id : NULL};
  enum MHD_Result r = send_encoded(k, ec_fleet_rollups_page_encode, &p);
  free(list);
  return r;
}

static enum MHD_Result rollup(const call_t *k, const char *dep) {
  ec_fleet_rollup_t r;
  void *block = NULL;
  int rc = ec_store_fleet_rollup(k->h->srv->store, dep, &r, &block);
  if (rc == EC_ENOTFOUND) {
    free(block);
    return ec__http_problem(k->c, MHD_HTTP_NOT_FOUND, "not-found",
                            "no device reported on deployment %s", dep);
  }
  if (rc < 0) {
    free(block);
    return read_failed(k, rc);
  }
  enum MHD_Result res = send_encoded(k, ec_fleet_rollup_doc_encode, &r);
  free(block);
  return res;
}

/* ---- devices ------------------------------------------------------------ */

/* The last id before every id that starts with @p q: @p q with its last
 * byte one less and DEL after it (ids are printable ASCII below DEL). */
static void before_prefix(const char *q, char *out, size_t cap) {
  size_t n = strlen(q);
  snprintf(out, cap, "%s", q);
  out[n - 1] = (char)(out[n - 1] - 1);
  out[n] = '\x7f';
  out[n + 1] = '\0';
}

/*
 * One page of rows: @p q's filters, @p prefix (or NULL) a deviceId prefix,
 * @p only_dep (or NULL) a deployment the rows of one device must have.
 * @p by_device: the cursor is the deviceId (one deployment's devices),
 * else "deviceId/deploymentId".
 */
static enum MHD_Result devices_page(const call_t *k, ec_store_fleet_query_t *q,
                                    const char *prefix, const char *only_dep,
                                    bool by_device) {
  char before[EC_STORE_MAX_ID_LEN + 3];
  if (prefix != NULL && q->after_device == NULL && q->device_id == NULL) {
    before_prefix(prefix, before, sizeof(before));
    q->after_device = before;
    q->after_deployment = NULL;
  }
  ec_fleet_device_t *list = NULL;
  size_t n = 0;
  bool more = false;
  int rc = ec_store_fleet_devices(k->h->srv->store, q, 0, &list, &n, &more);
  if (rc < 0)
    return read_failed(k, rc);
  size_t plen = prefix != NULL ? strlen(prefix) : 0;
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    if (prefix != NULL && strncmp(list[i].device_id, prefix, plen) != 0) {
      more = false; /* past the prefix: in order, nothing later matches */
      break;
    }
    if (only_dep != NULL && strcasecmp(list[i].deployment_id, only_dep) != 0)
      continue;
    list[kept++] = list[i];
  }
  /* The cursor is the last row read, kept or not. */
  char next[2 * EC_STORE_MAX_ID_LEN + 2];
  ec_fleet_page_t p = {list, kept, NULL};
  if (more && n > 0) {
    if (by_device)
      snprintf(next, sizeof(next), "%s", list[n - 1].device_id);
    else
      snprintf(next, sizeof(next), "%s/%s", list[n - 1].device_id,
               list[n - 1].deployment_id);
    p.next_after = next;
  }
  enum MHD_Result r = send_encoded(k, ec_fleet_devices_page_encode, &p);
  free(list);
  return r;
}

/* The query members every devices list shares: ?state, ?q, ?limit. */
static int common_query(const call_t *k, ec_store_fleet_query_t *q,
                        const char **prefix, enum MHD_Result *r) {
  q->state = state_of(k);
  if (q->state == -2) {
    *r = bad(k, "state",
             "one of Pending, Installing, Installed, Failed, "
             "Removing, Removed");
    return -1;
  }
  q->limit = limit_of(k, EC_STORE_FLEET_DEFAULT, EC_STORE_FLEET_MAX);
  if (q->limit < 0) {
    *r = bad(k, "limit", "a number from 1 to 1000");
    return -1;
  }
  *prefix = arg(k, "q");
  if (*prefix != NULL &&
      (!id_ok(*prefix) || strlen(*prefix) >= EC_STORE_MAX_ID_LEN)) {
    *r = bad(k, "q", "the start of a deviceId (route characters)");
    return -1;
  }
  return 0;
}

static enum MHD_Result members(const call_t *k, const char *dep) {
  ec_store_fleet_query_t q = {0};
  const char *prefix;
  enum MHD_Result r;
  if (common_query(k, &q, &prefix, &r) < 0)
    return r;
  const char *after = arg(k, "after");
  if (after != NULL && !id_ok(after))
    return bad(k, "after", "the nextAfter of an earlier page");
  q.deployment_id = dep;
  q.after_device = after;
  return devices_page(k, &q, prefix, NULL, true);
}

static enum MHD_Result devices(const call_t *k) {
  ec_store_fleet_query_t q = {0};
  const char *prefix;
  enum MHD_Result r;
  if (common_query(k, &q, &prefix, &r) < 0)
    return r;
  const char *device = arg(k, "device"), *dep = arg(k, "deployment");
  if (device != NULL && !id_ok(device))
    return bad(k, "device", "a deviceId");
  if (dep != NULL && !id_ok(dep))
    return bad(k, "deployment", "a deploymentId");
  /* One deployment's rows in the order of its devices: that list. */
  if (device == NULL && dep != NULL) {
    const char *after = arg(k, "after");
    if (after != NULL && !id_ok(after))
      return bad(k, "after", "the nextAfter of an earlier page");
    q.deployment_id = dep;
    q.after_device = after;
    return devices_page(k, &q, prefix, NULL, true);
  }
  char after[2 * EC_STORE_MAX_ID_LEN + 2];
  const char *a = arg(k, "after");
  if (a != NULL) {
    if (strlen(a) >= sizeof(after))
      return bad(k, "after", "the nextAfter of an earlier page");
    snprintf(after, sizeof(after), "%s", a);
    char *slash = strchr(after, '/');
    if (slash != NULL)
      *slash++ = '\0';
    if (!id_ok(after) || (slash != NULL && !id_ok(slash)))
      return bad(k, "after", "the nextAfter of an earlier page");
    q.after_device = after;
    q.after_deployment = slash;
  }
  q.device_id = device;
  return devices_page(k, &q, prefix, device != NULL ? dep : NULL, false);
}

/* ---- a device's history ------------------------------------------------- */

typedef struct {
  json_t *item;
  int64_t at;
  int64_t seq;
} hist_t;

static int newest_first(const void *a, const void *b) {
  const hist_t *x = a, *y = b;
  if (x->at != y->at)
    return x->at < y->at ? 1 : -1;
  return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

static json_t *error_json(const ec_error_info_t *e) {
  json_t *o = json_object();
  json_object_set_new(o, "code", json_string(e->code ? e->code : ""));
  if (e->message != NULL)
    json_object_set_new(o, "message", json_string(e->message));
  return o;
}

/* One stored report as {"deploymentId", "seq", "receivedAt", "state", "error"?,
 * "components": [{"name", "state", "error"?}]}. */
static json_t *history_item(const char *dep, const ec_history_entry_t *e,
                            ec_arena_t *arena) {
  ec_deployment_status_t st;
  ec_codec_error_t err;
  json_t *o = json_object();
  json_object_set_new(o, "deploymentId", json_string(dep));
  json_object_set_new(o, "seq", json_integer(e->seq));
  char at[32];
  ec__http_time(e->received_at_ms, at);
  json_object_set_new(o, "receivedAt", json_string(at));
  ec_arena_reset(arena);
  if (ec_deployment_status_decode(EC_FORMAT_CBOR, e->report, e->report_len, &st,
                                  arena, &err) < 0) {
    json_object_set_new(o, "state", json_string("unreadable"));
    return o;
  }
  json_object_set_new(o, "state", json_string(ec_state_name(st.state)));
  if (st.has_error)
    json_object_set_new(o, "error", error_json(&st.error));
  json_t *cs = json_array();
  for (size_t i = 0; i < st.n_components; i++) {
    const ec_component_status_t *c = &st.components[i];
    json_t *co = json_object();
    json_object_set_new(co, "name", json_string(c->name));
    json_object_set_new(co, "state", json_string(ec_state_name(c->state)));
    if (c->has_error)
      json_object_set_new(co, "error", error_json(&c->error));
    json_array_append_new(cs, co);
  }
  json_object_set_new(o, "components", cs);
  return o;
}

/* Append @p dep's last @p limit reports to @p out (grown). */
static int history_of(ec_store_t *store, const char *dev, const char *dep,
                      int limit, ec_arena_t *arena, hist_t **out, size_t *n,
                      size_t *cap) {
  uint8_t *doc = NULL;
  size_t len;
  int64_t seq = 0;
  int rc = ec_store_status_get(store, dev, dep, &doc, &len, NULL, &seq);
  free(doc);
  if (rc == EC_ENOTFOUND)
    return 0;
  if (rc < 0)
    return rc;
  /* A pair's seqs run 1, 2, ... without gaps: its last reports follow
   * seq - limit. */
  ec_history_entry_t *h = NULL;
  size_t m = 0;
  rc = ec_store_history(store, dev, dep, seq > limit ? seq - limit : 0, limit,
                        &h, &m);
  if (rc < 0)
    return rc;
  if (*n + m > *cap) {
    size_t want = (*n + m) * 2;
    hist_t *g = realloc(*out, want * sizeof(*g));
    if (g == NULL) {
      free(h);
      return EC_ENOMEM;
    }
    *out = g;
    *cap = want;
  }
  for (size_t i = 0; i < m; i++) {
    hist_t *x = &(*out)[(*n)++];
    x->item = history_item(dep, &h[i], arena);
    x->at = h[i].received_at_ms;
    x->seq = h[i].seq;
  }
  free(h);
  return 0;
}

static enum MHD_Result history(const call_t *k, const char *dev) {
  ec_store_t *store = k->h->srv->store;
  const char *only = arg(k, "deployment");
  int limit = limit_of(k, HISTORY_DEFAULT, HISTORY_MAX);
  if (limit < 0)
    return bad(k, "limit", "a number from 1 to 200");
  if (only != NULL && !id_ok(only))
    return bad(k, "deployment", "a deploymentId");
  ec_deployment_summary_t *deps = NULL;
  size_t n_deps = 0;
  int rc = 0;
  if (only == NULL) {
    rc = ec_store_deployments_page(store, dev, NULL, 0, &deps, &n_deps, NULL);
    if (rc < 0)
      return read_failed(k, rc);
    if (n_deps > HISTORY_DEPLOYMENTS)
      n_deps = HISTORY_DEPLOYMENTS;
  }
  void *abuf = malloc(ARENA_BYTES);
  hist_t *items = NULL;
  size_t n = 0, cap = 0;
  if (abuf == NULL) {
    free(deps);
    return read_failed(k, EC_ENOMEM);
  }
  ec_arena_t arena;
  ec_arena_init(&arena, abuf, ARENA_BYTES);
  if (only != NULL)
    rc = history_of(store, dev, only, limit, &arena, &items, &n, &cap);
  for (size_t i = 0; rc == 0 && i < n_deps; i++)
    rc = history_of(store, dev, deps[i].deployment_id, limit, &arena, &items,
                    &n, &cap);
  enum MHD_Result res;
  if (rc < 0) {
    res = read_failed(k, rc);
    goto out;
  }
  if (n == 0 && only == NULL && n_deps == 0) {
    res = ec__http_problem(k->c, MHD_HTTP_NOT_FOUND, "not-found",
                           "device %s has reported nothing", dev);
    goto out;
  }
  qsort(items, n, sizeof(*items), newest_first);
  json_t *doc = json_object(), *list = json_array();
  json_object_set_new(doc, "deviceId", json_string(dev));
  for (size_t i = 0; i < n; i++) {
    if (i < (size_t)limit)
      json_array_append(list, items[i].item);
  }
  json_object_set_new(doc, "reports", list);
  char *text = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  res = text != NULL ? ec__http_json(k->c, MHD_HTTP_OK, text, strlen(text))
                     : read_failed(k, EC_ENOMEM);
out:
  for (size_t i = 0; i < n; i++)
    json_decref(items[i].item);
  free(items);
  free(abuf);
  free(deps);
  return res;
}

/* ---- the paths ---------------------------------------------------------- */

enum MHD_Result ec__http_api(ec_http_t *h, struct MHD_Connection *c,
                             const char *url) {
  call_t k = {h, c};
  char path[320], *seg[5] = {0};
  int n = 0;
  if (strlen(url) >= sizeof(path))
    return ec__http_problem(c, MHD_HTTP_NOT_FOUND, "not-found", "no such path");
  snprintf(path, sizeof(path), "%s", url + 5); /* after "/api/" */
  for (char *p = path; n < 5 && p != NULL && *p != '\0';) {
    seg[n++] = p;
    p = strchr(p, '/');
    if (p != NULL)
      *p++ = '\0';
  }
  if (n == 1 && strcmp(seg[0], "deployments") == 0)
    return deployments(&k);
  if (n == 1 && strcmp(seg[0], "devices") == 0)
    return devices(&k);
  if (n >= 2 && !id_ok(seg[1]))
    return ec__http_problem(c, MHD_HTTP_BAD_REQUEST, "invalid-route",
                            "not an id: 1 to 128 of A-Z a-z 0-9 - . _ ~ : @");
  if (n == 2 && strcmp(seg[0], "deployments") == 0)
    return rollup(&k, seg[1]);
  if (n == 3 && strcmp(seg[0], "deployments") == 0 &&
      strcmp(seg[2], "devices") == 0)
    return members(&k, seg[1]);
  if (n == 3 && strcmp(seg[0], "devices") == 0 &&
      strcmp(seg[2], "history") == 0)
    return history(&k, seg[1]);
  return ec__http_problem(c, MHD_HTTP_NOT_FOUND, "not-found",
                          "no such path: /api/deployments[/{id}[/devices]], "
                          "/api/devices[/{id}/history], /api/events");
}
