/* edgecoap codec: RFC 3339 date-times <-> UTC milliseconds since the epoch. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdio.h>

#include "edgecoap/codec.h"

#define MS_PER_DAY INT64_C(86400000)

/* Howard Hinnant's days_from_civil: exact over the proleptic Gregorian
 * calendar with no libc help (timegm() is neither C nor POSIX). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = (unsigned)(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* RFC 3339 years have four digits: 0000-01-01T00:00:00.000Z to
 * 9999-12-31T23:59:59.999Z is everything we can both write and read back. */
static int64_t min_ms(void) { return days_from_civil(0, 1, 1) * MS_PER_DAY; }
static int64_t max_ms(void) {
  return days_from_civil(10000, 1, 1) * MS_PER_DAY - 1;
}

int ec_time_format_ms(int64_t ms, char out[32]) {
  if (out == NULL || ms < min_ms() || ms > max_ms()) {
    return EC_EINVAL;
  }
  /* Floor division, so times before 1970 land on the right day. */
  int64_t days = ms / MS_PER_DAY;
  int64_t rem = ms % MS_PER_DAY;
  if (rem < 0) {
    rem += MS_PER_DAY;
    days--;
  }
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  unsigned r = (unsigned)rem;
  return snprintf(out, 32, "%04d-%02u-%02uT%02u:%02u:%02u.%03uZ", (int)y, m, d,
                  r / 3600000, r / 60000 % 60, r / 1000 % 60, r % 1000);
}

static bool leap(unsigned y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(unsigned y, unsigned m) {
  static const unsigned dim[12] = {31, 28, 31, 30, 31, 30,
                                   31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : dim[m - 1];
}

/* Read exactly @p n decimal digits at *i. */
static bool digits(const char *s, size_t len, size_t *i, size_t n,
                   unsigned *out) {
  unsigned v = 0;
  if (n > len - *i) {
    return false;
  }
  for (size_t k = 0; k < n; k++) {
    char c = s[*i + k];
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + (unsigned)(c - '0');
  }
  *i += n;
  *out = v;
  return true;
}

static bool lit(const char *s, size_t len, size_t *i, char a, char b) {
  if (*i >= len || (s[*i] != a && s[*i] != b)) {
    return false;
  }
  (*i)++;
  return true;
}

int ec_time_parse_ms(const char *s, size_t len, int64_t *ms) {
  if ((s == NULL && len > 0) || ms == NULL) {
    return EC_EINVAL;
  }
  size_t i = 0;
  /* Zeroed so that optimisers need not prove every path sets them. */
  unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!digits(s, len, &i, 4, &y) || !lit(s, len, &i, '-', '-') ||
      !digits(s, len, &i, 2, &mo) || !lit(s, len, &i, '-', '-') ||
      !digits(s, len, &i, 2, &d) || !lit(s, len, &i, 'T', 't') ||
      !digits(s, len, &i, 2, &h) || !lit(s, len, &i, ':', ':') ||
      !digits(s, len, &i, 2, &mi) || !lit(s, len, &i, ':', ':') ||
      !digits(s, len, &i, 2, &sec)) {
    return EC_EBADDOC;
  }
  /* Fractions past milliseconds are truncated, as codec.h promises. */
  unsigned frac = 0;
  if (i < len && s[i] == '.') {
    size_t n = 0;
    for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++) {
      if (n < 3) {
        frac = frac * 10 + (unsigned)(s[i] - '0');
      }
    }
    if (n == 0) {
      return EC_EBADDOC;
    }
    for (; n < 3; n++) {
      frac *= 10;
    }
  }
  int64_t off_min = 0;
  if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
    i++;
  } else if (i < len && (s[i] == '+' || s[i] == '-')) {
    int sign = s[i++] == '-' ? -1 : 1;
    unsigned oh, om;
    if (!digits(s, len, &i, 2, &oh) || !lit(s, len, &i, ':', ':') ||
        !digits(s, len, &i, 2, &om) || oh > 23 || om > 59) {
      return EC_EBADDOC;
    }
    off_min = sign * (int64_t)(oh * 60 + om);
  }
  if (i != len) {
    return EC_EBADDOC;
  }
  /* Second 60 is RFC 3339's leap second; it counts as the next minute's
   * first second, since the epoch count has no room for it. */
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
      mi > 59 || sec > 60) {
    return EC_EBADDOC;
  }
  int64_t t = days_from_civil(y, mo, d) * MS_PER_DAY +
              (int64_t)(h * 3600 + mi * 60 + sec) * 1000 + frac -
              off_min * 60000;
  if (t < min_ms() || t > max_ms()) {
    return EC_EBADDOC;
  }
  *ms = t;
  return 0;
}
