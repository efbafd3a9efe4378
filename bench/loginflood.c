/* edgecoap-loginflood: a probe client's GET latency during a failed-login flood. */
/* SPDX-License-Identifier: Apache-2.0 */

/*
 * One thread, raw UDP (coapmin.c). A probe socket on 127.0.0.1 sends one
 * confirmable GET at a time to --path, --gap-ms after the previous answer,
 * and records each exchange's latency (first datagram to final answer,
 * retransmissions included). First --baseline seconds of probing alone,
 * then --duration seconds with the flood: --rate confirmable POST /v1/Login
 * per second, a new username each ("flood-N") with a wrong password,
 * spread round-robin over --addresses source addresses 127.0.0.2,
 * 127.0.0.3, ... (one socket each). The flood does not wait for answers;
 * it acknowledges the server's confirmable (separate) responses so they are
 * not retransmitted, and counts what came back by code.
 *
 * Prints one JSON object: the probe's count, median, p90, p99 and max in
 * milliseconds for each phase, and the flood's answers.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coapmin.h"
#include "hist.h"

#define MAX_ADDRS 200
#define PKT_CAP 1400
#define PROBE_TIMEOUT_NS 2000000000ull

static void die(const char *what) {
  perror(what);
  exit(2);
}

static int udp_from(const char *src, const struct sockaddr_in *dst) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  if (fd < 0 || inet_pton(AF_INET, src, &a.sin_addr) != 1 ||
      bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
      connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0)
    die(src);
  return fd;
}

typedef struct {
  uint64_t sent, created, unauthorized, unavailable, empty_ack, other;
} flood_counts_t;

static flood_counts_t counts;

/* Acknowledge a confirmable message from the server, so it is not sent
 * again. */
static void ack_con(int fd, const bc_msg_t *m) {
  uint8_t ack[4];
  if (m->type != BC_CON)
    return;
  long len = bc_build(ack, sizeof(ack), BC_ACK, 0, m->mid, NULL, 0, NULL, NULL,
                      NULL, -1, NULL, 0, NULL, 0);
  if (len > 0)
    (void)send(fd, ack, (size_t)len, 0);
}

/* Read everything waiting on a flood socket: count final answers, ACK the
 * server's CON responses. */
static void flood_drain(int fd) {
  uint8_t buf[PKT_CAP];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
    bc_msg_t m;
    if (bc_parse(buf, (size_t)n, &m) < 0)
      continue;
    ack_con(fd, &m);
    if (m.code == 0)
      counts.empty_ack += m.type == BC_ACK;
    else if (m.code == BC_CODE(2, 1))
      counts.created++;
    else if (m.code == BC_CODE(4, 1))
      counts.unauthorized++;
    else if (m.code == BC_CODE(5, 3))
      counts.unavailable++;
    else
      counts.other++;
  }
}

static void print_hist(const char *name, const bh_hist_t *h, int last) {
  printf("  \"%s\": {\"count\": %llu, \"median_ms\": %.3f, \"p90_ms\": %.3f, "
         "\"p99_ms\": %.3f, \"max_ms\": %.3f}%s\n",
         name, (unsigned long long)h->count, bh_quantile_us(h, 0.5) / 1000.0,
         bh_quantile_us(h, 0.9) / 1000.0, bh_quantile_us(h, 0.99) / 1000.0,
         (double)h->max_ns / 1e6, last ? "" : ",");
}

static void usage(void) {
  puts("Usage: edgecoap-loginflood --port P [--path PATH] [--rate N]\n"
       "       [--addresses N] [--baseline S] [--duration S] [--gap-ms MS]\n"
       "Probe GET latency on 127.0.0.1 without and then with a flood of\n"
       "failed logins from 127.0.0.2.. (see the comment in loginflood.c).");
}

int main(int argc, char **argv) {
  const char *path = "/v1/DeviceProvisioningComponents";
  unsigned port = 0, rate = 150, n_addrs = 30;
  double baseline = 5, duration = 10, gap_ms = 5;
  static const struct option opts[] = {
      {"port", required_argument, NULL, 'p'},
      {"path", required_argument, NULL, 'P'},
      {"rate", required_argument, NULL, 'r'},
      {"addresses", required_argument, NULL, 'a'},
      {"baseline", required_argument, NULL, 'b'},
      {"duration", required_argument, NULL, 'd'},
      {"gap-ms", required_argument, NULL, 'g'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'p': port = (unsigned)atoi(optarg); break;
    case 'P': path = optarg; break;
    case 'r': rate = (unsigned)atoi(optarg); break;
    case 'a': n_addrs = (unsigned)atoi(optarg); break;
    case 'b': baseline = atof(optarg); break;
    case 'd': duration = atof(optarg); break;
    case 'g': gap_ms = atof(optarg); break;
    case 'h': usage(); return 0;
    default: usage(); return 2;
    }
  }
  if (port == 0 || port > 65535 || n_addrs == 0 || n_addrs > MAX_ADDRS ||
      rate == 0) {
    usage();
    return 2;
  }

  struct sockaddr_in dst;
  memset(&dst, 0, sizeof(dst));
  dst.sin_family = AF_INET;
  dst.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  int probe = udp_from("127.0.0.1", &dst);
  int flood[MAX_ADDRS];
  for (unsigned i = 0; i < n_addrs; i++) {
    char src[32];
    snprintf(src, sizeof(src), "127.0.%u.%u", (i + 2) / 250, (i + 2) % 250);
    flood[i] = udp_from(src, &dst);
  }

  bc_opts_t get_o, login_o;
  if (bc_opts_init(&get_o, path, BC_ABSENT, BC_ABSENT, BC_ABSENT) < 0 ||
      bc_opts_init(&login_o, "/v1/Login", BC_ABSENT, 50, BC_ABSENT) < 0) {
    fprintf(stderr, "edgecoap-loginflood: bad --path\n");
    return 2;
  }
  bc_optv_t get_v = {get_o.buf, get_o.len, get_o.last};
  bc_optv_t login_v = {login_o.buf, login_o.len, login_o.last};

  static bh_hist_t h_base, h_flood;
  bh_reset(&h_base);
  bh_reset(&h_flood);
  uint16_t mid = (uint16_t)bh_now_ns();
  uint32_t seq = 0;
  uint64_t t0 = bh_now_ns();
  uint64_t flood_start = t0 + (uint64_t)(baseline * 1e9);
  uint64_t end = flood_start + (uint64_t)(duration * 1e9);
  uint64_t flood_gap = 1000000000ull / rate, next_login = flood_start;
  uint64_t probe_at = t0, probe_sent = 0, probe_first = 0;
  uint64_t retransmits = 0, lost = 0;
  uint8_t probe_tok[4], pkt[PKT_CAP];
  uint16_t probe_mid = 0;
  long probe_len = 0;
  int probe_busy = 0;

  struct pollfd pf[MAX_ADDRS + 1];
  pf[0] = (struct pollfd){probe, POLLIN, 0};
  for (unsigned i = 0; i < n_addrs; i++)
    pf[i + 1] = (struct pollfd){flood[i], POLLIN, 0};

  for (uint64_t now = bh_now_ns(); now < end; now = bh_now_ns()) {
    /* The probe: one exchange at a time. */
    if (!probe_busy && now >= probe_at) {
      seq++;
      memcpy(probe_tok, &seq, sizeof(probe_tok));
      probe_mid = mid++;
      probe_len = bc_build(pkt, sizeof(pkt), BC_CON, 1, probe_mid, probe_tok,
                           sizeof(probe_tok), &get_v, NULL, NULL, -1, NULL, 0,
                           NULL, 0);
      if (probe_len < 0 || send(probe, pkt, (size_t)probe_len, 0) < 0)
        die("probe send");
      probe_first = probe_sent = now;
      probe_busy = 1;
    } else if (probe_busy && now - probe_sent >= PROBE_TIMEOUT_NS) {
      if (now - probe_first > 4 * PROBE_TIMEOUT_NS) {
        lost++; /* give up on this one; its latency is not counted */
        probe_busy = 0;
        probe_at = now;
        continue;
      }
      probe_len = bc_build(pkt, sizeof(pkt), BC_CON, 1, probe_mid, probe_tok,
                           sizeof(probe_tok), &get_v, NULL, NULL, -1, NULL, 0,
                           NULL, 0);
      if (probe_len > 0)
        (void)send(probe, pkt, (size_t)probe_len, 0);
      probe_sent = now;
      retransmits++;
    }
    /* The flood: due logins, each from the next address. */
    while (now >= flood_start && next_login <= now) {
      char body[128];
      uint8_t tok[4];
      uint32_t k = (uint32_t)counts.sent;
      memcpy(tok, &k, sizeof(tok));
      int bl = snprintf(body, sizeof(body),
                        "{\"username\":\"flood-%u\",\"password\":\"wrong\"}",
                        k);
      long len = bc_build(pkt, sizeof(pkt), BC_CON, 2, mid++, tok, sizeof(tok),
                          &login_v, NULL, NULL, -1, NULL, 0, (const uint8_t *)body,
                          (size_t)bl);
      if (len > 0)
        (void)send(flood[k % n_addrs], pkt, (size_t)len, 0);
      counts.sent++;
      next_login += flood_gap;
    }
    uint64_t wake = probe_busy ? probe_sent + PROBE_TIMEOUT_NS : probe_at;
    if (now >= flood_start && next_login < wake)
      wake = next_login;
    if (wake > end)
      wake = end;
    int ms = wake > now ? (int)((wake - now) / 1000000) : 0;
    if (poll(pf, n_addrs + 1, ms) < 0)
      die("poll");
    for (unsigned i = 0; i < n_addrs; i++)
      if (pf[i + 1].revents & POLLIN)
        flood_drain(flood[i]);
    if (!(pf[0].revents & POLLIN))
      continue;
    uint8_t buf[PKT_CAP];
    ssize_t n;
    while ((n = recv(probe, buf, sizeof(buf), 0)) > 0) {
      bc_msg_t m;
      if (bc_parse(buf, (size_t)n, &m) < 0)
        continue;
      ack_con(probe, &m);
      if (!probe_busy || m.code == 0 || m.tkl != sizeof(probe_tok) ||
          memcmp(m.token, probe_tok, sizeof(probe_tok)) != 0)
        continue;
      uint64_t t = bh_now_ns();
      bh_add(probe_first >= flood_start ? &h_flood : &h_base, t - probe_first);
      probe_busy = 0;
      probe_at = t + (uint64_t)(gap_ms * 1e6);
    }
  }
  /* Late answers to the flood, for the counts. */
  for (uint64_t stop = bh_now_ns() + 500000000ull; bh_now_ns() < stop;) {
    if (poll(pf + 1, n_addrs, 50) <= 0)
      continue;
    for (unsigned i = 0; i < n_addrs; i++)
      if (pf[i + 1].revents & POLLIN)
        flood_drain(flood[i]);
  }

  printf("{\n  \"rate\": %u, \"addresses\": %u, \"baseline_s\": %.1f, "
         "\"duration_s\": %.1f, \"path\": \"%s\",\n",
         rate, n_addrs, baseline, duration, path);
  print_hist("probe_alone", &h_base, 0);
  print_hist("probe_during_flood", &h_flood, 0);
  printf("  \"probe_retransmissions\": %llu, \"probe_given_up\": %llu,\n",
         (unsigned long long)retransmits, (unsigned long long)lost);
  printf("  \"logins_sent\": %llu, \"answers\": {\"2.01\": %llu, \"4.01\": "
         "%llu, \"5.03\": %llu, \"empty_ack\": %llu, \"other\": %llu}\n}\n",
         (unsigned long long)counts.sent, (unsigned long long)counts.created,
         (unsigned long long)counts.unauthorized,
         (unsigned long long)counts.unavailable,
         (unsigned long long)counts.empty_ack,
         (unsigned long long)counts.other);
  return h_flood.count > 0 ? 0 : 1;
}
