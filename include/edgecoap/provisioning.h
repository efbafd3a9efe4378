/* edgecoap: device-provisioning documents and their JSON/CBOR codec. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_PROVISIONING_H
#define EDGECOAP_PROVISIONING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "edgecoap/codec.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * These resources answer in the seed's own shape, not problem details: every
 * refusal is {"error": "CODE"} plus "error_detail" where the seed says so.
 * Decoders therefore report the seed's code (ec_prov_error_t.error), and
 * encoders write the seed's documents with their keys in the seed's order.
 *
 * Integer parameters are accepted as JSON/CBOR integers or as strings of
 * decimal digits ("11"), because the seed's own examples write them both
 * ways; output always uses integers.
 */

/** CoAP option that carries the session token ("Auth-Token"; elective). */
#define EC_PROV_AUTH_OPTION 65000
/** A session token: this many random bytes... */
#define EC_PROV_TOKEN_BYTES 32
/** ...written as this many lowercase hex digits in documents. */
#define EC_PROV_TOKEN_HEX 64
/** select's "limit" when absent. */
#define EC_PROV_DEFAULT_LIMIT 1000
/** Room for an "error_detail" text: "INVALID_PRAM_" plus the longest key. */
#define EC_PROV_DETAIL_CAP (EC_MAX_TEXT + 16)

/** Component types, with their seed numbers. */
typedef enum {
  EC_COMP_SENSOR = 0,
  EC_COMP_PARAMETER = 1,
  EC_COMP_GROUP_PARAMETER = 2,
  EC_COMP_TYPE_COUNT
} ec_comp_type_t;

/** "Sensor", "Parameter" or "Group Parameter"; NULL when out of range. */
const char *ec_comp_type_name(ec_comp_type_t t);

/**
 * Parse a component type: its name in any case, or "0", "1", "2".
 * @return the type (>= 0), or EC_EBADDOC
 */
int ec_comp_type_parse(const char *s, size_t len);

typedef enum {
  EC_PROV_SELECT = 0,
  EC_PROV_INSERT,
  EC_PROV_UPDATE
} ec_prov_action_t;

/** An INT | ARRAY parameter (provisioning_component_id, component_id). */
typedef struct {
  const int64_t *v; /**< n values, each >= 0 */
  size_t n;         /**< >= 1 when present */
  bool present;
  bool is_array; /**< written as an array (even of one) */
} ec_prov_ids_t;

/** A POST body of /v1/DeviceProvisioningComponents; absent fields are
 * false/empty. */
typedef struct {
  ec_prov_action_t action;
  ec_prov_ids_t provisioning_component_id;
  bool has_provisioning_id;
  int64_t provisioning_id;
  bool has_component_type;
  ec_comp_type_t component_type;
  ec_prov_ids_t component_id;
  bool has_active_status;
  int active_status; /**< 0 active, 1 inactive */
  bool has_limit;
  int64_t limit;
} ec_prov_request_t;

/** Why a document was refused, as the seed names it. */
typedef struct {
  int code; /**< EC_ESYNTAX, EC_EBADDOC, EC_ETOOBIG, EC_ENOMEM or EC_EINVAL */
  const char *error; /**< the seed's code, e.g. "INVALID_INPUT_PRAM"; static */
  char detail[EC_PROV_DETAIL_CAP]; /**< "error_detail" text, e.g.
                                      "INVALID_PRAM_FOO"; "" if none */
} ec_prov_error_t;

/**
 * Decode and check a POST body against every rule of API.md section 4 that
 * needs no store: the action, unknown keys (INVALID_INPUT_PRAM with
 * INVALID_PRAM_<KEY>, the first in document order, upper-cased), each value
 * (INVALID_<X>_PRAM; PROVISIONING_COMPONENT_ID for update, as the seed spells
 * it), then the action's required and incompatible parameters.
 * @param[out] out  its id arrays live in @p arena
 * @param[out] err  filled on failure (may be NULL)
 * @return 0, or < 0 with err->error set
 */
int ec_prov_request_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                           ec_prov_request_t *out, ec_arena_t *arena,
                           ec_prov_error_t *err);

/**
 * Encode a request (client side): "action" and every present field.
 * @param[out] buf  caller buffer, or NULL with @p cap 0 to measure
 * @return the length (may exceed @p cap), or < 0
 */
ssize_t ec_prov_request_encode(ec_format_t fmt, const ec_prov_request_t *rq,
                               uint8_t *buf, size_t cap);

/** One row of a select answer. */
typedef struct {
  int64_t provisioning_component_id;
  int64_t provisioning_id;
  ec_comp_type_t component_type;
  int64_t component_id;
  const char *name; /**< from the catalog of its type */
  int active_status;
  int64_t last_modified_by; /**< a user id */
  int64_t last_modified_s;  /**< UTC seconds since the epoch */
} ec_prov_component_t;

/**
 * Encode {"responses": {"response_0": {...}, ...}} in row order.
 * @return the length (may exceed @p cap), or < 0
 */
ssize_t ec_prov_select_encode(ec_format_t fmt, const ec_prov_component_t *rows,
                              size_t n, uint8_t *buf, size_t cap);

/** Decode a select answer; @p *rows (ordered by N of response_N) lives in @p
 * arena. */
int ec_prov_select_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                          ec_prov_component_t **rows, size_t *n,
                          ec_arena_t *arena, ec_prov_error_t *err);

/** The success document of an insert or an update. */
typedef struct {
  ec_prov_action_t action; /**< EC_PROV_INSERT or EC_PROV_UPDATE */
  bool by_pc_id; /**< update: rows chosen by provisioning_component_id */
  ec_prov_ids_t provisioning_component_id; /**< by_pc_id only */
  int64_t provisioning_id;                 /**< not by_pc_id */
  ec_comp_type_t component_type;
  ec_prov_ids_t component_id; /**< always written as an array */
  int active_status;
  int64_t last_modified_by; /**< insert only */
  int64_t last_modified_s;  /**< insert only */
} ec_prov_result_t;

/**
 * Encode an insert answer {provisioning_id, component_type, component_id,
 * active_status, last_modified_by, last_modified_datetime, error: NO_ERROR},
 * or an update answer {provisioning_id, component_type, component_id,
 * active_status, error} ({provisioning_component_id, active_status, error}
 * when by_pc_id).
 */
ssize_t ec_prov_result_encode(ec_format_t fmt, const ec_prov_result_t *r,
                              uint8_t *buf, size_t cap);

/** Decode an insert or update answer (the kind is told by its keys). */
int ec_prov_result_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                          ec_prov_result_t *out, ec_arena_t *arena,
                          ec_prov_error_t *err);

/**
 * Encode an error document {"error": CODE} with, when given, "error_detail":
 * @p detail (text) or, when @p ids is not NULL, the array of @p n_ids ids.
 * For /v1/Login, @p status ("FAILURE") is written first when not NULL.
 */
ssize_t ec_prov_error_encode(ec_format_t fmt, const char *status,
                             const char *error, const char *detail,
                             const int64_t *ids, size_t n_ids, uint8_t *buf,
                             size_t cap);

/** A decoded error (or login) document; strings live in the arena. */
typedef struct {
  const char *status; /**< NULL if absent */
  const char *error;  /**< NULL if absent */
  const char *detail; /**< text error_detail, or NULL */
  const int64_t *ids; /**< array error_detail, or NULL */
  size_t n_ids;
} ec_prov_error_doc_t;

/** Decode any {"error": ...} document; unknown members are skipped. */
int ec_prov_error_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                         ec_prov_error_doc_t *out, ec_arena_t *arena);

/** A POST /v1/Login body: username + password logs in, token logs out. */
typedef struct {
  const char *username; /**< NULL for a logout */
  const char *password;
  const char *token; /**< EC_PROV_TOKEN_HEX hex digits; NULL for a login */
} ec_login_request_t;

/**
 * Decode a login or logout body. Not an object, or neither (or both of)
 * username+password and token: INVALID_REQUEST_PRAM; another key:
 * INVALID_INPUT_PRAM with INVALID_PRAM_<KEY>; a value that is not a string
 * of 1..EC_MAX_TEXT bytes: INVALID_REQUEST_PRAM.
 */
int ec_login_request_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                            ec_login_request_t *out, ec_arena_t *arena,
                            ec_prov_error_t *err);

ssize_t ec_login_request_encode(ec_format_t fmt, const ec_login_request_t *rq,
                                uint8_t *buf, size_t cap);

/** A /v1/Login answer. */
typedef struct {
  const char *token;    /**< SUCCESS only: hex */
  int64_t userid;       /**< SUCCESS only */
  const char *userrole; /**< SUCCESS only */
  const char *username; /**< SUCCESS only */
  const char *status;   /**< "SUCCESS", "FAILURE" or "LOGGED_OUT" */
  const char *error;    /**< "NO_ERROR" or the failure's code */
} ec_login_response_t;

/** Encode an answer; the SUCCESS fields are written only when token != NULL. */
ssize_t ec_login_response_encode(ec_format_t fmt, const ec_login_response_t *r,
                                 uint8_t *buf, size_t cap);

int ec_login_response_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                             ec_login_response_t *out, ec_arena_t *arena,
                             ec_prov_error_t *err);

/**
 * Format UTC seconds as the seed's "2021-10-12 06:35:44".
 * @return 19, or EC_EINVAL for a time outside years 0..9999
 */
int ec_prov_datetime_format(int64_t s, char out[20]);

/** Parse "YYYY-MM-DD HH:MM:SS" (UTC). @return 0 or EC_EBADDOC */
int ec_prov_datetime_parse(const char *s, size_t len, int64_t *out);

/**
 * Read a token as it may arrive in option 65000: EC_PROV_TOKEN_BYTES raw
 * bytes, or EC_PROV_TOKEN_HEX hex digits (either case).
 * @return 0 with @p out filled, or EC_EBADDOC for any other length or a
 *         non-hex digit
 */
int ec_prov_token_read(const uint8_t *v, size_t len,
                       uint8_t out[EC_PROV_TOKEN_BYTES]);

/** Write @p raw as EC_PROV_TOKEN_HEX lowercase hex digits plus a NUL. */
void ec_prov_token_hex(const uint8_t raw[EC_PROV_TOKEN_BYTES],
                       char out[EC_PROV_TOKEN_HEX + 1]);

#ifdef __cplusplus
}
#endif
#endif /* EDGECOAP_PROVISIONING_H */
