/* edgecoap tests: the streaming encoders and the CBOR fast path against the tree path, over the fuzz corpus. */
/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the server stores and answers must stay byte for byte what the tree
 * path wrote (tests/ref/ref_tree.c keeps it). Every file of every corpus
 * under fuzz/corpus is decoded in both formats; what decodes is encoded by
 * both encoders in both formats, into lists, and as stored CBOR spliced
 * into history and message lists; the raw file is spliced too, as a stored
 * document gone wrong would be. Decoding a report through the fast path and
 * through the tree must agree on the verdict, the whole error report and
 * every field.
 */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgecoap/codec.h"
#include "edgecoap/deployment.h"
#include "edgecoap/status_message.h"
#include "ref_tree.h"
#include "stream.h"
#include "suite.h"
#include "tree.h"

#ifndef EC_FUZZ_CORPUS_DIR
#define EC_FUZZ_CORPUS_DIR "fuzz/corpus"
#endif

static const ec_format_t formats[2] = {EC_FORMAT_JSON, EC_FORMAT_CBOR};
static unsigned long files_seen, encodings_compared, reports_decoded;

/* The bytes of an encoder, measured first and then written; NULL with
 * *rc < 0 when it failed. Checks that the write gives the measured length
 * and that a buffer one byte short still reports the full length. */
typedef ssize_t (*enc_fn)(ec_format_t fmt, const void *ctx, uint8_t *buf,
                          size_t cap);

static uint8_t *encode(enc_fn fn, ec_format_t fmt, const void *ctx,
                       ssize_t *rc) {
  ssize_t n = fn(fmt, ctx, NULL, 0);
  *rc = n;
  if (n < 0) {
    return NULL;
  }
  uint8_t *buf = malloc((size_t)n + 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
  CU_ASSERT_EQUAL(fn(fmt, ctx, buf, (size_t)n + 1), n);
  if (n > 0) {
    uint8_t *shorter = malloc((size_t)n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(shorter);
    CU_ASSERT_EQUAL(fn(fmt, ctx, shorter, (size_t)n - 1), n);
    free(shorter);
  }
  return buf;
}

/* Both encoders give the same result: the same error, or the same bytes. */
static void same(enc_fn old_fn, enc_fn new_fn, const void *ctx,
                 const char *what, const char *file) {
  for (size_t f = 0; f < 2; f++) {
    ssize_t r1, r2;
    uint8_t *a = encode(old_fn, formats[f], ctx, &r1);
    uint8_t *b = encode(new_fn, formats[f], ctx, &r2);
    bool ok = r1 == r2 && (r1 < 0 || memcmp(a, b, (size_t)r1) == 0);
    if (!ok) {
      fprintf(stderr, "\n%s differs (%s, format %d): %zd vs %zd\n", what, file,
              (int)formats[f], r1, r2);
      if (r1 >= 0 && r2 >= 0 && formats[f] == EC_FORMAT_JSON) {
        fprintf(stderr, "  old %.*s\n  new %.*s\n", (int)r1, (char *)a,
                (int)r2, (char *)b);
      }
    }
    CU_ASSERT(ok);
    encodings_compared++;
    free(a);
    free(b);
  }
}

/* ---- adapters: one signature for every encoder --------------------------- */

/* A list and its length, or rows with their envelope flag. */
typedef struct {
  const void *p;
  size_t n;
  bool envelope;
} list_t;

/* old_NAME and new_NAME call ref_CALL and ec_CALL, with x the context. */
#define ADAPTERS(name, type, call)                                            \
  static ssize_t old_##name(ec_format_t f, const void *c, uint8_t *b,        \
                            size_t n) {                                       \
    const type *x = c;                                                        \
    return ref_##call;                                                        \
  }                                                                           \
  static ssize_t new_##name(ec_format_t f, const void *c, uint8_t *b,        \
                            size_t n) {                                       \
    const type *x = c;                                                        \
    return ec_##call;                                                         \
  }

ADAPTERS(status, ec_deployment_status_t, deployment_status_encode(f, x, b, n))
ADAPTERS(hist, list_t, history_encode(f, x->p, x->n, b, n))
ADAPTERS(deps, list_t, deployments_encode(f, x->p, x->n, b, n))
ADAPTERS(msg, list_t, status_message_encode(f, x->p, b, n))
ADAPTERS(msgs, list_t, status_messages_encode(f, x->p, x->n, b, n))
ADAPTERS(to_json, list_t, cbor_to_json(x->p, x->n, (char *)b, n))
ADAPTERS(rows, list_t, msg_rows_encode(f, x->p, x->n, x->envelope, b, n))

/* ---- decoded documents equal, field by field ------------------------------ */

static bool str_eq(const char *a, const char *b) {
  return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool error_eq(bool ha, const ec_error_info_t *a, bool hb,
                     const ec_error_info_t *b) {
  return ha == hb && str_eq(a->code, b->code) &&
         str_eq(a->message, b->message) && str_eq(a->source, b->source);
}

static bool status_eq(const ec_deployment_status_t *a,
                      const ec_deployment_status_t *b) {
  if (!str_eq(a->api_version, b->api_version) || !str_eq(a->kind, b->kind) ||
      !str_eq(a->deployment_id, b->deployment_id) ||
      !str_eq(a->device_id, b->device_id) ||
      a->adopted_manifest_version != b->adopted_manifest_version ||
      a->state != b->state ||
      !error_eq(a->has_error, &a->error, b->has_error, &b->error) ||
      a->n_components != b->n_components ||
      (a->components == NULL) != (b->components == NULL)) {
    return false;
  }
  for (size_t i = 0; i < a->n_components; i++) {
    const ec_component_status_t *x = &a->components[i], *y = &b->components[i];
    if (!str_eq(x->name, y->name) || x->state != y->state ||
        !error_eq(x->has_error, &x->error, y->has_error, &y->error)) {
      return false;
    }
  }
  return true;
}

static bool codec_error_eq(const ec_codec_error_t *a, const ec_codec_error_t *b) {
  return a->code == b->code && strcmp(a->title, b->title) == 0 &&
         strcmp(a->field, b->field) == 0 && strcmp(a->detail, b->detail) == 0;
}

/* ---- one corpus file ------------------------------------------------------- */

static _Alignas(max_align_t) uint8_t arena_mem[2][1 << 20];

static unsigned long canon_claims;

/* Whenever the decoder calls @p data the stored form, it is: the encoding
 * of what it decoded, byte for byte (the server then keeps the request's
 * bytes instead of encoding them again). */
static bool canon_holds(ec_format_t fmt, const uint8_t *data, size_t len,
                        const char *file) {
  static _Alignas(max_align_t) uint8_t mem[1 << 16];
  ec_arena_t a;
  ec_arena_init(&a, mem, sizeof mem);
  ec_deployment_status_t st;
  bool canonical = true;
  if (ec_deployment_status_decode_canon(fmt, data, len, &st, &a, NULL,
                                        &canonical) < 0) {
    return false;
  }
  if (!canonical) {
    return false;
  }
  canon_claims++;
  static uint8_t enc[1 << 16];
  ssize_t n = ec_deployment_status_encode(EC_FORMAT_CBOR, &st, enc, sizeof enc);
  bool ok = fmt == EC_FORMAT_CBOR && n == (ssize_t)len &&
            memcmp(enc, data, len) == 0;
  if (!ok) {
    fprintf(stderr, "\ncalled canonical, is not (%s)\n", file);
  }
  CU_ASSERT(ok);
  return true;
}

/* The stored form of a report is canonical, and no change of one of its
 * bytes (a letter's case, a head's value) makes a claim that is false. */
static void check_canon(const ec_deployment_status_t *s, const char *file) {
  static uint8_t doc[1 << 16], mut[1 << 16];
  ssize_t n = ec_deployment_status_encode(EC_FORMAT_CBOR, s, doc, sizeof doc);
  CU_ASSERT_FATAL(n > 0 && (size_t)n <= sizeof doc);
  CU_ASSERT(canon_holds(EC_FORMAT_CBOR, doc, (size_t)n, file));
  /* The first key's head one byte longer than it need be (0x78 len):
   * the same report, not its stored form. */
  if (n > 1 && (doc[1] & 0xe0) == 0x60 && (doc[1] & 31) < 24) {
    mut[0] = doc[0];
    mut[1] = 0x78;
    mut[2] = doc[1] & 31;
    memcpy(mut + 3, doc + 2, (size_t)n - 2);
    ec_arena_t a;
    static _Alignas(max_align_t) uint8_t mem[1 << 16];
    ec_arena_init(&a, mem, sizeof mem);
    ec_deployment_status_t st;
    bool canonical = true;
    CU_ASSERT_EQUAL(ec_deployment_status_decode_canon(EC_FORMAT_CBOR, mut,
                                                      (size_t)n + 1, &st, &a,
                                                      NULL, &canonical),
                    0);
    CU_ASSERT_FALSE(canonical);
  }
  static const uint8_t flips[] = {0x20, 0x01, 0x18};
  for (ssize_t i = 0; i < n; i++) {
    for (size_t k = 0; k < sizeof flips; k++) {
      memcpy(mut, doc, (size_t)n);
      mut[i] ^= flips[k];
      (void)canon_holds(EC_FORMAT_CBOR, mut, (size_t)n, file);
    }
  }
}

static void check_report(const uint8_t *data, size_t len, const char *file) {
  for (size_t f = 0; f < 2; f++) {
    ec_arena_t a1, a2;
    ec_arena_init(&a1, arena_mem[0], sizeof arena_mem[0]);
    ec_arena_init(&a2, arena_mem[1], sizeof arena_mem[1]);
    ec_deployment_status_t s1, s2;
    ec_codec_error_t e1, e2;
    memset(&e1, 0, sizeof e1);
    memset(&e2, 0, sizeof e2);
    int r1 = ec__deployment_status_decode_tree(formats[f], data, len, &s1, &a1,
                                               &e1);
    int r2 = ec_deployment_status_decode(formats[f], data, len, &s2, &a2, &e2);
    bool ok = r1 == r2 && (r1 < 0 ? codec_error_eq(&e1, &e2) : status_eq(&s1, &s2));
    if (!ok) {
      fprintf(stderr, "\ndecode differs (%s, format %d): %d vs %d\n", file,
              (int)formats[f], r1, r2);
    }
    CU_ASSERT(ok);
    if (r1 < 0) {
      continue;
    }
    reports_decoded++;
    same(old_status, new_status, &s1, "DeploymentStatus", file);
    (void)canon_holds(formats[f], data, len, file);
    check_canon(&s1, file);

    /* Stored as the server stores it, then in a history page with the raw
     * input as a second (possibly corrupt) stored report. */
    ssize_t n = ec_deployment_status_encode(EC_FORMAT_CBOR, &s1, NULL, 0);
    CU_ASSERT_FATAL(n > 0);
    uint8_t *doc = malloc((size_t)n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    CU_ASSERT_EQUAL(ec_deployment_status_encode(EC_FORMAT_CBOR, &s1, doc, (size_t)n), n);
    ec_history_entry_t h[2] = {{1, 1529247010033, doc, (size_t)n},
                               {2, 1529247010034, data, len}};
    list_t one = {h, 1}, two = {h, 2};
    same(old_hist, new_hist, &one, "history", file);
    same(old_hist, new_hist, &two, "history with the raw input", file);
    ec_deployment_summary_t d[2] = {{s1.deployment_id, s1.state, 1529247010033},
                                    {s1.api_version, s1.components != NULL
                                                         ? s1.components[0].state
                                                         : s1.state, 0}};
    list_t dl = {d, 2};
    same(old_deps, new_deps, &dl, "deployments", file);
    free(doc);
  }
  /* Any input as a stored report, alone. */
  ec_history_entry_t raw = {7, 0, data, len};
  list_t one = {&raw, 1};
  same(old_hist, new_hist, &one, "history of the raw input", file);
}

static void check_messages(const uint8_t *data, size_t len, const char *file) {
  for (size_t f = 0; f < 2; f++) {
    for (int kind = 0; kind < 2; kind++) {
      ec_arena_t a;
      ec_arena_init(&a, arena_mem[0], sizeof arena_mem[0]);
      ec_status_message_t *m;
      size_t n;
      if (ec_status_messages_decode(formats[f], data, len, (ec_msg_kind_t)kind,
                                    &m, &n, NULL, &a, NULL) < 0) {
        continue;
      }
      list_t list = {m, n};
      if (n > 0) {
        same(old_msg, new_msg, &list, "StatusMessage", file);
      }
      same(old_msgs, new_msgs, &list, "StatusMessages", file);
      /* Stored as the server stores them (without IDs), answered as rows. */
      ec_msg_row_t *rows = calloc(n + 1, sizeof *rows);
      CU_ASSERT_PTR_NOT_NULL_FATAL(rows);
      size_t k = 0;
      for (size_t i = 0; i < n; i++) {
        ec_status_message_t c = m[i];
        c.id = 0;
        ssize_t dl = ec_status_message_encode(EC_FORMAT_CBOR, &c, NULL, 0);
        if (dl < 0) {
          continue;
        }
        uint8_t *doc = malloc((size_t)dl);
        CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
        ec_status_message_encode(EC_FORMAT_CBOR, &c, doc, (size_t)dl);
        rows[k++] = (ec_msg_row_t){(int64_t)(k + 1), doc, (size_t)dl};
      }
      rows[k] = (ec_msg_row_t){(int64_t)(k + 1), data, len};
      list_t all = {rows, k, true}, first = {rows, 1, false};
      list_t with_raw = {rows, k + 1, true}, raw = {rows + k, 1, false};
      same(old_rows, new_rows, &all, "rows", file);
      same(old_rows, new_rows, &with_raw, "rows with the raw input", file);
      same(old_rows, new_rows, &raw, "the raw input as a row", file);
      if (k > 0) {
        same(old_rows, new_rows, &first, "one row", file);
      }
      for (size_t i = 0; i < k; i++) {
        free((void *)rows[i].doc);
      }
      free(rows);
    }
  }
}

static void each_corpus_file(void (*fn)(const uint8_t *, size_t, const char *)) {
  DIR *top = opendir(EC_FUZZ_CORPUS_DIR);
  CU_ASSERT_PTR_NOT_NULL_FATAL(top);
  struct dirent *c;
  while ((c = readdir(top)) != NULL) {
    if (c->d_name[0] == '.') {
      continue;
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", EC_FUZZ_CORPUS_DIR, c->d_name);
    DIR *d = opendir(dir);
    if (d == NULL) {
      continue;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      char path[2048];
      if (e->d_name[0] == '.') {
        continue;
      }
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      FILE *f = fopen(path, "rb");
      if (f == NULL) {
        continue;
      }
      static uint8_t buf[1 << 20];
      size_t len = fread(buf, 1, sizeof buf, f);
      fclose(f);
      files_seen++;
      fn(buf, len, path);
    }
    closedir(d);
  }
  closedir(top);
}

static void test_reports_equal_over_corpus(void) {
  files_seen = encodings_compared = reports_decoded = 0;
  canon_claims = 0;
  each_corpus_file(check_report);
  fprintf(stderr, " (%lu files, %lu reports, %lu encodings, %lu stored forms) ",
          files_seen, reports_decoded, encodings_compared, canon_claims);
  CU_ASSERT(files_seen > 1000);
  CU_ASSERT(reports_decoded > 50);
  CU_ASSERT(canon_claims > reports_decoded);
}

static void test_messages_equal_over_corpus(void) {
  files_seen = encodings_compared = 0;
  each_corpus_file(check_messages);
  fprintf(stderr, " (%lu files, %lu encodings) ", files_seen,
          encodings_compared);
  CU_ASSERT(encodings_compared > 1000);
}

/* Hand-made stored documents that the streaming path must leave to the tree
 * path, and what each gives in a history page. */
/* ec_cbor_to_json() of any input, and its NUL when there is room. */
static void check_transcode(const uint8_t *data, size_t len, const char *file) {
  list_t in = {data, len, false};
  same(old_to_json, new_to_json, &in, "CBOR as JSON", file);
  char a[64], b[64];
  memset(a, 'x', sizeof a);
  memset(b, 'x', sizeof b);
  ssize_t r1 = ref_cbor_to_json(data, len, a, sizeof a);
  ssize_t r2 = ec_cbor_to_json(data, len, b, sizeof b);
  CU_ASSERT_EQUAL(r1, r2);
  CU_ASSERT(r1 < 0 || (size_t)r1 >= sizeof a || memcmp(a, b, (size_t)r1 + 1) == 0);
}

static void test_transcode_equal_over_corpus(void) {
  files_seen = encodings_compared = 0;
  each_corpus_file(check_transcode);
  fprintf(stderr, " (%lu files) ", files_seen);
  CU_ASSERT(files_seen > 1000);
}

/* A report with an empty error object decodes as one without: its stored
 * form leaves the object out, so the request's bytes are not it. */
static void test_an_empty_error_is_no_stored_form(void) {
  static const uint8_t doc[] =
      "\xA5\x6A" "apiVersion" "\x73" "deployment.margo/v1"
      "\x64" "kind" "\x70" "DeploymentStatus"
      "\x6C" "deploymentId" "\x78\x24" "a3e2f5dc-912e-494f-8395-52cf3769bc06"
      "\x66" "status" "\xA2\x65" "state" "\x67" "Pending" "\x65" "error" "\xA0"
      "\x6A" "components" "\x80";
  static _Alignas(max_align_t) uint8_t mem[1 << 16];
  ec_arena_t a;
  ec_arena_init(&a, mem, sizeof mem);
  ec_deployment_status_t st;
  bool canonical = true;
  CU_ASSERT_EQUAL_FATAL(ec_deployment_status_decode_canon(EC_FORMAT_CBOR, doc,
                                                          sizeof doc - 1, &st,
                                                          &a, NULL, &canonical),
                        0);
  CU_ASSERT_FALSE(st.has_error);
  CU_ASSERT_FALSE(canonical);
  /* Without the error member it is the stored form. */
  static const uint8_t bare[] =
      "\xA5\x6A" "apiVersion" "\x73" "deployment.margo/v1"
      "\x64" "kind" "\x70" "DeploymentStatus"
      "\x6C" "deploymentId" "\x78\x24" "a3e2f5dc-912e-494f-8395-52cf3769bc06"
      "\x66" "status" "\xA1\x65" "state" "\x67" "Pending"
      "\x6A" "components" "\x80";
  CU_ASSERT_TRUE(canon_holds(EC_FORMAT_CBOR, bare, sizeof bare - 1, "bare"));
}

/* Every state in the encoder's spelling, the report's and a component's,
 * is read as that state and the report as its stored form (the fast
 * path's exact match, deployment.c); another case is not the stored form. */
static void test_every_state_is_a_stored_form(void) {
  for (int i = 0; i < EC_STATE_COUNT; i++) {
    ec_component_status_t c = {.name = "app", .state = (ec_state_t)i};
    ec_deployment_status_t s = {
        .api_version = "deployment.margo/v1", .kind = "DeploymentStatus",
        .deployment_id = "a3e2f5dc-912e-494f-8395-52cf3769bc06",
        .state = (ec_state_t)i, .components = &c, .n_components = 1};
    static uint8_t doc[1024];
    ssize_t n = ec_deployment_status_encode(EC_FORMAT_CBOR, &s, doc,
                                            sizeof doc);
    CU_ASSERT_FATAL(n > 0);
    CU_ASSERT_TRUE(canon_holds(EC_FORMAT_CBOR, doc, (size_t)n,
                               ec_state_name((ec_state_t)i)));
    /* The state's first letter in the other case (the report's own). */
    const char *name = ec_state_name((ec_state_t)i);
    size_t k = strlen(name), at = 0;
    while (at + k <= (size_t)n && memcmp(doc + at, name, k) != 0)
      at++;
    CU_ASSERT_FATAL(at + k <= (size_t)n);
    doc[at] ^= 0x20;
    CU_ASSERT_FALSE(canon_holds(EC_FORMAT_CBOR, doc, (size_t)n, name));
    static _Alignas(max_align_t) uint8_t mem[1 << 12];
    ec_arena_t a;
    ec_deployment_status_t st;
    ec_arena_init(&a, mem, sizeof mem);
    CU_ASSERT_TRUE(ec_deployment_status_decode(EC_FORMAT_CBOR, doc, (size_t)n,
                                               &st, &a, NULL) == 0 &&
                   st.state == (ec_state_t)i);
  }
}

static void test_stored_fallbacks(void) {
  static const struct {
    const char *name;
    const uint8_t *doc;
    size_t len;
  } cases[] = {
      {"non-shortest head", (const uint8_t *)"\xB8\x01\x61k\x01", 5},
      {"indefinite map", (const uint8_t *)"\xBF\x61k\x01\xFF", 5},
      {"integer key", (const uint8_t *)"\xA1\x05\x01", 3},
      {"float value", (const uint8_t *)"\xA1\x61k\xF9\x3C\x00", 6},
      {"double value", (const uint8_t *)"\xA1\x61k\xFB\x3F\xF8\0\0\0\0\0\0", 12},
      {"duplicate key", (const uint8_t *)"\xA2\x61k\x01\x61k\x02", 7},
      {"tag", (const uint8_t *)"\xA1\x61k\xC1\x01", 5},
      {"not a map", (const uint8_t *)"\x83\x01\x02\x03", 4},
      {"control characters", (const uint8_t *)"\xA1\x61k\x64\"\\\x01\n", 8},
      {"truncated", (const uint8_t *)"\xA2\x61k\x01", 4},
      {"trailing byte", (const uint8_t *)"\xA1\x61k\x01\x00", 5},
      {"deep", (const uint8_t *)"\xA1\x61k\x81\x81\x81\x81\x81\x81\x81\x81\x81"
                                "\x81\x81\x81\x81\x81\x01", 18},
      {"empty", (const uint8_t *)"", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ec_history_entry_t h = {1, 0, cases[i].doc, cases[i].len};
    list_t one = {&h, 1};
    same(old_hist, new_hist, &one, "history", cases[i].name);
    ec_msg_row_t r = {1, cases[i].doc, cases[i].len};
    list_t rows = {&r, 1, true};
    same(old_rows, new_rows, &rows, "rows", cases[i].name);
    list_t in = {cases[i].doc, cases[i].len, false};
    same(old_to_json, new_to_json, &in, "CBOR as JSON", cases[i].name);
  }
}

int main(void) {
  static const ec_test_t tests[] = {
      {test_reports_equal_over_corpus, "reports: streaming == tree over the corpus"},
      {test_messages_equal_over_corpus, "messages: streaming == tree over the corpus"},
      {test_transcode_equal_over_corpus, "ec_cbor_to_json: streaming == tree over the corpus"},
      {test_every_state_is_a_stored_form, "every state is a stored form"},
      {test_stored_fallbacks, "stored CBOR the streaming path leaves to the tree"},
      {test_an_empty_error_is_no_stored_form, "an empty error is no stored form"},
  };
  return ec_test_main("codec_stream", tests, EC_TEST_COUNT(tests), NULL, NULL,
                      NULL);
}
