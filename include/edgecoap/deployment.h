/* edgecoap: the Margo DeploymentStatus document and its JSON/CBOR codec. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_DEPLOYMENT_H
#define EDGECOAP_DEPLOYMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "edgecoap/codec.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef EC_MAX_COMPONENTS
#define EC_MAX_COMPONENTS 256 /**< components in one report */
#endif

/** Deployment and component states (API.md section 2). */
typedef enum {
  EC_STATE_PENDING = 0,
  EC_STATE_INSTALLING,
  EC_STATE_INSTALLED,
  EC_STATE_FAILED,
  EC_STATE_REMOVING,
  EC_STATE_REMOVED,
  EC_STATE_COUNT
} ec_state_t;

/** The capitalised name of @p s ("Installing"), or NULL if out of range. */
const char *ec_state_name(ec_state_t s);
/**
 * Parse a state name, case-insensitively.
 * @return the state (>= 0), or EC_EBADDOC
 */
int ec_state_parse(const char *s, size_t len);

/**
 * The overall state that components' states add up to, with Margo's
 * precedence Failed > Removing > Installing > Pending > Removed > Installed.
 * An empty list rolls up to Pending.
 */
ec_state_t ec_state_rollup(const ec_state_t *states, size_t n);

/** An installation error; every string is non-NULL when the error is present. */
typedef struct {
  const char *code;
  const char *message;
  const char *source; /**< later drafts' optional extra; NULL if absent */
} ec_error_info_t;

typedef struct {
  const char *name;
  ec_state_t state;
  bool has_error;
  ec_error_info_t error;
} ec_component_status_t;

/**
 * A DeploymentStatus report. Decoders fill it with pointers into an arena;
 * encoders only read it, so a caller may also point the strings at its own
 * memory.
 */
typedef struct {
  const char *api_version;
  const char *kind;           /**< "DeploymentStatus" or "DeploymentStatusManifest" */
  const char *deployment_id;  /**< a UUID */
  const char *device_id;      /**< optional extra; NULL if absent */
  uint64_t adopted_manifest_version; /**< optional extra, >= 1; 0 if absent */
  ec_state_t state;
  bool has_error;
  ec_error_info_t error;
  ec_component_status_t *components;
  size_t n_components;
} ec_deployment_status_t;

/**
 * Decode and validate a DeploymentStatus body against every rule of API.md
 * section 2 except the route match (see ec_deployment_status_check_route()).
 * @param[out] out    caller-owned; its strings and components live in @p arena
 * @param[out] err    why the body was refused (may be NULL)
 * @return 0, or EC_ESYNTAX / EC_EBADDOC / EC_ESEMANTIC / EC_ETOOBIG / EC_ENOMEM
 */
int ec_deployment_status_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                                ec_deployment_status_t *out, ec_arena_t *arena,
                                ec_codec_error_t *err);

/**
 * ec_deployment_status_decode(), and whether @p buf is already, byte for
 * byte, what ec_deployment_status_encode() writes in CBOR of the decoded
 * report (the server's stored form): CBOR with the members in the
 * encoder's order, every head in its shortest form, the states spelled as
 * the encoder spells them and no error object it would leave out. Then
 * the caller may keep @p buf instead of encoding the report again.
 * @param[out] canonical  set on success; false for JSON and any other CBOR
 */
int ec_deployment_status_decode_canon(ec_format_t fmt, const uint8_t *buf,
                                      size_t len, ec_deployment_status_t *out,
                                      ec_arena_t *arena, ec_codec_error_t *err,
                                      bool *canonical);

/**
 * Check that the document's deploymentId names the route's (case-insensitive).
 * @return 0, or EC_ESEMANTIC with @p err filled
 */
int ec_deployment_status_check_route(const ec_deployment_status_t *st,
                                     const char *route_deployment_id,
                                     ec_codec_error_t *err);

/**
 * Encode a report. States are written capitalised, absent extras omitted.
 * @param[out] buf  caller buffer, or NULL with @p cap 0 to measure
 * @return the encoded length (may exceed @p cap: nothing useful is then in
 *         @p buf, call again with a bigger one), or < 0
 */
ssize_t ec_deployment_status_encode(ec_format_t fmt,
                                    const ec_deployment_status_t *st,
                                    uint8_t *buf, size_t cap);

#ifndef EC_ID_MAX
#define EC_ID_MAX 128
#endif

/**
 * True when @p s may be a route id ({deviceId}, {deploymentId}) and so a
 * DTLS identity (API.md section 2): 1..EC_ID_MAX bytes of URI-unreserved
 * characters plus ':' and '@', but not "." or "..", which URI clients
 * remove as dot segments (RFC 3986 section 5.2.4) and so could never
 * address. ASCII only, whatever the locale. NULL is false.
 */
bool ec_id_valid(const char *s);

/** True when @p s is a UUID in 8-4-4-4-12 hex form. */
bool ec_uuid_valid(const char *s, size_t len);

/** One entry of GET .../status/history as the server stores it. */
typedef struct {
  int64_t seq;            /**< 1, 2, 3... per (device, deployment) */
  int64_t received_at_ms; /**< UTC milliseconds since the epoch */
  const uint8_t *report;  /**< the report as ec_deployment_status_encode() CBOR */
  size_t report_len;
} ec_history_entry_t;

/**
 * Encode {"reports": [{"seq", "receivedAt", "report"}]}, oldest first.
 * @return the encoded length, or < 0 (EC_ESYNTAX if a stored report is corrupt)
 */
ssize_t ec_history_encode(ec_format_t fmt, const ec_history_entry_t *entries,
                          size_t n, uint8_t *buf, size_t cap);

/** One decoded history entry. */
typedef struct {
  int64_t seq;
  int64_t received_at_ms;
  ec_deployment_status_t report;
} ec_history_item_t;

/** Decode a history body; @p *items lives in @p arena. */
int ec_history_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                      ec_history_item_t **items, size_t *n, ec_arena_t *arena,
                      ec_codec_error_t *err);

/** One entry of GET /device/{deviceId}/deployments. */
typedef struct {
  const char *deployment_id;
  ec_state_t state;
  int64_t updated_at_ms;
} ec_deployment_summary_t;

/** Encode {"deployments": [{"deploymentId", "state", "updatedAt"}]}. */
ssize_t ec_deployments_encode(ec_format_t fmt,
                              const ec_deployment_summary_t *list, size_t n,
                              uint8_t *buf, size_t cap);

/** Decode a deployments body; @p *list lives in @p arena. */
int ec_deployments_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                          ec_deployment_summary_t **list, size_t *n,
                          ec_arena_t *arena, ec_codec_error_t *err);

#ifdef __cplusplus
}
#endif
#endif /* EDGECOAP_DEPLOYMENT_H */
