/* edgecoap tests: the server log's rate limit per call site. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "suite.h"

/* Run @p fn with standard error going to a file; return what it wrote. */
static char *capture(void (*fn)(void)) {
  fflush(stderr);
  FILE *f = tmpfile();
  if (f == NULL)
    return NULL;
  int saved = dup(2);
  dup2(fileno(f), 2);
  fn();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  long n = ftell(f);
  char *out = malloc((size_t)n + 1);
  rewind(f);
  size_t got = out ? fread(out, 1, (size_t)n, f) : 0;
  if (out)
    out[got] = '\0';
  fclose(f);
  return out;
}

static int count(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
    n++;
  return n;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* A failing disk: every commit logs the same error line. */
static void thousand_failed_commits(void) {
  ec_log_set_rate(5, 300);
  for (int i = 0; i < 1000; i++)
    ec_log(EC_LOG_ERROR, "group commit of %d writes failed: disk full", i);
  ec_log(EC_LOG_WARN, "another call site still logs");
  sleep_ms(350);
  ec_log(EC_LOG_ERROR, "group commit of %d writes failed: disk full", 1000);
  for (int i = 0; i < 3; i++)
    ec_log(EC_LOG_ERROR, "group commit of %d writes failed: disk full", i);
  ec_log_flush();
}

static void test_repeated_line_is_rate_limited(void) {
  char *out = capture(thousand_failed_commits);
  CU_ASSERT_PTR_NOT_NULL_FATAL(out);
  /* 5 in the first window, then 4 in the second (5 allowed, 4 sent). */
  CU_ASSERT_EQUAL(count(out, "writes failed: disk full\n"), 9);
  CU_ASSERT_EQUAL(count(out, "another call site still logs"), 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "995 more lines like \"group commit of "
                                     "%d writes failed: disk full\" "
                                     "suppressed"));
  CU_ASSERT_EQUAL(count(out, "suppressed"), 1); /* nothing left to flush */
  if (CU_get_number_of_failures() > 0)
    fprintf(stderr, "%s", out);
  free(out);
}

static void debug_lines(void) {
  ec_log_set_rate(2, 60000);
  ec_log_set_level(EC_LOG_DEBUG);
  for (int i = 0; i < 50; i++)
    ec_log(EC_LOG_DEBUG, "debug line %d", i);
  ec_log_set_level(EC_LOG_INFO);
  ec_log_flush();
}

static void test_debug_lines_are_not_limited(void) {
  char *out = capture(debug_lines);
  CU_ASSERT_PTR_NOT_NULL_FATAL(out);
  CU_ASSERT_EQUAL(count(out, "debug line"), 50);
  free(out);
}

/* Structured lines in both formats: numbers at their limits, strings that
 * need quoting and escaping between plain runs. */
static void field_lines(void) {
  ec_log_field_t f[] = {
      {"zero", NULL, 0},
      {"neg", NULL, -42},
      {"min", NULL, -9223372036854775807LL - 1},
      {"max", NULL, 9223372036854775807LL},
      {"plain", "127.0.0.1:5683", 0},
      {"mixed", "a \"b\"\\c\x01" "d", 0},
      {"empty", "", 0},
  };
  ec_log_set_format(EC_LOG_TEXT);
  ec_log_fields(EC_LOG_INFO, "access", f, sizeof(f) / sizeof(f[0]));
  ec_log_set_format(EC_LOG_JSON);
  ec_log_fields(EC_LOG_INFO, "access", f, sizeof(f) / sizeof(f[0]));
  ec_log_set_format(EC_LOG_TEXT);
}

static void test_fields_are_written_exactly(void) {
  char *out = capture(field_lines);
  CU_ASSERT_PTR_NOT_NULL_FATAL(out);
  CU_ASSERT_PTR_NOT_NULL(strstr(
      out, "] access zero=0 neg=-42 min=-9223372036854775808 "
           "max=9223372036854775807 plain=127.0.0.1:5683 "
           "mixed=\"a \\\"b\\\"\\\\c\\x01d\" empty=\"\"\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(
      out, "\"msg\":\"access\",\"zero\":0,\"neg\":-42,"
           "\"min\":-9223372036854775808,\"max\":9223372036854775807,"
           "\"plain\":\"127.0.0.1:5683\",\"mixed\":\"a \\\"b\\\"\\\\c\\u0001d\","
           "\"empty\":\"\"}\n"));
  /* The time: 2026-12-02T18:00:00.123Z, milliseconds with three digits. */
  CU_ASSERT_TRUE(strlen(out) > 24 && out[4] == '-' && out[10] == 'T' &&
                 out[19] == '.' && out[23] == 'Z');
  if (strstr(out, "min=-9223372036854775808") == NULL)
    fprintf(stderr, "\n%s", out);
  free(out);
}

/* Held structured lines: none written before a sync, then all of them in
 * order, a plain line writing those before it first; past 4 KiB they go
 * out by themselves, none lost. @p offsets: how much of the output there
 * was at three points. */
static long hold_offsets[3];

static long written(void) {
  fflush(stderr);
  return (long)lseek(2, 0, SEEK_CUR);
}

static void held_lines(void) {
  ec_log_field_t one[] = {{"n", NULL, 1}, {"v", "a b=c", 0}};
  ec_log_field_t two[] = {{"n", NULL, 2}, {"v", "x", 0}};
  ec_log_set_format(EC_LOG_TEXT);
  ec_log_hold(true);
  ec_log_fields(EC_LOG_INFO, "held", one, 2);
  ec_log_fields(EC_LOG_INFO, "held", two, 2);
  ec_log_sync(60000); /* not that old yet */
  hold_offsets[0] = written();
  ec_log(EC_LOG_WARN, "a plain line after two held ones");
  hold_offsets[1] = written();
  for (int i = 0; i < 100; i++) {
    ec_log_field_t f[] = {{"i", NULL, i},
                          {"pad", "0123456789012345678901234567890123456789",
                           0}};
    ec_log_fields(EC_LOG_INFO, "many", f, 2);
  }
  hold_offsets[2] = written();
  ec_log_hold(false);
}

static void test_held_lines_keep_their_order(void) {
  char *out = capture(held_lines);
  CU_ASSERT_PTR_NOT_NULL_FATAL(out);
  CU_ASSERT_EQUAL(hold_offsets[0], 0);
  const char *a = strstr(out, "] held n=1 v=\"a b=c\"\n");
  const char *b = strstr(out, "] held n=2 v=x\n");
  const char *c = strstr(out, "a plain line after two held ones\n");
  CU_ASSERT_TRUE(a != NULL && b != NULL && c != NULL && a < b && b < c);
  CU_ASSERT_TRUE(hold_offsets[1] > 0 && c != NULL &&
                 hold_offsets[1] == (long)(strchr(c, '\n') + 1 - out));
  /* 100 lines of about 100 bytes: some written while held, all at the end,
   * in order. */
  CU_ASSERT_TRUE(hold_offsets[2] > hold_offsets[1]);
  CU_ASSERT_TRUE(hold_offsets[2] < (long)strlen(out));
  CU_ASSERT_EQUAL(count(out, "] many i="), 100);
  const char *at = out;
  for (int i = 0; i < 100 && at != NULL; i++) {
    char want[32];
    snprintf(want, sizeof(want), "] many i=%d pad=", i);
    at = strstr(at, want);
    CU_ASSERT_PTR_NOT_NULL(at);
  }
  if (CU_get_number_of_failures() > 0)
    fprintf(stderr, "%ld %ld %ld\n%s", hold_offsets[0], hold_offsets[1],
            hold_offsets[2], out);
  free(out);
}

static const ec_test_t tests[] = {
    {test_repeated_line_is_rate_limited, "repeated_line_is_rate_limited"},
    {test_debug_lines_are_not_limited, "debug_lines_are_not_limited"},
    {test_fields_are_written_exactly, "fields_are_written_exactly"},
    {test_held_lines_keep_their_order, "held_lines_keep_their_order"},
};

int main(void) {
  return ec_test_main("log", tests, EC_TEST_COUNT(tests), NULL, NULL, NULL);
}
