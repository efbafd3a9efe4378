/* edgecoap: content formats, the decode arena and codec error reports. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_CODEC_H
#define EDGECOAP_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "edgecoap/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The CoAP Content-Format numbers edgecoap speaks (RFC 7252 section 12.3). */
typedef enum {
  EC_FORMAT_JSON = 50,         /**< application/json */
  EC_FORMAT_CBOR = 60,         /**< application/cbor */
  EC_FORMAT_PROBLEM_CBOR = 257 /**< application/concise-problem-details+cbor */
} ec_format_t;

/* Caps on hostile input; override at build time with -D. */
#ifndef EC_MAX_DEPTH
#define EC_MAX_DEPTH 16 /**< nesting of arrays and maps */
#endif
#ifndef EC_MAX_TEXT
#define EC_MAX_TEXT 1024 /**< bytes in one text string */
#endif
#ifndef EC_MAX_ITEMS
#define EC_MAX_ITEMS 20000 /**< elements in one array or map */
#endif

/**
 * A bump allocator over caller-owned memory. Decoders copy every string and
 * array they produce into it, so a decoded document lives exactly as long as
 * the arena's buffer and is released by ec_arena_reset() or by dropping the
 * buffer: no per-field free.
 */
typedef struct {
  uint8_t *base; /**< caller-owned memory */
  size_t cap;    /**< its size in bytes */
  size_t used;   /**< bytes handed out so far */
} ec_arena_t;

/** Point @p a at @p buf of @p cap bytes; the arena never frees @p buf. */
void ec_arena_init(ec_arena_t *a, void *buf, size_t cap);
/** Forget everything allocated from @p a. */
void ec_arena_reset(ec_arena_t *a);
/**
 * Allocate @p n bytes aligned for any object.
 * @return the memory, or NULL when the arena is full
 */
void *ec_arena_alloc(ec_arena_t *a, size_t n);
/** Copy @p len bytes of @p s plus a NUL into @p a; NULL when full. */
char *ec_arena_strndup(ec_arena_t *a, const char *s, size_t len);

/**
 * Why a document was refused, in the shape of an RFC 9290 problem detail.
 * Filled by every decoder on failure; untouched on success.
 */
typedef struct {
  int code;          /**< EC_ESYNTAX, EC_EBADDOC, EC_ESEMANTIC, EC_ETOOBIG or EC_ENOMEM */
  char title[48];    /**< short machine-friendly kind, e.g. "invalid-state" */
  char field[96];    /**< dotted path of the field at fault, e.g. "components[1].state"; "" if none */
  char detail[256];  /**< one English sentence for a human */
} ec_codec_error_t;

/**
 * Pick a request format when no Content-Format came with a payload: JSON if
 * the first non-blank byte is '{' or '[', otherwise CBOR (API.md section 1).
 */
ec_format_t ec_format_sniff(const uint8_t *buf, size_t len);

/**
 * An encoder of one document into a caller buffer (NULL with @p cap 0
 * measures), returning the length it needs (which may exceed @p cap) or
 * < 0: the shape of every ec_*_encode() of the documents, with the
 * document as @p doc.
 */
typedef ssize_t (*ec_encode_fn)(ec_format_t fmt, const void *doc, uint8_t *buf,
                                size_t cap);

/**
 * Encode @p doc with @p fn into a new buffer of its length plus a NUL
 * byte (JSON can be used as a string). The document is written once when
 * it fits a buffer on the stack (most do), else measured and written.
 * @param[out] out  a new buffer on success (free() it), else untouched
 * @return the length without the NUL, or < 0 (the encoder's failure, or
 *         EC_ENOMEM)
 */
ssize_t ec_encode_new(ec_encode_fn fn, ec_format_t fmt, const void *doc,
                      uint8_t **out);

/**
 * Transcode any CBOR document whose shape JSON can carry into compact JSON
 * text (integer map keys become their decimal strings).
 * @param[out] out  caller buffer, or NULL with @p cap 0 to measure
 * @return the JSON length without a NUL (a NUL is written when it fits), or < 0
 */
ssize_t ec_cbor_to_json(const uint8_t *cbor, size_t len, char *out, size_t cap);

/**
 * Transcode JSON text into CBOR with the same shape (RFC 8949 section 6).
 * @param[out] out  caller buffer, or NULL with @p cap 0 to measure
 * @return the CBOR length, or < 0
 */
ssize_t ec_json_to_cbor(const char *json, size_t len, uint8_t *out, size_t cap);

/**
 * Encode a problem-details document (API.md section 1).
 * @param[in] fmt        EC_FORMAT_JSON, or EC_FORMAT_CBOR / EC_FORMAT_PROBLEM_CBOR
 *                       for the concise CBOR form (Content-Format 257)
 * @param[in] coap_code  the response code as its integer, e.g. 150 for 4.22
 * @param[in] field      the field at fault, or NULL / "" for none
 * @param[out] buf       caller buffer, or NULL with @p cap 0 to measure
 * @return the encoded length, or < 0
 */
ssize_t ec_problem_encode(ec_format_t fmt, const char *title, const char *detail,
                          int coap_code, const char *field, uint8_t *buf,
                          size_t cap);

/** A decoded problem-details document; strings live in the arena. */
typedef struct {
  const char *title;  /**< NULL if absent */
  const char *detail; /**< NULL if absent */
  const char *field;  /**< NULL if absent */
  int coap_code;      /**< e.g. 150 for 4.22; 0 if absent */
} ec_problem_t;

/** Decode a problem-details body (JSON, or CBOR with integer keys). */
int ec_problem_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                      ec_problem_t *out, ec_arena_t *arena);

/**
 * Format a UTC time in milliseconds since the epoch as RFC 3339 with
 * milliseconds, e.g. "2018-06-17T14:50:10.033Z".
 * @param[out] out  at least 32 bytes; NUL-terminated
 * @return the length written, or < 0
 */
int ec_time_format_ms(int64_t ms, char out[32]);

/**
 * Parse an RFC 3339 date-time; without an offset it is UTC. Fractions beyond
 * milliseconds are truncated.
 * @return 0 and *ms on success, EC_EBADDOC if @p s is not a date-time
 */
int ec_time_parse_ms(const char *s, size_t len, int64_t *ms);

#ifdef __cplusplus
}
#endif
#endif /* EDGECOAP_CODEC_H */
