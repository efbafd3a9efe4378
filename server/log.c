/* edgecoap server: one-line, timestamped logs on standard error. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "log.h"

#include <stdarg.h>
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

void ec_log(ec_log_level_t level, const char *fmt, ...) {
  if (level > current_level)
    return;

  struct timespec ts;
  struct tm tm;
  char stamp[40];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

  /* One fprintf per line keeps lines whole when stderr is shared. */
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s.%03ldZ edgecoap[%s] %s\n", stamp, ts.tv_nsec / 1000000L,
          level_tags[level], msg);
}
