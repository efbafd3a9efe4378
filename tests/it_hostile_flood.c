/* edgecoap: hostile input: a flood of 10,000 peers beside a good client. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "it_hostile.h"
#include "it_prov_util.h"

#define FLOOD_PEERS 10000
#define FLOOD_WAVE 200
#define FLOOD_WAVE_WAIT_MS 1000
#define PROBE_TIMEOUT_MS 2000
#define PROBE_GAP_MS 20
#define FLOOD_WAVE_MIN_MS 60 /* 50 waves: the flood lasts about 3 s */
#define RSS_GROWTH_MAX_KIB (64 * 1024)

/* ------------------------------------------------------------------------ */
/* 4. A flood of peers                                                       */

enum { BEFORE, DURING, AFTER, N_PHASES };

typedef struct {
  int sent[N_PHASES];
  int answered[N_PHASES];
  unsigned max_ms;
  unsigned long sum_ms;
  int over_500ms;
} probe_t;

/* The well-behaved client, in a child process: one CON GET at a time, each
 * given PROBE_TIMEOUT_MS, until @p ctl reads EOF; each byte on @p ctl moves
 * it to the next phase (the flood starts, the flood ends). Writes a probe_t
 * on @p out. */
static void prober(int ctl, int out) {
  probe_t p;
  it_udp_t u;
  it_coap_msg_t *m = calloc(1, sizeof(*m)), *r = calloc(1, sizeof(*r));
  int phase = 0;
  memset(&p, 0, sizeof(p));
  if (m == NULL || r == NULL || it_udp_open(&u, srv.port) < 0)
    _exit(2);
  for (;;) {
    struct pollfd pfd = {ctl, POLLIN, 0};
    if (poll(&pfd, 1, 0) > 0) {
      char c;
      if (read(ctl, &c, 1) <= 0)
        break;
      if (phase < AFTER)
        phase++;
    }
    uint8_t tok[4];
    it_udp_token(&u, tok);
    it_coap_init(m, IT_CON, IT_GET, it_udp_mid(&u), tok, sizeof(tok));
    it_coap_add_path(m, STATUS_PATH);
    uint8_t dgram[256];
    ssize_t n = it_coap_encode(m, dgram, sizeof(dgram));
    uint64_t t0 = it_now_ms(), deadline = t0 + PROBE_TIMEOUT_MS;
    p.sent[phase]++;
    if (n > 0 && it_udp_send(&u, dgram, (size_t)n) == 0) {
      while (it_now_ms() < deadline) {
        if (it_udp_recv_msg(&u, r, (unsigned)(deadline - it_now_ms())) < 0)
          continue;
        if (r->type == IT_ACK && r->mid == m->mid && r->code == IT_CODE(2, 5)) {
          unsigned ms = (unsigned)(it_now_ms() - t0);
          p.answered[phase]++;
          p.sum_ms += ms;
          p.max_ms = ms > p.max_ms ? ms : p.max_ms;
          p.over_500ms += ms > 500;
          break;
        }
      }
    }
    it_sleep_ms(PROBE_GAP_MS);
  }
  ssize_t w = write(out, &p, sizeof(p));
  _exit(w == (ssize_t)sizeof(p) ? 0 : 3);
}

/* Raise the soft RLIMIT_NOFILE as far as @p want; the limit in effect. */
static rlim_t raise_nofile(rlim_t want) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
    return 1024;
  if (rl.rlim_cur < want) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want
                      ? want
                      : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

void test_flood_of_peers(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  rlim_t limit = raise_nofile(FLOOD_PEERS + 128);
  int peers = limit >= FLOOD_PEERS + 128 ? FLOOD_PEERS : (int)limit - 128;
  if (peers < FLOOD_PEERS)
    fprintf(stderr,
            "\n  RLIMIT_NOFILE cannot be raised past %lu: flooding with %d "
            "peers instead of %d\n",
            (unsigned long)limit, peers, FLOOD_PEERS);
  CU_ASSERT_FATAL(peers > 0);
  int warn0 = it_server_log_count(&srv, "[WARN]");
  int err0 = it_server_log_count(&srv, "[ERROR]");
  long rss0 = it_server_rss_kib(&srv);

  int ctl[2], res[2];
  CU_ASSERT_FATAL(pipe(ctl) == 0 && pipe(res) == 0);
  fflush(NULL);
  pid_t child = fork();
  CU_ASSERT_FATAL(child >= 0);
  if (child == 0) {
    close(ctl[1]);
    close(res[0]);
    prober(ctl[0], res[1]);
  }
  close(ctl[0]);
  close(res[1]);
  it_sleep_ms(200); /* a few probes before the flood */

  int *fds = malloc((size_t)peers * sizeof(int));
  CU_ASSERT_PTR_NOT_NULL_FATAL(fds);
  struct pollfd *pfd = malloc(FLOOD_WAVE * sizeof(*pfd));
  CU_ASSERT_PTR_NOT_NULL_FATAL(pfd);
  int opened = 0, answered = 0;
  CU_ASSERT_EQUAL(write(ctl[1], "s", 1), 1);
  uint64_t t0 = it_now_ms();
  it_coap_msg_t *m = itp_msg_new();
  for (int base = 0; base < peers; base += FLOOD_WAVE) {
    uint64_t wave_start = it_now_ms();
    int n = peers - base < FLOOD_WAVE ? peers - base : FLOOD_WAVE;
    for (int i = 0; i < n; i++) {
      it_udp_t u;
      fds[base + i] = -1;
      pfd[i] = (struct pollfd){-1, POLLIN, 0};
      if (it_udp_open(&u, srv.port) < 0)
        continue;
      fds[base + i] = u.fd;
      opened++;
      uint8_t tok[4], dgram[256];
      it_udp_token(&u, tok);
      it_coap_init(m, IT_CON, IT_GET, it_udp_mid(&u), tok, sizeof(tok));
      it_coap_add_path(m, STATUS_PATH);
      ssize_t len = it_coap_encode(m, dgram, sizeof(dgram));
      if (len > 0)
        it_udp_send(&u, dgram, (size_t)len);
      pfd[i].fd = u.fd;
    }
    /* Collect this wave's answers before the next: bounded pacing. */
    int left = n;
    uint64_t deadline = it_now_ms() + FLOOD_WAVE_WAIT_MS;
    while (left > 0 && it_now_ms() < deadline) {
      if (poll(pfd, (nfds_t)n, (int)(deadline - it_now_ms())) <= 0)
        break;
      for (int i = 0; i < n; i++) {
        uint8_t buf[IT_COAP_MAX_DGRAM];
        if (pfd[i].fd < 0 || !(pfd[i].revents & POLLIN))
          continue;
        if (recv(pfd[i].fd, buf, sizeof(buf), MSG_DONTWAIT) >= 4 &&
            buf[1] == IT_CODE(2, 5))
          answered++;
        pfd[i].fd = -1; /* one answer per peer */
        left--;
      }
    }
    uint64_t spent = it_now_ms() - wave_start;
    if (spent < FLOOD_WAVE_MIN_MS)
      it_sleep_ms((unsigned)(FLOOD_WAVE_MIN_MS - spent));
  }
  free(m);
  uint64_t flood_ms = it_now_ms() - t0;
  long rss1 = it_server_rss_kib(&srv);

  /* The flood is over: a second of probes after it, then the results. */
  CU_ASSERT_EQUAL(write(ctl[1], "e", 1), 1);
  it_sleep_ms(1000);
  close(ctl[1]);
  probe_t p;
  memset(&p, 0, sizeof(p));
  ssize_t got = read(res[0], &p, sizeof(p));
  close(res[0]);
  int status = 0;
  waitpid(child, &status, 0);
  CU_ASSERT_EQUAL(got, (ssize_t)sizeof(p));
  CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  for (int i = 0; i < peers; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  free(fds);
  free(pfd);

  int sent = 0, ok = 0;
  for (int i = 0; i < N_PHASES; i++) {
    sent += p.sent[i];
    ok += p.answered[i];
  }
  fprintf(stderr,
          "\n  %d peers (%d sockets) in %.1f s, %d answered; prober: "
          "%d/%d answered during, %d/%d after, mean %.1f ms, max %u ms, "
          "%d over 500 ms; VmRSS %ld -> %ld KiB\n",
          peers, opened, (double)flood_ms / 1000.0, answered,
          p.answered[DURING], p.sent[DURING], p.answered[AFTER], p.sent[AFTER],
          ok ? (double)p.sum_ms / ok : 0.0, p.max_ms, p.over_500ms, rss0, rss1);
  CU_ASSERT_EQUAL(opened, peers);
  /* The well-behaved client was served throughout: 95% within 2 s each,
   * during the flood and after it. */
  CU_ASSERT(p.sent[DURING] >= 20);
  CU_ASSERT(p.answered[DURING] * 100 >= p.sent[DURING] * 95);
  CU_ASSERT(p.sent[AFTER] >= 5);
  CU_ASSERT(p.answered[AFTER] * 100 >= p.sent[AFTER] * 95);
  CU_ASSERT(sent > 0 && ok * 100 >= sent * 95);
  /* Idle sessions are capped: memory stays bounded. */
  CU_ASSERT(rss0 > 0 && rss1 > 0);
  CU_ASSERT(rss1 - rss0 < RSS_GROWTH_MAX_KIB);
  /* Nothing alarming was logged. */
  int warns = it_server_log_count(&srv, "[WARN]") - warn0;
  int errs = it_server_log_count(&srv, "[ERROR]") - err0;
  if (warns != 0 || errs != 0)
    it_server_log_tail(&srv, 40);
  CU_ASSERT_EQUAL(warns, 0);
  CU_ASSERT_EQUAL(errs, 0);
  CU_ASSERT_TRUE(it_server_alive(&srv, 3000));
  CU_ASSERT_TRUE(normal_get());
}
