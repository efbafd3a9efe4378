/* edgecoap: one-line, timestamped logs on standard error. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static ec_log_level_t current_level = EC_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const level_tags[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void ec_log_set_level(ec_log_level_t level) {
  current_level = level;
}

ec_log_level_t ec_log_get_level(void) {
  return current_level;
}

int ec_log_level_parse(const char *name) {
  if (name == NULL)
    return -1;
  for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++)
    if (strcmp(name, level_names[i]) == 0)
      return i;
  return -1;
}

/*
 * Rate limit: a peer (or a failing disk) can make one line repeat at the
 * request rate, which floods the log and costs the I/O thread a write per
 * request. So each call site (its format string) may write `burst` lines
 * per window; past that its lines are counted, and the count is written
 * when the site next logs after its window, or at ec_log_flush(). Debug
 * lines, asked for explicitly, are never limited.
 */
#define SITES 64

typedef struct {
  const char *fmt;
  ec_log_level_t level;
  uint64_t window_start; /* monotonic ms */
  unsigned lines;        /* written in this window */
  unsigned suppressed;   /* dropped in this window */
} site_t;

static site_t sites[SITES];
static unsigned rate_burst = 10;
static unsigned rate_window_ms = 60000;

void ec_log_set_rate(unsigned burst, unsigned window_ms) {
  rate_burst = burst;
  rate_window_ms = window_ms;
  memset(sites, 0, sizeof(sites));
}

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void write_line(ec_log_level_t level, const char *msg) {
  struct timespec ts;
  struct tm tm;
  char stamp[40];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  /* One fprintf per line keeps lines whole when stderr is shared. */
  fprintf(stderr, "%s.%03ldZ edgecoap[%s] %s\n", stamp, ts.tv_nsec / 1000000L,
          level_tags[level], msg);
}

static void report_suppressed(site_t *s) {
  if (s->suppressed == 0)
    return;
  char msg[256];
  unsigned w = rate_window_ms;
  snprintf(msg, sizeof(msg),
           "%u more lines like \"%.120s\" suppressed (at most %u per %u %s)",
           s->suppressed, s->fmt, rate_burst, w % 1000 ? w : w / 1000,
           w % 1000 ? "ms" : "s");
  write_line(s->level, msg);
  s->suppressed = 0;
}

/* 1 when this call site may write its line now. */
static int rate_ok(ec_log_level_t level, const char *fmt) {
  if (level == EC_LOG_DEBUG || rate_burst == 0)
    return 1;
  /* Format strings are literals: the pointer names the call site. */
  size_t h = ((uintptr_t)fmt >> 3) % SITES;
  site_t *s = &sites[h];
  uint64_t now = mono_ms();
  if (s->fmt != fmt) {
    report_suppressed(s); /* a colliding site takes the slot over */
    *s = (site_t){fmt, level, now, 0, 0};
  } else if (now - s->window_start >= rate_window_ms) {
    report_suppressed(s);
    s->window_start = now;
    s->lines = 0;
  }
  if (s->lines < rate_burst) {
    s->lines++;
    return 1;
  }
  s->suppressed++;
  return 0;
}

void ec_log_flush(void) {
  for (size_t i = 0; i < SITES; i++)
    if (sites[i].fmt != NULL)
      report_suppressed(&sites[i]);
}

void ec_log(ec_log_level_t level, const char *fmt, ...) {
  if (level > current_level || !rate_ok(level, fmt))
    return;

  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  write_line(level, msg);
}
