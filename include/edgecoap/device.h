/* edgecoap device core: CoAP messages, the device's CBOR documents and an event-driven client, in freestanding C. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_DEVICE_H
#define EDGECOAP_DEVICE_H

/*
 * What a constrained device links (device/core/, docs/DEVICE.md). It uses
 * only <stdint.h>, <stddef.h>, <stdbool.h> and <string.h>: no heap, no stdio,
 * no clock, no sockets. Every byte it writes goes into a buffer the caller
 * passed; every byte it reads is checked against the end of the caller's
 * input first. Lengths are returned as values >= 0, errors as the negative
 * EC_E* codes of edgecoap/error.h.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgecoap/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Caps; override at build time with -D. */
#ifndef EC_DEV_MAX_DEPTH
#define EC_DEV_MAX_DEPTH 16 /**< CBOR nesting the decoders accept (the codec's EC_MAX_DEPTH) */
#endif
#ifndef EC_DEV_MAX_TEXT
#define EC_DEV_MAX_TEXT 1024 /**< bytes in one decoded text string (the codec's cap) */
#endif
#ifndef EC_DEV_MAX_ITEMS
#define EC_DEV_MAX_ITEMS 20000 /**< elements of one array, pairs of one map, the decoders accept (the codec's EC_MAX_ITEMS) */
#endif
#ifndef EC_DEV_MAX_EXCHANGES
#define EC_DEV_MAX_EXCHANGES 3 /**< exchanges (requests and observations) open at once */
#endif
#ifndef EC_DEV_DEDUP
#define EC_DEV_DEDUP 4 /**< Message IDs of the server's CON messages remembered */
#endif

/* ------------------------------------------------------------------------ */
/* CoAP messages (RFC 7252)                                                  */

enum { EC_COAP_CON = 0, EC_COAP_NON = 1, EC_COAP_ACK = 2, EC_COAP_RST = 3 };

/** A code from its class and detail: EC_COAP_CODE(2, 4) is 2.04 (68). */
#define EC_COAP_CODE(c, d) ((uint8_t)(((c) << 5) | (d)))

enum {
  EC_COAP_GET = 1,
  EC_COAP_POST = 2,
  EC_COAP_PUT = 3,
  EC_COAP_DELETE = 4,
  EC_COAP_FETCH = 5, /* RFC 8132 */
  EC_COAP_OPT_ETAG = 4,
  EC_COAP_OPT_OBSERVE = 6,
  EC_COAP_OPT_URI_PATH = 11,
  EC_COAP_OPT_CONTENT_FORMAT = 12,
  EC_COAP_OPT_MAX_AGE = 14,
  EC_COAP_OPT_URI_QUERY = 15,
  EC_COAP_OPT_ACCEPT = 17,
  EC_COAP_OPT_BLOCK2 = 23,
  EC_COAP_OPT_BLOCK1 = 27,
  EC_COAP_OPT_SIZE2 = 28,
  EC_COAP_OPT_SIZE1 = 60,
  EC_COAP_OPT_ECHO = 252, /* RFC 9175 */
  EC_COAP_OPT_AUTH_TOKEN = 65000, /* API.md section 4, "Tokens" */
  EC_COAP_OPT_REQUEST_ID = 65004 /* edgecoap's (API.md, "Request-Id") */
};

/**
 * A parsed message. Nothing is copied: opts and payload point into the
 * datagram given to ec_coap_parse(), which must outlive this struct.
 */
typedef struct {
  uint8_t type;
  uint8_t code;
  uint16_t mid;
  uint8_t tkl;
  uint8_t token[8];
  const uint8_t *opts; /**< the options, already checked to be well formed */
  size_t opts_len;
  const uint8_t *payload; /**< NULL when there is none */
  size_t payload_len;
} ec_coap_msg_t;

/**
 * Parse and check a whole datagram: version 1, a token of at most 8 bytes,
 * every option header and length inside the datagram, no reserved nibble,
 * no option number past 65535, no payload marker without a payload, and an
 * Empty message of 4 bytes only.
 * @return 0, or EC_EPROTO (nothing in @p m is meaningful then)
 */
int ec_coap_parse(ec_coap_msg_t *m, const uint8_t *buf, size_t len);

/**
 * Find the @p idx'th occurrence (from 0) of option @p num.
 * @param[out] val  points into the datagram
 * @return 1 when found, 0 when absent
 */
int ec_coap_opt(const ec_coap_msg_t *m, uint16_t num, unsigned idx,
                const uint8_t **val, size_t *len);

/**
 * Read an unsigned-integer option (0 to 4 bytes, network order).
 * @return 1 and *v when present, 0 when absent, EC_EPROTO when too long
 */
int ec_coap_opt_uint(const ec_coap_msg_t *m, uint16_t num, uint32_t *v);

/**
 * Builds a message into a caller buffer. Options must be added in
 * non-decreasing number order (repeated numbers keep their order); the first
 * failure (too small a buffer, an option out of order) sticks and is what
 * ec_coap_finish() returns.
 */
typedef struct {
  uint8_t *buf;
  size_t cap;
  size_t len;
  uint16_t last; /* the number of the last option added */
  int err;
} ec_coap_build_t;

/** Start a message of @p tkl (0..8) token bytes into @p buf. */
void ec_coap_start(ec_coap_build_t *b, uint8_t *buf, size_t cap, uint8_t type,
                   uint8_t code, uint16_t mid, const uint8_t *token,
                   uint8_t tkl);
/** Add an option; its value is copied. */
void ec_coap_add(ec_coap_build_t *b, uint16_t num, const void *val, size_t len);
/** Add an unsigned-integer option in its shortest form (0 is empty). */
void ec_coap_add_uint(ec_coap_build_t *b, uint16_t num, uint32_t v);
/**
 * Room for a payload: the marker is written and a pointer to the bytes after
 * it returned, with *room their number; then ec_coap_payload_done(). NULL
 * (and *room 0) when not even the marker fits.
 */
uint8_t *ec_coap_payload_room(ec_coap_build_t *b, size_t *room);
/** Say that @p n bytes were written at ec_coap_payload_room() (0: no payload). */
void ec_coap_payload_done(ec_coap_build_t *b, size_t n);
/** @return the datagram's length, or EC_ENOSPC / EC_EINVAL */
int ec_coap_finish(const ec_coap_build_t *b);

/* ------------------------------------------------------------------------ */
/* Documents (API.md section 2), encoded as the server's codec does          */

/** Deployment and component states; the same numbers as ec_state_t. */
typedef enum {
  EC_DEV_PENDING = 0,
  EC_DEV_INSTALLING,
  EC_DEV_INSTALLED,
  EC_DEV_FAILED,
  EC_DEV_REMOVING,
  EC_DEV_REMOVED,
  EC_DEV_STATE_COUNT
} ec_dev_state_t;

/** An installation error: code NULL means none; message is then required. */
typedef struct {
  const char *code;
  const char *message;
  const char *source; /**< NULL if absent */
} ec_dev_error_t;

typedef struct {
  const char *name;
  ec_dev_state_t state;
  ec_dev_error_t error;
} ec_dev_component_t;

/**
 * A DeploymentStatus report, as the device writes it. Strings are the
 * caller's NUL-terminated ones and are only read.
 */
typedef struct {
  const char *api_version;   /**< e.g. "deployment.margo/v1" */
  const char *kind;          /**< NULL for "DeploymentStatus" */
  const char *deployment_id; /**< a UUID */
  const char *device_id;     /**< optional extra; NULL if absent */
  uint32_t adopted_manifest_version; /**< optional extra; 0 if absent */
  ec_dev_state_t state;
  ec_dev_error_t error;
  const ec_dev_component_t *components;
  size_t n_components;
} ec_dev_status_t;

/**
 * Encode @p st as the CBOR the server's codec writes for the same document
 * (ec_deployment_status_encode(), byte for byte).
 * @param[out] buf  caller buffer, or NULL with @p cap 0 to measure
 * @return the length (may exceed @p cap: then nothing useful is in @p buf),
 *         or EC_EINVAL for a missing field, a state out of range or a
 *         deploymentId that is no UUID
 */
int ec_dev_status_encode(const ec_dev_status_t *st, uint8_t *buf, size_t cap);

/** A text string inside the caller's input: not NUL-terminated; ptr NULL if absent. */
typedef struct {
  const char *ptr;
  size_t len;
} ec_dev_str_t;

/** One component of a deployment-status answer, read in place. */
typedef struct {
  ec_dev_str_t name;
  ec_dev_state_t state;
  ec_dev_str_t error_code;    /**< the component's error; ptr NULL if none */
  ec_dev_str_t error_message;
  ec_dev_str_t error_source;  /**< ptr NULL if absent */
} ec_dev_component_view_t;

/** Called per component by ec_dev_status_decode(); < 0 stops the decoding. */
typedef int (*ec_dev_component_fn)(void *ctx, size_t idx,
                                   const ec_dev_component_view_t *c);

/** The deployment-status answer (the stored report), read in place. */
typedef struct {
  ec_dev_str_t api_version;
  ec_dev_str_t kind;
  ec_dev_str_t deployment_id;
  ec_dev_str_t device_id;
  uint64_t adopted_manifest_version; /**< 0 if absent */
  ec_dev_state_t state;
  ec_dev_str_t error_code;    /**< the status's error; ptr NULL if none */
  ec_dev_str_t error_message;
  ec_dev_str_t error_source;  /**< ptr NULL if absent */
  size_t n_components;
} ec_dev_status_view_t;

/**
 * Pull-decode a DeploymentStatus answer in CBOR without copying: strings
 * point into @p buf. Required members and their types are checked as the
 * codec does; unknown members are skipped (a newer server may add some),
 * a key given twice in any map, known or not, is refused (EC_ESYNTAX), as
 * the codec refuses it: compared by value, so a head longer than needed
 * and an integer key and the text of its decimal spelling (5 and "5") are
 * one key, as in the codec's tree.
 * @param[in] fn  called for each component in order, or NULL
 * @return 0, EC_ESYNTAX (not well-formed CBOR as the codec reads it: a
 *         length past the end, trailing bytes, tags, byte strings, bad
 *         UTF-8; and indefinite lengths, which the codec would read but
 *         the server never writes), EC_ETOOBIG (nesting past
 *         EC_DEV_MAX_DEPTH, a text past EC_DEV_MAX_TEXT bytes, an array or
 *         map past EC_DEV_MAX_ITEMS entries, as the codec refuses them),
 *         EC_EBADDOC (a member missing or mistyped, a state unknown) or
 *         what @p fn returned
 */
int ec_dev_status_decode(const uint8_t *buf, size_t len,
                         ec_dev_status_view_t *out, ec_dev_component_fn fn,
                         void *ctx);

/** A problem-details answer (RFC 9290, API.md section 1), read in place. */
typedef struct {
  ec_dev_str_t title;
  ec_dev_str_t detail;
  ec_dev_str_t field;
  int code; /**< e.g. 150 for 4.22; 0 if absent */
} ec_dev_problem_t;

/**
 * Pull-decode problem details: the concise CBOR form (keys -1 title,
 * -2 detail, -4 response-code, -256 field) or the JSON names in CBOR.
 * Other members are skipped.
 * @return 0, EC_ESYNTAX, EC_EBADDOC or EC_ETOOBIG (past the caps, as
 *         ec_dev_status_decode())
 */
int ec_dev_problem_decode(const uint8_t *buf, size_t len, ec_dev_problem_t *out);

/** The CBOR of one member of a document, inside the caller's input: ptr NULL if absent. */
typedef struct {
  const uint8_t *ptr;
  size_t len;
} ec_dev_cbor_t;

/** One StatusMessage of a page, read in place (API.md section 3). */
typedef struct {
  int64_t id;                   /**< statusMessageID */
  ec_dev_str_t date;            /**< messageDate, RFC 3339; ptr NULL if absent */
  int code;                     /**< messageCode */
  ec_dev_str_t order_id;        /**< ptr NULL if absent */
  ec_dev_str_t subscription_id; /**< ptr NULL if absent */
  ec_dev_str_t access_id;       /**< ptr NULL if absent */
  size_t n_params;              /**< messageParameters entries */
  size_t n_macs;                /**< macAddress entries */
  ec_dev_cbor_t params;         /**< messageParameters, checked; ptr NULL if absent */
  ec_dev_cbor_t macs;           /**< macAddress, checked; ptr NULL if absent */
  ec_dev_cbor_t dhcp;           /**< dhcpOption, a map; ptr NULL if absent */
} ec_dev_msg_t;

/** Called per message by ec_dev_msgs_decode(); < 0 stops the decoding. */
typedef int (*ec_dev_msg_fn)(void *ctx, size_t idx, const ec_dev_msg_t *m);

/**
 * Pull-decode a page of status messages, {"StatusMessages": [...],
 * "nextFromStatusMessageID"?: N}, in CBOR, one callback per message.
 * statusMessageID and messageCode may be integers or digit strings (as the
 * codec reads answers); statusMessageID and messageCode are required
 * (the client requires messageDate too, as the codec does), orderId, subscriptionId and accessId must keep their rules
 * (1 to 36 of A-Z a-z 0-9 - ., accessId 1 to 32 of A-Z a-z 0-9) and one
 * of them be there; messageParameters must be one-key maps of text with a
 * key not "", macAddress text, dhcpOption a map; unknown members are
 * skipped. ec_dev_msg_items() and ec_dev_msg_dhcp() read the lists and
 * dhcpOption (device/core/answers.c).
 * @param[out] next_from  nextFromStatusMessageID, 0 when the page has none
 *                        (then it was the last); may be NULL
 * @return 0, EC_ESYNTAX, EC_EBADDOC, EC_ETOOBIG (past the caps, as
 *         ec_dev_status_decode()), or what @p fn returned; EC_ENOTFOUND
 *         for a map that is well-formed and has no StatusMessages member
 *         (one message, maybe: ec_dev_msg_decode() reads it), as the codec
 *         tells a page from a message by that member alone: a map with a
 *         StatusMessages member that is no valid page is refused, not read
 *         as a message
 */
int ec_dev_msgs_decode(const uint8_t *buf, size_t len, ec_dev_msg_fn fn,
                       void *ctx, int64_t *next_from);

/**
 * Pull-decode one StatusMessage in CBOR, the answer to a post of a single
 * message (ec_dev_msg_post()) or to GET /api/2.3/statusmessages/{id}:
 * the members and checks of ec_dev_msgs_decode(), for one map.
 * @return 0, EC_ESYNTAX, EC_EBADDOC or EC_ETOOBIG (past the caps, as
 *         ec_dev_status_decode())
 */
int ec_dev_msg_decode(const uint8_t *buf, size_t len, ec_dev_msg_t *out);

/** One messageParameters entry of a message to post: {"key": "value"}. */
typedef struct {
  const char *key;   /**< not "" */
  const char *value; /**< may be "" */
} ec_dev_msg_param_t;

/**
 * dhcpOption of a message to post: {"IPv4": {"option82": {remoteId,
 * circuitId}}, "IPv6": {"option18": {interfaceId}, "option37":
 * {remoteId}}}. The has_ flags say which objects are written (an empty
 * one too); a string is NULL when absent.
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
} ec_dev_dhcp_t;

/**
 * A StatusMessage to post (API.md section 3), as the device writes it: the
 * server assigns its statusMessageID. Strings are the caller's
 * NUL-terminated ones and are only read.
 */
typedef struct {
  int code;        /**< messageCode, 100..999 */
  bool has_date;   /**< false: the server dates it at its receipt */
  int64_t date_ms; /**< messageDate, UTC milliseconds since 1970, years 0 to 9999 */
  const char *order_id;        /**< 1..36 of A-Z a-z 0-9 - . ; NULL if absent */
  const char *subscription_id; /**< as order_id */
  const char *access_id;       /**< 1..32 of A-Z a-z 0-9; NULL if absent */
  const ec_dev_msg_param_t *params; /**< messageParameters, in order */
  size_t n_params;
  const uint64_t *macs; /**< 48-bit addresses, written "aa:bb:cc:dd:ee:ff" */
  size_t n_macs;
  ec_dev_dhcp_t dhcp;
} ec_dev_msg_new_t;

/**
 * Encode @p n messages as the CBOR the server's codec writes for them
 * (ec_status_message_encode() for one message when @p batch is false and
 * @p n is 1, else ec_status_messages_encode()'s {"StatusMessages": [...]},
 * byte for byte): members in the codec's order, empty lists and absent
 * strings left out, messageDate as 2018-06-17T14:50:10.033Z.
 * @param[out] buf  caller buffer, or NULL with @p cap 0 to measure
 * @return the length (may exceed @p cap: then nothing useful is in @p buf),
 *         or EC_EINVAL: no message, a code out of range, none of the three
 *         IDs or one that breaks its rule, an empty parameter key, a NULL
 *         string, an address past 48 bits or a date past year 9999
 */
int ec_dev_msgs_encode(const ec_dev_msg_new_t *msgs, size_t n, bool batch,
                       uint8_t *buf, size_t cap);

/** One row of a provisioning select answer (API.md section 4), read in place. */
typedef struct {
  int64_t provisioning_component_id;
  int64_t provisioning_id;
  int64_t component_id;
  int64_t last_modified_by;   /**< a user id */
  int component_type;         /**< 0 Sensor, 1 Parameter, 2 Group Parameter */
  int active_status;          /**< 0 active, 1 inactive */
  ec_dev_str_t name;          /**< from the catalog of its type */
  ec_dev_str_t last_modified; /**< "YYYY-MM-DD HH:MM:SS", UTC, checked */
} ec_dev_prov_row_t;

/** Called per row by ec_dev_prov_decode(); < 0 stops the decoding. */
typedef int (*ec_dev_prov_fn)(void *ctx, size_t idx,
                              const ec_dev_prov_row_t *row);

/**
 * Pull-decode a provisioning select answer, {"responses": {"response_0":
 * {...}, ...}} in CBOR (the answer to ec_dev_prov_get()), one callback per
 * row. Every member of a row is required; integers may be digit strings
 * and component_type a type's name (as the codec reads answers);
 * unknown members are skipped. Rows must come in the order the server
 * writes them, response_0 first.
 * @param[out] n_rows  the number of rows; may be NULL
 * @return 0, EC_ESYNTAX, EC_EBADDOC, EC_ETOOBIG (past the caps, as
 *         ec_dev_status_decode()), or what @p fn returned
 */
int ec_dev_prov_decode(const uint8_t *buf, size_t len, ec_dev_prov_fn fn,
                       void *ctx, size_t *n_rows);

/** An INT | ARRAY member of a provisioning request (API.md section 4). */
typedef struct {
  const int64_t *v; /**< n values */
  size_t n;         /**< >= 1 when present */
  bool present;
  bool is_array; /**< written as an array (even of one), else v[0] alone */
} ec_dev_prov_ids_t;

/** A POST body of /v1/DeviceProvisioningComponents; absent members false. */
typedef struct {
  int action; /**< 0 select, 1 insert, 2 update */
  ec_dev_prov_ids_t provisioning_component_id;
  bool has_provisioning_id;
  int64_t provisioning_id;
  bool has_component_type;
  int component_type; /**< 0 Sensor, 1 Parameter, 2 Group Parameter */
  ec_dev_prov_ids_t component_id;
  bool has_active_status;
  int active_status;
  bool has_limit;
  int64_t limit;
} ec_dev_prov_req_t;

/**
 * Encode a provisioning request as the CBOR the server's codec writes for
 * it (ec_prov_request_encode(), byte for byte): action first, then the
 * members present in the codec's order, component_type by its name. The
 * server checks the rest (API.md section 4).
 * @param[out] buf  caller buffer, or NULL with @p cap 0 to measure
 * @return the length (may exceed @p cap), or EC_EINVAL: an action or type
 *         out of range, an ID member present with no values
 */
int ec_dev_prov_request_encode(const ec_dev_prov_req_t *rq, uint8_t *buf,
                               size_t cap);

/** Parse a state name case-insensitively: the state, or EC_EBADDOC. */
int ec_dev_state_parse(const char *s, size_t len);

/* ------------------------------------------------------------------------ */
/* Answers the Linux client reads (device/core/answers.c): a device that   */
/* does not call these links none of them.                                  */

/** What an item of a CBOR document is (ec_dev_cbor_next()). */
typedef enum {
  EC_DEV_CBOR_INT,   /**< an integer, in i */
  EC_DEV_CBOR_TEXT,  /**< a text string, in text */
  EC_DEV_CBOR_ARRAY, /**< an array of i elements, which follow */
  EC_DEV_CBOR_MAP,   /**< a map of i pairs, which follow, key first */
  EC_DEV_CBOR_FALSE,
  EC_DEV_CBOR_TRUE,
  EC_DEV_CBOR_NULL,
  EC_DEV_CBOR_FLOAT  /**< an IEEE 754 float of width bits (16, 32, 64) */
} ec_dev_cbor_type_t;

/** One item of a CBOR document, as ec_dev_cbor_next() read it. */
typedef struct {
  ec_dev_cbor_type_t type;
  int64_t i;         /**< INT: the value; ARRAY, MAP: elements, pairs */
  ec_dev_str_t text; /**< TEXT: in place */
  uint64_t bits;     /**< FLOAT: its bits, right-aligned */
  unsigned width;    /**< FLOAT: 16, 32 or 64 */
} ec_dev_cbor_item_t;

/**
 * Check that @p buf is one CBOR item as the server's codec reads one (its
 * tree reader, codec/tree_cbor.c): integers within int64, text of valid
 * UTF-8 without NUL and at most EC_DEV_MAX_TEXT bytes, arrays and maps of
 * at most EC_DEV_MAX_ITEMS entries, map keys of text or integers and none
 * given twice (compared by value, as the codec's tree keys them: an
 * integer key is its decimal text there), false, true, null and finite
 * floats, nested at most EC_DEV_MAX_DEPTH levels, nothing after it; byte
 * strings, tags, undefined and other simple values refused. Definite
 * lengths only: the one way it is stricter than the codec, which reads
 * indefinite ones too (the server never writes them). For a program that
 * reads any document item by item with ec_dev_cbor_next()
 * (edgecoap-client's JSON printer).
 * @return 0, EC_ESYNTAX, EC_ETOOBIG (nesting, a text or a container past
 *         its cap) or EC_EINVAL
 */
int ec_dev_cbor_check(const uint8_t *buf, size_t len);

/**
 * Read the item at @p c (a document ec_dev_cbor_check() accepted, or the
 * rest of one) and advance @p c past it; for an array or map past its
 * head only, its elements being the items that follow.
 * @return 0, EC_ESYNTAX (none left, or not an item of the kinds above),
 *         EC_ETOOBIG (an array or map past EC_DEV_MAX_ITEMS) or EC_EINVAL
 */
int ec_dev_cbor_next(ec_dev_cbor_t *c, ec_dev_cbor_item_t *it);

/** Called per element of a message's list by ec_dev_msg_items(); < 0 stops. */
typedef int (*ec_dev_item_fn)(void *ctx, size_t idx, ec_dev_str_t key,
                              ec_dev_str_t value);

/**
 * The elements of a message's messageParameters (@p key and @p value of
 * each one-key map) or macAddress (@p key the address's text, @p value
 * absent), as ec_dev_msgs_decode() or ec_dev_msg_decode() found them in
 * @p list (its params or macs; absent: no call).
 * @return 0, EC_ESYNTAX or EC_EBADDOC for a list of another shape,
 *         EC_ETOOBIG (past the caps, as ec_dev_status_decode()), or what
 *         @p fn returned
 */
int ec_dev_msg_items(ec_dev_cbor_t list, ec_dev_item_fn fn, void *ctx);

/** A message's dhcpOption read in place; the has_ flags say which maps came. */
typedef struct {
  bool present; /**< dhcpOption itself */
  bool has_ipv4;
  bool has_option82;
  bool has_ipv6;
  bool has_option18;
  bool has_option37;
  ec_dev_str_t option82_remote_id; /**< ptr NULL if absent */
  ec_dev_str_t option82_circuit_id;
  ec_dev_str_t option18_interface_id;
  ec_dev_str_t option37_remote_id;
} ec_dev_dhcp_view_t;

/**
 * Read @p dhcp (a message's dhcpOption) as the codec reads a stored
 * message's: {"IPv4": {"option82": {remoteId, circuitId}}, "IPv6":
 * {"option18": {interfaceId}, "option37": {remoteId}}}, every member
 * optional, each a map or text as named, unknown members skipped.
 * @return 0, EC_ESYNTAX, EC_EBADDOC or EC_ETOOBIG (past the caps, as
 *         ec_dev_status_decode())
 */
int ec_dev_msg_dhcp(ec_dev_cbor_t dhcp, ec_dev_dhcp_view_t *out);

/**
 * The filters of a FETCH of /api/2.3/statusmessages (API.md section 3), as
 * ec_msg_filter_t has them; strings NULL when not filtered by.
 */
typedef struct {
  const char *order_id;
  const char *subscription_id;
  const char *access_id;
  bool has_mac;
  uint64_t mac; /**< 48 bits */
  bool has_from_date;
  int64_t from_date_ms; /**< UTC milliseconds, years 0 to 9999 */
  bool has_to_date;
  int64_t to_date_ms;
  bool has_from_id;
  int64_t from_id; /**< >= 0 */
  bool has_to_id;
  int64_t to_id; /**< >= 0 */
  int limit;     /**< 1..10000; 0: not given */
} ec_dev_msg_filter_t;

/**
 * Encode a FETCH body as the CBOR the server's codec writes for it
 * (ec_msg_filter_encode(), byte for byte): the filters set, in its order.
 * @param[out] buf  caller buffer, or NULL with @p cap 0 to measure
 * @return the length (may exceed @p cap), or EC_EINVAL: an ID that breaks
 *         its rule, an address past 48 bits, a date past year 9999, an ID
 *         filter below 0, a limit outside 0..10000
 */
int ec_dev_msg_filter_encode(const ec_dev_msg_filter_t *f, uint8_t *buf,
                             size_t cap);

/** One entry of a status history, {"seq", "receivedAt", "report"}, in place. */
typedef struct {
  int64_t seq;             /**< >= 1 */
  ec_dev_str_t received_at; /**< RFC 3339, not parsed */
  ec_dev_cbor_t report;    /**< a map: read it with ec_dev_status_decode() */
} ec_dev_history_t;

/** Called per entry by ec_dev_history_decode(); < 0 stops the decoding. */
typedef int (*ec_dev_history_fn)(void *ctx, size_t idx,
                                 const ec_dev_history_t *h);

/**
 * Pull-decode the answer to GET .../status/history, {"reports": [...]}:
 * each entry a map with seq (an integer >= 1), receivedAt (text) and
 * report (a map); unknown members skipped, here and in the envelope.
 * @param[out] n  the number of entries; may be NULL
 * @return 0, EC_ESYNTAX, EC_EBADDOC, EC_ETOOBIG (past the caps, as
 *         ec_dev_status_decode()), or what @p fn returned
 */
int ec_dev_history_decode(const uint8_t *buf, size_t len, ec_dev_history_fn fn,
                          void *ctx, size_t *n);

/** One entry of GET /device/{deviceId}/deployments, in place. */
typedef struct {
  ec_dev_str_t deployment_id; /**< not "" */
  ec_dev_state_t state;
  ec_dev_str_t updated_at; /**< RFC 3339, not parsed */
} ec_dev_deployment_t;

/** Called per entry by ec_dev_deployments_decode(); < 0 stops. */
typedef int (*ec_dev_deployment_fn)(void *ctx, size_t idx,
                                    const ec_dev_deployment_t *d);

/**
 * Pull-decode {"deployments": [{"deploymentId", "state", "updatedAt"}]},
 * every member of an entry required, unknown ones skipped.
 * @param[out] n  the number of entries; may be NULL
 * @return 0, EC_ESYNTAX, EC_EBADDOC, EC_ETOOBIG (past the caps, as
 *         ec_dev_status_decode()), or what @p fn returned
 */
int ec_dev_deployments_decode(const uint8_t *buf, size_t len,
                              ec_dev_deployment_fn fn, void *ctx, size_t *n);

/**
 * The answer to a provisioning insert or update (API.md section 4), read
 * as the codec reads it: an insert when last_modified_by is there, an
 * update by provisioning_component_id when that is there, else by
 * provisioning_id, component_type and component_id; error "NO_ERROR".
 * Only the members of its kind are read and checked, as the codec does.
 */
typedef struct {
  bool insert;
  bool by_pc_id;
  ec_dev_cbor_t provisioning_component_id; /**< by_pc_id: read with ec_dev_prov_ids() */
  int64_t provisioning_id;                 /**< not by_pc_id */
  int component_type;                      /**< not by_pc_id */
  ec_dev_cbor_t component_id;              /**< not by_pc_id */
  int64_t active_status;                   /**< as sent, >= 0 */
  int64_t last_modified_by;                /**< insert */
  ec_dev_str_t last_modified;              /**< insert: text, its date not checked */
} ec_dev_prov_result_t;

/**
 * Pull-decode an insert or update answer.
 * @return 0, EC_ESYNTAX, EC_EBADDOC or EC_ETOOBIG (past the caps, as
 *         ec_dev_status_decode())
 */
int ec_dev_prov_result_decode(const uint8_t *buf, size_t len,
                              ec_dev_prov_result_t *out);

/** The seed's error document, {"status"?, "error", "error_detail"?}, in place. */
typedef struct {
  ec_dev_str_t status; /**< ptr NULL if absent or not text */
  ec_dev_str_t error;  /**< e.g. "INVALID_TOKEN" */
  ec_dev_str_t detail; /**< a text error_detail; ptr NULL if none */
  ec_dev_cbor_t ids;   /**< an array error_detail: read with ec_dev_prov_ids() */
  size_t n_ids;        /**< its IDs, maybe 0 */
} ec_dev_prov_error_t;

/**
 * Pull-decode the seed's error document of a refused provisioning or
 * login request (API.md section 4), as the codec reads it: error is
 * required text; a status or an error_detail of another type than text
 * (or, for error_detail, an array of IDs) is taken as absent; unknown
 * members are skipped.
 * @return 0, EC_ESYNTAX, EC_EBADDOC or EC_ETOOBIG (past the caps, as
 *         ec_dev_status_decode())
 */
int ec_dev_prov_error_decode(const uint8_t *buf, size_t len,
                             ec_dev_prov_error_t *out);

/**
 * The IDs of an INT | ARRAY member @p ids of ec_dev_prov_result_t: one
 * integer (or 1 to 18 digits), or a non-empty array of them.
 * @param[out] v  room for @p cap values, or NULL with 0 to count
 * @param[out] is_array  whether they came as an array; may be NULL
 * @return their number (may exceed @p cap), or EC_EBADDOC / EC_ESYNTAX /
 *         EC_ETOOBIG (past the caps, as ec_dev_status_decode())
 */
int ec_dev_prov_ids(ec_dev_cbor_t ids, int64_t *v, size_t cap, bool *is_array);

/* ------------------------------------------------------------------------ */
/* The event-driven client                                                   */

/**
 * What the core needs of its platform: a few functions, no sockets. Every
 * function gets @p ctx.
 */
typedef struct {
  /** Send one datagram to the server. @return 0, or < 0 (retried as loss) */
  int (*send)(void *ctx, const uint8_t *dgram, size_t len);
  /** Milliseconds from any origin; may wrap at 2^32. */
  uint32_t (*now_ms)(void *ctx);
  /** Fill @p buf with @p len random bytes (Message IDs, tokens, jitter). */
  void (*random)(void *ctx, void *buf, size_t len);
  /**
   * Optional DTLS hook (NULL for plain CoAP): turn a received record into
   * the CoAP datagram it carries, in place or into @p out (of @p cap
   * bytes; NULL and 0: a buffer of the hook's own), pointed to by
   * *dgram. @return the datagram's length, 0 for a record that carried
   * none (a handshake message), or < 0 to drop it. With it, send() is
   * expected to encrypt. The core itself never calls it: the port does,
   * before ec_dev_step() (device/posix/udp.c with device/posix/dtls.c).
   */
  int (*dtls_recv)(void *ctx, const uint8_t *rec, size_t len, uint8_t *out,
                   size_t cap, const uint8_t **dgram);
  void *ctx;
} ec_dev_transport_t;

typedef struct ec_dev ec_dev_t;
typedef struct ec_dev_req ec_dev_req_t;

/** One answer, or the end of an exchange. */
typedef struct {
  int result;           /**< 0: a response came; EC_ETIMEOUT, EC_EPROTO (RST,
                             a bad block), EC_ETOOBIG (past the body buffer) */
  uint8_t code;         /**< its code, e.g. EC_COAP_CODE(2, 4); 0 without one */
  int content_format;   /**< -1 if absent */
  const uint8_t *payload; /**< valid during the callback only */
  size_t payload_len;
  bool more;            /**< the payload is block 0 of a larger body (Block2) */
  bool observing;       /**< the observation goes on after this answer */
  uint32_t observe;     /**< the Observe sequence number when observing */
  uint32_t max_age;     /**< Max-Age in seconds (60 when absent) */
} ec_dev_answer_t;

/**
 * Called with the request's @p user pointer. Any call of the core may be made
 * from inside it (a report from an observe callback included).
 */
typedef void (*ec_dev_cb_t)(ec_dev_t *dev, void *user, const ec_dev_answer_t *a);

/* The state below is the core's own: callers allocate an ec_dev_t (statically
 * on a device) and touch nothing in it. */
typedef struct {
  uint8_t state;
  uint8_t retries;
  uint8_t token[4];
  bool observe;
  bool have_seq;
  bool fetching;     /* asking for the next block of an answer */
  bool uploading;    /* sending a report block by block (Block1) */
  bool echoed;       /* sent again with the server's Echo value */
  uint8_t szx;       /* the upload's block size exponent */
  uint8_t etag_len;
  uint8_t etag[8];   /* of the answer being reassembled */
  uint8_t restarts;  /* a changed ETag restarts a reassembly, a few times */
  uint8_t tail_len;  /* an option after Accept, its value kept at buf + cap */
  uint16_t tail_num;
  uint16_t mid;
  uint16_t len;      /* the datagram now in buf */
  uint16_t req_len;  /* the request's header and options up to Accept */
  uint16_t cap;      /* of buf, for datagrams */
  uint16_t max_age;  /* of block 0, for the observation's deadline */
  uint32_t next_block;
  uint32_t size2;    /* of block 0, 0 if absent */
  uint8_t *body;     /* the caller's reassembly buffer, or the report's CBOR */
  size_t body_cap;
  size_t body_len;
  uint32_t seq;      /* the last notification's Observe value */
  uint32_t seq_at;   /* and when it came */
  uint32_t deadline;
  uint32_t timeout;
  uint8_t *buf; /* the caller's: the request datagram, kept for retransmission */
  ec_dev_cb_t cb;
  void *user;
  const ec_dev_req_t *req; /* a request of ec_dev_request(), or NULL */
} ec__dev_xchg_t;

struct ec_dev {
  const ec_dev_transport_t *t;
  uint32_t next_token;
  uint16_t next_mid;
  uint8_t seen_head;
  uint32_t seen[EC_DEV_DEDUP]; /* Message IDs of the server's last CON messages */
  /* What ec_dev_request() puts after the options the engine adds to a
   * request sent again (device/core/request.c); NULL until it is called,
   * so a program that never calls it links none of it. */
  void (*tail)(const ec__dev_xchg_t *x, ec_coap_build_t *b, bool body);
  ec__dev_xchg_t x[EC_DEV_MAX_EXCHANGES];
  /* The outbox's part of ec_dev_step(): its retries and its deadline. */
  uint32_t (*hook)(void *ctx, uint32_t now);
  void *hook_ctx;
};

/** Returned by ec_dev_step() when nothing is pending. */
#define EC_DEV_IDLE UINT32_MAX

/** Set up @p dev over @p t (which must outlive it). */
void ec_dev_init(ec_dev_t *dev, const ec_dev_transport_t *t);

/**
 * Feed one received datagram (or NULL, 0) and the time, fire what is due
 * (retransmissions, timeouts, re-registrations), run callbacks.
 * @return milliseconds until the next deadline (0: call again now), or
 *         EC_DEV_IDLE when no exchange is open and no retry of the outbox
 *         (ec_dev_outbox_init()) is waiting
 */
uint32_t ec_dev_step(ec_dev_t *dev, uint32_t now_ms, const uint8_t *dgram,
                     size_t len);

/**
 * Start a confirmable POST of @p st as CBOR to
 * /device/{device_id}/deployment/{st->deployment_id}/status, answered
 * through @p cb (a 2.01/2.04 with the stored report, or the server's error).
 * It carries a Request-Id (option 65004, API.md) of 12 random bytes from
 * the transport, the same in every retransmission and block, so a repeat
 * the server already applied is answered 2.04 and not stored twice.
 * @param[in] buf  the caller's, holding the request until @p cb has run
 *                 (retransmissions resend it); ~105 bytes plus the report.
 *                 A report too large for one datagram goes block-wise
 *                 (Block1): its CBOR is kept at the end of @p buf and each
 *                 block's datagram built before it, so @p buf then needs
 *                 the report plus ~135 bytes plus one block
 * @return the exchange (>= 0, for ec_dev_cancel()), or EC_EINVAL, EC_ENOSPC
 *         (@p buf too small), EC_ENOMEM (no free exchange), EC_EIO (send)
 */
int ec_dev_report(ec_dev_t *dev, const char *device_id,
                  const ec_dev_status_t *st, uint8_t *buf, size_t cap,
                  ec_dev_cb_t cb, void *user);

/**
 * Start a confirmable POST of @p n status messages as CBOR
 * (ec_dev_msgs_encode()) to /api/2.3/statusmessages, answered through
 * @p cb: 2.01 with the stored message (or {"StatusMessages": [...]}), its
 * statusMessageID and date set (ec_dev_msg_decode(), ec_dev_msgs_decode()),
 * 2.04 with what was stored then for a repeat, or the server's error. It
 * carries a Request-Id (option 65004, API.md section 3): @p rid, or with
 * @p rid NULL (and @p rid_len 0) 12 random bytes from the transport, the
 * same in every retransmission and block. To have a repeat recognised
 * after a reboot, choose the Request-Id yourself (e.g. a boot counter kept
 * in flash and a sequence number) and post the same messages under it
 * again: the server answers 2.04 with the messages it stored, and stores
 * and notifies nothing. An answer larger than one datagram (a large batch)
 * is passed on as its block 0, with more set.
 * @param[in] rid  8 to 16 bytes, copied into @p buf
 * @param[in] buf  the caller's, holding the request until @p cb has run:
 *                 the messages' CBOR plus 39 bytes plus twice the
 *                 Request-Id (63 bytes with 12); past one datagram, as a
 *                 report, block-wise (Block1), with one block and 11
 *                 bytes more
 * @return the exchange (>= 0), EC_EINVAL (a message as
 *         ec_dev_msgs_encode() refuses it, or a Request-Id of another
 *         length), or as ec_dev_report()
 */
int ec_dev_msg_post(ec_dev_t *dev, const ec_dev_msg_new_t *msgs, size_t n,
                    bool batch, const uint8_t *rid, size_t rid_len,
                    uint8_t *buf, size_t cap, ec_dev_cb_t cb, void *user);

/**
 * Observe /device/{device_id}/deployment/{deployment_id}/status (the
 * deploymentId is sent in lowercase, the spelling the server observes).
 * @p cb gets the current state and then every fresh notification
 * (RFC 7641 section 3.4); a confirmable notification is acknowledged and a
 * repeated one (same Message ID) is not passed on again. When Max-Age passes
 * without a notification the registration is sent again. The observation
 * ends with an answer that has observing false.
 * @param[in] buf  the caller's, held until the observation ends (~100 bytes)
 * @return the exchange (>= 0), or as ec_dev_report()
 */
int ec_dev_observe(ec_dev_t *dev, const char *device_id,
                   const char *deployment_id, uint8_t *buf, size_t cap,
                   ec_dev_cb_t cb, void *user);

/**
 * Start a confirmable GET of @p path ("a/b/c", segments separated by '/')
 * with Accept CBOR, optionally observing it.
 * @return as ec_dev_report()
 */
int ec_dev_get(ec_dev_t *dev, const char *path, bool observe, uint8_t *buf,
               size_t cap, ec_dev_cb_t cb, void *user);

/**
 * Read provisioning @p provisioning_id: a confirmable GET of
 * /v1/DeviceProvisioningComponents?provisioning_id=N with Accept CBOR and
 * the session token (option 65000: the 32 bytes a login's 64 hex digits
 * spell, or those digits), optionally observing it. The answer is the
 * select document (ec_dev_prov_decode()), or the server's {"error": ...}
 * with 4.01 (a token expired: log in again), 4.03 or 4.04; more than about
 * four rows come block-wise, so give the exchange a body buffer
 * (ec_dev_set_body()).
 * @param[in] token  copied into @p buf, which must hold it too: ~150 bytes
 *                   in all with a 32-byte token and an Echo value
 * @return as ec_dev_report(); EC_EINVAL for a token of another length
 */
int ec_dev_prov_get(ec_dev_t *dev, uint32_t provisioning_id,
                    const uint8_t *token, size_t token_len, bool observe,
                    uint8_t *buf, size_t cap, ec_dev_cb_t cb, void *user);

/** A /v1/Login answer (API.md section 4), read in place. */
typedef struct {
  ec_dev_str_t status;   /**< "SUCCESS", or the seed's error status */
  ec_dev_str_t error;    /**< "" on success */
  ec_dev_str_t token;    /**< 64 hex digits; ptr NULL when none was given */
  int64_t userid;        /**< with a token */
  ec_dev_str_t userrole; /**< with a token */
  ec_dev_str_t username; /**< with a token */
} ec_dev_login_t;

/**
 * Encode a /v1/Login body as the server's codec writes it
 * (ec_login_request_encode(), byte for byte): {"username", "password"}
 * for a login, or {"token"} for a logout (then @p username and
 * @p password are NULL).
 * @param[out] buf  caller buffer, or NULL with @p cap 0 to measure
 * @return the length, or EC_EINVAL
 */
int ec_dev_login_encode(const char *username, const char *password,
                        const char *token, uint8_t *buf, size_t cap);

/**
 * Pull-decode a /v1/Login answer in CBOR: status and error always, and
 * with a token also userid, userrole and username, as the codec requires.
 * @return 0, EC_ESYNTAX, EC_EBADDOC or EC_ETOOBIG (past the caps, as
 *         ec_dev_status_decode())
 */
int ec_dev_login_decode(const uint8_t *buf, size_t len, ec_dev_login_t *out);

/**
 * Log in for provisioning reads: a confirmable POST of
 * {"username", "password"} in CBOR to /v1/Login, answered through @p cb
 * (2.01 with the token, ec_dev_login_decode(), whose 64 hex digits
 * ec_dev_prov_get() takes as they are; or the seed's error with 4.01).
 * No Request-Id: a login repeated is a new session, and the server
 * remembers a login answer over DTLS only (API.md section 1). It goes
 * through ec_dev_request() (device/core/request.c, linked with it), which
 * answers the server's Echo challenge: over plain CoAP the answer with
 * its token is more than three times the request.
 * @param[in] buf  the caller's, holding the request until @p cb has run:
 *                 twice the body (ec_dev_login_encode() measures it) plus
 *                 about 120 bytes (a request struct, the options and room
 *                 for the Echo value)
 * @return as ec_dev_request()
 */
int ec_dev_login(ec_dev_t *dev, const char *username, const char *password,
                 uint8_t *buf, size_t cap, ec_dev_cb_t cb, void *user);

/**
 * Give exchange @p xid (just started) a buffer of @p cap bytes to reassemble
 * an answer larger than one datagram into (Block2, RFC 7959): the core asks
 * for the later blocks itself, checks that each has the first block's ETag
 * (a changed ETag restarts from block 0, a representation changed in
 * between) and that the whole matches Size2, and passes on the whole body
 * once, from @p body. An answer larger than @p cap ends the exchange with
 * EC_ETOOBIG. Without a buffer, block 0 is passed on with more set.
 * @return 0, or EC_EINVAL
 */
int ec_dev_set_body(ec_dev_t *dev, int xid, uint8_t *body, size_t cap);

/**
 * Forget exchange @p xid without a callback. A cancelled observation ends on
 * the server when its next notification gets an RST.
 */
void ec_dev_cancel(ec_dev_t *dev, int xid);

/* ------------------------------------------------------------------------ */
/* Requests of any kind (device/core/request.c)                              */

/*
 * For programs that are not constrained, such as the edgecoap-client library
 * (client/): any method, path, query, formats and body, one extra option
 * (a session token), bodies sent block-wise (Block1) when they do not fit
 * one datagram, and answers reassembled with ec_dev_set_body() (Block2,
 * after a block-wise body too). Nothing of it is linked into a program
 * that does not call it.
 */

/**
 * A request, owned by the caller; it and everything it points to must
 * outlive the exchange (retransmissions, later blocks, an Echo retry and
 * re-registrations are built from it again).
 */
struct ec_dev_req {
  uint8_t method;   /**< EC_COAP_GET, _POST, _PUT, _DELETE or _FETCH */
  const char *path; /**< "a/b?x=1&y=2": '/'-separated Uri-Path segments,
                         '&'-separated Uri-Query items; %XX is decoded, so
                         a segment may hold '/', '?' or '&' */
  int format;       /**< Content-Format of @p body; -1 for none */
  uint16_t accept;  /**< Accept, always sent (the engine's later options
                         are built after it) */
  const uint8_t *body; /**< NULL when @p body_len is 0 */
  size_t body_len;
  uint16_t opt_num; /**< one more option, past Echo (253..65535), e.g. 65000
                         for a session token; 0 for none */
  const uint8_t *opt_val;
  size_t opt_len;
};

/**
 * Start a confirmable request (observing it with @p observe). A body that
 * does not fit one datagram of EC_DEV_MAX_DATAGRAM goes block-wise (Block1,
 * blocks of 16 << EC_DEV_BLOCK_SZX bytes) from @p rq->body; later blocks of
 * the answer are then asked for without it (RFC 7959 section 3.3), those
 * of a request sent whole with it (a FETCH's body selects its answer).
 * A 4.01 with an Echo option (RFC 9175) is answered once, as for a GET.
 * @param[in] buf  the caller's, held until @p cb has ended the exchange:
 *                 the request's header and options (path, query, the
 *                 extra option) plus its body when that fits one datagram
 * @return the exchange (>= 0, for ec_dev_set_body(), ec_dev_unobserve()
 *         and ec_dev_cancel()), or EC_EINVAL (a bad path: a segment past
 *         255 bytes or a bad %XX, a method past 31, an option number
 *         below 253), EC_ENOSPC, EC_ENOMEM or EC_EIO as ec_dev_report()
 */
int ec_dev_request(ec_dev_t *dev, const ec_dev_req_t *rq, bool observe,
                   uint8_t *buf, size_t cap, ec_dev_cb_t cb, void *user);

/**
 * End observation @p xid of ec_dev_request() on the server as well: its
 * request goes again with Observe 1 (deregistration, RFC 7641 section 3.6)
 * on the same token, and the exchange ends with that answer (or a
 * notification crossing it), through the callback, with observing false.
 * @return 0, or EC_EINVAL when @p xid is no observation of ec_dev_request()
 */
int ec_dev_unobserve(ec_dev_t *dev, int xid);

/* ------------------------------------------------------------------------ */
/* The durable outbox (device/core/outbox.c, docs/DEVICE.md)                 */

/**
 * Where the outbox keeps its records: @p n_slots slots of @p slot_size
 * bytes (a flash page each, or a file). Every function gets @p ctx.
 */
typedef struct {
  /**
   * Read the first @p len bytes of slot @p slot. A slot never written, or
   * whose write was cut short, may read as anything.
   * @return 0, or < 0 (the slot is taken to hold no record)
   */
  int (*read)(void *ctx, unsigned slot, void *buf, size_t len);
  /**
   * Replace what slot @p slot holds with @p len bytes (at most slot_size),
   * durably before returning 0 (a flash page: erase, program; a file:
   * write, fsync, rename). A reset in the middle may leave anything in
   * that slot, and must leave the others as they were.
   * @return 0, or < 0
   */
  int (*write)(void *ctx, unsigned slot, const void *rec, size_t len);
  void *ctx;
  unsigned n_slots;  /**< at least 2: one per deployment reported, one more */
  size_t slot_size;  /**< bytes: 61 plus the largest report in CBOR */
} ec_dev_storage_t;

/** The outbox's view of one slot, in the caller's array (touch nothing). */
typedef struct {
  uint32_t seq;      /* of the record in the slot; 0: none */
  char dep[37];      /* its deploymentId */
  bool live;         /* a report not yet delivered */
} ec_dev_outbox_slot_t;

typedef struct ec_dev_outbox ec_dev_outbox_t;

/**
 * A record's end: delivered (a->result 0, a->code 2.01 or 2.04, the stored
 * report in the payload) or given up (a 4.xx other than 4.08 and 4.29, or
 * a->result EC_ENOSPC for a record this work buffer cannot send, written
 * by a setup with larger buffers). @p seq is the
 * record's sequence number, @p deployment_id its deployment's (valid during
 * the call). A report replaced by a newer one of its deployment gets no
 * call. Any call of the core may be made from inside.
 */
typedef void (*ec_dev_outbox_cb_t)(void *user, uint32_t seq,
                                   const char *deployment_id,
                                   const ec_dev_answer_t *a);

/* The outbox's state: callers allocate it (statically on a device) and
 * touch nothing in it. */
struct ec_dev_outbox {
  ec_dev_t *dev;
  const ec_dev_storage_t *st;
  ec_dev_outbox_slot_t *slots;
  const char *device_id;
  uint8_t *buf;      /* the caller's: the record in flight, as sent */
  size_t cap;
  ec_dev_outbox_cb_t cb;
  void *user;
  uint32_t next_seq;
  uint32_t deadline; /* of the retry, when waiting */
  uint32_t busy_seq; /* the record in flight */
  int busy;          /* its slot, or -1 */
  uint8_t failures;  /* in a row, for the retry delay */
  bool waiting;
};

/** The first retry's delay after a failed attempt; it doubles, up to 128x. */
#ifndef EC_DEV_OUTBOX_RETRY_MS
#define EC_DEV_OUTBOX_RETRY_MS 4000
#endif

/**
 * Set up @p ob over @p st, for reports of @p device_id through @p dev (set
 * up already), and replay it: read every slot, keep each deployment's
 * newest record with a valid CRC, and start sending the oldest report
 * with the Request-Id it was first sent with. ec_dev_step() then drives
 * it, and its retry deadline is part of what ec_dev_step() returns.
 * @param[in] slots  the caller's, st->n_slots of them, held as long as @p ob
 * @param[in] buf    the caller's work buffer, held as long as @p ob: at
 *                   least st->slot_size plus 64 bytes plus the device
 *                   ID's length, and 1036 bytes more (one block) when a
 *                   slot can hold a report past one datagram (a
 *                   slot_size past about 1090 bytes)
 * @return the reports waiting to be sent (>= 0), or EC_EINVAL (an argument
 *         missing, fewer than 2 slots, or too small a buffer)
 */
int ec_dev_outbox_init(ec_dev_outbox_t *ob, ec_dev_t *dev,
                       const ec_dev_storage_t *st, ec_dev_outbox_slot_t *slots,
                       const char *device_id, uint8_t *buf, size_t cap,
                       ec_dev_outbox_cb_t cb, void *user);

/**
 * Put a report into the outbox: written to a free slot (durably, when this
 * returns 0) with the next sequence number and a Request-Id of its own
 * (8 random bytes and that number), the older record of its deployment,
 * if any, then replaced by a tombstone; sent when no other report is in
 * flight, oldest first, and removed only on 2.01/2.04 (ec_dev_outbox_cb_t).
 * @param[in] rec  scratch for the record during the call: 61 bytes plus
 *                 the report's CBOR
 * @return 0, or EC_EINVAL (a missing field, as ec_dev_status_encode()),
 *         EC_ENOSPC (the report does not fit a slot or @p rec, or a new
 *         deployment would leave no slot free), EC_EIO (the storage
 *         failed: nothing was put)
 */
int ec_dev_outbox_put(ec_dev_outbox_t *ob, const ec_dev_status_t *st,
                      uint8_t *rec, size_t cap);

/** How many reports wait in the outbox (the one in flight included). */
unsigned ec_dev_outbox_pending(const ec_dev_outbox_t *ob);

/** RFC 7252 section 4.8 transmission parameters (milliseconds, counts). */
#ifndef EC_DEV_ACK_TIMEOUT_MS
#define EC_DEV_ACK_TIMEOUT_MS 2000
#endif
#ifndef EC_DEV_MAX_RETRANSMIT
#define EC_DEV_MAX_RETRANSMIT 4
#endif
/** How long a separate response is awaited after an empty ACK. */
/**
 * A report whose datagram would pass this many bytes goes block-wise
 * (Block1, RFC 7959) in blocks of 16 << EC_DEV_BLOCK_SZX bytes: the server
 * parses no request datagram over 1152 bytes (API.md section 1).
 */
#ifndef EC_DEV_MAX_DATAGRAM
#define EC_DEV_MAX_DATAGRAM 1152
#endif
#ifndef EC_DEV_BLOCK_SZX
#define EC_DEV_BLOCK_SZX 6 /* 1024 bytes */
#endif
#ifndef EC_DEV_SEPARATE_WAIT_MS
#define EC_DEV_SEPARATE_WAIT_MS 30000
#endif

#ifdef __cplusplus
}
#endif
#endif /* EDGECOAP_DEVICE_H */
