/* edgecoap server: one request's context: formats, body, answers. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "request.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "echo.h"
#include "log.h"
#include "park.h"
#include "peer.h"
#include "util.h"

static unsigned option_uint(const coap_opt_t *opt) {
  return coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
}

/* Content-Format 40, application/link-format (RFC 6690). */
#define FORMAT_LINK 40

static bool format_in(unsigned f, unsigned formats) {
  return (f == EC_FORMAT_JSON && (formats & EC_FMT_JSON)) ||
         (f == EC_FORMAT_CBOR && (formats & EC_FMT_CBOR));
}

/*
 * libcoap keeps a PDU's options in their wire form (RFC 7252 section 3.1),
 * one after the other behind the token, then the payload marker and the
 * payload; its iterator says where they start and how many bytes follow.
 * Walking them here costs a few instructions an option, where libcoap's
 * iterator parses each one into a struct and asks its filter: that walk,
 * several times a request, was a good part of the server's own cost.
 */
void ec_req_optw_init(ec_req_optw_t *w, const coap_pdu_t *pdu) {
  coap_opt_iterator_t it;
  w->number = 0;
  if (coap_option_iterator_init(pdu, &it, COAP_OPT_ALL) == NULL ||
      it.next_option == NULL) {
    w->p = w->end = w->start = NULL;
    return;
  }
  w->p = w->start = it.next_option;
  w->end = w->p + it.length;
}

/* An option's delta or length from its nibble @p v and the bytes at *q. */
static bool ext_value(unsigned v, const uint8_t **q, const uint8_t *end,
                      unsigned *out) {
  if (v < 13) {
    *out = v;
  } else if (v == 13) {
    if (end - *q < 1)
      return false;
    *out = 13u + (*q)[0];
    *q += 1;
  } else if (v == 14) {
    if (end - *q < 2)
      return false;
    *out = 269u + ((unsigned)(*q)[0] << 8 | (*q)[1]);
    *q += 2;
  } else {
    return false; /* 15: the payload marker, or not an option */
  }
  return true;
}

bool ec_req_optw_next(ec_req_optw_t *w, const coap_opt_t **opt, const uint8_t **value,
                  size_t *len) {
  if (w->p == NULL || w->p >= w->end)
    return false;
  const uint8_t *q = w->p + 1;
  unsigned delta, length;
  if (!ext_value(w->p[0] >> 4, &q, w->end, &delta) ||
      !ext_value(w->p[0] & 15, &q, w->end, &length) ||
      (size_t)(w->end - q) < length) {
    w->p = NULL;
    return false;
  }
  w->number += delta;
  *opt = w->p;
  *value = q;
  *len = length;
  w->p = q + length;
  return true;
}

void ec_req_optw_init_raw(ec_req_optw_t *w, const uint8_t *opts, size_t len) {
  w->number = 0;
  w->p = w->start = len > 0 ? opts : NULL;
  w->end = len > 0 ? opts + len : NULL;
}

size_t ec_req_optw_rest(const ec_req_optw_t *w) {
  return w->start != NULL ? (size_t)(w->end - w->start) : 0;
}

/* The header and token of @p pdu on the wire: 4 bytes, an extended token
 * length for tokens past 12 bytes (RFC 8974), the token. */
static size_t head_size(const coap_pdu_t *pdu) {
  size_t t = coap_pdu_get_token(pdu).length;
  return 4 + (t >= 269 ? 2 : t >= 13 ? 1 : 0) + t;
}

/* Walk the request's options once: note those the server reads in @p o
 * and return the request's size on the wire (header, token, options and
 * payload, as they came). The answer to an unverified address is bounded
 * by three times that size (echo.h). */
static size_t scan_options(const coap_pdu_t *pdu, ec_req_opts_t *o) {
  ec_req_optw_t w;
  const coap_opt_t *opt;
  const uint8_t *v;
  size_t len;
  ec_req_optw_init(&w, pdu);
  while (ec_req_optw_next(&w, &opt, &v, &len)) {
    const coap_opt_t **slot = NULL;
    switch (w.number) {
    case COAP_OPTION_OBSERVE: slot = &o->observe; break;
    case COAP_OPTION_ACCEPT: slot = &o->accept; break;
    case COAP_OPTION_CONTENT_FORMAT: slot = &o->content_format; break;
    case COAP_OPTION_BLOCK1: slot = &o->block1; break;
    case COAP_OPTION_BLOCK2: slot = &o->block2; break;
    case COAP_OPTION_SIZE1: slot = &o->size1; break;
    case COAP_OPTION_ECHO: slot = &o->echo; break;
    case COAP_OPTION_IF_MATCH: slot = &o->if_match; break;
    case COAP_OPTION_IF_NONE_MATCH: slot = &o->if_none_match; break;
    case EC_OPTION_REQUEST_ID:
      o->request_id_twice = o->request_id != NULL;
      slot = &o->request_id;
      break;
    default: break;
    }
    if (slot != NULL && *slot == NULL)
      *slot = opt;
  }
  return head_size(pdu) + ec_req_optw_rest(&w);
}

size_t ec_req_wire_size(const coap_pdu_t *pdu) {
  ec_req_optw_t w;
  ec_req_optw_init(&w, pdu);
  return head_size(pdu) + ec_req_optw_rest(&w);
}

/* RFC 9175 section 2.4: at most three times the request to an address that
 * is not verified. */
#define AMPLIFICATION_MAX 3

/* What an answer adds to its payload: header, token, and a few options
 * (Content-Format, ETag, Block2, Size2), and the payload marker. */
#define ANSWER_OVERHEAD 24

bool ec_req_amplifies(size_t req_size, size_t tkl, size_t payload) {
  return ANSWER_OVERHEAD + tkl + payload > AMPLIFICATION_MAX * req_size;
}

static bool amplifies(const ec_req_t *rq, size_t payload) {
  return !rq->verified &&
         ec_req_amplifies(rq->req_size, coap_pdu_get_token(rq->request).length,
                          payload);
}

void ec_req_echo_challenge(ec_req_t *rq) {
  uint8_t echo[EC_ECHO_LEN];
  /* 4.01 with Echo and no payload: header, token and a 14-byte option. If
   * even that is too much for so small a request, the bare code. */
  size_t challenge = 4 + coap_pdu_get_token(rq->request).length + 2 +
                     EC_ECHO_LEN;
  coap_pdu_set_code(rq->response, COAP_RESPONSE_CODE(401));
  if (challenge > AMPLIFICATION_MAX * rq->req_size)
    return;
  ec_echo_make(rq->srv, rq->session, echo);
  coap_add_option(rq->response, COAP_OPTION_ECHO, sizeof(echo), echo);
}

/* An answer of @p code too large for an unverified address: a safe request
 * or a refusal (which changed nothing) is challenged, so that the client
 * repeats it with the Echo value; a write that was applied keeps its code
 * (and Location-Path) without the body. */
static void refuse_amplification(ec_req_t *rq, int code) {
  bool applied = code / 100 == 2 && rq->method != COAP_REQUEST_CODE_GET &&
                 rq->method != COAP_REQUEST_CODE_FETCH;
  ec_log(EC_LOG_DEBUG, "answer %d.%02d held back: its size would pass 3x "
         "the %zu-byte request of an unverified address", code / 100,
         code % 100, rq->req_size);
  if (applied)
    ec_req_empty(rq, code);
  else
    ec_req_echo_challenge(rq);
}

int ec_req_setup(ec_req_t *rq, ec_server_t *srv, coap_resource_t *resource,
                 coap_session_t *session, const coap_pdu_t *request,
                 const coap_string_t *query, coap_pdu_t *response,
                 unsigned formats) {
  const coap_opt_t *opt;

  memset(rq, 0, sizeof(*rq));
  ec_req_udp_mtu(session);
  rq->srv = srv;
  rq->resource = resource;
  rq->session = session;
  rq->request = request;
  rq->response = response;
  rq->query = query;
  rq->method = coap_pdu_get_code(request);
  rq->req_fmt = EC_FORMAT_JSON;
  rq->resp_fmt = EC_FORMAT_JSON;
  ec_arena_init(&rq->arena, srv->arena_buf, srv->arena_cap);
  rq->req_size = scan_options(request, &rq->opt);
  rq->verified = ec_echo_verified(srv, session, rq->opt.echo);

  /* An observation sends to its address for as long as it lasts: over
   * plain CoAP only to a verified one (RFC 9175 section 2.4). */
  opt = rq->opt.observe;
  if (opt != NULL && !rq->verified && option_uint(opt) == 0 &&
      (rq->method == COAP_REQUEST_CODE_GET ||
       rq->method == COAP_REQUEST_CODE_FETCH)) {
    ec_req_echo_challenge(rq);
    return -1;
  }

  int have_accept = 0;
  opt = rq->opt.accept;
  if (opt != NULL) {
    unsigned accept = option_uint(opt);
    /* A route answering link-format (discovery) takes Accept 40; its own
     * errors stay problem details in JSON. */
    if (accept == FORMAT_LINK && (formats & EC_FMT_LINK)) {
      accept = EC_FORMAT_JSON;
    } else if (!format_in(accept, formats)) {
      ec_req_problem(rq, 406, "not-acceptable", NULL,
                     "Accept %u is not offered: use 50 (application/json) or "
                     "60 (application/cbor)",
                     accept);
      return -1;
    }
    rq->resp_fmt = (ec_format_t)accept;
    have_accept = 1;
  }

  size_t len = 0;
  const uint8_t *data = NULL;
  int has_payload = coap_get_data(request, &len, &data) && len > 0;
  /* Content-Format describes a payload: without one there is nothing to
   * check. */
  opt = has_payload ? rq->opt.content_format : NULL;
  if (opt != NULL) {
    unsigned cf = option_uint(opt);
    if (!format_in(cf, formats)) {
      ec_req_problem(rq, 415, "unsupported-content-format", NULL,
                     "Content-Format %u is not supported: send 50 "
                     "(application/json) or 60 (application/cbor)",
                     cf);
      return -1;
    }
    rq->req_fmt = (ec_format_t)cf;
  } else if (has_payload) {
    rq->req_fmt = ec_format_sniff(data, len);
  }
  if (!have_accept && (opt != NULL || has_payload))
    rq->resp_fmt = rq->req_fmt;
  return 0;
}

static void refuse_too_big(ec_req_t *rq) {
  uint8_t buf[4];
  coap_add_option(rq->response, COAP_OPTION_SIZE1,
                  coap_encode_var_safe(buf, sizeof(buf),
                                       (unsigned)rq->srv->cfg.max_body),
                  buf);
  ec_req_problem(rq, 413, "too-large", NULL,
                 "the request body is larger than %zu bytes",
                 rq->srv->cfg.max_body);
}

/*
 * The answer to the last block of an upload carries its Block1 option (RFC
 * 7959 section 2.3: the final response says which block it answers, with
 * the M bit clear); libcoap 4.3.1 adds it only to 2.31 Continue.
 */
static void echo_block1(ec_req_t *rq) {
  coap_block_b_t b;
  uint8_t buf[4];
  if (rq->opt.block1 == NULL ||
      !coap_get_block_b(rq->session, rq->request, COAP_OPTION_BLOCK1, &b))
    return;
  coap_add_option(rq->response, COAP_OPTION_BLOCK1,
                  coap_encode_var_safe(buf, sizeof(buf),
                                       (unsigned)(b.num << 4 | b.szx)),
                  buf);
}

int ec_req_body(ec_req_t *rq) {
  size_t len = 0, offset = 0, total = 0;
  const uint8_t *data = NULL;
  const coap_opt_t *size1 = rq->opt.size1;
  size_t cap = rq->srv->cfg.max_body;

  if (!coap_get_data_large(rq->request, &len, &data, &offset, &total))
    return 1; /* no body */

  if ((size1 != NULL && option_uint(size1) > cap) || total > cap ||
      offset + len > cap) {
    refuse_too_big(rq);
    return -1;
  }
  if (offset == 0 && len == total) {
    echo_block1(rq);
    rq->body = data;
    rq->body_len = len;
    return 1;
  }

  /* A Block1 transfer: gather it in the peer, in order. */
  ec_peer_t *peer = ec_peer_get(rq->srv, rq->session);
  coap_string_t *path = coap_get_uri_path(rq->request);
  if (peer == NULL || path == NULL) {
    coap_delete_string(path);
    ec_req_problem(rq, 500, "out-of-memory", NULL, "no memory for the upload");
    return -1;
  }
  if (offset == 0) {
    ec_peer_upload_clear(peer);
    peer->up_path = strndup((const char *)path->s, path->length);
    peer->up_buf = malloc(cap);
    if (peer->up_path == NULL || peer->up_buf == NULL) {
      ec_peer_upload_clear(peer);
      coap_delete_string(path);
      ec_req_problem(rq, 500, "out-of-memory", NULL, "no memory for the upload");
      return -1;
    }
  }
  int same = peer->up_path != NULL && strlen(peer->up_path) == path->length &&
             memcmp(peer->up_path, path->s, path->length) == 0;
  coap_delete_string(path);
  if (!same || offset != peer->up_len) {
    ec_peer_upload_clear(peer);
    ec_req_problem(rq, 408, "request-entity-incomplete", NULL,
                   "block at offset %zu does not continue the upload", offset);
    return -1;
  }
  memcpy(peer->up_buf + peer->up_len, data, len);
  peer->up_len += len;
  if (peer->up_len < total) {
    /* libcoap turns a 2.xx into 2.31 Continue with the Block1 option. */
    coap_pdu_set_code(rq->response, COAP_RESPONSE_CODE_CHANGED);
    return 0;
  }
  echo_block1(rq);
  rq->body = peer->up_buf;
  rq->body_len = peer->up_len;
  rq->upload_done = 1;
  /* The answer to an upload is measured against all of it (the blocks
   * came in as many datagrams), not against its last block. */
  rq->req_size += peer->up_len - len;
  return 1;
}

void ec_req_udp_mtu(coap_session_t *session) {
  /* libcoap 4.3.1 applies a CSM (RFC 8323 signaling, meant for reliable
   * transports) to UDP sessions too, so any peer could raise its own
   * session's datagram size and draw answers of up to 64 KB in one
   * datagram: an amplifier for spoofed sources. UDP keeps RFC 7252's size. */
  if (COAP_PROTO_NOT_RELIABLE(coap_session_get_proto(session)) &&
      coap_session_max_pdu_size(session) > COAP_DEFAULT_MTU)
    coap_session_set_mtu(session, COAP_DEFAULT_MTU);
}

const ec_dedup_key_t *ec_req_dedup_key(ec_req_t *rq) {
  if (!rq->dedup_keyed) {
    ec_dedup_key(rq->srv->dedup, rq->session, rq->request, &rq->dedup_key);
    rq->dedup_keyed = 1;
  }
  return &rq->dedup_key;
}

void ec_req_done(ec_req_t *rq) {
  if (rq->parked != NULL)
    ec_park_release(rq);
  /* Every answer writer adds the Max-Age asked for; an answer written
   * another way gets it here (never after its payload). */
  size_t dlen;
  const uint8_t *data;
  if (rq->max_age_set && coap_pdu_get_code(rq->response) != 0 &&
      !coap_get_data(rq->response, &dlen, &data))
    ec_req_put_max_age(rq);
  if (!rq->upload_done)
    return;
  ec_peer_t *peer = coap_session_get_app_data(rq->session);
  if (peer != NULL)
    ec_peer_upload_clear(peer);
  rq->body = NULL;
  rq->body_len = 0;
  rq->upload_done = 0;
}

/* What a small answer leaves of the session's datagram size for the CoAP
 * header, token and options (RFC 7252 section 4.6). */
#define SMALL_ANSWER_MARGIN 128

/* What libcoap keeps of the answers it sends block-wise itself (writes and
 * observations), for every session together; past it such an answer is
 * refused rather than kept. */
#ifndef EC_HELD_ANSWERS_MAX
#define EC_HELD_ANSWERS_MAX (8 * 1024 * 1024)
#endif

/* A copy handed to libcoap, counted until libcoap releases it. */
typedef struct {
  ec_server_t *srv;
  size_t len;
  uint8_t data[];
} held_t;

static void release_copy(coap_session_t *session, void *p) {
  (void)session;
  held_t *h = p;
  h->srv->held_bytes -= h->len;
  free(h);
}

/*
 * An answer that fits one datagram, to a request that asks for no particular
 * block, goes straight into the response PDU: no copy to hand over and none
 * of libcoap's block-wise bookkeeping, which is most of the cost of a small
 * answer. 1 when done, 0 when the block-wise path must do it.
 */
bool ec_req_fits_datagram(coap_session_t *session, size_t len) {
  /* Room for the header, a token and the options a handler may have added
   * (Observe, Location-Path) besides Content-Format and ETag. */
  size_t room = coap_session_max_pdu_size(session);
  return room >= SMALL_ANSWER_MARGIN && len <= room - SMALL_ANSWER_MARGIN;
}

static int send_small(ec_req_t *rq, int code, ec_format_t fmt,
                      const uint8_t *data, size_t len, uint64_t etag) {
  uint8_t buf[8];

  /* One datagram, unless a Block2 option asks for a block of it. */
  if (!ec_req_fits_datagram(rq->session, len) || rq->opt.block2 != NULL)
    return 0;
  coap_pdu_set_code(rq->response, COAP_RESPONSE_CODE(code));
  /* In option order: ETag (4), Content-Format (12), Max-Age (14). */
  if (etag != 0)
    coap_add_option(rq->response, COAP_OPTION_ETAG,
                    coap_encode_var_safe8(buf, sizeof(buf), etag), buf);
  coap_add_option(rq->response, COAP_OPTION_CONTENT_FORMAT,
                  coap_encode_var_safe(buf, sizeof(buf), fmt), buf);
  ec_req_put_max_age(rq);
  if (!coap_add_data(rq->response, len, data)) {
    /* Cannot happen within the margin; say so rather than answer wrong. */
    ec_log(EC_LOG_ERROR, "a %zu-byte answer did not fit its datagram", len);
    coap_pdu_set_code(rq->response, COAP_RESPONSE_CODE(500));
  }
  return 1;
}

/*
 * A large answer to a GET is sent block by block by the server itself: the block the request asks for (block 0 of 1024 bytes when it asks
 * for none), with the M bit, the ETag and, on block 0, Size2 (RFC 7959). The
 * client's next request runs the handler again, which is harmless for a GET,
 * and the ETag tells the client if the body changed between blocks.
 * libcoap's own way (coap_add_data_large_response) keeps every such answer on
 * its session for 8 s or more and walks them all on each I/O round: with
 * many distinct queries that walk became most of the server's time, and a
 * block-0 read of a large list held megabytes per session. Nothing is kept
 * here; list answers are pages of at most EC_PAGE_BYTES, so re-running the
 * handler per block is bounded too. 1 when done, 0 when not a GET.
 */
bool ec_block_slice(unsigned num, unsigned szx, size_t len,
                    ec_block_slice_t *s) {
  s->num = num;
  s->szx = szx < EC_BLOCK_MAX_SZX ? szx : EC_BLOCK_MAX_SZX;
  size_t size = (size_t)1 << (s->szx + 4);
  s->offset = (size_t)num * size;
  s->chunk = 0;
  s->more = false;
  if (num > 0 && s->offset >= len)
    return false;
  s->chunk = len - s->offset < size ? len - s->offset : size;
  s->more = s->offset + s->chunk < len;
  return true;
}

size_t ec_block_slice_option(const ec_block_slice_t *s, uint8_t out[4]) {
  return coap_encode_var_safe(out, 4, s->num << 4 | (unsigned)s->more << 3 |
                                          s->szx);
}

static int send_blocks(ec_req_t *rq, int code, ec_format_t fmt,
                       const uint8_t *data, size_t len, uint64_t etag) {
  coap_block_b_t want;
  ec_block_slice_t s;
  uint8_t buf[8];

  /* Not for FETCH: libcoap 4.3.1's client asks for the later blocks of a
   * FETCH answer without repeating the body (the filter), so those go
   * through libcoap's kept copy, which the held-answer budget bounds. */
  if (rq->method != COAP_REQUEST_CODE_GET)
    return 0;
  bool asked = ec_req_block2(rq, &want);
  (void)ec_block_slice(asked ? want.num : 0,
                       asked ? want.szx : EC_BLOCK_MAX_SZX, len,
                       &s); /* block_past_end() refused what is past it */
  coap_pdu_set_code(rq->response, COAP_RESPONSE_CODE(code));
  if (etag != 0)
    coap_add_option(rq->response, COAP_OPTION_ETAG,
                    coap_encode_var_safe8(buf, sizeof(buf), etag), buf);
  coap_add_option(rq->response, COAP_OPTION_CONTENT_FORMAT,
                  coap_encode_var_safe(buf, sizeof(buf), fmt), buf);
  ec_req_put_max_age(rq);
  coap_add_option(rq->response, COAP_OPTION_BLOCK2,
                  ec_block_slice_option(&s, buf), buf);
  if (s.num == 0)
    coap_add_option(rq->response, COAP_OPTION_SIZE2,
                    coap_encode_var_safe(buf, sizeof(buf), (unsigned)len), buf);
  if (!coap_add_data(rq->response, s.chunk, data + s.offset)) {
    ec_log(EC_LOG_ERROR, "a %zu-byte block did not fit its datagram", s.chunk);
    coap_pdu_set_code(rq->response, COAP_RESPONSE_CODE(500));
  }
  return 1;
}

int ec_req_block2(const ec_req_t *rq, coap_block_b_t *b) {
  const coap_opt_t *opt = rq->opt.block2;
  if (opt == NULL || coap_opt_length(opt) > 3)
    return 0;
  unsigned v = coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
  if ((v & 7) == 7)
    return 0; /* BERT, for reliable transports only (RFC 8323) */
  memset(b, 0, sizeof(*b));
  b->num = v >> 4;
  b->m = (v >> 3) & 1;
  b->szx = v & 7;
  return 1;
}

int ec_req_request_id(ec_req_t *rq, const uint8_t **id, size_t *len) {
  const coap_opt_t *opt = rq->opt.request_id;
  if (opt == NULL)
    return 0;
  size_t n = coap_opt_length(opt);
  if (rq->opt.request_id_twice) {
    ec_req_problem(rq, 402, "invalid-request-id", NULL,
                   "Request-Id (option %d) may appear once",
                   EC_OPTION_REQUEST_ID);
    return -1;
  }
  if (n < EC_REQUEST_ID_MIN || n > EC_REQUEST_ID_MAX) {
    ec_req_problem(rq, 402, "invalid-request-id", NULL,
                   "Request-Id (option %d) is %d to %d bytes, not %zu",
                   EC_OPTION_REQUEST_ID, EC_REQUEST_ID_MIN, EC_REQUEST_ID_MAX,
                   n);
    return -1;
  }
  *id = coap_opt_value(opt);
  *len = n;
  return 1;
}

/*
 * A request for a block past the end of the representation (RFC 7959
 * section 2.4 leaves the answer open): 4.02 Bad Option, saying why, rather
 * than libcoap's bare 5.00. 1 when refused.
 */
static int block_past_end(ec_req_t *rq, size_t len) {
  coap_block_b_t want;
  ec_block_slice_t s;
  if (!ec_req_block2(rq, &want) || ec_block_slice(want.num, want.szx, len, &s))
    return 0;
  ec_req_problem(rq, 402, "invalid-block", NULL,
                 "Block2 block %u of %zu bytes is past the end of the "
                 "%zu-byte representation",
                 (unsigned)want.num, (size_t)1 << (s.szx + 4), len);
  return 1;
}

void ec_req_send(ec_req_t *rq, int code, ec_format_t fmt, const uint8_t *data,
                 size_t len, uint64_t etag) {
  /* One datagram carries at most a block of 1024 bytes of it. */
  if (amplifies(rq, len < 1024 ? len : 1024)) {
    refuse_amplification(rq, code);
    return;
  }
  if (block_past_end(rq, len))
    return;
  if (send_small(rq, code, fmt, data, len, etag))
    return;
  /* Observations are the server's own (watch.c): a notification's later
   * blocks are GETs like any other, served from the same representation. */
  if (send_blocks(rq, code, fmt, data, len,
                  etag ? etag : ec_fnv1a(EC_FNV1A_INIT, data, len)))
    return;
  if (rq->srv->held_bytes + len > EC_HELD_ANSWERS_MAX) {
    /* Bounded memory for every session's kept answers together. A write is
     * stored already: its code alone still says so. */
    if (code / 100 == 2 && rq->method != COAP_REQUEST_CODE_GET &&
        rq->method != COAP_REQUEST_CODE_FETCH) {
      ec_req_empty(rq, code);
      return;
    }
    ec_req_max_age(rq, 5);
    ec_req_problem(rq, 503, "busy", NULL,
                   "too many large answers in flight; try again in 5 s");
    return;
  }
  held_t *copy = malloc(sizeof(*copy) + (len ? len : 1));
  if (copy == NULL) {
    ec_req_problem(rq, 500, "out-of-memory", NULL, "no memory for the answer");
    return;
  }
  copy->srv = rq->srv;
  copy->len = len;
  memcpy(copy->data, data, len);
  rq->srv->held_bytes += len;
  coap_pdu_set_code(rq->response, COAP_RESPONSE_CODE(code));
  ec_req_put_max_age(rq);
  /* libcoap sized this response before ec_req_udp_mtu() could undo a CSM;
   * asking for block 0 of 1024 bytes keeps a large answer block-wise. */
  if (len > 1024 &&
      COAP_PROTO_NOT_RELIABLE(coap_session_get_proto(rq->session)) &&
      rq->opt.block2 == NULL) {
    uint8_t b[4];
    coap_add_option(rq->response, COAP_OPTION_BLOCK2,
                    coap_encode_var_safe(b, sizeof(b), 6), b);
  }
  /* libcoap owns copy from here and frees it through release_copy, also on
   * failure, after which it has set 5.00 itself. */
  coap_add_data_large_response(rq->resource, rq->session, rq->request,
                               rq->response, rq->query, (uint16_t)fmt, -1,
                               etag, len, copy->data, release_copy, copy);
}

void ec_req_max_age(ec_req_t *rq, unsigned seconds) {
  rq->max_age_set = true;
  rq->max_age = seconds;
}

void ec_req_put_max_age(ec_req_t *rq) {
  uint8_t buf[4];
  if (!rq->max_age_set)
    return;
  rq->max_age_set = false;
  coap_add_option(rq->response, COAP_OPTION_MAXAGE,
                  coap_encode_var_safe(buf, sizeof(buf), rq->max_age), buf);
}

void ec_req_empty(ec_req_t *rq, int code) {
  ec_req_empty_etag(rq, code, 0);
}

void ec_req_empty_etag(ec_req_t *rq, int code, uint64_t etag) {
  uint8_t buf[8];
  coap_pdu_set_code(rq->response, COAP_RESPONSE_CODE(code));
  if (etag != 0)
    coap_add_option(rq->response, COAP_OPTION_ETAG,
                    coap_encode_var_safe8(buf, sizeof(buf), etag), buf);
  ec_req_put_max_age(rq);
}

void ec_req_problem(ec_req_t *rq, int code, const char *title,
                    const char *field, const char *fmt, ...) {
  char detail[256];
  uint8_t buf[768];
  uint8_t cf[4];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(detail, sizeof(detail), fmt, ap);
  va_end(ap);

  int coap_code = (code / 100) << 5 | (code % 100);
  ec_format_t f = rq->resp_fmt == EC_FORMAT_CBOR ? EC_FORMAT_PROBLEM_CBOR
                                                  : EC_FORMAT_JSON;
  ssize_t n = ec_problem_encode(f, title, detail, coap_code, field, buf,
                                sizeof(buf));
  ec_log(code >= 500 ? EC_LOG_WARN : EC_LOG_DEBUG, "answer %d.%02d %s: %s",
         code / 100, code % 100, title, detail);
  if (n > 0 && amplifies(rq, (size_t)n)) {
    refuse_amplification(rq, code);
    return;
  }
  coap_pdu_set_code(rq->response, COAP_RESPONSE_CODE(code));
  if (n < 0 || (size_t)n > sizeof(buf)) {
    ec_req_put_max_age(rq);
    return; /* the code alone still tells the client what happened */
  }
  coap_add_option(rq->response, COAP_OPTION_CONTENT_FORMAT,
                  coap_encode_var_safe(cf, sizeof(cf), f), cf);
  ec_req_put_max_age(rq);
  coap_add_data(rq->response, (size_t)n, buf);
}

void ec_req_codec_error(ec_req_t *rq, const ec_codec_error_t *err) {
  int code = 400;
  if (err->code == EC_ESEMANTIC)
    code = 422;
  else if (err->code == EC_ETOOBIG)
    code = 413;
  else if (err->code == EC_ENOMEM)
    code = 500;
  ec_req_problem(rq, code, err->title[0] ? err->title : "bad-request",
                 err->field[0] ? err->field : NULL, "%s", err->detail);
}

void ec_req_store_error(ec_req_t *rq, int rc) {
  /* A database server out of reach (a restart) is a wait, not a fault. */
  if (rc == EC_ETIMEOUT || ec_store_unreachable(rq->srv->store)) {
    if (ec_park(rq))
      return;
    ec_req_max_age(rq, EC_REQ_RETRY_S);
    ec_req_problem(rq, 503, "storage-unavailable", NULL,
                   "the store is out of reach: nothing was stored; send the "
                   "request again after Max-Age, with the same Request-Id");
    return;
  }
  ec_req_problem(rq, 500, "storage-failure", NULL,
                 "the change was not stored: %s", ec_strerror(rc));
}

int ec_req_path(const coap_pdu_t *request, char (*segs)[129], int max) {
  coap_opt_iterator_t it;
  coap_opt_filter_t filter;
  const coap_opt_t *opt;
  int n = 0;

  coap_option_filter_clear(&filter);
  coap_option_filter_set(&filter, COAP_OPTION_URI_PATH);
  coap_option_iterator_init(request, &it, &filter);
  while ((opt = coap_option_next(&it)) != NULL) {
    size_t len = coap_opt_length(opt);
    if (n >= max || len > 128)
      return -1;
    memcpy(segs[n], coap_opt_value(opt), len);
    segs[n][len] = '\0';
    if (memchr(segs[n], '\0', len) != NULL)
      return -1; /* an embedded NUL can only be an attack */
    n++;
  }
  return n;
}

/* Walk the Uri-Query options; fn returns non-zero to stop. */
static int each_query(const coap_pdu_t *request,
                      int (*fn)(void *ud, const uint8_t *q, size_t len),
                      void *ud) {
  coap_opt_iterator_t it;
  coap_opt_filter_t filter;
  const coap_opt_t *opt;

  coap_option_filter_clear(&filter);
  coap_option_filter_set(&filter, COAP_OPTION_URI_QUERY);
  coap_option_iterator_init(request, &it, &filter);
  while ((opt = coap_option_next(&it)) != NULL) {
    int rc = fn(ud, coap_opt_value(opt), coap_opt_length(opt));
    if (rc)
      return rc;
  }
  return 0;
}

struct query_find {
  const char *name;
  const uint8_t *value;
  int len;
};

static int find_one(void *ud, const uint8_t *q, size_t len) {
  struct query_find *f = ud;
  size_t nlen = strlen(f->name);
  if (len > nlen && q[nlen] == '=' && memcmp(q, f->name, nlen) == 0) {
    f->value = q + nlen + 1;
    f->len = (int)(len - nlen - 1);
    return 1;
  }
  if (len == nlen && memcmp(q, f->name, nlen) == 0) {
    f->value = q + nlen;
    f->len = 0;
    return 1;
  }
  return 0;
}

int ec_req_query(const ec_req_t *rq, const char *name, const uint8_t **value) {
  struct query_find f = {name, NULL, -1};
  each_query(rq->request, find_one, &f);
  *value = f.value;
  return f.len;
}

int ec_req_query_int(ec_req_t *rq, const char *name, int64_t min, int64_t max,
                     int64_t dflt, int64_t *out) {
  const uint8_t *v;
  int len = ec_req_query(rq, name, &v);
  char buf[24];
  char *end;

  if (len < 0) {
    *out = dflt;
    return 0;
  }
  if (len == 0 || len >= (int)sizeof(buf))
    goto bad;
  memcpy(buf, v, (size_t)len);
  buf[len] = '\0';
  if (buf[0] == '+' || buf[0] == ' ')
    goto bad;
  errno = 0;
  long long x = strtoll(buf, &end, 10);
  if (errno != 0 || *end != '\0' || x < min || x > max)
    goto bad;
  *out = x;
  return 0;
bad:
  ec_req_problem(rq, 400, "invalid-query", name,
                 "query parameter %s must be an integer from %lld to %lld",
                 name, (long long)min, (long long)max);
  return -1;
}

struct query_check {
  const char *const *allowed;
  char bad[64];
};

static int check_one(void *ud, const uint8_t *q, size_t len) {
  struct query_check *c = ud;
  const uint8_t *eq = memchr(q, '=', len);
  size_t nlen = eq ? (size_t)(eq - q) : len;
  for (const char *const *a = c->allowed; *a != NULL; a++)
    if (strlen(*a) == nlen && memcmp(*a, q, nlen) == 0)
      return 0;
  if (nlen >= sizeof(c->bad))
    nlen = sizeof(c->bad) - 1;
  for (size_t i = 0; i < nlen; i++)
    c->bad[i] = (q[i] >= 0x20 && q[i] < 0x7f) ? (char)q[i] : '?';
  c->bad[nlen] = '\0';
  return 1;
}

int ec_req_query_check(ec_req_t *rq, const char *const *allowed) {
  struct query_check c = {allowed, ""};
  if (each_query(rq->request, check_one, &c) == 0)
    return 0;
  ec_req_problem(rq, 400, "unknown-query", c.bad,
                 "query parameter '%s' is not known here", c.bad);
  return -1;
}
