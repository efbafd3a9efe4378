/* edgecoap device core internals: what engine.c shares with request.c. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_DEVICE_ENGINE_H
#define EDGECOAP_DEVICE_ENGINE_H

#include "cbor.h"

enum { X_FREE = 0, X_WAIT_ACK, X_WAIT_SEP, X_OBSERVING };

/* Take a free exchange and start its request in @p buf: a CON with a new
 * Message ID and a 4-byte token, Observe 0 when observing. An option to
 * follow all others (@p tnum, @p tlen bytes at @p tval; 0 for none) is
 * kept at the end of @p buf, which is that much smaller for datagrams.
 * NULL when none is free; the exchange stays free until ec__dev_launch(). */
ec__dev_xchg_t *ec__dev_begin(ec_dev_t *dev, ec_coap_build_t *b, uint8_t *buf,
                              size_t cap, uint8_t code, bool observe,
                              uint16_t tnum, const void *tval, uint8_t tlen);
/* Finish the request in @p b and send it, or with @p b NULL the body's
 * first block (its options up to Accept in x->req_len, x->body and
 * x->body_len set): the exchange's number, or < 0 (the exchange is left
 * free). */
int ec__dev_launch(ec_dev_t *dev, ec__dev_xchg_t *x, ec_coap_build_t *b,
                   ec_dev_cb_t cb, void *user);
/* Send the exchange's datagram as a fresh confirmable transmission. */
int ec__dev_transmit(ec_dev_t *dev, ec__dev_xchg_t *x, uint32_t now);
/* Send block @p num of a block-wise body (x->body_len bytes, from the
 * request's body or else x->body). */
void ec__dev_send_block(ec_dev_t *dev, ec__dev_xchg_t *x, uint32_t num,
                        uint32_t now);

/* POST the @p len bytes of CBOR at the end of @p buf (of @p cap bytes,
 * at least len + rl) to the Uri-Path segments of @p path ("a\0b\0",
 * ended by an empty one) with Content-Format and Accept CBOR, and with a
 * Request-Id of the @p rl bytes before the CBOR when @p rl (at most 16)
 * is not 0; block-wise past one datagram (device/core/messages.c).
 * @return as ec_dev_report() */
int ec__dev_post_cbor(ec_dev_t *dev, const char *path, uint8_t *buf,
                      size_t cap, size_t len, size_t rl, ec_dev_cb_t cb,
                      void *user);

#endif /* EDGECOAP_DEVICE_ENGINE_H */
