/* edgecoap server: the ON-API status-message resources (API.md section 3). */
/* SPDX-License-Identifier: Apache-2.0 */
#include "res_messages.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "batch.h"
#include "dedup.h"
#include "edgecoap/status_message.h"
#include "log.h"
#include "page.h"
#include "pagecache.h"
#include "routes.h"
#include "util.h"
#include "watch.h"

/*
 * /api/2.3/statusmessages         GET (Uri-Query filters), FETCH (filter
 *                                  body), POST (one message or a batch)
 * /api/2.3/statusmessages/latest  GET, observed through watch.h so that each
 *                                  observer hears only of its own filter
 * /api/2.3/statusmessages/{id}    GET, reached through the unknown-resource
 *                                  handler
 *
 * The module's state is srv->msgs, and its observer list is linked into the
 * server's watch lists, where ec_messages_free() finds it again.
 */

/* A retransmitted batch is answered again from one read of the store. */
_Static_assert(EC_MSG_MAX_BATCH <= EC_MSG_LIMIT_MAX,
               "a batch must fit one list read");

static const char watch_name[] = "statusmessages/latest";

typedef struct ec_msgs {
  ec_watch_list_t watch; /* latest's observers */
  ec_server_t *srv;
  /* Every ID up to this one was notified (or stored before this server
   * started): each message is told of once, in ID order, whichever server
   * posted it (read_on()). */
  int64_t read_to;
} msgs_t;

/* FNV-1a of the representation: equal bodies get equal ETags, so every
 * block of one answer carries the same one even if the handler runs again
 * for a later block. */
static uint64_t etag_of(const uint8_t *p, size_t n) {
  uint64_t h = ec_fnv1a(EC_FNV1A_INIT, p, n);
  return h ? h : 1;
}

/* ---- answers ------------------------------------------------------------ */

/* Encode into a malloc'd buffer (ec_encode_new()); NULL when it fails. */
static uint8_t *encode_alloc(ec_encode_fn fn, const void *what,
                             ec_format_t fmt, size_t *len) {
  uint8_t *buf = NULL;
  ssize_t n = ec_encode_new(fn, fmt, what, &buf);
  *len = n < 0 ? 0 : (size_t)n;
  return buf;
}

typedef struct {
  const ec_msg_row_t *rows;
  size_t n;
  bool envelope;
} rows_t;

static ssize_t enc_rows(ec_format_t fmt, const void *what, uint8_t *buf,
                        size_t cap) {
  const rows_t *r = what;
  return ec_msg_rows_encode(fmt, r->rows, r->n, r->envelope, buf, cap);
}

typedef struct {
  const ec_status_message_t *msgs;
  size_t n;
  bool envelope;
} msgs_list_t;

static ssize_t enc_msgs(ec_format_t fmt, const void *what, uint8_t *buf,
                        size_t cap) {
  const msgs_list_t *l = what;
  return l->envelope ? ec_status_messages_encode(fmt, l->msgs, l->n, buf, cap)
                     : ec_status_message_encode(fmt, l->msgs, buf, cap);
}

/* Answer @p code with what @p fn encodes; < 0 when that failed (then 5.00
 * was answered, or the bare code for a 2.01: the messages are stored). */
static int send_encoded(ec_req_t *rq, int code, ec_encode_fn fn,
                        const void *what) {
  size_t len;
  uint8_t *buf = encode_alloc(fn, what, rq->resp_fmt, &len);
  if (buf == NULL) {
    if (code == 201)
      ec_req_empty(rq, code); /* stored: the code alone must still say so */
    else
      ec_req_problem(rq, 500, "encoding-failure", NULL,
                     "cannot encode the status messages");
    return EC_ENOMEM;
  }
  ec_req_send(rq, code, rq->resp_fmt, buf, len, etag_of(buf, len));
  free(buf);
  return 0;
}

static void add_location(ec_req_t *rq, int64_t id) {
  static const char *const segs[] = {"api", "2.3", "statusmessages"};
  char num[24];
  for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++)
    coap_add_option(rq->response, COAP_OPTION_LOCATION_PATH, strlen(segs[i]),
                    (const uint8_t *)segs[i]);
  int n = snprintf(num, sizeof(num), "%lld", (long long)id);
  coap_add_option(rq->response, COAP_OPTION_LOCATION_PATH, (size_t)n,
                  (const uint8_t *)num);
}

static void read_failed(ec_req_t *rq, int rc) {
  ec_req_problem(rq, 500, "storage-failure", NULL, "cannot read: %s",
                 ec_strerror(rc));
}

/* ---- filters ------------------------------------------------------------ */

/*
 * Read every Uri-Query option as a filter. Each is name=value; unknown,
 * repeated and malformed ones are 4.00 naming the filter. @p allow_limit is
 * false for latest, which answers at most one message anyway.
 * @return 0, or < 0 when the error was answered
 */
static int query_filter(ec_req_t *rq, ec_msg_filter_t *f, bool allow_limit) {
  coap_opt_iterator_t it;
  coap_opt_filter_t of;
  const coap_opt_t *opt;
  ec_codec_error_t err;

  memset(f, 0, sizeof(*f));
  coap_option_filter_clear(&of);
  coap_option_filter_set(&of, COAP_OPTION_URI_QUERY);
  coap_option_iterator_init(rq->request, &it, &of);
  while ((opt = coap_option_next(&it)) != NULL) {
    const char *q = (const char *)coap_opt_value(opt);
    size_t len = coap_opt_length(opt);
    const char *eq = memchr(q, '=', len);
    size_t nlen = eq != NULL ? (size_t)(eq - q) : len;
    char name[64];
    /* Names are echoed in problem details: printable ASCII only. */
    if (nlen >= sizeof(name))
      nlen = sizeof(name) - 1;
    for (size_t i = 0; i < nlen; i++)
      name[i] = q[i] >= 0x20 && q[i] < 0x7f ? q[i] : '?';
    name[nlen] = '\0';
    if (!allow_limit && strcmp(name, "limit") == 0) {
      ec_req_problem(rq, 400, "unknown-query", name,
                     "latest answers the newest matching message: no limit");
      return -1;
    }
    if (eq == NULL) {
      ec_req_problem(rq, 400, "invalid-query", name,
                     "query parameter %s needs a value (%s=...)", name, name);
      return -1;
    }
    if (ec_msg_filter_set(f, name, eq + 1, len - nlen - 1, &rq->arena, &err) <
        0) {
      ec_req_codec_error(rq, &err);
      return -1;
    }
  }
  return 0;
}

/* A filter that outlives its request, for a watch: one malloc'd block. */
static ec_msg_filter_t *filter_dup(const ec_msg_filter_t *f) {
  const char *strs[3] = {f->order_id, f->subscription_id, f->access_id};
  size_t lens[3], total = sizeof(*f);
  for (int i = 0; i < 3; i++) {
    lens[i] = strs[i] != NULL ? strlen(strs[i]) + 1 : 0;
    total += lens[i];
  }
  ec_msg_filter_t *d = malloc(total);
  if (d == NULL)
    return NULL;
  *d = *f;
  char *p = (char *)(d + 1);
  const char **dst[3] = {&d->order_id, &d->subscription_id, &d->access_id};
  for (int i = 0; i < 3; i++) {
    if (strs[i] == NULL)
      continue;
    memcpy(p, strs[i], lens[i]);
    *dst[i] = p;
    p += lens[i];
  }
  return d;
}

/* ---- reads -------------------------------------------------------------- */

/*
 * A list answer is one page of at most EC_PAGE_BYTES of stored messages,
 * whatever the limit: built per request and sent block by block without
 * being kept (request.c), so no answer holds more memory than a page. When
 * the byte cap cut the page, nextFromStatusMessageID says where the next one
 * starts (API.md section 3).
 */
static void list_and_answer(ec_req_t *rq, const ec_msg_filter_t *f,
                            ec_pagecache_t *kept) {
  ec_msg_row_t *rows = NULL;
  size_t n = 0, len;
  bool more = false;
  int rc = ec_store_msg_page(rq->srv->store, f, f->limit, false, EC_PAGE_BYTES,
                             &rows, &n, &more);
  if (rc < 0) {
    read_failed(rq, rc);
    return;
  }
  rows_t r = {rows, n, true};
  uint8_t *buf = encode_alloc(enc_rows, &r, rq->resp_fmt, &len);
  if (buf != NULL && more &&
      ec_envelope_add_int(rq->resp_fmt, &buf, &len, "nextFromStatusMessageID",
                          rows[n - 1].id) < 0) {
    free(buf);
    buf = NULL;
  }
  /* A stored message never changes, so a page is its messages' IDs, its
   * format and whether it says where the next starts: the ETag is theirs,
   * not a hash of every byte. */
  uint8_t tag[2] = {(uint8_t)rq->resp_fmt, more};
  uint64_t etag = ec_fnv1a(EC_FNV1A_INIT, tag, sizeof(tag));
  for (size_t i = 0; i < n; i++)
    etag = ec_fnv1a(etag, &rows[i].id, sizeof(rows[i].id));
  free(rows);
  if (buf == NULL) {
    ec_req_problem(rq, 500, "encoding-failure", NULL,
                   "cannot encode the status messages");
    return;
  }
  ec_pagecache_send(kept, rq, 205, buf, len, etag ? etag : 1);
  free(buf);
}

static void collection_get(ec_req_t *rq, msgs_t *m) {
  ec_msg_filter_t f;
  /* A later block of a page just built for this requester. */
  if (ec_pagecache_answer(m->srv->pages, rq))
    return;
  if (query_filter(rq, &f, true) == 0)
    list_and_answer(rq, &f, m->srv->pages);
}

static void collection_fetch(ec_req_t *rq) {
  static const char *const no_query[] = {NULL};
  ec_msg_filter_t f;
  ec_codec_error_t err;
  /* The filters travel in the body; the query is not a second source. */
  if (ec_req_query_check(rq, no_query) < 0 || ec_req_body(rq) <= 0)
    return;
  if (ec_msg_filter_decode(rq->req_fmt, rq->body, rq->body_len, &f, &rq->arena,
                           &err) < 0) {
    ec_req_codec_error(rq, &err);
    return;
  }
  list_and_answer(rq, &f, NULL);
}

static void latest_get(ec_req_t *rq, msgs_t *m) {
  ec_msg_filter_t f;
  if (query_filter(rq, &f, false) < 0)
    return;
  ec_msg_filter_t *kept = filter_dup(&f);
  if (kept == NULL) {
    ec_req_problem(rq, 500, "out-of-memory", NULL, "no memory for the filter");
    return;
  }
  int observing = ec_watch_request(rq, &m->watch, kept, free);
  if (observing < 0)
    return;
  ec_msg_row_t *rows = NULL;
  size_t n = 0;
  int rc = ec_store_msg_list(rq->srv->store, &f, 1, true, &rows, &n);
  if (rc < 0)
    read_failed(rq, rc);
  rows_t r = {rows, n, true};
  /* An error answer ends the observation it would have started. */
  if ((rc < 0 || send_encoded(rq, 205, enc_rows, &r) < 0) && observing)
    ec_watch_cancel_request(rq, &m->watch);
  free(rows);
}

/* A liveness check (--observe-check) or a deferred notification (watch.h):
 * what GET latest answers for the watch's filter, in its format, its first
 * block when it does not fit one datagram. */
static void refresh_latest(ec_server_t *srv, ec_watch_t *w) {
  ec_msg_row_t *rows = NULL;
  size_t n = 0, len = 0;
  int rc = ec_store_msg_list(srv->store, w->filter, 1, true, &rows, &n);
  if (rc < 0) {
    ec_log(EC_LOG_WARN, "%s: cannot read for a notification: %s", watch_name,
           ec_strerror(rc));
    return;
  }
  rows_t r = {rows, n, true};
  uint8_t *buf = encode_alloc(enc_rows, &r, w->fmt, &len);
  free(rows);
  /* buf is in the watch's format, the only side ec_watch_deliver() reads. */
  uint64_t etag = buf != NULL ? etag_of(buf, len) : 0;
  if (buf != NULL)
    ec_watch_deliver(srv, w, buf, len, etag, buf, len, etag, 0);
  free(buf);
}

/* ---- writes ------------------------------------------------------------- */

/*
 * Answer @p code with the stored messages from ID @p first again; @p count
 * as in a dedup entry (0: a single message, with its Location). @p why
 * names the repeat in the log.
 */
static void answer_stored(ec_req_t *rq, int code, int64_t first,
                          int64_t count, const char *why) {
  int64_t n_want = count > 0 ? count : 1;
  ec_msg_filter_t f = {.has_from_id = true,
                       .from_id = first - 1,
                       .has_to_id = true,
                       .to_id = first + n_want};
  ec_msg_row_t *rows = NULL;
  size_t n = 0;
  int rc = ec_store_msg_list(rq->srv->store, &f, (int)n_want, false, &rows,
                             &n);
  if (rc < 0 || (int64_t)n != n_want) {
    free(rows);
    ec_req_problem(rq, 500, "storage-failure", NULL,
                   "cannot rebuild the answer to a %s", why);
    return;
  }
  ec_log(EC_LOG_INFO, "statusmessages: %s of IDs %lld..%lld answered again",
         why, (long long)first, (long long)(first + n_want - 1));
  if (count == 0)
    add_location(rq, first);
  rows_t r = {rows, n, count > 0};
  send_encoded(rq, code, enc_rows, &r);
  free(rows);
}

/*
 * Dedup entries of this module: route is the collection's, ref the first
 * ID, and count the number of messages of a batch, or 0 for a single
 * message (whose answer differs from a batch of one).
 */
void ec_messages_replay(ec_req_t *rq, const ec_dedup_answer_t *a) {
  answer_stored(rq, a->code, a->ref, a->count, "retransmission");
}

/*
 * A post under a Request-Id this poster used before (API.md section 3):
 * the same body is answered 2.04 with the messages it stored, and nothing
 * is stored again; another body is 4.09. Returns 1 when answered.
 */
static int repeat(ec_req_t *rq, const ec_store_msg_request_t *req) {
  ec_store_msg_request_t was = *req;
  int64_t first = 0;
  int rc = ec_store_msg_request_find(rq->srv->store, &was, &first);
  if (rc == EC_EBUSY) {
    /* Queued in this round, so not durable yet: commit before saying it is
     * stored (a failed commit took it away: then it is new). */
    ec_batch_commit(rq->srv);
    rc = ec_store_msg_request_find(rq->srv->store, &was, &first);
  }
  if (rc == EC_EBUSY) {
    ec_batch_busy(rq);
    return 1;
  }
  if (rc == EC_ENOTFOUND)
    return 0;
  if (rc < 0)
    ec_req_store_error(rq, rc);
  else if (sodium_memcmp(was.digest, req->digest, sizeof(req->digest)) != 0)
    ec_req_problem(rq, 409, "request-id-conflict", NULL,
                   "this Request-Id names another post (messages from ID "
                   "%lld)",
                   (long long)first);
  else
    answer_stored(rq, 204, first, was.count, "repeat (Request-Id)");
  return 1;
}

typedef struct {
  const uint8_t *json, *cbor; /* {"StatusMessages": [message]} */
  size_t json_len, cbor_len;
  bool tried;
  bool too_big[2]; /* JSON, CBOR: a datagram refused it once already */
} note_t;

static int note_encode(note_t *nt, const ec_status_message_t *msg) {
  msgs_list_t l = {msg, 1, true};
  nt->tried = true;
  nt->json = encode_alloc(enc_msgs, &l, EC_FORMAT_JSON, &nt->json_len);
  nt->cbor = encode_alloc(enc_msgs, &l, EC_FORMAT_CBOR, &nt->cbor_len);
  return nt->json != NULL && nt->cbor != NULL ? 0 : EC_ENOMEM;
}

static void note_free(note_t *nt) {
  free((void *)nt->json);
  free((void *)nt->cbor);
}

/* Send one encoded notification in the watch's format. */
static int note_send(ec_server_t *srv, ec_watch_t *w, const note_t *nt) {
  if (w->fmt == EC_FORMAT_CBOR)
    return ec_watch_send(srv, w, nt->cbor, nt->cbor_len);
  return ec_watch_send(srv, w, nt->json, nt->json_len);
}

/*
 * Tell each observer of latest about the newest of @p msgs that matches its
 * filter, if any. Encodings are shared by every observer of one message. A
 * message too big for one datagram goes out without its lists and DHCP
 * options (its ID is there to GET the whole of it).
 */
static unsigned notify(msgs_t *m, const ec_status_message_t *msgs, size_t n) {
  if (m->watch.count == 0)
    return 0;
  note_t *notes = calloc(2 * n, sizeof(*notes));
  if (notes == NULL) {
    ec_log(EC_LOG_ERROR, "statusmessages: no memory to notify observers");
    return 0;
  }
  unsigned sent = 0;
  ec_watch_t *next;
  for (ec_watch_t *w = m->watch.head; w != NULL; w = next) {
    next = w->next;
    size_t i = n;
    while (i > 0 && !ec_msg_filter_match(w->filter, &msgs[i - 1]))
      i--;
    if (i-- == 0)
      continue;
    note_t *full = &notes[2 * i], *trimmed = &notes[2 * i + 1];
    if (!full->tried && note_encode(full, &msgs[i]) < 0)
      continue;
    /* Once one observer's datagram refused it, the others' would too (the
     * session's PDU size is libcoap's default for all): skip the attempt
     * and its log line. */
    bool *big = &full->too_big[w->fmt == EC_FORMAT_CBOR];
    int rc = *big ? EC_ETOOBIG : note_send(m->srv, w, full);
    if (rc == EC_ETOOBIG) {
      *big = true;
      if (!trimmed->tried) {
        ec_status_message_t t = msgs[i];
        t.params = NULL;
        t.n_params = 0;
        t.macs = NULL;
        t.n_macs = 0;
        memset(&t.dhcp, 0, sizeof(t.dhcp));
        note_encode(trimmed, &t);
      }
      if (trimmed->json != NULL && trimmed->cbor != NULL)
        rc = note_send(m->srv, w, trimmed);
    }
    if (rc == 0)
      sent++;
  }
  for (size_t i = 0; i < 2 * n; i++)
    note_free(&notes[i]);
  free(notes);
  return sent;
}

/*
 * Tell latest's observers of every stored message after m->read_to and
 * before @p before (0: all), one at a time in ID order, moving the mark
 * on: other servers' posts, which this server hears of by hint or finds
 * before one of its own. Bounded: EC_MSG_LIMIT_MAX a read, 16 reads a
 * call; what is left is read at the next hint or post.
 */
static void read_on(msgs_t *m, int64_t before) {
  unsigned notified = 0, heard = 0;
  int64_t from = m->read_to;
  for (int round = 0; round < 16; round++) {
    ec_msg_filter_t f = {0};
    f.has_from_id = true;
    f.from_id = m->read_to;
    f.has_to_id = before > 0;
    f.to_id = before;
    ec_msg_row_t *rows = NULL;
    size_t n = 0;
    if (ec_store_msg_list(m->srv->store, &f, EC_MSG_LIMIT_MAX, false, &rows,
                          &n) < 0 ||
        n == 0) {
      free(rows);
      break;
    }
    for (size_t i = 0; i < n; i++) {
      m->read_to = rows[i].id;
      if (m->watch.count == 0)
        continue;
      /* Decoded for the observers' filters, one at a time. A stored
       * document is a new post's, its date set and no ID (the row has it),
       * which is what EC_MSG_NEW reads. */
      static uint8_t mem[64 * 1024];
      ec_arena_t arena;
      ec_arena_init(&arena, mem, sizeof(mem));
      ec_status_message_t msg;
      if (ec_status_message_decode(EC_FORMAT_CBOR, rows[i].doc,
                                   rows[i].doc_len, EC_MSG_NEW, &msg, &arena,
                                   NULL) < 0)
        continue;
      msg.id = rows[i].id;
      notified += notify(m, &msg, 1);
      heard++;
    }
    free(rows);
    if (n < EC_MSG_LIMIT_MAX)
      break;
  }
  if (m->read_to > from)
    ec_log(EC_LOG_DEBUG, "statusmessages: %u stored elsewhere after ID %lld "
           "up to %lld, %u observers notified", heard, (long long)from,
           (long long)m->read_to, notified);
}

/* The poster a Request-Id belongs to: the DTLS identity, "" over plain
 * CoAP. */
static void request_scope(ec_req_t *rq, char out[EC_STORE_MAX_ID_LEN + 1]) {
  const coap_bin_const_t *id = coap_session_get_psk_identity(rq->session);
  size_t n = id != NULL && id->s != NULL ? id->length : 0;
  if (n > EC_STORE_MAX_ID_LEN)
    n = EC_STORE_MAX_ID_LEN;
  if (n > 0)
    memcpy(out, id->s, n);
  out[n] = '\0';
}

/* Committed: the messages have their IDs. Remember the answer for
 * retransmissions (@p key NULL: a NON request has none), tell latest's
 * observers and log. */
static void published(msgs_t *m, const ec_dedup_key_t *key, const void *route,
                      ec_status_message_t *msgs, size_t n, bool batch,
                      int64_t first) {
  for (size_t i = 0; i < n; i++)
    msgs[i].id = first + (int64_t)i;
  ec_dedup_answer_t a = {.route = route,
                         .code = 201,
                         .ref = first,
                         .count = batch ? (int64_t)n : 0};
  if (key != NULL)
    ec_dedup_put(m->srv->dedup, key, &a);
  /* IDs are gapless and commit-ordered (API.md section 3), so every ID
   * before this post's first is committed: other servers' messages that
   * came between the last notified and this post are told of first, so
   * that each observer hears in ID order. A post already read that way
   * (another server's hint came before this commit's answer) is not told
   * of again. */
  int64_t last = first + (int64_t)n - 1;
  if (first > m->read_to + 1)
    read_on(m, first);
  if (last <= m->read_to) {
    ec_log(EC_LOG_INFO, "statusmessages: stored %zu (IDs %lld..%lld), "
           "observers told already", n, (long long)first, (long long)last);
    return;
  }
  m->read_to = last;
  unsigned notified = notify(m, msgs, n);
  ec_log(EC_LOG_INFO,
         "statusmessages: stored %zu (IDs %lld..%lld), %u of "
         "%u observers notified",
         n, (long long)first, (long long)(first + (int64_t)n - 1), notified,
         m->watch.count);
}

/* The 2.01 of a stored post: the messages with their IDs. */
static void answer_created(ec_req_t *rq, const ec_status_message_t *msgs,
                           size_t n, bool batch) {
  if (!batch)
    add_location(rq, msgs[0].id);
  msgs_list_t l = {msgs, n, batch};
  send_encoded(rq, 201, enc_msgs, &l);
}

/* What a post holds while it is decoded and stored: the decoded messages
 * (in the arena @p mem), their stored documents and the store's writes. */
typedef struct {
  void *mem;
  ec_status_message_t *msgs;
  size_t n;
  bool batch;
  uint8_t *docs;
  ec_store_msg_write_t *w;
} post_t;

static void post_free(post_t *po) {
  free(po->docs);
  free(po->w);
  free(po->mem);
}

/* A post queued in the open batch, waiting for its COMMIT (batch.h). */
typedef struct {
  ec_pending_t base;
  post_t post;
  msgs_t *m;
  const void *route;
  ec_dedup_key_t key;
  /* The Request-Id, copied: the store reads it at the flush. */
  bool has_req;
  ec_store_msg_request_t req;
  char scope[EC_STORE_MAX_ID_LEN + 1];
  uint8_t rid[EC_REQUEST_ID_MAX];
} post_pending_t;

static void post_done(ec_server_t *srv, ec_pending_t *base) {
  (void)srv;
  post_pending_t *p = (post_pending_t *)base;
  published(p->m, &p->key, p->route, p->post.msgs, p->post.n, p->post.batch,
            base->msgs.first_id);
}

static void post_answer(ec_req_t *rq, ec_pending_t *base) {
  post_pending_t *p = (post_pending_t *)base;
  if (!base->committed) {
    ec_batch_not_stored(rq, base->msgs.rc,
                        "the messages were not stored: the commit failed");
    return;
  }
  answer_created(rq, p->post.msgs, p->post.n, p->post.batch);
}

static void post_pending_free(ec_pending_t *base) {
  post_pending_t *p = (post_pending_t *)base;
  post_free(&p->post);
  free(p);
}

/*
 * Queue @p po in the open batch and defer its answer to the COMMIT, taking
 * @p po. Returns 1 when the request is dealt with (deferred or answered),
 * 0 when it must go the synchronous way (@p po still the caller's).
 */
static int post_batched(ec_req_t *rq, msgs_t *m, post_t *po, int64_t now,
                        const ec_store_msg_request_t *req) {
  ec_server_t *srv = rq->srv;
  /* A post alone in its round commits at once and is answered in the ACK,
   * as a status write is (res_deployment.c). */
  if (!rq->batch_ok || rq->upload_done ||
      coap_pdu_get_type(rq->request) != COAP_MESSAGE_CON ||
      !ec_batch_others_waiting(srv))
    return 0;
  post_pending_t *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return 0;
  p->post = *po;
  p->m = m;
  p->route = rq->route;
  p->key = *ec_req_dedup_key(rq);
  if (req != NULL) {
    p->has_req = true;
    p->req = *req;
    snprintf(p->scope, sizeof(p->scope), "%s", req->scope);
    memcpy(p->rid, req->id, req->id_len);
    p->req.scope = p->scope;
    p->req.id = p->rid;
  }
  p->base.done = post_done;
  p->base.answer = post_answer;
  p->base.free = post_pending_free;
  if (ec_batch_msg_put(srv, &p->base, po->w, po->n, now,
                       p->has_req ? &p->req : NULL) < 0) {
    free(p);
    return 0;
  }
  *po = (post_t){0}; /* the pending's now */
  ec_batch_hold(rq, &p->base);
  return 1;
}

/* Decode the body into @p po's messages and encode each as it is stored.
 * @return 0, or < 0 when the error was answered */
static int post_decode(ec_req_t *rq, post_t *po, int64_t now) {
  /* Decoded messages take more room than their wire form (structs, and
   * tiny messages of a big batch): an arena sized from this body. */
  size_t cap = 8 * rq->body_len + 64 * 1024;
  po->mem = malloc(cap);
  if (po->mem == NULL) {
    ec_req_problem(rq, 500, "out-of-memory", NULL, "no memory for the body");
    return -1;
  }
  ec_arena_t arena;
  ec_arena_init(&arena, po->mem, cap);
  ec_codec_error_t err;
  if (ec_status_messages_decode(rq->req_fmt, rq->body, rq->body_len, EC_MSG_NEW,
                                &po->msgs, &po->n, &po->batch, &arena,
                                &err) < 0) {
    ec_req_codec_error(rq, &err);
    return -1;
  }

  /* messageDate defaults to the time of receipt; every message is stored
   * as its CBOR without the ID, which the store assigns. */
  ec_status_message_t *msgs = po->msgs;
  size_t n = po->n, total = 0;
  for (size_t i = 0; i < n; i++) {
    if (!msgs[i].has_date) {
      msgs[i].has_date = true;
      msgs[i].date_ms = now;
    }
    ssize_t len = ec_status_message_encode(EC_FORMAT_CBOR, &msgs[i], NULL, 0);
    if (len < 0) {
      ec_req_problem(rq, 500, "encoding-failure", NULL,
                     "cannot encode message %zu", i);
      return -1;
    }
    total += (size_t)len;
  }
  po->w = calloc(n, sizeof(*po->w));
  po->docs = malloc(total ? total : 1);
  if (po->w == NULL || po->docs == NULL) {
    ec_req_problem(rq, 500, "out-of-memory", NULL, "no memory for the batch");
    return -1;
  }
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    ssize_t len = ec_status_message_encode(EC_FORMAT_CBOR, &msgs[i],
                                           po->docs + off, total - off);
    po->w[i] = (ec_store_msg_write_t){&msgs[i], po->docs + off, (size_t)len};
    off += (size_t)len;
  }
  return 0;
}

/* The dispatcher has read the Request-Id and the body. */
static void collection_post(ec_req_t *rq, msgs_t *m) {
  const uint8_t *rid = rq->rid;
  size_t rid_len = rq->rid_len;
  if (rq->body_len == 0) {
    ec_req_problem(rq, 400, "missing-body", NULL,
                   "a StatusMessage or {\"StatusMessages\": [...]} is "
                   "required");
    return;
  }
  /* A repeat is recognised by its poster, id and body (with its format:
   * the body's bytes are what the id was promised for). */
  char scope[EC_STORE_MAX_ID_LEN + 1];
  ec_store_msg_request_t req = {scope, rid, rid_len, {0}, 0};
  if (rid_len > 0) {
    uint8_t fmt = (uint8_t)rq->req_fmt;
    crypto_generichash_state h;
    request_scope(rq, scope);
    crypto_generichash_init(&h, NULL, 0, sizeof(req.digest));
    crypto_generichash_update(&h, &fmt, 1);
    crypto_generichash_update(&h, rq->body, rq->body_len);
    crypto_generichash_final(&h, req.digest, sizeof(req.digest));
    if (repeat(rq, &req))
      return;
  }
  int64_t now = ec_now_ms();
  post_t po = {0};
  if (post_decode(rq, &po, now) < 0)
    goto done;
  req.count = po.batch ? (int64_t)po.n : 0;
  const ec_store_msg_request_t *r = rid_len > 0 ? &req : NULL;
  if (post_batched(rq, m, &po, now, r))
    goto done;

  int64_t first;
  int rc = ec_store_msg_insert_req(rq->srv->store, po.w, po.n, now, r, &first);
  if (rc < 0) {
    ec_req_store_error(rq, rc);
    goto done;
  }
  /* Committed: from here on the answer is a success whatever else fails. */
  bool con = coap_pdu_get_type(rq->request) == COAP_MESSAGE_CON;
  published(m, con ? ec_req_dedup_key(rq) : NULL, rq->route, po.msgs, po.n,
            po.batch, first);
  answer_created(rq, po.msgs, po.n, po.batch);

done:
  post_free(&po);
}

/* ---- handlers ----------------------------------------------------------- */

void ec_messages_collection(ec_req_t *rq) {
  if (rq->method == COAP_REQUEST_CODE_POST)
    collection_post(rq, rq->srv->msgs);
  else if (rq->method == COAP_REQUEST_CODE_FETCH)
    collection_fetch(rq);
  else
    collection_get(rq, rq->srv->msgs);
}

void ec_messages_latest(ec_req_t *rq) {
  latest_get(rq, rq->srv->msgs);
}

void ec_messages_get(ec_req_t *rq) {
  int64_t id = 0;
  (void)ec_api_message_id(rq->params[0], &id); /* checked by the router */
  ec_msg_row_t *row = NULL;
  int rc = ec_store_msg_get(rq->srv->store, id, &row);
  if (rc == EC_ENOTFOUND) {
    ec_req_problem(rq, 404, "no-status-message", NULL,
                   "no status message has ID %lld", (long long)id);
  } else if (rc < 0) {
    read_failed(rq, rc);
  } else {
    rows_t r = {row, 1, false};
    send_encoded(rq, 205, enc_rows, &r);
  }
  free(row);
}

/* ---- other servers' posts ---------------------------------------------- */

/*
 * Another server stored messages (store.h's hints): read on from the last
 * ID notified, in ID order, and tell latest's observers of each as of a
 * post of this server's (the IDs are gapless and commit-ordered, so none is
 * passed over).
 */
void ec_messages_changed(ec_server_t *srv) {
  if (srv->msgs != NULL)
    read_on(srv->msgs, 0);
}

/* ---- set-up ------------------------------------------------------------- */

int ec_messages_init(ec_server_t *srv) {
  msgs_t *m = calloc(1, sizeof(*m));
  if (m == NULL)
    return EC_ENOMEM;
  m->srv = srv;
  /* A page (EC_PAGE_BYTES of stored CBOR) is at most about 2.5 times that
   * in JSON. Every requester reading at once keeps one between its blocks,
   * so the cache holds more pages than a busy server has such readers in
   * flight (a page given way runs the query again for each later block):
   * 256 requesters' pages, 4 MiB at most (typical pages are a few KiB). */
  srv->pages = ec_pagecache_new(256, 4 * EC_PAGE_BYTES, 4u << 20);
  if (srv->pages == NULL) {
    free(m);
    return EC_ENOMEM;
  }
  /* The server keeps latest's observers itself (watch.h), so libcoap does
   * not treat it as observable; discovery still says it is. */
  ec_watch_list_init(srv, &m->watch, watch_name);
  m->watch.refresh = refresh_latest;
  /* Posts made before this start are not news. */
  ec_msg_filter_t all = {0};
  ec_msg_row_t *rows = NULL;
  size_t n = 0;
  if (ec_store_msg_list(srv->store, &all, 1, true, &rows, &n) == 0 && n == 1)
    m->read_to = rows[0].id;
  free(rows);
  srv->msgs = m;
  return 0;
}

void ec_messages_free(ec_server_t *srv) {
  for (ec_watch_list_t **p = &srv->watch_lists; *p != NULL; p = &(*p)->next) {
    if ((*p)->name == watch_name) {
      ec_watch_list_t *l = *p;
      *p = l->next;
      msgs_t *m = (msgs_t *)((char *)l - offsetof(msgs_t, watch));
      ec_pagecache_free(srv->pages);
      srv->pages = NULL;
      free(m);
      srv->msgs = NULL;
      return;
    }
  }
}
