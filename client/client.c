/* edgecoap: the device client library, one libcoap context per client. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "edgecoap/client.h"
#include "client_internal.h"

#include <arpa/inet.h>
#include <coap3/coap.h>
#include <ctype.h>
#include <inttypes.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_URL "coap://127.0.0.1:5683"
#define DEFAULT_TIMEOUT_MS 10000u
/* The longest we sleep in libcoap at a time, so deadlines are checked often. */
#define IO_SLICE_MS 1000u
/* RFC 7641 section 3.4: after this long any notification counts as newer. */
#define OBSERVE_FRESH_MS 128000u
/* RFC 7252 section 5.10: a Uri-Path or Uri-Query value is at most 255 bytes. */
#define MAX_SEGMENT 255
#define MAX_PATH 1024
/* DTLS PSK: identities as the server takes them, keys as coap-client does. */
#define MAX_PSK_IDENTITY 128
#define MAX_PSK_KEY 64

/*
 * One exchange is in flight per client at a time, so the response handler
 * only has to tell the current token from stale ones.
 */
typedef enum {
  PH_IDLE,    /* nothing expected: stray answers are refused */
  PH_WAIT,    /* one answer to a request */
  PH_OBSERVE, /* notifications, each handed to the callback */
  PH_CANCEL,  /* the answer to an observe cancellation */
  PH_DONE     /* over; result holds the outcome */
} phase_t;

struct ec_client {
  coap_context_t *ctx;
  coap_session_t *session; /* NULL after a failed exchange; remade on demand */
  coap_address_t dst;
  coap_proto_t proto;
  char host[256]; /* sent as Uri-Host when it is a DNS name */
  bool host_is_name;
  ec_format_t format;
  unsigned timeout_ms;
  /* Option 65000, the provisioning resources' session token (provisioning.c):
   * sent with every request when auth_len > 0. */
  uint8_t auth[255];
  size_t auth_len;
  /* coaps://: the PSK identity and key, wiped by ec_client_free(). */
  char psk_identity[MAX_PSK_IDENTITY + 1];
  uint8_t psk_key[MAX_PSK_KEY];
  size_t psk_key_len;

  phase_t phase;
  int result;
  bool answered; /* an answer with our token came in this phase */
  uint8_t token[8];
  size_t token_len;

  /* The last answer; its body lives in rx until the next call. */
  ec_response_t resp;
  uint8_t *rx;
  size_t rx_cap;

  /* Observation state (RFC 7641). */
  ec_observe_cb cb;
  void *ud;
  bool obs_live; /* the server holds an observation for our token */
  volatile sig_atomic_t interrupted; /* ec_client_interrupt() was called */
  uint32_t obs_seq;
  uint64_t obs_at_ms;
};

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void finish(ec_client_t *c, int result) {
  c->result = result;
  c->phase = PH_DONE;
}

int ec_client_body_format(ec_format_t fmt) {
  if (fmt == 0)
    return EC_FORMAT_CBOR;
  return fmt == EC_FORMAT_JSON || fmt == EC_FORMAT_CBOR ? (int)fmt : EC_EINVAL;
}

int ec_client_code_error(int code) {
  if (code >= 200 && code < 300)
    return 0;
  if (code == 404)
    return EC_ENOTFOUND;
  return code >= 400 && code < 600 ? EC_ERESPONSE : EC_EPROTO;
}

static uint32_t uint_option(const coap_pdu_t *pdu, coap_option_num_t num,
                            bool *present) {
  coap_opt_iterator_t it;
  coap_opt_t *opt = coap_check_option(pdu, num, &it);

  *present = opt != NULL;
  return opt ? coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt))
             : 0;
}

/* Copy an answer into the client: libcoap frees the PDU after the handler. */
static int keep_answer(ec_client_t *c, const coap_pdu_t *pdu) {
  size_t len = 0, offset = 0, total = 0;
  const uint8_t *data = NULL;
  coap_pdu_code_t code = coap_pdu_get_code(pdu);
  bool has_cf;
  uint32_t cf;

  if (!coap_get_data_large(pdu, &len, &data, &offset, &total))
    len = 0;
  /* COAP_BLOCK_SINGLE_BODY promises whole bodies: a fragment is a failure. */
  if (offset != 0)
    return EC_EPROTO;
  if (len > c->rx_cap) {
    uint8_t *p = realloc(c->rx, len);
    if (!p)
      return EC_ENOMEM;
    c->rx = p;
    c->rx_cap = len;
  }
  if (len)
    memcpy(c->rx, data, len);
  cf = uint_option(pdu, COAP_OPTION_CONTENT_FORMAT, &has_cf);
  c->resp.code = COAP_RESPONSE_CLASS(code) * 100 + (code & 0x1f);
  c->resp.format = has_cf ? (int)cf : -1;
  c->resp.body = c->rx;
  c->resp.body_len = len;
  return 0;
}

/* RFC 7641 section 3.4: is notification @p seq newer than the last one kept? */
static bool is_fresh(const ec_client_t *c, uint32_t seq, uint64_t now) {
  uint32_t v1 = c->obs_seq;

  return (v1 < seq && seq - v1 < (1u << 23)) ||
         (v1 > seq && v1 - seq > (1u << 23)) ||
         now > c->obs_at_ms + OBSERVE_FRESH_MS;
}

static void deliver_notification(ec_client_t *c, bool has_obs, uint32_t seq) {
  int code = c->resp.code;
  int stop;

  /* A notification that is not 2.xx ends the observation on the server too. */
  c->obs_live = has_obs && code < 300;
  if (has_obs) {
    c->obs_seq = seq;
    c->obs_at_ms = now_ms();
  }
  /* It runs inside coap_io_process(): calls into this client get EC_EINVAL. */
  stop = c->cb(c->ud, &c->resp);
  if (code >= 300)
    finish(c, ec_client_code_error(code));
  else if (!has_obs)
    finish(c, stop ? 0 : EC_EPROTO); /* the server will not notify us */
  else if (stop)
    finish(c, 0);
}

static coap_response_t on_response(coap_session_t *session,
                                   const coap_pdu_t *sent,
                                   const coap_pdu_t *rcvd,
                                   const coap_mid_t mid) {
  ec_client_t *c = coap_get_app_data(coap_session_get_context(session));
  coap_bin_const_t tok = coap_pdu_get_token(rcvd);
  bool has_obs, active;
  uint32_t seq = uint_option(rcvd, COAP_OPTION_OBSERVE, &has_obs);
  coap_pdu_code_t code = coap_pdu_get_code(rcvd);
  int rc;

  (void)sent;
  (void)mid;
  active = c && (c->phase == PH_WAIT || c->phase == PH_OBSERVE ||
                 c->phase == PH_CANCEL);
  if (!active || tok.length != c->token_len ||
      memcmp(tok.s, c->token, tok.length) != 0) {
    /*
     * A notification of an observation we gave up: a Reset makes the server
     * forget it (RFC 7641 section 3.6). An ACK cannot be reset.
     */
    return coap_pdu_get_type(rcvd) == COAP_MESSAGE_ACK ? COAP_RESPONSE_OK
                                                       : COAP_RESPONSE_FAIL;
  }
  if (c->phase == PH_CANCEL) {
    /* Notifications may cross the cancellation, whose answer has no Observe. */
    if (!has_obs || COAP_RESPONSE_CLASS(code) >= 3) {
      c->answered = true;
      finish(c, 0);
    }
    return COAP_RESPONSE_OK;
  }
  if (c->phase == PH_OBSERVE && c->answered && has_obs &&
      COAP_RESPONSE_CLASS(code) == 2 && !is_fresh(c, seq, now_ms()))
    return COAP_RESPONSE_OK; /* reordered: older than what the callback saw */
  c->answered = true;
  rc = keep_answer(c, rcvd);
  if (rc < 0)
    finish(c, rc);
  else if (c->phase == PH_WAIT)
    finish(c, 0);
  else
    deliver_notification(c, has_obs, seq);
  return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *session, const coap_pdu_t *sent,
                    const coap_nack_reason_t reason, const coap_mid_t mid) {
  ec_client_t *c = coap_get_app_data(coap_session_get_context(session));

  (void)sent;
  (void)mid;
  /* We only ever have our own current request outstanding as a CON. */
  if (!c || c->phase == PH_IDLE || c->phase == PH_DONE)
    return;
  if (reason == COAP_NACK_TOO_MANY_RETRIES)
    finish(c, EC_ETIMEOUT);
  else if (reason == COAP_NACK_TLS_FAILED)
    finish(c, EC_EHANDSHAKE); /* unknown identity or wrong key */
  else
    finish(c, reason == COAP_NACK_RST ? EC_EPROTO : EC_EIO);
}

static void drop_session(ec_client_t *c) {
  /* Freeing the session forgets its queued retransmissions and block state. */
  if (c->session)
    coap_session_release(c->session);
  c->session = NULL;
}

static int ensure_session(ec_client_t *c) {
  if (c->session)
    return 0;
  if (c->proto == COAP_PROTO_DTLS) {
    /* libcoap copies the identity and key into the session. */
    coap_dtls_cpsk_t setup;
    memset(&setup, 0, sizeof setup);
    setup.version = COAP_DTLS_CPSK_SETUP_VERSION;
    setup.psk_info.identity.s = (const uint8_t *)c->psk_identity;
    setup.psk_info.identity.length = strlen(c->psk_identity);
    setup.psk_info.key.s = c->psk_key;
    setup.psk_info.key.length = c->psk_key_len;
    c->session =
        coap_new_client_session_psk2(c->ctx, NULL, &c->dst, c->proto, &setup);
  } else {
    c->session = coap_new_client_session(c->ctx, NULL, &c->dst, c->proto);
  }
  return c->session ? 0 : EC_EIO;
}

static int hexval(int ch) {
  return isdigit(ch) ? ch - '0' : tolower(ch) - 'a' + 10;
}

/*
 * Add the '/'- or '&'-separated, percent-encoded segments of @p s as options
 * @p num, decoded (RFC 7252 section 6.4). Empty query items carry nothing.
 */
static int add_segments(coap_pdu_t *pdu, coap_option_num_t num, const char *s,
                        size_t len, char sep) {
  const char *end = s + len;

  for (;;) {
    const char *e = memchr(s, sep, (size_t)(end - s));
    uint8_t seg[MAX_SEGMENT];
    size_t n = 0;

    if (!e)
      e = end;
    for (const char *p = s; p < e; p++) {
      int ch = (unsigned char)*p;
      if (ch == '%') {
        if (e - p < 3 || !isxdigit((unsigned char)p[1]) ||
            !isxdigit((unsigned char)p[2]))
          return EC_EINVAL;
        ch = hexval((unsigned char)p[1]) << 4 | hexval((unsigned char)p[2]);
        p += 2;
      }
      if (n == sizeof seg)
        return EC_EINVAL;
      seg[n++] = (uint8_t)ch;
    }
    if ((n || num == COAP_OPTION_URI_PATH) &&
        !coap_add_option(pdu, num, n, seg))
      return EC_EINVAL; /* the options no longer fit in one message */
    if (e == end)
      return 0;
    s = e + 1;
  }
}

static int add_uint_option(coap_pdu_t *pdu, coap_option_num_t num, unsigned v) {
  uint8_t buf[4];
  unsigned n = coap_encode_var_safe(buf, sizeof buf, v);

  return coap_add_option(pdu, num, n, buf) ? 0 : EC_EINVAL;
}

static void release_body(coap_session_t *session, void *body) {
  (void)session;
  free(body);
}

/*
 * Build and send one CON request. Options go in ascending number order as
 * coap_add_option() appends. @p body is malloc'd and owned from here on:
 * libcoap keeps it until the last Block1 is acknowledged.
 */
static int send_request(ec_client_t *c, coap_pdu_code_t code, const char *path,
                        int observe, int cf, uint8_t *body, size_t len,
                        phase_t phase) {
  const char *q = strchr(path, '?');
  size_t plen = q ? (size_t)(q - path) : strlen(path);
  coap_pdu_t *pdu = NULL;
  int rc = ensure_session(c);

  if (rc < 0)
    goto fail_body;
  rc = EC_ENOMEM;
  pdu = coap_new_pdu(COAP_MESSAGE_CON, code, c->session);
  if (!pdu)
    goto fail_body;
  coap_session_new_token(c->session, &c->token_len, c->token);
  rc = EC_EINVAL;
  if (!coap_add_token(pdu, c->token_len, c->token))
    goto fail_pdu;
  if (c->host_is_name &&
      !coap_add_option(pdu, COAP_OPTION_URI_HOST, strlen(c->host),
                       (const uint8_t *)c->host))
    goto fail_pdu;
  if (observe >= 0 &&
      (rc = add_uint_option(pdu, COAP_OPTION_OBSERVE, (unsigned)observe)) < 0)
    goto fail_pdu;
  /* "/" alone is the root: no Uri-Path at all (RFC 7252 section 6.4 step 8). */
  if (plen > 1 && (rc = add_segments(pdu, COAP_OPTION_URI_PATH, path + 1,
                                     plen - 1, '/')) < 0)
    goto fail_pdu;
  if (len && cf >= 0 &&
      (rc = add_uint_option(pdu, COAP_OPTION_CONTENT_FORMAT, (unsigned)cf)) < 0)
    goto fail_pdu;
  if (q && (rc = add_segments(pdu, COAP_OPTION_URI_QUERY, q + 1, strlen(q + 1),
                              '&')) < 0)
    goto fail_pdu;
  if ((rc = add_uint_option(pdu, COAP_OPTION_ACCEPT, c->format)) < 0)
    goto fail_pdu;
  /* The highest option number sent, so it comes after Accept. */
  if (c->auth_len &&
      !coap_add_option(pdu, EC_PROV_AUTH_OPTION, c->auth_len, c->auth)) {
    rc = EC_EINVAL;
    goto fail_pdu;
  }
  if (len) {
    /* libcoap releases the body on every path from here, failure included. */
    uint8_t *b = body;
    body = NULL;
    rc = EC_ENOMEM;
    if (!coap_add_data_large_request(c->session, pdu, len, b, release_body, b))
      goto fail_pdu;
  }
  c->phase = phase;
  c->answered = false;
  c->result = 0;
  c->resp =
      (ec_response_t){.code = 0, .format = -1, .body = c->rx, .body_len = 0};
  if (coap_send(c->session, pdu) == COAP_INVALID_MID) { /* coap_send freed it */
    c->phase = PH_IDLE;
    return EC_EIO;
  }
  return 0;

fail_pdu:
  coap_delete_pdu(pdu);
fail_body:
  free(body);
  return rc;
}

/*
 * Run libcoap until the exchange is over. An answer must come by @p answer_by;
 * after it the exchange may go on until @p end (0: no end).
 * @return the exchange's result, 0 when @p end passed after an answer, or < 0
 */
static int pump(ec_client_t *c, uint64_t answer_by, uint64_t end) {
  for (;;) {
    uint64_t now = now_ms(), until = end, wait;

    if (c->phase == PH_DONE)
      return c->result;
    if (c->interrupted && c->phase == PH_OBSERVE)
      return 0; /* the caller cancels the observation on the way out */
    if (!c->answered && (!until || answer_by < until))
      until = answer_by;
    if (until && now >= until)
      return c->answered ? 0 : EC_ETIMEOUT;
    wait = until ? until - now : IO_SLICE_MS;
    if (wait > IO_SLICE_MS)
      wait = IO_SLICE_MS;
    if (coap_io_process(c->ctx, (uint32_t)wait) < 0)
      return EC_EIO;
  }
}

/* Send a request and wait for its answer; takes ownership of @p body. */
static int exchange(ec_client_t *c, coap_pdu_code_t code, const char *path,
                    int cf, uint8_t *body, size_t len) {
  int rc;

  if (c->phase != PH_IDLE) { /* called from an observe callback */
    free(body);
    return EC_EINVAL;
  }
  rc = send_request(c, code, path, -1, cf, body, len, PH_WAIT);
  if (rc == 0)
    rc = pump(c, now_ms() + c->timeout_ms, 0);
  /* A wrong key fails the handshake in silence: DTLS drops the records
   * it cannot authenticate, so the client just hears nothing. */
  if (rc == EC_ETIMEOUT && c->proto == COAP_PROTO_DTLS && c->session &&
      coap_session_get_state(c->session) != COAP_SESSION_STATE_ESTABLISHED)
    rc = EC_EHANDSHAKE;
  /* A request given up on must not be retransmitted into the next exchange;
   * a failed handshake is tried afresh by the next one. */
  if (rc == EC_ETIMEOUT || rc == EC_EIO || rc == EC_EHANDSHAKE)
    drop_session(c);
  c->phase = PH_IDLE;
  return rc;
}

static int method_code(const char *m) {
  static const struct {
    char name[8];
    coap_pdu_code_t code;
  } methods[] = {{"GET", COAP_REQUEST_CODE_GET},
                 {"POST", COAP_REQUEST_CODE_POST},
                 {"PUT", COAP_REQUEST_CODE_PUT},
                 {"FETCH", COAP_REQUEST_CODE_FETCH},
                 {"DELETE", COAP_REQUEST_CODE_DELETE}};

  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
    if (strcmp(m, methods[i].name) == 0)
      return (int)methods[i].code;
  return EC_EINVAL;
}

int ec_client_request(ec_client_t *c, const char *method, const char *path,
                      int format, const uint8_t *body, size_t body_len,
                      ec_response_t *resp) {
  int code, rc;
  uint8_t *copy = NULL;

  if (!c || !method || !path || path[0] != '/' || (body_len && !body) ||
      format > 0xffff)
    return EC_EINVAL;
  code = method_code(method);
  if (code < 0)
    return code;
  if (body_len) {
    copy = malloc(body_len);
    if (!copy)
      return EC_ENOMEM;
    memcpy(copy, body, body_len);
  }
  rc = exchange(c, (coap_pdu_code_t)code, path, format, copy, body_len);
  if (rc == 0 && resp)
    *resp = c->resp;
  return rc;
}

/*
 * Join literal pieces and ids into a path, NULL-terminated: the 1st, 3rd...
 * arguments are copied as they are, the 2nd, 4th... percent-encoded so that
 * an id stays one segment whatever it contains.
 */
static int make_path(char *out, size_t cap, ...) {
  va_list ap;
  size_t n = 0;
  int rc = 0;
  const char *s;

  va_start(ap, cap);
  for (int i = 0; rc == 0 && (s = va_arg(ap, const char *)) != NULL; i++) {
    if (i % 2 && !*s)
      rc = EC_EINVAL; /* an empty id would name another resource */
    for (; rc == 0 && *s; s++) {
      bool plain =
          i % 2 == 0 || isalnum((unsigned char)*s) || strchr("-._~", *s);
      if (n + 4 > cap)
        rc = EC_EINVAL;
      else if (plain)
        out[n++] = *s;
      else
        n += (size_t)snprintf(out + n, cap - n, "%%%02X", (unsigned char)*s);
    }
  }
  va_end(ap);
  if (rc == 0)
    out[n] = '\0';
  return rc;
}

static int status_path(char *out, size_t cap, const char *device_id,
                       const char *deployment_id, const char *tail) {
  char dep[256];
  size_t n;

  if (!device_id || !deployment_id || (n = strlen(deployment_id)) >= sizeof dep)
    return EC_EINVAL;
  /* Deployment ids are UUIDs, matched case-insensitively; the server names
   * its resources with the lowercase spelling, and only that path can be
   * observed, so always use it. */
  for (size_t i = 0; i <= n; i++)
    dep[i] = (char)tolower((unsigned char)deployment_id[i]);
  return make_path(out, cap, "/device/", device_id, "/deployment/", dep, tail,
                   (const char *)NULL);
}

/* A typed call: send, hand back the answer, map its code. */
static int call(ec_client_t *c, coap_pdu_code_t code, const char *path,
                uint8_t *body, size_t len, ec_response_t *resp) {
  int rc = exchange(c, code, path, body ? (int)c->format : -1, body, len);

  if (rc < 0)
    return rc;
  if (resp)
    *resp = c->resp;
  return ec_client_code_error(c->resp.code);
}

int ec_client_answer_format(const ec_response_t *r) {
  if (r->format == EC_FORMAT_JSON || r->format == EC_FORMAT_CBOR)
    return r->format;
  if (r->format < 0 && r->body_len > 0)
    return (int)ec_format_sniff(r->body, r->body_len);
  return EC_EFORMAT;
}

int ec_client_decode_error(int rc) {
  return rc == EC_ENOMEM ? rc : EC_EPROTO;
}

int ec_client_status_report(ec_client_t *c, const char *device_id,
                            const ec_deployment_status_t *st,
                            ec_response_t *resp) {
  char path[MAX_PATH];
  ssize_t n, m;
  uint8_t *body;
  int rc;

  if (!c || !st)
    return EC_EINVAL;
  if ((rc = status_path(path, sizeof path, device_id, st->deployment_id,
                        "/status")) < 0)
    return rc;
  n = ec_deployment_status_encode(c->format, st, NULL, 0);
  if (n < 0)
    return (int)n;
  body = malloc(n ? (size_t)n : 1);
  if (!body)
    return EC_ENOMEM;
  m = ec_deployment_status_encode(c->format, st, body, (size_t)n);
  if (m != n) {
    free(body);
    return m < 0 ? (int)m : EC_EINVAL;
  }
  rc = call(c, COAP_REQUEST_CODE_POST, path, body, (size_t)n, resp);
  /* The header promises EC_ERESPONSE for every refused report. */
  return rc == EC_ENOTFOUND ? EC_ERESPONSE : rc;
}

int ec_client_status_get(ec_client_t *c, const char *device_id,
                         const char *deployment_id, ec_deployment_status_t *st,
                         ec_arena_t *arena, ec_response_t *resp) {
  char path[MAX_PATH];
  int rc, fmt;

  if (!c || !st || !arena)
    return EC_EINVAL;
  if ((rc = status_path(path, sizeof path, device_id, deployment_id,
                        "/status")) < 0 ||
      (rc = call(c, COAP_REQUEST_CODE_GET, path, NULL, 0, resp)) < 0)
    return rc;
  if ((fmt = ec_client_answer_format(&c->resp)) < 0)
    return fmt;
  rc = ec_deployment_status_decode((ec_format_t)fmt, c->resp.body,
                                   c->resp.body_len, st, arena, NULL);
  return rc < 0 ? ec_client_decode_error(rc) : 0;
}

int ec_client_status_history(ec_client_t *c, const char *device_id,
                             const char *deployment_id, int64_t since,
                             int limit, ec_history_item_t **items, size_t *n,
                             ec_arena_t *arena, ec_response_t *resp) {
  char path[MAX_PATH];
  size_t len;
  int rc, fmt;

  if (!c || since < 0 || limit < 0 || !items || !n || !arena)
    return EC_EINVAL;
  if ((rc = status_path(path, sizeof path, device_id, deployment_id,
                        "/status/history")) < 0)
    return rc;
  /* Only what differs from the server's defaults goes into the query. */
  len = strlen(path);
  if (since > 0)
    len += (size_t)snprintf(path + len, sizeof path - len, "?since=%" PRId64,
                            since);
  if (limit > 0 && len < sizeof path)
    len += (size_t)snprintf(path + len, sizeof path - len, "%slimit=%d",
                            since > 0 ? "&" : "?", limit);
  if (len >= sizeof path)
    return EC_EINVAL;
  if ((rc = call(c, COAP_REQUEST_CODE_GET, path, NULL, 0, resp)) < 0)
    return rc;
  if ((fmt = ec_client_answer_format(&c->resp)) < 0)
    return fmt;
  rc = ec_history_decode((ec_format_t)fmt, c->resp.body, c->resp.body_len,
                         items, n, arena, NULL);
  return rc < 0 ? ec_client_decode_error(rc) : 0;
}

int ec_client_deployments(ec_client_t *c, const char *device_id,
                          ec_deployment_summary_t **list, size_t *n,
                          ec_arena_t *arena, ec_response_t *resp) {
  char path[MAX_PATH];
  int rc, fmt;

  if (!c || !device_id || !list || !n || !arena)
    return EC_EINVAL;
  if ((rc = make_path(path, sizeof path, "/device/", device_id, "/deployments",
                      (const char *)NULL)) < 0 ||
      (rc = call(c, COAP_REQUEST_CODE_GET, path, NULL, 0, resp)) < 0)
    return rc;
  if ((fmt = ec_client_answer_format(&c->resp)) < 0)
    return fmt;
  rc = ec_deployments_decode((ec_format_t)fmt, c->resp.body, c->resp.body_len,
                             list, n, arena, NULL);
  return rc < 0 ? ec_client_decode_error(rc) : 0;
}

void ec_client_interrupt(ec_client_t *c) {
  if (c != NULL)
    c->interrupted = 1;
}

/* Ask the server to forget our observation; wait, bounded, for its answer. */
static void cancel_observation(ec_client_t *c) {
  coap_binary_t token = {c->token_len, c->token};

  c->phase = PH_CANCEL;
  c->answered = false;
  c->obs_live = false;
  if (!coap_cancel_observe(c->session, &token, COAP_MESSAGE_CON) ||
      pump(c, now_ms() + c->timeout_ms, 0) < 0)
    drop_session(c); /* the server learns it when a notification is refused */
}

int ec_client_observe(ec_client_t *c, const char *path, ec_observe_cb cb,
                      void *ud, unsigned max_ms) {
  uint64_t start = now_ms();
  int rc;

  if (!c || !path || path[0] != '/' || !cb || c->phase != PH_IDLE)
    return EC_EINVAL;
  c->cb = cb;
  c->ud = ud;
  c->obs_live = false;
  c->interrupted = 0;
  rc = send_request(c, COAP_REQUEST_CODE_GET, path, COAP_OBSERVE_ESTABLISH, -1,
                    NULL, 0, PH_OBSERVE);
  if (rc == 0)
    rc = pump(c, start + c->timeout_ms, max_ms ? start + max_ms : 0);
  if (rc == EC_ETIMEOUT && c->proto == COAP_PROTO_DTLS && c->session &&
      coap_session_get_state(c->session) != COAP_SESSION_STATE_ESTABLISHED)
    rc = EC_EHANDSHAKE; /* as in exchange() */
  if (c->obs_live)
    cancel_observation(c);
  else if (rc == EC_ETIMEOUT || rc == EC_EIO || rc == EC_EHANDSHAKE)
    drop_session(c);
  c->phase = PH_IDLE;
  c->cb = NULL;
  c->ud = NULL;
  return rc;
}

int ec_client_status_observe(ec_client_t *c, const char *device_id,
                             const char *deployment_id, ec_observe_cb cb,
                             void *ud, unsigned max_ms) {
  char path[MAX_PATH];
  int rc = status_path(path, sizeof path, device_id, deployment_id, "/status");

  return rc < 0 ? rc : ec_client_observe(c, path, cb, ud, max_ms);
}

ec_state_t ec_client_rollup(const ec_deployment_status_t *st) {
  /* The precedence is a maximum, so chunks roll up like the whole list. */
  ec_state_t chunk[64] = {EC_STATE_PENDING}, acc[2];
  size_t n_acc = 0;

  if (!st || !st->components || !st->n_components)
    return ec_state_rollup(chunk, 0);
  for (size_t i = 0; i < st->n_components;) {
    size_t k = 0;
    while (k < sizeof chunk / sizeof chunk[0] && i < st->n_components)
      chunk[k++] = st->components[i++].state;
    acc[n_acc++] = ec_state_rollup(chunk, k);
    if (n_acc == 2) {
      acc[0] = ec_state_rollup(acc, 2);
      n_acc = 1;
    }
  }
  return acc[0];
}

/* Fill in destination, transport and Uri-Host from "coap://host:port". */
static int resolve(ec_client_t *c, const char *url) {
  coap_uri_t u;
  struct addrinfo hints, *ai = NULL;
  struct in6_addr probe;
  char port[8];

  if (coap_split_uri((const uint8_t *)url, strlen(url), &u) < 0 ||
      u.path.length || u.query.length || !u.host.length ||
      u.host.length >= sizeof c->host || u.port == 0)
    return EC_EINVAL;
  /* PSK fields belong to coaps:// and coaps:// needs them: a key given
   * with coap:// would be a client that believes it is protected. */
  if ((u.scheme == COAP_URI_SCHEME_COAPS) != (c->psk_key_len > 0))
    return EC_EINVAL;
  /* edgecoap-server serves UDP and DTLS only: coap+tcp:// is refused
   * rather than tried against a port nothing listens on. */
  if (u.scheme == COAP_URI_SCHEME_COAP)
    c->proto = COAP_PROTO_UDP;
  else if (u.scheme == COAP_URI_SCHEME_COAPS)
    c->proto = COAP_PROTO_DTLS;
  else
    return EC_EINVAL;
  memcpy(c->host, u.host.s, u.host.length);
  c->host[u.host.length] = '\0';
  c->host_is_name = inet_pton(AF_INET, c->host, &probe) != 1 &&
                    inet_pton(AF_INET6, c->host, &probe) != 1;

  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  snprintf(port, sizeof port, "%u", (unsigned)u.port);
  if (getaddrinfo(c->host, port, &hints, &ai) != 0 || !ai)
    return EC_EIO;
  if (ai->ai_addrlen > sizeof c->dst.addr) {
    freeaddrinfo(ai);
    return EC_EINVAL;
  }
  coap_address_init(&c->dst);
  c->dst.size = ai->ai_addrlen;
  memcpy(&c->dst.addr, ai->ai_addr, ai->ai_addrlen);
  freeaddrinfo(ai);
  return 0;
}

static void log_to_stderr(coap_log_t level, const char *message) {
  (void)level;
  fputs(message, stderr);
}

int ec_client_new(const ec_client_config_t *cfg, ec_client_t **out) {
  ec_client_t *c;
  const char *debug = getenv("EDGECOAP_DEBUG");
  int rc;

  if (!out)
    return EC_EINVAL;
  *out = NULL;
  if (cfg && cfg->format != 0 && cfg->format != EC_FORMAT_JSON &&
      cfg->format != EC_FORMAT_CBOR)
    return EC_EINVAL;
  /* Both PSK fields or neither, each within its bounds. */
  if (cfg && (!cfg->psk_identity != !cfg->psk_key ||
              (cfg->psk_key && (cfg->psk_key_len == 0 ||
                                cfg->psk_key_len > MAX_PSK_KEY)) ||
              (cfg->psk_identity &&
               (!*cfg->psk_identity ||
                strlen(cfg->psk_identity) > MAX_PSK_IDENTITY))))
    return EC_EINVAL;
  c = calloc(1, sizeof *c);
  if (!c)
    return EC_ENOMEM;
  if (cfg && cfg->psk_key) {
    strcpy(c->psk_identity, cfg->psk_identity);
    memcpy(c->psk_key, cfg->psk_key, cfg->psk_key_len);
    c->psk_key_len = cfg->psk_key_len;
  }
  c->format = cfg && cfg->format ? cfg->format : EC_FORMAT_CBOR;
  c->timeout_ms = cfg && cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
  c->resp.format = -1;

  coap_startup();
  /*
   * libcoap logs routine ICMP errors as warnings, and every level above
   * LOG_CRIT to stdout, where a program's output goes: stay at LOG_CRIT
   * unless asked, and then log to stderr.
   */
  if (debug && strcmp(debug, "1") == 0) {
    coap_set_log_handler(log_to_stderr);
    coap_set_show_pdu_output(0); /* PDU dumps through the handler too */
    coap_set_log_level(LOG_DEBUG);
  } else {
    coap_set_log_level(LOG_CRIT);
  }
  rc = resolve(c, cfg && cfg->url ? cfg->url : DEFAULT_URL);
  if (rc < 0)
    goto fail_client;
  if (c->proto == COAP_PROTO_DTLS && !coap_dtls_is_supported()) {
    rc = EC_EIO; /* linked against a libcoap without DTLS */
    goto fail_client;
  }
  rc = EC_EIO;
  c->ctx = coap_new_context(NULL);
  if (!c->ctx)
    goto fail_client;
  coap_set_app_data(c->ctx, c);
  /* libcoap reassembles Block2 answers and sends big bodies as Block1. */
  coap_context_set_block_mode(c->ctx,
                              COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
  coap_register_response_handler(c->ctx, on_response);
  coap_register_nack_handler(c->ctx, on_nack);
  if ((rc = ensure_session(c)) < 0)
    goto fail_client;
  *out = c;
  return 0;

fail_client:
  ec_client_free(c);
  return rc;
}

void ec_client_free(ec_client_t *c) {
  if (!c)
    return;
  drop_session(c);
  if (c->ctx)
    coap_free_context(c->ctx);
  free(c->rx);
  /* explicit_bzero: a plain memset before free() may be optimised away. */
  explicit_bzero(c->psk_key, sizeof c->psk_key);
  free(c);
}

int ec_client_set_auth_token(ec_client_t *c, const uint8_t *token,
                             size_t len) {
  if (!c || (len && !token) || len > sizeof c->auth)
    return EC_EINVAL;
  if (len)
    memcpy(c->auth, token, len);
  c->auth_len = token ? len : 0;
  return 0;
}
