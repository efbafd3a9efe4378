/* edgecoap device core: a provisioning request body (API.md section 4) written as the server's codec writes it. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "cbor.h"

/* An integer of any sign in its shortest head: IDs and limits may pass
 * 32 bits, where ec__cbw_head() stops. */
static void put_int(ec__cbw_t *w, int64_t v) {
  uint8_t major = v < 0 ? 1 : 0;
  uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) : (uint64_t)v;
  if (u <= UINT32_MAX) {
    ec__cbw_head(w, major, (uint32_t)u);
    return;
  }
  uint8_t h[9];
  h[0] = (uint8_t)(major << 5 | 27);
  for (int i = 0; i < 8; i++) {
    h[8 - i] = (uint8_t)(u >> (8 * i));
  }
  for (int i = 0; i < 9; i++) {
    if (w->buf != NULL && w->len < w->cap) {
      w->buf[w->len] = h[i];
    }
    w->len++;
  }
}

/* An INT | ARRAY member: one integer, or an array when is_array. */
static int put_ids(ec__cbw_t *w, const char *key, const ec_dev_prov_ids_t *ids) {
  if (ids->n == 0 || ids->v == NULL) {
    return EC_EINVAL;
  }
  ec__cbw_text(w, key);
  if (ids->is_array) {
    if (ids->n > UINT32_MAX) {
      return EC_EINVAL;
    }
    ec__cbw_head(w, 4, (uint32_t)ids->n);
  }
  for (size_t i = 0; i < (ids->is_array ? ids->n : 1); i++) {
    put_int(w, ids->v[i]);
  }
  return 0;
}

int ec_dev_prov_request_encode(const ec_dev_prov_req_t *rq, uint8_t *buf,
                               size_t cap) {
  static const char actions[] = "select\0insert\0update\0";
  static const char types[] = "Sensor\0Parameter\0Group Parameter\0";
  if (rq == NULL || (buf == NULL && cap != 0) || rq->action < 0 ||
      rq->action > 2 ||
      (rq->has_component_type &&
       (rq->component_type < 0 || rq->component_type > 2))) {
    return EC_EINVAL;
  }
  /* The members in the codec's order, absent ones left out; the map's
   * count first (at most 7, one byte). */
  unsigned n = 1u + rq->provisioning_component_id.present +
               rq->has_provisioning_id + rq->has_component_type +
               rq->component_id.present + rq->has_active_status +
               rq->has_limit;
  ec__cbw_t w = {buf, cap, 0};
  int rc = 0;
  ec__cbw_head(&w, 5, n);
  ec__cbw_text(&w, "action");
  ec__cbw_text(&w, ec__nth(actions, (unsigned)rq->action));
  if (rq->provisioning_component_id.present) {
    rc = put_ids(&w, "provisioning_component_id",
                 &rq->provisioning_component_id);
  }
  if (rc == 0 && rq->has_provisioning_id) {
    ec__cbw_text(&w, "provisioning_id");
    put_int(&w, rq->provisioning_id);
  }
  if (rc == 0 && rq->has_component_type) {
    ec__cbw_text(&w, "component_type");
    ec__cbw_text(&w, ec__nth(types, (unsigned)rq->component_type));
  }
  if (rc == 0 && rq->component_id.present) {
    rc = put_ids(&w, "component_id", &rq->component_id);
  }
  if (rc == 0 && rq->has_active_status) {
    ec__cbw_text(&w, "active_status");
    put_int(&w, rq->active_status);
  }
  if (rc == 0 && rq->has_limit) {
    ec__cbw_text(&w, "limit");
    put_int(&w, rq->limit);
  }
  if (rc < 0) {
    return rc;
  }
  return w.len > (size_t)INT32_MAX ? EC_ENOSPC : (int)w.len;
}
