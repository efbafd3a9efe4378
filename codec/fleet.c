/* edgecoap codec: fleet documents (devices' latest states, deployments' roll-ups) in JSON and CBOR. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "edgecoap/fleet.h"

#include "stream.h"
#include "tree.h"

static void put_device(ec__dw_t *d, const ec_fleet_device_t *x) {
  const char *const text[][2] = {{"deviceId", x->device_id},
                                 {"deploymentId", x->deployment_id},
                                 {"state", ec_state_name(x->state)},
                                 {"error", x->error_code}};
  size_t n = x->error_code != NULL ? 4 : 3;
  ec__dw_map(d, n + 1);
  for (size_t i = 0; i < n; i++) {
    ec__dw_key(d, text[i][0]);
    ec__dw_text(d, text[i][1]);
  }
  ec__dw_key(d, "updatedAt");
  ec__dw_time(d, x->updated_at_ms);
  ec__dw_end_map(d);
}

static int64_t total(const ec_fleet_rollup_t *r) {
  int64_t n = 0;
  for (int i = 0; i < EC_STATE_COUNT; i++)
    n += r->counts[i];
  return n;
}

/* A roll-up; with @p failures its failed components too (one roll-up's
 * answer, not a list entry). */
static void put_rollup(ec__dw_t *d, const ec_fleet_rollup_t *r, bool failures) {
  bool with_failures = failures && r->n_failures > 0;
  bool with_time = r->updated_at_ms > 0;
  ec__dw_map(d, 3 + (with_failures ? 1 : 0) + (with_time ? 1 : 0));
  ec__dw_key(d, "deploymentId");
  ec__dw_text(d, r->deployment_id);
  ec__dw_key(d, "devices");
  ec__dw_int(d, total(r));
  ec__dw_key(d, "states");
  ec__dw_map(d, EC_STATE_COUNT);
  for (int i = 0; i < EC_STATE_COUNT; i++) {
    ec__dw_key(d, ec_state_name((ec_state_t)i));
    ec__dw_int(d, r->counts[i]);
  }
  ec__dw_end_map(d);
  if (with_failures) {
    ec__dw_key(d, "failures");
    ec__dw_array(d, r->n_failures);
    for (size_t i = 0; i < r->n_failures; i++) {
      const ec_fleet_failure_t *f = &r->failures[i];
      const char *const text[][2] = {{"component", f->component},
                                     {"code", f->code}};
      ec__dw_map(d, 3);
      for (size_t k = 0; k < 2; k++) {
        ec__dw_key(d, text[k][0]);
        ec__dw_text(d, text[k][1]);
      }
      ec__dw_key(d, "devices");
      ec__dw_int(d, f->devices);
      ec__dw_end_map(d);
    }
    ec__dw_end_array(d);
  }
  if (with_time) {
    ec__dw_key(d, "updatedAt");
    ec__dw_time(d, r->updated_at_ms);
  }
  ec__dw_end_map(d);
}

/* {@p key: [n items], "nextAfter"?}, each item written by @p put. */
static ssize_t encode_page(ec_format_t fmt, const char *key, const void *items,
                           size_t n, size_t size,
                           void (*put)(ec__dw_t *d, const void *item),
                           const char *next_after, uint8_t *buf, size_t cap) {
  int rc = ec__encode_args(fmt, items, n, buf, cap);
  if (rc < 0)
    return rc;
  ec__dw_t d;
  ec__dw_init(&d, fmt, buf, cap);
  ec__dw_map(&d, next_after != NULL ? 2 : 1);
  ec__dw_key(&d, key);
  ec__dw_array(&d, n);
  const char *item = items;
  for (size_t i = 0; i < n && d.rc == 0; i++, item += size)
    put(&d, item);
  ec__dw_end_array(&d);
  if (next_after != NULL) {
    ec__dw_key(&d, "nextAfter");
    ec__dw_text(&d, next_after);
  }
  ec__dw_end_map(&d);
  return ec__dw_finish(&d);
}

static void put_device_item(ec__dw_t *d, const void *item) {
  put_device(d, item);
}

static void put_rollup_item(ec__dw_t *d, const void *item) {
  put_rollup(d, item, false);
}

ssize_t ec_fleet_devices_encode(ec_format_t fmt, const ec_fleet_device_t *list,
                                size_t n, const char *next_after, uint8_t *buf,
                                size_t cap) {
  return encode_page(fmt, "devices", list, n, sizeof(*list), put_device_item,
                     next_after, buf, cap);
}

ssize_t ec_fleet_rollup_encode(ec_format_t fmt, const ec_fleet_rollup_t *r,
                               uint8_t *buf, size_t cap) {
  int rc = ec__encode_args(fmt, r, 1, buf, cap);
  if (rc < 0)
    return rc;
  if (r->deployment_id == NULL || (r->failures == NULL && r->n_failures > 0))
    return EC_EINVAL;
  ec__dw_t d;
  ec__dw_init(&d, fmt, buf, cap);
  put_rollup(&d, r, true);
  return ec__dw_finish(&d);
}

ssize_t ec_fleet_rollups_encode(ec_format_t fmt, const ec_fleet_rollup_t *list,
                                size_t n, const char *next_after, uint8_t *buf,
                                size_t cap) {
  return encode_page(fmt, "deployments", list, n, sizeof(*list),
                     put_rollup_item, next_after, buf, cap);
}

ssize_t ec_fleet_devices_page_encode(ec_format_t fmt, const void *doc,
                                     uint8_t *buf, size_t cap) {
  const ec_fleet_page_t *p = doc;
  return ec_fleet_devices_encode(fmt, p->list, p->n, p->next_after, buf, cap);
}

ssize_t ec_fleet_rollups_page_encode(ec_format_t fmt, const void *doc,
                                     uint8_t *buf, size_t cap) {
  const ec_fleet_page_t *p = doc;
  return ec_fleet_rollups_encode(fmt, p->list, p->n, p->next_after, buf, cap);
}

ssize_t ec_fleet_rollup_doc_encode(ec_format_t fmt, const void *doc,
                                   uint8_t *buf, size_t cap) {
  return ec_fleet_rollup_encode(fmt, doc, buf, cap);
}
