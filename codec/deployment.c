/* edgecoap codec: DeploymentStatus reports, their history and the deployments list. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "edgecoap/deployment.h"
#include "tree.h"

static const char *const state_names[EC_STATE_COUNT] = {
    "Pending", "Installing", "Installed", "Failed", "Removing", "Removed"};

const char *ec_state_name(ec_state_t s) {
  return (unsigned)s < EC_STATE_COUNT ? state_names[s] : NULL;
}

int ec_state_parse(const char *s, size_t len) {
  if (s == NULL) {
    return EC_EINVAL;
  }
  for (int i = 0; i < EC_STATE_COUNT; i++) {
    if (ec_ascii_ieq(s, len, state_names[i])) {
      return i;
    }
  }
  return EC_EBADDOC;
}

/* Margo's precedence as a rank, highest wins; 0 for a value outside the
 * enum, which then never wins. */
static int rank(ec_state_t s) {
  switch (s) {
  case EC_STATE_FAILED:
    return 6;
  case EC_STATE_REMOVING:
    return 5;
  case EC_STATE_INSTALLING:
    return 4;
  case EC_STATE_PENDING:
    return 3;
  case EC_STATE_REMOVED:
    return 2;
  case EC_STATE_INSTALLED:
    return 1;
  default:
    return 0;
  }
}

ec_state_t ec_state_rollup(const ec_state_t *states, size_t n) {
  ec_state_t best = EC_STATE_PENDING;
  int best_rank = 0;
  for (size_t i = 0; states != NULL && i < n; i++) {
    int r = rank(states[i]);
    if (r > best_rank) {
      best = states[i];
      best_rank = r;
    }
  }
  return best;
}

bool ec_uuid_valid(const char *s, size_t len) {
  if (s == NULL || len != 36) {
    return false;
  }
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') {
        return false;
      }
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                 (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

/* ---- decoding ---------------------------------------------------------- */

static int get_state(const json_t *obj, const char *path, ec_state_t *out,
                     ec_codec_error_t *err) {
  const json_t *v;
  int rc = ec_get_member(obj, "state", path, true, JSON_STRING, &v, err);
  if (rc < 0) {
    return rc;
  }
  int s = ec_state_parse(json_string_value(v), json_string_length(v));
  if (s < 0) {
    char field[EC_FIELD_CAP];
    ec_path_key(field, sizeof field, path, "state");
    return ec_fail(err, EC_ESEMANTIC, "invalid-state", field,
                   "%s must be one of Pending, Installing, Installed, Failed, "
                   "Removing, Removed",
                   field);
  }
  *out = (ec_state_t)s;
  return 0;
}

static int get_time(const json_t *obj, const char *key, const char *path,
                    int64_t *out, ec_codec_error_t *err) {
  const json_t *v;
  int rc = ec_get_member(obj, key, path, true, JSON_STRING, &v, err);
  if (rc < 0) {
    return rc;
  }
  if (ec_time_parse_ms(json_string_value(v), json_string_length(v), out) < 0) {
    char field[EC_FIELD_CAP];
    ec_path_key(field, sizeof field, path, key);
    return ec_fail(err, EC_EBADDOC, "invalid-date-time", field,
                   "%s must be an RFC 3339 date-time", field);
  }
  return 0;
}

/* The error of the status or of a component. Unknown keys are ignored (API.md
 * section 2), so the seed's misspelt "message " key is simply not seen; an
 * error whose present fields are all empty strings is no error, and only a
 * real error must carry both code and message. */
static int get_error(const json_t *parent, const char *path, bool *has,
                     ec_error_info_t *out, ec_arena_t *arena,
                     ec_codec_error_t *err) {
  const json_t *e;
  int rc = ec_get_member(parent, "error", path, false, JSON_OBJECT, &e, err);
  *has = false;
  if (rc < 0 || e == NULL) {
    return rc;
  }
  char epath[EC_FIELD_CAP];
  ec_path_key(epath, sizeof epath, path, "error");
  size_t mark = arena->used;
  ec_error_info_t info = {0};
  if ((rc = ec_get_string(e, "code", epath, false, 0, EC_MAX_TEXT, arena,
                          &info.code, err)) < 0 ||
      (rc = ec_get_string(e, "message", epath, false, 0, EC_MAX_TEXT, arena,
                          &info.message, err)) < 0 ||
      (rc = ec_get_string(e, "source", epath, false, 0, EC_MAX_TEXT, arena,
                          &info.source, err)) < 0) {
    return rc;
  }
  if ((info.code == NULL || *info.code == '\0') &&
      (info.message == NULL || *info.message == '\0') &&
      (info.source == NULL || *info.source == '\0')) {
    arena->used = mark;
    return 0;
  }
  const char *missing = info.code == NULL      ? "code"
                        : info.message == NULL ? "message"
                                               : NULL;
  if (missing != NULL) {
    char field[EC_FIELD_CAP];
    ec_path_key(field, sizeof field, epath, missing);
    return ec_fail(err, EC_EBADDOC, "missing-field", field,
                   "%s is required in an error", field);
  }
  *has = true;
  *out = info;
  return 0;
}

static int get_components(const json_t *doc, const char *path,
                          ec_deployment_status_t *st, ec_arena_t *arena,
                          ec_codec_error_t *err) {
  const json_t *a;
  char apath[EC_FIELD_CAP];
  int rc = ec_get_member(doc, "components", path, true, JSON_ARRAY, &a, err);
  if (rc < 0) {
    return rc;
  }
  ec_path_key(apath, sizeof apath, path, "components");
  size_t n = json_array_size(a);
  if (n > EC_MAX_COMPONENTS) {
    return ec_fail(err, EC_ETOOBIG, "too-large", apath,
                   "a report has at most %d components", EC_MAX_COMPONENTS);
  }
  ec_component_status_t *c = NULL;
  if (n > 0 && (c = ec_alloc_array(arena, n, sizeof *c, apath, err)) == NULL) {
    return EC_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    const json_t *o = json_array_get(a, i);
    char cpath[EC_FIELD_CAP];
    ec_path_index(cpath, sizeof cpath, apath, i);
    memset(&c[i], 0, sizeof c[i]);
    if (!json_is_object(o)) {
      return ec_fail(err, EC_EBADDOC, "invalid-type", cpath,
                     "%s must be an object", cpath);
    }
    if ((rc = ec_get_string(o, "name", cpath, true, 1, EC_MAX_TEXT, arena,
                            &c[i].name, err)) < 0 ||
        (rc = get_state(o, cpath, &c[i].state, err)) < 0 ||
        (rc = get_error(o, cpath, &c[i].has_error, &c[i].error, arena, err)) <
            0) {
      return rc;
    }
    /* EC_MAX_COMPONENTS bounds this quadratic scan to a few thousand
     * compares, cheaper than any index. */
    for (size_t j = 0; j < i; j++) {
      if (strcmp(c[j].name, c[i].name) == 0) {
        char field[EC_FIELD_CAP];
        ec_path_key(field, sizeof field, cpath, "name");
        return ec_fail(err, EC_ESEMANTIC, "duplicate-component", field,
                       "component \"%s\" is reported twice", c[i].name);
      }
    }
  }
  st->components = c;
  st->n_components = n;
  return 0;
}

/* Every rule of API.md section 2 but the route match, on a parsed tree;
 * @p path prefixes the fields named in errors (a history entry's report). */
static int status_from_tree(const json_t *doc, const char *path,
                            ec_deployment_status_t *st, ec_arena_t *arena,
                            ec_codec_error_t *err) {
  static const char *const keys[] = {
      "apiVersion", "kind",   "deploymentId", "deviceId",
      "adoptedManifestVersion", "status", "components", NULL};
  char field[EC_FIELD_CAP];
  const json_t *status;
  int64_t amv = 0;
  int rc;
  memset(st, 0, sizeof *st);
  if (!json_is_object(doc)) {
    return ec_fail(err, EC_EBADDOC, "invalid-type", path,
                   "a DeploymentStatus must be an object");
  }
  if ((rc = ec_check_keys(doc, path, keys, err)) < 0 ||
      (rc = ec_get_string(doc, "apiVersion", path, true, 1, EC_MAX_TEXT, arena,
                          &st->api_version, err)) < 0 ||
      (rc = ec_get_string(doc, "kind", path, true, 0, EC_MAX_TEXT, arena,
                          &st->kind, err)) < 0) {
    return rc;
  }
  if (strcmp(st->kind, "DeploymentStatus") != 0 &&
      strcmp(st->kind, "DeploymentStatusManifest") != 0) {
    ec_path_key(field, sizeof field, path, "kind");
    return ec_fail(err, EC_ESEMANTIC, "invalid-kind", field,
                   "kind must be DeploymentStatus or DeploymentStatusManifest");
  }
  if ((rc = ec_get_string(doc, "deploymentId", path, true, 0, EC_MAX_TEXT,
                          arena, &st->deployment_id, err)) < 0) {
    return rc;
  }
  if (!ec_uuid_valid(st->deployment_id, strlen(st->deployment_id))) {
    ec_path_key(field, sizeof field, path, "deploymentId");
    return ec_fail(err, EC_ESEMANTIC, "invalid-deployment-id", field,
                   "deploymentId must be a UUID");
  }
  if ((rc = ec_get_string(doc, "deviceId", path, false, 1, EC_MAX_TEXT, arena,
                          &st->device_id, err)) < 0 ||
      (rc = ec_get_int(doc, "adoptedManifestVersion", path, false, 1, INT64_MAX,
                       &amv, NULL, err)) < 0 ||
      (rc = ec_get_member(doc, "status", path, true, JSON_OBJECT, &status,
                          err)) < 0) {
    return rc;
  }
  st->adopted_manifest_version = (uint64_t)amv;
  ec_path_key(field, sizeof field, path, "status");
  if ((rc = get_state(status, field, &st->state, err)) < 0 ||
      (rc = get_error(status, field, &st->has_error, &st->error, arena, err)) <
          0) {
    return rc;
  }
  return get_components(doc, path, st, arena, err);
}

int ec_deployment_status_decode(ec_format_t fmt, const uint8_t *buf,
                                size_t len, ec_deployment_status_t *out,
                                ec_arena_t *arena, ec_codec_error_t *err) {
  if (out == NULL || arena == NULL || (buf == NULL && len > 0)) {
    return ec_fail(err, EC_EINVAL, "invalid-argument", "",
                   "a required argument is NULL");
  }
  json_t *t;
  int rc = ec_doc_parse(fmt, buf, len, &t, err);
  if (rc < 0) {
    return rc;
  }
  size_t mark = arena->used;
  ec_deployment_status_t st;
  rc = status_from_tree(t, "", &st, arena, err);
  json_decref(t);
  if (rc < 0) {
    arena->used = mark;
    return rc;
  }
  *out = st;
  return 0;
}

int ec_deployment_status_check_route(const ec_deployment_status_t *st,
                                     const char *route_deployment_id,
                                     ec_codec_error_t *err) {
  if (st == NULL || st->deployment_id == NULL || route_deployment_id == NULL) {
    return EC_EINVAL;
  }
  if (ec_ascii_ieq(st->deployment_id, strlen(st->deployment_id),
                   route_deployment_id)) {
    return 0;
  }
  return ec_fail(err, EC_ESEMANTIC, "deployment-mismatch", "deploymentId",
                 "deploymentId %s does not match the route's %s",
                 st->deployment_id, route_deployment_id);
}

/* ---- encoding ---------------------------------------------------------- */

static int add_error(json_t *parent, const ec_error_info_t *e) {
  json_t *o = json_object();
  int rc = ec_set_new(parent, "error", o);
  if (rc == 0) {
    rc = ec_set_str(o, "code", e->code);
  }
  if (rc == 0) {
    rc = ec_set_str(o, "message", e->message);
  }
  if (rc == 0 && e->source != NULL) {
    rc = ec_set_str(o, "source", e->source);
  }
  return rc;
}

/* Children are linked into their parent before they are filled, so one
 * json_decref() of the root unwinds any failure. */
static int status_to_tree(const ec_deployment_status_t *st, json_t *t) {
  if (st->adopted_manifest_version > INT64_MAX ||
      (st->components == NULL && st->n_components > 0)) {
    return EC_EINVAL;
  }
  int rc;
  if ((rc = ec_set_str(t, "apiVersion", st->api_version)) < 0 ||
      (rc = ec_set_str(t, "kind", st->kind)) < 0 ||
      (rc = ec_set_str(t, "deploymentId", st->deployment_id)) < 0) {
    return rc;
  }
  if (st->device_id != NULL &&
      (rc = ec_set_str(t, "deviceId", st->device_id)) < 0) {
    return rc;
  }
  if (st->adopted_manifest_version > 0 &&
      (rc = ec_set_int(t, "adoptedManifestVersion",
                       (int64_t)st->adopted_manifest_version)) < 0) {
    return rc;
  }
  json_t *s = json_object();
  if ((rc = ec_set_new(t, "status", s)) < 0 ||
      (rc = ec_set_str(s, "state", ec_state_name(st->state))) < 0 ||
      (st->has_error && (rc = add_error(s, &st->error)) < 0)) {
    return rc;
  }
  json_t *a = json_array();
  if ((rc = ec_set_new(t, "components", a)) < 0) {
    return rc;
  }
  for (size_t i = 0; i < st->n_components; i++) {
    const ec_component_status_t *c = &st->components[i];
    json_t *o = json_object();
    if (json_array_append_new(a, o) != 0) {
      return EC_ENOMEM;
    }
    if ((rc = ec_set_str(o, "name", c->name)) < 0 ||
        (rc = ec_set_str(o, "state", ec_state_name(c->state))) < 0 ||
        (c->has_error && (rc = add_error(o, &c->error)) < 0)) {
      return rc;
    }
  }
  return 0;
}

ssize_t ec_deployment_status_encode(ec_format_t fmt,
                                    const ec_deployment_status_t *st,
                                    uint8_t *buf, size_t cap) {
  int rc = ec_encode_args(fmt, st, 1, buf, cap);
  if (rc < 0) {
    return rc;
  }
  json_t *t = json_object();
  if (t == NULL) {
    return EC_ENOMEM;
  }
  return ec_encode_finish(fmt, t, status_to_tree(st, t), buf, cap);
}

/* Embed one stored report: it was written by ec_deployment_status_encode(),
 * so anything but a CBOR map is corruption in the store. */
static int add_report(json_t *o, const ec_history_entry_t *e) {
  json_t *r;
  if (e->report == NULL && e->report_len > 0) {
    return EC_EINVAL;
  }
  int rc = ec_tree_parse(EC_FORMAT_CBOR, e->report, e->report_len, &r, NULL);
  if (rc < 0) {
    return rc == EC_ENOMEM ? rc : EC_ESYNTAX;
  }
  if (!json_is_object(r)) {
    json_decref(r);
    return EC_ESYNTAX;
  }
  return ec_set_new(o, "report", r);
}

static int history_entry_to_tree(json_t *o, const void *item) {
  const ec_history_entry_t *e = item;
  int rc;
  if ((rc = ec_set_int(o, "seq", e->seq)) < 0 ||
      (rc = ec_set_time(o, "receivedAt", e->received_at_ms)) < 0) {
    return rc;
  }
  return add_report(o, e);
}

ssize_t ec_history_encode(ec_format_t fmt, const ec_history_entry_t *entries,
                          size_t n, uint8_t *buf, size_t cap) {
  return ec_encode_list(fmt, "reports", entries, n, sizeof *entries,
                        history_entry_to_tree, buf, cap);
}

static int summary_to_tree(json_t *o, const void *item) {
  const ec_deployment_summary_t *d = item;
  int rc;
  if ((rc = ec_set_str(o, "deploymentId", d->deployment_id)) < 0 ||
      (rc = ec_set_str(o, "state", ec_state_name(d->state))) < 0) {
    return rc;
  }
  return ec_set_time(o, "updatedAt", d->updated_at_ms);
}

ssize_t ec_deployments_encode(ec_format_t fmt,
                              const ec_deployment_summary_t *list, size_t n,
                              uint8_t *buf, size_t cap) {
  return ec_encode_list(fmt, "deployments", list, n, sizeof *list,
                        summary_to_tree, buf, cap);
}

/* ---- list decoders (client side) --------------------------------------- */

/* The client reads what a server sends, so unknown members of the envelope
 * and its entries are skipped (a newer server may add some); the embedded
 * reports still get every DeploymentStatus rule. */
static int list_start(ec_format_t fmt, const uint8_t *buf, size_t len,
                      const char *key, json_t **t, const json_t **a,
                      ec_codec_error_t *err) {
  int rc = ec_doc_parse(fmt, buf, len, t, err);
  if (rc < 0) {
    return rc;
  }
  if (!json_is_object(*t)) {
    rc = ec_fail(err, EC_EBADDOC, "invalid-type", "", "the body must be an object");
  } else {
    rc = ec_get_member(*t, key, "", true, JSON_ARRAY, a, err);
  }
  if (rc < 0) {
    json_decref(*t);
  }
  return rc;
}

int ec_history_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                      ec_history_item_t **items, size_t *n, ec_arena_t *arena,
                      ec_codec_error_t *err) {
  if (items == NULL || n == NULL || arena == NULL || (buf == NULL && len > 0)) {
    return ec_fail(err, EC_EINVAL, "invalid-argument", "",
                   "a required argument is NULL");
  }
  json_t *t;
  const json_t *a;
  int rc = list_start(fmt, buf, len, "reports", &t, &a, err);
  if (rc < 0) {
    return rc;
  }
  size_t mark = arena->used;
  size_t count = json_array_size(a);
  ec_history_item_t *it = ec_alloc_array(arena, count, sizeof *it, "", err);
  rc = it == NULL ? EC_ENOMEM : 0;
  for (size_t i = 0; i < count && rc == 0; i++) {
    const json_t *o = json_array_get(a, i);
    const json_t *r;
    char path[EC_FIELD_CAP];
    char rpath[EC_FIELD_CAP];
    ec_path_index(path, sizeof path, "reports", i);
    ec_path_key(rpath, sizeof rpath, path, "report");
    if (!json_is_object(o)) {
      rc = ec_fail(err, EC_EBADDOC, "invalid-type", path, "%s must be an object",
                   path);
    } else if ((rc = ec_get_int(o, "seq", path, true, 1, INT64_MAX, &it[i].seq,
                                NULL, err)) == 0 &&
               (rc = get_time(o, "receivedAt", path, &it[i].received_at_ms,
                              err)) == 0 &&
               (rc = ec_get_member(o, "report", path, true, JSON_OBJECT, &r,
                                   err)) == 0) {
      rc = status_from_tree(r, rpath, &it[i].report, arena, err);
    }
  }
  json_decref(t);
  if (rc < 0) {
    arena->used = mark;
    return rc;
  }
  *items = it;
  *n = count;
  return 0;
}

int ec_deployments_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                          ec_deployment_summary_t **list, size_t *n,
                          ec_arena_t *arena, ec_codec_error_t *err) {
  if (list == NULL || n == NULL || arena == NULL || (buf == NULL && len > 0)) {
    return ec_fail(err, EC_EINVAL, "invalid-argument", "",
                   "a required argument is NULL");
  }
  json_t *t;
  const json_t *a;
  int rc = list_start(fmt, buf, len, "deployments", &t, &a, err);
  if (rc < 0) {
    return rc;
  }
  size_t mark = arena->used;
  size_t count = json_array_size(a);
  ec_deployment_summary_t *d = ec_alloc_array(arena, count, sizeof *d, "", err);
  rc = d == NULL ? EC_ENOMEM : 0;
  for (size_t i = 0; i < count && rc == 0; i++) {
    const json_t *o = json_array_get(a, i);
    char path[EC_FIELD_CAP];
    ec_path_index(path, sizeof path, "deployments", i);
    if (!json_is_object(o)) {
      rc = ec_fail(err, EC_EBADDOC, "invalid-type", path, "%s must be an object",
                   path);
    } else if ((rc = ec_get_string(o, "deploymentId", path, true, 1,
                                   EC_MAX_TEXT, arena, &d[i].deployment_id,
                                   err)) == 0 &&
               (rc = get_state(o, path, &d[i].state, err)) == 0) {
      rc = get_time(o, "updatedAt", path, &d[i].updated_at_ms, err);
    }
  }
  json_decref(t);
  if (rc < 0) {
    arena->used = mark;
    return rc;
  }
  *list = d;
  *n = count;
  return 0;
}
