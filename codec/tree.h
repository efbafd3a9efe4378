/* edgecoap codec internals: both wire formats <-> one jansson tree, plus typed field readers. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_CODEC_TREE_H
#define EDGECOAP_CODEC_TREE_H

/*
 * Every document codec works in two steps. The wire bytes (JSON or CBOR) are
 * parsed into one jansson tree, with the caps of codec.h enforced while
 * parsing; then the document's rules are checked on that tree and the result
 * copied into the caller's struct and arena. So each document's rules are
 * written once, not once per format, and a CBOR document has exactly the
 * JSON document's shape. The hot documents are encoded without a tree, and
 * a DeploymentStatus in CBOR is decoded without one when it takes the fast
 * path (stream.h); the rest of the documents still build one to encode.
 *
 * The CBOR reader (tree_cbor.c) is a streaming decoder (libcbor's cbor_stream_decode): it
 * never trusts a length claim beyond the bytes left, refuses indefinite-length
 * items left open, floats where none are allowed are left to the document
 * rules, tags are refused, and integers outside int64 are refused.
 */

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>

#include "edgecoap/codec.h"
#include "stream.h"

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
int ec__tree_parse(ec_format_t fmt, const uint8_t *buf, size_t len,
                   json_t **out, ec_codec_error_t *err);

/**
 * The CBOR half of ec__tree_parse() (codec/tree_cbor.c, on libcbor), in
 * edgecoap::codec only: weak, so that edgecoap::codec_json, the codec
 * without it (the client library's), links without libcbor and reads CBOR
 * as EC_EFORMAT. edgecoap::codec makes every program that links it link
 * this file too (CMakeLists.txt, --require-defined).
 */
int ec__tree_parse_cbor(const uint8_t *buf, size_t len, json_t **out,
                        ec_codec_error_t *err) __attribute__((weak));

/** The title of a parse failure of @p code ("malformed-body", ...). */
const char *ec__parse_title(int code);

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
ssize_t ec__tree_write(ec_format_t fmt, const json_t *tree, bool int_keys,
                       uint8_t *buf, size_t cap);

/**
 * Write @p tree into @p w as ec__tree_write() would (JSON when @p json, else
 * CBOR without integer keys), with its root at nesting level @p depth: a
 * container at level EC_MAX_DEPTH or deeper is EC_ETOOBIG. For the
 * streaming writers (stream.h), which fall back to it.
 */
int ec__tree_emit(ec_wbuf_t *w, bool json, const json_t *tree, int depth);

/** Fill @p err (may be NULL) and return @p code. */
int ec__fail(ec_codec_error_t *err, int code, const char *title,
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
int ec__get_string(const json_t *obj, const char *key, const char *path,
                   bool required, size_t min_len, size_t max_len,
                   ec_arena_t *arena, const char **out, ec_codec_error_t *err);
int ec__get_int(const json_t *obj, const char *key, const char *path,
                bool required, int64_t min, int64_t max, int64_t *out,
                bool *present, ec_codec_error_t *err);
/** Like ec__get_int() but also takes a string of decimal digits ("101"). */
int ec__get_int_lenient(const json_t *obj, const char *key, const char *path,
                        bool required, int64_t min, int64_t max, int64_t *out,
                        bool *present, ec_codec_error_t *err);

/**
 * Refuse keys of @p obj outside the NULL-terminated @p allowed list:
 * EC_EBADDOC "unknown-key" naming the first one (in document order).
 */
int ec__check_keys(const json_t *obj, const char *path,
                   const char *const *allowed, ec_codec_error_t *err);

/**
 * True when @p s holds @p len bytes of well-formed UTF-8 (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF). Encoders use it to
 * tell a caller's bad string (EC_EINVAL) from an allocation failure.
 */
bool ec__utf8_valid(const char *s, size_t len);

/** Build "path.key" or "path[i]" into @p out (truncating safely). */
void ec__path_key(char *out, size_t cap, const char *path, const char *key);
void ec__path_index(char *out, size_t cap, const char *path, size_t i);

/** The size of ec_codec_error_t's field, for path buffers. */
#define EC_FIELD_CAP sizeof(((ec_codec_error_t *)0)->field)

/*
 * Shared by the document codecs (codec/error.c and codec/util.c). The
 * readers fill @p err as the typed readers above do; the encoding helpers
 * return 0, EC_EINVAL (a caller's bad argument or string) or EC_ENOMEM and
 * never fill an error report.
 */

/**
 * Look up member @p key of object @p obj and insist on jansson type @p type
 * (JSON_TRUE and JSON_FALSE are distinct types here). Absent: EC_EBADDOC
 * "missing-field" when @p required, else 0 with *v NULL. Of another type:
 * EC_EBADDOC "invalid-type" ("path.key must be an object"). The value is
 * borrowed from @p obj. A NULL @p obj (or not an object), key or @p v is
 * EC_EINVAL.
 */
int ec__get_member(const json_t *obj, const char *key, const char *path,
                   bool required, json_type type, const json_t **v,
                   ec_codec_error_t *err);

/**
 * 0 when @p fmt is EC_FORMAT_JSON or EC_FORMAT_CBOR, the two formats a
 * document comes in; else EC_EFORMAT "unsupported-format".
 */
int ec__doc_format(ec_format_t fmt, ec_codec_error_t *err);

/** ec__doc_format(), then ec__tree_parse() (any root; callers check it). */
int ec__doc_parse(ec_format_t fmt, const uint8_t *buf, size_t len, json_t **t,
                  ec_codec_error_t *err);

/**
 * Allocate @p n elements of @p size bytes from @p arena; when it is full (or
 * @p n * @p size overflows), NULL with EC_ENOMEM "out-of-memory" naming
 * @p field. @p n 0 still gets a distinct pointer (ec_arena_alloc()).
 */
void *ec__alloc_array(ec_arena_t *arena, size_t n, size_t size,
                      const char *field, ec_codec_error_t *err);

/**
 * True when @p a (@p alen bytes) and the C string @p b are equal but for
 * the case of ASCII letters. ASCII-only on purpose: a locale-dependent
 * strncasecmp() could make two IDs or names equal on one machine and
 * different on another.
 */
bool ec__ascii_ieq(const char *a, size_t alen, const char *b);

/** The value of hex digit @p c (0-9, a-f, A-F), or -1 for any other. */
int ec__hex_digit(int c);

/**
 * Check an encoder's arguments: EC_EINVAL when @p p is NULL but @p n items
 * (n > 0) were promised, or @p buf is NULL with @p cap not 0; then
 * EC_EFORMAT unless @p fmt is JSON or CBOR; else 0.
 */
int ec__encode_args(ec_format_t fmt, const void *p, size_t n,
                    const uint8_t *buf, size_t cap);

/**
 * Set @p o[@p k] to @p v, taking the reference to @p v whatever happens (a
 * NULL @p v, from a failed allocation, is EC_ENOMEM). @p k is not checked:
 * pass a constant or a string already checked with ec__utf8_valid().
 */
int ec__set_new(json_t *o, const char *k, json_t *v);

/**
 * Set @p o[@p k] to a copy of the caller's string @p s: EC_EINVAL when @p s
 * is NULL or not UTF-8 (json_string() could not tell that from a failed
 * allocation), EC_ENOMEM when jansson fails.
 */
int ec__set_str(json_t *o, const char *k, const char *s);

/** Set @p o[@p k] to integer @p v. */
int ec__set_int(json_t *o, const char *k, int64_t v);

/**
 * A new object holding only @p v (stolen) under @p key, the envelope of a
 * list answer. NULL when an allocation fails (@p v is released then).
 */
json_t *ec__envelope(const char *key, json_t *v);

/**
 * Write the finished tree @p t in @p fmt into @p buf (as ec__tree_write(),
 * without integer keys), or pass on @p rc when building it failed (< 0);
 * releases @p t either way.
 */
ssize_t ec__encode_finish(ec_format_t fmt, json_t *t, int rc, uint8_t *buf,
                          size_t cap);

/* Forward declarations for the tree-path entry points that tests compare
 * the streaming paths with. */
#include "edgecoap/deployment.h"

/**
 * ec_deployment_status_decode() through the jansson tree alone: the path
 * every JSON body and every CBOR body the fast path does not take goes.
 */
int ec__deployment_status_decode_tree(ec_format_t fmt, const uint8_t *buf,
                                      size_t len, ec_deployment_status_t *out,
                                      ec_arena_t *arena,
                                      ec_codec_error_t *err);

#endif /* EDGECOAP_CODEC_TREE_H */
