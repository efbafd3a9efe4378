/* edgecoap bench: the PostgreSQL store's write rate, pipelined rounds against one synchronous commit per write, in one run. */
/* SPDX-License-Identifier: Apache-2.0 */

/*
 * Usage (bench/pg-rounds builds it and runs it in a throw-away cluster):
 *   edgecoap-pgrounds URI [SECONDS]
 * Writes status reports (300-byte documents, one device per write) to the
 * store at URI for SECONDS (default 3) each way: ec_store_status_put()
 * (one commit per write: the reference), then rounds of 16 and of 64
 * queued writes (ec_store_status_queue(), ec_store_flush() and
 * ec_store_wait(): one pipelined transaction per round). Prints each
 * rate and its ratio to the reference.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

static uint8_t doc[300];
static long done_ok;

static void on_done(void *ud, const ec_status_done_t *d) {
  (void)ud;
  done_ok += d->rc == 0;
}

static ec_status_write_t write_of(char *dev, long i) {
  snprintf(dev, 32, "bench-%ld", i % 5000);
  ec_status_write_t w = {.device_id = dev,
                         .deployment_id = "0b7c8f2e-3a41-4d5e-9f60-71a2b3c4d5e6",
                         .state = EC_STATE_INSTALLING,
                         .doc = doc,
                         .doc_len = sizeof(doc),
                         .received_at_ms = i};
  return w;
}

/* Writes per second for @p seconds: one synchronous commit each when
 * @p round is 0, else rounds of @p round queued writes. */
static double rate(ec_store_t *s, int round, double seconds) {
  char dev[32];
  long n = 0;
  done_ok = 0;
  uint64_t t0 = ec_mono_us(), end = t0 + (uint64_t)(seconds * 1e6);
  while (ec_mono_us() < end) {
    if (round == 0) {
      ec_status_write_t w = write_of(dev, n);
      if (ec_store_status_put(s, &w, NULL, NULL) != 0)
        return -1;
      n++;
      done_ok++;
      continue;
    }
    for (int i = 0; i < round; i++, n++) {
      ec_status_write_t w = write_of(dev, n);
      if (ec_store_status_queue(s, &w, on_done, NULL) != 0)
        return -1;
    }
    if (ec_store_wait(s) != 0)
      return -1;
  }
  double secs = (double)(ec_mono_us() - t0) / 1e6;
  return done_ok == n ? (double)n / secs : -1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: edgecoap-pgrounds URI [SECONDS]\n");
    return 2;
  }
  double seconds = argc > 2 ? atof(argv[2]) : 3;
  memset(doc, 'x', sizeof(doc));
  ec_store_t *s = NULL;
  if (ec_store_open(argv[1], &s) != 0)
    return 1;
  double ref = rate(s, 0, seconds);
  printf("synchronous, one commit per write: %.0f writes/s\n", ref);
  static const int rounds[] = {16, 64};
  for (size_t i = 0; i < 2; i++) {
    double r = rate(s, rounds[i], seconds);
    printf("pipelined rounds of %d: %.0f writes/s (%.1fx)\n", rounds[i], r,
           ref > 0 ? r / ref : 0);
  }
  ec_store_close(s);
  return ref > 0 ? 0 : 1;
}
