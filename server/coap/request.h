/* edgecoap server: one request's context: formats, body, answers. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_REQUEST_H
#define EDGECOAP_REQUEST_H

#include "dedup.h"
#include "context.h"

/* Formats as bits (a route's, router.h): what Accept and Content-Format
 * may name. Link-format (40) is for answers only: Accept may name it. */
#define EC_FMT_JSON 1u
#define EC_FMT_CBOR 2u
#define EC_FMT_LINK 4u
#define EC_FMT_DOC (EC_FMT_JSON | EC_FMT_CBOR)

/* Route ids a route template may hold ({deviceId}...; router.h). */
#define EC_REQ_MAX_PARAMS 4

struct ec_route_spec;

/*
 * The options the server reads, found in one walk over the request's
 * options in ec_req_setup(): libcoap's coap_check_option() walks them all
 * from the start on every lookup, which was most of the server's own cost
 * of a small request. Each is the first of its number, NULL when absent.
 */
typedef struct {
  const coap_opt_t *observe;
  const coap_opt_t *accept;
  const coap_opt_t *content_format;
  const coap_opt_t *block1;
  const coap_opt_t *block2;
  const coap_opt_t *size1;
  const coap_opt_t *echo;
  const coap_opt_t *if_match;
  const coap_opt_t *if_none_match;
  const coap_opt_t *request_id; /* EC_OPTION_REQUEST_ID */
  bool request_id_twice;        /* it came more than once */
} ec_req_opts_t;

/*
 * A walk over a PDU's options in their wire form (request.c): each
 * option's number, value and start (the coap_opt_t the libcoap calls
 * take). ec_req_optw_rest() is how many bytes follow the token: the options,
 * and the payload marker and payload if any.
 */
typedef struct {
  const uint8_t *start, *p, *end;
  unsigned number;
} ec_req_optw_t;

void ec_req_optw_init(ec_req_optw_t *w, const coap_pdu_t *pdu);
/* The same over @p len bytes of a datagram from its first option (screen.c);
 * a walk that ended cleanly leaves w->p == w->end. */
void ec_req_optw_init_raw(ec_req_optw_t *w, const uint8_t *opts, size_t len);
bool ec_req_optw_next(ec_req_optw_t *w, const coap_opt_t **opt, const uint8_t **value,
                  size_t *len);
size_t ec_req_optw_rest(const ec_req_optw_t *w);

/*
 * The dispatcher (router.h) sets a request up and calls its route's
 * handler, which never touches format options or payload plumbing itself:
 * it reads rq->body in rq->req_fmt and answers through ec_req_send() or
 * ec_req_problem(), which always set a code.
 */
typedef struct {
  ec_server_t *srv;
  coap_resource_t *resource;
  coap_session_t *session;
  const coap_pdu_t *request;
  coap_pdu_t *response;
  const coap_string_t *query;
  ec_req_opts_t opt;     /* its options (ec_req_setup) */
  coap_pdu_code_t method;
  ec_format_t req_fmt;   /* the body's format (valid when body_len > 0) */
  ec_format_t resp_fmt;  /* the answer's format: Accept, else req_fmt, else JSON */
  const uint8_t *body;
  size_t body_len;
  ec_arena_t arena;      /* scratch for decoding, reset per request */
  int upload_done;       /* the body came block-wise: release it at the end */
  int batch_ok;          /* a write that may join the group commit (batch.h) */
  size_t req_size;       /* the request's bytes on the wire */
  bool verified;         /* its address is verified (echo.h): no 3x bound */
  int dedup_keyed;       /* dedup_key is computed (ec_req_dedup_key) */
  ec_dedup_key_t dedup_key;
  /* Set by the dispatcher before the handler runs (router.h). */
  const struct ec_route_spec *route; /* the route's table entry */
  void *res;             /* the route's libcoap resource it came through
                          * (its ec_router_res_t), NULL for the unknown one */
  const char *params[EC_REQ_MAX_PARAMS]; /* the path's ids, template order:
                          * set when res is NULL (the path was matched) */
  const uint8_t *rid;    /* Request-Id, rid_len bytes (none: 0) */
  size_t rid_len;
  uint64_t since_us;     /* when the dispatcher took it (ec_mono_us) */
  bool max_age_set;      /* ec_req_max_age() was called: the answer's */
  unsigned max_age;      /* Max-Age, added in option order when written */
  bool park_ok;          /* may wait for a store out of reach (park.h) */
  struct ec_parked *parked; /* its parked write's, run again (park.h) */
} ec_req_t;

/**
 * Set up @p rq, challenge an Observe registration from an unverified
 * address (echo.h), and check Accept (4.06) and Content-Format (4.15)
 * against @p formats (EC_FMT_*). It neither commits the open batch nor
 * decides access: the dispatcher (router.h) does both.
 * @return 0 to go on, or < 0 when the error answer is already written
 */
int ec_req_setup(ec_req_t *rq, ec_server_t *srv, coap_resource_t *resource,
                 coap_session_t *session, const coap_pdu_t *request,
                 const coap_string_t *query, coap_pdu_t *response,
                 unsigned formats);

/**
 * Collect the request body, reassembling Block1 transfers and enforcing the
 * body cap (4.13 with Size1) as soon as a block or Size1 exceeds it.
 * @return 1 when the whole body is in rq->body (possibly empty), 0 when more
 *         blocks are due (2.31 is answered), < 0 when an error was answered
 */
int ec_req_body(ec_req_t *rq);

/**
 * Hold a UDP or DTLS session to RFC 7252's datagram size, undoing what a
 * peer's CSM made libcoap set (see request.c). ec_req_setup() does it; so
 * must anything that sizes a PDU for a session outside a request.
 */
void ec_req_udp_mtu(coap_session_t *session);

/**
 * What the request's answer is remembered by for retransmissions (dedup.h):
 * computed on first use, from the request as received.
 */
const ec_dedup_key_t *ec_req_dedup_key(ec_req_t *rq);

/** A PDU's size on the wire: header, token, options and payload, as RFC
 * 7252 section 3 encodes them. */
size_t ec_req_wire_size(const coap_pdu_t *pdu);

/** Release what ec_req_body() held, and add a Max-Age asked for that no
 * answer writer added; call once the handler is done. */
void ec_req_done(ec_req_t *rq);

/**
 * Answer @p code (class*100+detail, e.g. 205) with @p data in @p fmt,
 * block-wise when large. @p data is copied.
 */
void ec_req_send(ec_req_t *rq, int code, ec_format_t fmt, const uint8_t *data,
                 size_t len, uint64_t etag);

/**
 * True when an answer with a payload of @p len bytes goes out in one
 * datagram of @p session (as ec_req_send() sends it: not block-wise).
 */
bool ec_req_fits_datagram(coap_session_t *session, size_t len);

/**
 * True when an answer with a payload of @p payload bytes (one block at
 * most) to a request of @p req_size bytes on the wire with a token of
 * @p tkl bytes passes three times that request (RFC 9175 section 2.4): too
 * much for an address that is not verified (echo.h).
 */
bool ec_req_amplifies(size_t req_size, size_t tkl, size_t payload);

/**
 * Say how long the answer stays fresh (Max-Age, RFC 7252 section 5.10.5);
 * call before ec_req_send(), ec_req_empty*() or ec_req_problem(), which
 * add it among the answer's options in number order (an option added out
 * of order costs libcoap a walk and a move of those after it). Without it
 * a client assumes 60 s.
 */
void ec_req_max_age(ec_req_t *rq, unsigned seconds);

/** Add the Max-Age ec_req_max_age() asked for, if not added yet (the
 * answer writers call it in option order; ec_req_done() last). */
void ec_req_put_max_age(ec_req_t *rq);

/**
 * Answer 4.01 with a fresh Echo option and no payload (RFC 9175): a client
 * repeats the request with that Echo value, which verifies its address.
 */
void ec_req_echo_challenge(ec_req_t *rq);

/** Answer @p code with no payload. */
void ec_req_empty(ec_req_t *rq, int code);

/** Answer @p code with no payload and ETag @p etag (none when 0). */
void ec_req_empty_etag(ec_req_t *rq, int code, uint64_t etag);

/** Answer a problem-details document in the response format. */
void ec_req_problem(ec_req_t *rq, int code, const char *title,
                    const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/** Answer a codec refusal: EC_ESEMANTIC is 4.22, EC_ETOOBIG 4.13, others 4.00. */
void ec_req_codec_error(ec_req_t *rq, const ec_codec_error_t *err);

/**
 * The request's Block2 option, read from the options walked once in
 * ec_req_setup() (rq->opt.block2) rather than searched for again as
 * coap_get_block_b() does. @return 1 with @p b's num, m and szx set, or 0
 * when there is none or it is not a valid one over UDP (more than 3 bytes,
 * or SZX 7).
 */
int ec_req_block2(const ec_req_t *rq, coap_block_b_t *b);

/* The largest Block2 block a GET answer goes in over UDP: RFC 7252's 1024
 * bytes of payload in a 1152-byte datagram (SZX 6). */
#define EC_BLOCK_MAX_SZX 6
#define EC_BLOCK_MAX 1024u

/** Where block @p num of 2^(@p szx + 4) bytes (SZX capped at
 * EC_BLOCK_MAX_SZX) of an answer of @p len bytes lies. */
typedef struct {
  unsigned num, szx;
  size_t offset, chunk;
  bool more;
} ec_block_slice_t;

/** @return true with @p s set, false when the block is past the end (a
 * block past the first that starts at or after @p len) */
bool ec_block_slice(unsigned num, unsigned szx, size_t len, ec_block_slice_t *s);

/** The Block2 option's value for @p s (at most 3 bytes) into @p out; its
 * length. */
size_t ec_block_slice_option(const ec_block_slice_t *s, uint8_t out[4]);

/*
 * Request-Id (API.md): an elective option in the experimental range that a
 * client puts on a write and keeps across its retries and reboots, so that
 * the server recognises a repeat whatever its Message ID or address.
 */
#define EC_OPTION_REQUEST_ID 65004

/**
 * The request's Request-Id. @return 0 when it has none, 1 with *id and
 * *len (EC_REQUEST_ID_MIN..MAX bytes, the request's own buffer), or -1 when
 * it was answered 4.02 (a wrong length or more than one).
 */
int ec_req_request_id(ec_req_t *rq, const uint8_t **id, size_t *len);

/* Max-Age of the 5.03 answered while the store is out of reach. */
#ifndef EC_REQ_RETRY_S
#define EC_REQ_RETRY_S 5
#endif

/** Answer a storage failure: 5.03 storage-unavailable with Max-Age
 * EC_REQ_RETRY_S while the store is out of reach (@p rc EC_ETIMEOUT, or
 * ec_store_unreachable()), else 5.00 storage-failure, saying so; or,
 * out of reach, park the write to run again once the store is back
 * (park.h: rq->park_ok), answering nothing now. */
void ec_req_store_error(ec_req_t *rq, int rc);

/**
 * Read the request's Uri-Path segments (already percent-decoded by libcoap).
 * @return the number of segments (at most @p max), or -1 if there are more,
 *         or one is longer than 128 bytes or holds a NUL
 */
int ec_req_path(const coap_pdu_t *request, char (*segs)[129], int max);

/**
 * Find query parameter @p name ("limit") in the request's Uri-Query options.
 * @return the value's length (>= 0) with *value pointing into the PDU, or -1
 */
int ec_req_query(const ec_req_t *rq, const char *name, const uint8_t **value);

/** Parse a Uri-Query integer; 4.00 answered and < 0 returned when malformed. */
int ec_req_query_int(ec_req_t *rq, const char *name, int64_t min, int64_t max,
                     int64_t dflt, int64_t *out);

/**
 * Refuse Uri-Query parameters outside the NULL-terminated @p allowed names
 * (4.00 naming the first). @return 0, or < 0 when the error was answered
 */
int ec_req_query_check(ec_req_t *rq, const char *const *allowed);

#endif /* EDGECOAP_REQUEST_H */
