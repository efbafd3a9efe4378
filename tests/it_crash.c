/* edgecoap: crash safety: every acknowledged write survives a SIGKILL. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <jansson.h>
#include <sqlite3.h>

#include "edgecoap/codec.h"
#include "it_prov_util.h"
#include "suite.h"

/*
 * Six writers, each on its own socket (so its own CoAP session), keep one
 * confirmable write in flight at all times: two report deployment statuses
 * (JSON and CBOR), one posts single status messages, one posts batches of
 * five, and two insert and update provisioning components (JSON and CBOR).
 * Every write carries a marker and every answer is recorded: a 2.xx means
 * acknowledged, which API.md promises only after the commit. At a random
 * moment 0.7 to 1.5 s into the load the server gets SIGKILL; the answers
 * already on their way are still collected; the database is checked with
 * PRAGMA integrity_check on a copy (so that the restart runs the server's
 * own WAL recovery on untouched files); and the server starts again on the
 * same database. Then every acknowledged write must be there. A write that
 * was in flight may or may not be, but never twice, and a batch never in
 * part. Three rounds; every check covers all rounds so far. The moments of
 * the kills come from a seed that is printed; EC_CRASH_SEED repeats them.
 *
 * Message IDs are drawn at random from a small space (MID_SPACE), as from
 * devices that restart or pick them at random: most writes reuse the
 * Message ID of an earlier write of the same writer within
 * EXCHANGE_LIFETIME, with other content (and another token). Each is a new
 * request (RFC 7252 deduplication is about retransmissions, which are
 * identical), so each acknowledged one must be stored too.
 */

#define ROUNDS 3
#define N_WRITERS 6
#define MAX_OPS 8192 /* per writer, all rounds: bounds the load */
#define BATCH 5
#define N_TRIPLES 14 /* 6 sensors, 5 parameters, 3 group parameters */
#define KILL_MIN_MS 700
#define KILL_SPAN_MS 800
#define DRAIN_MS 300 /* answers sent just before the kill are collected */
#define ACK_TIMEOUT_MS 2000
#define VERIFY_TIMEOUT_MS 30000
#define MID_SPACE 1024

enum { W_STATUS, W_MSG_ONE, W_MSG_BATCH, W_PROV };
enum { OP_NONE = 0, OP_SENT, OP_ACKED };

typedef struct {
  int kind;
  int idx; /* 0 or 1 among the writers of its kind */
  ec_format_t fmt;
  it_udp_t udp;
  /* The request in flight. */
  bool busy;
  bool got_empty_ack;
  uint8_t dgram[IT_COAP_MAX_DGRAM];
  size_t dlen;
  uint16_t mid;
  uint8_t tok[4];
  uint64_t resend_at;
  unsigned backoff;
  int op;
  int triple; /* provisioning: the triple and value the op writes */
  int value;
  /* Every op so far, over all rounds. */
  int n_ops;
  uint8_t state[MAX_OPS];
  int64_t (*ids)[BATCH]; /* messages: the acknowledged IDs (0: unknown) */
  /* Provisioning: per triple, the value known to be stored (-1: no row)
   * and the value of a write in flight when the server died (-1: none). */
  int acked[N_TRIPLES];
  int pending[N_TRIPLES];
  uint8_t mid_used[MID_SPACE / 8]; /* Message IDs of earlier ops */
  int mid_reused;                  /* ops that reused one */
} writer_t;

static const int writer_kinds[N_WRITERS] = {W_STATUS,    W_STATUS, W_MSG_ONE,
                                            W_MSG_BATCH, W_PROV,   W_PROV};
static const char *const states[] = {"Pending", "Installing", "Installed",
                                     "Failed",  "Removing",   "Removed"};
static const char *const type_names[] = {"Sensor", "Parameter",
                                         "Group Parameter"};

static it_server_t srv;
static writer_t writers[N_WRITERS];
static char token[EC_PROV_TOKEN_HEX + 1];
static unsigned seed;
static int unexpected; /* answers other than 2.xx before the kill */
/* What the last verify_all() found: acknowledged writes checked, and those
 * of them missing (or stored more than once). */
static int checked, missing;
static bool setup_ok;

/* ------------------------------------------------------------------------ */
/* Writes                                                                    */

static const char *dep_of(const writer_t *w) {
  return w->idx == 0 ? "c7a5e000-0000-4000-8000-000000000000"
                     : "c7a5e000-0000-4000-8000-000000000001";
}

static void triple_of(int t, int *type, int *id) {
  if (t < 6) {
    *type = 0;
    *id = t + 1;
  } else if (t < 11) {
    *type = 1;
    *id = t - 5;
  } else {
    *type = 2;
    *id = t - 10;
  }
}

static int64_t prov_id_of(const writer_t *w) {
  return 11 + w->idx; /* each writer owns its provisioning's triples */
}

/* The JSON body of op @p n; provisioning also picks the triple and value. */
static void body_of(writer_t *w, int n, char *out, size_t cap, char *path,
                    size_t pcap) {
  int type, id;
  char comp[16];
  out[0] = path[0] = '\0';
  switch (w->kind) {
  case W_STATUS:
    snprintf(path, pcap, "device/crash-dev%d/deployment/%s/status", w->idx,
             dep_of(w));
    snprintf(comp, sizeof(comp), "m%d", n);
    it_report(out, cap, dep_of(w), states[n % 6], comp, states[(n + 1) % 6]);
    break;
  case W_MSG_ONE:
    snprintf(path, pcap, "api/2.3/statusmessages");
    snprintf(out, cap, "{\"messageCode\":%d,\"orderId\":\"crash-s%d\"}",
             101 + n % 10, n);
    break;
  case W_MSG_BATCH: {
    snprintf(path, pcap, "api/2.3/statusmessages");
    size_t k = (size_t)snprintf(out, cap, "{\"StatusMessages\":[");
    for (int i = 0; i < BATCH; i++)
      k += (size_t)snprintf(out + k, cap - k,
                            "%s{\"messageCode\":%d,\"subscriptionId\":"
                            "\"crash-b%d\"}",
                            i ? "," : "", 101 + i, n);
    snprintf(out + k, cap - k, "]}");
    break;
  }
  case W_PROV: {
    snprintf(path, pcap, ITP_COMPONENTS);
    int t = n % N_TRIPLES;
    bool exists = w->acked[t] >= 0;
    w->triple = t;
    w->value = exists ? 1 - w->acked[t] : (n / N_TRIPLES) % 2;
    triple_of(t, &type, &id);
    snprintf(out, cap,
             "{\"action\":\"%s\",\"provisioning_id\":%" PRId64
             ",\"component_type\":%d,\"component_id\":%d,"
             "\"active_status\":%d}",
             exists ? "update" : "insert", prov_id_of(w), type, id, w->value);
    break;
  }
  }
}

/* Build and send the writer's next op. */
static void issue(writer_t *w, it_coap_msg_t *m) {
  char json[1024], path[160];
  uint8_t cbor[1024];
  const void *body = json;
  size_t len;
  int n = w->n_ops;
  ec_format_t fmt = w->kind == W_MSG_ONE && n % 2 ? EC_FORMAT_CBOR : w->fmt;

  body_of(w, n, json, sizeof(json), path, sizeof(path));
  len = strlen(json);
  if (fmt == EC_FORMAT_CBOR) {
    ssize_t cl = ec_json_to_cbor(json, len, cbor, sizeof(cbor));
    CU_ASSERT_FATAL(cl > 0 && (size_t)cl <= sizeof(cbor));
    body = cbor;
    len = (size_t)cl;
  }
  it_udp_token(&w->udp, w->tok);
  w->mid = (uint16_t)((unsigned)rand() % MID_SPACE);
  if (w->mid_used[w->mid / 8] & (1u << (w->mid % 8)))
    w->mid_reused++;
  w->mid_used[w->mid / 8] |= (uint8_t)(1u << (w->mid % 8));
  it_coap_init(m, IT_CON, IT_POST, w->mid, w->tok, sizeof(w->tok));
  it_coap_add_path(m, path);
  it_coap_add_uint(m, IT_OPT_CONTENT_FORMAT, fmt);
  it_coap_add_uint(m, IT_OPT_ACCEPT, EC_FORMAT_JSON);
  if (w->kind == W_PROV)
    it_coap_add_opt(m, EC_PROV_AUTH_OPTION, token, strlen(token));
  it_coap_set_payload(m, body, len);
  ssize_t dl = it_coap_encode(m, w->dgram, sizeof(w->dgram));
  CU_ASSERT_FATAL(dl > 0);
  w->dlen = (size_t)dl;
  w->op = n;
  w->n_ops++;
  w->state[n] = OP_SENT;
  if (w->kind == W_PROV)
    w->pending[w->triple] = w->value;
  w->busy = true;
  w->got_empty_ack = false;
  w->backoff = ACK_TIMEOUT_MS;
  w->resend_at = it_now_ms() + w->backoff;
  it_udp_send(&w->udp, w->dgram, w->dlen);
}

/* The statusMessageIDs of an answer's body, in order. */
static void read_ids(const it_coap_msg_t *r, int64_t *ids, int want) {
  it_block_t b;
  if (it_coap_block(r, IT_OPT_BLOCK2, &b) == 0 && b.more)
    return; /* not whole: the IDs stay unknown (0) */
  json_t *j = json_loadb((const char *)r->payload, r->payload_len, 0, NULL);
  json_t *a = json_object_get(j, "StatusMessages");
  if (json_is_array(a) && (int)json_array_size(a) == want)
    for (int i = 0; i < want; i++)
      ids[i] = json_integer_value(
          json_object_get(json_array_get(a, (size_t)i), "statusMessageID"));
  json_decref(j);
}

static void on_answer(writer_t *w, const it_coap_msg_t *r) {
  char loc[128], cs[8];
  w->busy = false;
  if ((r->code >> 5) != 2) {
    unexpected++;
    fprintf(stderr, "\nit_crash: writer %d op %d answered %s: %.*s\n",
            (int)(w - writers), w->op, it_coap_code_str(r->code, cs),
            (int)(r->payload_len > 300 ? 300 : r->payload_len),
            (const char *)r->payload);
    w->state[w->op] = OP_NONE; /* a refusal changed nothing */
    if (w->kind == W_PROV)
      w->pending[w->triple] = -1;
    return;
  }
  w->state[w->op] = OP_ACKED;
  switch (w->kind) {
  case W_MSG_ONE:
    if (it_coap_location_path(r, loc, sizeof(loc)) > 0 && strrchr(loc, '/'))
      w->ids[w->op][0] = strtoll(strrchr(loc, '/') + 1, NULL, 10);
    break;
  case W_MSG_BATCH:
    read_ids(r, w->ids[w->op], BATCH);
    break;
  case W_PROV:
    w->acked[w->triple] = w->value;
    w->pending[w->triple] = -1;
    break;
  }
}

/* Read whatever the writer's socket holds. */
static void collect(writer_t *w, it_coap_msg_t *r) {
  uint8_t buf[IT_COAP_MAX_DGRAM];
  ssize_t n;
  while ((n = it_udp_recv(&w->udp, buf, sizeof(buf), 0)) >= 0) {
    if (it_coap_parse(buf, (size_t)n, r) < 0 || !w->busy)
      continue;
    bool same_token =
        r->token_len == sizeof(w->tok) && !memcmp(r->token, w->tok, 4);
    if ((r->type == IT_ACK || r->type == IT_RST) && r->mid == w->mid) {
      if (r->type == IT_ACK && r->code == 0) {
        w->got_empty_ack = true;
        continue;
      }
      if (r->type == IT_RST) {
        unexpected++;
        fprintf(stderr, "\nit_crash: writer %d op %d got RST\n",
                (int)(w - writers), w->op);
        w->busy = false;
        continue;
      }
      on_answer(w, r);
    } else if ((r->type == IT_CON || r->type == IT_NON) && r->code >= 64) {
      if (r->type == IT_CON) {
        uint8_t ack[4] = {(uint8_t)(1u << 6 | IT_ACK << 4), 0,
                          (uint8_t)(r->mid >> 8), (uint8_t)r->mid};
        it_udp_send(&w->udp, ack, sizeof(ack));
      }
      if (same_token)
        on_answer(w, r);
    }
  }
}

/* Run the load; SIGKILL the server @p kill_after ms in. @return 0 or -1 */
static int run_load(unsigned kill_after, int *acked, int *in_flight) {
  it_coap_msg_t *m = itp_msg_new();
  struct pollfd pfd[N_WRITERS];
  uint64_t t0 = it_now_ms(), kill_at = t0 + kill_after;
  bool killed = false;
  int rc = 0;

  *acked = *in_flight = 0;
  for (int i = 0; i < N_WRITERS; i++) {
    writers[i].busy = false;
    if (it_udp_open(&writers[i].udp, srv.port) < 0 || it_udp_verify(&writers[i].udp) < 0)
      rc = -1;
  }
  int before = 0;
  for (int i = 0; i < N_WRITERS; i++)
    for (int n = 0; n < writers[i].n_ops; n++)
      before += writers[i].state[n] == OP_ACKED;
  while (rc == 0) {
    uint64_t now = it_now_ms();
    if (!killed && now >= kill_at) {
      if (it_server_kill(&srv) < 0)
        rc = -1;
      killed = true;
    }
    if (killed && now >= kill_at + DRAIN_MS)
      break;
    for (int i = 0; i < N_WRITERS && !killed; i++) {
      writer_t *w = &writers[i];
      if (!w->busy && w->n_ops < MAX_OPS)
        issue(w, m);
      else if (w->busy && !w->got_empty_ack && now >= w->resend_at) {
        /* RFC 7252's retransmission: the same datagram, same Message ID. */
        it_udp_send(&w->udp, w->dgram, w->dlen);
        w->backoff *= 2;
        w->resend_at = now + w->backoff;
      }
    }
    for (int i = 0; i < N_WRITERS; i++)
      pfd[i] = (struct pollfd){writers[i].udp.fd, POLLIN, 0};
    if (poll(pfd, N_WRITERS, 5) > 0)
      for (int i = 0; i < N_WRITERS; i++)
        if (pfd[i].revents != 0)
          collect(&writers[i], m);
  }
  int after = 0;
  for (int i = 0; i < N_WRITERS; i++) {
    for (int n = 0; n < writers[i].n_ops; n++)
      after += writers[i].state[n] == OP_ACKED;
    *in_flight += writers[i].busy;
    writers[i].busy = false; /* in flight at the kill: outcome unknown */
    it_udp_close(&writers[i].udp);
  }
  *acked = after - before;
  free(m);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Checks after a restart                                                    */

static json_t *get_json(it_udp_t *u, const char *path, int *code) {
  it_body_t b;
  *code = -1;
  if (it_coap_get_blockwise(u, path, EC_FORMAT_JSON, 1024, 20000, &b,
                            VERIFY_TIMEOUT_MS) < 0)
    return NULL;
  *code = IT_CODE_INT(b.code);
  json_t *j = b.code == IT_CODE(2, 5) ? itp_parse_json(b.body, b.len) : NULL;
  free(b.body);
  return j;
}

/* Every acknowledged report is in the history once; none is there twice. */
static void verify_status(writer_t *w, it_udp_t *u) {
  int *seen = calloc(MAX_OPS, sizeof(int));
  CU_ASSERT_PTR_NOT_NULL_FATAL(seen);
  long long since = 0, last_seq = 0;
  int last_n = -1, code, bad = 0;
  for (int page = 0; page < 100000; page++) {
    char path[256];
    snprintf(path, sizeof(path),
             "device/crash-dev%d/deployment/%s/status/history?since=%lld&"
             "limit=1000",
             w->idx, dep_of(w), since);
    json_t *j = get_json(u, path, &code);
    if (code == 404 && page == 0)
      break; /* nothing stored yet: fine only if nothing was acknowledged */
    json_t *reports = json_object_get(j, "reports");
    CU_ASSERT_FATAL(json_is_array(reports));
    size_t i;
    json_t *e;
    json_array_foreach(reports, i, e) {
      long long seq = json_integer_value(json_object_get(e, "seq"));
      json_t *c0 = json_array_get(
          json_object_get(json_object_get(e, "report"), "components"), 0);
      const char *name = json_string_value(json_object_get(c0, "name"));
      int n = name && name[0] == 'm' ? atoi(name + 1) : -1;
      if (n < 0 || n >= w->n_ops || seq <= last_seq || n <= last_n) {
        if (bad++ < 5)
          fprintf(stderr,
                  "\nit_crash: history of writer %d: report %s at seq %lld "
                  "is unknown or out of order (after m%d)\n",
                  (int)(w - writers), name ? name : "?", seq, last_n);
        continue;
      }
      seen[n]++;
      last_seq = seq;
      last_n = n;
    }
    size_t got = json_array_size(reports);
    /* A page may end early at the server's byte cap (nextSince). */
    bool cut = json_object_get(j, "nextSince") != NULL;
    json_decref(j);
    if (got < 1000 && !cut)
      break;
    since = last_seq;
  }
  int lost = 0;
  for (int n = 0; n < w->n_ops; n++) {
    checked += w->state[n] == OP_ACKED;
    if (w->state[n] == OP_ACKED && seen[n] != 1) {
      if (lost++ < 5)
        fprintf(stderr,
                "\nit_crash: acknowledged report m%d of writer %d is "
                "stored %d times\n",
                n, (int)(w - writers), seen[n]);
    }
  }
  CU_ASSERT_EQUAL(bad, 0);
  CU_ASSERT_EQUAL(lost, 0);
  missing += lost;
  free(seen);
}

/* Every acknowledged message is stored once with its ID; a batch is stored
 * whole or not at all, acknowledged or not. */
static void verify_messages(it_udp_t *u) {
  writer_t *one = &writers[2], *batch = &writers[3];
  int *n_one = calloc(MAX_OPS, sizeof(int));
  int *n_batch = calloc(MAX_OPS, sizeof(int));
  int64_t *got_one = calloc(MAX_OPS, sizeof(int64_t));
  int64_t(*got_batch)[BATCH] = calloc(MAX_OPS, sizeof(*got_batch));
  CU_ASSERT_FATAL(n_one && n_batch && got_one && got_batch);
  long long from = 0;
  int code, bad = 0;
  for (int page = 0; page < 100000; page++) {
    char path[128];
    snprintf(path, sizeof(path),
             "api/2.3/statusmessages?fromStatusMessageID=%lld&limit=10000",
             from);
    json_t *j = get_json(u, path, &code);
    json_t *a = json_object_get(j, "StatusMessages");
    CU_ASSERT_FATAL(json_is_array(a));
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) {
      long long id = json_integer_value(json_object_get(e, "statusMessageID"));
      const char *o = json_string_value(json_object_get(e, "orderId"));
      const char *s = json_string_value(json_object_get(e, "subscriptionId"));
      int mcode = (int)json_integer_value(json_object_get(e, "messageCode"));
      from = id;
      if (o != NULL && strncmp(o, "crash-s", 7) == 0) {
        int n = atoi(o + 7);
        if (n >= 0 && n < MAX_OPS && n_one[n]++ == 0)
          got_one[n] = id;
      } else if (s != NULL && strncmp(s, "crash-b", 7) == 0) {
        int n = atoi(s + 7), k = mcode - 101; /* 101..105 in a batch */
        if (n >= 0 && n < MAX_OPS && k >= 0 && k < BATCH) {
          n_batch[n]++;
          got_batch[n][k] = id;
        }
      } else if (bad++ < 5) {
        fprintf(stderr, "\nit_crash: message %lld was never sent\n", id);
      }
    }
    size_t got = json_array_size(a);
    bool cut = json_object_get(j, "nextFromStatusMessageID") != NULL;
    json_decref(j);
    if (got < 10000 && !cut)
      break;
  }
  int lost = 0;
  for (int n = 0; n < MAX_OPS; n++) {
    bool ok = true;
    checked += n < one->n_ops && one->state[n] == OP_ACKED;
    checked += n < batch->n_ops && batch->state[n] == OP_ACKED;
    if (n >= one->n_ops || one->state[n] == OP_NONE)
      ok = n_one[n] == 0;
    else if (one->state[n] == OP_ACKED)
      ok = n_one[n] == 1 &&
           (one->ids[n][0] == 0 || one->ids[n][0] == got_one[n]);
    else
      ok = n_one[n] <= 1;
    if (!ok && lost++ < 5)
      fprintf(stderr,
              "\nit_crash: message crash-s%d (state %d, ID %" PRId64
              ") is stored %d times (ID %" PRId64 ")\n",
              n, n < one->n_ops ? one->state[n] : 0,
              n < one->n_ops ? one->ids[n][0] : 0, n_one[n], got_one[n]);
    ok = true;
    if (n >= batch->n_ops || batch->state[n] == OP_NONE)
      ok = n_batch[n] == 0;
    else if (batch->state[n] == OP_ACKED)
      ok = n_batch[n] == BATCH &&
           (batch->ids[n][0] == 0 ||
            memcmp(batch->ids[n], got_batch[n], sizeof(got_batch[n])) == 0);
    else
      ok = n_batch[n] == 0 || n_batch[n] == BATCH;
    if (!ok && lost++ < 5)
      fprintf(stderr,
              "\nit_crash: batch crash-b%d (state %d) has %d of its %d "
              "messages stored\n",
              n, n < batch->n_ops ? batch->state[n] : 0, n_batch[n], BATCH);
  }
  CU_ASSERT_EQUAL(bad, 0);
  CU_ASSERT_EQUAL(lost, 0);
  missing += lost;
  free(n_one);
  free(n_batch);
  free(got_one);
  free(got_batch);
}

/* Each triple holds its last acknowledged value, or the value of the write
 * that was in flight after it; that becomes the known state. */
static void verify_prov(writer_t *w, ec_client_t *lib) {
  char path[128];
  int stored[N_TRIPLES];
  json_t *j = NULL;
  snprintf(path, sizeof(path), "/" ITP_COMPONENTS "?provisioning_id=%" PRId64,
           prov_id_of(w));
  int code = itp_lib_req(lib, "GET", path, token, -1, NULL, 0, &j);
  CU_ASSERT_FATAL(code == 205 || code == 404);
  for (int t = 0; t < N_TRIPLES; t++)
    stored[t] = -1;
  const char *key;
  json_t *row;
  int bad = 0;
  json_object_foreach(json_object_get(j, "responses"), key, row) {
    const char *tn = itp_jstr(row, "component_type");
    long long id = itp_jint(row, "component_id");
    int t = -1;
    for (int k = 0; k < N_TRIPLES; k++) {
      int type, cid;
      triple_of(k, &type, &cid);
      if (strcmp(tn, type_names[type]) == 0 && id == cid)
        t = k;
    }
    if (t < 0 || stored[t] >= 0) {
      bad++;
      continue;
    }
    stored[t] = (int)itp_jint(row, "active_status");
  }
  json_decref(j);
  CU_ASSERT_EQUAL(bad, 0);
  for (int t = 0; t < N_TRIPLES; t++) {
    bool ok = stored[t] == w->pending[t] ||
              (w->acked[t] >= 0 ? stored[t] == w->acked[t] : stored[t] < 0);
    if (!ok) {
      int type, id;
      triple_of(t, &type, &id);
      fprintf(stderr,
              "\nit_crash: provisioning %" PRId64 " %s %d: stored %d, "
              "acknowledged %d, in flight %d\n",
              prov_id_of(w), type_names[type], id, stored[t], w->acked[t],
              w->pending[t]);
      CU_FAIL("an acknowledged provisioning write was lost");
      missing++;
    }
    w->acked[t] = stored[t];
    w->pending[t] = -1;
  }
}

static void verify_all(void) {
  it_udp_t u;
  checked = missing = 0;
  ec_client_t *lib = NULL;
  ec_client_config_t cfg = {srv.url, EC_FORMAT_JSON, 10000};
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&u, srv.port), 0);
  /* Plain CoAP answers large ones only to a verified address. */
  CU_ASSERT_EQUAL_FATAL(it_udp_verify(&u), 0);
  CU_ASSERT_EQUAL_FATAL(ec_client_new(&cfg, &lib), 0);
  verify_status(&writers[0], &u);
  verify_status(&writers[1], &u);
  verify_messages(&u);
  verify_prov(&writers[4], lib);
  verify_prov(&writers[5], lib);
  ec_client_free(lib);
  it_udp_close(&u);
}

/* ------------------------------------------------------------------------ */
/* The database                                                              */

static bool integrity_ok(const char *db) {
  sqlite3 *h = NULL;
  sqlite3_stmt *st = NULL;
  int rows = 0;
  bool ok = false;
  if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL) ==
          SQLITE_OK) {
    ok = true;
    while (sqlite3_step(st) == SQLITE_ROW) {
      const char *r = (const char *)sqlite3_column_text(st, 0);
      rows++;
      if (r == NULL || strcmp(r, "ok") != 0) {
        ok = false;
        fprintf(stderr, "\nit_crash: integrity_check of %s: %s\n", db,
                r ? r : "(null)");
      }
    }
  } else {
    fprintf(stderr, "\nit_crash: cannot check %s: %s\n", db,
            h ? sqlite3_errmsg(h) : "no memory");
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return ok && rows == 1;
}

/* Check a copy of the database and its WAL as the crash left them, so that
 * the restarted server recovers the originals itself. */
static bool crashed_copy_ok(void) {
  char from[400], to[400], copy[400];
  const char *const suffixes[] = {"", "-wal"};
  bool ok = true;
  snprintf(copy, sizeof(copy), "%s/crashed.db", srv.dir);
  for (int i = 0; i < 2; i++) {
    uint8_t *data;
    size_t len;
    snprintf(from, sizeof(from), "%s%s", srv.db, suffixes[i]);
    snprintf(to, sizeof(to), "%s%s", copy, suffixes[i]);
    if (access(from, F_OK) != 0)
      continue; /* no WAL: everything was checkpointed */
    if (it_read_file(from, &data, &len) < 0 || it_write_file(to, data, len) < 0)
      ok = false;
    free(data);
  }
  ok = ok && integrity_ok(copy);
  const char *const all[] = {"", "-wal", "-shm", "-journal"};
  for (int i = 0; i < 4; i++) {
    snprintf(to, sizeof(to), "%s%s", copy, all[i]);
    unlink(to);
  }
  return ok;
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */

static void test_acknowledged_writes_survive_sigkill(void) {
  CU_ASSERT_TRUE_FATAL(setup_ok);
  for (int round = 1; round <= ROUNDS; round++) {
    unsigned kill_after = KILL_MIN_MS + (unsigned)rand() % KILL_SPAN_MS;
    int acked, in_flight;
    CU_ASSERT_EQUAL_FATAL(run_load(kill_after, &acked, &in_flight), 0);
    CU_ASSERT_EQUAL(unexpected, 0);
    CU_ASSERT(acked > 0);
    CU_ASSERT_TRUE(crashed_copy_ok());
    uint64_t t1 = it_now_ms();
    CU_ASSERT_EQUAL_FATAL(it_server_start_again(&srv), 0);
    uint64_t t2 = it_now_ms();
    verify_all();
    fprintf(stderr,
            "\n  round %d: SIGKILL %u ms in; %d writes acknowledged, %d in "
            "flight; restart %.2f s, checks %.2f s",
            round, kill_after, acked, in_flight, (double)(t2 - t1) / 1000.0,
            (double)(it_now_ms() - t2) / 1000.0);
  }
  int total = 0, reused = 0;
  for (int i = 0; i < N_WRITERS; i++) {
    reused += writers[i].mid_reused;
    for (int n = 0; n < writers[i].n_ops; n++)
      total += writers[i].state[n] == OP_ACKED;
  }
  fprintf(stderr,
          "\n  %d acknowledged writes, %d of them reusing an earlier "
          "Message ID; %d acknowledged ones checked (provisioning is "
          "checked per component), %d missing; seed %u\n",
          total, reused, checked, missing, seed);
}

static void test_clean_stop_and_integrity(void) {
  CU_ASSERT_TRUE_FATAL(setup_ok);
  CU_ASSERT_EQUAL(it_server_stop(&srv), 0);
  CU_ASSERT_TRUE(integrity_ok(srv.db));
  int errors = it_server_log_count(&srv, "[ERROR]");
  if (errors != 0)
    it_server_log_tail(&srv, 60);
  CU_ASSERT_EQUAL(errors, 0);
}

static int suite_init(void) {
  it_init();
  const char *s = getenv("EC_CRASH_SEED");
  seed = s ? (unsigned)strtoul(s, NULL, 10)
           : (unsigned)time(NULL) ^ (unsigned)getpid() << 8;
  srand(seed);
  for (int i = 0; i < N_WRITERS; i++) {
    writer_t *w = &writers[i];
    w->kind = writer_kinds[i];
    w->idx = i > 0 && writer_kinds[i - 1] == w->kind;
    w->fmt = w->idx ? EC_FORMAT_CBOR : EC_FORMAT_JSON;
    w->udp.fd = -1;
    for (int t = 0; t < N_TRIPLES; t++)
      w->acked[t] = w->pending[t] = -1;
    if (w->kind == W_MSG_ONE || w->kind == W_MSG_BATCH) {
      w->ids = calloc(MAX_OPS, sizeof(*w->ids));
      if (w->ids == NULL)
        return -1;
    }
  }
  itp_use_server(&srv);
  if (itp_start_server(&srv, NULL) < 0)
    return -1;
  it_udp_t u;
  if (it_udp_open(&u, srv.port) < 0 || it_udp_verify(&u) < 0)
    return -1;
  int code = itp_login_raw(&u, "admin", ITP_ADMIN_PW, token, NULL);
  it_udp_close(&u);
  if (code != 201) {
    fprintf(stderr, "it_crash: login answered %d\n", code);
    return -1;
  }
  setup_ok = true;
  return 0;
}

static int suite_cleanup(void) {
  for (int i = 0; i < N_WRITERS; i++) {
    it_udp_close(&writers[i].udp);
    free(writers[i].ids);
    writers[i].ids = NULL;
  }
  return 0;
}

static const ec_test_t tests[] = {
    {test_acknowledged_writes_survive_sigkill,
     "acknowledged_writes_survive_sigkill"},
    {test_clean_stop_and_integrity, "clean_stop_and_integrity"},
};

/* Say how to repeat a failed run; it_after_run() keeps the server's
 * directory then. */
static unsigned after_run(unsigned failed, void *ctx) {
  if (failed != 0)
    fprintf(stderr, "it_crash: seed %u (EC_CRASH_SEED repeats it)\n", seed);
  return it_after_run(failed, ctx);
}

int main(void) {
  static const ec_test_after_t after = {after_run, &srv, "it_crash"};
  return ec_test_main("crash", tests, EC_TEST_COUNT(tests), suite_init,
                      suite_cleanup, &after);
}
