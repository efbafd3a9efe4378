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
#include "log.h"
#include "peer.h"
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
  ec_accesslog_raw(srv, (const struct sockaddr *)from, flen, h[1], in, code,
                   (size_t)(p - out));
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

int ec_screen_run(ec_server_t *srv) {
  /* The header and a token are all that is looked at; MSG_TRUNC makes
   * recvfrom() report the datagram's real length anyway. */
  uint8_t h[4 + 8];
  if (srv->screen_fd < 0)
    return 0;
  for (int i = 0; i < 64; i++) {
    struct sockaddr_storage from;
    socklen_t flen = sizeof(from);
    ssize_t n = recvfrom(srv->screen_fd, h, sizeof(h),
                         MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC,
                         (struct sockaddr *)&from, &flen);
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
