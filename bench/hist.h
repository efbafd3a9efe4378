/* edgecoap-bench: a latency histogram with 1 us resolution up to 65 ms. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_BENCH_HIST_H
#define EDGECOAP_BENCH_HIST_H

#include <stdint.h>

/*
 * Fixed memory whatever the run's length: 1 us buckets below 65.536 ms,
 * 100 us buckets up to 10 s, and one bucket past that. Percentiles are the
 * upper edge of the bucket holding the rank, so they err high by at most
 * one bucket.
 */
#define BH_FINE 65536u
#define BH_COARSE 100000u

typedef struct {
  uint32_t fine[BH_FINE];
  uint32_t coarse[BH_COARSE + 1];
  uint64_t count;
  uint64_t sum_ns;
  uint64_t max_ns;
} bh_hist_t;

/* Zero @p h. */
void bh_reset(bh_hist_t *h);
/* Count one latency of @p ns nanoseconds. */
void bh_add(bh_hist_t *h, uint64_t ns);
/* The @p q quantile (0 < q <= 1) in microseconds; 0 when empty. */
double bh_quantile_us(const bh_hist_t *h, double q);

/* The monotonic clock, in nanoseconds. */
uint64_t bh_now_ns(void);

/* The next number of the xorshift64 generator whose state (not 0) is
 * @p state: send times and timeouts jittered without libc's global rand. */
uint64_t bh_rand64(uint64_t *state);

#endif
