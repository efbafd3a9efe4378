/* edgecoap: the fleet documents: devices' latest states and deployments' roll-ups across the fleet. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_FLEET_H
#define EDGECOAP_FLEET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "edgecoap/codec.h"
#include "edgecoap/deployment.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One (device, deployment) and its latest state (GET /device, API.md
 * section 7). Strings are not owned. */
typedef struct {
  const char *device_id;
  const char *deployment_id;  /**< lowercase */
  ec_state_t state;           /**< the latest report's overall state */
  const char *error_code;     /**< the report's status.error.code, or NULL */
  int64_t updated_at_ms;      /**< when that report was received */
} ec_fleet_device_t;

/** How many devices of a deployment have a component that failed with
 * one error code. */
typedef struct {
  const char *component;
  const char *code;           /**< "" when the component failed without one */
  int64_t devices;
} ec_fleet_failure_t;

/** A deployment's roll-up across the fleet. */
typedef struct {
  const char *deployment_id;       /**< lowercase */
  int64_t counts[EC_STATE_COUNT];  /**< devices whose latest state is each */
  int64_t updated_at_ms;           /**< the latest report counted */
  const ec_fleet_failure_t *failures; /**< NULL for a list entry */
  size_t n_failures;
} ec_fleet_rollup_t;

/**
 * Encode {"devices": [{"deviceId", "deploymentId", "state", "error"?,
 * "updatedAt"}], "nextAfter"?}: @p next_after (NULL: none) is where the next
 * page starts.
 * @param[out] buf  caller buffer, or NULL with @p cap 0 to measure
 * @return the encoded length (may exceed @p cap), or < 0
 */
ssize_t ec_fleet_devices_encode(ec_format_t fmt, const ec_fleet_device_t *list,
                                size_t n, const char *next_after, uint8_t *buf,
                                size_t cap);

/**
 * Encode one roll-up: {"deploymentId", "devices", "states": {"Pending": n,
 * ...every state}, "failures": [{"component", "code", "devices"}],
 * "updatedAt"} ("failures" and "updatedAt" only when there are some).
 * @return the encoded length (may exceed @p cap), or < 0
 */
ssize_t ec_fleet_rollup_encode(ec_format_t fmt, const ec_fleet_rollup_t *r,
                               uint8_t *buf, size_t cap);

/**
 * Encode {"deployments": [roll-ups without failures], "nextAfter"?}.
 * @return the encoded length (may exceed @p cap), or < 0
 */
ssize_t ec_fleet_rollups_encode(ec_format_t fmt, const ec_fleet_rollup_t *list,
                                size_t n, const char *next_after, uint8_t *buf,
                                size_t cap);

/** One page of a list answer: its items and where the next starts
 * (NULL: none). Nothing is owned. */
typedef struct {
  const void *list; /**< ec_fleet_device_t or ec_fleet_rollup_t items */
  size_t n;
  const char *next_after;
} ec_fleet_page_t;

/*
 * The three documents in ec_encode_fn's form (codec.h), for
 * ec_encode_new(): @p doc is an ec_fleet_page_t of devices, an
 * ec_fleet_page_t of roll-ups, or one ec_fleet_rollup_t.
 */
ssize_t ec_fleet_devices_page_encode(ec_format_t fmt, const void *doc,
                                     uint8_t *buf, size_t cap);
ssize_t ec_fleet_rollups_page_encode(ec_format_t fmt, const void *doc,
                                     uint8_t *buf, size_t cap);
ssize_t ec_fleet_rollup_doc_encode(ec_format_t fmt, const void *doc,
                                   uint8_t *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* EDGECOAP_FLEET_H */
