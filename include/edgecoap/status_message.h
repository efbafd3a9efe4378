/* edgecoap: the ON-API StatusMessage document, its list and filter, and their
 * JSON/CBOR codec. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_STATUS_MESSAGE_H
#define EDGECOAP_STATUS_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "edgecoap/codec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Caps on one document; override at build time with -D. */
#ifndef EC_MSG_MAX_PARAMS
#define EC_MSG_MAX_PARAMS 64 /**< messageParameters entries in one message */
#endif
#ifndef EC_MSG_MAX_MACS
#define EC_MSG_MAX_MACS 64 /**< macAddress entries in one message */
#endif
#ifndef EC_MSG_MAX_BATCH
#define EC_MSG_MAX_BATCH 10000 /**< messages in one posted batch */
#endif

/** The list limit when none is given, and the largest one accepted. */
#define EC_MSG_LIMIT_DEFAULT 1000
#define EC_MSG_LIMIT_MAX 10000

/** Field lengths of API.md section 3. */
#define EC_MSG_ORDER_ID_MAX 36  /**< orderId, subscriptionId: [-.0-9A-Za-z] */
#define EC_MSG_ACCESS_ID_MAX 32 /**< accessId: [0-9A-Za-z] */
#define EC_MSG_CODE_MIN 100
#define EC_MSG_CODE_MAX 999

/** One messageParameters entry: a one-key object {"key": "value"}. */
typedef struct {
  const char *key;   /**< non-empty */
  const char *value; /**< may be empty */
} ec_msg_param_t;

/**
 * dhcpOption: {"IPv4": {"option82": {remoteId, circuitId}}, "IPv6":
 * {"option18": {interfaceId}, "option37": {remoteId}}}. Every member is
 * optional; the has_ flags say which objects were present, so an empty
 * object is written back as it came. A string is NULL when absent.
 */
typedef struct {
  bool present; /**< dhcpOption itself */
  bool has_ipv4;
  bool has_option82;
  bool has_ipv6;
  bool has_option18;
  bool has_option37;
  const char *option82_remote_id;
  const char *option82_circuit_id;
  const char *option18_interface_id;
  const char *option37_remote_id;
} ec_dhcp_option_t;

/**
 * A StatusMessage. Decoders fill it with pointers into an arena; encoders
 * only read it, so a caller may point the strings at its own memory.
 */
typedef struct {
  int64_t id;      /**< statusMessageID (>= 1); 0 when not assigned yet */
  bool has_date;   /**< messageDate present */
  int64_t date_ms; /**< messageDate, UTC milliseconds since the epoch */
  int code;        /**< messageCode, 100..999 */
  const ec_msg_param_t *params;
  size_t n_params;
  const char *order_id;        /**< NULL if absent */
  const char *subscription_id; /**< NULL if absent */
  const char *access_id;       /**< NULL if absent */
  const uint64_t *macs;        /**< 48-bit MAC addresses, in document order */
  size_t n_macs;
  ec_dhcp_option_t dhcp;
} ec_status_message_t;

/** Which rules a decoder applies. */
typedef enum {
  /**
   * What a client posts (API.md section 3): statusMessageID is refused (the
   * server assigns it), messageDate is optional, unknown keys are refused.
   */
  EC_MSG_NEW = 0,
  /**
   * What a server answers: statusMessageID and messageDate are required,
   * unknown keys are skipped (a newer server may add some). Every field
   * rule still applies.
   */
  EC_MSG_STORED = 1
} ec_msg_kind_t;

/**
 * Decode and validate one StatusMessage object. Every refusal of a field is
 * EC_EBADDOC (4.00) naming the field ("macAddress[1]",
 * "dhcpOption.IPv4.option82.remoteId"); list caps are EC_ETOOBIG.
 * Numbers may be written as strings of decimal digits ("messageCode": "101").
 * @param[out] out  caller-owned; its strings and arrays live in @p arena
 * @param[out] err  why it was refused (may be NULL)
 * @return 0, or EC_ESYNTAX / EC_EBADDOC / EC_ETOOBIG / EC_ENOMEM / EC_EFORMAT
 */
int ec_status_message_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                             ec_msg_kind_t kind, ec_status_message_t *out,
                             ec_arena_t *arena, ec_codec_error_t *err);

/**
 * Decode either one StatusMessage object or {"StatusMessages": [...]}.
 * In EC_MSG_NEW a batch holds 1..EC_MSG_MAX_BATCH messages and fields are
 * named "StatusMessages[2].orderId"; in EC_MSG_STORED it may be empty.
 * @param[out] msgs   an array in @p arena (NULL when *n is 0)
 * @param[out] batch  true for the {"StatusMessages"} form (may be NULL)
 * @return as ec_status_message_decode()
 */
int ec_status_messages_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                              ec_msg_kind_t kind, ec_status_message_t **msgs,
                              size_t *n, bool *batch, ec_arena_t *arena,
                              ec_codec_error_t *err);

/**
 * Encode one message: statusMessageID when id > 0, messageDate when
 * has_date (UTC with milliseconds), empty lists and absent strings left out.
 * @param[out] buf  caller buffer, or NULL with @p cap 0 to measure
 * @return the encoded length (may exceed @p cap: call again bigger), or < 0
 *         (EC_EINVAL for a message that breaks a field rule)
 */
ssize_t ec_status_message_encode(ec_format_t fmt, const ec_status_message_t *m,
                                 uint8_t *buf, size_t cap);

/** Encode {"StatusMessages": [...]} of @p n messages; as above. */
ssize_t ec_status_messages_encode(ec_format_t fmt,
                                  const ec_status_message_t *msgs, size_t n,
                                  uint8_t *buf, size_t cap);

/**
 * A stored message as the server keeps it: its ID apart, and the rest as
 * the CBOR that ec_status_message_encode() wrote for it with id 0.
 */
typedef struct {
  int64_t id;
  const uint8_t *doc;
  size_t doc_len;
} ec_msg_row_t;

/**
 * Encode stored rows with their IDs put back first: one message object
 * when @p envelope is false (then @p n must be 1), else
 * {"StatusMessages": [...]}.
 * @return the encoded length, or < 0 (EC_ESYNTAX if a stored doc is corrupt)
 */
ssize_t ec_msg_rows_encode(ec_format_t fmt, const ec_msg_row_t *rows, size_t n,
                           bool envelope, uint8_t *buf, size_t cap);

/**
 * Parse a MAC address in any common spelling: 12 hex digits alone, in six
 * pairs or three quads separated by one of ':' '-' '.', any case; 12 to 17
 * characters.
 * @return 0 with *mac (48 bits), or EC_EBADDOC
 */
int ec_mac_parse(const char *s, size_t len, uint64_t *mac);

/** Write @p mac as "aa:bb:cc:dd:ee:ff" (NUL-terminated). */
void ec_mac_format(uint64_t mac, char out[18]);

/**
 * The filters of GET (Uri-Query) and FETCH (body), all combined with AND.
 * Strings live in an arena or the caller's memory.
 */
typedef struct {
  const char *order_id;        /**< NULL: any */
  const char *subscription_id; /**< NULL: any */
  const char *access_id;       /**< NULL: any */
  bool has_mac;                /**< any of a message's addresses equals mac */
  uint64_t mac;
  bool has_from_date; /**< messageDate >= from_date_ms */
  int64_t from_date_ms;
  bool has_to_date; /**< messageDate <= to_date_ms */
  int64_t to_date_ms;
  bool has_from_id; /**< statusMessageID > from_id ("after") */
  int64_t from_id;
  bool has_to_id; /**< statusMessageID < to_id ("before") */
  int64_t to_id;
  int limit; /**< 1..EC_MSG_LIMIT_MAX; 0: not given */
} ec_msg_filter_t;

/**
 * Set one filter from its text form, as a Uri-Query "name=value" gives it.
 * Names: orderId, subscriptionId, accessId, macAddress, fromDateTime,
 * toDateTime, fromStatusMessageID, toStatusMessageID, limit.
 * @param[in] value  @p len bytes, not NUL-terminated; copied into @p arena
 * @return 0; EC_EBADDOC "unknown-query" for another name, "duplicate-query"
 *         for one already set, or the field's rule's title for a bad value,
 *         with @p err's field naming the filter; EC_ENOMEM
 */
int ec_msg_filter_set(ec_msg_filter_t *f, const char *name, const char *value,
                      size_t len, ec_arena_t *arena, ec_codec_error_t *err);

/**
 * Decode a FETCH body: an object with the filter names as keys, strings for
 * text filters, integers (or digit strings) for the IDs and limit.
 * An empty body is no filter at all.
 * @return 0, or as ec_status_message_decode() ("unknown-key" for a name)
 */
int ec_msg_filter_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                         ec_msg_filter_t *f, ec_arena_t *arena,
                         ec_codec_error_t *err);

/** Encode a filter as a FETCH body; as ec_status_message_encode(). */
ssize_t ec_msg_filter_encode(ec_format_t fmt, const ec_msg_filter_t *f,
                             uint8_t *buf, size_t cap);

/**
 * Write a filter as a Uri-Query string without the '?' ("orderId=A&limit=5"),
 * percent-encoding what needs it; "" for no filter.
 * @return the length written without the NUL, or EC_ENOSPC / EC_EINVAL
 */
ssize_t ec_msg_filter_query(const ec_msg_filter_t *f, char *out, size_t cap);

/** True when @p m passes every filter of @p f (the limit is not a filter). */
bool ec_msg_filter_match(const ec_msg_filter_t *f,
                         const ec_status_message_t *m);

#ifdef __cplusplus
}
#endif
#endif /* EDGECOAP_STATUS_MESSAGE_H */
