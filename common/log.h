/* edgecoap: one-line, timestamped logs on standard error. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_LOG_H
#define EDGECOAP_LOG_H

typedef enum {
  EC_LOG_ERROR = 0,
  EC_LOG_WARN,
  EC_LOG_INFO,
  EC_LOG_DEBUG
} ec_log_level_t;

/** Messages above @p level are dropped; the default is EC_LOG_INFO. */
void ec_log_set_level(ec_log_level_t level);
ec_log_level_t ec_log_get_level(void);

/** "error", "warn", "info" or "debug" -> the level, or -1. */
int ec_log_level_parse(const char *name);

/** Write "2026-11-22T10:00:00.123Z edgecoap[INFO] message" to stderr,
 * within the rate limit below. */
void ec_log(ec_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/**
 * Limit each call site (format string) to @p burst lines per @p window_ms
 * (default 10 per 60 s); lines past that are counted and the count is
 * logged once the window is over. Debug lines are not limited; @p burst 0
 * turns the limit off. Resets every count.
 */
void ec_log_set_rate(unsigned burst, unsigned window_ms);

/** Log the counts of lines suppressed so far (at shutdown). */
void ec_log_flush(void);

#endif /* EDGECOAP_LOG_H */
