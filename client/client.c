/* edgecoap: the client library's connection, requests and observations, on the device core over its POSIX port. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "edgecoap/client.h"
#include "client_internal.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "edgecoap/device.h"
#include "edgecoap/device_dtls.h"
#include "edgecoap/device_posix.h"

#define DEFAULT_URL "coap://127.0.0.1:5683"
#define DEFAULT_TIMEOUT_MS 10000u
/* The longest the client sleeps in poll() at a time, so its own deadlines
 * (--timeout, an observation's end, an interrupt) are checked often. */
#define IO_SLICE_MS 1000u
/* Answers reassembled from Block2 go into one buffer: its pages are only
 * touched as far as an answer fills them. A GET or FETCH whose answer
 * passes it is asked again with a larger one, up to the last size. */
#define RX_FIRST (4u << 20)
#define RX_MAX (64u << 20)
/* One request datagram: options (a path of 1 KiB, a token of 255 bytes)
 * and one block or a body sent whole. */
#define TX_CAP 4096
#define MAX_HOST 255

struct ec_client {
  ec_dev_udp_t udp;
  ec_dev_dtls_t *dtls; /* coaps:// only */
  ec_dev_t dev;
  /* With cfg->debug the core sends through traced, which writes each
   * datagram to stderr and hands it to wire, the port's (or DTLS's). */
  ec_dev_transport_t wire;
  ec_dev_transport_t traced;
  char host[MAX_HOST + 1];
  uint16_t port;
  ec_format_t format;
  unsigned timeout_ms;
  /* Option 65000, the provisioning resources' session token (provisioning.c):
   * sent with every request when auth_len > 0. */
  uint8_t auth[255];
  size_t auth_len;
  /* A Request-Id (option 65004, API.md) for the next request, a status
   * write or a message post, when it carries no token: the same in the
   * exchange's retransmissions and blocks. */
  bool rid_next;
  uint8_t rid[12];

  /* The exchange in progress: the core builds every datagram of it
   * (retransmissions, blocks, re-registrations) from rq and tx. */
  ec_dev_req_t rq;
  uint8_t tx[TX_CAP];
  int xid;         /* the core's exchange, -1 when none is open */
  bool done;       /* it ended; result says how */
  int result;
  bool answered;   /* an answer came in this exchange */
  bool busy;       /* a call is running: a callback's calls are refused */
  uint32_t next;   /* the core's next deadline */

  /* The last answer; its body lives in rx until the next call. */
  ec_response_t resp;
  uint8_t *rx;
  size_t rx_cap;
  uint8_t dgram[TX_CAP]; /* one received datagram */

  /* An observation (RFC 7641): the core checks freshness and order. */
  ec_observe_cb cb;
  void *ud;
  bool obs_live;     /* the server holds an observation for the exchange */
  bool cancelling;   /* the deregistration is on its way */
  volatile sig_atomic_t interrupted; /* ec_client_interrupt() was called */
};

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
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

ec_format_t ec_client_format(const ec_client_t *c) {
  return c->format;
}

/* Keep an answer as the client's: a whole body reassembled by the core is
 * in rx already; one of a single datagram is copied there. */
static void keep_answer(ec_client_t *c, const ec_dev_answer_t *a) {
  size_t len = a->payload_len <= c->rx_cap ? a->payload_len : 0;
  if (len > 0 && a->payload != c->rx)
    memmove(c->rx, a->payload, len);
  c->resp.code = (a->code >> 5) * 100 + (a->code & 0x1f);
  c->resp.format = a->content_format;
  c->resp.body = c->rx;
  c->resp.body_len = len;
}

static void end(ec_client_t *c, int result) {
  c->done = true;
  c->result = result;
}

/* The core's callback for every exchange of the client. */
static void on_answer(ec_dev_t *dev, void *user, const ec_dev_answer_t *a) {
  ec_client_t *c = user;
  (void)dev;
  if (!a->observing)
    c->xid = -1; /* the core has freed the exchange */
  if (a->result < 0) {
    c->obs_live = false;
    end(c, a->result);
    return;
  }
  if (c->cancelling) {
    /* The deregistration's answer, or a notification crossing it: with
     * Observe 1 sent, the exchange ends on either. */
    c->obs_live = false;
    end(c, 0);
    return;
  }
  keep_answer(c, a);
  c->answered = true;
  if (c->cb == NULL) {
    end(c, 0);
    return;
  }
  int code = c->resp.code;
  /* A notification that is not 2.xx ends the observation on the server too. */
  c->obs_live = a->observing && code < 300;
  int stop = c->cb(c->ud, &c->resp);
  if (code >= 300)
    end(c, ec_client_code_error(code));
  else if (!a->observing)
    end(c, stop ? 0 : EC_EPROTO); /* the server will not notify us */
  else if (stop)
    end(c, 0);
}

/* The DTLS session, made on the first call and again after one ended. */
static int ensure_session(ec_client_t *c) {
  if (c->dtls == NULL || ec_dev_dtls_up(c->dtls))
    return 0;
  return ec_dev_dtls_handshake(c->dtls, c->timeout_ms);
}

/* An exchange that heard nothing in all its time. Over coaps:// the
 * server may hold no session for us any more, and says so with no alert
 * (behind nginx, once its UDP session ended, our records reach a node
 * from a new port and are dropped: docs/CLUSTER.md); a request's own
 * timeout comes before the port would see its last retransmission, so
 * the session is ended here and the next call handshakes again. */
static int unheard(ec_client_t *c) {
  if (c->dtls != NULL)
    ec_dev_dtls_drop(c->dtls);
  return EC_ETIMEOUT;
}

/*
 * Run the core until the exchange is over. An answer must come by
 * @p answer_by; after it the exchange may go on until @p end_at (0: no end).
 * @return the exchange's result, 0 when @p end_at passed after an answer
 *         or an observation was interrupted, or < 0
 */
static int pump(ec_client_t *c, uint64_t answer_by, uint64_t end_at) {
  for (;;) {
    uint64_t now = now_ms(), until = end_at;
    if (c->done)
      return c->result == EC_ETIMEOUT && !c->answered ? unheard(c) : c->result;
    if (c->interrupted && c->cb != NULL && !c->cancelling)
      return 0; /* the caller ends the observation on the way out */
    if (!c->answered && (until == 0 || answer_by < until))
      until = answer_by;
    if (until != 0 && now >= until)
      return c->answered ? 0 : unheard(c);
    /* An ICMP port unreachable before any answer: nothing listens there,
     * and retransmitting for the whole timeout would only hide it. */
    if (c->udp.refused && !c->answered)
      return EC_ECONNREFUSED;
    uint64_t wait = until != 0 ? until - now : IO_SLICE_MS;
    if (wait > IO_SLICE_MS)
      wait = IO_SLICE_MS;
    if (wait > c->next)
      wait = c->next;
    c->next = ec_dev_udp_poll(&c->udp, &c->dev, (uint32_t)wait, c->dgram,
                              sizeof c->dgram);
  }
}

/* Forget the exchange if it is still open (a timeout, an interrupt). */
static void drop_exchange(ec_client_t *c) {
  if (c->xid >= 0)
    ec_dev_cancel(&c->dev, c->xid);
  c->xid = -1;
}

/* Start the request in c->rq; answers larger than one datagram are
 * reassembled into rx. */
static int start(ec_client_t *c, bool observe) {
  int rc = ensure_session(c);
  if (rc < 0)
    return rc;
  c->done = false;
  c->answered = false;
  c->result = 0;
  c->cancelling = false;
  c->udp.refused = false;
  c->resp = (ec_response_t){.code = 0, .format = -1, .body = c->rx,
                            .body_len = 0};
  c->xid = ec_dev_request(&c->dev, &c->rq, observe, c->tx, sizeof c->tx,
                          on_answer, c);
  if (c->xid < 0) {
    rc = c->xid;
    c->xid = -1;
    return rc;
  }
  (void)ec_dev_set_body(&c->dev, c->xid, c->rx, c->rx_cap);
  c->next = ec_dev_step(&c->dev, c->udp.transport.now_ms(c->udp.transport.ctx),
                        NULL, 0);
  return 0;
}

/* A larger reassembly buffer, for an answer that did not fit. */
static bool grow_rx(ec_client_t *c) {
  size_t cap = c->rx_cap * 4;
  if (c->rx_cap >= RX_MAX)
    return false;
  uint8_t *p = malloc(cap > RX_MAX ? RX_MAX : cap);
  if (p == NULL)
    return false;
  free(c->rx);
  c->rx = p;
  c->rx_cap = cap > RX_MAX ? RX_MAX : cap;
  return true;
}

/* Random bytes for a Request-Id: the kernel's, or the clock's when it has
 * none (an id only needs to differ from this device's others). */
static void random_bytes(uint8_t *p, size_t n) {
  if (getrandom(p, n, 0) == (ssize_t)n)
    return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
  for (size_t i = 0; i < n; i++) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    p[i] = (uint8_t)(x >> 56);
  }
}

static void fill_request(ec_client_t *c, uint8_t method, const char *path,
                         int cf, const uint8_t *body, size_t len) {
  c->rq = (ec_dev_req_t){method, path + 1, len > 0 ? cf : -1,
                         (uint16_t)c->format, len > 0 ? body : NULL, len,
                         0, NULL, 0};
  if (c->auth_len > 0) {
    c->rq.opt_num = EC_PROV_AUTH_OPTION;
    c->rq.opt_val = c->auth;
    c->rq.opt_len = c->auth_len;
  } else if (c->rid_next) {
    random_bytes(c->rid, sizeof c->rid);
    c->rq.opt_num = EC_COAP_OPT_REQUEST_ID;
    c->rq.opt_val = c->rid;
    c->rq.opt_len = sizeof c->rid;
  }
  c->rid_next = false;
}

void ec_client_next_has_request_id(ec_client_t *c) {
  if (c != NULL)
    c->rid_next = true;
}

/* Send a request and wait for its answer. */
static int exchange(ec_client_t *c, uint8_t method, const char *path, int cf,
                    const uint8_t *body, size_t len) {
  int rc;
  if (c->busy) {
    c->rid_next = false;
    return EC_EINVAL; /* called from an observe callback */
  }
  c->busy = true;
  fill_request(c, method, path, cf, body, len);
  for (;;) {
    rc = start(c, false);
    if (rc == 0)
      rc = pump(c, now_ms() + c->timeout_ms, 0);
    drop_exchange(c);
    /* A read may be asked again; a write is not repeated. */
    if (rc != EC_ETOOBIG ||
        (method != EC_COAP_GET && method != EC_COAP_FETCH) || !grow_rx(c))
      break;
  }
  c->busy = false;
  return rc;
}

static int method_code(const char *m) {
  static const struct {
    char name[8];
    uint8_t code;
  } methods[] = {{"GET", EC_COAP_GET},
                 {"POST", EC_COAP_POST},
                 {"PUT", EC_COAP_PUT},
                 {"FETCH", EC_COAP_FETCH},
                 {"DELETE", EC_COAP_DELETE}};

  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
    if (strcmp(m, methods[i].name) == 0)
      return methods[i].code;
  return EC_EINVAL;
}

int ec_client_request(ec_client_t *c, const char *method, const char *path,
                      int format, const uint8_t *body, size_t body_len,
                      ec_response_t *resp) {
  int code, rc;

  if (!c || !method || !path || path[0] != '/' || (body_len && !body) ||
      format > 0xffff)
    return EC_EINVAL;
  code = method_code(method);
  if (code < 0)
    return code;
  rc = exchange(c, (uint8_t)code, path, format, body, body_len);
  if (rc == 0 && resp)
    *resp = c->resp;
  return rc;
}

int ec_client_call(ec_client_t *c, uint8_t method, const char *path,
                   const uint8_t *body, size_t len, ec_response_t *resp) {
  int rc = exchange(c, method, path, body ? (int)c->format : -1, body, len);

  if (rc < 0)
    return rc;
  if (resp)
    *resp = c->resp;
  return ec_client_code_error(c->resp.code);
}

void ec_client_interrupt(ec_client_t *c) {
  if (c != NULL)
    c->interrupted = 1;
}

/* Ask the server to forget the observation (Observe 1 on its token) and
 * wait, bounded, for the answer; without one the next notification is
 * refused with an RST. */
static void cancel_observation(ec_client_t *c) {
  c->cancelling = true;
  c->done = false;
  c->answered = false;
  if (ec_dev_unobserve(&c->dev, c->xid) == 0)
    (void)pump(c, now_ms() + c->timeout_ms, 0);
  drop_exchange(c);
  c->obs_live = false;
}

int ec_client_observe(ec_client_t *c, const char *path, ec_observe_cb cb,
                      void *ud, unsigned max_ms) {
  uint64_t begin = now_ms();
  int rc;

  if (!c || !path || path[0] != '/' || !cb || c->busy)
    return EC_EINVAL;
  c->busy = true;
  c->cb = cb;
  c->ud = ud;
  c->obs_live = false;
  c->interrupted = 0;
  fill_request(c, EC_COAP_GET, path, -1, NULL, 0);
  rc = start(c, true);
  if (rc == 0)
    rc = pump(c, begin + c->timeout_ms, max_ms ? begin + max_ms : 0);
  c->cb = NULL; /* nothing more is handed on, the deregistration's answer included */
  c->ud = NULL;
  if (c->obs_live && c->xid >= 0)
    cancel_observation(c);
  drop_exchange(c);
  c->busy = false;
  return rc;
}

/* EDGECOAP_DEBUG: each datagram, as the core sends it (before DTLS) and
 * as it is handed to the core (after). */
static int traced_send(void *ctx, const uint8_t *d, size_t len) {
  ec_client_t *c = ctx;
  ec_client_trace(stderr, true, d, len);
  return c->wire.send(c->wire.ctx, d, len);
}

static void traced_recv(void *ctx, const uint8_t *d, size_t len) {
  (void)ctx;
  ec_client_trace(stderr, false, d, len);
}

/* "coap://host[:port][/]" or "coaps://...", the host a name, an IPv4
 * literal or an IPv6 one in brackets. */
static int parse_url(ec_client_t *c, const char *url, bool *secure) {
  const char *p;
  size_t n;
  unsigned long port;

  if (strncasecmp(url, "coap://", 7) == 0) {
    *secure = false;
    p = url + 7;
  } else if (strncasecmp(url, "coaps://", 8) == 0) {
    *secure = true;
    p = url + 8;
  } else {
    return EC_EINVAL; /* coap+tcp:// is not served */
  }
  if (*p == '[') {
    const char *e = strchr(p, ']');
    if (e == NULL)
      return EC_EINVAL;
    n = (size_t)(e - p - 1);
    p++;
    if (n == 0 || n > MAX_HOST)
      return EC_EINVAL;
    memcpy(c->host, p, n);
    p = e + 1;
  } else {
    n = strcspn(p, ":/?#");
    if (n == 0 || n > MAX_HOST)
      return EC_EINVAL;
    memcpy(c->host, p, n);
    p += n;
  }
  c->host[n] = '\0';
  port = *secure ? 5684 : 5683;
  if (*p == ':') {
    char *e;
    if (p[1] < '0' || p[1] > '9')
      return EC_EINVAL;
    port = strtoul(p + 1, &e, 10);
    if (port == 0 || port > 65535)
      return EC_EINVAL;
    p = e;
  }
  if (*p == '/')
    p++;
  if (*p != '\0')
    return EC_EINVAL; /* a path or query has no place in a server's URL */
  c->port = (uint16_t)port;
  return 0;
}

int ec_client_new(const ec_client_config_t *cfg, ec_client_t **out) {
  ec_client_t *c;
  bool secure = false;
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
                                cfg->psk_key_len > EC_DEV_DTLS_MAX_KEY)) ||
              (cfg->psk_identity &&
               (!*cfg->psk_identity ||
                strlen(cfg->psk_identity) > EC_DEV_DTLS_MAX_IDENTITY))))
    return EC_EINVAL;
  c = calloc(1, sizeof *c);
  if (!c)
    return EC_ENOMEM;
  c->udp.fd = -1;
  c->xid = -1;
  c->format = cfg && cfg->format ? cfg->format : EC_FORMAT_CBOR;
  c->timeout_ms = cfg && cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
  c->resp.format = -1;
  rc = parse_url(c, cfg && cfg->url ? cfg->url : DEFAULT_URL, &secure);
  /* PSK fields belong to coaps:// and coaps:// needs them: a key given
   * with coap:// would be a client that believes it is protected. */
  if (rc == 0 && secure != (cfg && cfg->psk_key))
    rc = EC_EINVAL;
  if (rc < 0)
    goto fail_client;
  rc = EC_ENOMEM;
  c->rx = malloc(RX_FIRST);
  if (!c->rx)
    goto fail_client;
  c->rx_cap = RX_FIRST;
  /* A name that does not resolve is no answer, not a bad URL. */
  rc = ec_dev_udp_open(&c->udp, c->host, c->port);
  if (rc < 0) {
    rc = EC_EIO;
    goto fail_client;
  }
  if (secure &&
      (rc = ec_dev_dtls_new(&c->udp, cfg->psk_identity, cfg->psk_key,
                            cfg->psk_key_len, &c->dtls)) < 0)
    goto fail_client;
  c->wire = c->udp.transport;
  if (cfg && cfg->debug) {
    c->traced = c->wire;
    c->traced.send = traced_send;
    c->traced.ctx = c;
    c->udp.on_recv = traced_recv;
    c->udp.on_recv_ctx = c;
  }
  ec_dev_init(&c->dev, cfg && cfg->debug ? &c->traced : &c->udp.transport);
  *out = c;
  return 0;

fail_client:
  ec_client_free(c);
  return rc;
}

void ec_client_free(ec_client_t *c) {
  if (!c)
    return;
  drop_exchange(c);
  ec_dev_dtls_free(c->dtls);
  ec_dev_udp_close(&c->udp);
  free(c->rx);
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
