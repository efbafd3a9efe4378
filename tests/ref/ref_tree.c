/* edgecoap tests: the tree-path encoders the codec used before its streaming writers, kept as the reference they are held equal to. */
/* SPDX-License-Identifier: Apache-2.0 */
/*
 * These are the encoders of codec/deployment.c and codec/status_message.c as
 * they were when every document went through a jansson tree (commit
 * e0ccbde), moved here unchanged but for their names. The stored bytes of
 * the server were written by them, so tests/test_codec_stream.c checks the
 * streaming encoders against them over the fuzz corpus.
 */
#include <string.h>

#include "ref_tree.h"

#include "status_message_internal.h"
#include "tree.h"

/* Two helpers only these encoders used, moved here with them. */
typedef int (*ec_fill_fn)(json_t *o, const void *item);

static int ec_set_time(json_t *o, const char *k, int64_t ms) {
  char ts[32];
  if (ec_time_format_ms(ms, ts) < 0) {
    return EC_EINVAL;
  }
  return ec__set_str(o, k, ts);
}

static ssize_t ec_encode_list(ec_format_t fmt, const char *key, const void *items,
                       size_t n, size_t size, ec_fill_fn fill, uint8_t *buf,
                       size_t cap) {
  int rc = ec__encode_args(fmt, items, n, buf, cap);
  if (rc < 0) {
    return rc;
  }
  json_t *a = json_array();
  json_t *t = ec__envelope(key, a);
  if (t == NULL) {
    return EC_ENOMEM;
  }
  /* Entries are linked into the array before they are filled, so one
   * json_decref() of the envelope unwinds any failure. */
  const char *item = items;
  for (size_t i = 0; i < n && rc == 0; i++, item += size) {
    json_t *o = json_object();
    rc = json_array_append_new(a, o) != 0 ? EC_ENOMEM : fill(o, item);
  }
  return ec__encode_finish(fmt, t, rc, buf, cap);
}

static int add_error(json_t *parent, const ec_error_info_t *e) {
  json_t *o = json_object();
  int rc = ec__set_new(parent, "error", o);
  if (rc == 0) {
    rc = ec__set_str(o, "code", e->code);
  }
  if (rc == 0) {
    rc = ec__set_str(o, "message", e->message);
  }
  if (rc == 0 && e->source != NULL) {
    rc = ec__set_str(o, "source", e->source);
  }
  return rc;
}

/* Children are linked into their parent before they are filled, so one
 * json_decref() of the root unwinds any failure. */
static int status_to_tree(const ec_deployment_status_t *st, json_t *t) {
  if (st->adopted_manifest_version > INT64_MAX ||
      (st->components == NULL && st->n_components > 0)) {
    return EC_EINVAL;
  }
  int rc;
  if ((rc = ec__set_str(t, "apiVersion", st->api_version)) < 0 ||
      (rc = ec__set_str(t, "kind", st->kind)) < 0 ||
      (rc = ec__set_str(t, "deploymentId", st->deployment_id)) < 0) {
    return rc;
  }
  if (st->device_id != NULL &&
      (rc = ec__set_str(t, "deviceId", st->device_id)) < 0) {
    return rc;
  }
  if (st->adopted_manifest_version > 0 &&
      (rc = ec__set_int(t, "adoptedManifestVersion",
                        (int64_t)st->adopted_manifest_version)) < 0) {
    return rc;
  }
  json_t *s = json_object();
  if ((rc = ec__set_new(t, "status", s)) < 0 ||
      (rc = ec__set_str(s, "state", ec_state_name(st->state))) < 0 ||
      (st->has_error && (rc = add_error(s, &st->error)) < 0)) {
    return rc;
  }
  json_t *a = json_array();
  if ((rc = ec__set_new(t, "components", a)) < 0) {
    return rc;
  }
  for (size_t i = 0; i < st->n_components; i++) {
    const ec_component_status_t *c = &st->components[i];
    json_t *o = json_object();
    if (json_array_append_new(a, o) != 0) {
      return EC_ENOMEM;
    }
    if ((rc = ec__set_str(o, "name", c->name)) < 0 ||
        (rc = ec__set_str(o, "state", ec_state_name(c->state))) < 0 ||
        (c->has_error && (rc = add_error(o, &c->error)) < 0)) {
      return rc;
    }
  }
  return 0;
}

ssize_t ref_deployment_status_encode(ec_format_t fmt,
                                    const ec_deployment_status_t *st,
                                    uint8_t *buf, size_t cap) {
  int rc = ec__encode_args(fmt, st, 1, buf, cap);
  if (rc < 0) {
    return rc;
  }
  json_t *t = json_object();
  if (t == NULL) {
    return EC_ENOMEM;
  }
  return ec__encode_finish(fmt, t, status_to_tree(st, t), buf, cap);
}

/* Embed one stored report: it was written by ec_deployment_status_encode(),
 * so anything but a CBOR map is corruption in the store. */
static int add_report(json_t *o, const ec_history_entry_t *e) {
  json_t *r;
  if (e->report == NULL && e->report_len > 0) {
    return EC_EINVAL;
  }
  int rc = ec__tree_parse(EC_FORMAT_CBOR, e->report, e->report_len, &r, NULL);
  if (rc < 0) {
    return rc == EC_ENOMEM ? rc : EC_ESYNTAX;
  }
  if (!json_is_object(r)) {
    json_decref(r);
    return EC_ESYNTAX;
  }
  return ec__set_new(o, "report", r);
}

static int history_entry_to_tree(json_t *o, const void *item) {
  const ec_history_entry_t *e = item;
  int rc;
  if ((rc = ec__set_int(o, "seq", e->seq)) < 0 ||
      (rc = ec_set_time(o, "receivedAt", e->received_at_ms)) < 0) {
    return rc;
  }
  return add_report(o, e);
}

ssize_t ref_history_encode(ec_format_t fmt, const ec_history_entry_t *entries,
                          size_t n, uint8_t *buf, size_t cap) {
  return ec_encode_list(fmt, "reports", entries, n, sizeof *entries,
                        history_entry_to_tree, buf, cap);
}

static int summary_to_tree(json_t *o, const void *item) {
  const ec_deployment_summary_t *d = item;
  int rc;
  if ((rc = ec__set_str(o, "deploymentId", d->deployment_id)) < 0 ||
      (rc = ec__set_str(o, "state", ec_state_name(d->state))) < 0) {
    return rc;
  }
  return ec_set_time(o, "updatedAt", d->updated_at_ms);
}

ssize_t ref_deployments_encode(ec_format_t fmt,
                              const ec_deployment_summary_t *list, size_t n,
                              uint8_t *buf, size_t cap) {
  return ec_encode_list(fmt, "deployments", list, n, sizeof *list,
                        summary_to_tree, buf, cap);
}


/* ---- status messages ---- */

#define MAC_MAX ((UINT64_C(1) << 48) - 1)

static int put_id(json_t *t, const char *key, ec_msg_id_kind_t kind,
                  const char *s) {
  if (s == NULL) {
    return 0;
  }
  if (ec__msg_check_id(kind, s, strlen(s), key, NULL) < 0) {
    return EC_EINVAL;
  }
  return ec__set_str(t, key, s);
}

/* An object under @p k of @p parent when @p has, else NULL with rc 0. */
static int sub(json_t *parent, const char *k, bool has, json_t **out) {
  *out = NULL;
  if (!has) {
    return 0;
  }
  *out = json_object();
  return ec__set_new(parent, k, *out);
}

static int put_dhcp(json_t *t, const ec_dhcp_option_t *d) {
  json_t *top, *v4, *v6, *o;
  int rc;
  if ((rc = sub(t, "dhcpOption", d->present, &top)) < 0 || top == NULL ||
      (rc = sub(top, "IPv4", d->has_ipv4, &v4)) < 0) {
    return rc;
  }
  if (v4 != NULL) {
    if ((rc = sub(v4, "option82", d->has_option82, &o)) < 0) {
      return rc;
    }
    if (o != NULL &&
        ((d->option82_remote_id != NULL &&
          (rc = ec__set_str(o, "remoteId", d->option82_remote_id)) < 0) ||
         (d->option82_circuit_id != NULL &&
          (rc = ec__set_str(o, "circuitId", d->option82_circuit_id)) < 0))) {
      return rc;
    }
  }
  if ((rc = sub(top, "IPv6", d->has_ipv6, &v6)) < 0 || v6 == NULL) {
    return rc;
  }
  if ((rc = sub(v6, "option18", d->has_option18, &o)) < 0 ||
      (o != NULL && d->option18_interface_id != NULL &&
       (rc = ec__set_str(o, "interfaceId", d->option18_interface_id)) < 0) ||
      (rc = sub(v6, "option37", d->has_option37, &o)) < 0 ||
      (o != NULL && d->option37_remote_id != NULL &&
       (rc = ec__set_str(o, "remoteId", d->option37_remote_id)) < 0)) {
    return rc;
  }
  return 0;
}

/* Fields in the seed's order. Children are linked into their parent before
 * they are filled, so one json_decref() of the root unwinds any failure.
 * An ec_fill_fn: @p item is an ec_status_message_t. */
static int msg_to_tree(json_t *t, const void *item) {
  const ec_status_message_t *m = item;
  int rc;
  if (m->id < 0 || m->code < EC_MSG_CODE_MIN || m->code > EC_MSG_CODE_MAX ||
      (m->params == NULL && m->n_params > 0) ||
      (m->macs == NULL && m->n_macs > 0) ||
      (m->order_id == NULL && m->subscription_id == NULL &&
       m->access_id == NULL)) {
    return EC_EINVAL;
  }
  if ((m->id > 0 && (rc = ec__set_int(t, "statusMessageID", m->id)) < 0) ||
      (m->has_date && (rc = ec_set_time(t, "messageDate", m->date_ms)) < 0) ||
      (rc = ec__set_int(t, "messageCode", m->code)) < 0) {
    return rc;
  }
  if (m->n_params > 0) {
    json_t *a = json_array();
    if ((rc = ec__set_new(t, "messageParameters", a)) < 0) {
      return rc;
    }
    for (size_t i = 0; i < m->n_params; i++) {
      json_t *o = json_object();
      if (json_array_append_new(a, o) != 0) {
        return EC_ENOMEM;
      }
      const char *k = m->params[i].key;
      if (k == NULL || *k == '\0' || !ec__utf8_valid(k, strlen(k))) {
        return EC_EINVAL;
      }
      if ((rc = ec__set_str(o, k, m->params[i].value)) < 0) {
        return rc;
      }
    }
  }
  if ((rc = put_id(t, "orderId", EC_MSG_ORDER, m->order_id)) < 0 ||
      (rc = put_id(t, "subscriptionId", EC_MSG_SUBSCRIPTION,
                   m->subscription_id)) < 0 ||
      (rc = put_id(t, "accessId", EC_MSG_ACCESS, m->access_id)) < 0) {
    return rc;
  }
  if (m->n_macs > 0) {
    json_t *a = json_array();
    if ((rc = ec__set_new(t, "macAddress", a)) < 0) {
      return rc;
    }
    for (size_t i = 0; i < m->n_macs; i++) {
      char mac[18];
      if (m->macs[i] > MAC_MAX) {
        return EC_EINVAL;
      }
      ec_mac_format(m->macs[i], mac);
      if (json_array_append_new(a, json_string_nocheck(mac)) != 0) {
        return EC_ENOMEM;
      }
    }
  }
  return put_dhcp(t, &m->dhcp);
}

ssize_t ref_status_message_encode(ec_format_t fmt, const ec_status_message_t *m,
                                 uint8_t *buf, size_t cap) {
  int rc = ec__encode_args(fmt, m, 1, buf, cap);
  if (rc < 0) {
    return rc;
  }
  json_t *t = json_object();
  if (t == NULL) {
    return EC_ENOMEM;
  }
  return ec__encode_finish(fmt, t, msg_to_tree(t, m), buf, cap);
}

ssize_t ref_status_messages_encode(ec_format_t fmt,
                                  const ec_status_message_t *msgs, size_t n,
                                  uint8_t *buf, size_t cap) {
  return ec_encode_list(fmt, "StatusMessages", msgs, n, sizeof *msgs,
                        msg_to_tree, buf, cap);
}

/* One stored row as a message object with its ID first. The document was
 * written by ec_status_message_encode(), so anything but a CBOR map is
 * corruption in the store. */
static int row_to_tree(const ec_msg_row_t *r, json_t **out) {
  json_t *d;
  if ((r->doc == NULL && r->doc_len > 0) || r->id < 1) {
    return EC_EINVAL;
  }
  int rc = ec__tree_parse(EC_FORMAT_CBOR, r->doc, r->doc_len, &d, NULL);
  if (rc < 0) {
    return rc == EC_ENOMEM ? rc : EC_ESYNTAX;
  }
  json_t *o = json_object();
  if (!json_is_object(d)) {
    rc = EC_ESYNTAX;
  } else if (o == NULL || ec__set_int(o, "statusMessageID", r->id) < 0 ||
             json_object_update_missing(o, d) != 0) {
    rc = EC_ENOMEM;
  }
  json_decref(d);
  if (rc < 0) {
    json_decref(o);
    return rc;
  }
  *out = o;
  return 0;
}

ssize_t ref_msg_rows_encode(ec_format_t fmt, const ec_msg_row_t *rows, size_t n,
                           bool with_envelope, uint8_t *buf, size_t cap) {
  int rc = ec__encode_args(fmt, rows, n, buf, cap);
  if (rc < 0) {
    return rc;
  }
  if (fmt == EC_FORMAT_CBOR && (with_envelope || n == 1)) {
    /* The CBOR splice was streaming already; it is unchanged. */
    return ec_msg_rows_encode(fmt, rows, n, with_envelope, buf, cap);
  }
  if (!with_envelope) {
    json_t *o;
    if (n != 1) {
      return EC_EINVAL;
    }
    rc = row_to_tree(&rows[0], &o);
    return rc < 0 ? rc : ec__encode_finish(fmt, o, 0, buf, cap);
  }
  json_t *a = json_array();
  json_t *t = ec__envelope("StatusMessages", a);
  if (t == NULL) {
    return EC_ENOMEM;
  }
  for (size_t i = 0; i < n && rc == 0; i++) {
    json_t *o;
    if ((rc = row_to_tree(&rows[i], &o)) == 0 &&
        json_array_append_new(a, o) != 0) {
      rc = EC_ENOMEM;
    }
  }
  return ec__encode_finish(fmt, t, rc, buf, cap);
}

/* ---- the CBOR to JSON transcoder ---- */

ssize_t ref_cbor_to_json(const uint8_t *cbor, size_t len, char *out,
                         size_t cap) {
  if ((cbor == NULL && len > 0) || (out == NULL && cap != 0)) {
    return EC_EINVAL;
  }
  json_t *t;
  int rc = ec__tree_parse(EC_FORMAT_CBOR, cbor, len, &t, NULL);
  if (rc < 0) {
    return rc;
  }
  ssize_t n = ec__tree_write(EC_FORMAT_JSON, t, false, (uint8_t *)out, cap);
  json_decref(t);
  if (n >= 0 && (size_t)n < cap) {
    out[n] = '\0';
  }
  return n;
}
