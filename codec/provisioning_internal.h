/* edgecoap codec internals: helpers shared by the provisioning codec. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_CODEC_PROVISIONING_INTERNAL_H
#define EDGECOAP_CODEC_PROVISIONING_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgecoap/provisioning.h"
#include "tree.h"

/*
 * provisioning.c holds the components' documents, datetimes and these
 * helpers; provisioning_login.c the login documents and tokens, which use
 * the helpers (and nothing of provisioning.c uses provisioning_login.c).
 */

/** Fill @p err (may be NULL) with the seed's @p error and return @p code. */
int ec__prov_fail(ec_prov_error_t *err, int code, const char *error,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/**
 * Parse a body that must be a JSON or CBOR object; every failure is the
 * seed's INVALID_REQUEST_PRAM (with the code of ec__tree_parse()).
 * @param[out] t  a new reference on success
 */
int ec__prov_parse(ec_format_t fmt, const uint8_t *buf, size_t len, json_t **t,
                   ec_prov_error_t *err);

/** INVALID_INPUT_PRAM with "INVALID_PRAM_<KEY>", @p key upper-cased (ASCII). */
int ec__prov_bad_key(ec_prov_error_t *err, const char *key);

/** True when @p k is in the NULL-terminated @p allowed list. */
bool ec__prov_key_allowed(const char *const *allowed, const char *k);

/* Encoding uses tree.h's ec__encode_args(), ec_set_*() and
 * ec__encode_finish(). */

/* Reading answers: a missing or mistyped member is EC_EBADDOC
 * "INVALID_RESPONSE" naming it. Integers may be digit strings. */
int ec__prov_need_uint(const json_t *o, const char *k, int64_t *out,
                       ec_prov_error_t *err);
int ec__prov_need_str(const json_t *o, const char *k, const char **out,
                      ec_arena_t *arena, ec_prov_error_t *err);

#endif /* EDGECOAP_CODEC_PROVISIONING_INTERNAL_H */
