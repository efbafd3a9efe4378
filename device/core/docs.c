/* edgecoap device core: the DeploymentStatus report, its answer and problem details in CBOR. */
/* SPDX-License-Identifier: Apache-2.0 */

#include "cbor.h"

static const char *const state_names[EC_DEV_STATE_COUNT] = {
    "Pending", "Installing", "Installed", "Failed", "Removing", "Removed"};

static char lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* ASCII-only on purpose, as the codec's ec__ascii_ieq(): no locale. */
bool ec__ieq(const char *a, size_t alen, const char *b) {
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
    if (ec__ieq(s, len, state_names[i])) {
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
 * definite lengths and the shortest heads. The encoder writes each map from
 * a table in the same order: its keys, each member's kind, and where in the
 * caller's struct its value is, so one loop writes every map of the report.
 * The keys are the decoder's too. */
enum {
  E_TEXT,     /* const char *, required */
  E_NONEMPTY, /* const char *, required and not "" */
  E_OPTIONAL, /* const char *, left out when NULL */
  E_KIND,     /* const char *, "DeploymentStatus" when NULL */
  E_UINT,     /* uint32_t, left out when 0 */
  E_STATE,    /* ec_dev_state_t */
  E_ERROR,    /* ec_dev_error_t, left out when its code is NULL */
  E_STATUS,   /* {state, error} of the report */
  E_COMPONENTS
};

static const char *const status_keys[] = {
    "apiVersion", "kind",   "deploymentId", "deviceId",
    "adoptedManifestVersion", "status", "components", NULL};
/* A component's members; a status has the last two. */
static const char *const entry_keys[] = {"name", "state", "error", NULL};
static const char *const error_keys[] = {"code", "message", "source", NULL};

typedef struct {
  const char *const *keys;
  uint8_t kind[7];
  uint8_t off[7];
} map_t;

#define OFF(t, m) ((uint8_t)offsetof(t, m))
static const map_t status_map = {
    status_keys,
    {E_NONEMPTY, E_KIND, E_TEXT, E_OPTIONAL, E_UINT, E_STATUS, E_COMPONENTS},
    {OFF(ec_dev_status_t, api_version), OFF(ec_dev_status_t, kind),
     OFF(ec_dev_status_t, deployment_id), OFF(ec_dev_status_t, device_id),
     OFF(ec_dev_status_t, adopted_manifest_version),
     OFF(ec_dev_status_t, state)}};
static const map_t entry_map = {
    entry_keys,
    {E_NONEMPTY, E_STATE, E_ERROR},
    {OFF(ec_dev_component_t, name), OFF(ec_dev_component_t, state),
     OFF(ec_dev_component_t, error)}};
/* The status's {state, error}, in the report's struct. */
static const map_t state_map = {
    entry_keys + 1,
    {E_STATE, E_ERROR},
    {OFF(ec_dev_status_t, state), OFF(ec_dev_status_t, error)}};
static const map_t error_map = {
    error_keys,
    {E_TEXT, E_TEXT, E_OPTIONAL},
    {OFF(ec_dev_error_t, code), OFF(ec_dev_error_t, message),
     OFF(ec_dev_error_t, source)}};

/* Each map has fewer than 24 members, so its head is one byte, written
 * first and given its count at the end. */
static int put_map(ec__cbw_t *w, const map_t *m, const void *at) {
  const uint8_t *base = at;
  size_t head = w->len;
  unsigned n = 0;
  int rc = 0;
  ec__cbw_head(w, 5, 0);
  for (int i = 0; m->keys[i] != NULL && rc == 0; i++) {
    const void *v = base + m->off[i];
    uint8_t kind = m->kind[i];
    /* Each member is read as what it is: a string, a number or a state
     * (an enum, a byte where enums are short, as on arm-none-eabi). */
    const char *s = NULL;
    uint32_t u = 0;
    if (kind <= E_KIND) {
      s = *(const char *const *)v;
    } else if (kind == E_UINT) {
      u = *(const uint32_t *)v;
    } else if (kind == E_STATE) {
      u = (uint32_t)*(const ec_dev_state_t *)v;
    }
    if ((kind == E_OPTIONAL && s == NULL) || (kind == E_UINT && u == 0) ||
        (kind == E_ERROR && ((const ec_dev_error_t *)v)->code == NULL)) {
      continue;
    }
    n++;
    ec__cbw_text(w, m->keys[i]);
    if (kind == E_KIND && s == NULL) {
      s = "DeploymentStatus";
    } else if (kind == E_STATE) {
      s = u < EC_DEV_STATE_COUNT ? state_names[u] : NULL;
    } else if (kind == E_UINT) {
      ec__cbw_head(w, 0, u);
      continue;
    } else if (kind >= E_ERROR) {
      const ec_dev_status_t *st = at;
      size_t k = kind == E_COMPONENTS ? st->n_components : 0;
      if (kind == E_COMPONENTS) {
        ec__cbw_head(w, 4, (uint32_t)k);
      } else {
        rc = kind == E_ERROR ? put_map(w, &error_map, v)
                             : put_map(w, &state_map, at);
      }
      for (size_t j = 0; j < k && rc == 0; j++) {
        rc = put_map(w, &entry_map, &st->components[j]);
      }
      continue;
    }
    if (s == NULL || (kind == E_NONEMPTY && s[0] == '\0')) {
      return EC_EINVAL;
    }
    ec__cbw_text(w, s);
  }
  if (w->buf != NULL && head < w->cap) {
    w->buf[head] = (uint8_t)(0xa0 | n);
  }
  return rc;
}

int ec_dev_status_encode(const ec_dev_status_t *st, uint8_t *buf, size_t cap) {
  if (st == NULL || (buf == NULL && cap != 0) || st->deployment_id == NULL ||
      !uuid_ok(st->deployment_id, ec__len(st->deployment_id)) ||
      (st->components == NULL && st->n_components > 0)) {
    return EC_EINVAL;
  }
  ec__cbw_t w = {buf, cap, 0};
  int rc = put_map(&w, &status_map, st);
  if (rc < 0) {
    return rc;
  }
  return w.len > (size_t)INT32_MAX ? EC_ENOSPC : (int)w.len;
}

/* ---- decoding ---------------------------------------------------------- */

static int read_state(ec__cbr_t *r, ec_dev_state_t *out) {
  ec_dev_str_t s;
  int rc = ec__cbr_member_text(r, &s);
  if (rc < 0 || (rc = ec_dev_state_parse(s.ptr, s.len)) < 0) {
    return rc;
  }
  *out = (ec_dev_state_t)rc;
  return 0;
}

/* An integer >= 0, or a string of 1 to 18 decimal digits, as the codec
 * reads the numbers of provisioning answers. */
static int read_num(ec__cbr_t *r, int64_t *v) {
  int t = ec__cbr_peek(r);
  if (t == 0) {
    return ec__cbr_int(r, v);
  }
  ec_dev_str_t s;
  int rc = t == 3 ? ec__cbr_text(r, &s) : EC_EBADDOC;
  if (rc < 0) {
    return rc;
  }
  *v = s.len <= 18 ? ec__digits(s.ptr, s.len) : -1;
  return *v < 0 ? EC_EBADDOC : 0;
}

int64_t ec__digits(const char *s, size_t n) {
  int64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') {
      return -1;
    }
    x = x * 10 + (s[i] - '0');
  }
  return n > 0 ? x : -1;
}

/* The map walk (cbor.h). */
int ec__cbr_map(ec__cbr_t *r, const ec__member_t *m, ec__member_fn fn,
                void *out, int depth, unsigned *seen) {
  size_t n;
  *seen = 0;
  int rc = ec__cbr_enter(r, 5, depth, &n);
  for (size_t i = 0; i < n && rc == 0; i++) {
    ec_dev_str_t k = {NULL, 0};
    int64_t ik = 0;
    int f = -1;
    int t = ec__cbr_peek(r);
    rc = t == 3 ? ec__cbr_text(r, &k) : t == 0 || t == 1 ? ec__cbr_int(r, &ik)
                                                         : EC_ESYNTAX;
    for (int j = 0; rc == 0 && m[j].name != NULL; j++) {
      if (k.ptr != NULL ? eq(k, m[j].name) : m[j].ikey != 0 && ik == m[j].ikey) {
        f = j;
      }
    }
    if (rc < 0) {
      break;
    }
    if (f < 0) {
      rc = ec__cbr_skip(r, depth - 1);
      continue;
    }
    if ((*seen & (1u << f)) != 0) {
      return EC_ESYNTAX;
    }
    *seen |= 1u << f;
    void *dst = (uint8_t *)out + m[f].off;
    switch (m[f].kind) {
    case EC__M_TEXT:
    case EC__M_NONEMPTY:
      rc = ec__cbr_member_text(r, dst);
      if (rc == 0 && m[f].kind == EC__M_NONEMPTY &&
          ((ec_dev_str_t *)dst)->len == 0) {
        rc = EC_EBADDOC;
      }
      break;
    case EC__M_STATE:
      rc = read_state(r, dst);
      break;
    case EC__M_NUM:
      rc = read_num(r, dst);
      break;
    default:
      rc = fn(r, f, out, depth - 1);
    }
  }
  return rc;
}

int ec__cbr_enter(ec__cbr_t *r, uint8_t major, int depth, size_t *n) {
  int t = ec__cbr_peek(r);
  *n = 0;
  if (t != major) {
    return t < 0 ? EC_ESYNTAX : EC_EBADDOC;
  }
  return depth <= 0 ? EC_ETOOBIG : ec__cbr_container(r, major, n);
}

int ec__cbr_member_text(ec__cbr_t *r, ec_dev_str_t *s) {
  return ec__cbr_peek(r) == 3 ? ec__cbr_text(r, s) : EC_EBADDOC;
}

int ec__cbr_doc(const uint8_t *buf, size_t len, const ec__member_t *m,
                ec__member_fn fn, void *out, unsigned required) {
  unsigned seen;
  if (out == NULL || (buf == NULL && len > 0)) {
    return EC_EINVAL;
  }
  if (buf == NULL || len == 0 || buf[0] >> 5 != 5) {
    return EC_ESYNTAX; /* an empty body, or no map, is no document */
  }
  ec__cbr_t r = {buf, buf + len};
  int rc = ec__cbr_map(&r, m, fn, out, EC_DEV_MAX_DEPTH, &seen);
  if (rc == 0 && r.p != r.end) {
    return EC_ESYNTAX;
  }
  return rc == 0 && (seen & required) != required ? EC_EBADDOC : rc;
}

/* {"code", "message", "source"?}: an error whose present fields are all
 * empty is no error; a real one needs code and message (the codec's rule). */
static const ec__member_t error_members[] = {
    {"code", 0, EC__M_TEXT, 0},
    {"message", 0, EC__M_TEXT, sizeof(ec_dev_str_t)},
    {"source", 0, EC__M_TEXT, 2 * sizeof(ec_dev_str_t)},
    {NULL, 0, 0, 0}};

/* A status or a component: {"name" (components), "state", "error"?}. */
typedef struct {
  ec_dev_str_t name;
  ec_dev_state_t state;
  ec_dev_str_t ecode;
  ec_dev_str_t emsg;
} entry_t;

static int entry_member(ec__cbr_t *r, int f, void *out, int depth) {
  entry_t *e = out;
  ec_dev_str_t v[3];
  unsigned seen;
  (void)f;
  ec__zero(v, sizeof v);
  int rc = ec__cbr_map(r, error_members, NULL, v, depth, &seen);
  if (rc < 0 || (v[0].len == 0 && v[1].len == 0 && v[2].len == 0)) {
    return rc;
  }
  if (v[0].ptr == NULL || v[1].ptr == NULL) {
    return EC_EBADDOC;
  }
  e->ecode = v[0];
  e->emsg = v[1];
  return 0;
}

static const ec__member_t entry_members[] = {
    {"name", 0, EC__M_NONEMPTY, offsetof(entry_t, name)},
    {"state", 0, EC__M_STATE, offsetof(entry_t, state)},
    {"error", 0, EC__M_FN, 0},
    {NULL, 0, 0, 0}};

/* A component (name and state required) or, from "state" on, a status
 * (state required). */
static int read_entry(ec__cbr_t *r, bool component, entry_t *e, int depth) {
  unsigned seen;
  ec__zero(e, sizeof *e);
  int rc = ec__cbr_map(r, entry_members + !component, entry_member, e, depth,
                       &seen);
  unsigned need = component ? 3u : 1u;
  return rc == 0 && (seen & need) != need ? EC_EBADDOC : rc;
}

enum { F_API, F_KIND, F_DEPLOYMENT, F_DEVICE, F_AMV, F_STATUS, F_COMPONENTS };

typedef struct {
  ec_dev_status_view_t v; /* first: the walk's offsets are the view's */
  ec_dev_component_fn fn;
  void *ctx;
} status_ctx_t;

static int status_member(ec__cbr_t *r, int f, void *out, int depth) {
  status_ctx_t *c = out;
  entry_t e;
  int64_t v;
  size_t n;
  int rc;
  if (f == F_AMV) {
    if (ec__cbr_peek(r) > 1) {
      return EC_EBADDOC;
    }
    if ((rc = ec__cbr_int(r, &v)) < 0) {
      return rc;
    }
    c->v.adopted_manifest_version = (uint64_t)v;
    return v < 1 ? EC_EBADDOC : 0;
  }
  /* The status is one entry, the components an array of them. */
  bool comp = f == F_COMPONENTS;
  n = 1;
  rc = 0;
  if (comp) {
    rc = ec__cbr_enter(r, 4, depth--, &n);
    c->v.n_components = n;
  }
  for (size_t i = 0; i < n && rc == 0; i++) {
    rc = read_entry(r, comp, &e, depth);
    if (!comp) {
      c->v.state = e.state;
      c->v.error_code = e.ecode;
      c->v.error_message = e.emsg;
    } else if (rc == 0 && c->fn != NULL) {
      rc = c->fn(c->ctx, i, e.name, e.state);
    }
  }
  return rc;
}

#define VIEW(m) offsetof(ec_dev_status_view_t, m)
static const ec__member_t status_members[] = {
    {"apiVersion", 0, EC__M_TEXT, VIEW(api_version)},
    {"kind", 0, EC__M_TEXT, VIEW(kind)},
    {"deploymentId", 0, EC__M_TEXT, VIEW(deployment_id)},
    {"deviceId", 0, EC__M_NONEMPTY, VIEW(device_id)},
    {"adoptedManifestVersion", 0, EC__M_FN, 0},
    {"status", 0, EC__M_FN, 0},
    {"components", 0, EC__M_FN, 0},
    {NULL, 0, 0, 0}};

int ec_dev_status_decode(const uint8_t *buf, size_t len,
                         ec_dev_status_view_t *out, ec_dev_component_fn fn,
                         void *ctx) {
  status_ctx_t c;
  if (out == NULL) {
    return EC_EINVAL;
  }
  ec__zero(&c, sizeof c);
  c.fn = fn;
  c.ctx = ctx;
  int rc = ec__cbr_doc(buf, len, status_members, status_member, &c,
                       1u << F_API | 1u << F_KIND | 1u << F_DEPLOYMENT |
                           1u << F_STATUS | 1u << F_COMPONENTS);
  ec__copy(out, &c.v, sizeof *out);
  if (rc == 0 &&
      (out->api_version.len == 0 ||
       !(eq(out->kind, "DeploymentStatus") ||
         eq(out->kind, "DeploymentStatusManifest")) ||
       !uuid_ok(out->deployment_id.ptr, out->deployment_id.len))) {
    return EC_EBADDOC;
  }
  return rc;
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

/* response-code: an integer 0..255 or the dotted spelling. */
static int problem_member(ec__cbr_t *r, int f, void *out, int depth) {
  ec_dev_problem_t *p = out;
  ec_dev_str_t t;
  int64_t v;
  int rc;
  (void)f;
  (void)depth;
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

#define PROBLEM(m) offsetof(ec_dev_problem_t, m)
static const ec__member_t problem_members[] = {
    {"title", -1, EC__M_TEXT, PROBLEM(title)},
    {"detail", -2, EC__M_TEXT, PROBLEM(detail)},
    {"response-code", -4, EC__M_FN, 0},
    {"field", -256, EC__M_TEXT, PROBLEM(field)},
    {NULL, 0, 0, 0}};

int ec_dev_problem_decode(const uint8_t *buf, size_t len,
                          ec_dev_problem_t *out) {
  if (out != NULL) {
    ec__zero(out, sizeof *out);
  }
  return ec__cbr_doc(buf, len, problem_members, problem_member, out, 0);
}
