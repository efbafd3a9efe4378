/* edgecoap server: who may do what: DTLS PSK identities and their rights. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "access.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "identities.h"
#include "log.h"

/* An identity from the network, made safe for one log line. */
static const char *shown(const uint8_t *s, size_t len, char out[80]) {
  size_t n = 0;
  for (size_t i = 0; i < len && n < 64; i++)
    out[n++] = s[i] >= 0x21 && s[i] < 0x7f ? (char)s[i] : '?';
  if (len > 64) {
    memcpy(out + n, "...", 3);
    n += 3;
  }
  out[n] = '\0';
  return out;
}

/*
 * libcoap's validate_id_call_back: called by OpenSSL's PSK server callback
 * during each handshake, with the identity the client sent. The key comes
 * from the identities kept in memory (identities.h): nothing here waits on
 * the network. The key returned must stay valid only until libcoap has
 * copied it (it does so at once, into the session), so one buffer in the
 * server serves every handshake. NULL fails the handshake.
 */
static const coap_bin_const_t *psk_for_identity(coap_bin_const_t *identity,
                                                coap_session_t *session,
                                                void *arg) {
  ec_server_t *srv = arg;
  ec_store_device_t d;
  char name[80];

  if (identity == NULL || identity->s == NULL)
    return NULL;
  shown(identity->s, identity->length, name);
  int rc = ec_ids_current(srv->ids);
  if (rc == 0)
    rc = ec_ids_find(srv->ids, identity->s, identity->length, &d);
  if (rc < 0) {
    if (rc == EC_ENOTFOUND)
      ec_log(EC_LOG_INFO,
             "DTLS %s: unknown PSK identity '%s': handshake "
             "refused",
             coap_session_str(session), name);
    else
      ec_log(EC_LOG_ERROR, "DTLS %s: cannot look up identity '%s': %s",
             coap_session_str(session), name, ec_strerror(rc));
    return NULL;
  }
  memcpy(srv->psk_key, d.key, d.key_len);
  srv->psk.s = srv->psk_key;
  srv->psk.length = d.key_len;
  ec_log(EC_LOG_DEBUG, "DTLS %s: identity '%s' (%s) is handshaking",
         coap_session_str(session), name, ec_store_device_role_name(d.role));
  sodium_memzero(&d, sizeof(d));
  return &srv->psk;
}

int ec_access_dtls_init(ec_server_t *srv) {
  coap_dtls_spsk_t setup;

  if (!coap_dtls_is_supported()) {
    ec_log(EC_LOG_ERROR, "this libcoap has no DTLS: link libcoap-3-openssl");
    return EC_EIO;
  }
  memset(&setup, 0, sizeof(setup));
  setup.version = COAP_DTLS_SPSK_SETUP_VERSION;
  /* No default key and no hint: every key comes from the devices table. */
  setup.validate_id_call_back = psk_for_identity;
  setup.id_call_back_arg = srv;
  if (!coap_context_set_psk2(srv->ctx, &setup)) {
    ec_log(EC_LOG_ERROR, "cannot set up DTLS PSK");
    return EC_EIO;
  }
  return 0;
}

const char *ec_access_decide(ec_device_role_t role, const char *identity,
                             coap_pdu_code_t method, ec_access_rule_t rule,
                             const char *owner) {
  bool read =
      method == COAP_REQUEST_CODE_GET || method == COAP_REQUEST_CODE_FETCH;
  bool operator = role == EC_DEVICE_ROLE_OPERATOR;

  switch (rule) {
  case EC_ACCESS_TOKEN:
    return NULL; /* provisioning keeps its own token authentication */
  case EC_ACCESS_READ:
    if (read)
      return NULL;
    break;
  case EC_ACCESS_DEVICE:
    if (operator)
      return read ? NULL
                  : "operators read device resources; only the device itself "
                    "reports its status";
    if (owner != NULL && strcmp(owner, identity) == 0)
      return NULL;
    return "a device may only use its own /device/{deviceId}/... resources";
  case EC_ACCESS_OPERATOR:
    return operator ? NULL : "status messages are for operators";
  case EC_ACCESS_NONE:
    break;
  }
  return operator ? NULL
                  : "a device may only use its own /device/{deviceId}/... "
                    "resources and /v1";
}

/*
 * Look up @p session's identity into @p d (in memory, identities.h): 1
 * when it still exists with the key the session was made with, 0 when
 * not, EC_ESTORE. The identity may have been removed, or removed and added
 * again with a new key, since this session's handshake.
 */
static int session_identity(ec_server_t *srv, coap_session_t *session,
                            ec_store_device_t *d) {
  const coap_bin_const_t *id = coap_session_get_psk_identity(session);
  const coap_bin_const_t *key = coap_session_get_psk_key(session);
  if (ec_ids_current(srv->ids) < 0)
    return EC_ESTORE;
  int rc = EC_ENOTFOUND;
  if (id != NULL && id->s != NULL && key != NULL && key->s != NULL)
    rc = ec_ids_find(srv->ids, id->s, id->length, d);
  bool same = rc == 0 && d->key_len == key->length &&
              sodium_memcmp(d->key, key->s, d->key_len) == 0;
  sodium_memzero(d->key, sizeof(d->key));
  return same;
}

bool ec_access_session_valid(ec_server_t *srv, coap_session_t *session) {
  if (coap_session_get_proto(session) != COAP_PROTO_DTLS)
    return true;
  ec_store_device_t d;
  return session_identity(srv, session, &d) == 1;
}

int ec_access_check(ec_req_t *rq, ec_access_rule_t rule, const char *owner) {
  /* Plain CoAP is unrestricted: that is what --no-plain is for. */
  if (coap_session_get_proto(rq->session) != COAP_PROTO_DTLS)
    return 0;

  const coap_bin_const_t *id = coap_session_get_psk_identity(rq->session);
  ec_store_device_t d;
  int rc = session_identity(rq->srv, rq->session, &d);
  if (rc == EC_ESTORE) {
    ec_req_problem(rq, 500, "storage-failure", NULL,
                   "cannot check this session's identity");
    return -1;
  }
  if (rc != 1) {
    char name[80];
    ec_req_problem(rq, 401, "credentials-revoked", NULL,
                   "identity '%s' was removed or given a new key after this "
                   "DTLS session began",
                   id != NULL && id->s != NULL ? shown(id->s, id->length, name)
                                               : "");
    return -1;
  }

  const char *why = ec_access_decide(d.role, d.identity, rq->method, rule,
                                     owner);
  if (why == NULL)
    return 0;
  ec_req_problem(rq, 403, "forbidden", NULL, "%s (identity '%s', %s)", why,
                 d.identity, ec_store_device_role_name(d.role));
  return -1;
}

int ec_access_own_device(ec_req_t *rq, char *device, size_t cap) {
  if (coap_session_get_proto(rq->session) != COAP_PROTO_DTLS)
    return 0;
  ec_store_device_t d;
  int rc = session_identity(rq->srv, rq->session, &d);
  if (rc != 1) {
    /* ec_access_check() has just seen it valid: only the store failed. */
    ec_req_problem(rq, 500, "storage-failure", NULL,
                   "cannot check this session's identity");
    return -1;
  }
  if (d.role == EC_DEVICE_ROLE_OPERATOR)
    return 0;
  snprintf(device, cap, "%s", d.identity);
  return 1;
}

void ec_access_on_event(ec_server_t *srv, coap_session_t *session,
                        coap_event_t event) {
  (void)srv;
  if (event == COAP_EVENT_DTLS_ERROR) {
    /* A wrong key shows here: OpenSSL finds it when Finished fails. */
    ec_log(EC_LOG_INFO,
           "DTLS %s: handshake failed or session broken (wrong "
           "key or unknown identity?)",
           coap_session_str(session));
  } else if (event == COAP_EVENT_DTLS_CONNECTED) {
    const coap_bin_const_t *id = coap_session_get_psk_identity(session);
    char name[80];
    ec_log(EC_LOG_INFO, "DTLS %s: session for identity '%s'",
           coap_session_str(session),
           id != NULL && id->s != NULL ? shown(id->s, id->length, name) : "");
  }
}
