/* edgecoap codec internals: the StatusMessage field rules shared by the message
 * and filter codecs. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_CODEC_STATUS_MESSAGE_INTERNAL_H
#define EDGECOAP_CODEC_STATUS_MESSAGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "edgecoap/status_message.h"
#include "tree.h"

/** The three identifier fields and their rules (API.md section 3). */
typedef enum {
  EC_MSG_ORDER,
  EC_MSG_SUBSCRIPTION,
  EC_MSG_ACCESS
} ec_msg_id_kind_t;

/**
 * Check an orderId / subscriptionId (1..36 of [-.0-9A-Za-z]) or an accessId
 * (1..32 of [0-9A-Za-z]).
 * @return 0, or EC_EBADDOC "invalid-length" / "invalid-characters" naming
 *         @p field
 */
int ec__msg_check_id(ec_msg_id_kind_t kind, const char *s, size_t len,
                     const char *field, ec_codec_error_t *err);

/**
 * Parse a MAC address field value, with the error a request gets for it:
 * EC_EBADDOC "invalid-length" outside 12..17 characters, else
 * "invalid-mac-address" naming @p field.
 */
int ec__msg_parse_mac(const char *s, size_t len, const char *field,
                      uint64_t *mac, ec_codec_error_t *err);

/** Parse an RFC 3339 field value; EC_EBADDOC "invalid-date-time" naming @p
 * field. */
int ec__msg_parse_date(const char *s, size_t len, const char *field,
                       int64_t *ms, ec_codec_error_t *err);

#endif /* EDGECOAP_CODEC_STATUS_MESSAGE_INTERNAL_H */
