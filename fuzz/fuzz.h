/* edgecoap fuzz: helpers shared by the harnesses (arena, checks, round-trip oracles). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_FUZZ_H
#define EDGECOAP_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "edgecoap/codec.h"
#include "edgecoap/deployment.h"
#include "edgecoap/provisioning.h"
#include "edgecoap/status_message.h"

/*
 * Every harness is a libFuzzer entry point. Built without libFuzzer, the same
 * file links with replay.c, whose main() feeds it every file of a corpus, so
 * CI replays the corpus under the sanitizers of an ordinary build.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * An oracle failure is a bug like a crash: print what broke and abort, so
 * that libFuzzer saves the input and the replay test fails.
 */
#define FUZZ_CHECK(cond) \
  ((cond) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #cond))
void fuzz_fail(const char *file, int line, const char *what)
    __attribute__((noreturn));
/* Called by fuzz_fail() before it aborts, when set: abort() runs no atexit
 * handler, and a harness may have files to remove (the request harness's
 * database directory). */
extern void (*fuzz_fail_hook)(void);

/* The two document formats every decoder is tried in. */
extern const ec_format_t fuzz_formats[2];

/*
 * A fresh heap arena per decode, sized as the server sizes its own (four
 * times the body plus 64 KiB), so ASan sees any write past what a decoder
 * was handed.
 */
void fuzz_arena_new(ec_arena_t *a, size_t body_len);
void fuzz_arena_free(ec_arena_t *a);

/*
 * Encode with a measure-only pass first, check that the real pass writes
 * exactly the measured length, and return a malloc'd copy (NULL with *len
 * set to the negative error when encoding failed). @p enc wraps the
 * document's encoder.
 */
typedef ssize_t (*fuzz_encode_fn)(ec_format_t fmt, const void *doc,
                                  uint8_t *buf, size_t cap);
uint8_t *fuzz_encode(fuzz_encode_fn enc, ec_format_t fmt, const void *doc,
                     ssize_t *len);

/*
 * The input in the other document format, through ec_json_to_cbor or
 * ec_cbor_to_json: a malloc'd copy, or NULL when the transcoder refuses it.
 * API.md promises a CBOR document has exactly the JSON one's shape, so a
 * decoder must treat both forms alike (the differential oracle).
 */
uint8_t *fuzz_transcoded(ec_format_t from, const uint8_t *data, size_t size,
                         size_t *len);

/* Equal outcomes of two decodes: the same code, and for a refusal the same
 * title and field. */
int fuzz_same_refusal(int rc1, const ec_codec_error_t *e1, int rc2,
                      const ec_codec_error_t *e2);

/* Field-by-field equality of decoded documents (NULL strings equal only NULL). */
int fuzz_str_eq(const char *a, const char *b);
int fuzz_status_eq(const ec_deployment_status_t *a,
                   const ec_deployment_status_t *b);
int fuzz_message_eq(const ec_status_message_t *a, const ec_status_message_t *b);
int fuzz_filter_eq(const ec_msg_filter_t *a, const ec_msg_filter_t *b);

/*
 * The round trip every DeploymentStatus the decoder accepts must survive:
 * encoded in either format it decodes again to the same report, and
 * encoding that copy gives the same bytes.
 */
void fuzz_status_roundtrip(const ec_deployment_status_t *st);

#endif /* EDGECOAP_FUZZ_H */
