/* edgecoap device core: the DeploymentStatus report, its answer and problem details in CBOR. */
/* SPDX-License-Identifier: Apache-2.0 */

#include "cbor.h"

static const char *const state_names[EC_DEV_STATE_COUNT] = {
    "Pending", "Installing", "Installed", "Failed", "Removing", "Removed"};

static char lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* ASCII-only on purpose, as the codec's ec_ascii_ieq(): no locale. */
static bool ieq(const char *a, size_t alen, const char *b) {
  for (size_t i = 0; i < alen; i++) {
    if (b[i] == '\0' || lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return b[alen] == '\0';
}

static bool eq(ec_dev_str_t s, const char *b) {
  return ec__len(b) == s.len && ec__same(s.ptr, b, s.len);
}

int ec_dev_state_parse(const char *s, size_t len) {
  for (int i = 0; i < EC_DEV_STATE_COUNT; i++) {
    if (ieq(s, len, state_names[i])) {
      return i;
    }
  }
  return EC_EBADDOC;
}

/* A UUID in 8-4-4-4-12 hex form, @p len bytes of @p s. */
static bool uuid_ok(const char *s, size_t len) {
  size_t i = 0;
  for (; i < len; i++) {
    char c = lower(s[i]);
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-'
             : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return len == 36;
}

/* ---- encoding ---------------------------------------------------------- */

/* The codec builds a tree and writes its members in insertion order with
 * definite lengths and the shortest heads; these writers follow the same
 * order so that both give the same bytes. */
static int put_error(ec__cbw_t *w, const ec_dev_error_t *e) {
  if (e->message == NULL) {
    return EC_EINVAL;
  }
  ec__cbw_text(w, "error");
  ec__cbw_head(w, 5, e->source != NULL ? 3 : 2);
  ec__cbw_text(w, "code");
  ec__cbw_text(w, e->code);
  ec__cbw_text(w, "message");
  ec__cbw_text(w, e->message);
  if (e->source != NULL) {
    ec__cbw_text(w, "source");
    ec__cbw_text(w, e->source);
  }
  return 0;
}

static int put_state(ec__cbw_t *w, ec_dev_state_t s, const ec_dev_error_t *e) {
  if ((unsigned)s >= EC_DEV_STATE_COUNT) {
    return EC_EINVAL;
  }
  ec__cbw_head(w, 5, e->code != NULL ? 2 : 1);
  ec__cbw_text(w, "state");
  ec__cbw_text(w, state_names[s]);
  return e->code != NULL ? put_error(w, e) : 0;
}

int ec_dev_status_encode(const ec_dev_status_t *st, uint8_t *buf, size_t cap) {
  if (st == NULL || (buf == NULL && cap != 0) || st->api_version == NULL ||
      st->api_version[0] == '\0' || st->deployment_id == NULL ||
      !uuid_ok(st->deployment_id, ec__len(st->deployment_id)) ||
      (st->components == NULL && st->n_components > 0)) {
    return EC_EINVAL;
  }
  ec__cbw_t w = {buf, cap, 0};
  ec__cbw_head(&w, 5,
               5 + (st->device_id != NULL) + (st->adopted_manifest_version > 0));
  ec__cbw_text(&w, "apiVersion");
  ec__cbw_text(&w, st->api_version);
  ec__cbw_text(&w, "kind");
  ec__cbw_text(&w, st->kind != NULL ? st->kind : "DeploymentStatus");
  ec__cbw_text(&w, "deploymentId");
  ec__cbw_text(&w, st->deployment_id);
  if (st->device_id != NULL) {
    ec__cbw_text(&w, "deviceId");
    ec__cbw_text(&w, st->device_id);
  }
  if (st->adopted_manifest_version > 0) {
    ec__cbw_text(&w, "adoptedManifestVersion");
    ec__cbw_head(&w, 0, st->adopted_manifest_version);
  }
  ec__cbw_text(&w, "status");
  int rc = put_state(&w, st->state, &st->error);
  ec__cbw_text(&w, "components");
  ec__cbw_head(&w, 4, st->n_components);
  for (size_t i = 0; i < st->n_components && rc == 0; i++) {
    const ec_dev_component_t *c = &st->components[i];
    if (c->name == NULL || c->name[0] == '\0' ||
        (unsigned)c->state >= EC_DEV_STATE_COUNT) {
      return EC_EINVAL;
    }
    ec__cbw_head(&w, 5, c->error.code != NULL ? 3 : 2);
    ec__cbw_text(&w, "name");
    ec__cbw_text(&w, c->name);
    ec__cbw_text(&w, "state");
    ec__cbw_text(&w, state_names[c->state]);
    if (c->error.code != NULL) {
      rc = put_error(&w, &c->error);
    }
  }
  if (rc < 0) {
    return rc;
  }
  return w.len > (size_t)INT32_MAX ? EC_ENOSPC : (int)w.len;
}

/* ---- decoding ---------------------------------------------------------- */

/* The map walk (cbor.h). */
int ec__cbr_members(ec__cbr_t *r, const char *const *names,
                    const int16_t *ikeys, ec__member_fn fn, void *ctx,
                    int depth, unsigned *seen) {
  size_t n = 0;
  *seen = 0;
  if (ec__cbr_peek(r) != 5) {
    return ec__cbr_peek(r) < 0 ? EC_ESYNTAX : EC_EBADDOC;
  }
  if (depth <= 0) {
    return EC_ETOOBIG;
  }
  int rc = ec__cbr_container(r, 5, &n);
  for (size_t i = 0; i < n && rc == 0; i++) {
    ec_dev_str_t k = {NULL, 0};
    int64_t ik = 0;
    int t = ec__cbr_peek(r);
    int f = -1;
    rc = t == 3 ? ec__cbr_text(r, &k) : t == 0 || t == 1 ? ec__cbr_int(r, &ik)
                                                         : EC_ESYNTAX;
    for (int j = 0; rc == 0 && names[j] != NULL; j++) {
      if (k.ptr != NULL ? eq(k, names[j]) : ikeys != NULL && ik == ikeys[j]) {
        f = j;
      }
    }
    if (rc < 0) {
      break;
    }
    if (f < 0) {
      rc = ec__cbr_skip(r, depth - 1);
    } else if ((*seen & (1u << f)) != 0) {
      rc = EC_ESYNTAX;
    } else {
      *seen |= 1u << f;
      rc = fn(r, f, ctx, depth - 1);
    }
  }
  return rc;
}

int ec__cbr_member_array(ec__cbr_t *r, int depth, size_t *n) {
  *n = 0;
  if (ec__cbr_peek(r) != 4) {
    return EC_EBADDOC;
  }
  return depth <= 0 ? EC_ETOOBIG : ec__cbr_container(r, 4, n);
}

int ec__cbr_member_text(ec__cbr_t *r, ec_dev_str_t *s) {
  return ec__cbr_peek(r) == 3 ? ec__cbr_text(r, s) : EC_EBADDOC;
}

static int read_state(ec__cbr_t *r, ec_dev_state_t *out) {
  ec_dev_str_t s;
  int rc = ec__cbr_member_text(r, &s);
  if (rc < 0 || (rc = ec_dev_state_parse(s.ptr, s.len)) < 0) {
    return rc;
  }
  *out = (ec_dev_state_t)rc;
  return 0;
}

static int error_member(ec__cbr_t *r, int f, void *ctx, int depth) {
  (void)depth;
  return ec__cbr_member_text(r, &((ec_dev_str_t *)ctx)[f]);
}

/* {"code", "message", "source"?}: an error whose present fields are all
 * empty is no error; a real one needs code and message (the codec's rule). */
static int read_error(ec__cbr_t *r, ec_dev_str_t *code, ec_dev_str_t *msg,
                      int depth) {
  static const char *const names[] = {"code", "message", "source", NULL};
  ec_dev_str_t v[3];
  unsigned seen;
  ec__zero(v, sizeof v);
  int rc = ec__cbr_members(r, names, NULL, error_member, v, depth, &seen);
  if (rc < 0 || (v[0].len == 0 && v[1].len == 0 && v[2].len == 0)) {
    return rc;
  }
  if (v[0].ptr == NULL || v[1].ptr == NULL) {
    return EC_EBADDOC;
  }
  *code = v[0];
  *msg = v[1];
  return 0;
}

/* A status or a component: {"state", "error"?, "name" (components)}. */
typedef struct {
  ec_dev_str_t name;
  ec_dev_state_t state;
  ec_dev_str_t ecode;
  ec_dev_str_t emsg;
} entry_t;

static int entry_member(ec__cbr_t *r, int f, void *ctx, int depth) {
  entry_t *e = ctx;
  switch (f) {
  case 0:
    return read_state(r, &e->state);
  case 1:
    return read_error(r, &e->ecode, &e->emsg, depth);
  default: {
    int rc = ec__cbr_member_text(r, &e->name);
    return rc == 0 && e->name.len == 0 ? EC_EBADDOC : rc;
  }
  }
}

static int read_entry(ec__cbr_t *r, bool component, entry_t *e, int depth) {
  static const char *const status_names[] = {"state", "error", NULL};
  static const char *const comp_names[] = {"state", "error", "name", NULL};
  unsigned seen;
  ec__zero(e, sizeof *e);
  int rc = ec__cbr_members(r, component ? comp_names : status_names, NULL,
                       entry_member, e, depth, &seen);
  unsigned need = component ? 5u : 1u;
  return rc == 0 && (seen & need) != need ? EC_EBADDOC : rc;
}

enum { F_API, F_KIND, F_DEPLOYMENT, F_DEVICE, F_AMV, F_STATUS, F_COMPONENTS };

typedef struct {
  ec_dev_status_view_t *out;
  ec_dev_component_fn fn;
  void *ctx;
} status_ctx_t;

static int read_components(ec__cbr_t *r, status_ctx_t *c, int depth) {
  size_t n;
  int rc = ec__cbr_member_array(r, depth, &n);
  for (size_t i = 0; i < n && rc == 0; i++) {
    entry_t e;
    rc = read_entry(r, true, &e, depth - 1);
    if (rc == 0 && c->fn != NULL) {
      rc = c->fn(c->ctx, i, e.name, e.state);
    }
  }
  c->out->n_components = n;
  return rc;
}

static int status_member(ec__cbr_t *r, int f, void *ctx, int depth) {
  status_ctx_t *c = ctx;
  ec_dev_status_view_t *out = c->out;
  int64_t v;
  int rc;
  switch (f) {
  case F_AMV:
    if (ec__cbr_peek(r) > 1) {
      return EC_EBADDOC;
    }
    if ((rc = ec__cbr_int(r, &v)) < 0) {
      return rc;
    }
    out->adopted_manifest_version = (uint64_t)v;
    return v < 1 ? EC_EBADDOC : 0;
  case F_STATUS: {
    entry_t e;
    rc = read_entry(r, false, &e, depth);
    out->state = e.state;
    out->error_code = e.ecode;
    out->error_message = e.emsg;
    return rc;
  }
  case F_COMPONENTS:
    return read_components(r, c, depth);
  default: {
    ec_dev_str_t *s = f == F_API          ? &out->api_version
                      : f == F_KIND       ? &out->kind
                      : f == F_DEPLOYMENT ? &out->deployment_id
                                          : &out->device_id;
    return ec__cbr_member_text(r, s);
  }
  }
}

int ec__cbr_start(const uint8_t *buf, size_t len, const void *out,
                  ec__cbr_t *r) {
  if (out == NULL || (buf == NULL && len > 0)) {
    return EC_EINVAL;
  }
  if (buf == NULL) {
    return EC_ESYNTAX; /* an empty body is no document */
  }
  r->p = buf;
  r->end = buf + len;
  return 0;
}

int ec__cbr_done(const ec__cbr_t *r, int rc) {
  return rc == 0 && r->p != r->end ? EC_ESYNTAX : rc;
}

int ec_dev_status_decode(const uint8_t *buf, size_t len,
                         ec_dev_status_view_t *out, ec_dev_component_fn fn,
                         void *ctx) {
  static const char *const names[] = {
      "apiVersion", "kind",   "deploymentId", "deviceId",
      "adoptedManifestVersion", "status", "components", NULL};
  ec__cbr_t r;
  int rc = ec__cbr_start(buf, len, out, &r);
  if (rc < 0) {
    return rc;
  }
  ec__zero(out, sizeof *out);
  status_ctx_t c = {out, fn, ctx};
  unsigned seen;
  if (ec__cbr_peek(&r) != 5) {
    return EC_ESYNTAX;
  }
  if ((rc = ec__cbr_done(&r, ec__cbr_members(&r, names, NULL, status_member, &c,
                                 EC_DEV_MAX_DEPTH, &seen))) < 0) {
    return rc;
  }
  const unsigned required = 1u << F_API | 1u << F_KIND | 1u << F_DEPLOYMENT |
                            1u << F_STATUS | 1u << F_COMPONENTS;
  if ((seen & required) != required || out->api_version.len == 0 ||
      !(eq(out->kind, "DeploymentStatus") ||
        eq(out->kind, "DeploymentStatusManifest")) ||
      !uuid_ok(out->deployment_id.ptr, out->deployment_id.len) ||
      ((seen >> F_DEVICE) & 1 && out->device_id.len == 0)) {
    return EC_EBADDOC;
  }
  return 0;
}

/* "4.22" -> 150, as the codec reads the JSON spelling. */
static int dotted(ec_dev_str_t s) {
  const char *p = s.ptr;
  if (s.len != 4 || p[0] < '0' || p[0] > '7' || p[1] != '.' || p[2] < '0' ||
      p[2] > '9' || p[3] < '0' || p[3] > '9') {
    return EC_EBADDOC;
  }
  int dd = (p[2] - '0') * 10 + (p[3] - '0');
  return dd > 31 ? EC_EBADDOC : (p[0] - '0') * 32 + dd;
}

static int problem_member(ec__cbr_t *r, int f, void *ctx, int depth) {
  ec_dev_problem_t *p = ctx;
  (void)depth;
  if (f != 2) {
    return ec__cbr_member_text(r, f == 0 ? &p->title : f == 1 ? &p->detail : &p->field);
  }
  ec_dev_str_t t;
  int64_t v;
  int rc;
  if (ec__cbr_peek(r) == 3) {
    if ((rc = ec__cbr_text(r, &t)) < 0 || (rc = dotted(t)) < 0) {
      return rc;
    }
    p->code = rc;
    return 0;
  }
  if (ec__cbr_peek(r) > 1) {
    return EC_EBADDOC;
  }
  if ((rc = ec__cbr_int(r, &v)) < 0) {
    return rc;
  }
  if (v < 0 || v > 255) {
    return EC_EBADDOC;
  }
  p->code = (int)v;
  return 0;
}

int ec_dev_problem_decode(const uint8_t *buf, size_t len,
                          ec_dev_problem_t *out) {
  static const char *const names[] = {"title", "detail", "response-code",
                                      "field", NULL};
  static const int16_t keys[] = {-1, -2, -4, -256};
  ec__cbr_t r;
  unsigned seen;
  int rc = ec__cbr_start(buf, len, out, &r);
  if (rc < 0) {
    return rc;
  }
  ec__zero(out, sizeof *out);
  if (ec__cbr_peek(&r) != 5) {
    return EC_ESYNTAX;
  }
  return ec__cbr_done(&r, ec__cbr_members(&r, names, keys, problem_member, out,
                              EC_DEV_MAX_DEPTH, &seen));
}
