/* edgecoap device core: the DeploymentStatus report, its answer and problem details in CBOR. */
/* SPDX-License-Identifier: Apache-2.0 */

#include "cbor.h"

/* The states' names, in the order of ec_dev_state_t. */
static const char state_names[] =
    "Pending\0Installing\0Installed\0Failed\0Removing\0Removed\0";
/* The report's kinds: the first is the default the encoder writes. */
static const char kinds[] = "DeploymentStatus\0DeploymentStatusManifest\0";

int ec_dev_state_parse(const char *s, size_t len) {
  int i = ec__lookup(state_names, s, len, true);
  return i < 0 ? EC_EBADDOC : i;
}

static char lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
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

/* The members' names, each kept once for the encoder and the decoder. A
 * status's {state, error} is a component's map from "state" on. */
static const char status_names[] =
    "apiVersion\0kind\0deploymentId\0deviceId\0adoptedManifestVersion\0"
    "status\0components\0";
static const char entry_names[] = "name\0state\0error\0";
#define STATE_NAMES (entry_names + 5)
static const char error_names[] = "code\0message\0source\0";

#define OFF(t, m) ((uint8_t)offsetof(t, m))
static const uint8_t status_enc[] = {
    E_NONEMPTY, OFF(ec_dev_status_t, api_version),
    E_KIND,     OFF(ec_dev_status_t, kind),
    E_TEXT,     OFF(ec_dev_status_t, deployment_id),
    E_OPTIONAL, OFF(ec_dev_status_t, device_id),
    E_UINT,     OFF(ec_dev_status_t, adopted_manifest_version),
    E_STATUS,   0,
    E_COMPONENTS, 0};
static const uint8_t entry_enc[] = {
    E_NONEMPTY, OFF(ec_dev_component_t, name),
    E_STATE,    OFF(ec_dev_component_t, state),
    E_ERROR,    OFF(ec_dev_component_t, error)};
static const uint8_t state_enc[] = {E_STATE, OFF(ec_dev_status_t, state),
                                    E_ERROR, OFF(ec_dev_status_t, error)};
static const uint8_t error_enc[] = {
    E_TEXT,     OFF(ec_dev_error_t, code),
    E_TEXT,     OFF(ec_dev_error_t, message),
    E_OPTIONAL, OFF(ec_dev_error_t, source)};
static const ec__map_t status_map = {status_names, status_enc};
static const ec__map_t entry_map = {entry_names, entry_enc};
static const ec__map_t state_map = {STATE_NAMES, state_enc};
static const ec__map_t error_map = {error_names, error_enc};

/* Each map has fewer than 24 members, so its head is one byte, written
 * first and given its count at the end. */
static int put_map(ec__cbw_t *w, const ec__map_t *m, const void *at) {
  const uint8_t *base = at;
  size_t head = w->len;
  unsigned n = 0;
  int rc = 0;
  ec__cbw_head(w, 5, 0);
  const uint8_t *sp = m->spec;
  for (const char *key = m->names; *key != '\0' && rc == 0;
       key += ec__len(key) + 1, sp += 2) {
    const void *v = base + sp[1];
    uint8_t kind = sp[0];
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
    ec__cbw_text(w, key);
    if (kind == E_KIND && s == NULL) {
      s = kinds;
    } else if (kind == E_STATE) {
      s = u < EC_DEV_STATE_COUNT ? ec__nth(state_names, u) : NULL;
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

/* {"code", "message", "source"?}: an error whose present fields are all
 * empty is no error; a real one needs code and message (the codec's rule). */
static const uint8_t error_dec[] = {EC__M_TEXT, 0, EC__M_TEXT,
                                    sizeof(ec_dev_str_t), EC__M_TEXT,
                                    2 * sizeof(ec_dev_str_t)};
static const ec__map_t error_members = {error_names, error_dec};

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
  int rc = ec__cbr_map(r, &error_members, NULL, v, depth, &seen);
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

static const uint8_t entry_dec[] = {
    EC__M_NONEMPTY, offsetof(entry_t, name), EC__M_STATE,
    offsetof(entry_t, state), EC__M_FN, 0};
static const ec__map_t component_members = {entry_names, entry_dec};
static const ec__map_t state_members = {STATE_NAMES, entry_dec + 2};

/* A component (name and state required) or a status (state required). */
static int read_entry(ec__cbr_t *r, bool component, entry_t *e, int depth) {
  unsigned seen;
  ec__zero(e, sizeof *e);
  int rc = ec__cbr_map(r, component ? &component_members : &state_members,
                       entry_member, e, depth, &seen);
  unsigned need = component ? 3u : 1u;
  return rc == 0 && (seen & need) != need ? EC_EBADDOC : rc;
}

enum { F_API, F_KIND, F_DEPLOYMENT, F_DEVICE, F_AMV, F_STATUS, F_COMPONENTS };

typedef struct {
  ec_dev_status_view_t v; /* first: the walk's offsets are the view's */
  ec_dev_component_fn fn;
  void *ctx;
} status_ctx_t;

/* The status is one entry, the components an array of them. */
static int status_member(ec__cbr_t *r, int f, void *out, int depth) {
  status_ctx_t *c = out;
  entry_t e;
  size_t n = 1;
  int rc = 0;
  bool comp = f == F_COMPONENTS;
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
static const uint8_t status_dec[] = {
    EC__M_TEXT,     VIEW(api_version),
    EC__M_TEXT,     VIEW(kind),
    EC__M_TEXT,     VIEW(deployment_id),
    EC__M_NONEMPTY, VIEW(device_id),
    EC__M_POS,      VIEW(adopted_manifest_version),
    EC__M_FN,       0,
    EC__M_FN,       0};
static const ec__map_t status_members = {status_names, status_dec};

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
  int rc = ec__cbr_doc(buf, len, &status_members, status_member, &c,
                       1u << F_API | 1u << F_KIND | 1u << F_DEPLOYMENT |
                           1u << F_STATUS | 1u << F_COMPONENTS);
  ec__copy(out, &c.v, sizeof *out);
  if (rc == 0 &&
      (out->api_version.len == 0 ||
       ec__lookup(kinds, out->kind.ptr, out->kind.len, false) < 0 ||
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

/* Concise keys (RFC 9290): title -1, detail -2, response-code -4,
 * field -256. */
#define PROBLEM(m) offsetof(ec_dev_problem_t, m)
static const char problem_names[] = "title\0detail\0response-code\0field\0";
static const uint8_t problem_dec[] = {
    EC__M_TEXT | EC__IKEY(1), PROBLEM(title),
    EC__M_TEXT | EC__IKEY(2), PROBLEM(detail),
    EC__M_FN | EC__IKEY(3),   0,
    EC__M_TEXT | EC__IKEY(9), PROBLEM(field)};
static const ec__map_t problem_members = {problem_names, problem_dec};

int ec_dev_problem_decode(const uint8_t *buf, size_t len,
                          ec_dev_problem_t *out) {
  if (out != NULL) {
    ec__zero(out, sizeof *out);
  }
  return ec__cbr_doc(buf, len, &problem_members, problem_member, out, 0);
}
