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

#include <stdbool.h>
#include <stddef.h>

typedef enum {
  EC_LOG_TEXT = 0, /**< "2026-11-22T10:00:00.123Z edgecoap[INFO] message" */
  EC_LOG_JSON      /**< one JSON object per line: time, level, msg, fields */
} ec_log_format_t;

/** Messages above @p level are dropped; the default is EC_LOG_INFO. */
void ec_log_set_level(ec_log_level_t level);
ec_log_level_t ec_log_get_level(void);

/** How every line is written from now on; the default is EC_LOG_TEXT. */
void ec_log_set_format(ec_log_format_t format);

/** "text" or "json" -> the format, or -1. */
int ec_log_format_parse(const char *name);

/** "error", "warn", "info" or "debug" -> the level, or -1. */
int ec_log_level_parse(const char *name);

/** Write "2026-11-22T10:00:00.123Z edgecoap[INFO] message" to stderr (or,
 * in JSON, {"time":"...","level":"info","msg":"message"}), within the rate
 * limit below. */
void ec_log(ec_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** One field of a structured line: a string, or (str NULL) a number. */
typedef struct {
  const char *key; /**< a literal name: written as it is */
  const char *str; /**< any bytes: escaped as the format wants */
  long long num;
} ec_log_field_t;

/**
 * Write one structured line: @p event, then each field, as
 * "TIME edgecoap[INFO] access peer=... path=\"/a b\" code=2.05 in=24" or, in
 * JSON, {"time":...,"level":"info","msg":"access","peer":"...","in":24}.
 * Not rate-limited here: the caller limits what it logs (accesslog.c).
 */
void ec_log_fields(ec_log_level_t level, const char *event,
                   const ec_log_field_t *fields, size_t n);

/**
 * The same line, where @p plain[i], when not 0, says that fields[i].str is
 * that many bytes (no terminator needed) the caller knows to be printable
 * ASCII without space, quote, backslash or '=': neither format escapes or
 * quotes them, so they are copied as they are without a look at each
 * byte. The line is the one ec_log_fields() writes.
 */
void ec_log_fields_plain(ec_log_level_t level, const char *event,
                         const ec_log_field_t *fields, const size_t *plain,
                         size_t n);

/**
 * Limit each call site (format string) to @p burst lines per @p window_ms
 * (default 10 per 60 s); lines past that are counted and the count is
 * logged once the window is over. Debug lines are not limited; @p burst 0
 * turns the limit off. Resets every count.
 */
void ec_log_set_rate(unsigned burst, unsigned window_ms);

/**
 * Hold (@p on) the calling thread's ec_log_fields() lines from now on and
 * write them together, at most 4096 bytes in one write, at ec_log_sync(),
 * before the thread's next ec_log() line, or when the next would not fit;
 * turning it off writes what is held. Lines stay in their order; other
 * threads are not affected.
 */
void ec_log_hold(bool on);

/**
 * Write the lines the calling thread holds, when the first of them came
 * at least @p older_than_ms ago (0: whatever their age).
 */
void ec_log_sync(unsigned older_than_ms);

/** Log the counts of lines suppressed so far (at shutdown). */
void ec_log_flush(void);

#endif /* EDGECOAP_LOG_H */
