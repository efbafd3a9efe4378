/* edgecoap server: datagrams screened before libcoap reads them. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_SCREEN_H
#define EDGECOAP_SCREEN_H

#include "context.h"

/*
 * libcoap 4.3.1 answers what it cannot parse with an RST carrying Message
 * ID 0, which no client can match: a request datagram over its 1152-byte
 * buffer (the PDU's header excluded, so up to 1156 bytes got through) and
 * a message with a Version other than 1. It also cannot route a method
 * code it does not know (0.08-0.31) to the unknown-path handler, and it
 * keeps no trace of the NON notifications the server sends (watch.c), so
 * an RST refusing one would go unnoticed.
 *
 * So on the plain coap:// endpoint the server looks at each datagram
 * before libcoap does (MSG_PEEK on the endpoint's socket), and consumes
 * and answers the ones above itself (RFC 7252 sections 3, 4.2, 5.8):
 *   - Version not 1: dropped silently (section 3);
 *   - more than EC_SCREEN_MAX_DGRAM bytes: a CON request gets 4.13 with
 *     its own Message ID and token, Size1 (the body cap) and Block1 (block
 *     0 of 1024 bytes: send the body block-wise, RFC 7959 section 2.9.3);
 *     any other CON or a NON an RST with its own Message ID; ACK and RST
 *     are dropped;
 *   - a request with an unassigned method code: 4.05 (piggybacked on the
 *     ACK of a CON, as a NON to a NON);
 *   - a confirmable GET for a later block of a page kept for its requester
 *     (pagecache.h): the block, as the dispatcher would have answered it,
 *     without libcoap's request handling (most of a block's cost);
 *   - a confirmable GET, with no option but Uri-Path and Accept, of a
 *     route's resource whose route answers it from memory (router.h
 *     cached(): a deployment status's cached report), from a peer that
 *     observes nothing and whose session libcoap saw within half its
 *     timeout: the answer the
 *     dispatcher would send, piggybacked, when it fits one datagram and
 *     the amplification bound (echo.h), and no write is queued.
 * What the screen answers is counted and logged as the dispatcher does,
 * and also in edgecoap_screened_reads_total for the reads.
 * An RST is also shown to watch.c (ec_watch_on_rst) and then left to
 * libcoap. DTLS records are decrypted inside libcoap and are not screened.
 */

/* EC_SCREEN_MAX_DGRAM, the largest request datagram served: context.h. */

/**
 * Find the plain UDP endpoint's socket (after its bind); without one (only
 * coaps://) screening is off and ec_screen_run() does nothing.
 */
void ec_screen_init(ec_server_t *srv);

/**
 * Screen the datagrams waiting at the head of the socket: consume and
 * answer those described above until one that libcoap should read is at
 * the head, or none is left. Call right before each coap_io_process(),
 * which reads at most one datagram per endpoint.
 * @return 1 when a datagram waits for libcoap, 0 when none is waiting
 */
int ec_screen_run(ec_server_t *srv);

/**
 * Look at the datagram at the head of the socket without taking it: its
 * length, or < 0 when none waits; its first bytes (at most 12) at @p h.
 * With @p keep, what was seen is kept for the next ec_screen_run(), which
 * then makes no look of its own (the whole datagram is looked at then,
 * as the screen looks at it): only when libcoap cannot read the socket
 * before that run, i.e. outside coap_io_process() or inside it after its
 * read (libcoap 4.3.1 reads an endpoint's socket once per call, in its
 * epoll loop, before it runs the handlers of what it read and after it ran
 * those of triggered separate answers).
 */
ssize_t ec_screen_look(ec_server_t *srv, uint8_t *h, size_t cap, bool keep);

/**
 * The header of a datagram the server writes itself on the coap:// socket
 * (RFC 7252 section 3): Version 1, @p type, @p code, @p mid and the token's
 * @p tkl (<= 8) bytes, at @p out.
 * @return the bytes written, 4 + tkl
 */
size_t ec_screen_head(uint8_t *out, unsigned type, uint8_t code,
                      uint16_t mid, const uint8_t *token, size_t tkl);

#endif /* EDGECOAP_SCREEN_H */
