/* edgecoap: one-line, timestamped logs on standard error. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static ec_log_level_t current_level = EC_LOG_INFO;
static ec_log_format_t current_format = EC_LOG_TEXT;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const level_tags[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void ec_log_set_level(ec_log_level_t level) {
  current_level = level;
}

ec_log_level_t ec_log_get_level(void) {
  return current_level;
}

void ec_log_set_format(ec_log_format_t format) {
  current_format = format;
}

int ec_log_format_parse(const char *name) {
  if (name == NULL)
    return -1;
  if (strcmp(name, "text") == 0)
    return EC_LOG_TEXT;
  if (strcmp(name, "json") == 0)
    return EC_LOG_JSON;
  return -1;
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

/* A growing line in a fixed buffer; what does not fit is cut. */
typedef struct {
  char buf[4096];
  size_t len;
} line_t;

/* What a value leaves free at the end of a line: its closing quote, the
 * JSON object's brace and the newline always fit. */
#define LINE_RESERVE 16

static void put_mem(line_t *l, const char *s, size_t n) {
  size_t room = sizeof(l->buf) - 1 - l->len;
  if (n > room)
    n = room;
  memcpy(l->buf + l->len, s, n);
  l->len += n;
}

static void put_str(line_t *l, const char *s) { put_mem(l, s, strlen(s)); }

/* A short string known to fit (a field's key), byte by byte: cheaper than
 * measuring it and copying it apart. */
static void put_short(line_t *l, const char *s) {
  size_t room = sizeof(l->buf) - 1 - l->len;
  size_t i = 0;
  while (s[i] != '\0' && i < room) {
    l->buf[l->len + i] = s[i];
    i++;
  }
  l->len += i;
}

/* The length of the valid UTF-8 sequence at @p s (at most @p n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  size_t len = s[0] >= 0xF0 && s[0] <= 0xF4   ? 4
               : s[0] >= 0xE0                 ? 3
               : s[0] >= 0xC2 && s[0] <= 0xDF ? 2
                                              : 0;
  if (len == 0 || len > n)
    return 0;
  for (size_t i = 1; i < len; i++)
    if ((s[i] & 0xC0) != 0x80)
      return 0;
  return len;
}

/* What each byte of a value asks for (put_value): ESCAPE, written as an
 * escape in either format (not printable ASCII, or a quote or backslash);
 * QUOTE, a text value holding it is quoted (space, quote, '='). */
#define ESCAPE 1
#define QUOTE 2
static const unsigned char byte_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    2, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/*
 * A value as one token of its line. JSON: a string with what RFC 8259
 * requires escaped, and bytes that are no UTF-8 as U+FFFD, so that every
 * line parses. Text: quoted with \" and \\ when it is empty or holds a
 * space, quote or '=' (logfmt), other bytes outside printable ASCII as
 * \xHH, so that no value from the network can end a line or forge a field.
 */
static void put_value(line_t *l, const char *v, bool json) {
  const unsigned char *s = (const unsigned char *)v;
  unsigned seen = 0;
  size_t n = 0;
  /* One pass for the length and what the value's bytes ask for. */
  for (; s[n] != 0; n++)
    seen |= byte_class[s[n]];
  bool quote = json || n == 0 || (seen & QUOTE);
  char esc[8];
  if (quote)
    put_mem(l, "\"", 1);
  if (!(seen & ESCAPE)) { /* the usual case: one run, copied as it is */
    if (l->len + LINE_RESERVE < sizeof(l->buf))
      put_mem(l, v, n);
    n = 0;
  }
  for (size_t i = 0; i < n && l->len + LINE_RESERVE < sizeof(l->buf); i++) {
    unsigned char c = s[i];
    size_t run = 0;
    while (i + run < n && !(byte_class[s[i + run]] & ESCAPE))
      run++;
    if (run > 0) { /* plain bytes, copied as they are */
      put_mem(l, (const char *)&s[i], run);
      i += run - 1;
      continue;
    }
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      put_mem(l, esc, 2);
    } else if (json && c >= 0x80) {
      size_t k = utf8_len(s + i, n - i);
      if (k > 0) {
        put_mem(l, (const char *)&s[i], k);
        i += k - 1;
      } else {
        put_str(l, "\\ufffd");
      }
    } else {
      snprintf(esc, sizeof(esc), json ? "\\u%04x" : "\\x%02x", c);
      put_str(l, esc);
    }
  }
  if (quote)
    put_mem(l, "\"", 1);
}

/* The start of a line: its time and level, and in JSON the message's key. */
static void line_start(line_t *l, ec_log_level_t level) {
  /* The date and time to the second are formatted once a second (lines
   * come from the I/O thread and the password checks' threads: each keeps
   * its own). */
  static _Thread_local time_t stamp_sec = (time_t)-1;
  static _Thread_local char stamp[48];
  static _Thread_local size_t stamp_len;
  struct timespec ts;
  char ms[6];
  clock_gettime(CLOCK_REALTIME, &ts);
  if (ts.tv_sec != stamp_sec) {
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    stamp_len = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    stamp_sec = ts.tv_sec;
  }
  long milli = ts.tv_nsec / 1000000L;
  ms[0] = '.';
  ms[1] = (char)('0' + milli / 100);
  ms[2] = (char)('0' + milli / 10 % 10);
  ms[3] = (char)('0' + milli % 10);
  ms[4] = 'Z';
  ms[5] = '\0';
  l->len = 0;
  if (current_format == EC_LOG_JSON) {
    put_mem(l, "{\"time\":\"", 9);
    put_mem(l, stamp, stamp_len);
    put_mem(l, ms, 5);
    put_mem(l, "\",\"level\":\"", 11);
    put_short(l, level_names[level]);
    put_mem(l, "\",\"msg\":", 8);
  } else {
    put_mem(l, stamp, stamp_len);
    put_mem(l, ms, 5);
    put_mem(l, " edgecoap[", 10);
    put_short(l, level_tags[level]);
    put_mem(l, "] ", 2);
  }
}

/*
 * Lines a thread holds (ec_log_hold): written together by ec_log_sync(),
 * or when the next would not fit. PIPE_BUF bytes at most, so that one
 * write stays whole on a pipe shared with other writers, as a single line
 * does.
 */
#define HELD_CAP 4096

typedef struct {
  char *buf; /* HELD_CAP bytes while held, else NULL */
  size_t len;
  uint64_t since_ms; /* when its first line came (monotonic) */
} held_t;

static _Thread_local held_t held;

static void held_write(void) {
  if (held.len > 0)
    fwrite(held.buf, 1, held.len, stderr);
  held.len = 0;
}

void ec_log_hold(bool on) {
  if (on && held.buf == NULL) {
    held.buf = malloc(HELD_CAP); /* without it, lines go out one by one */
    held.len = 0;
  } else if (!on && held.buf != NULL) {
    held_write();
    free(held.buf);
    held.buf = NULL;
  }
}

void ec_log_sync(unsigned older_than_ms) {
  if (held.len == 0 || (older_than_ms > 0 &&
                        mono_ms() - held.since_ms < older_than_ms))
    return;
  held_write();
}

/* @p hold: a structured line, which waits while its thread holds lines;
 * any other line writes those first, so that the order stays. */
static void line_end(line_t *l, bool hold) {
  /* Room for the closing brace and newline is kept whatever was cut. */
  if (l->len > sizeof(l->buf) - 3)
    l->len = sizeof(l->buf) - 3; /* a text line cut short */
  if (current_format == EC_LOG_JSON)
    l->buf[l->len++] = '}';
  l->buf[l->len++] = '\n';
  if (held.buf != NULL && hold) {
    if (held.len + l->len > HELD_CAP)
      held_write();
    if (held.len == 0)
      held.since_ms = mono_ms();
    memcpy(held.buf + held.len, l->buf, l->len);
    held.len += l->len;
    return;
  }
  held_write();
  /* One write per line keeps lines whole when stderr is shared. */
  fwrite(l->buf, 1, l->len, stderr);
}

static void write_line(ec_log_level_t level, const char *msg) {
  line_t l;
  line_start(&l, level);
  if (current_format == EC_LOG_JSON)
    put_value(&l, msg, true);
  else
    put_str(&l, msg);
  line_end(&l, false);
}

void ec_log_fields(ec_log_level_t level, const char *event,
                   const ec_log_field_t *fields, size_t n) {
  ec_log_fields_plain(level, event, fields, NULL, n);
}

void ec_log_fields_plain(ec_log_level_t level, const char *event,
                         const ec_log_field_t *fields, const size_t *plain,
                         size_t n) {
  if (level > current_level)
    return;
  bool json = current_format == EC_LOG_JSON;
  line_t l;
  line_start(&l, level);
  if (json)
    put_value(&l, event, true);
  else
    put_str(&l, event);
  for (size_t i = 0; i < n; i++) {
    const ec_log_field_t *f = &fields[i];
    char num[24];
    if (l.len + 4 * LINE_RESERVE > sizeof(l.buf))
      break; /* the rest is left out, and the line stays whole */
    if (json)
      put_mem(&l, ",\"", 2);
    else
      put_mem(&l, " ", 1);
    put_short(&l, f->key);
    if (json)
      put_mem(&l, "\":", 2);
    else
      put_mem(&l, "=", 1);
    if (f->str != NULL && plain != NULL && plain[i] > 0) {
      /* What put_value() would write for it, without its pass over it. */
      if (json)
        put_mem(&l, "\"", 1);
      if (l.len + LINE_RESERVE < sizeof(l.buf))
        put_mem(&l, f->str, plain[i]);
      if (json)
        put_mem(&l, "\"", 1);
    } else if (f->str != NULL) {
      put_value(&l, f->str, json);
    } else {
      /* Decimal digits from the end; the magnitude as unsigned, so that
       * LLONG_MIN too has one. */
      unsigned long long v = f->num < 0 ? 0ull - (unsigned long long)f->num
                                        : (unsigned long long)f->num;
      size_t at = sizeof(num);
      do {
        num[--at] = (char)('0' + v % 10);
        v /= 10;
      } while (v > 0);
      if (f->num < 0)
        num[--at] = '-';
      put_mem(&l, num + at, sizeof(num) - at);
    }
  }
  line_end(&l, true);
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
