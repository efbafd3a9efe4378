/* edgecoap codec internals: streaming writers for both formats, and a CBOR pull reader. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_CODEC_STREAM_H
#define EDGECOAP_CODEC_STREAM_H

/*
 * The hot documents (DeploymentStatus reports, their history, stored status
 * messages) are written and read here without a jansson tree: encoders walk
 * the struct once and write either format straight into the caller's
 * buffer (NULL and 0 measure), and stored CBOR is spliced into list answers
 * as it is, or transcoded to JSON as it is read. The output is byte for byte
 * what the tree path (tree.h) writes for the same document: jansson's
 * compact JSON with its escapes, keys in insertion order, CBOR with the
 * shortest heads. tests/test_codec_stream.c holds the two equal over the
 * fuzz corpus.
 *
 * Stored CBOR that the streaming path cannot show to be exactly what the
 * tree path would write back (not in shortest form, indefinite lengths,
 * integer keys, floats, anything the tree path refuses) goes through the
 * tree path instead, so rare or corrupt input keeps its old answer.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "edgecoap/codec.h"

/**
 * An output buffer: with buf NULL and cap 0 it only measures; len always
 * counts every byte, also those past cap (the measure-then-write protocol
 * of the encoders).
 */
typedef struct {
  uint8_t *buf;
  size_t cap;
  size_t len;
  bool overflow; /* len would have wrapped */
} ec_wbuf_t;

/** Append @p n bytes. */
void ec__cbor_emit(ec_wbuf_t *w, const void *p, size_t n);
/** Append a CBOR head (major type 0..7, argument @p v), shortest form. */
void ec__cbor_head(ec_wbuf_t *w, uint8_t major, uint64_t v);

/* ---- one writer for both formats ---------------------------------------- */

/**
 * A document writer. Containers are opened with their element count (CBOR
 * needs it up front; JSON ignores it) and closed in order; keys and values
 * alternate inside maps. The first misuse or limit latches an error, which
 * ec__dw_finish() returns.
 */
typedef struct {
  ec_wbuf_t w;
  bool json;
  bool after_key;          /* JSON: the next value follows a key, no comma */
  int depth;               /* open containers */
  int rc;                  /* first failure, or 0 */
  bool first[EC_MAX_DEPTH + 1]; /* JSON: nothing written yet at this depth */
} ec__dw_t;

/** Start writing @p fmt (EC_FORMAT_JSON, else CBOR) into @p buf. */
void ec__dw_init(ec__dw_t *d, ec_format_t fmt, uint8_t *buf, size_t cap);
void ec__dw_map(ec__dw_t *d, size_t pairs);
void ec__dw_array(ec__dw_t *d, size_t n);
void ec__dw_end_map(ec__dw_t *d);
void ec__dw_end_array(ec__dw_t *d);
/** A map key (or a text value): @p s must be NUL-terminated. */
void ec__dw_key(ec__dw_t *d, const char *s);
/**
 * A text value from the caller: EC_EINVAL when NULL or not UTF-8 (as the
 * tree path's ec__set_str()).
 */
void ec__dw_text(ec__dw_t *d, const char *s);
void ec__dw_textn(ec__dw_t *d, const char *s, size_t len);
void ec__dw_int(ec__dw_t *d, int64_t v);
/** An RFC 3339 date-time; EC_EINVAL when @p ms has none. */
void ec__dw_time(ec__dw_t *d, int64_t ms);
/** Fail with @p rc (< 0) unless a failure is latched already. */
void ec__dw_fail(ec__dw_t *d, int rc);
/** The length written (may exceed cap), or the latched failure. */
ssize_t ec__dw_finish(const ec__dw_t *d);

/** Write one item of a list (ec__dw_list()). */
typedef void (*ec__dw_put_fn)(ec__dw_t *d, const void *item);

/**
 * Encode one document (@p key NULL) or the list answer {@p key: [...]} of
 * @p n items of @p size bytes each, every one written by @p put; arguments
 * checked as ec__encode_args() does.
 * @return the length written (may exceed @p cap), or < 0
 */
ssize_t ec__dw_list(ec_format_t fmt, const char *key, const void *items,
                    size_t n, size_t size, ec__dw_put_fn put, uint8_t *buf,
                    size_t cap);

/**
 * One stored CBOR item as a value: copied as it is (CBOR) or transcoded
 * (JSON) when it is in the tree path's own form, else parsed into a tree
 * and written from it. With @p skip_key, @p cbor must be a map whose pairs
 * are written into the map the caller has open (its own head is dropped),
 * leaving out the pair with that key. @p want_map: only a map will do.
 * @return 0; EC_ESYNTAX when the tree path cannot read it (or it is not a
 *         map when one is wanted); EC_ENOMEM; EC_ETOOBIG past EC_MAX_DEPTH.
 *         A failure is latched as well.
 */
int ec__dw_stored(ec__dw_t *d, const uint8_t *cbor, size_t len, bool want_map,
                  const char *skip_key);

/**
 * @p cbor as a value when it is plain (exactly one item that the tree path
 * would read and write back unchanged: shortest heads, definite lengths,
 * text keys without duplicates, no floats, tags or byte strings, every cap
 * of codec.h, nested less than EC_MAX_DEPTH - d->depth deep): copied, or
 * transcoded to JSON; false, with nothing written, when it is not.
 */
bool ec__dw_plain(ec__dw_t *d, const uint8_t *cbor, size_t len);

/* ---- the CBOR pull reader ------------------------------------------------ */

/** A reader over [p, end). Every read checks the bytes left first. */
typedef struct {
  const uint8_t *p;
  const uint8_t *end;
  bool loose; /* a head was read that was not in its shortest form */
} ec__cr_t;

/**
 * Read one definite head of major type @p major: its argument in *v.
 * @return false (nothing consumed) for another type, an indefinite length,
 *         reserved additional information or a truncated head
 */
bool ec__cr_head(ec__cr_t *r, uint8_t major, uint64_t *v);
/**
 * Read a definite text string that the tree path would take: at most
 * EC_MAX_TEXT bytes, inside the input, UTF-8, no NUL. *s points into the
 * input (not NUL-terminated).
 */
bool ec__cr_text(ec__cr_t *r, const char **s, size_t *len);

#endif /* EDGECOAP_CODEC_STREAM_H */
