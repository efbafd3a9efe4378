/* edgecoap tests: raw CoAP messages, datagrams and block-wise transfers. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "itest.h"
#include "itest_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Raw CoAP                                                                  */

void it_coap_init(it_coap_msg_t *m, int type, int code, uint16_t mid,
                  const void *token, size_t token_len) {
  memset(m, 0, offsetof(it_coap_msg_t, pool));
  m->pool_used = 0;
  m->payload = NULL;
  m->payload_len = 0;
  m->raw_len = 0;
  m->overflow = false;
  m->type = (uint8_t)type;
  m->code = (uint8_t)code;
  m->mid = mid;
  if (token_len > sizeof(m->token)) {
    m->overflow = true;
    token_len = sizeof(m->token);
  }
  if (token_len)
    memcpy(m->token, token, token_len);
  m->token_len = token_len;
}

void it_coap_add_opt(it_coap_msg_t *m, uint16_t num, const void *val,
                     size_t len) {
  if (m->n_opts == IT_COAP_MAX_OPTS || len > IT_COAP_POOL - m->pool_used) {
    m->overflow = true;
    return;
  }
  m->opts[m->n_opts].num = num;
  m->opts[m->n_opts].len = (uint16_t)len;
  m->opts[m->n_opts].off = (uint16_t)m->pool_used;
  if (len)
    memcpy(m->pool + m->pool_used, val, len);
  m->pool_used += len;
  m->n_opts++;
}

void it_coap_add_uint(it_coap_msg_t *m, uint16_t num, uint32_t v) {
  uint8_t b[4];
  size_t n = 0;
  for (int shift = 24; shift >= 0; shift -= 8)
    if (n > 0 || (v >> shift) & 0xff)
      b[n++] = (uint8_t)(v >> shift);
  it_coap_add_opt(m, num, b, n);
}

/* Add the @p sep-separated items of s[0..len) as options @p num. */
static void add_items(it_coap_msg_t *m, uint16_t num, const char *s, size_t len,
                      char sep) {
  const char *end = s + len;
  while (s < end) {
    const char *e = memchr(s, sep, (size_t)(end - s));
    if (e == NULL)
      e = end;
    it_coap_add_opt(m, num, s, (size_t)(e - s));
    s = e < end ? e + 1 : end;
  }
}

void it_coap_add_path(it_coap_msg_t *m, const char *path) {
  while (*path == '/')
    path++;
  const char *q = strchr(path, '?');
  size_t plen = q != NULL ? (size_t)(q - path) : strlen(path);
  add_items(m, IT_OPT_URI_PATH, path, plen, '/');
  if (q != NULL)
    add_items(m, IT_OPT_URI_QUERY, q + 1, strlen(q + 1), '&');
}

static unsigned szx_of(unsigned size) {
  unsigned szx = 0;
  while (szx < 6 && (16u << szx) < size)
    szx++;
  return szx;
}

void it_coap_add_block(it_coap_msg_t *m, uint16_t num, uint32_t block_num,
                       bool more, unsigned size) {
  it_coap_add_uint(m, num, block_num << 4 | (more ? 8u : 0u) | szx_of(size));
}

void it_coap_set_payload(it_coap_msg_t *m, const void *data, size_t len) {
  m->payload = data;
  m->payload_len = len;
}

/* The option header's nibble for a delta or length, and its extension. */
static size_t opt_nibble(uint32_t v, uint8_t *nib, uint8_t ext[2]) {
  if (v < 13) {
    *nib = (uint8_t)v;
    return 0;
  }
  if (v < 269) {
    *nib = 13;
    ext[0] = (uint8_t)(v - 13);
    return 1;
  }
  *nib = 14;
  ext[0] = (uint8_t)((v - 269) >> 8);
  ext[1] = (uint8_t)(v - 269);
  return 2;
}

ssize_t it_coap_encode(const it_coap_msg_t *m, uint8_t *buf, size_t cap) {
  size_t order[IT_COAP_MAX_OPTS];
  size_t n = 0;

  if (m->overflow || m->token_len > 8)
    return -1;
  /* A stable insertion sort: repeated options keep the order they came in. */
  for (size_t i = 0; i < m->n_opts; i++) {
    size_t j = n++;
    while (j > 0 && m->opts[order[j - 1]].num > m->opts[i].num) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = i;
  }
  if (cap < 4 + m->token_len)
    return -1;
  buf[0] = (uint8_t)(1u << 6 | (m->type & 3u) << 4 | m->token_len);
  buf[1] = m->code;
  buf[2] = (uint8_t)(m->mid >> 8);
  buf[3] = (uint8_t)m->mid;
  memcpy(buf + 4, m->token, m->token_len);
  size_t len = 4 + m->token_len;
  uint16_t last = 0;
  for (size_t k = 0; k < n; k++) {
    const uint8_t *val = m->pool + m->opts[order[k]].off;
    uint32_t olen = m->opts[order[k]].len;
    uint8_t dn, ln, dext[2], lext[2];
    size_t dx = opt_nibble(m->opts[order[k]].num - last, &dn, dext);
    size_t lx = opt_nibble(olen, &ln, lext);
    if (len + 1 + dx + lx + olen > cap)
      return -1;
    buf[len++] = (uint8_t)(dn << 4 | ln);
    memcpy(buf + len, dext, dx);
    len += dx;
    memcpy(buf + len, lext, lx);
    len += lx;
    memcpy(buf + len, val, olen);
    len += olen;
    last = m->opts[order[k]].num;
  }
  if (m->payload_len > 0) {
    if (len + 1 + m->payload_len > cap)
      return -1;
    buf[len++] = 0xff;
    memcpy(buf + len, m->payload, m->payload_len);
    len += m->payload_len;
  }
  return (ssize_t)len;
}

/* Read a delta or length nibble's value; -1 for the reserved 15. */
static int32_t read_ext(uint8_t nib, const uint8_t **p, const uint8_t *end) {
  if (nib < 13)
    return nib;
  if (nib == 13) {
    if (*p >= end)
      return -1;
    return 13 + *(*p)++;
  }
  if (nib == 14) {
    if (end - *p < 2)
      return -1;
    int32_t v = 269 + ((*p)[0] << 8 | (*p)[1]);
    *p += 2;
    return v;
  }
  return -1;
}

int it_coap_parse(const uint8_t *buf, size_t len, it_coap_msg_t *m) {
  if (len < 4 || len > sizeof(m->raw))
    return -1;
  unsigned tkl = buf[0] & 0x0f;
  if ((buf[0] >> 6) != 1 || tkl > 8 || len < 4 + tkl)
    return -1;
  it_coap_init(m, (buf[0] >> 4) & 3, buf[1], (uint16_t)(buf[2] << 8 | buf[3]),
               buf + 4, tkl);
  memcpy(m->raw, buf, len);
  m->raw_len = len;
  const uint8_t *p = m->raw + 4 + tkl, *end = m->raw + len;
  uint32_t num = 0;
  while (p < end) {
    if (*p == 0xff) {
      p++;
      if (p == end)
        return -1; /* a payload marker with no payload is a format error */
      m->payload = p;
      m->payload_len = (size_t)(end - p);
      break;
    }
    uint8_t h = *p++;
    int32_t delta = read_ext(h >> 4, &p, end);
    int32_t olen = read_ext(h & 0x0f, &p, end);
    if (delta < 0 || olen < 0 || end - p < olen)
      return -1;
    num += (uint32_t)delta;
    if (num > 65535)
      return -1;
    it_coap_add_opt(m, (uint16_t)num, p, (size_t)olen);
    p += olen;
  }
  return m->overflow ? -1 : 0;
}

int it_coap_opt_count(const it_coap_msg_t *m, uint16_t num) {
  int n = 0;
  for (size_t i = 0; i < m->n_opts; i++)
    n += m->opts[i].num == num;
  return n;
}

const uint8_t *it_coap_opt(const it_coap_msg_t *m, uint16_t num, int idx,
                           size_t *len) {
  for (size_t i = 0; i < m->n_opts; i++) {
    if (m->opts[i].num == num && idx-- == 0) {
      *len = m->opts[i].len;
      return m->pool + m->opts[i].off;
    }
  }
  *len = 0;
  return NULL;
}

uint32_t it_coap_opt_uint(const it_coap_msg_t *m, uint16_t num, uint32_t dflt) {
  size_t len;
  const uint8_t *v = it_coap_opt(m, num, 0, &len);
  if (v == NULL || len > 4)
    return dflt;
  uint32_t x = 0;
  for (size_t i = 0; i < len; i++)
    x = x << 8 | v[i];
  return x;
}

int it_coap_location_path(const it_coap_msg_t *m, char *out, size_t cap) {
  size_t n = 0, len;
  const uint8_t *v;
  if (cap == 0)
    return -1;
  out[0] = '\0';
  for (int i = 0; (v = it_coap_opt(m, IT_OPT_LOCATION_PATH, i, &len)); i++) {
    if (n + (i > 0) + len + 1 > cap)
      return -1;
    if (i > 0)
      out[n++] = '/';
    memcpy(out + n, v, len);
    n += len;
    out[n] = '\0';
  }
  return (int)n;
}

int it_coap_block(const it_coap_msg_t *m, uint16_t num, it_block_t *b) {
  size_t len;
  if (it_coap_opt(m, num, 0, &len) == NULL || len > 3)
    return -1;
  uint32_t v = it_coap_opt_uint(m, num, 0);
  if ((v & 7) == 7)
    return -1; /* szx 7 is reserved */
  b->num = v >> 4;
  b->more = (v & 8) != 0;
  b->size = 16u << (v & 7);
  return 0;
}

const char *it_coap_code_str(uint8_t code, char out[8]) {
  snprintf(out, 8, "%u.%02u", code >> 5, code & 31u);
  return out;
}

static void seed_ids(it_udp_t *u) {
  /* Start Message IDs and tokens at a random place, as RFC 7252 asks: a
   * server that remembers a previous socket's MIDs must not see repeats. */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint32_t seed =
      (uint32_t)ts.tv_nsec ^ (uint32_t)getpid() << 16 ^ (uint32_t)u->fd;
  u->next_mid = (uint16_t)(seed * 2654435761u >> 16);
  u->next_token = seed * 2246822519u;
}

/* Open a socket connected to 127.0.0.1:@p port, bound first to 127.0.0.@p
 * src when it is not 0 (else the kernel picks 127.0.0.1). */
static int udp_open_from(it_udp_t *u, uint16_t port, uint8_t src) {
  memset(u, 0, sizeof(*u));
  u->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (u->fd < 0) {
    fprintf(stderr, "itest: socket: %s\n", strerror(errno));
    return -1;
  }
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  if (src != 0) {
    a.sin_addr.s_addr = htonl(0x7f000000u | src);
    if (bind(u->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
      fprintf(stderr, "itest: bind 127.0.0.%u: %s\n", src, strerror(errno));
      close(u->fd);
      u->fd = -1;
      return -1;
    }
  }
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (connect(u->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
    fprintf(stderr, "itest: connect 127.0.0.1:%u: %s\n", port, strerror(errno));
    close(u->fd);
    u->fd = -1;
    return -1;
  }
  u->port = port;
  seed_ids(u);
  return 0;
}

int it_udp_open(it_udp_t *u, uint16_t port) { return udp_open_from(u, port, 0); }

int it_udp_open_fresh(it_udp_t *u, uint16_t port) {
  /* 127.0.0.2 .. 127.0.0.254 in turn: the kernel may hand a just-closed
   * socket's port to the next one, and the server would take it for the
   * same peer (same libcoap session, same verified address); a new source
   * address is a new peer whatever the port. */
  static unsigned next;
  uint8_t src = (uint8_t)(2 + next++ % 253);
  return udp_open_from(u, port, src);
}

/* A UDP port on 127.0.0.1 that nothing holds, for a server to listen on.
 * It is drawn at random from below the kernel's ephemeral range (32768 and
 * up on Linux): a port the kernel chose would be handed out again to the
 * next client socket of a test running beside this one, and a server
 * restarted later on it would find it taken. */
uint16_t it_free_port(void) {
  /* Its own generator (xorshift), so that a test seeding random() for its
   * own reasons sees the same sequence however many ports were drawn. */
  static uint32_t x;
  if (x == 0)
    x = ((uint32_t)getpid() << 16) ^ (uint32_t)it_now_ms() ^ 0x9e3779b9u;
  for (int attempt = 0; attempt < 64; attempt++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    uint16_t port = (uint16_t)(20000 + x % 12000);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      return 0;
    int rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
    close(fd);
    if (rc == 0)
      return port;
  }
  return 0;
}

int it_udp_listen(it_udp_t *u) {
  memset(u, 0, sizeof(*u));
  u->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (u->fd < 0) {
    fprintf(stderr, "itest: socket: %s\n", strerror(errno));
    return -1;
  }
  struct sockaddr_in a;
  socklen_t alen = sizeof(a);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(u->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
      getsockname(u->fd, (struct sockaddr *)&a, &alen) < 0) {
    fprintf(stderr, "itest: bind 127.0.0.1:0: %s\n", strerror(errno));
    close(u->fd);
    u->fd = -1;
    return -1;
  }
  u->port = ntohs(a.sin_port);
  u->listening = true;
  seed_ids(u);
  return 0;
}

void it_udp_close(it_udp_t *u) {
  if (u->fd >= 0)
    close(u->fd);
  u->fd = -1;
}

uint16_t it_udp_mid(it_udp_t *u) {
  return u->next_mid++;
}

void it_udp_token(it_udp_t *u, uint8_t tok[4]) {
  uint32_t t = ++u->next_token;
  tok[0] = (uint8_t)(t >> 24);
  tok[1] = (uint8_t)(t >> 16);
  tok[2] = (uint8_t)(t >> 8);
  tok[3] = (uint8_t)t;
}

int it_udp_send(it_udp_t *u, const void *buf, size_t len) {
  ssize_t n;
  if (u->listening) {
    if (!u->have_peer) {
      fprintf(stderr, "itest: nobody to answer yet\n");
      return -1;
    }
    n = sendto(u->fd, buf, len, 0, (const struct sockaddr *)&u->peer,
               sizeof(u->peer));
  } else {
    n = send(u->fd, buf, len, 0);
  }
  if (n != (ssize_t)len) {
    fprintf(stderr, "itest: send: %s\n", strerror(errno));
    return -1;
  }
  return 0;
}

ssize_t it_udp_recv(it_udp_t *u, void *buf, size_t cap, unsigned timeout_ms) {
  uint64_t deadline = it_now_ms() + timeout_ms;
  for (;;) {
    struct pollfd pfd = {u->fd, POLLIN, 0};
    int r = poll(&pfd, 1, (int)it__remaining_ms(deadline));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    struct sockaddr_in from;
    socklen_t flen = sizeof(from);
    ssize_t n = recvfrom(u->fd, buf, cap, MSG_DONTWAIT,
                         (struct sockaddr *)&from, &flen);
    if (n >= 0) {
      if (u->listening && flen == sizeof(from)) {
        u->peer = from;
        u->have_peer = true;
      }
      return n;
    }
    if (errno != EAGAIN && errno != EINTR)
      return -1; /* ECONNREFUSED: nobody listens on that port */
  }
}

int it_udp_recv_msg(it_udp_t *u, it_coap_msg_t *m, unsigned timeout_ms) {
  uint8_t buf[IT_COAP_MAX_DGRAM];
  ssize_t n = it_udp_recv(u, buf, sizeof(buf), timeout_ms);
  if (n < 0)
    return -1;
  if (it_coap_parse(buf, (size_t)n, m) < 0) {
    fprintf(stderr,
            "itest: the server sent an unparseable datagram of %zd "
            "bytes\n",
            n);
    return -1;
  }
  return 0;
}

static void send_empty(it_udp_t *u, int type, uint16_t mid) {
  uint8_t b[4] = {(uint8_t)(1u << 6 | (unsigned)type << 4), 0,
                  (uint8_t)(mid >> 8), (uint8_t)mid};
  it_udp_send(u, b, sizeof(b));
}

int it_coap_exchange_raw(it_udp_t *u, const uint8_t *dgram, size_t len,
                         it_coap_msg_t *resp, unsigned timeout_ms) {
  if (len < 4)
    return -1;
  int type = (dgram[0] >> 4) & 3;
  size_t tkl = dgram[0] & 0x0f;
  uint16_t mid = (uint16_t)(dgram[2] << 8 | dgram[3]);
  if (tkl > 8 || len < 4 + tkl)
    return -1;
  uint8_t token[8];
  memcpy(token, dgram + 4, tkl);

  uint64_t now = it_now_ms(), deadline = now + timeout_ms;
  uint64_t resend_at = type == IT_CON ? now + 2000 : deadline;
  unsigned backoff = 2000;
  bool acked = false;
  if (it_udp_send(u, dgram, len) < 0)
    return -1;
  while ((now = it_now_ms()) < deadline) {
    if (!acked && now >= resend_at) {
      it_udp_send(u, dgram, len);
      backoff *= 2;
      resend_at = now + backoff;
    }
    uint64_t until = acked || resend_at > deadline ? deadline : resend_at;
    if (it_udp_recv_msg(u, resp, it__remaining_ms(until)) < 0)
      continue;
    bool same_token =
        resp->token_len == tkl && memcmp(resp->token, token, tkl) == 0;
    if ((resp->type == IT_ACK || resp->type == IT_RST) && resp->mid == mid) {
      if (resp->type == IT_ACK && resp->code == 0) {
        acked = true; /* a separate response follows */
        continue;
      }
      return 0;
    }
    if ((resp->type == IT_CON || resp->type == IT_NON) && resp->code >= 64) {
      /* Acknowledge every CON the server sends us, ours or a stray
       * notification, so it does not keep retransmitting it. */
      if (resp->type == IT_CON)
        send_empty(u, IT_ACK, resp->mid);
      if (same_token)
        return 0;
    }
  }
  return -1;
}

int it_udp_verify(it_udp_t *u) {
  if (u->verified)
    return 0;
  static it_coap_msg_t req, resp;
  uint8_t tok[4];
  it_udp_token(u, tok);
  it_coap_init(&req, IT_CON, IT_GET, it_udp_mid(u), tok, sizeof(tok));
  it_coap_add_path(&req, ".well-known/core");
  if (it_coap_exchange(u, &req, &resp, 10000) < 0 ||
      resp.code != IT_CODE(2, 5)) {
    fprintf(stderr, "itest: the server did not verify this socket\n");
    return -1;
  }
  u->verified = true;
  return 0;
}

int it_coap_exchange(it_udp_t *u, const it_coap_msg_t *req, it_coap_msg_t *resp,
                     unsigned timeout_ms) {
  uint8_t dgram[IT_COAP_MAX_DGRAM];
  ssize_t n = it_coap_encode(req, dgram, sizeof(dgram));
  if (n < 0) {
    fprintf(stderr, "itest: the request does not fit one datagram\n");
    return -1;
  }
  int rc = it_coap_exchange_raw(u, dgram, (size_t)n, resp, timeout_ms);
  /* A 4.01 with Echo (RFC 9175) is the server verifying this socket's
   * address before a large answer or an observation, or asking for an
   * Observe again once the resource exists: repeat the request with the
   * Echo value, as libcoap's clients do, on a new Message ID. */
  if (it_coap_opt_count(req, IT_OPT_ECHO) > 0)
    return rc;
  static it_coap_msg_t again; /* large: not on the stack */
  for (int round = 0; round < 3 && rc == 0 && resp->code == IT_CODE(4, 1);
       round++) {
    size_t elen;
    const uint8_t *echo = it_coap_opt(resp, IT_OPT_ECHO, 0, &elen);
    uint8_t value[64];
    if (echo == NULL || elen > sizeof(value))
      break;
    memcpy(value, echo, elen);
    again = *req;
    again.mid = it_udp_mid(u);
    it_coap_add_opt(&again, IT_OPT_ECHO, value, elen);
    n = it_coap_encode(&again, dgram, sizeof(dgram));
    if (n < 0)
      break;
    rc = it_coap_exchange_raw(u, dgram, (size_t)n, resp, timeout_ms);
  }
  return rc;
}

static void build_request(it_udp_t *u, const it_req_t *rq, it_coap_msg_t *m) {
  uint8_t tok[4];
  it_udp_token(u, tok);
  it_coap_init(m, IT_CON, rq->code, it_udp_mid(u), tok, sizeof(tok));
  if (rq->observe >= 0)
    it_coap_add_uint(m, IT_OPT_OBSERVE, (uint32_t)rq->observe);
  if (rq->path != NULL)
    it_coap_add_path(m, rq->path);
  if (rq->content_format >= 0)
    it_coap_add_uint(m, IT_OPT_CONTENT_FORMAT, (uint32_t)rq->content_format);
  if (rq->accept >= 0)
    it_coap_add_uint(m, IT_OPT_ACCEPT, (uint32_t)rq->accept);
  if (rq->block2_size > 0)
    it_coap_add_block(m, IT_OPT_BLOCK2, 0, false, (unsigned)rq->block2_size);
  it_coap_set_payload(m, rq->payload, rq->payload_len);
}

int it_coap_request(it_udp_t *u, const it_req_t *rq, it_coap_msg_t *resp,
                    unsigned timeout_ms) {
  it_coap_msg_t *req = malloc(sizeof(*req));
  if (req == NULL)
    return -1;
  build_request(u, rq, req);
  int rc = it_coap_exchange(u, req, resp, timeout_ms);
  free(req);
  if (rc < 0)
    fprintf(stderr, "itest: no answer to %d /%s within %u ms\n", rq->code,
            rq->path ? rq->path : "", timeout_ms);
  return rc;
}

int it_coap_get_blockwise(it_udp_t *u, const char *path, int accept,
                          unsigned block_size, int max_blocks, it_body_t *out,
                          unsigned timeout_ms) {
  it__buf_t body = {0};
  it_coap_msg_t *req = malloc(sizeof(*req)), *resp = malloc(sizeof(*resp));
  uint64_t deadline = it_now_ms() + timeout_ms;
  int rc = -1;
  size_t len;
  const uint8_t *v;
  char cs[8];

  memset(out, 0, sizeof(*out));
  out->content_format = -1;
  if (req == NULL || resp == NULL || it__buf_append(&body, "", 0) < 0)
    goto done;
  for (uint32_t num = 0;; num++) {
    if (out->blocks == max_blocks) {
      fprintf(stderr, "itest: block-wise GET /%s: more than %d blocks\n", path,
              max_blocks);
      goto done;
    }
    it_req_t rq = IT_REQ(IT_GET, path);
    rq.accept = accept;
    build_request(u, &rq, req);
    it_coap_add_block(req, IT_OPT_BLOCK2, num, false, block_size);
    if (it_coap_exchange(u, req, resp, it__remaining_ms(deadline)) < 0) {
      fprintf(stderr, "itest: block-wise GET /%s: no answer to block %u\n",
              path, num);
      goto done;
    }
    out->blocks++;
    int cf = (int)it_coap_opt_uint(resp, IT_OPT_CONTENT_FORMAT, (uint32_t)-1);
    if (num == 0) {
      out->code = resp->code;
      out->content_format =
          it_coap_opt(resp, IT_OPT_CONTENT_FORMAT, 0, &len) ? cf : -1;
      if ((v = it_coap_opt(resp, IT_OPT_ETAG, 0, &len)) && len <= 8) {
        memcpy(out->etag, v, len);
        out->etag_len = len;
      }
    } else {
      v = it_coap_opt(resp, IT_OPT_ETAG, 0, &len);
      if (resp->code != out->code ||
          (out->content_format >= 0 && cf != out->content_format) ||
          (v == NULL) != (out->etag_len == 0) ||
          (v != NULL && (len != out->etag_len || memcmp(v, out->etag, len)))) {
        fprintf(stderr,
                "itest: block-wise GET /%s: block %u changed code, "
                "format or ETag (%s)\n",
                path, num, it_coap_code_str(resp->code, cs));
        goto done;
      }
    }
    if ((resp->code >> 5) != 2) {
      /* An error answer is whole in one message. */
      if (it__buf_append(&body, resp->payload, resp->payload_len) < 0)
        goto done;
      break;
    }
    it_block_t b;
    if (it_coap_block(resp, IT_OPT_BLOCK2, &b) < 0) {
      if (num != 0) {
        fprintf(stderr, "itest: block-wise GET /%s: block %u lacks Block2\n",
                path, num);
        goto done;
      }
      if (it__buf_append(&body, resp->payload, resp->payload_len) < 0)
        goto done;
      break; /* small enough for one message */
    }
    /* A server may pick smaller blocks than asked; follow its size. */
    if ((size_t)b.num * b.size != body.len ||
        (b.more && resp->payload_len != b.size) || b.size > block_size) {
      fprintf(stderr,
              "itest: block-wise GET /%s: got block %u of %u bytes "
              "(%zu in it) at offset %zu\n",
              path, b.num, b.size, resp->payload_len, body.len);
      goto done;
    }
    if (it__buf_append(&body, resp->payload, resp->payload_len) < 0)
      goto done;
    if (!b.more)
      break;
    block_size = b.size;
    num = (uint32_t)(body.len / b.size) - 1; /* the loop adds one */
  }
  out->body = (uint8_t *)body.data;
  out->len = body.len;
  body.data = NULL;
  rc = 0;
done:
  free(body.data);
  free(req);
  free(resp);
  return rc;
}

int it_coap_put_blockwise(it_udp_t *u, int method, const char *path,
                          int content_format, const uint8_t *data, size_t len,
                          unsigned block_size, bool send_size1,
                          it_coap_msg_t *resp, int *sent, unsigned timeout_ms) {
  it_coap_msg_t *req = malloc(sizeof(*req));
  uint64_t deadline = it_now_ms() + timeout_ms;
  uint8_t tok[4];
  int rc = -1;

  *sent = 0;
  if (req == NULL)
    return -1;
  /* RFC 7959 lets one token serve the whole transfer. */
  it_udp_token(u, tok);
  for (uint32_t num = 0; (size_t)num * block_size < len; num++) {
    size_t off = (size_t)num * block_size;
    size_t n = len - off < block_size ? len - off : block_size;
    bool more = off + n < len;
    it_coap_init(req, IT_CON, method, it_udp_mid(u), tok, sizeof(tok));
    it_coap_add_path(req, path);
    if (content_format >= 0)
      it_coap_add_uint(req, IT_OPT_CONTENT_FORMAT, (uint32_t)content_format);
    it_coap_add_block(req, IT_OPT_BLOCK1, num, more, block_size);
    if (send_size1)
      it_coap_add_uint(req, IT_OPT_SIZE1, (uint32_t)len);
    it_coap_set_payload(req, data + off, n);
    if (it_coap_exchange(u, req, resp, it__remaining_ms(deadline)) < 0) {
      fprintf(stderr,
              "itest: block-wise upload to /%s: no answer to block "
              "%u\n",
              path, num);
      goto done;
    }
    (*sent)++;
    if (resp->code != IT_CODE(2, 31) || !more)
      break;
  }
  rc = 0;
done:
  free(req);
  return rc;
}

