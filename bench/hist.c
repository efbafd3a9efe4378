/* edgecoap-bench: latency histograms with 1 us resolution up to 65 ms, and the clock and jitter they are timed with. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "hist.h"

#include <math.h>
#include <string.h>
#include <time.h>

void bh_reset(bh_hist_t *h) { memset(h, 0, sizeof(*h)); }

void bh_add(bh_hist_t *h, uint64_t ns) {
  uint64_t us = ns / 1000;
  if (us < BH_FINE) {
    h->fine[us]++;
  } else {
    uint64_t i = ns / 100000;
    h->coarse[i < BH_COARSE ? i : BH_COARSE]++;
  }
  h->count++;
  h->sum_ns += ns;
  if (ns > h->max_ns)
    h->max_ns = ns;
}

double bh_quantile_us(const bh_hist_t *h, double q) {
  if (h->count == 0)
    return 0;
  uint64_t rank = (uint64_t)ceil(q * (double)h->count);
  if (rank == 0)
    rank = 1;
  uint64_t seen = 0;
  for (uint32_t i = 0; i < BH_FINE; i++) {
    seen += h->fine[i];
    if (seen >= rank)
      return (double)(i + 1);
  }
  for (uint32_t i = 0; i <= BH_COARSE; i++) {
    seen += h->coarse[i];
    if (seen >= rank)
      return i < BH_COARSE ? (double)(i + 1) * 100.0 : (double)h->max_ns / 1e3;
  }
  return (double)h->max_ns / 1e3;
}

uint64_t bh_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t bh_rand64(uint64_t *state) {
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *state = x;
}
