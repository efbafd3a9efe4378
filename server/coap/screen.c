/* edgecoap server: datagrams screened before libcoap reads them. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "screen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accesslog.h"
#include "batch.h"
#include "log.h"
#include "pagecache.h"
#include "router.h"
#include "peer.h"
#include "util.h"
#include "watch.h"

enum { T_CON = 0, T_NON = 1, T_ACK = 2, T_RST = 3 };

/* The request codes libcoap 4.3.1 routes: GET (1) to iPATCH (7). */
#define LAST_METHOD 7

static uint16_t port_of(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET)
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
  if (ss->ss_family == AF_INET6)
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
  return 0;
}

void ec_screen_init(ec_server_t *srv) {
  srv->screen_fd = -1;
  if (srv->cfg.no_plain)
    return;
  /* libcoap 4.3.1 does not hand out an endpoint's socket: find the UDP
   * socket bound to the plain port among the process's descriptors (the
   * DTLS one is on another port). */
  struct rlimit rl;
  int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536
                ? (int)rl.rlim_cur
                : 65536;
  for (int fd = 0; fd < max; fd++) {
    struct stat st;
    int type;
    socklen_t tlen = sizeof(type);
    struct sockaddr_storage ss;
    socklen_t slen = sizeof(ss);
    if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 ||
        type != SOCK_DGRAM ||
        getsockname(fd, (struct sockaddr *)&ss, &slen) < 0 ||
        port_of(&ss) != srv->cfg.port)
      continue;
    srv->screen_fd = fd;
    return;
  }
  ec_log(EC_LOG_WARN, "cannot find the coap:// socket: datagrams go to "
         "libcoap unscreened (oversized ones get its RST with Message ID 0)");
}

size_t ec_screen_head(uint8_t *out, unsigned type, uint8_t code,
                      uint16_t mid, const uint8_t *token, size_t tkl) {
  out[0] = (uint8_t)(1 << 6 | type << 4 | tkl);
  out[1] = code;
  out[2] = (uint8_t)(mid >> 8);
  out[3] = (uint8_t)mid;
  if (tkl > 0)
    memcpy(out + 4, token, tkl);
  return 4 + tkl;
}

/* Put option @p num (after @p prev) with @p len bytes of @p val at @p p. */
static uint8_t *put_option(uint8_t *p, unsigned prev, unsigned num,
                           const uint8_t *val, unsigned len) {
  unsigned delta = num - prev; /* < 269 and len < 13 for what we send */
  uint8_t *head = p++;
  unsigned d = delta < 13 ? delta : 13;
  *head = (uint8_t)(d << 4 | len);
  if (delta >= 13)
    *p++ = (uint8_t)(delta - 13);
  memcpy(p, val, len);
  return p + len;
}

static unsigned uint_bytes(uint32_t v, uint8_t out[4]) {
  unsigned n = 0;
  uint8_t tmp[4];
  while (v != 0) {
    tmp[n++] = (uint8_t)v;
    v >>= 8;
  }
  for (unsigned i = 0; i < n; i++)
    out[i] = tmp[n - 1 - i];
  return n;
}

static void reply(ec_server_t *srv, const uint8_t *buf, size_t len,
                  const struct sockaddr_storage *from, socklen_t flen) {
  if (sendto(srv->screen_fd, buf, len, 0, (const struct sockaddr *)from,
             flen) < 0)
    ec_log(EC_LOG_DEBUG, "screen: cannot answer: %s", strerror(errno));
}

/* An empty RST with the message's own Message ID (RFC 7252 section 4.2). */
static void send_rst(ec_server_t *srv, const uint8_t *h,
                     const struct sockaddr_storage *from, socklen_t flen) {
  uint8_t rst[4] = {1 << 6 | T_RST << 4, 0, h[2], h[3]};
  reply(srv, rst, sizeof(rst), from, flen);
}

/*
 * Answer request @p h (its first 4 + token bytes) with @p code: a
 * piggybacked ACK for a CON, a NON with a Message ID of our own for a NON.
 * A 4.13 carries Block1 (block 0 of 1024 bytes) and Size1 (the body cap).
 * Refused before libcoap sees it, the request of @p in bytes is logged
 * here (accesslog.h).
 */
static void send_answer(ec_server_t *srv, const uint8_t *h, uint8_t code,
                        size_t in, const struct sockaddr_storage *from,
                        socklen_t flen) {
  static uint16_t own_mid;
  uint8_t out[32], v[4];
  unsigned tkl = h[0] & 0x0f;
  int con = (h[0] >> 4 & 3) == T_CON;
  if (own_mid == 0)
    own_mid = (uint16_t)(getpid() * 2654435761u);
  uint16_t mid = con ? (uint16_t)(h[2] << 8 | h[3]) : own_mid++;
  uint8_t *p = out + ec_screen_head(out, con ? T_ACK : T_NON, code, mid,
                                    h + 4, tkl);
  if (code == COAP_RESPONSE_CODE(413)) {
    uint8_t szx = 6;
    p = put_option(p, 0, COAP_OPTION_BLOCK1, &szx, 1);
    p = put_option(p, COAP_OPTION_BLOCK1, COAP_OPTION_SIZE1, v,
                   uint_bytes((uint32_t)srv->cfg.max_body, v));
  }
  /* Logged first: whoever reads the log after the answer finds it. */
  ec_accesslog_raw(srv, (const struct sockaddr *)from, flen, h[1], NULL, in,
                   code, (size_t)(p - out), 0);
  reply(srv, out, (size_t)(p - out), from, flen);
}

/* An empty ACK or RST from a peer: shown to watch.c, whose notifications
 * (sent by the server itself on coap://) libcoap knows nothing of. */
static void note_empty(ec_server_t *srv, const uint8_t *h,
                       struct sockaddr_storage *from, socklen_t flen) {
  int rst = (h[0] >> 4 & 3) == T_RST;
  /* Only an RST, or an ACK while a notification waits for one, matters;
   * every other ACK (most of them) costs nothing more. */
  if (!rst && srv->con_watches == NULL)
    return;
  coap_address_t addr;
  coap_address_init(&addr);
  addr.size = flen;
  memcpy(&addr.addr, from, flen);
  ec_peer_t *p = ec_peer_find(srv, &addr);
  if (p == NULL || p->watches == NULL ||
      coap_session_get_proto(p->session) != COAP_PROTO_UDP)
    return;
  uint16_t mid = (uint16_t)(h[2] << 8 | h[3]);
  if (rst)
    ec_watch_on_rst(srv, p->session, mid);
  else
    ec_watch_on_ack(srv, p->session, mid);
}

/* What a GET's options ask for, read in one walk (later_block() and
 * cached_read() look at them). */
typedef struct {
  const uint8_t *opts;   /* the options, after the token */
  size_t opts_len;
  unsigned block2s;      /* Block2 options, and the first one's value */
  unsigned block2;
  bool clean;            /* the walk ended at the end: no payload */
  bool path_only;        /* no option but Uri-Path (plain segments) and one
                          * Accept of 50 or 60 */
  ec_format_t accept;    /* that Accept, else JSON (ec_req_setup()) */
  size_t path_len;       /* the Uri-Path options joined with '/' */
  char path[EC_ROUTE_MAX_SEGMENTS * (EC_ROUTE_SEGMENT_MAX + 1)];
} get_opts_t;

/* A segment libcoap joins into the same path as ours: printable ASCII,
 * no '/' (nothing there to escape or to tell apart). */
static bool plain_segment(const uint8_t *v, size_t len) {
  if (len == 0 || len > EC_ROUTE_SEGMENT_MAX)
    return false;
  for (size_t i = 0; i < len; i++)
    if (v[i] <= 0x20 || v[i] >= 0x7f || v[i] == '/')
      return false;
  return true;
}

/* An Accept the screen answers in, CBOR or JSON: into @p fmt. */
static bool offered(unsigned accept, ec_format_t *fmt) {
  if (accept != EC_FORMAT_CBOR && accept != EC_FORMAT_JSON)
    return false;
  *fmt = (ec_format_t)accept;
  return true;
}

static void scan_get(const uint8_t *opts, size_t opts_len, get_opts_t *g) {
  ec_req_optw_t w;
  const coap_opt_t *opt;
  const uint8_t *v;
  size_t len;
  unsigned segs = 0, accepts = 0;
  g->opts = opts;
  g->opts_len = opts_len;
  g->block2s = 0;
  g->block2 = 0;
  g->path_only = true;
  g->accept = EC_FORMAT_JSON;
  g->path_len = 0;
  ec_req_optw_init_raw(&w, opts, opts_len);
  while (ec_req_optw_next(&w, &opt, &v, &len)) {
    if (w.number == COAP_OPTION_BLOCK2) {
      if (g->block2s++ == 0)
        g->block2 = len <= 3 ? coap_decode_var_bytes(v, len) : 7;
      g->path_only = false;
    } else if (w.number == COAP_OPTION_URI_PATH && g->path_only &&
               segs < EC_ROUTE_MAX_SEGMENTS && plain_segment(v, len)) {
      if (segs++ > 0)
        g->path[g->path_len++] = '/';
      memcpy(g->path + g->path_len, v, len);
      g->path_len += len;
    } else if (w.number == COAP_OPTION_ACCEPT && accepts++ == 0 &&
               len <= 2 && offered(coap_decode_var_bytes(v, len), &g->accept)) {
      /* the format, read */
    } else {
      g->path_only = false;
    }
  }
  g->clean = w.p == w.end;
  g->path_only = g->path_only && g->clean && segs > 0;
}

/*
 * A confirmable GET of @p n bytes at @p d (all of it) for a later block of
 * a page kept for its requester (pagecache.h): answered here, piggybacked,
 * with what send_blocks() (request.c) would have sent for it through the
 * dispatcher (ETag, Content-Format, Block2 and the block), counted and
 * logged as the dispatcher does. 1 when consumed and answered; 0 leaves it
 * to libcoap (no such page, a block past the end, anything unusual).
 */
static int later_block(ec_server_t *srv, const uint8_t *d, size_t n,
                       const get_opts_t *g, uint64_t since_us,
                       const struct sockaddr_storage *from, socklen_t flen) {
  unsigned tkl = d[0] & 0x0f;
  unsigned block = g->block2;
  /* One Block2 past the first, not BERT (SZX 7), and no payload. */
  if (g->block2s != 1 || (block & 7) == 7 || block >> 4 == 0 || !g->clean)
    return 0;
  const ec_page_t *pg = ec_pagecache_find(
      srv->pages, (const struct sockaddr *)from, flen, g->opts, g->opts_len);
  ec_block_slice_t sl;
  if (pg == NULL || !ec_block_slice(block >> 4, block & 7, pg->len, &sl))
    return 0;

  uint8_t out[4 + 8 + 3 * (1 + 8) + 1 + EC_BLOCK_MAX], val[8];
  uint8_t code = (uint8_t)COAP_RESPONSE_CODE(pg->code);
  uint8_t *p = out + ec_screen_head(out, T_ACK, code,
                                    (uint16_t)(d[2] << 8 | d[3]), d + 4, tkl);
  unsigned prev = 0;
  if (pg->etag != 0) {
    p = put_option(p, prev, COAP_OPTION_ETAG, val,
                   coap_encode_var_safe8(val, sizeof(val), pg->etag));
    prev = COAP_OPTION_ETAG;
  }
  p = put_option(p, prev, COAP_OPTION_CONTENT_FORMAT, val,
                 coap_encode_var_safe(val, sizeof(val), pg->fmt));
  p = put_option(p, COAP_OPTION_CONTENT_FORMAT, COAP_OPTION_BLOCK2, val,
                 (unsigned)ec_block_slice_option(&sl, val));
  *p++ = 0xff;
  memcpy(p, pg->data + sl.offset, sl.chunk);
  p += sl.chunk;

  uint8_t one;
  if (recv(srv->screen_fd, &one, 1, MSG_DONTWAIT) < 0)
    return 0;
  uint64_t usec = ec_mono_us() - since_us;
  ec_metrics_request(srv->metrics, pg->metric, COAP_REQUEST_CODE_GET, code,
                     usec);
  ec_metrics_add(srv->metrics, EC_M_SCREEN_READS, 1);
  /* Logged first: whoever reads the log after the answer finds it. */
  ec_accesslog_raw(srv, (const struct sockaddr *)from, flen,
                   COAP_REQUEST_CODE_GET, pg->shown, n, code,
                   (size_t)(p - out), usec);
  reply(srv, out, (size_t)(p - out), from, flen);
  return 1;
}

/*
 * A confirmable GET of @p n bytes at @p d of a route's own resource whose
 * route answers it from memory (router.h cached()): answered here,
 * piggybacked, with what send_small() (request.c) sends for it through
 * the dispatcher (ETag, Content-Format, Max-Age, the body), counted and
 * logged as the dispatcher does. Only
 *   - for a peer whose session libcoap saw within half its timeout, so
 *     that the session, and what the server keeps with it (peer.h, echo.h),
 *     outlives this answer that libcoap does not see;
 *   - within what the dispatcher sends that address (echo.h: three times
 *     the request until it is verified) in one datagram;
 *   - from a peer that observes nothing (an observer's reads are noted
 *     for its notifications, watch.h);
 *   - with no write queued (every read first commits the open batch), and
 *     none of the peer's requests with this token waiting for its answer.
 * 1 when consumed and answered; 0 leaves it to libcoap.
 */
static int cached_read(ec_server_t *srv, const uint8_t *d, size_t n,
                       const get_opts_t *g, uint64_t since_us,
                       const struct sockaddr_storage *from, socklen_t flen) {
  unsigned tkl = d[0] & 0x0f;
  if (!g->path_only || ec_store_queued(srv->store) > 0)
    return 0;
  coap_address_t addr;
  coap_address_init(&addr);
  addr.size = flen;
  memcpy(&addr.addr, from, flen);
  ec_peer_t *p = ec_peer_find(srv, &addr);
  uint64_t alive_us = (uint64_t)srv->cfg.session_timeout_s * 1000000 / 2;
  if (p == NULL || p->seen_us == 0 || since_us - p->seen_us >= alive_us ||
      p->watches != NULL ||
      coap_session_get_proto(p->session) != COAP_PROTO_UDP ||
      coap_find_async(p->session, (coap_bin_const_t){tkl, d + 4}) != NULL)
    return 0;
  /* What another server stored is heard of first (batch.h), as the
   * dispatcher's commit of the (empty) batch would. */
  (void)ec_batch_commit(srv);
  ec_router_cached_t a;
  const ec_route_spec_t *spec =
      ec_router_cached(srv, g->path, g->path_len, g->accept, &a);
  if (spec == NULL || (!p->verified && ec_req_amplifies(n, tkl, a.len)) ||
      !ec_req_fits_datagram(p->session, a.len))
    return 0;

  uint8_t out[4 + 8 + 3 * (1 + 8) + 1 + COAP_DEFAULT_MTU], val[8];
  uint8_t code = (uint8_t)COAP_RESPONSE_CODE(205);
  uint8_t *o = out + ec_screen_head(out, T_ACK, code,
                                    (uint16_t)(d[2] << 8 | d[3]), d + 4, tkl);
  unsigned prev = 0;
  if (a.etag != 0) {
    o = put_option(o, prev, COAP_OPTION_ETAG, val,
                   coap_encode_var_safe8(val, sizeof(val), a.etag));
    prev = COAP_OPTION_ETAG;
  }
  o = put_option(o, prev, COAP_OPTION_CONTENT_FORMAT, val,
                 coap_encode_var_safe(val, sizeof(val), a.fmt));
  o = put_option(o, COAP_OPTION_CONTENT_FORMAT, COAP_OPTION_MAXAGE, val,
                 coap_encode_var_safe(val, sizeof(val), a.max_age));
  if (a.len > 0) {
    *o++ = 0xff;
    memcpy(o, a.data, a.len);
    o += a.len;
  }

  uint8_t one;
  if (recv(srv->screen_fd, &one, 1, MSG_DONTWAIT) < 0)
    return 0;
  uint64_t usec = ec_mono_us() - since_us;
  ec_metrics_request(srv->metrics, ec_router_metric(srv, spec),
                     COAP_REQUEST_CODE_GET, code, usec);
  ec_metrics_add(srv->metrics, EC_M_SCREEN_READS, 1);
  /* Logged first: whoever reads the log after the answer finds it. */
  ec_accesslog_datagram(srv, (const struct sockaddr *)from,
                        COAP_REQUEST_CODE_GET, g->opts, g->opts_len, n, code,
                        (size_t)(o - out), usec);
  reply(srv, out, (size_t)(o - out), from, flen);
  return 1;
}

/* A confirmable GET of @p n bytes at @p d (all of it) answered here: a
 * later block of a kept page, or a read from memory. */
static int screened_get(ec_server_t *srv, const uint8_t *d, size_t n,
                        const struct sockaddr_storage *from, socklen_t flen) {
  uint64_t since_us = ec_mono_us();
  unsigned tkl = d[0] & 0x0f;
  if (tkl > 8 || n < 4 + tkl)
    return 0;
  get_opts_t g;
  scan_get(d + 4 + tkl, n - 4 - tkl, &g);
  return later_block(srv, d, n, &g, since_us, from, flen) ||
         cached_read(srv, d, n, &g, since_us, from, flen);
}

/* The header and a token, or the whole datagram when @p cap says so;
 * MSG_TRUNC makes recvfrom() report the datagram's real length anyway. */
static ssize_t look(ec_server_t *srv, uint8_t *h, size_t cap,
                    struct sockaddr_storage *from, socklen_t *flen) {
  *flen = sizeof(*from);
  return recvfrom(srv->screen_fd, h, cap, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC,
                  (struct sockaddr *)from, flen);
}

ssize_t ec_screen_look(ec_server_t *srv, uint8_t *h, size_t cap, bool keep) {
  srv->screen_look.kept = false;
  if (srv->screen_fd < 0)
    return -1;
  /* A look that is kept sees as much as the screen would, which then
   * need not look again (one system call fewer per datagram). */
  size_t want = keep ? EC_SCREEN_MAX_DGRAM : 4 + 8;
  ssize_t n = look(srv, srv->screen_look.h, want, &srv->screen_look.from,
                   &srv->screen_look.flen);
  srv->screen_look.n = n;
  srv->screen_look.cap = want;
  srv->screen_look.kept = keep && n >= 0;
  size_t k = n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap;
  memcpy(h, srv->screen_look.h, k < 12 ? k : 12);
  return n;
}

int ec_screen_run(ec_server_t *srv) {
  /* The whole datagram is looked at, since a GET may be answered here;
   * MSG_TRUNC makes recvfrom() report its real length anyway. */
  uint8_t h[EC_SCREEN_MAX_DGRAM];
  if (srv->screen_fd < 0)
    return 0;
  for (int i = 0; i < 64; i++) {
    struct sockaddr_storage from;
    socklen_t flen;
    ssize_t n;
    size_t want = EC_SCREEN_MAX_DGRAM;
    if (srv->screen_look.kept && srv->screen_look.cap >= want) {
      /* The access log's look, with nothing read since (screen.h). */
      srv->screen_look.kept = false;
      n = srv->screen_look.n;
      memcpy(h, srv->screen_look.h, (size_t)n < want ? (size_t)n : want);
      flen = srv->screen_look.flen;
      memcpy(&from, &srv->screen_look.from, flen);
    } else {
      srv->screen_look.kept = false;
      n = look(srv, h, want, &from, &flen);
    }
    if (n < 0)
      return 0; /* nothing waiting */
    if (n < 4)
      return 1; /* a runt, which libcoap ignores */
    unsigned type = h[0] >> 4 & 3, tkl = h[0] & 0x0f;
    uint8_t code = h[1];
    int request = code >= 1 && code <= 31;
    int answer_413 = 0, rst = 0, answer_405 = 0;
    if (h[0] >> 6 != 1) {
      ec_log(EC_LOG_DEBUG, "screen: dropped a %zd-byte datagram of CoAP "
             "version %u", n, h[0] >> 6);
    } else if (n > EC_SCREEN_MAX_DGRAM) {
      answer_413 = type == T_CON && request && tkl <= 8;
      rst = !answer_413 && (type == T_CON || type == T_NON);
      ec_log(EC_LOG_DEBUG, "screen: a %zd-byte datagram (over %d): %s", n,
             EC_SCREEN_MAX_DGRAM,
             answer_413 ? "4.13" : rst ? "RST" : "dropped");
    } else if (request && code > LAST_METHOD && tkl <= 8 &&
               (type == T_CON || type == T_NON) &&
               (size_t)n >= 4 + tkl) {
      answer_405 = 1;
    } else if (type == T_CON && code == COAP_REQUEST_CODE_GET &&
               (size_t)n <= want &&
               screened_get(srv, h, (size_t)n, &from, flen)) {
      continue; /* answered */
    } else {
      if ((type == T_RST || type == T_ACK) && code == 0)
        note_empty(srv, h, &from, flen);
      return 1; /* libcoap's to read */
    }
    /* Consume it; whatever else is waiting is looked at next. */
    if (recv(srv->screen_fd, h, 1, MSG_DONTWAIT) < 0)
      return 0;
    if (answer_413)
      send_answer(srv, h, COAP_RESPONSE_CODE(413), (size_t)n, &from, flen);
    else if (answer_405)
      send_answer(srv, h, COAP_RESPONSE_CODE(405), (size_t)n, &from, flen);
    else if (rst)
      send_rst(srv, h, &from, flen);
  }
  return 1; /* more may wait: the next round looks */
}
