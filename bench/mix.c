/* edgecoap-mix: an open-loop CoAP load of several kinds of request at fixed
 * rates from many source addresses. */
/* SPDX-License-Identifier: Apache-2.0 */

/*
 * Unlike edgecoap-bench, which keeps windows full (closed loop: a slow
 * answer slows the load down), this sends each kind of request at its own
 * rate whatever the server does (open loop), as a fleet of devices does,
 * and times each request from the moment it was due, so a server that
 * falls behind shows in the latencies instead of hiding in a lower rate.
 *
 * Each endpoint is a UDP socket bound to an address of its own on loopback
 * (127.S.x.y, counting from --source-net): a proxy that hashes the client's
 * address (nginx's `hash $remote_addr`) spreads them over its nodes as it
 * would spread devices. Requests of a kind go to the endpoints in turn.
 * Every endpoint first does one exchange of --prime (unmeasured), so that
 * nginx's and the server's sessions exist and the server has verified the
 * address (an Echo challenge, RFC 9175) before the measurement.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "body.h"
#include "coapmin.h"
#include "hist.h"

#define TOKEN_LEN 4
#define PKT_CAP 1152
#define RX_CAP 2048
#define SLOTS 4 /* requests in flight per endpoint */
#define MAX_KINDS 8
#define OPT_AUTH_TOKEN 65000u /* the provisioning API's session token */
#define SEPARATE_WAIT_NS 30000000000ull

typedef struct {
  char name[32];
  double rate;
  uint8_t method;
  char path[512];
  long cf, accept;
  bb_body_t body;
  uint8_t auth[64];
  size_t auth_len;
  int per_endpoint; /* the path has %e: one set of options per endpoint */
  bc_optv_t *opts;  /* one, or one per endpoint */
  uint64_t issued, next_ns;
  uint8_t *body_buf;
  /* measured requests: those due in [t0, t1) */
  uint64_t sent, ok, codes[256], retransmissions, lost, skipped, unfinished;
  bh_hist_t hist;
} kind_t;

typedef struct {
  uint8_t busy, acked, retries, echoed, measured;
  uint8_t kind;
  uint16_t mid;
  uint32_t seq;
  uint64_t t_due, deadline, rto, n;
  uint16_t pkt_len;
  uint8_t pkt[PKT_CAP];
} slot_t;

typedef struct {
  int fd;
  uint16_t next_mid;
  uint32_t next_seq;
  uint8_t echo[BC_ECHO_CAP];
  size_t echo_len;
  int verified, busy;
  slot_t slots[SLOTS];
} endpoint_t;

static struct {
  const char *host, *port, *source_net, *label, *prime;
  unsigned endpoints, timeout_ms, max_retransmit, prime_window;
  double duration, warmup, drain;
  int poisson, json;
} cfg;

static kind_t kinds[MAX_KINDS];
static size_t nkinds;
static endpoint_t *eps;
static int epfd, tfd;
static struct sockaddr_in server;
static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t t0, t1, late_max, stale, send_errors;
static uint64_t inflight,
    unmeasured_ok; /* requests in flight; 2.xx of the priming */

static void die(const char *what) {
  fprintf(stderr, "edgecoap-mix: %s: %s\n", what, strerror(errno));
  exit(2);
}

/* The gap to the next request of @p k: even, or exponential (Poisson). */
static uint64_t gap_ns(const kind_t *k) {
  double mean = 1e9 / k->rate;
  if (!cfg.poisson)
    return (uint64_t)mean;
  double u = ((double)(bh_rand64(&rng) >> 11) + 0.5) / 9007199254740992.0;
  return (uint64_t)(-log(u) * mean);
}

/* ---- set-up ------------------------------------------------------------- */

static int parse_hex(const char *s, uint8_t *out, size_t cap, size_t *len) {
  size_t n = strlen(s);
  if (n % 2 != 0 || n / 2 > cap)
    return -1;
  for (size_t i = 0; i < n / 2; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1)
      return -1;
    out[i] = (uint8_t)v;
  }
  *len = n / 2;
  return 0;
}

/* "name=N,rate=R,method=M,path=P[,cf=N][,accept=N][,body=F|template=F]
 * [,auth=HEX]" */
static int parse_kind(char *spec) {
  if (nkinds == MAX_KINDS) {
    fprintf(stderr, "edgecoap-mix: at most %d kinds\n", MAX_KINDS);
    return -1;
  }
  kind_t *k = &kinds[nkinds];
  memset(k, 0, sizeof(*k));
  k->cf = k->accept = BC_ABSENT;
  k->method = 1;
  for (char *save = NULL, *kv = strtok_r(spec, ",", &save); kv != NULL;
       kv = strtok_r(NULL, ",", &save)) {
    char *v = strchr(kv, '=');
    if (v == NULL)
      goto bad;
    *v++ = '\0';
    if (strcmp(kv, "name") == 0)
      snprintf(k->name, sizeof(k->name), "%s", v);
    else if (strcmp(kv, "rate") == 0)
      k->rate = strtod(v, NULL);
    else if (strcmp(kv, "method") == 0)
      k->method = bc_method(v);
    else if (strcmp(kv, "path") == 0)
      snprintf(k->path, sizeof(k->path), "%s", v);
    else if (strcmp(kv, "cf") == 0)
      k->cf = strtol(v, NULL, 10);
    else if (strcmp(kv, "accept") == 0)
      k->accept = strtol(v, NULL, 10);
    else if (strcmp(kv, "body") == 0) {
      if (bb_load(&k->body, BB_FIXED, v) < 0)
        return -1;
    } else if (strcmp(kv, "template") == 0) {
      if (bb_load(&k->body, BB_TEMPLATE, v) < 0)
        return -1;
    } else if (strcmp(kv, "auth") == 0) {
      if (parse_hex(v, k->auth, sizeof(k->auth), &k->auth_len) < 0)
        goto bad;
    } else
      goto bad;
  }
  if (k->name[0] == '\0' || k->path[0] == '\0' || k->method == 0 ||
      !(k->rate >= 0))
    goto bad;
  if (bb_max_len(&k->body) > 1000) {
    fprintf(stderr, "edgecoap-mix: kind %s: bodies must fit one datagram\n",
            k->name);
    return -1;
  }
  nkinds++;
  return 0;
bad:
  fprintf(stderr, "edgecoap-mix: a --kind wants name=,rate=,method=,path= and "
                  "optionally cf=,accept=,body= or template=,auth=HEX\n");
  return -1;
}

/* The path of kind @p k for endpoint @p e: every %e becomes e. */
static void kind_path(const kind_t *k, size_t e, char *out, size_t cap) {
  size_t o = 0;
  for (const char *p = k->path; *p != '\0' && o + 24 < cap; p++) {
    if (p[0] == '%' && p[1] == 'e') {
      o += (size_t)snprintf(out + o, cap - o, "%zu", e);
      p++;
    } else {
      out[o++] = *p;
    }
  }
  out[o] = '\0';
}

static void kind_open(kind_t *k) {
  k->per_endpoint = strstr(k->path, "%e") != NULL;
  size_t n = k->per_endpoint ? cfg.endpoints : 1;
  k->opts = calloc(n, sizeof(*k->opts));
  k->body_buf = malloc(bb_max_len(&k->body) + 1);
  if (k->opts == NULL || k->body_buf == NULL)
    die("calloc");
  for (size_t e = 0; e < n; e++) {
    char path[600];
    bc_opts_t o;
    kind_path(k, e, path, sizeof(path));
    if (bc_opts_init(&o, path, BC_ABSENT, k->cf, k->accept) < 0) {
      fprintf(stderr, "edgecoap-mix: cannot encode path '%s'\n", path);
      exit(2);
    }
    uint8_t *p = malloc(o.len ? o.len : 1);
    if (p == NULL)
      die("malloc");
    memcpy(p, o.buf, o.len);
    k->opts[e] = (bc_optv_t){p, o.len, o.last};
  }
  bh_reset(&k->hist);
}

static void endpoints_open(void) {
  struct in_addr base;
  if (inet_pton(AF_INET, cfg.source_net, &base) != 1) {
    fprintf(stderr, "edgecoap-mix: --source-net wants an IPv4 address\n");
    exit(2);
  }
  eps = calloc(cfg.endpoints, sizeof(*eps));
  if (eps == NULL)
    die("calloc");
  for (unsigned i = 0; i < cfg.endpoints; i++) {
    endpoint_t *e = &eps[i];
    /* 250 addresses per /24, none ending in .0 or .255. */
    uint32_t a = ntohl(base.s_addr) + (i / 250) * 256 + 1 + i % 250;
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(a)};
    e->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (e->fd < 0)
      die("socket (raise ulimit -n?)");
    if (bind(e->fd, (struct sockaddr *)&src, sizeof(src)) < 0)
      die("bind to a loopback source address");
    if (connect(e->fd, (struct sockaddr *)&server, sizeof(server)) < 0)
      die("connect");
    e->next_mid = (uint16_t)bh_rand64(&rng);
    e->next_seq = (uint32_t)bh_rand64(&rng) & 0xffffff;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = i};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, e->fd, &ev) < 0)
      die("epoll_ctl");
  }
}

/* ---- exchanges ---------------------------------------------------------- */

static void transmit(endpoint_t *e, slot_t *s) {
  if (send(e->fd, s->pkt, s->pkt_len, 0) < 0 && errno != ECONNREFUSED)
    send_errors++; /* the retransmission timer tries again */
}

/* Build and send the slot's request (a new Message ID). */
static void send_request(size_t ei, slot_t *s, uint64_t now) {
  endpoint_t *e = &eps[ei];
  kind_t *k = &kinds[s->kind];
  uint8_t token[TOKEN_LEN] = {(uint8_t)(s - e->slots), (uint8_t)(s->seq >> 16),
                              (uint8_t)(s->seq >> 8), (uint8_t)s->seq};
  size_t blen = 0;
  const uint8_t *body =
      bb_make(&k->body, s->n, k->body_buf, bb_max_len(&k->body), &blen);
  size_t echo_len = e->verified ? 0 : e->echo_len;
  const bc_optv_t *o = &k->opts[k->per_endpoint ? ei : 0];
  s->mid = e->next_mid++;
  long len = bc_build(s->pkt, sizeof(s->pkt), BC_CON, k->method, s->mid, token,
                      TOKEN_LEN, o, NULL, NULL, -1, e->echo, echo_len, NULL, 0);
  size_t l = len < 0 ? 0 : (size_t)len;
  unsigned last = echo_len > 0 ? BC_OPT_ECHO : o->last;
  if (len < 0 ||
      (k->auth_len > 0 &&
       bc_put_opt(s->pkt, sizeof(s->pkt), &l, &last, OPT_AUTH_TOKEN, k->auth,
                  k->auth_len) < 0) ||
      l + 1 + blen > sizeof(s->pkt)) {
    fprintf(stderr, "edgecoap-mix: a request does not fit a datagram\n");
    exit(2);
  }
  if (blen > 0) {
    s->pkt[l++] = 0xff;
    memcpy(s->pkt + l, body, blen);
    l += blen;
  }
  s->pkt_len = (uint16_t)l;
  s->acked = 0;
  s->retries = 0;
  s->rto = (uint64_t)cfg.timeout_ms * 1000000ull;
  s->rto += s->rto / 2 * (bh_rand64(&rng) % 1024) / 1024; /* ACK_RANDOM_FACTOR */
  s->deadline = now + s->rto;
  transmit(e, s);
}

/* Start a request of kind @p ki due at @p due on endpoint @p ei. @return 0,
 * or -1 when the endpoint has every slot busy. */
static int start(size_t ei, size_t ki, uint64_t due, uint64_t now,
                 int measured) {
  endpoint_t *e = &eps[ei];
  kind_t *k = &kinds[ki];
  for (unsigned i = 0; i < SLOTS; i++) {
    slot_t *s = &e->slots[i];
    if (s->busy)
      continue;
    s->busy = 1;
    s->kind = (uint8_t)ki;
    s->measured = (uint8_t)measured;
    s->echoed = 0;
    s->seq = e->next_seq++ & 0xffffff;
    s->n = k->issued++;
    s->t_due = due;
    e->busy++;
    inflight++;
    if (measured)
      k->sent++;
    send_request(ei, s, now);
    return 0;
  }
  return -1;
}

static void finish(endpoint_t *e, slot_t *s, int code, uint64_t now) {
  kind_t *k = &kinds[s->kind];
  s->busy = 0;
  e->busy--;
  inflight--;
  if (!s->measured) {
    unmeasured_ok += code >= 0 && BC_CLASS(code) == 2;
    return;
  }
  if (code < 0) {
    k->lost++;
    return;
  }
  k->codes[code & 0xff]++;
  if (BC_CLASS(code) == 2) {
    k->ok++;
    bh_add(&k->hist, now - s->t_due);
  }
}

static void on_datagram(size_t ei, const uint8_t *buf, size_t len,
                        uint64_t now) {
  endpoint_t *e = &eps[ei];
  bc_msg_t m;
  if (bc_parse(buf, len, &m) < 0) {
    stale++;
    return;
  }
  slot_t *s = NULL;
  if (m.code == 0) { /* an empty ACK (a separate answer follows) or RST */
    for (unsigned i = 0; i < SLOTS && s == NULL; i++)
      if (e->slots[i].busy && e->slots[i].mid == m.mid)
        s = &e->slots[i];
    if (s == NULL)
      stale++;
    else if (m.type == BC_RST)
      finish(e, s, -1, now);
    else if (m.type == BC_ACK) {
      s->acked = 1;
      s->deadline = now + SEPARATE_WAIT_NS;
    }
    return;
  }
  if (m.type == BC_CON) {
    uint8_t ack[4];
    long l = bc_build(ack, sizeof(ack), BC_ACK, 0, m.mid, NULL, 0, NULL, NULL,
                      NULL, -1, NULL, 0, NULL, 0);
    if (l > 0 && send(e->fd, ack, (size_t)l, 0) < 0)
      send_errors++;
  }
  if (m.tkl == TOKEN_LEN && m.token[0] < SLOTS) {
    slot_t *c = &e->slots[m.token[0]];
    uint32_t seq =
        (uint32_t)m.token[1] << 16 | (uint32_t)m.token[2] << 8 | m.token[3];
    if (c->busy && c->seq == seq && (m.type != BC_ACK || c->mid == m.mid))
      s = c;
  }
  if (s == NULL) {
    stale++;
    return;
  }
  /* An Echo challenge: repeat the request once with its value; the
   * exchange still counts from when it was due. */
  if (m.code == BC_CODE(4, 1) && m.echo_len > 0 &&
      m.echo_len <= sizeof(e->echo) && !s->echoed) {
    memcpy(e->echo, m.echo, m.echo_len);
    e->echo_len = m.echo_len;
    e->verified = 0;
    s->echoed = 1;
    send_request(ei, s, now);
    return;
  }
  if (BC_CLASS(m.code) == 2 && e->echo_len > 0)
    e->verified = 1;
  finish(e, s, m.code, now);
}

static void scan_timeouts(uint64_t now) {
  for (size_t i = 0; i < cfg.endpoints; i++) {
    endpoint_t *e = &eps[i];
    if (e->busy == 0)
      continue;
    for (unsigned w = 0; w < SLOTS; w++) {
      slot_t *s = &e->slots[w];
      if (!s->busy || now < s->deadline)
        continue;
      if (!s->acked && s->retries < cfg.max_retransmit) {
        s->retries++;
        s->rto *= 2;
        s->deadline = now + s->rto;
        if (s->measured)
          kinds[s->kind].retransmissions++;
        transmit(e, s);
      } else {
        finish(e, s, -1, now);
      }
    }
  }
}

static void arm(uint64_t at) {
  struct itimerspec its = {0};
  its.it_value.tv_sec = (time_t)(at / 1000000000ull);
  its.it_value.tv_nsec = (long)(at % 1000000000ull);
  if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
    its.it_value.tv_nsec = 1;
  if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
    die("timerfd_settime");
}

/* Handle what arrived, waiting at most until @p until (monotonic ns). */
static void poll_until(uint64_t until) {
  struct epoll_event evs[256];
  uint8_t buf[RX_CAP];
  arm(until);
  int n = epoll_wait(epfd, evs, 256, 1000);
  if (n < 0 && errno != EINTR)
    die("epoll_wait");
  for (int i = 0; i < n; i++) {
    if (evs[i].data.u64 == UINT64_MAX) {
      uint64_t x;
      if (read(tfd, &x, sizeof(x)) < 0 && errno != EAGAIN)
        die("read timerfd");
      continue;
    }
    size_t ei = (size_t)evs[i].data.u64;
    for (;;) {
      ssize_t len = recv(eps[ei].fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (len < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
          break;
        if (errno == ECONNREFUSED || errno == EINTR)
          continue;
        die("recv");
      }
      on_datagram(ei, buf, (size_t)len, bh_now_ns());
    }
  }
}

/* One exchange of kind @p ki per endpoint, @c prime_window at a time. */
static double prime(size_t ki, uint64_t *ok) {
  uint64_t t = bh_now_ns();
  size_t next = 0;
  for (;;) {
    uint64_t now = bh_now_ns();
    while (next < cfg.endpoints && inflight < cfg.prime_window)
      start(next++, ki, now, now, 0);
    if (next == cfg.endpoints && inflight == 0)
      break;
    poll_until(now + 5000000ull);
    scan_timeouts(bh_now_ns());
  }
  *ok = unmeasured_ok;
  return (double)(bh_now_ns() - t) / 1e9;
}

/* The open loop: every kind at its rate until t1, then the drain. */
static void run(void) {
  uint64_t start_t = bh_now_ns();
  t0 = start_t + (uint64_t)(cfg.warmup * 1e9);
  t1 = t0 + (uint64_t)(cfg.duration * 1e9);
  uint64_t end = t1 + (uint64_t)(cfg.drain * 1e9), next_scan = start_t;
  for (size_t k = 0; k < nkinds; k++)
    kinds[k].next_ns =
        start_t + (kinds[k].rate > 0 ? gap_ns(&kinds[k]) : UINT64_MAX / 2);
  size_t turn[MAX_KINDS];
  for (size_t k = 0; k < nkinds; k++)
    turn[k] = (size_t)(bh_rand64(&rng) % cfg.endpoints);
  for (;;) {
    uint64_t now = bh_now_ns();
    uint64_t wake = now + 5000000ull;
    for (size_t ki = 0; ki < nkinds; ki++) {
      kind_t *k = &kinds[ki];
      while (k->next_ns <= now && k->next_ns < t1) {
        int measured = k->next_ns >= t0;
        if (measured && now - k->next_ns > late_max)
          late_max = now - k->next_ns;
        size_t ei = turn[ki]++ % cfg.endpoints;
        if (start(ei, ki, k->next_ns, now, measured) < 0 && measured)
          k->skipped++;
        k->next_ns += gap_ns(k);
      }
      if (k->next_ns < t1 && k->next_ns < wake)
        wake = k->next_ns;
    }
    if (now >= next_scan) {
      scan_timeouts(now);
      next_scan = now + 5000000ull;
    }
    if (now >= t1 && (inflight == 0 || now >= end))
      break;
    poll_until(wake);
  }
  for (size_t i = 0; i < cfg.endpoints; i++)
    for (unsigned w = 0; w < SLOTS; w++) {
      slot_t *s = &eps[i].slots[w];
      if (s->busy && s->measured)
        kinds[s->kind].unfinished++;
    }
}

/* ---- output ------------------------------------------------------------- */

static void print_json(double prime_s, uint64_t prime_ok) {
  uint64_t sent = 0, ok = 0, bad = 0;
  printf("{\"mode\":\"mix\",\"label\":\"%s\",\"endpoints\":%u,"
         "\"seconds\":%.3f,\"prime_seconds\":%.3f,\"prime_ok\":%" PRIu64
         ",\"late_max_us\":%.1f,\"stale\":%" PRIu64 ",\"send_errors\":%" PRIu64
         ",\"kinds\":{",
         cfg.label ? cfg.label : "", cfg.endpoints, cfg.duration, prime_s,
         prime_ok, (double)late_max / 1e3, stale, send_errors);
  for (size_t ki = 0; ki < nkinds; ki++) {
    kind_t *k = &kinds[ki];
    uint64_t other = 0;
    for (int c = 0; c < 256; c++)
      if (BC_CLASS(c) != 2)
        other += k->codes[c];
    sent += k->sent;
    ok += k->ok;
    bad += other + k->lost + k->skipped + k->unfinished;
    printf("%s\"%s\":{\"rate\":%.1f,\"sent\":%" PRIu64 ",\"ok\":%" PRIu64
           ",\"rps\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
           "\"max_us\":%.1f,\"non_2xx\":%" PRIu64 ",\"lost\":%" PRIu64
           ",\"unfinished\":%" PRIu64 ",\"skipped\":%" PRIu64
           ",\"retransmissions\":%" PRIu64 ",\"codes\":{",
           ki ? "," : "", k->name, k->rate, k->sent, k->ok,
           (double)k->ok / cfg.duration, bh_quantile_us(&k->hist, 0.5),
           bh_quantile_us(&k->hist, 0.99), bh_quantile_us(&k->hist, 0.999),
           (double)k->hist.max_ns / 1e3, other, k->lost, k->unfinished,
           k->skipped, k->retransmissions);
    int first = 1;
    for (int c = 0; c < 256; c++)
      if (k->codes[c]) {
        printf("%s\"%d.%02d\":%" PRIu64, first ? "" : ",", BC_CLASS(c),
               BC_DETAIL(c), k->codes[c]);
        first = 0;
      }
    printf("}}");
  }
  /* All kinds together: one histogram of every 2.xx answer. */
  static bh_hist_t all;
  bh_reset(&all);
  for (size_t ki = 0; ki < nkinds; ki++) {
    for (unsigned b = 0; b < BH_FINE; b++)
      all.fine[b] += kinds[ki].hist.fine[b];
    for (unsigned b = 0; b <= BH_COARSE; b++)
      all.coarse[b] += kinds[ki].hist.coarse[b];
    all.count += kinds[ki].hist.count;
    all.sum_ns += kinds[ki].hist.sum_ns;
    if (kinds[ki].hist.max_ns > all.max_ns)
      all.max_ns = kinds[ki].hist.max_ns;
  }
  printf("},\"all\":{\"sent\":%" PRIu64 ",\"ok\":%" PRIu64 ",\"rps\":%.1f,"
         "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
         "\"not_ok\":%" PRIu64 "}}\n",
         sent, ok, (double)ok / cfg.duration, bh_quantile_us(&all, 0.5),
         bh_quantile_us(&all, 0.99), bh_quantile_us(&all, 0.999),
         (double)all.max_ns / 1e3, bad);
}

static void print_text(double prime_s, uint64_t prime_ok) {
  printf("edgecoap-mix: %u endpoints from %s to %s port %s, %.0f s measured "
         "(%s arrivals)\n",
         cfg.endpoints, cfg.source_net, cfg.host, cfg.port, cfg.duration,
         cfg.poisson ? "Poisson" : "even");
  if (cfg.prime)
    printf("  primed: %" PRIu64 " of %u answered 2.xx in %.2f s\n", prime_ok,
           cfg.endpoints, prime_s);
  printf("  %-10s %8s %8s %8s %9s %9s %9s %6s %6s %6s\n", "kind", "rate",
         "sent", "2.xx", "p50 ms", "p99 ms", "max ms", "other", "lost", "retr");
  for (size_t ki = 0; ki < nkinds; ki++) {
    kind_t *k = &kinds[ki];
    uint64_t other = k->skipped + k->unfinished;
    for (int c = 0; c < 256; c++)
      if (BC_CLASS(c) != 2)
        other += k->codes[c];
    printf("  %-10s %8.1f %8" PRIu64 " %8" PRIu64 " %9.3f %9.3f %9.3f %6" PRIu64
           " %6" PRIu64 " %6" PRIu64 "\n",
           k->name, k->rate, k->sent, k->ok,
           bh_quantile_us(&k->hist, 0.5) / 1e3,
           bh_quantile_us(&k->hist, 0.99) / 1e3, (double)k->hist.max_ns / 1e6,
           other, k->lost, k->retransmissions);
  }
  printf("  the load generator's worst lateness: %.3f ms\n",
         (double)late_max / 1e6);
}

/* ---- command line ------------------------------------------------------- */

static void usage(FILE *out) {
  fprintf(
      out,
      "Usage: edgecoap-mix [OPTIONS] --kind SPEC [--kind SPEC...]\n"
      "\n"
      "Send each kind of CoAP request at its own rate (open loop) from many\n"
      "client endpoints, each a socket on a loopback address of its own, and\n"
      "report per kind the 2.xx answers' latency from when each was due\n"
      "(p50, p99, p99.9, max), other answers, and requests lost.\n"
      "\n"
      "  --host H            server IPv4 address (default 127.0.0.1)\n"
      "  --port P            server UDP port (default 5683)\n"
      "  --endpoints N       client endpoints (default 2500)\n"
      "  --source-net A      their addresses: 250 per /24 from A (default\n"
      "                      127.1.0.0: 127.1.0.1 ... 127.1.9.250)\n"
      "  --kind SPEC         name=N,rate=R,method=M,path=P[,cf=N][,accept=N]\n"
      "                      [,body=FILE|template=FILE][,auth=HEX]: R "
      "requests\n"
      "                      a second; %%e in P becomes the endpoint's "
      "number,\n"
      "                      %%d in a template the request's; auth= sends\n"
      "                      option 65000 (a session token's bytes)\n"
      "  --prime NAME        first one request of kind NAME per endpoint\n"
      "  --prime-window N    of them in flight at once (default 100)\n"
      "  --duration S        measured seconds (default 20)\n"
      "  --warmup S          unmeasured seconds of load first (default 2)\n"
      "  --drain S           wait for answers after the load (default 10)\n"
      "  --even              even gaps instead of Poisson arrivals\n"
      "  --timeout-ms MS     ACK_TIMEOUT (default 2000), then retransmit\n"
      "  --max-retransmit N  then count the request lost (default 4)\n"
      "  --json              one JSON object on standard output\n"
      "  --label L           copied into the JSON\n"
      "  -h, --help\n"
      "\n"
      "Exit status: 0 when every measured request got a 2.xx answer, 1 when\n"
      "some did not, 2 on errors.\n");
}

int main(int argc, char **argv) {
  enum {
    O_HOST = 256,
    O_PORT,
    O_ENDPOINTS,
    O_NET,
    O_KIND,
    O_PRIME,
    O_PWIN,
    O_DURATION,
    O_WARMUP,
    O_DRAIN,
    O_EVEN,
    O_TIMEOUT,
    O_MAXRT,
    O_JSON,
    O_LABEL
  };
  static const struct option opts[] = {
      {"host", required_argument, NULL, O_HOST},
      {"port", required_argument, NULL, O_PORT},
      {"endpoints", required_argument, NULL, O_ENDPOINTS},
      {"source-net", required_argument, NULL, O_NET},
      {"kind", required_argument, NULL, O_KIND},
      {"prime", required_argument, NULL, O_PRIME},
      {"prime-window", required_argument, NULL, O_PWIN},
      {"duration", required_argument, NULL, O_DURATION},
      {"warmup", required_argument, NULL, O_WARMUP},
      {"drain", required_argument, NULL, O_DRAIN},
      {"even", no_argument, NULL, O_EVEN},
      {"timeout-ms", required_argument, NULL, O_TIMEOUT},
      {"max-retransmit", required_argument, NULL, O_MAXRT},
      {"json", no_argument, NULL, O_JSON},
      {"label", required_argument, NULL, O_LABEL},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  cfg.host = "127.0.0.1";
  cfg.port = "5683";
  cfg.source_net = "127.1.0.0";
  cfg.endpoints = 2500;
  cfg.timeout_ms = 2000;
  cfg.max_retransmit = 4;
  cfg.prime_window = 100;
  cfg.duration = 20;
  cfg.warmup = 2;
  cfg.drain = 10;
  cfg.poisson = 1;
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case O_HOST:
      cfg.host = optarg;
      break;
    case O_PORT:
      cfg.port = optarg;
      break;
    case O_ENDPOINTS:
      cfg.endpoints = (unsigned)strtoul(optarg, NULL, 10);
      break;
    case O_NET:
      cfg.source_net = optarg;
      break;
    case O_KIND:
      if (parse_kind(optarg) < 0)
        return 2;
      break;
    case O_PRIME:
      cfg.prime = optarg;
      break;
    case O_PWIN:
      cfg.prime_window = (unsigned)strtoul(optarg, NULL, 10);
      break;
    case O_DURATION:
      cfg.duration = strtod(optarg, NULL);
      break;
    case O_WARMUP:
      cfg.warmup = strtod(optarg, NULL);
      break;
    case O_DRAIN:
      cfg.drain = strtod(optarg, NULL);
      break;
    case O_EVEN:
      cfg.poisson = 0;
      break;
    case O_TIMEOUT:
      cfg.timeout_ms = (unsigned)strtoul(optarg, NULL, 10);
      break;
    case O_MAXRT:
      cfg.max_retransmit = (unsigned)strtoul(optarg, NULL, 10);
      break;
    case O_JSON:
      cfg.json = 1;
      break;
    case O_LABEL:
      cfg.label = optarg;
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind < argc || nkinds == 0 || cfg.endpoints == 0 ||
      cfg.endpoints > 250 * 256 || !(cfg.duration > 0) ||
      cfg.prime_window == 0 || cfg.timeout_ms == 0) {
    usage(stderr);
    return 2;
  }
  size_t prime_kind = nkinds;
  for (size_t k = 0; cfg.prime && k < nkinds; k++)
    if (strcmp(kinds[k].name, cfg.prime) == 0)
      prime_kind = k;
  if (cfg.prime && prime_kind == nkinds) {
    fprintf(stderr, "edgecoap-mix: --prime names no --kind\n");
    return 2;
  }
  server.sin_family = AF_INET;
  server.sin_port = htons((uint16_t)strtoul(cfg.port, NULL, 10));
  if (inet_pton(AF_INET, cfg.host, &server.sin_addr) != 1) {
    fprintf(stderr, "edgecoap-mix: --host wants an IPv4 address\n");
    return 2;
  }
  rng ^= bh_now_ns() ^ (uint64_t)getpid() << 32;
  epfd = epoll_create1(0);
  tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  if (epfd < 0 || tfd < 0)
    die("epoll_create1/timerfd_create");
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev) < 0)
    die("epoll_ctl");
  for (size_t k = 0; k < nkinds; k++)
    kind_open(&kinds[k]);
  endpoints_open();
  double prime_s = 0;
  uint64_t prime_ok = 0;
  if (cfg.prime)
    prime_s = prime(prime_kind, &prime_ok);
  run();
  if (cfg.json)
    print_json(prime_s, prime_ok);
  else
    print_text(prime_s, prime_ok);
  for (size_t k = 0; k < nkinds; k++) {
    kind_t *kd = &kinds[k];
    if (kd->ok != kd->sent)
      return 1;
  }
  return 0;
}
