/* edgecoap-bench: a CoAP load generator on raw UDP sockets (no libcoap). */
/* SPDX-License-Identifier: Apache-2.0 */

/*
 * One thread, one epoll set, many UDP sockets: each socket is a distinct
 * client endpoint (its own source port, so its own session in the server)
 * with a window of confirmable exchanges in flight. An exchange is one
 * request and its final answer, including any Block1 upload of a large body
 * and the Block2 follow-ups of a large GET/FETCH answer; its latency runs
 * from its first datagram to its final answer. Answers are matched by token
 * (slot and sequence number) and, when piggybacked, by Message ID.
 *
 * Three modes share that engine:
 *   load     (default) keep every window full for --duration or --requests;
 *   --idle N first leave N sessions behind (one answered request each, then
 *            silence) and then run the load;
 *   --observe N  register N observers (one socket each, since a server may
 *            cap observations per client), then send --triggers writes and
 *            time, from the arrival of each write's answer, the arrival of
 *            the last observer's notification.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "body.h"
#include "coapmin.h"
#include "hist.h"

#define TOKEN_LEN 4
#define PKT_CAP 1400
#define RX_CAP 2048
#define MAX_WINDOW 255
#define SCAN_NS 5000000ull /* how often in-flight exchanges are checked */
#define SEPARATE_WAIT_NS 30000000000ull /* after an empty ACK */

/* ---- configuration ------------------------------------------------------ */

typedef struct {
  const char *host;
  const char *port;
  unsigned clients, window;
  uint8_t method;
  const char *method_name;
  const char *path, *paths_file;
  long content_format, accept;
  bb_body_t body;
  double duration, warmup;
  uint64_t requests;
  unsigned timeout_ms, max_retransmit;
  unsigned szx;
  int follow_block2; /* -1: for GET and FETCH only */
  int json;
  const char *label;
  unsigned setup_window;
  unsigned idle;
  const char *idle_path;
  unsigned observe, triggers;
  double observe_timeout, trigger_gap;
  uint8_t trigger_method;
  const char *trigger_path;
  long trigger_cf;
  bb_body_t trigger_body;
  int no_deregister;
} cfg_t;

static cfg_t cfg;

/* ---- state -------------------------------------------------------------- */

typedef struct {
  uint64_t codes[256]; /* final answers by CoAP code */
  uint64_t completed, ok;
  uint64_t retransmissions, failed, rst, stale, send_errors, malformed;
  bh_hist_t hist; /* latency of 2.xx answers */
} stats_t;

typedef struct {
  uint8_t busy, acked, retries;
  uint8_t echoed; /* repeated once with an Echo value (RFC 9175) */
  uint8_t index;
  uint16_t mid;
  uint32_t seq; /* low 24 bits go in the token */
  uint64_t n;   /* exchange number: picks path and body */
  uint64_t t_first, deadline, rto;
  size_t path;
  const uint8_t *body;
  size_t body_len, body_off, block_len;
  uint32_t b2num;
  unsigned b2szx;
  uint8_t *body_buf; /* for generated bodies */
  uint16_t pkt_len;
  uint8_t pkt[PKT_CAP];
} slot_t;

typedef struct group group_t;

typedef struct {
  int fd;
  uint16_t next_mid;
  uint32_t next_seq;
  group_t *g;
  slot_t *slots;
  /* observe mode */
  uint8_t obs_token[TOKEN_LEN];
  int observing, notified;
  long obs_last;
  uint64_t t_notified;
  /* RFC 9175: the Echo value a 4.01 challenged this endpoint with, sent
   * until an answer of class 2 shows the address is verified. */
  uint8_t echo[BC_ECHO_CAP];
  size_t echo_len;
  int verified;
} client_t;

struct group {
  const char *name;
  uint8_t method;
  bc_optv_t *paths;
  size_t npaths;
  const bb_body_t *body;
  int follow_block2;
  int oneshot;       /* each client does one exchange */
  int reuse_token;   /* ...with the token of its previous one */
  unsigned window;   /* slots per client */
  unsigned concurrency; /* oneshot: exchanges in flight at most */
  client_t *clients;
  size_t n;
  size_t next_start, active;
  uint64_t issued, limit; /* limit 0: none */
  uint64_t t0, t1;        /* completions counted in [t0, t1) */
  int stopping;
  stats_t st;
  uint64_t t_last_done;
};

static int epfd = -1;
static struct sockaddr_storage server_addr;
static socklen_t server_len;
static group_t *groups[4];
static size_t ngroups;
static uint64_t next_scan;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static void die(const char *what) {
  fprintf(stderr, "edgecoap-bench: %s: %s\n", what, strerror(errno));
  exit(2);
}

/* ---- sockets ------------------------------------------------------------ */

static int resolve(const char *host, const char *port) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0 || res == NULL) {
    fprintf(stderr, "edgecoap-bench: cannot resolve %s port %s: %s\n", host,
            port, gai_strerror(rc));
    return -1;
  }
  memcpy(&server_addr, res->ai_addr, res->ai_addrlen);
  server_len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

static void client_open(client_t *c, group_t *g) {
  memset(c, 0, sizeof(*c));
  c->g = g;
  c->fd = socket(server_addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0)
    die("socket (raise ulimit -n?)");
  if (connect(c->fd, (struct sockaddr *)&server_addr, server_len) < 0)
    die("connect");
  c->next_mid = (uint16_t)bh_rand64(&rng);
  c->next_seq = (uint32_t)bh_rand64(&rng) & 0xffffff;
  c->obs_last = BC_ABSENT;
  c->slots = calloc(g->window, sizeof(slot_t));
  if (c->slots == NULL)
    die("calloc");
  size_t blen = bb_max_len(g->body);
  for (unsigned i = 0; i < g->window; i++) {
    c->slots[i].index = (uint8_t)i;
    if (g->body != NULL && g->body->kind != BB_FIXED && blen > 0) {
      c->slots[i].body_buf = malloc(blen);
      if (c->slots[i].body_buf == NULL)
        die("malloc");
    }
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
    die("epoll_ctl");
}

static group_t *group_new(const char *name, size_t n, unsigned window) {
  group_t *g = calloc(1, sizeof(*g));
  if (g == NULL)
    die("calloc");
  g->name = name;
  g->n = n;
  g->window = window;
  g->t1 = UINT64_MAX;
  g->clients = calloc(n, sizeof(client_t));
  if (g->clients == NULL)
    die("calloc");
  groups[ngroups++] = g;
  return g;
}

static void group_open(group_t *g) {
  for (size_t i = 0; i < g->n; i++)
    client_open(&g->clients[i], g);
}

/* ---- paths -------------------------------------------------------------- */

static int encode_path(const char *path, long observe, long cf, long accept,
                       bc_optv_t *out) {
  bc_opts_t o;
  if (bc_opts_init(&o, path, observe, cf, accept) < 0) {
    fprintf(stderr, "edgecoap-bench: cannot encode path '%s'\n", path);
    return -1;
  }
  uint8_t *p = malloc(o.len ? o.len : 1);
  if (p == NULL)
    die("malloc");
  memcpy(p, o.buf, o.len);
  out->p = p;
  out->len = o.len;
  out->last = o.last;
  return 0;
}

static int load_paths(const char *file, long cf, long accept, bc_optv_t **out,
                      size_t *n) {
  FILE *f = fopen(file, "r");
  if (f == NULL) {
    perror(file);
    return -1;
  }
  size_t cap = 1024, count = 0;
  bc_optv_t *v = malloc(cap * sizeof(*v));
  char line[2048];
  while (v != NULL && fgets(line, sizeof(line), f) != NULL) {
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0' || line[0] == '#')
      continue;
    if (count == cap) {
      bc_optv_t *p = realloc(v, 2 * cap * sizeof(*v));
      if (p == NULL)
        break;
      v = p;
      cap *= 2;
    }
    if (encode_path(line, BC_ABSENT, cf, accept, &v[count]) < 0) {
      fclose(f);
      return -1;
    }
    count++;
  }
  fclose(f);
  if (v == NULL || count == 0) {
    fprintf(stderr, "edgecoap-bench: no paths in %s\n", file);
    return -1;
  }
  *out = v;
  *n = count;
  return 0;
}

/* ---- exchanges ---------------------------------------------------------- */

static size_t block_size(unsigned szx) { return (size_t)1 << (szx + 4); }

static void transmit(client_t *c, slot_t *s) {
  ssize_t n = send(c->fd, s->pkt, s->pkt_len, 0);
  if (n < 0 && errno != ECONNREFUSED)
    c->g->st.send_errors++; /* the retransmission timer will try again */
}

/* Build and send the next datagram of the slot's exchange (a new MID). */
static void send_step(client_t *c, slot_t *s, uint64_t now) {
  group_t *g = c->g;
  uint8_t token[TOKEN_LEN] = {s->index, (uint8_t)(s->seq >> 16),
                              (uint8_t)(s->seq >> 8), (uint8_t)s->seq};
  size_t bs = block_size(cfg.szx);
  bc_block_t b1, b2;
  const bc_block_t *pb1 = NULL, *pb2 = NULL;
  const uint8_t *payload = NULL;
  size_t plen = 0;
  long size1 = -1;

  if (s->b2num > 0) {
    b2 = (bc_block_t){s->b2num, 0, s->b2szx};
    pb2 = &b2;
    if (g->method == 5 && s->body_len <= bs) { /* FETCH repeats its body */
      payload = s->body;
      plen = s->body_len;
    }
  } else if (s->body_len > bs) {
    b1 = (bc_block_t){(uint32_t)(s->body_off / bs),
                      s->body_off + bs < s->body_len, cfg.szx};
    pb1 = &b1;
    payload = s->body + s->body_off;
    plen = s->body_len - s->body_off < bs ? s->body_len - s->body_off : bs;
    if (s->body_off == 0)
      size1 = (long)s->body_len;
  } else {
    payload = s->body;
    plen = s->body_len;
  }
  s->block_len = plen;
  s->mid = c->next_mid++;
  /* Until the server has verified this address (RFC 9175 section 2.4), each
   * request carries the Echo value it was challenged with. */
  size_t echo_len = c->verified ? 0 : c->echo_len;
  long len = bc_build(s->pkt, sizeof(s->pkt), BC_CON, g->method, s->mid, token,
                      TOKEN_LEN, &g->paths[s->path], pb2, pb1, size1, c->echo,
                      echo_len, payload, plen);
  if (len < 0) {
    fprintf(stderr, "edgecoap-bench: a request does not fit a datagram\n");
    exit(2);
  }
  s->pkt_len = (uint16_t)len;
  s->acked = 0;
  s->retries = 0;
  s->rto = (uint64_t)cfg.timeout_ms * 1000000ull;
  s->rto += s->rto / 2 * (bh_rand64(&rng) % 1024) / 1024; /* ACK_RANDOM_FACTOR 1.5 */
  s->deadline = now + s->rto;
  transmit(c, s);
}

static void start_exchange(client_t *c, slot_t *s, uint64_t now) {
  group_t *g = c->g;
  uint64_t n = g->issued++;
  s->busy = 1;
  s->n = n;
  if (!g->reuse_token)
    s->seq = c->next_seq++ & 0xffffff;
  s->path = g->npaths > 1 ? (size_t)(n % g->npaths) : 0;
  s->body = bb_make(g->body, n, s->body_buf, bb_max_len(g->body),
                    &s->body_len);
  s->body_off = 0;
  s->b2num = 0;
  s->echoed = 0;
  s->t_first = now;
  send_step(c, s, now);
}

static int may_start(group_t *g) {
  return !g->stopping && (g->limit == 0 || g->issued < g->limit);
}

static void finish(client_t *c, slot_t *s, int code, uint64_t now) {
  group_t *g = c->g;
  s->busy = 0;
  if (now >= g->t0 && now < g->t1) {
    g->st.completed++;
    if (code >= 0) {
      g->st.codes[code & 0xff]++;
      if (BC_CLASS(code) == 2) {
        g->st.ok++;
        bh_add(&g->st.hist, now - s->t_first);
      }
    }
    g->t_last_done = now;
  }
  if (g->oneshot) {
    g->active--;
    while (g->active < g->concurrency && g->next_start < g->n &&
           may_start(g)) {
      client_t *nc = &g->clients[g->next_start++];
      g->active++;
      start_exchange(nc, &nc->slots[0], now);
    }
  } else if (may_start(g)) {
    start_exchange(c, s, now);
  }
}

static void group_start(group_t *g) {
  uint64_t now = bh_now_ns();
  if (g->oneshot) {
    while (g->active < g->concurrency && g->next_start < g->n) {
      client_t *c = &g->clients[g->next_start++];
      g->active++;
      start_exchange(c, &c->slots[0], now);
    }
    return;
  }
  for (unsigned w = 0; w < g->window; w++)
    for (size_t i = 0; i < g->n && may_start(g); i++)
      start_exchange(&g->clients[i], &g->clients[i].slots[w], now);
}

static void send_empty(client_t *c, int type, uint16_t mid) {
  uint8_t pkt[4];
  long len = bc_build(pkt, sizeof(pkt), type, 0, mid, NULL, 0, NULL, NULL,
                      NULL, -1, NULL, 0, NULL, 0);
  if (len > 0 && send(c->fd, pkt, (size_t)len, 0) < 0 && errno != ECONNREFUSED)
    c->g->st.send_errors++;
}

/* A final or intermediate answer to the slot's current datagram. */
static void on_answer(client_t *c, slot_t *s, const bc_msg_t *m,
                      uint64_t now) {
  group_t *g = c->g;
  size_t bs = block_size(cfg.szx);
  /* An Echo challenge: repeat the request once with the value, as libcoap's
   * coap-client and the project's clients do. The exchange's latency counts
   * from its first datagram, so the extra round trip is in the figures. */
  if (m->code == BC_CODE(4, 1) && m->echo_len > 0 &&
      m->echo_len <= sizeof(c->echo) && !s->echoed) {
    memcpy(c->echo, m->echo, m->echo_len);
    c->echo_len = m->echo_len;
    c->verified = 0;
    s->echoed = 1;
    send_step(c, s, now);
    return;
  }
  if (BC_CLASS(m->code) == 2 && c->echo_len > 0)
    c->verified = 1;
  if (m->code == BC_CODE(2, 31) && s->body_len > bs && s->b2num == 0) {
    s->body_off += s->block_len;
    if (s->body_off < s->body_len) {
      send_step(c, s, now);
      return;
    }
  }
  int follow = g->follow_block2 >= 0 ? g->follow_block2
                                     : (g->method == 1 || g->method == 5);
  if (BC_CLASS(m->code) == 2 && m->has_block2 && m->block2.more && follow) {
    s->b2num = m->block2.num + 1;
    s->b2szx = m->block2.szx;
    send_step(c, s, now);
    return;
  }
  if (g == c->g && m->observe != BC_ABSENT && BC_CLASS(m->code) == 2) {
    memcpy(c->obs_token, m->token, TOKEN_LEN);
    c->observing = 1;
    c->obs_last = m->observe;
  }
  finish(c, s, m->code, now);
}

static slot_t *slot_by_token(client_t *c, const bc_msg_t *m) {
  if (m->tkl != TOKEN_LEN || m->token[0] >= c->g->window)
    return NULL;
  slot_t *s = &c->slots[m->token[0]];
  uint32_t seq = (uint32_t)m->token[1] << 16 | (uint32_t)m->token[2] << 8 |
                 m->token[3];
  return s->busy && s->seq == seq ? s : NULL;
}

static slot_t *slot_by_mid(client_t *c, uint16_t mid) {
  for (unsigned i = 0; i < c->g->window; i++)
    if (c->slots[i].busy && c->slots[i].mid == mid)
      return &c->slots[i];
  return NULL;
}

static void on_datagram(client_t *c, const uint8_t *buf, size_t len,
                        uint64_t now) {
  group_t *g = c->g;
  bc_msg_t m;
  if (bc_parse(buf, len, &m) < 0) {
    g->st.malformed++;
    return;
  }
  slot_t *s;
  if (m.code == 0) { /* empty ACK or RST */
    s = slot_by_mid(c, m.mid);
    if (s == NULL) {
      g->st.stale++;
    } else if (m.type == BC_RST) {
      g->st.rst++;
      finish(c, s, -1, now);
    } else if (m.type == BC_ACK) {
      s->acked = 1; /* a separate response follows */
      s->deadline = now + SEPARATE_WAIT_NS;
    }
    return;
  }
  if (m.type == BC_ACK) {
    s = slot_by_token(c, &m);
    if (s != NULL && s->mid == m.mid)
      on_answer(c, s, &m, now);
    else
      g->st.stale++;
    return;
  }
  if (m.type == BC_RST)
    return;
  if (m.type == BC_CON)
    send_empty(c, BC_ACK, m.mid);
  if (c->observing && m.observe != BC_ABSENT && m.tkl == TOKEN_LEN &&
      memcmp(m.token, c->obs_token, TOKEN_LEN) == 0) {
    if (m.observe != c->obs_last && !c->notified) {
      c->notified = 1;
      c->t_notified = now;
    }
    c->obs_last = m.observe;
    return;
  }
  s = slot_by_token(c, &m);
  if (s != NULL)
    on_answer(c, s, &m, now); /* a separate response */
  else
    g->st.stale++;
}

static void scan_timeouts(uint64_t now) {
  for (size_t gi = 0; gi < ngroups; gi++) {
    group_t *g = groups[gi];
    for (size_t i = 0; i < g->n; i++) {
      client_t *c = &g->clients[i];
      for (unsigned w = 0; w < g->window; w++) {
        slot_t *s = &c->slots[w];
        if (!s->busy || now < s->deadline)
          continue;
        if (!s->acked && s->retries < cfg.max_retransmit) {
          s->retries++;
          s->rto *= 2;
          s->deadline = now + s->rto;
          g->st.retransmissions++;
          transmit(c, s);
        } else {
          g->st.failed++;
          finish(c, s, -1, now);
        }
      }
    }
  }
}

/* Wait up to @p timeout_ms for datagrams and handle them all. */
static void poll_once(int timeout_ms) {
  struct epoll_event evs[256];
  uint8_t buf[RX_CAP];
  int n = epoll_wait(epfd, evs, 256, timeout_ms);
  if (n < 0 && errno != EINTR)
    die("epoll_wait");
  for (int i = 0; i < n; i++) {
    client_t *c = evs[i].data.ptr;
    for (;;) {
      ssize_t len = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (len < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
          break;
        if (errno == ECONNREFUSED || errno == EINTR)
          continue; /* an ICMP error from an earlier send */
        die("recv");
      }
      on_datagram(c, buf, (size_t)len, bh_now_ns());
    }
  }
  uint64_t now = bh_now_ns();
  if (now >= next_scan) {
    scan_timeouts(now);
    next_scan = now + SCAN_NS;
  }
}

/* Run a oneshot group until every client has had its exchange. */
static double run_oneshot(group_t *g) {
  uint64_t t = bh_now_ns();
  group_start(g);
  while (g->active > 0 || (g->next_start < g->n && may_start(g)))
    poll_once(5);
  return (double)(bh_now_ns() - t) / 1e9;
}

/* ---- output ------------------------------------------------------------- */

static void code_name(int code, char *out, size_t cap) {
  snprintf(out, cap, "%d.%02d", BC_CLASS(code), BC_DETAIL(code));
}

static void print_stats_json(const stats_t *st, double seconds) {
  uint64_t cls[8] = {0};
  for (int i = 0; i < 256; i++)
    cls[BC_CLASS(i)] += st->codes[i];
  printf("\"seconds\":%.3f,\"completed\":%" PRIu64 ",\"ok\":%" PRIu64
         ",\"rps\":%.1f,\"rps_all\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
         "\"p999_us\":%.1f,\"mean_us\":%.1f,\"max_us\":%.1f,"
         "\"class2\":%" PRIu64 ",\"class4\":%" PRIu64 ",\"class5\":%" PRIu64
         ",\"other\":%" PRIu64 ",\"retransmissions\":%" PRIu64
         ",\"failed\":%" PRIu64 ",\"rst\":%" PRIu64 ",\"stale\":%" PRIu64
         ",\"send_errors\":%" PRIu64 ",\"codes\":{",
         seconds, st->completed, st->ok,
         seconds > 0 ? (double)st->ok / seconds : 0,
         seconds > 0 ? (double)st->completed / seconds : 0,
         bh_quantile_us(&st->hist, 0.5), bh_quantile_us(&st->hist, 0.99),
         bh_quantile_us(&st->hist, 0.999),
         st->hist.count ? (double)st->hist.sum_ns / (double)st->hist.count / 1e3
                        : 0,
         (double)st->hist.max_ns / 1e3, cls[2], cls[4], cls[5],
         cls[0] + cls[1] + cls[3] + cls[6] + cls[7], st->retransmissions,
         st->failed, st->rst, st->stale, st->send_errors);
  int first = 1;
  for (int i = 0; i < 256; i++) {
    if (st->codes[i] == 0)
      continue;
    char name[16];
    code_name(i, name, sizeof(name));
    printf("%s\"%s\":%" PRIu64, first ? "" : ",", name, st->codes[i]);
    first = 0;
  }
  printf("}");
}

static void print_stats_text(const stats_t *st, double seconds) {
  uint64_t cls[8] = {0};
  for (int i = 0; i < 256; i++)
    cls[BC_CLASS(i)] += st->codes[i];
  printf("  2.xx answers/s %.1f  (all answers/s %.1f over %.2f s)\n",
         seconds > 0 ? (double)st->ok / seconds : 0,
         seconds > 0 ? (double)st->completed / seconds : 0, seconds);
  printf("  2.xx latency   p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f "
         "ms\n",
         bh_quantile_us(&st->hist, 0.5) / 1e3,
         bh_quantile_us(&st->hist, 0.99) / 1e3,
         bh_quantile_us(&st->hist, 0.999) / 1e3,
         (double)st->hist.max_ns / 1e6);
  printf("  %-8s %12s\n", "class", "answers");
  const char *names[] = {"2.xx", "4.xx", "5.xx"};
  int idx[] = {2, 4, 5};
  for (int i = 0; i < 3; i++)
    printf("  %-8s %12" PRIu64 "\n", names[i], cls[idx[i]]);
  printf("  %-8s %12" PRIu64 "\n", "other",
         cls[0] + cls[1] + cls[3] + cls[6] + cls[7]);
  printf("  codes:");
  for (int i = 0; i < 256; i++) {
    if (st->codes[i] == 0)
      continue;
    char name[16];
    code_name(i, name, sizeof(name));
    printf(" %s=%" PRIu64, name, st->codes[i]);
  }
  printf("\n  retransmissions %" PRIu64 ", gave up %" PRIu64 ", RST %" PRIu64
         ", stale %" PRIu64 ", send errors %" PRIu64 "\n",
         st->retransmissions, st->failed, st->rst, st->stale,
         st->send_errors);
}

/* ---- modes -------------------------------------------------------------- */

static bc_optv_t *single_path(const char *path, long observe, long cf,
                              long accept) {
  bc_optv_t *v = malloc(sizeof(*v));
  if (v == NULL || encode_path(path, observe, cf, accept, v) < 0)
    exit(2);
  return v;
}

/* Leave cfg.idle sessions behind: one GET each, answered, then silence. */
static void make_idle(double *seconds, uint64_t *answered) {
  group_t *g = group_new("idle", cfg.idle, 1);
  g->method = 1;
  g->paths = single_path(cfg.idle_path ? cfg.idle_path : cfg.path, BC_ABSENT,
                         BC_ABSENT, cfg.accept);
  g->npaths = 1;
  static const bb_body_t none = {0};
  g->body = &none;
  g->oneshot = 1;
  g->concurrency = cfg.setup_window;
  g->follow_block2 = 0;
  group_open(g);
  *seconds = run_oneshot(g);
  *answered = g->st.ok;
}

static int mode_load(void) {
  double idle_s = 0;
  uint64_t idle_ok = 0;
  if (cfg.idle > 0)
    make_idle(&idle_s, &idle_ok);

  group_t *g = group_new("load", cfg.clients, cfg.window);
  g->method = cfg.method;
  if (cfg.paths_file != NULL) {
    if (load_paths(cfg.paths_file, cfg.content_format, cfg.accept, &g->paths,
                   &g->npaths) < 0)
      return 2;
  } else {
    g->paths = single_path(cfg.path, BC_ABSENT, cfg.content_format, cfg.accept);
    g->npaths = 1;
  }
  g->body = &cfg.body;
  g->follow_block2 = cfg.follow_block2;
  g->limit = cfg.requests;
  group_open(g);

  uint64_t start = bh_now_ns();
  if (cfg.requests > 0) {
    g->t0 = 0;
    g->t1 = UINT64_MAX;
  } else {
    g->t0 = start + (uint64_t)(cfg.warmup * 1e9);
    g->t1 = g->t0 + (uint64_t)(cfg.duration * 1e9);
  }
  group_start(g);
  for (;;) {
    poll_once(2);
    uint64_t now = bh_now_ns();
    if (cfg.requests > 0) {
      if (g->st.completed >= cfg.requests)
        break;
      /* Every exchange has ended (some gave up) and no more may start. */
      int busy = 0;
      for (size_t i = 0; i < g->n && !busy; i++)
        for (unsigned w = 0; w < g->window; w++)
          busy |= g->clients[i].slots[w].busy;
      if (!busy && !may_start(g))
        break;
    } else if (now >= g->t1) {
      break;
    }
  }
  double seconds = cfg.requests > 0
                       ? (double)(g->t_last_done - start) / 1e9
                       : (double)(g->t1 - g->t0) / 1e9;
  if (cfg.json) {
    printf("{\"mode\":\"load\",\"label\":\"%s\",\"method\":\"%s\","
           "\"clients\":%u,\"window\":%u,\"idle\":%u,\"idle_answered\":%"
           PRIu64 ",\"idle_seconds\":%.3f,",
           cfg.label ? cfg.label : "", cfg.method_name, cfg.clients,
           cfg.window, cfg.idle, idle_ok, idle_s);
    print_stats_json(&g->st, seconds);
    printf("}\n");
  } else {
    printf("edgecoap-bench: %s %s%s on %s port %s: %u clients x window %u\n",
           cfg.method_name, cfg.paths_file ? "paths of " : "",
           cfg.paths_file ? cfg.paths_file : cfg.path, cfg.host, cfg.port,
           cfg.clients, cfg.window);
    if (cfg.idle > 0)
      printf("  idle sessions  %" PRIu64 " of %u answered in %.2f s\n",
             idle_ok, cfg.idle, idle_s);
    print_stats_text(&g->st, seconds);
  }
  return g->st.ok > 0 ? 0 : 1;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int mode_observe(void) {
  static const bb_body_t none = {0};
  group_t *obs = group_new("observers", cfg.observe, 1);
  obs->method = 1;
  obs->paths = single_path(cfg.path, 0, BC_ABSENT, cfg.accept);
  obs->npaths = 1;
  obs->body = &none;
  obs->oneshot = 1;
  obs->concurrency = cfg.setup_window;
  obs->follow_block2 = 0;
  group_open(obs);
  double reg_s = run_oneshot(obs);
  size_t registered = 0;
  for (size_t i = 0; i < obs->n; i++)
    registered += obs->clients[i].observing;

  group_t *trig = group_new("trigger", 1, 1);
  trig->method = cfg.trigger_method;
  trig->paths = single_path(cfg.trigger_path ? cfg.trigger_path : cfg.path,
                            BC_ABSENT, cfg.trigger_cf, BC_ABSENT);
  trig->npaths = 1;
  trig->body = &cfg.trigger_body;
  trig->oneshot = 1;
  trig->concurrency = 1;
  trig->follow_block2 = 0;
  group_open(trig);

  /* Per round, from the trigger's answer (signed: a notification may come
   * before a separate answer) and from the trigger's first datagram. */
  double *lat = malloc((registered ? registered : 1) * sizeof(double));
  double last_ms[64], last_req_ms[64], p50_req_ms[64], answer_ms[64];
  size_t notified[64];
  int trig_code[64];
  unsigned rounds = cfg.triggers < 64 ? cfg.triggers : 64;
  if (lat == NULL)
    die("malloc");
  for (unsigned r = 0; r < rounds; r++) {
    for (size_t i = 0; i < obs->n; i++)
      obs->clients[i].notified = 0;
    trig->next_start = 0;
    trig->st.completed = 0;
    memset(trig->st.codes, 0, sizeof(trig->st.codes));
    uint64_t t_send = bh_now_ns();
    group_start(trig);
    uint64_t limit = t_send + (uint64_t)(cfg.observe_timeout * 1e9);
    size_t got = 0;
    while (bh_now_ns() < limit) {
      poll_once(2);
      got = 0;
      for (size_t i = 0; i < obs->n; i++)
        got += obs->clients[i].notified;
      if (trig->active == 0 && got >= registered)
        break;
    }
    uint64_t t_ans = trig->t_last_done;
    trig_code[r] = -1;
    for (int i = 0; i < 256; i++)
      if (trig->st.codes[i])
        trig_code[r] = i;
    size_t k = 0;
    uint64_t t_last = t_send;
    for (size_t i = 0; i < obs->n; i++) {
      client_t *c = &obs->clients[i];
      if (!c->notified)
        continue;
      lat[k++] = (double)(c->t_notified - t_send) / 1e6;
      if (c->t_notified > t_last)
        t_last = c->t_notified;
    }
    qsort(lat, k, sizeof(double), cmp_double);
    notified[r] = k;
    answer_ms[r] = (double)((int64_t)(t_ans - t_send)) / 1e6;
    last_req_ms[r] = k ? (double)(t_last - t_send) / 1e6 : 0;
    last_ms[r] = k ? (double)((int64_t)(t_last - t_ans)) / 1e6 : 0;
    p50_req_ms[r] = k ? lat[k / 2] : 0;
    /* Let CON notifications be acknowledged and the server settle. */
    uint64_t settle = bh_now_ns() + (uint64_t)(cfg.trigger_gap * 1e9);
    while (bh_now_ns() < settle)
      poll_once(2);
  }

  double dereg_s = 0;
  if (!cfg.no_deregister) {
    /* Observe 1 with the registration's token ends each observation. */
    group_t *d = group_new("deregister", cfg.observe, 1);
    d->method = 1;
    d->paths = single_path(cfg.path, 1, BC_ABSENT, cfg.accept);
    d->npaths = 1;
    d->body = &none;
    d->oneshot = 1;
    d->reuse_token = 1;
    d->concurrency = cfg.setup_window;
    d->follow_block2 = 0;
    /* Reuse the observers' sockets: same source port, same session. */
    for (size_t i = 0; i < obs->n; i++) {
      client_t *c = &d->clients[i];
      *c = obs->clients[i];
      c->g = d;
      c->observing = 0;
      c->slots[0].seq = (uint32_t)c->obs_token[1] << 16 |
                        (uint32_t)c->obs_token[2] << 8 | c->obs_token[3];
      struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
      epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    }
    obs->n = 0;
    dereg_s = run_oneshot(d);
  }

  double sorted[64], sorted_req[64];
  memcpy(sorted, last_ms, rounds * sizeof(double));
  memcpy(sorted_req, last_req_ms, rounds * sizeof(double));
  qsort(sorted, rounds, sizeof(double), cmp_double);
  qsort(sorted_req, rounds, sizeof(double), cmp_double);
  double median = rounds ? sorted[(rounds - 1) / 2] : 0;
  double worst = rounds ? sorted[rounds - 1] : 0;
  double median_req = rounds ? sorted_req[(rounds - 1) / 2] : 0;
  double worst_req = rounds ? sorted_req[rounds - 1] : 0;
  size_t least = registered;
  for (unsigned r = 0; r < rounds; r++)
    if (notified[r] < least)
      least = notified[r];
  if (cfg.json) {
    printf("{\"mode\":\"observe\",\"label\":\"%s\",\"observers\":%u,"
           "\"registered\":%zu,\"register_seconds\":%.3f,"
           "\"deregister_seconds\":%.3f,\"last_ms_median\":%.3f,"
           "\"last_ms_max\":%.3f,\"last_from_request_ms_median\":%.3f,"
           "\"last_from_request_ms_max\":%.3f,\"least_notified\":%zu,"
           "\"rounds\":[",
           cfg.label ? cfg.label : "", cfg.observe, registered, reg_s,
           dereg_s, median, worst, median_req, worst_req, least);
    for (unsigned r = 0; r < rounds; r++) {
      char name[16] = "none";
      if (trig_code[r] >= 0)
        code_name(trig_code[r], name, sizeof(name));
      printf("%s{\"trigger\":\"%s\",\"notified\":%zu,\"answer_ms\":%.3f,"
             "\"last_ms\":%.3f,\"last_from_request_ms\":%.3f,"
             "\"p50_from_request_ms\":%.3f}",
             r ? "," : "", name, notified[r], answer_ms[r], last_ms[r],
             last_req_ms[r], p50_req_ms[r]);
    }
    printf("],\"register\":{");
    print_stats_json(&obs->st, reg_s);
    printf("}}\n");
  } else {
    printf("edgecoap-bench: %u observers of %s on %s port %s\n", cfg.observe,
           cfg.path, cfg.host, cfg.port);
    printf("  registered %zu in %.2f s (codes:", registered, reg_s);
    for (int i = 0; i < 256; i++) {
      char name[16];
      code_name(i, name, sizeof(name));
      if (obs->st.codes[i])
        printf(" %s=%" PRIu64, name, obs->st.codes[i]);
    }
    printf(")\n");
    for (unsigned r = 0; r < rounds; r++) {
      char name[16] = "none";
      if (trig_code[r] >= 0)
        code_name(trig_code[r], name, sizeof(name));
      printf("  trigger %u (%s after %.1f ms): %zu notified; from the request: "
             "p50 %.1f ms, last %.1f ms; last from the answer %.1f ms\n",
             r + 1, name, answer_ms[r], notified[r], p50_req_ms[r],
             last_req_ms[r], last_ms[r]);
    }
    printf("  last notification from the answer: median %.1f ms, worst %.1f "
           "ms; from the request: median %.1f ms, worst %.1f ms\n",
           median, worst, median_req, worst_req);
  }
  free(lat);
  return registered > 0 && least == registered ? 0 : 1;
}

/* ---- command line ------------------------------------------------------- */

static void usage(FILE *out) {
  fprintf(out,
      "Usage: edgecoap-bench [OPTIONS]\n"
      "\n"
      "Drive a CoAP server over UDP with many client endpoints and report\n"
      "answers per second and latency percentiles of the 2.xx answers.\n"
      "\n"
      "Target and request:\n"
      "  --host H                 server address (default 127.0.0.1)\n"
      "  --port P                 server UDP port (default 5683)\n"
      "  --method M               GET, POST, PUT, DELETE or FETCH (default GET)\n"
      "  --path P                 path with optional ?query (default /)\n"
      "  --paths FILE             one path per line, used in turn\n"
      "  --content-format N       Content-Format of the body\n"
      "  --accept N               Accept option\n"
      "  --body-file F            the body, the same for every request\n"
      "  --body-template F        the body with every %%d replaced by a counter\n"
      "  --gen-messages B:M:P[:S] bodies of B ON-API status messages, message i\n"
      "                           (from S) having orderId P-(i mod M)\n"
      "  --block-szx N            Block1 size exponent (default 6: 1024 bytes)\n"
      "  --follow-block2 0|1      fetch the rest of a Block2 answer (default: GET,\n"
      "                           FETCH yes; POST, PUT no)\n"
      "\n"
      "Load:\n"
      "  --clients N              client endpoints (UDP sockets), default 64\n"
      "  --window W               CON exchanges in flight per endpoint, default 2\n"
      "  --duration S             measured seconds (default 5)\n"
      "  --warmup S               unmeasured seconds first (default 1)\n"
      "  --requests N             run N exchanges instead of a duration\n"
      "  --timeout-ms MS          ACK_TIMEOUT (default 2000); counted retransmits\n"
      "  --max-retransmit N       then give up (default 4)\n"
      "  --idle N                 first leave N idle sessions (one GET each)\n"
      "  --idle-path P            path of those GETs (default --path)\n"
      "  --setup-window N         idle/observe set-up exchanges in flight (100)\n"
      "\n"
      "Observe:\n"
      "  --observe N              register N observers of --path (N sockets)\n"
      "  --triggers K             writes that each must reach them all (3)\n"
      "  --trigger-method M       (default POST)  --trigger-path P (default --path)\n"
      "  --trigger-content-format N  --trigger-body-template F\n"
      "  --observe-timeout S      wait per trigger (default 10)\n"
      "  --trigger-gap S          pause between triggers (default 0.5)\n"
      "  --no-deregister          leave the observations in place\n"
      "\n"
      "Output:\n"
      "  --json                   one JSON object on standard output\n"
      "  --label L                copied into the JSON\n"
      "  --free-port              print a free UDP port of --host and exit\n"
      "  -h, --help\n"
      "\n"
      "Exit status: 0 when 2.xx answers arrived, 1 when none did, 2 on errors.\n");
}

static int free_port(void) {
  int fd = socket(server_addr.ss_family, SOCK_DGRAM, 0);
  if (fd < 0)
    die("socket");
  struct sockaddr_storage a = server_addr;
  if (a.ss_family == AF_INET)
    ((struct sockaddr_in *)&a)->sin_port = 0;
  else
    ((struct sockaddr_in6 *)&a)->sin6_port = 0;
  socklen_t len = server_len;
  if (bind(fd, (struct sockaddr *)&a, len) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) < 0)
    die("bind");
  printf("%u\n", ntohs(a.ss_family == AF_INET
                           ? ((struct sockaddr_in *)&a)->sin_port
                           : ((struct sockaddr_in6 *)&a)->sin6_port));
  close(fd);
  return 0;
}

static long parse_num(const char *name, const char *v, double min,
                      double max) {
  char *end;
  double d = strtod(v, &end);
  if (*v == '\0' || *end != '\0' || d < min || d > max || d != floor(d)) {
    fprintf(stderr, "edgecoap-bench: --%s wants an integer from %.0f to %.0f\n",
            name, min, max);
    exit(2);
  }
  return (long)d;
}

static double parse_seconds(const char *name, const char *v) {
  char *end;
  double d = strtod(v, &end);
  if (*v == '\0' || *end != '\0' || d < 0 || d > 86400) {
    fprintf(stderr, "edgecoap-bench: --%s wants seconds\n", name);
    exit(2);
  }
  return d;
}

enum {
  O_HOST = 256, O_PORT, O_CLIENTS, O_WINDOW, O_METHOD, O_PATH, O_PATHS, O_CF,
  O_ACCEPT, O_BODY_FILE, O_BODY_TEMPLATE, O_GEN, O_SZX, O_FOLLOW, O_DURATION,
  O_WARMUP, O_REQUESTS, O_TIMEOUT, O_MAXRT, O_IDLE, O_IDLE_PATH, O_SETUP,
  O_OBSERVE, O_TRIGGERS, O_TMETHOD, O_TPATH, O_TCF, O_TBODY, O_OTIMEOUT,
  O_TGAP, O_NODEREG, O_JSON, O_LABEL, O_FREEPORT
};

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"host", required_argument, NULL, O_HOST},
      {"port", required_argument, NULL, O_PORT},
      {"clients", required_argument, NULL, O_CLIENTS},
      {"window", required_argument, NULL, O_WINDOW},
      {"method", required_argument, NULL, O_METHOD},
      {"path", required_argument, NULL, O_PATH},
      {"paths", required_argument, NULL, O_PATHS},
      {"content-format", required_argument, NULL, O_CF},
      {"accept", required_argument, NULL, O_ACCEPT},
      {"body-file", required_argument, NULL, O_BODY_FILE},
      {"body-template", required_argument, NULL, O_BODY_TEMPLATE},
      {"gen-messages", required_argument, NULL, O_GEN},
      {"block-szx", required_argument, NULL, O_SZX},
      {"follow-block2", required_argument, NULL, O_FOLLOW},
      {"duration", required_argument, NULL, O_DURATION},
      {"warmup", required_argument, NULL, O_WARMUP},
      {"requests", required_argument, NULL, O_REQUESTS},
      {"timeout-ms", required_argument, NULL, O_TIMEOUT},
      {"max-retransmit", required_argument, NULL, O_MAXRT},
      {"idle", required_argument, NULL, O_IDLE},
      {"idle-path", required_argument, NULL, O_IDLE_PATH},
      {"setup-window", required_argument, NULL, O_SETUP},
      {"observe", required_argument, NULL, O_OBSERVE},
      {"triggers", required_argument, NULL, O_TRIGGERS},
      {"trigger-method", required_argument, NULL, O_TMETHOD},
      {"trigger-path", required_argument, NULL, O_TPATH},
      {"trigger-content-format", required_argument, NULL, O_TCF},
      {"trigger-body-template", required_argument, NULL, O_TBODY},
      {"observe-timeout", required_argument, NULL, O_OTIMEOUT},
      {"trigger-gap", required_argument, NULL, O_TGAP},
      {"no-deregister", no_argument, NULL, O_NODEREG},
      {"json", no_argument, NULL, O_JSON},
      {"label", required_argument, NULL, O_LABEL},
      {"free-port", no_argument, NULL, O_FREEPORT},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};

  cfg = (cfg_t){.host = "127.0.0.1", .port = "5683", .clients = 64,
                .window = 2, .method = 1, .method_name = "GET", .path = "/",
                .content_format = BC_ABSENT, .accept = BC_ABSENT,
                .duration = 5, .warmup = 1, .timeout_ms = 2000,
                .max_retransmit = 4, .szx = 6, .follow_block2 = -1,
                .setup_window = 100, .triggers = 3, .observe_timeout = 10,
                .trigger_gap = 0.5, .trigger_method = 2,
                .trigger_cf = BC_ABSENT};
  int want_free_port = 0, c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    const char *name = c >= O_HOST ? opts[c - O_HOST].name : "";
    switch (c) {
    case O_HOST: cfg.host = optarg; break;
    case O_PORT: cfg.port = optarg; break;
    case O_CLIENTS: cfg.clients = (unsigned)parse_num(name, optarg, 1, 1e6); break;
    case O_WINDOW:
      cfg.window = (unsigned)parse_num(name, optarg, 1, MAX_WINDOW);
      break;
    case O_METHOD:
      if ((cfg.method = bc_method(optarg)) == 0) {
        fprintf(stderr, "edgecoap-bench: unknown method %s\n", optarg);
        return 2;
      }
      cfg.method_name = optarg;
      break;
    case O_PATH: cfg.path = optarg; break;
    case O_PATHS: cfg.paths_file = optarg; break;
    case O_CF: cfg.content_format = parse_num(name, optarg, 0, 65535); break;
    case O_ACCEPT: cfg.accept = parse_num(name, optarg, 0, 65535); break;
    case O_BODY_FILE:
      if (bb_load(&cfg.body, BB_FIXED, optarg) < 0)
        return 2;
      break;
    case O_BODY_TEMPLATE:
      if (bb_load(&cfg.body, BB_TEMPLATE, optarg) < 0)
        return 2;
      break;
    case O_GEN:
      if (bb_messages(&cfg.body, optarg) < 0)
        return 2;
      break;
    case O_SZX: cfg.szx = (unsigned)parse_num(name, optarg, 0, 6); break;
    case O_FOLLOW: cfg.follow_block2 = (int)parse_num(name, optarg, 0, 1); break;
    case O_DURATION: cfg.duration = parse_seconds(name, optarg); break;
    case O_WARMUP: cfg.warmup = parse_seconds(name, optarg); break;
    case O_REQUESTS:
      cfg.requests = (uint64_t)parse_num(name, optarg, 1, 1e12);
      break;
    case O_TIMEOUT:
      cfg.timeout_ms = (unsigned)parse_num(name, optarg, 1, 600000);
      break;
    case O_MAXRT:
      cfg.max_retransmit = (unsigned)parse_num(name, optarg, 0, 20);
      break;
    case O_IDLE: cfg.idle = (unsigned)parse_num(name, optarg, 0, 1e6); break;
    case O_IDLE_PATH: cfg.idle_path = optarg; break;
    case O_SETUP:
      cfg.setup_window = (unsigned)parse_num(name, optarg, 1, 1e6);
      break;
    case O_OBSERVE:
      cfg.observe = (unsigned)parse_num(name, optarg, 1, 1e6);
      break;
    case O_TRIGGERS:
      cfg.triggers = (unsigned)parse_num(name, optarg, 1, 64);
      break;
    case O_TMETHOD:
      if ((cfg.trigger_method = bc_method(optarg)) == 0) {
        fprintf(stderr, "edgecoap-bench: unknown method %s\n", optarg);
        return 2;
      }
      break;
    case O_TPATH: cfg.trigger_path = optarg; break;
    case O_TCF: cfg.trigger_cf = parse_num(name, optarg, 0, 65535); break;
    case O_TBODY:
      if (bb_load(&cfg.trigger_body, BB_TEMPLATE, optarg) < 0)
        return 2;
      break;
    case O_OTIMEOUT: cfg.observe_timeout = parse_seconds(name, optarg); break;
    case O_TGAP: cfg.trigger_gap = parse_seconds(name, optarg); break;
    case O_NODEREG: cfg.no_deregister = 1; break;
    case O_JSON: cfg.json = 1; break;
    case O_LABEL: cfg.label = optarg; break;
    case O_FREEPORT: want_free_port = 1; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "edgecoap-bench: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (resolve(cfg.host, cfg.port) < 0)
    return 2;
  if (want_free_port)
    return free_port();
  rng ^= bh_now_ns() ^ (uint64_t)getpid() << 32;
  epfd = epoll_create1(0);
  if (epfd < 0)
    die("epoll_create1");
  next_scan = bh_now_ns() + SCAN_NS;
  return cfg.observe > 0 ? mode_observe() : mode_load();
}
