/* edgecoap-bench: a minimal CoAP (RFC 7252, 7641, 7959) encoder and decoder. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_BENCH_COAPMIN_H
#define EDGECOAP_BENCH_COAPMIN_H

#include <stddef.h>
#include <stdint.h>

/*
 * Just enough CoAP for a load generator: requests are built from options
 * encoded once (bc_opts_t) plus the per-message header, token, Block options
 * and payload; answers are parsed in place (bc_msg_t points into the
 * datagram). Nothing here allocates.
 */

enum { BC_CON = 0, BC_NON = 1, BC_ACK = 2, BC_RST = 3 };

enum {
  BC_OPT_OBSERVE = 6,
  BC_OPT_URI_PATH = 11,
  BC_OPT_CONTENT_FORMAT = 12,
  BC_OPT_URI_QUERY = 15,
  BC_OPT_ACCEPT = 17,
  BC_OPT_BLOCK2 = 23,
  BC_OPT_BLOCK1 = 27,
  BC_OPT_SIZE1 = 60,
  BC_OPT_ECHO = 252 /* RFC 9175 */
};

/* The longest Echo value kept (RFC 9175 allows 1..40 bytes). */
#define BC_ECHO_CAP 40

#define BC_CODE(c, d) ((uint8_t)(((c) << 5) | (d)))
#define BC_CLASS(code) ((code) >> 5)
#define BC_DETAIL(code) ((code)&0x1f)
#define BC_OPTS_CAP 1024
#define BC_ABSENT (-1L)

/* The options of a request up to Accept (17), encoded once. */
typedef struct {
  uint8_t buf[BC_OPTS_CAP];
  size_t len;
  unsigned last; /* number of the last option in buf */
} bc_opts_t;

/* A Block1/Block2 option value (RFC 7959). */
typedef struct {
  uint32_t num;
  int more;
  unsigned szx; /* block size 2^(szx+4) */
} bc_block_t;

/* A parsed datagram; pointers point into the caller's buffer. */
typedef struct {
  uint8_t type, code, tkl;
  uint16_t mid;
  const uint8_t *token;
  long observe;        /* BC_ABSENT or the value */
  long content_format; /* BC_ABSENT or the value */
  int has_block1, has_block2;
  bc_block_t block1, block2;
  const uint8_t *echo; /* NULL, or the Echo option's value */
  size_t echo_len;
  const uint8_t *payload;
  size_t payload_len;
} bc_msg_t;

/*
 * Encode the options of a request to @p path_query ("/a/b?x=1&y=2": one
 * Uri-Path per segment, one Uri-Query per '&'-separated item; no
 * percent-decoding). @p observe, @p content_format and @p accept are
 * BC_ABSENT when not sent.
 * @return 0, or -1 when they do not fit or the path is malformed
 */
int bc_opts_init(bc_opts_t *o, const char *path_query, long observe,
                 long content_format, long accept);

/* Encoded options that end with option number @c last (a view of a
 * bc_opts_t, or a compact copy of one). */
typedef struct {
  const uint8_t *p;
  size_t len;
  unsigned last;
} bc_optv_t;

/*
 * Build one message into @p out (@p cap bytes): header, token, the options
 * @p o (may be NULL), then Block2 and Block1 (either may be NULL), Size1
 * (@p size1 >= 0), Echo (when @p echo_len > 0) and the payload.
 * @return the datagram's length, or -1 when it does not fit
 */
long bc_build(uint8_t *out, size_t cap, int type, uint8_t code, uint16_t mid,
              const uint8_t *token, size_t tkl, const bc_optv_t *o,
              const bc_block_t *block2, const bc_block_t *block1, long size1,
              const uint8_t *echo, size_t echo_len, const uint8_t *payload,
              size_t payload_len);

/*
 * Append one option numbered @p number after the one numbered @p *last to
 * the @p *len bytes of @p buf (@p cap in all), for an option past Echo
 * (252) that bc_build() does not know; options must come in ascending
 * order. Updates @p *len and @p *last.
 * @return 0, or -1 when it does not fit or comes out of order
 */
int bc_put_opt(uint8_t *buf, size_t cap, size_t *len, unsigned *last,
               unsigned number, const uint8_t *val, size_t vlen);

/* Parse @p len bytes. @return 0, or -1 when it is not a CoAP message */
int bc_parse(const uint8_t *buf, size_t len, bc_msg_t *m);

/* "GET" -> 1 etc.; @return the method code, or 0 when unknown */
uint8_t bc_method(const char *name);

#endif
