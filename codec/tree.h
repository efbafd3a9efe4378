/* edgecoap codec internals: both wire formats <-> one jansson tree, plus typed field readers. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_CODEC_TREE_H
#define EDGECOAP_CODEC_TREE_H

/*
 * Every document codec works in two steps. The wire bytes (JSON or CBOR) are
 * parsed into one jansson tree, with the caps of codec.h enforced while
 * parsing; then the document's rules are checked on that tree and the result
 * copied into the caller's struct and arena. Encoding builds a tree and writes
 * it in either format. So each document's rules are written once, not once
 * per format, and a CBOR document has exactly the JSON document's shape.
 *
 * The CBOR reader is a streaming decoder (libcbor's cbor_stream_decode): it
 * never trusts a length claim beyond the bytes left, refuses indefinite-length
 * items left open, floats where none are allowed are left to the document
 * rules, tags are refused, and integers outside int64 are refused.
 */

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>

#include "edgecoap/codec.h"

/**
 * Parse @p buf in @p fmt into a new tree (JSON: duplicate keys refused; CBOR:
 * text keys only, as JSON; integer keys are read as their decimal strings).
 * Any value may be the root (document decoders insist on objects). Refused as
 * EC_ESYNTAX "malformed-body": truncation, trailing bytes, duplicate keys,
 * invalid UTF-8 or NUL in text, integers outside int64, and in CBOR byte
 * strings, tags, undefined, simple values, NaN/infinities, non-text non-integer
 * keys. Caps give EC_ETOOBIG "too-large". @p err->field is "" for all of these.
 * EC_FORMAT_PROBLEM_CBOR is read as CBOR; other formats give EC_EFORMAT.
 * @param[out] out  a new reference; json_decref() it
 * @return 0, EC_ESYNTAX, EC_ETOOBIG or EC_ENOMEM, with @p err filled
 */
int ec_tree_parse(ec_format_t fmt, const uint8_t *buf, size_t len,
                  json_t **out, ec_codec_error_t *err);

/**
 * Write @p tree in @p fmt (JSON compact; CBOR with the shortest heads).
 * JSON object keys that are decimal integers are written as CBOR integers
 * only when @p int_keys is true (concise problem details), and only in their
 * one canonical spelling ("-1", "5"; not "01", "-0"). Reals are written as
 * float32 when that is exact, else float64. A tree deeper than EC_MAX_DEPTH
 * is EC_ETOOBIG (it could not be read back); a jansson failure EC_ENOMEM.
 * @param[out] buf  caller buffer, or NULL with @p cap 0 to measure
 * @return the length (may exceed @p cap, then call again bigger), or < 0
 */
ssize_t ec_tree_write(ec_format_t fmt, const json_t *tree, bool int_keys,
                      uint8_t *buf, size_t cap);

/** Fill @p err (may be NULL) and return @p code. */
int ec_fail(ec_codec_error_t *err, int code, const char *title,
            const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * Typed readers. Each looks up @p key in object @p obj; @p path is the dotted
 * path of @p obj for error messages ("" at the top, "status",
 * "components[2]"). A missing key gives EC_EBADDOC "missing-field" when
 * @p required, else 0 with the output untouched (and *present false where
 * there is one). A wrong type gives EC_EBADDOC "invalid-type" (JSON null and
 * reals, even 1.0, are wrong types, not absent keys or integers). A string
 * length outside [min_len, max_len] bytes gives EC_ESEMANTIC "invalid-length";
 * an integer outside [min, max] EC_ESEMANTIC "out-of-range". A full arena
 * gives EC_ENOMEM "out-of-memory". The error's field is "path.key". On any
 * failure the output is untouched. Strings are copied into @p arena; numbers
 * written as JSON strings are accepted only by the _lenient readers. A NULL
 * @p obj (or one that is not an object), key or output is EC_EINVAL.
 */
int ec_get_string(const json_t *obj, const char *key, const char *path,
                  bool required, size_t min_len, size_t max_len,
                  ec_arena_t *arena, const char **out, ec_codec_error_t *err);
int ec_get_int(const json_t *obj, const char *key, const char *path,
               bool required, int64_t min, int64_t max, int64_t *out,
               bool *present, ec_codec_error_t *err);
/** Like ec_get_int() but also takes a string of decimal digits ("101"). */
int ec_get_int_lenient(const json_t *obj, const char *key, const char *path,
                       bool required, int64_t min, int64_t max, int64_t *out,
                       bool *present, ec_codec_error_t *err);

/**
 * Refuse keys of @p obj outside the NULL-terminated @p allowed list:
 * EC_EBADDOC "unknown-key" naming the first one (in document order).
 */
int ec_check_keys(const json_t *obj, const char *path,
                  const char *const *allowed, ec_codec_error_t *err);

/**
 * True when @p s holds @p len bytes of well-formed UTF-8 (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF). Encoders use it to
 * tell a caller's bad string (EC_EINVAL) from an allocation failure.
 */
bool ec_utf8_valid(const char *s, size_t len);

/** Build "path.key" or "path[i]" into @p out (truncating safely). */
void ec_path_key(char *out, size_t cap, const char *path, const char *key);
void ec_path_index(char *out, size_t cap, const char *path, size_t i);

#endif /* EDGECOAP_CODEC_TREE_H */
