/* edgecoap server: /v1/Login and /v1/DeviceProvisioningComponents. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "res_provisioning.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "dedup.h"
#include "batch.h"
#include "log.h"
#include "pwcheck.h"
#include "request.h"
#include "watch.h"
#include "util.h"

/*
 * These resources answer in the seed's shape ({"error": CODE} plus
 * "error_detail"), not with problem details: INVALID_TOKEN is 4.01, NO_DATA
 * 4.04, every other seed code 4.00, and a failure of the server itself 5.00
 * with {"error": "SERVER_ERROR"}. Transport-level refusals made before a
 * handler sees the request (4.06, 4.13, 4.15) stay problem details, as on
 * every other resource, and so does the 4.03 of an account that may not use
 * a provisioning (caller_t below), which the seed has no code for.
 *
 * Observation of GET ?provisioning_id=N is kept by server/coap/watch.c, because
 * libcoap 4.3.1 would notify every observer of the resource at once: an
 * insert or update notifies only the watches of the provisionings it changed
 * (and those without a filter).
 */

typedef struct ec_prov ec_prov_t;

typedef struct select select_t;

struct ec_prov {
  ec_auth_t *auth;
  ec_pwcheck_t *pwcheck; /* password checks, off the I/O thread */
  ec_watch_list_t watches;
  select_t *selecting;   /* selects whose read is in flight */
};

/* What one watch follows. */
typedef struct {
  int64_t provisioning_id;                  /* -1: every provisioning */
  int64_t scope;                            /* see caller_t */
  uint8_t digest[EC_STORE_PROV_DIGEST_LEN]; /* its token, checked per
                                               notification */
} watch_filter_t;

/* ---- answers ------------------------------------------------------------- */

/* Send @p buf (malloc'd, taken over) of length @p n, or a 5.00 when encoding
 * failed (@p n < 0); remember it for retransmissions under @p key (the
 * route's entry, rq->route) when it is set. */
static void send_owned(ec_req_t *rq, int code, uint8_t *buf, ssize_t n,
                       const void *key) {
  if (n < 0 || buf == NULL) {
    free(buf);
    ec_log(EC_LOG_ERROR, "provisioning: cannot encode an answer: %s",
           ec_strerror(n < 0 ? (int)n : EC_ENOMEM));
    ec_req_empty(rq, 500);
    return;
  }
  if (key != NULL && coap_pdu_get_type(rq->request) == COAP_MESSAGE_CON) {
    ec_dedup_answer_t a = {key, code, 0, 0};
    ec_dedup_put_body(rq->srv->dedup, ec_req_dedup_key(rq), &a, buf,
                      (size_t)n, rq->resp_fmt);
  }
  ec_req_send(rq, code, rq->resp_fmt, buf, (size_t)n, 0);
  free(buf);
}

/* Measure, allocate and write with one of the codec's encoders; the
 * argument list differs per encoder, hence a macro. */
#define ENCODE(out, n, call_with_buf_cap)                                      \
  do {                                                                         \
    uint8_t *buf = NULL;                                                       \
    size_t cap = 0;                                                            \
    (n) = call_with_buf_cap;                                                   \
    if ((n) >= 0) {                                                            \
      cap = (size_t)(n) + 1;                                                   \
      buf = malloc(cap);                                                       \
      if (buf == NULL)                                                         \
        (n) = EC_ENOMEM;                                                       \
      else                                                                     \
        (n) = call_with_buf_cap;                                               \
    }                                                                          \
    (out) = buf;                                                               \
  } while (0)

/* An error answer must fit one block: libcoap 4.3.1 clients (coap-client
 * and this project's library) do not ask for the rest of a 4.xx answer sent
 * block-wise. A long error_detail (unknown ids, or INVALID_PRAM_ with a very
 * long key) is therefore cut to what fits. */
#define ERROR_DOC_MAX 1024

static void answer_error(ec_req_t *rq, int code, const char *status,
                         const char *error, const char *detail,
                         const int64_t *ids, size_t n_ids, const void *key) {
  uint8_t *out;
  ssize_t n;
  char cut[EC_PROV_DETAIL_CAP];
  for (;;) {
    n = ec_prov_error_encode(rq->resp_fmt, status, error, detail, ids, n_ids,
                             NULL, 0);
    if (n <= ERROR_DOC_MAX)
      break;
    size_t over = (size_t)n - ERROR_DOC_MAX;
    if (ids != NULL && n_ids > 1) {
      /* Keep the share of ids that fits, judged by their average size. */
      size_t keep = n_ids * (ERROR_DOC_MAX - 64) / (size_t)n;
      n_ids = keep >= n_ids ? n_ids - 1 : keep > 0 ? keep : 1;
    } else if (detail != NULL && strlen(detail) > over) {
      size_t len = strlen(detail) - over;
      while (len > 0 && ((unsigned char)detail[len] & 0xC0) == 0x80)
        len--; /* not inside a UTF-8 sequence */
      if (detail != cut)
        snprintf(cut, sizeof(cut), "%s", detail);
      cut[len] = '\0';
      detail = cut;
    } else {
      break;
    }
  }
  ENCODE(out, n,
         ec_prov_error_encode(rq->resp_fmt, status, error, detail, ids, n_ids,
                              buf, cap));
  ec_log(EC_LOG_DEBUG, "provisioning: answer %d.%02d %s %s", code / 100,
         code % 100, error, detail ? detail : "");
  send_owned(rq, code, out, n, key);
}

/* The seed's codes to CoAP codes (API.md section 4). */
static int seed_code(const char *error) {
  if (strcmp(error, "INVALID_TOKEN") == 0 ||
      strcmp(error, "ACCOUNT_PASSWORD_INCORRECT") == 0)
    return 401;
  if (strcmp(error, "NO_DATA") == 0)
    return 404;
  return 400;
}

static void answer_seed_error(ec_req_t *rq, const ec_prov_error_t *err) {
  if (err->code == EC_ENOMEM || err->code == EC_EINVAL) {
    answer_error(rq, 500, NULL, "SERVER_ERROR", "out of memory", NULL, 0, NULL);
    return;
  }
  answer_error(rq, seed_code(err->error), NULL, err->error, err->detail, NULL,
               0, NULL);
}

/* A failure of the store: 5.00, or while it is out of reach (a
 * PostgreSQL restart) 5.03 with Max-Age, to be sent again. */
static void answer_server_error(ec_req_t *rq, const char *status, int rc) {
  if (rc == EC_ETIMEOUT || ec_store_unreachable(rq->srv->store)) {
    ec_req_store_error(rq, EC_ETIMEOUT);
    return;
  }
  if (rc == EC_EBUSY) {
    /* EC_STORE_READS_MAX reads wait for the store already. */
    ec_req_max_age(rq, 1);
    ec_req_problem(rq, 503, "busy", NULL,
                   "too many reads wait for the store; try again in 1 s");
    return;
  }
  answer_error(rq, 500, status, "SERVER_ERROR", ec_strerror(rc), NULL, 0, NULL);
}

/* Answer a retransmitted confirmable request with its first answer: the
 * dedup key covers the security context, token, options and body, so only
 * the same request from the same context finds one (dedup.h). */
void ec_provisioning_replay(ec_req_t *rq, const ec_dedup_answer_t *a) {
  ec_log(EC_LOG_INFO, "provisioning: retransmission answered again (%d.%02d)",
         a->code / 100, a->code % 100);
  size_t len;
  int format;
  const uint8_t *body =
      ec_dedup_body(rq->srv->dedup, ec_req_dedup_key(rq), &len, &format);
  if (body != NULL)
    ec_req_send(rq, a->code, (ec_format_t)format, body, len, 0);
  else
    ec_req_empty(rq, a->code); /* applied, but too large to have been kept */
}

/*
 * Who may do what (API.md section 4, docs/SECURITY.md): accounts with the
 * role "admin" or "operator" read and change every provisioning; any other
 * account (a "device", a "user") only the provisionings whose owner it is,
 * as the catalog import set them. The role is read at every request, so a
 * role changed with `admin user-add` holds from the next one.
 */
typedef struct {
  int64_t user_id;
  int64_t scope; /* -1: every provisioning; else only those this account owns */
} caller_t;

static bool privileged(const char *role) {
  return strcmp(role, "admin") == 0 || strcmp(role, "operator") == 0;
}

/* 0 when the caller may use provisioning @p prov, else < 0 with 4.03 (or
 * 5.00) answered. A provisioning that does not exist is refused alike, so a
 * restricted account learns nothing of others'. */
static int check_owned(ec_req_t *rq, const caller_t *c, int64_t prov) {
  if (c->scope < 0)
    return 0;
  int64_t owner = -1;
  int rc = ec_store_prov_owner(rq->srv->store, prov, &owner);
  if (rc == 0 && owner == c->scope)
    return 0;
  if (rc < 0 && rc != EC_ENOTFOUND) {
    answer_server_error(rq, NULL, rc);
    return rc;
  }
  ec_log(EC_LOG_INFO, "provisioning: user %lld refused provisioning %lld "
         "(not its owner)", (long long)c->user_id, (long long)prov);
  ec_req_problem(rq, 403, "forbidden", "provisioning_id",
                 "account %lld may use only the provisionings it owns, and "
                 "provisioning %lld is not one of them",
                 (long long)c->user_id, (long long)prov);
  return EC_ENOTFOUND;
}

/* The token of option 65000: 0 with the account, or 4.01 answered. */
static int authenticate(ec_req_t *rq, uint8_t *digest, caller_t *caller) {
  int64_t *user_id = &caller->user_id;
  coap_opt_iterator_t it;
  const coap_opt_t *opt =
      coap_check_option(rq->request, EC_PROV_AUTH_OPTION, &it);
  int rc = opt == NULL
               ? EC_ENOTFOUND
               : ec_auth_check(rq->srv->prov->auth, rq->srv->store,
                               coap_opt_value(opt), coap_opt_length(opt),
                               ec_now_ms(), digest, user_id);
  ec_store_prov_user_t u;
  if (rc == 0)
    rc = ec_store_prov_user_get(rq->srv->store, *user_id, &u);
  if (rc == 0) {
    caller->scope = privileged(u.role) ? -1 : *user_id;
    sodium_memzero(u.password_hash, sizeof(u.password_hash));
    return 0;
  }
  if (rc == EC_ENOTFOUND)
    answer_error(rq, 401, NULL, "INVALID_TOKEN", NULL, NULL, 0, NULL);
  else
    answer_server_error(rq, NULL, rc);
  return -1;
}

/* ---- select -------------------------------------------------------------- */

/* Answer a select's rows (@p rows taken over), or the store's @p rc;
 * @p observing keeps an empty result a 2.05, because an error would end
 * the observation (RFC 7641) of a provisioning that simply has no
 * components yet. A store out of reach, or a read that took too long
 * (EC_ETIMEOUT), is 5.03 with Max-Age: try again. */
static int answer_rows(ec_req_t *rq, int rc, ec_prov_component_t *rows,
                       size_t n_rows, bool observing) {
  if (rc < 0) {
    free(rows);
    answer_server_error(rq, NULL, rc);
    return rc;
  }
  if (n_rows == 0 && !observing) {
    answer_error(rq, 404, NULL, "NO_DATA", NULL, NULL, 0, NULL);
    return EC_ENOTFOUND;
  }
  uint8_t *out;
  ssize_t n;
  ENCODE(out, n, ec_prov_select_encode(rq->resp_fmt, rows, n_rows, buf, cap));
  free(rows);
  send_owned(rq, 205, out, n, NULL);
  return n < 0 ? (int)n : 0;
}

/*
 * A select whose read the store takes up and answers later (PostgreSQL:
 * ec_store_prov_select_start), so that a slow read holds its own request
 * only, never the I/O loop and every other client with it. The request is
 * registered with libcoap as asynchronous (a confirmable one is
 * acknowledged with an empty ACK at once); when the rows come, the store's
 * callback triggers it, and libcoap runs the handler again, which the
 * dispatcher answers from this (EC_ROUTE_DEFER, batch.h's plumbing), with
 * a separate response. A store whose reads do not wait (SQLite), a
 * non-confirmable request or an observation's first answer read at once.
 */
struct select {
  ec_pending_t base; /* first: batch.h's answer plumbing */
  select_t *next;    /* srv->prov->selecting, while the read is in flight */
  int rc;
  ec_prov_component_t *rows;
  size_t n;
  ec_format_t fmt;   /* the answer's format, as first negotiated */
};

static void select_free(ec_pending_t *pp) {
  select_t *q = (select_t *)pp;
  free(q->rows);
  free(q);
}

static void select_answer(ec_req_t *rq, ec_pending_t *pp) {
  select_t *q = (select_t *)pp;
  rq->resp_fmt = q->fmt;
  (void)answer_rows(rq, q->rc, q->rows, q->n, false);
  q->rows = NULL;
}

/* The store's word: trigger the answer (or, orphaned, drop it). */
static void on_selected(void *ud, int rc, ec_prov_component_t *rows,
                        size_t n) {
  select_t *q = ud;
  if (q->base.orphan) {
    free(rows);
    select_free(&q->base);
    return;
  }
  ec_server_t *srv = q->base.srv;
  for (select_t **at = &srv->prov->selecting; *at != NULL; at = &(*at)->next)
    if (*at == q) {
      *at = q->next;
      break;
    }
  q->rc = rc;
  q->rows = rows;
  q->n = n;
  ec_batch_trigger(srv, &q->base);
}

/* Start @p f's read for later: 0 (the handler returns, unanswered), or
 * < 0 when it reads at once instead (EC_ENOTSUP) or answered already. */
static int select_later(ec_req_t *rq, const caller_t *c,
                        const ec_prov_request_t *f) {
  if (coap_pdu_get_type(rq->request) != COAP_MESSAGE_CON)
    return EC_ENOTSUP;
  select_t *q = calloc(1, sizeof(*q));
  if (q == NULL)
    return EC_ENOTSUP;
  q->base.srv = rq->srv;
  q->base.answer = select_answer;
  q->base.free = select_free;
  q->fmt = rq->resp_fmt;
  int rc = ec_store_prov_select_start(rq->srv->store, f, c->scope,
                                      on_selected, q);
  if (rc < 0) {
    free(q);
    if (rc != EC_ENOTSUP)
      answer_rows(rq, rc, NULL, 0, false);
    return rc == EC_ENOTSUP ? rc : EC_ESTORE;
  }
  /* Until the read's callback triggers it. */
  if (ec_batch_defer(rq, &q->base) < 0) {
    q->base.orphan = 1; /* freed by the callback */
    ec_req_problem(rq, 503, "out-of-memory", NULL,
                   "cannot wait for the read now: repeat the request");
    return EC_ENOMEM;
  }
  q->next = rq->srv->prov->selecting;
  rq->srv->prov->selecting = q;
  /* No code set: libcoap sends the empty ACK of a confirmable request. */
  return 0;
}

/* Answer a select, later when the store reads without waiting (above). */
static int answer_select(ec_req_t *rq, const caller_t *c,
                         const ec_prov_request_t *f, bool observing) {
  int rc = observing ? EC_ENOTSUP : select_later(rq, c, f);
  if (rc != EC_ENOTSUP)
    return rc;
  ec_prov_component_t *rows = NULL;
  size_t n_rows = 0;
  rc = ec_store_prov_select_owned(rq->srv->store, f, c->scope, &rows,
                                  &n_rows);
  return answer_rows(rq, rc, rows, n_rows, observing);
}

/* ---- notifications ------------------------------------------------------- */

/* One encoded document per (provisioning, format) for one round. */
typedef struct {
  int64_t provisioning_id;
  int64_t scope;
  ec_format_t fmt;
  uint8_t *doc;
  ssize_t len;
} cached_t;

/* The document a watch of @p prov is sent: the select answer, or when that
 * does not fit one datagram, {"provisioning_id": N, "status": "CHANGED"}
 * telling it to fetch the list (@p small). */
static ssize_t notification(ec_server_t *srv, int64_t prov, int64_t scope,
                            ec_format_t fmt, bool small, uint8_t **doc) {
  ssize_t n;
  *doc = NULL;
  if (small) {
    char json[96];
    if (prov >= 0)
      snprintf(json, sizeof(json),
               "{\"provisioning_id\":%lld,\"status\":\"CHANGED\"}",
               (long long)prov);
    else
      snprintf(json, sizeof(json), "{\"status\":\"CHANGED\"}");
    size_t jl = strlen(json);
    if (fmt == EC_FORMAT_JSON) {
      *doc = (uint8_t *)strdup(json);
      return *doc ? (ssize_t)jl : EC_ENOMEM;
    }
    uint8_t *out;
    ENCODE(out, n, ec_json_to_cbor(json, jl, buf, cap));
    *doc = out;
    return n;
  }
  ec_prov_request_t f;
  memset(&f, 0, sizeof(f));
  f.has_provisioning_id = prov >= 0;
  f.provisioning_id = prov;
  ec_prov_component_t *rows = NULL;
  size_t n_rows = 0;
  int rc = ec_store_prov_select_owned(srv->store, &f, scope, &rows, &n_rows);
  if (rc < 0)
    return rc;
  uint8_t *out;
  ENCODE(out, n, ec_prov_select_encode(fmt, rows, n_rows, buf, cap));
  free(rows);
  *doc = out;
  return n;
}

/* Whether a change of @p provs (owned by @p owners) concerns watch @p f:
 * a restricted watch hears only of its account's provisionings. */
static bool changed(const watch_filter_t *f, const int64_t *provs,
                    const int64_t *owners, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((f->provisioning_id < 0 || provs[i] == f->provisioning_id) &&
        (f->scope < 0 || owners[i] == f->scope))
      return true;
  return false;
}

/* A restricted watch of a provisioning its account no longer owns. */
static bool lost_ownership(const watch_filter_t *f, const int64_t *provs,
                           const int64_t *owners, size_t n) {
  for (size_t i = 0; f->scope >= 0 && i < n; i++)
    if (provs[i] == f->provisioning_id && owners[i] != f->scope)
      return true;
  return false;
}

/* A token logged out or expired since the observation began ends it:
 * nobody may keep hearing of changes without a live session. */
static bool token_live(ec_server_t *srv, ec_watch_t *w) {
  const watch_filter_t *f = w->filter;
  if (ec_auth_check_digest(srv->prov->auth, srv->store, f->digest,
                           ec_now_ms()) == 0)
    return true;
  ec_log(EC_LOG_INFO, "provisioning: observation ended, its token is no "
                      "longer valid");
  ec_watch_remove(w);
  return false;
}

/* Send @p w its notification: @p c's document when @p c is not NULL (one
 * encoding shared by the watches of a round), else one encoded for it; the
 * short form when the list does not fit one datagram. @return 0 or < 0 */
static int send_one(ec_server_t *srv, ec_watch_t *w, const cached_t *c) {
  const watch_filter_t *f = w->filter;
  cached_t one = {f->provisioning_id, f->scope, w->fmt, NULL, 0};
  if (c == NULL) {
    one.len = notification(srv, f->provisioning_id, f->scope, w->fmt, false,
                           &one.doc);
    c = &one;
  }
  /* A document that cannot fit one datagram (header, token and options
   * take at most about 32 bytes) goes straight to the short form. */
  ec_req_udp_mtu(w->session);
  int rc = c->len < 0 ? (int)c->len
           : (size_t)c->len + 32 > coap_session_max_pdu_size(w->session)
               ? EC_ETOOBIG
               : ec_watch_send(srv, w, c->doc, (size_t)c->len);
  if (rc == EC_ETOOBIG) {
    uint8_t *small = NULL;
    ssize_t sl = notification(srv, f->provisioning_id, f->scope, w->fmt,
                              true, &small);
    rc = sl < 0 ? (int)sl : ec_watch_send(srv, w, small, (size_t)sl);
    free(small);
  }
  free(one.doc);
  if (rc < 0)
    ec_log(EC_LOG_WARN, "provisioning: a notification failed: %s",
           ec_strerror(rc));
  return rc;
}

/* A liveness check (--observe-check) or a deferred notification (watch.h):
 * the watch's current list, as a change would send it. */
static void refresh_one(ec_server_t *srv, ec_watch_t *w) {
  if (token_live(srv, w))
    (void)send_one(srv, w, NULL);
}

static void notify(ec_server_t *srv, const int64_t *provs, size_t n_provs) {
  ec_watch_list_t *list = &srv->prov->watches;
  cached_t cache[8];
  size_t n_cache = 0;
  unsigned sent = 0;
  int64_t *owners = malloc((n_provs + 1) * sizeof(*owners));
  if (owners == NULL) {
    ec_log(EC_LOG_WARN, "provisioning: no memory to notify observers");
    return;
  }
  for (size_t i = 0; i < n_provs; i++)
    if (ec_store_prov_owner(srv->store, provs[i], &owners[i]) < 0)
      owners[i] = -1;

  for (ec_watch_t *w = list->head, *next; w != NULL; w = next) {
    next = w->next;
    const watch_filter_t *f = w->filter;
    if (lost_ownership(f, provs, owners, n_provs)) {
      ec_log(EC_LOG_INFO, "provisioning: observation ended, its account no "
                          "longer owns the provisioning");
      ec_watch_remove(w);
      continue;
    }
    if (!changed(f, provs, owners, n_provs))
      continue;
    if (!token_live(srv, w))
      continue;
    cached_t *c = NULL;
    for (size_t i = 0; i < n_cache && c == NULL; i++)
      if (cache[i].provisioning_id == f->provisioning_id &&
          cache[i].scope == f->scope && cache[i].fmt == w->fmt)
        c = &cache[i];
    if (c == NULL && n_cache < sizeof(cache) / sizeof(cache[0])) {
      c = &cache[n_cache++];
      c->provisioning_id = f->provisioning_id;
      c->scope = f->scope;
      c->fmt = w->fmt;
      c->len = notification(srv, f->provisioning_id, f->scope, w->fmt, false,
                            &c->doc);
    }
    if (send_one(srv, w, c) == 0)
      sent++;
  }
  for (size_t i = 0; i < n_cache; i++)
    free(cache[i].doc);
  free(owners);
  if (sent > 0)
    ec_log(EC_LOG_DEBUG, "provisioning: %u observers notified", sent);
}

void ec_provisioning_changed(ec_server_t *srv, int64_t id) {
  if (srv->prov == NULL)
    return;
  if (id >= 0) {
    notify(srv, &id, 1);
    return;
  }
  for (ec_watch_t *w = srv->prov->watches.head, *next; w != NULL; w = next) {
    next = w->next;
    refresh_one(srv, w);
  }
}

/* ---- GET /v1/DeviceProvisioningComponents ---------------------------- */

/* Read the query: only provisioning_id, a whole number. @return 0, or < 0
 * with the seed's error answered. */
static int read_query(ec_req_t *rq, ec_prov_request_t *f) {
  coap_opt_iterator_t it;
  coap_opt_filter_t filter;
  const coap_opt_t *opt;
  coap_option_filter_clear(&filter);
  coap_option_filter_set(&filter, COAP_OPTION_URI_QUERY);
  coap_option_iterator_init(rq->request, &it, &filter);
  while ((opt = coap_option_next(&it)) != NULL) {
    const char *q = (const char *)coap_opt_value(opt);
    size_t len = coap_opt_length(opt);
    const char *eq = memchr(q, '=', len);
    size_t nlen = eq ? (size_t)(eq - q) : len;
    static const char name[] = "provisioning_id";
    if (nlen != sizeof(name) - 1 || memcmp(q, name, nlen) != 0) {
      /* A Uri-Query option holds at most 255 bytes. */
      char detail[sizeof("INVALID_PRAM_") + 255] = "INVALID_PRAM_";
      size_t at = strlen(detail);
      for (size_t i = 0; i < nlen && at + 1 < sizeof(detail); i++) {
        char c = q[i];
        detail[at++] = c >= 'a' && c <= 'z'      ? (char)(c - 32)
                       : (c >= 0x20 && c < 0x7f) ? c
                                                 : '?';
      }
      detail[at] = '\0';
      answer_error(rq, 400, NULL, "INVALID_INPUT_PRAM", detail, NULL, 0, NULL);
      return -1;
    }
    size_t vlen = eq ? len - nlen - 1 : 0;
    int64_t v = 0;
    bool ok = vlen > 0 && vlen <= 18;
    for (size_t i = 0; ok && i < vlen; i++) {
      char c = eq[1 + i];
      ok = c >= '0' && c <= '9';
      v = v * 10 + (c - '0');
    }
    if (!ok) {
      answer_error(rq, 400, NULL, "INVALID_PROVISIONING_ID_PRAM", NULL, NULL, 0,
                   NULL);
      return -1;
    }
    f->has_provisioning_id = true;
    f->provisioning_id = v;
  }
  return 0;
}

static void components_get(ec_req_t *rq) {
  ec_server_t *srv = rq->srv;
  uint8_t digest[EC_STORE_PROV_DIGEST_LEN];
  caller_t caller;
  bool wants_observe = rq->opt.observe != NULL;
  ec_prov_request_t f;
  memset(&f, 0, sizeof(f));
  f.action = EC_PROV_SELECT;

  if (authenticate(rq, digest, &caller) < 0 || read_query(rq, &f) < 0 ||
      (f.has_provisioning_id &&
       check_owned(rq, &caller, f.provisioning_id) < 0)) {
    /* A refused re-registration ends the observation it renewed. */
    if (wants_observe)
      ec_watch_cancel_request(rq, &srv->prov->watches);
    return;
  }
  watch_filter_t *wf = malloc(sizeof(*wf));
  if (wf == NULL) {
    answer_server_error(rq, NULL, EC_ENOMEM);
    return;
  }
  wf->provisioning_id = f.has_provisioning_id ? f.provisioning_id : -1;
  wf->scope = caller.scope;
  memcpy(wf->digest, digest, sizeof(digest));
  int observing = ec_watch_request(rq, &srv->prov->watches, wf, free);
  if (observing < 0)
    return; /* 5.03 answered */
  if (answer_select(rq, &caller, &f, observing > 0) < 0 && observing > 0)
    ec_watch_cancel_request(rq, &srv->prov->watches);
}

/* ---- POST /v1/DeviceProvisioningComponents --------------------------- */

static const char *unknown_id_error(ec_comp_type_t t) {
  switch (t) {
  case EC_COMP_SENSOR:
    return "INVALID_COMPONENT_SENSOR_ID_PRAM";
  case EC_COMP_PARAMETER:
    return "INVALID_COMPONENT_PARAMETER_ID_PRAM";
  default:
    return "INVALID_COMPONENT_GROUP_PARAMETER_ID_PRAM";
  }
}

/* 0 when the caller may make write @p w, else < 0 with the refusal answered.
 * Rows named by provisioning_component_id are judged by their provisioning;
 * ids that name no row are left to the store's INVALID_COMPONENT_ID_PRAM. */
static int check_write(ec_req_t *rq, const caller_t *c,
                       const ec_prov_request_t *w) {
  if (c->scope < 0)
    return 0;
  if (!w->provisioning_component_id.present)
    return check_owned(rq, c, w->provisioning_id);
  const ec_prov_ids_t *ids = &w->provisioning_component_id;
  for (size_t i = 0; i < ids->n; i++) {
    int64_t prov;
    int rc = ec_store_prov_component_of(rq->srv->store, ids->v[i], &prov);
    if (rc == EC_ENOTFOUND)
      continue;
    if (rc < 0) {
      answer_server_error(rq, NULL, rc);
      return rc;
    }
    if ((rc = check_owned(rq, c, prov)) < 0)
      return rc;
  }
  return 0;
}

static void do_write(ec_req_t *rq, const ec_prov_request_t *w,
                     int64_t user_id) {
  ec_store_prov_outcome_t o;
  int64_t now_s = ec_now_ms() / 1000;
  bool insert = w->action == EC_PROV_INSERT;
  int rc = insert ? ec_store_prov_insert(rq->srv->store, w, user_id, now_s, &o)
                  : ec_store_prov_update(rq->srv->store, w, user_id, now_s, &o);
  if (rc == EC_ESEMANTIC && o.no_provisioning) {
    answer_error(rq, 400, NULL, "INVALID_PROVISIONING_ID_PRAM", NULL, NULL, 0,
                 NULL);
  } else if (rc == EC_ESEMANTIC) {
    answer_error(rq, 400, NULL,
                 insert ? unknown_id_error(w->component_type)
                        : "INVALID_COMPONENT_ID_PRAM",
                 NULL, o.unknown, o.n_unknown, NULL);
  } else if (rc < 0) {
    answer_server_error(rq, NULL, rc);
  } else {
    /* Committed: the answer is a success whatever else fails now. */
    ec_prov_result_t res = {
        .action = w->action,
        .by_pc_id = w->provisioning_component_id.present,
        .provisioning_component_id = w->provisioning_component_id,
        .provisioning_id = w->provisioning_id,
        .component_type = w->component_type,
        .component_id = w->component_id,
        .active_status = w->has_active_status ? w->active_status : 0,
        .last_modified_by = user_id,
        .last_modified_s = now_s,
    };
    uint8_t *out;
    ssize_t n;
    ENCODE(out, n, ec_prov_result_encode(rq->resp_fmt, &res, buf, cap));
    ec_log(EC_LOG_INFO, "provisioning: user %lld %s %zu component(s)",
           (long long)user_id, insert ? "inserted" : "updated",
           res.by_pc_id ? res.provisioning_component_id.n : res.component_id.n);
    if (n < 0) {
      free(out);
      ec_req_empty(rq, insert ? 201 : 204);
    } else {
      send_owned(rq, insert ? 201 : 204, out, n, rq->route);
    }
    notify(rq->srv, o.provisionings, o.n_provisionings);
  }
  ec_store_prov_outcome_free(&o);
}

/* Selects, inserts and updates (a select is a POST too); the dispatcher
 * challenged an unverified address (echo.h) and answered a retransmission.
 * The token is checked before the body is taken in. */
static void components_post(ec_req_t *rq) {
  uint8_t digest[EC_STORE_PROV_DIGEST_LEN];
  caller_t caller;
  ec_prov_request_t w;
  ec_prov_error_t err;

  if (authenticate(rq, digest, &caller) < 0 || ec_req_body(rq) <= 0)
    return;
  if (ec_prov_request_decode(rq->req_fmt, rq->body, rq->body_len, &w,
                             &rq->arena, &err) < 0) {
    answer_seed_error(rq, &err);
    return;
  }
  if (w.action == EC_PROV_SELECT) {
    if (!w.has_provisioning_id ||
        check_owned(rq, &caller, w.provisioning_id) == 0)
      answer_select(rq, &caller, &w, false);
  } else if (check_write(rq, &caller, &w) == 0) {
    do_write(rq, &w, caller.user_id);
  }
}

void ec_provisioning_components(ec_req_t *rq) {
  if (rq->method == COAP_REQUEST_CODE_POST)
    components_post(rq);
  else
    components_get(rq);
}

/* ---- POST /v1/Login ------------------------------------------------------ */

/* The peer's address without its port: a client can change ports at will. */
static size_t peer_address(coap_session_t *s, const void **out) {
  const coap_address_t *a = coap_session_get_addr_remote(s);
  if (a->addr.sa.sa_family == AF_INET) {
    *out = &a->addr.sin.sin_addr;
    return sizeof(a->addr.sin.sin_addr);
  }
  if (a->addr.sa.sa_family == AF_INET6) {
    *out = &a->addr.sin6.sin6_addr;
    return sizeof(a->addr.sin6.sin6_addr);
  }
  *out = a;
  return sizeof(*a);
}

/*
 * A login's password check runs on a worker thread (pwcheck.h), so that a
 * flood of logins cannot stall every other request. The first run of the
 * handler applies the limits and reads the account (ec_auth_login_begin),
 * queues the check and registers the request with libcoap as asynchronous,
 * which acknowledges a confirmable request with an empty ACK at once. Each
 * I/O round, ec_provisioning_poll() collects finished checks and triggers
 * their requests; libcoap runs the handler again, which finds its
 * login_t, counts the outcome, makes the token (ec_auth_login_finish) and
 * answers with a separate response. Only the check leaves the I/O thread:
 * libcoap and SQLite are used on it alone. With EC_LOGIN_QUEUE checks in
 * flight (--login-queue) a login is refused at once with 5.03 and Max-Age.
 */
typedef struct {
  ec_pending_t base; /* first: batch.h's answer plumbing */
  ec_pwcheck_job_t job;
  ec_auth_attempt_t attempt;
  ec_dedup_key_t key; /* the request as first received, for its answer */
  ec_format_t fmt;    /* the answer's format, as first negotiated */
  bool dtls;          /* came over DTLS: a token may be remembered */
} login_t;

/* Seconds a client told 5.03 should wait before trying again. */
#define LOGIN_RETRY_S 1

static void login_free(ec_pending_t *pp) {
  login_t *l = (login_t *)pp;
  sodium_memzero(l, sizeof(*l));
  free(l);
}

static void login_release_job(ec_pwcheck_job_t *j) {
  login_free((ec_pending_t *)((char *)j - offsetof(login_t, job)));
}

/* The handler's second run: answer what the check found. */
static void login_answer(ec_req_t *rq, ec_pending_t *pp) {
  login_t *l = (login_t *)pp;
  ec_prov_t *p = rq->srv->prov;
  ec_auth_session_t sess;
  /* Remembered under the request as it first came, which is what a
   * retransmission repeats; the formats are those first negotiated. */
  rq->dedup_key = l->key;
  rq->dedup_keyed = 1;
  rq->resp_fmt = l->fmt;
  int rc = ec_auth_login_finish(p->auth, rq->srv->store, &l->attempt,
                                l->job.match, ec_now_ms(), &sess);
  if (rc == EC_ENOTFOUND) {
    ec_metrics_add(rq->srv->metrics, EC_M_LOGIN_FAILED_COAP, 1);
    answer_error(rq, 401, "FAILURE", "ACCOUNT_PASSWORD_INCORRECT", NULL, NULL,
                 0, rq->route);
    return;
  }
  if (rc < 0) {
    answer_server_error(rq, "FAILURE", rc);
    return;
  }
  ec_login_response_t out = {sess.token,         sess.user.id, sess.user.role,
                             sess.user.username, "SUCCESS",    "NO_ERROR"};
  uint8_t *doc;
  ssize_t n;
  ENCODE(doc, n, ec_login_response_encode(rq->resp_fmt, &out, buf, cap));
  /* An answer holding a token is remembered over DTLS only. On plain
   * CoAP anyone can send from any address, so a copy kept there could
   * only ever help someone else to it; a plain retransmission is
   * evaluated again and earns what its credentials earn. */
  send_owned(rq, 201, doc, n, l->dtls ? rq->route : NULL);
  sodium_memzero(&sess, sizeof(sess));
}

static void answer_busy(ec_req_t *rq) {
  uint8_t buf[4];
  coap_add_option(rq->response, COAP_OPTION_MAXAGE,
                  coap_encode_var_safe(buf, sizeof(buf), LOGIN_RETRY_S), buf);
  ec_req_problem(rq, 503, "too-many-logins", NULL,
                 "%u logins are being checked; try again in %d s",
                 rq->srv->cfg.login_queue, LOGIN_RETRY_S);
}

/* The handler's first run for a username and password. */
static void login_start(ec_req_t *rq, const ec_login_request_t *lr) {
  ec_prov_t *p = rq->srv->prov;
  const void *peer;
  size_t peer_len = peer_address(rq->session, &peer);
  login_t *l = calloc(1, sizeof(*l));
  if (l == NULL) {
    answer_server_error(rq, "FAILURE", EC_ENOMEM);
    return;
  }
  int rc = ec_auth_login_begin(p->auth, rq->srv->store, lr->username, peer,
                               peer_len, ec_now_ms(), &l->attempt);
  if (rc == 0 && strlen(lr->password) > EC_PWCHECK_MAX_PASSWORD) {
    /* Longer than any password an account can have: wrong, no check. */
    rc = ec_auth_login_finish(p->auth, rq->srv->store, &l->attempt, false,
                              ec_now_ms(), NULL);
  }
  if (rc == EC_ENOTFOUND || rc == EC_EINVAL) {
    ec_metrics_add(rq->srv->metrics, EC_M_LOGIN_FAILED_COAP, 1);
    answer_error(rq, 401, "FAILURE", "ACCOUNT_PASSWORD_INCORRECT", NULL, NULL,
                 0, rq->route);
    login_free(&l->base);
    return;
  }
  if (rc < 0) {
    answer_server_error(rq, "FAILURE", rc);
    login_free(&l->base);
    return;
  }
  memcpy(l->job.hash, l->attempt.user.password_hash, sizeof(l->job.hash));
  snprintf(l->job.password, sizeof(l->job.password), "%s", lr->password);
  l->job.delay_ms = l->attempt.delay_ms;
  l->key = *ec_req_dedup_key(rq);
  l->fmt = rq->resp_fmt;
  l->dtls = coap_session_get_proto(rq->session) == COAP_PROTO_DTLS;
  l->base.answer = login_answer;
  l->base.free = login_free;
  l->base.since_us = rq->since_us; /* its time runs from its first run */
  /* Delay 0: until ec_provisioning_poll() triggers it. */
  coap_async_t *async = coap_register_async(rq->session, rq->request, 0);
  if (async == NULL) {
    answer_busy(rq);
    login_free(&l->base);
    return;
  }
  if (ec_pwcheck_submit(p->pwcheck, &l->job) < 0) {
    ec_log(EC_LOG_WARN, "auth: login of '%.64s' refused with 5.03: %u checks "
           "in flight", lr->username, rq->srv->cfg.login_queue);
    coap_free_async(rq->session, async);
    answer_busy(rq);
    login_free(&l->base);
    return;
  }
  coap_async_set_app_data(async, l);
  l->base.async = async;
  /* No code set: libcoap sends the empty ACK of a confirmable request. */
}

unsigned ec_provisioning_poll(ec_server_t *srv) {
  if (srv->prov == NULL)
    return 0;
  for (ec_pwcheck_job_t *j = ec_pwcheck_take_done(srv->prov->pwcheck), *next;
       j != NULL; j = next) {
    next = j->next;
    login_t *l = (login_t *)((char *)j - offsetof(login_t, job));
    ec_batch_trigger(srv, &l->base);
  }
  return ec_pwcheck_in_flight(srv->prov->pwcheck);
}

/* The dispatcher challenged an unverified address (a login costs an
 * Argon2id check and its answer carries a token), answered a due deferred
 * answer or a retransmission, and took in the body. */
void ec_provisioning_login(ec_req_t *rq) {
  ec_server_t *srv = rq->srv;
  ec_prov_t *p = srv->prov;
  ec_login_request_t lr;
  ec_prov_error_t err;

  /* Every answer below is remembered (a success over plain CoAP excepted,
   * see there): even a refusal changed something (a failure counted, a
   * token deleted), so a retransmission must not be evaluated again. */
  if (ec_login_request_decode(rq->req_fmt, rq->body, rq->body_len, &lr,
                              &rq->arena, &err) < 0) {
    if (err.code == EC_ENOMEM)
      answer_server_error(rq, "FAILURE", err.code);
    else
      answer_error(rq, 400, "FAILURE", err.error, err.detail, NULL, 0,
                   rq->route);
    return;
  }
  if (lr.token == NULL) {
    login_start(rq, &lr);
    return;
  }
  int rc = ec_auth_logout(p->auth, srv->store, lr.token, ec_now_ms());
  if (rc == EC_ENOTFOUND) {
    answer_error(rq, 401, "FAILURE", "INVALID_TOKEN", NULL, NULL, 0,
                 rq->route);
  } else if (rc < 0) {
    answer_server_error(rq, "FAILURE", rc);
  } else {
    ec_login_response_t out = {.status = "LOGGED_OUT", .error = "NO_ERROR"};
    uint8_t *doc;
    ssize_t n;
    ENCODE(doc, n, ec_login_response_encode(rq->resp_fmt, &out, buf, cap));
    send_owned(rq, 202, doc, n, rq->route);
  }
}

/* ---- set-up -------------------------------------------------------------- */

int ec_provisioning_init(ec_server_t *srv) {
  ec_auth_config_t acfg;
  ec_auth_config_default(&acfg);
  acfg.token_ttl_ms = srv->cfg.token_ttl_ms;
  acfg.pair_max_failures = srv->cfg.login_user_failures;
  acfg.peer_max_failures = srv->cfg.login_peer_failures;
  acfg.user_slow_after = srv->cfg.login_slow_after;
  acfg.slow_max_ms = srv->cfg.login_max_delay_ms;
  if (acfg.slow_base_ms > acfg.slow_max_ms)
    acfg.slow_base_ms = acfg.slow_max_ms;
  acfg.window_ms = srv->cfg.login_window_ms;

  ec_prov_t *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return EC_ENOMEM;
  int rc = ec_auth_new(&acfg, &p->auth);
  if (rc < 0) {
    free(p);
    return rc;
  }
  srv->prov = p;
  ec_watch_list_init(srv, &p->watches, "provisioning");
  p->watches.refresh = refresh_one;
  rc = ec_pwcheck_new(srv->cfg.login_threads, srv->cfg.login_queue,
                      &p->pwcheck);
  if (rc < 0)
    return rc; /* srv->prov is freed by ec_provisioning_free() */

  /* The components are observed through watch.c, not libcoap; discovery
   * lists them as observable all the same (RFC 6690 "obs"). */
  ec_log(EC_LOG_INFO,
         "provisioning: token lifetime %lld s; in %lld s, %u failed logins "
         "per user and address and %u per address, and past %u per user a "
         "delay of up to %lld ms; %u password-check threads, %u in flight",
         (long long)(acfg.token_ttl_ms / 1000),
         (long long)(acfg.window_ms / 1000), acfg.pair_max_failures,
         acfg.peer_max_failures, acfg.user_slow_after,
         (long long)acfg.slow_max_ms, srv->cfg.login_threads,
         srv->cfg.login_queue);
  return 0;
}

static int find_privileged(void *ud, const ec_store_prov_user_t *u) {
  (void)ud;
  return privileged(u->role) ? 1 : 0;
}

bool ec_provisioning_has_operator(ec_server_t *srv) {
  return ec_store_prov_user_each(srv->store, find_privileged, NULL) == 1;
}

int ec_provisioning_check_operator(ec_server_t *srv, const char *token,
                                   size_t len) {
  int64_t user_id;
  ec_store_prov_user_t u;
  if (len != EC_PROV_TOKEN_HEX)
    return EC_ENOTFOUND;
  int rc = ec_auth_check(srv->prov->auth, srv->store, (const uint8_t *)token,
                         len, ec_now_ms(), NULL, &user_id);
  if (rc == 0)
    rc = ec_store_prov_user_get(srv->store, user_id, &u);
  if (rc == 0) {
    sodium_memzero(u.password_hash, sizeof(u.password_hash));
    if (!privileged(u.role))
      rc = EC_ENOTFOUND;
  }
  return rc;
}

void ec_provisioning_free(ec_server_t *srv) {
  if (srv == NULL || srv->prov == NULL)
    return;
  /* Checks never answered: their libcoap requests went with the context. */
  ec_pwcheck_free(srv->prov->pwcheck, login_release_job);
  /* Reads still in flight: the store's close calls them back, to free. */
  for (select_t *q = srv->prov->selecting; q != NULL; q = q->next)
    q->base.orphan = 1;
  ec_auth_free(srv->prov->auth);
  free(srv->prov);
  srv->prov = NULL;
}
