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

/* A UUID in 8-4-4-4-12 hex form, @p len bytes of @p s: dashes at 8, 13, 18
 * and 23 (the bits of 0x842100), hex digits in either case elsewhere. */
static bool uuid_ok(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned c = (uint8_t)s[i];
    bool dash = i < 24 && ((0x842100u >> i) & 1) != 0;
    if (dash ? c != '-'
             : c - '0' > 9u && (c | 0x20) - 'a' > 5u) {
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

/* Each map's members, their names kept once for the encoder and the
 * decoder (cbor.h): the decoder's bytes come first (see below), the
 * encoder's after the names. A status's {state, error} is a component's
 * map from "state" on. */
#define STATUS_NAMES                                                          \
  "apiVersion\0kind\0deploymentId\0deviceId\0adoptedManifestVersion\0"         \
  "status\0components\0"
#define ENTRY_NAMES "name\0state\0error\0"
#define STATE_NAMES "state\0error\0"
#define ERROR_NAMES "code\0message\0source\0"

#define OFF(t, m) ((uint8_t)offsetof(t, m))
#define VIEW(m) OFF(ec_dev_status_view_t, m)
/* A status or a component as the decoder reads it. */
typedef ec_dev_component_view_t entry_t;

static const EC__MAP2(7, STATUS_NAMES) status_map = {
    7,
    {EC__M_NONEMPTY, VIEW(api_version), EC__M_TEXT, VIEW(kind), EC__M_TEXT,
     VIEW(deployment_id), EC__M_NONEMPTY, VIEW(device_id), EC__M_POS,
     VIEW(adopted_manifest_version), EC__M_FN, 0, EC__M_FN, 0},
    STATUS_NAMES,
    {E_NONEMPTY, OFF(ec_dev_status_t, api_version), E_KIND,
     OFF(ec_dev_status_t, kind), E_TEXT, OFF(ec_dev_status_t, deployment_id),
     E_OPTIONAL, OFF(ec_dev_status_t, device_id), E_UINT,
     OFF(ec_dev_status_t, adopted_manifest_version), E_STATUS, 0,
     E_COMPONENTS, 0}};
/* An error's code, message and source go to three ec_dev_str_t one after
 * the other (entry_member()). */
static const EC__MAP2(3, ENTRY_NAMES) entry_map = {
    3,
    {EC__M_NONEMPTY, OFF(entry_t, name), EC__M_STATE, OFF(entry_t, state),
     EC__M_FN, OFF(entry_t, error_code)},
    ENTRY_NAMES,
    {E_NONEMPTY, OFF(ec_dev_component_t, name), E_STATE,
     OFF(ec_dev_component_t, state), E_ERROR, OFF(ec_dev_component_t, error)}};
static const EC__MAP2(2, STATE_NAMES) state_map = {
    2,
    {EC__M_STATE, VIEW(state), EC__M_FN, VIEW(error_code)},
    STATE_NAMES,
    {E_STATE, OFF(ec_dev_status_t, state), E_ERROR,
     OFF(ec_dev_status_t, error)}};
/* {"code", "message", "source"?}: an error whose present fields are all
 * empty is no error; a real one needs code and message (the codec's rule). */
static const EC__MAP2(3, ERROR_NAMES) error_map = {
    3,
    {EC__M_TEXT, 0, EC__M_TEXT, sizeof(ec_dev_str_t), EC__M_TEXT,
     2 * sizeof(ec_dev_str_t)},
    ERROR_NAMES,
    {E_TEXT, OFF(ec_dev_error_t, code), E_TEXT, OFF(ec_dev_error_t, message),
     E_OPTIONAL, OFF(ec_dev_error_t, source)}};

/* Each map has fewer than 24 members, so its head is one byte, written
 * first and given its count at the end. */
static int put_map(ec__cbw_t *w, const ec__map_t *m, const void *at) {
  const uint8_t *base = at;
  size_t head = w->len;
  unsigned n = 0;
  int rc = 0;
  ec__cbw_head(w, 5, 0);
  const char *key = EC__NAMES(m);
  const uint8_t *sp = (const uint8_t *)ec__nth(key, m[0]) + 1;
  for (; *key != '\0' && rc == 0; key += ec__len(key) + 1, sp += 2) {
    const void *v = base + sp[1];
    uint8_t kind = sp[0];
    /* Each member is read as what it is: a string, a number or a state
     * (an enum, a byte where enums are short, as on arm-none-eabi); a
     * state and a default kind are written as the text they stand for.
     * What is left out is decided first, so the key is written in one
     * place. */
    const char *s = NULL;
    uint32_t u = 0;
    bool skip = false;
    if (kind == E_UINT) {
      u = *(const uint32_t *)v;
      skip = u == 0;
    } else if (kind == E_STATE) {
      u = (uint32_t)*(const ec_dev_state_t *)v;
      s = ec__nth(state_names, u); /* "" past the last: refused below */
    } else if (kind <= E_KIND) {
      s = *(const char *const *)v;
      if (kind == E_KIND && s == NULL) {
        s = kinds;
      }
      skip = kind == E_OPTIONAL && s == NULL;
    } else if (kind == E_ERROR) {
      skip = ((const ec_dev_error_t *)v)->code == NULL;
    }
    if (skip) {
      continue;
    }
    bool text = kind <= E_STATE && kind != E_UINT;
    if (text && (s == NULL ||
                 ((kind == E_NONEMPTY || kind == E_STATE) && s[0] == '\0'))) {
      return EC_EINVAL;
    }
    n++;
    ec__cbw_text(w, key);
    if (text) {
      ec__cbw_text(w, s);
    } else if (kind == E_UINT) {
      ec__cbw_head(w, 0, u);
    } else if (kind == E_COMPONENTS) {
      const ec_dev_status_t *st = at;
      ec__cbw_head(w, 4, (uint32_t)st->n_components);
      for (size_t j = 0; j < st->n_components && rc == 0; j++) {
        rc = put_map(w, EC__M(entry_map), &st->components[j]);
      }
    } else {
      /* An error, or the report's {state, error} (at offset 0: the
       * report itself). */
      rc = put_map(w, kind == E_ERROR ? EC__M(error_map) : EC__M(state_map),
                   v);
    }
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
  int rc = put_map(&w, EC__M(status_map), st);
  if (rc < 0) {
    return rc;
  }
  return w.len > (size_t)INT32_MAX ? EC_ENOSPC : (int)w.len;
}

/* ---- decoding ---------------------------------------------------------- */

/* An error: its code, message and source to out[0], out[1] and out[2]. */
static int entry_member(ec__cbr_t *r, int f, void *out, int depth) {
  ec_dev_str_t *e = out;
  ec_dev_str_t v[3];
  unsigned seen;
  (void)f;
  ec__zero(v, sizeof v);
  int rc = ec__cbr_map(r, EC__M(error_map), NULL, v, depth, &seen);
  if (rc < 0 || (v[0].len == 0 && v[1].len == 0 && v[2].len == 0)) {
    return rc;
  }
  if (v[0].ptr == NULL || v[1].ptr == NULL) {
    return EC_EBADDOC;
  }
  ec__copy(e, v, sizeof v);
  return 0;
}

enum { F_API, F_KIND, F_DEPLOYMENT, F_DEVICE, F_AMV, F_STATUS, F_COMPONENTS };

typedef struct {
  ec_dev_status_view_t v; /* first: the walk's offsets are the view's */
  ec_dev_component_fn fn;
  void *ctx;
} status_ctx_t;

/* The status ({state, error?}, read into the view, state required) or
 * the components, an array of {name, state, error?} (name and state
 * required), each passed to the caller's function. */
static int status_member(ec__cbr_t *r, int f, void *out, int depth) {
  status_ctx_t *c = out;
  unsigned seen;
  entry_t e;
  size_t n;
  int rc;
  if (f == F_STATUS) {
    rc = ec__cbr_map(r, EC__M(state_map), entry_member, &c->v, depth, &seen);
    return rc == 0 && (seen & 1) == 0 ? EC_EBADDOC : rc;
  }
  rc = ec__cbr_enter(r, 4, depth, &n);
  c->v.n_components = n;
  for (size_t i = 0; i < n && rc == 0; i++) {
    ec__zero(&e, sizeof e);
    rc = ec__cbr_map(r, EC__M(entry_map), entry_member, &e, depth - 1, &seen);
    if (rc == 0 && (seen & 3) != 3) {
      rc = EC_EBADDOC;
    }
    if (rc == 0 && c->fn != NULL) {
      rc = c->fn(c->ctx, i, &e);
    }
  }
  return rc;
}

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
  int rc = ec__cbr_doc(buf, len, EC__M(status_map), status_member, &c,
                       1u << F_API | 1u << F_KIND | 1u << F_DEPLOYMENT |
                           1u << F_STATUS | 1u << F_COMPONENTS);
  ec__copy(out, &c.v, sizeof *out);
  if (rc == 0 &&
      (ec__lookup(kinds, out->kind.ptr, out->kind.len, false) < 0 ||
       !uuid_ok(out->deployment_id.ptr, out->deployment_id.len))) {
    return EC_EBADDOC;
  }
  return rc;
}

/* "4.22" -> 150, as the codec reads the JSON spelling. */
static int dotted(ec_dev_str_t s) {
  const uint8_t *p = (const uint8_t *)s.ptr;
  if (s.len != 4 || p[1] != '.') {
    return EC_EBADDOC;
  }
  unsigned c = p[0] - '0';
  unsigned d1 = p[2] - '0';
  unsigned d2 = p[3] - '0';
  unsigned dd = d1 * 10 + d2;
  return c > 7 || d1 > 9 || d2 > 9 || dd > 31 ? EC_EBADDOC : (int)(c * 32 + dd);
}

/* response-code: an integer 0..255 or the dotted spelling. */
static int problem_member(ec__cbr_t *r, int f, void *out, int depth) {
  ec_dev_problem_t *p = out;
  ec_dev_str_t t;
  int64_t v;
  int rc;
  (void)f;
  (void)depth;
  int type = ec__cbr_peek(r);
  if (type == 3) {
    if ((rc = ec__cbr_text(r, &t)) < 0 || (rc = dotted(t)) < 0) {
      return rc;
    }
    p->code = rc;
    return 0;
  }
  if (type > 1) {
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
#define PROBLEM_NAMES "title\0detail\0response-code\0field\0"
static const EC__MAP(4, PROBLEM_NAMES) problem_map = {
    4,
    {EC__M_TEXT | EC__IKEY(1), PROBLEM(title), EC__M_TEXT | EC__IKEY(2),
     PROBLEM(detail), EC__M_FN | EC__IKEY(3), 0, EC__M_TEXT | EC__IKEY(9),
     PROBLEM(field)},
    PROBLEM_NAMES};

int ec_dev_problem_decode(const uint8_t *buf, size_t len,
                          ec_dev_problem_t *out) {
  if (out != NULL) {
    ec__zero(out, sizeof *out);
  }
  return ec__cbr_doc(buf, len, EC__M(problem_map), problem_member, out, 0);
}
