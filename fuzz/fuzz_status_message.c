/* edgecoap fuzz: StatusMessage decoding (one message or a batch, as posted and as stored), with round trips as oracle. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

typedef struct {
  const ec_status_message_t *m;
  size_t n;
} list_t;

static ssize_t enc_list(ec_format_t fmt, const void *doc, uint8_t *buf,
                        size_t cap) {
  const list_t *l = doc;
  return ec_status_messages_encode(fmt, l->m, l->n, buf, cap);
}

/* What a kind of decoder accepted, its encoder writes back and the same
 * decoder reads to the same messages. */
static void roundtrip(ec_format_t fmt, ec_msg_kind_t kind,
                      const ec_status_message_t *m, size_t n) {
  list_t l = {m, n};
  ssize_t len;
  uint8_t *buf = fuzz_encode(enc_list, fmt, &l, &len);
  FUZZ_CHECK(buf != NULL);
  ec_arena_t a;
  ec_status_message_t *back;
  size_t k;
  fuzz_arena_new(&a, (size_t)len);
  FUZZ_CHECK(ec_status_messages_decode(fmt, buf, (size_t)len, kind, &back, &k,
                                       NULL, &a, NULL) == 0);
  FUZZ_CHECK(k == n);
  for (size_t i = 0; i < n; i++) {
    FUZZ_CHECK(fuzz_message_eq(&m[i], &back[i]));
  }
  fuzz_arena_free(&a);
  free(buf);
}

/* Stored rows come back with their IDs put in front of the stored CBOR. */
static void rows_roundtrip(const ec_status_message_t *m, size_t n) {
  ec_msg_row_t *rows = calloc(n + 1, sizeof *rows);
  FUZZ_CHECK(rows != NULL);
  for (size_t i = 0; i < n; i++) {
    ec_status_message_t copy = m[i];
    copy.id = 0;
    ssize_t len = ec_status_message_encode(EC_FORMAT_CBOR, &copy, NULL, 0);
    uint8_t *doc = len > 0 ? malloc((size_t)len) : NULL;
    FUZZ_CHECK(doc != NULL && ec_status_message_encode(EC_FORMAT_CBOR, &copy,
                                                       doc, (size_t)len) == len);
    rows[i] = (ec_msg_row_t){m[i].id, doc, (size_t)len};
  }
  for (size_t f = 0; f < 2; f++) {
    ssize_t len = ec_msg_rows_encode(fuzz_formats[f], rows, n, true, NULL, 0);
    uint8_t *buf = len > 0 ? malloc((size_t)len) : NULL;
    FUZZ_CHECK(buf != NULL && ec_msg_rows_encode(fuzz_formats[f], rows, n, true,
                                                 buf, (size_t)len) == len);
    ec_arena_t a;
    ec_status_message_t *back;
    size_t k;
    fuzz_arena_new(&a, (size_t)len);
    FUZZ_CHECK(ec_status_messages_decode(fuzz_formats[f], buf, (size_t)len,
                                         EC_MSG_STORED, &back, &k, NULL, &a,
                                         NULL) == 0 && k == n);
    for (size_t i = 0; i < n; i++) {
      FUZZ_CHECK(fuzz_message_eq(&m[i], &back[i]));
    }
    fuzz_arena_free(&a);
    free(buf);
  }
  for (size_t i = 0; i < n; i++) {
    free((void *)rows[i].doc);
  }
  free(rows);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  for (size_t i = 0; i < 4; i++) {
    ec_format_t fmt = fuzz_formats[i & 1];
    ec_msg_kind_t kind = i < 2 ? EC_MSG_NEW : EC_MSG_STORED;
    ec_arena_t a;
    ec_codec_error_t err;
    ec_status_message_t one, *many;
    size_t n;
    bool batch;
    fuzz_arena_new(&a, size);
    if (ec_status_message_decode(fmt, data, size, kind, &one, &a, &err) == 0) {
      roundtrip(fmt, kind, &one, 1);
    }
    int rc = ec_status_messages_decode(fmt, data, size, kind, &many, &n,
                                       &batch, &a, &err);
    if (rc == 0) {
      roundtrip(fmt, kind, many, n);
      if (kind == EC_MSG_STORED) {
        rows_roundtrip(many, n);
      }
    }
    /* The same document in the other format gets the same answer. */
    size_t tlen, n2;
    ec_status_message_t *many2;
    ec_codec_error_t err2;
    uint8_t *t = fuzz_transcoded(fmt, data, size, &tlen);
    if (t != NULL) {
      int rc2 = ec_status_messages_decode(fuzz_formats[1 - (i & 1)], t, tlen,
                                          kind, &many2, &n2, NULL, &a, &err2);
      FUZZ_CHECK(fuzz_same_refusal(rc, &err, rc2, &err2));
      FUZZ_CHECK(rc != 0 || n2 == n);
      for (size_t k = 0; rc == 0 && k < n; k++) {
        FUZZ_CHECK(fuzz_message_eq(&many[k], &many2[k]));
      }
      free(t);
    }
    fuzz_arena_free(&a);
  }
  return 0;
}
