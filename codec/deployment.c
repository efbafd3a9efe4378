/* edgecoap codec: DeploymentStatus reports, their history and the deployments list. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "edgecoap/deployment.h"
#include "tree.h"

static const char *const state_names[EC_STATE_COUNT] = {
    "Pending", "Installing", "Installed", "Failed", "Removing", "Removed"};
/* Their lengths, in the same order (test_codec_stream reads every state in
 * the encoder's spelling through the fast path). */
static const unsigned char state_lens[EC_STATE_COUNT] = {7, 10, 9, 6, 8, 7};

const char *ec_state_name(ec_state_t s) {
  return (unsigned)s < EC_STATE_COUNT ? state_names[s] : NULL;
}

int ec_state_parse(const char *s, size_t len) {
  if (s == NULL) {
    return EC_EINVAL;
  }
  /* Matched in any case; the first letter (A-Z or a-z alike with bit 5
   * set) rules most names out before a whole comparison. */
  for (int i = 0; i < EC_STATE_COUNT; i++) {
    if (len > 0 && (s[0] | 0x20) == (state_names[i][0] | 0x20) &&
        ec__ascii_ieq(s, len, state_names[i])) {
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

bool ec_id_valid(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > EC_ID_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                 (c >= 'A' && c <= 'Z');
    if (!alnum && strchr("-._~:@", c) == NULL)
      return false;
  }
  return true;
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
  int rc = ec__get_member(obj, "state", path, true, JSON_STRING, &v, err);
  if (rc < 0) {
    return rc;
  }
  int s = ec_state_parse(json_string_value(v), json_string_length(v));
  if (s < 0) {
    char field[EC_FIELD_CAP];
    ec__path_key(field, sizeof field, path, "state");
    return ec__fail(err, EC_ESEMANTIC, "invalid-state", field,
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
  int rc = ec__get_member(obj, key, path, true, JSON_STRING, &v, err);
  if (rc < 0) {
    return rc;
  }
  if (ec_time_parse_ms(json_string_value(v), json_string_length(v), out) < 0) {
    char field[EC_FIELD_CAP];
    ec__path_key(field, sizeof field, path, key);
    return ec__fail(err, EC_EBADDOC, "invalid-date-time", field,
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
  int rc = ec__get_member(parent, "error", path, false, JSON_OBJECT, &e, err);
  *has = false;
  if (rc < 0 || e == NULL) {
    return rc;
  }
  char epath[EC_FIELD_CAP];
  ec__path_key(epath, sizeof epath, path, "error");
  size_t mark = arena->used;
  ec_error_info_t info = {0};
  if ((rc = ec__get_string(e, "code", epath, false, 0, EC_MAX_TEXT, arena,
                           &info.code, err)) < 0 ||
      (rc = ec__get_string(e, "message", epath, false, 0, EC_MAX_TEXT, arena,
                           &info.message, err)) < 0 ||
      (rc = ec__get_string(e, "source", epath, false, 0, EC_MAX_TEXT, arena,
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
    ec__path_key(field, sizeof field, epath, missing);
    return ec__fail(err, EC_EBADDOC, "missing-field", field,
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
  int rc = ec__get_member(doc, "components", path, true, JSON_ARRAY, &a, err);
  if (rc < 0) {
    return rc;
  }
  ec__path_key(apath, sizeof apath, path, "components");
  size_t n = json_array_size(a);
  if (n > EC_MAX_COMPONENTS) {
    return ec__fail(err, EC_ETOOBIG, "too-large", apath,
                    "a report has at most %d components", EC_MAX_COMPONENTS);
  }
  ec_component_status_t *c = NULL;
  if (n > 0 && (c = ec__alloc_array(arena, n, sizeof *c, apath, err)) == NULL) {
    return EC_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    const json_t *o = json_array_get(a, i);
    char cpath[EC_FIELD_CAP];
    ec__path_index(cpath, sizeof cpath, apath, i);
    memset(&c[i], 0, sizeof c[i]);
    if (!json_is_object(o)) {
      return ec__fail(err, EC_EBADDOC, "invalid-type", cpath,
                      "%s must be an object", cpath);
    }
    if ((rc = ec__get_string(o, "name", cpath, true, 1, EC_MAX_TEXT, arena,
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
        ec__path_key(field, sizeof field, cpath, "name");
        return ec__fail(err, EC_ESEMANTIC, "duplicate-component", field,
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
    return ec__fail(err, EC_EBADDOC, "invalid-type", path,
                    "a DeploymentStatus must be an object");
  }
  if ((rc = ec__check_keys(doc, path, keys, err)) < 0 ||
      (rc = ec__get_string(doc, "apiVersion", path, true, 1, EC_MAX_TEXT, arena,
                           &st->api_version, err)) < 0 ||
      (rc = ec__get_string(doc, "kind", path, true, 0, EC_MAX_TEXT, arena,
                           &st->kind, err)) < 0) {
    return rc;
  }
  if (strcmp(st->kind, "DeploymentStatus") != 0 &&
      strcmp(st->kind, "DeploymentStatusManifest") != 0) {
    ec__path_key(field, sizeof field, path, "kind");
    return ec__fail(
        err, EC_ESEMANTIC, "invalid-kind", field,
        "kind must be DeploymentStatus or DeploymentStatusManifest");
  }
  if ((rc = ec__get_string(doc, "deploymentId", path, true, 0, EC_MAX_TEXT,
                           arena, &st->deployment_id, err)) < 0) {
    return rc;
  }
  if (!ec_uuid_valid(st->deployment_id, strlen(st->deployment_id))) {
    ec__path_key(field, sizeof field, path, "deploymentId");
    return ec__fail(err, EC_ESEMANTIC, "invalid-deployment-id", field,
                    "deploymentId must be a UUID");
  }
  if ((rc = ec__get_string(doc, "deviceId", path, false, 1, EC_MAX_TEXT, arena,
                           &st->device_id, err)) < 0 ||
      (rc = ec__get_int(doc, "adoptedManifestVersion", path, false, 1,
                        INT64_MAX, &amv, NULL, err)) < 0 ||
      (rc = ec__get_member(doc, "status", path, true, JSON_OBJECT, &status,
                           err)) < 0) {
    return rc;
  }
  st->adopted_manifest_version = (uint64_t)amv;
  ec__path_key(field, sizeof field, path, "status");
  if ((rc = get_state(status, field, &st->state, err)) < 0 ||
      (rc = get_error(status, field, &st->has_error, &st->error, arena, err)) <
          0) {
    return rc;
  }
  return get_components(doc, path, st, arena, err);
}

/*
 * The CBOR fast path: a report read straight into the struct, for a
 * document in the shape the server and the device libraries send (definite
 * lengths, text keys, only the members API.md names, in any order). It
 * takes only what status_from_tree() accepts and fills the struct as it
 * does; on anything else it gives up (false, arena untouched) and the
 * caller takes the tree path, whose refusal then names the fault exactly as
 * before. tests/test_codec_stream.c holds the two paths equal.
 */
typedef struct {
  ec__cr_t r;
  ec_arena_t *arena;
  /* Still what put_status() would write of the struct, byte for byte:
   * members in its order, states spelled as it spells them, no error
   * object it would leave out (and shortest heads: r.loose). */
  bool canon;
} fast_t;

static bool fast_str(fast_t *f, size_t min_len, const char **out,
                     size_t *out_len) {
  const char *s;
  size_t n;
  if (!ec__cr_text(&f->r, &s, &n) || n < min_len) {
    return false;
  }
  if ((*out = ec_arena_strndup(f->arena, s, n)) == NULL) {
    return false;
  }
  if (out_len != NULL) {
    *out_len = n;
  }
  return true;
}

static bool fast_state(fast_t *f, ec_state_t *out) {
  const char *s;
  size_t n;
  int st;
  if (!ec__cr_text(&f->r, &s, &n)) {
    return false;
  }
  /* The encoder's own spelling first, as nearly every report has it: the
   * state ec_state_parse() would name, without a comparison in any case
   * letter by letter against each name. */
  for (st = 0; st < EC_STATE_COUNT; st++) {
    if (state_lens[st] == n && s[0] == state_names[st][0] &&
        memcmp(s, state_names[st], n) == 0) {
      *out = (ec_state_t)st;
      return true;
    }
  }
  if ((st = ec_state_parse(s, n)) < 0) {
    return false;
  }
  f->canon = false; /* another case: written capitalised */
  *out = (ec_state_t)st;
  return true;
}

/* A member name the fast path knows, with its length. */
typedef struct {
  const char *s;
  size_t n;
} name_t;
#define NAME(lit) {lit, sizeof(lit) - 1}

/*
 * The index of the map key next in @p f among @p names, or -1. A key is
 * only compared with the names: one that matches is valid text, and any
 * other sends the document to the tree path, whose refusal names it.
 */
static int fast_key(fast_t *f, const name_t *names, unsigned *seen) {
  uint64_t n;
  if (!ec__cr_head(&f->r, 3, &n) || n == 0 ||
      n > (uint64_t)(f->r.end - f->r.p)) {
    return -1;
  }
  const uint8_t *k = f->r.p;
  for (int i = 0; names[i].s != NULL; i++) {
    if (names[i].n == n && (uint8_t)names[i].s[0] == k[0] &&
        memcmp(names[i].s, k, (size_t)n) == 0) {
      if (*seen & (1u << i)) {
        return -1; /* a duplicate key: the tree path refuses it */
      }
      if (*seen >> i != 0) {
        f->canon = false; /* after one the encoder writes later */
      }
      *seen |= 1u << i;
      f->r.p += n;
      return i;
    }
  }
  return -1;
}

static bool fast_error(fast_t *f, bool *has, ec_error_info_t *out) {
  static const name_t names[] = {NAME("code"), NAME("message"),
                                 NAME("source"), {NULL, 0}};
  uint64_t pairs;
  unsigned seen = 0;
  size_t mark = f->arena->used;
  ec_error_info_t info = {0};
  size_t lens[3] = {0, 0, 0};
  const char **fields[3] = {&info.code, &info.message, &info.source};
  if (!ec__cr_head(&f->r, 5, &pairs)) {
    return false;
  }
  for (uint64_t i = 0; i < pairs; i++) {
    int k = fast_key(f, names, &seen);
    if (k < 0 || !fast_str(f, 0, fields[k], &lens[k])) {
      return false;
    }
  }
  *has = false;
  if (lens[0] == 0 && lens[1] == 0 && lens[2] == 0) {
    f->arena->used = mark; /* present but all empty: no error */
    f->canon = false;      /* which the encoder leaves out */
    return true;
  }
  if (info.code == NULL || info.message == NULL) {
    return false;
  }
  *has = true;
  *out = info;
  return true;
}

static bool fast_component(fast_t *f, ec_component_status_t *c) {
  static const name_t names[] = {NAME("name"), NAME("state"), NAME("error"),
                                 {NULL, 0}};
  uint64_t pairs;
  unsigned seen = 0;
  memset(c, 0, sizeof *c);
  if (!ec__cr_head(&f->r, 5, &pairs)) {
    return false;
  }
  for (uint64_t i = 0; i < pairs; i++) {
    bool ok;
    switch (fast_key(f, names, &seen)) {
    case 0:
      ok = fast_str(f, 1, &c->name, NULL);
      break;
    case 1:
      ok = fast_state(f, &c->state);
      break;
    case 2:
      ok = fast_error(f, &c->has_error, &c->error);
      break;
    default:
      ok = false;
    }
    if (!ok) {
      return false;
    }
  }
  return (seen & 3u) == 3u;
}

static bool fast_components(fast_t *f, ec_deployment_status_t *st) {
  uint64_t n;
  if (!ec__cr_head(&f->r, 4, &n) || n > EC_MAX_COMPONENTS ||
      n > (uint64_t)(f->r.end - f->r.p)) {
    return false;
  }
  ec_component_status_t *c = NULL;
  if (n > 0 &&
      (c = ec__alloc_array(f->arena, (size_t)n, sizeof *c, "", NULL)) == NULL) {
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    if (!fast_component(f, &c[i])) {
      return false;
    }
    for (size_t j = 0; j < i; j++) {
      if (strcmp(c[j].name, c[i].name) == 0) {
        return false;
      }
    }
  }
  st->components = c;
  st->n_components = (size_t)n;
  return true;
}

static bool fast_status_member(fast_t *f, ec_deployment_status_t *st) {
  static const name_t names[] = {NAME("state"), NAME("error"), {NULL, 0}};
  uint64_t pairs;
  unsigned seen = 0;
  if (!ec__cr_head(&f->r, 5, &pairs)) {
    return false;
  }
  for (uint64_t i = 0; i < pairs; i++) {
    int k = fast_key(f, names, &seen);
    if (k < 0 || !(k == 0 ? fast_state(f, &st->state)
                          : fast_error(f, &st->has_error, &st->error))) {
      return false;
    }
  }
  return (seen & 1u) != 0;
}

static bool status_fast(const uint8_t *buf, size_t len,
                        ec_deployment_status_t *st, ec_arena_t *arena,
                        bool *canonical) {
  static const name_t names[] = {
      NAME("apiVersion"), NAME("kind"),   NAME("deploymentId"),
      NAME("deviceId"),   NAME("adoptedManifestVersion"),
      NAME("status"),     NAME("components"), {NULL, 0}};
  fast_t f = {{buf, buf + len, false}, arena, true};
  uint64_t pairs, amv;
  unsigned seen = 0;
  size_t n;
  memset(st, 0, sizeof *st);
  if (buf == NULL || !ec__cr_head(&f.r, 5, &pairs)) {
    return false;
  }
  for (uint64_t i = 0; i < pairs; i++) {
    bool ok;
    switch (fast_key(&f, names, &seen)) {
    case 0:
      ok = fast_str(&f, 1, &st->api_version, NULL);
      break;
    case 1:
      ok = fast_str(&f, 0, &st->kind, NULL) &&
           (strcmp(st->kind, "DeploymentStatus") == 0 ||
            strcmp(st->kind, "DeploymentStatusManifest") == 0);
      break;
    case 2:
      ok = fast_str(&f, 0, &st->deployment_id, &n) &&
           ec_uuid_valid(st->deployment_id, n);
      break;
    case 3:
      ok = fast_str(&f, 1, &st->device_id, NULL);
      break;
    case 4:
      ok = ec__cr_head(&f.r, 0, &amv) && amv >= 1 && amv <= INT64_MAX;
      st->adopted_manifest_version = amv;
      break;
    case 5:
      ok = fast_status_member(&f, st);
      break;
    case 6:
      ok = fast_components(&f, st);
      break;
    default:
      ok = false;
    }
    if (!ok) {
      return false;
    }
  }
  /* apiVersion, kind, deploymentId, status and components are required. */
  if ((seen & 0x67u) != 0x67u || f.r.p != f.r.end) {
    return false;
  }
  *canonical = f.canon && !f.r.loose;
  return true;
}

int ec_deployment_status_decode(ec_format_t fmt, const uint8_t *buf,
                                size_t len, ec_deployment_status_t *out,
                                ec_arena_t *arena, ec_codec_error_t *err) {
  bool canonical;
  return ec_deployment_status_decode_canon(fmt, buf, len, out, arena, err,
                                           &canonical);
}

int ec_deployment_status_decode_canon(ec_format_t fmt, const uint8_t *buf,
                                      size_t len, ec_deployment_status_t *out,
                                      ec_arena_t *arena, ec_codec_error_t *err,
                                      bool *canonical) {
  if (out == NULL || arena == NULL || canonical == NULL ||
      (buf == NULL && len > 0)) {
    return ec__fail(err, EC_EINVAL, "invalid-argument", "",
                    "a required argument is NULL");
  }
  size_t mark = arena->used;
  ec_deployment_status_t st;
  *canonical = false;
  if (fmt == EC_FORMAT_CBOR && status_fast(buf, len, &st, arena, canonical)) {
    *out = st;
    return 0;
  }
  arena->used = mark;
  return ec__deployment_status_decode_tree(fmt, buf, len, out, arena, err);
}

int ec__deployment_status_decode_tree(ec_format_t fmt, const uint8_t *buf,
                                      size_t len, ec_deployment_status_t *out,
                                      ec_arena_t *arena,
                                      ec_codec_error_t *err) {
  if (out == NULL || arena == NULL || (buf == NULL && len > 0)) {
    return ec__fail(err, EC_EINVAL, "invalid-argument", "",
                    "a required argument is NULL");
  }
  json_t *t;
  int rc = ec__doc_parse(fmt, buf, len, &t, err);
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
  if (strcmp(st->deployment_id, route_deployment_id) == 0 ||
      ec__ascii_ieq(st->deployment_id, strlen(st->deployment_id),
                    route_deployment_id)) {
    return 0;
  }
  return ec__fail(err, EC_ESEMANTIC, "deployment-mismatch", "deploymentId",
                  "deploymentId %s does not match the route's %s",
                  st->deployment_id, route_deployment_id);
}

/* ---- encoding ---------------------------------------------------------- */

/*
 * Written straight from the struct in the tree path's member order (the
 * order its jansson objects kept): apiVersion, kind, deploymentId,
 * deviceId, adoptedManifestVersion, status {state, error}, components
 * [{name, state, error}]; an error is {code, message, source}. Every
 * string is checked as ec__set_str() checked it.
 */
static void put_error(ec__dw_t *d, const ec_error_info_t *e) {
  ec__dw_key(d, "error");
  ec__dw_map(d, e->source != NULL ? 3 : 2);
  ec__dw_key(d, "code");
  ec__dw_text(d, e->code);
  ec__dw_key(d, "message");
  ec__dw_text(d, e->message);
  if (e->source != NULL) {
    ec__dw_key(d, "source");
    ec__dw_text(d, e->source);
  }
  ec__dw_end_map(d);
}

static void put_status(ec__dw_t *d, const ec_deployment_status_t *st) {
  if (st->adopted_manifest_version > INT64_MAX ||
      (st->components == NULL && st->n_components > 0)) {
    ec__dw_fail(d, EC_EINVAL);
    return;
  }
  ec__dw_map(d, 5 + (st->device_id != NULL) +
                    (st->adopted_manifest_version > 0));
  ec__dw_key(d, "apiVersion");
  ec__dw_text(d, st->api_version);
  ec__dw_key(d, "kind");
  ec__dw_text(d, st->kind);
  ec__dw_key(d, "deploymentId");
  ec__dw_text(d, st->deployment_id);
  if (st->device_id != NULL) {
    ec__dw_key(d, "deviceId");
    ec__dw_text(d, st->device_id);
  }
  if (st->adopted_manifest_version > 0) {
    ec__dw_key(d, "adoptedManifestVersion");
    ec__dw_int(d, (int64_t)st->adopted_manifest_version);
  }
  ec__dw_key(d, "status");
  ec__dw_map(d, st->has_error ? 2 : 1);
  ec__dw_key(d, "state");
  ec__dw_text(d, ec_state_name(st->state));
  if (st->has_error) {
    put_error(d, &st->error);
  }
  ec__dw_end_map(d);
  ec__dw_key(d, "components");
  ec__dw_array(d, st->n_components);
  for (size_t i = 0; i < st->n_components && d->rc == 0; i++) {
    const ec_component_status_t *c = &st->components[i];
    ec__dw_map(d, c->has_error ? 3 : 2);
    ec__dw_key(d, "name");
    ec__dw_text(d, c->name);
    ec__dw_key(d, "state");
    ec__dw_text(d, ec_state_name(c->state));
    if (c->has_error) {
      put_error(d, &c->error);
    }
    ec__dw_end_map(d);
  }
  ec__dw_end_array(d);
  ec__dw_end_map(d);
}

static void put_status_item(ec__dw_t *d, const void *item) {
  put_status(d, item);
}

ssize_t ec_deployment_status_encode(ec_format_t fmt,
                                    const ec_deployment_status_t *st,
                                    uint8_t *buf, size_t cap) {
  return ec__dw_list(fmt, NULL, st, 1, sizeof *st, put_status_item, buf, cap);
}

/* One stored report, written by ec_deployment_status_encode(): spliced
 * as it is, or transcoded to JSON as it is read (stream.h); anything but
 * a CBOR map is corruption in the store. */
static void put_history_entry(ec__dw_t *d, const void *item) {
  const ec_history_entry_t *e = item;
  if (e->report == NULL && e->report_len > 0) {
    ec__dw_fail(d, EC_EINVAL);
    return;
  }
  ec__dw_map(d, 3);
  ec__dw_key(d, "seq");
  ec__dw_int(d, e->seq);
  ec__dw_key(d, "receivedAt");
  ec__dw_time(d, e->received_at_ms);
  ec__dw_key(d, "report");
  ec__dw_stored(d, e->report, e->report_len, true, NULL);
  ec__dw_end_map(d);
}

ssize_t ec_history_encode(ec_format_t fmt, const ec_history_entry_t *entries,
                          size_t n, uint8_t *buf, size_t cap) {
  return ec__dw_list(fmt, "reports", entries, n, sizeof *entries,
                     put_history_entry, buf, cap);
}

static void put_summary(ec__dw_t *d, const void *item) {
  const ec_deployment_summary_t *s = item;
  ec__dw_map(d, 3);
  ec__dw_key(d, "deploymentId");
  ec__dw_text(d, s->deployment_id);
  ec__dw_key(d, "state");
  ec__dw_text(d, ec_state_name(s->state));
  ec__dw_key(d, "updatedAt");
  ec__dw_time(d, s->updated_at_ms);
  ec__dw_end_map(d);
}

ssize_t ec_deployments_encode(ec_format_t fmt,
                              const ec_deployment_summary_t *list, size_t n,
                              uint8_t *buf, size_t cap) {
  return ec__dw_list(fmt, "deployments", list, n, sizeof *list, put_summary,
                     buf, cap);
}

/* ---- list decoders (client side) --------------------------------------- */

/* The client reads what a server sends, so unknown members of the envelope
 * and its entries are skipped (a newer server may add some); the embedded
 * reports still get every DeploymentStatus rule. */
static int list_start(ec_format_t fmt, const uint8_t *buf, size_t len,
                      const char *key, json_t **t, const json_t **a,
                      ec_codec_error_t *err) {
  int rc = ec__doc_parse(fmt, buf, len, t, err);
  if (rc < 0) {
    return rc;
  }
  if (!json_is_object(*t)) {
    rc = ec__fail(err, EC_EBADDOC, "invalid-type", "",
                  "the body must be an object");
  } else {
    rc = ec__get_member(*t, key, "", true, JSON_ARRAY, a, err);
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
    return ec__fail(err, EC_EINVAL, "invalid-argument", "",
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
  ec_history_item_t *it = ec__alloc_array(arena, count, sizeof *it, "", err);
  rc = it == NULL ? EC_ENOMEM : 0;
  for (size_t i = 0; i < count && rc == 0; i++) {
    const json_t *o = json_array_get(a, i);
    const json_t *r;
    char path[EC_FIELD_CAP];
    char rpath[EC_FIELD_CAP];
    ec__path_index(path, sizeof path, "reports", i);
    ec__path_key(rpath, sizeof rpath, path, "report");
    if (!json_is_object(o)) {
      rc = ec__fail(err, EC_EBADDOC, "invalid-type", path,
                    "%s must be an object", path);
    } else if ((rc = ec__get_int(o, "seq", path, true, 1, INT64_MAX, &it[i].seq,
                                 NULL, err)) == 0 &&
               (rc = get_time(o, "receivedAt", path, &it[i].received_at_ms,
                              err)) == 0 &&
               (rc = ec__get_member(o, "report", path, true, JSON_OBJECT, &r,
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
    return ec__fail(err, EC_EINVAL, "invalid-argument", "",
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
  ec_deployment_summary_t *d =
      ec__alloc_array(arena, count, sizeof *d, "", err);
  rc = d == NULL ? EC_ENOMEM : 0;
  for (size_t i = 0; i < count && rc == 0; i++) {
    const json_t *o = json_array_get(a, i);
    char path[EC_FIELD_CAP];
    ec__path_index(path, sizeof path, "deployments", i);
    if (!json_is_object(o)) {
      rc = ec__fail(err, EC_EBADDOC, "invalid-type", path,
                    "%s must be an object", path);
    } else if ((rc = ec__get_string(o, "deploymentId", path, true, 1,
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
