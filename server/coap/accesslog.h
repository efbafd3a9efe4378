/* edgecoap server: the access log: one line per answered request, errors rate-limited per peer. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_ACCESSLOG_H
#define EDGECOAP_ACCESSLOG_H

#include <sys/socket.h>

#include "context.h"

/*
 * At level info (and unless --access-log off), each answer the server
 * gives is one line (docs/OPERATIONS.md "The access log"): the peer, its
 * DTLS identity, method, path with query, code, bytes in and out, and the
 * microseconds from the request's arrival to its answer. The dispatcher
 * logs what it answers (router.c), a deferred answer when it is sent (a
 * group-committed write, a login after its password check), never the
 * empty ACK before it; the screen logs what it refuses itself (screen.c).
 * A line is written before its answer is sent, unless another request
 * already waits: then it is held (log.h ec_log_hold) with the lines that
 * follow, and written with them before the server waits again, or at the
 * latest after EC_LOG_HOLD_MS or 4 KiB of lines.
 *
 * A peer that draws errors (4.xx, 5.xx) at the request rate would fill the
 * disk, so error lines are limited per peer address (its port left out, so
 * that new ports buy nothing) by a token bucket of EC_ACCESSLOG_BURST
 * lines refilled at one per EC_ACCESSLOG_REFILL_MS, and across all peers
 * by one of EC_ACCESSLOG_ALL_BURST refilled at EC_ACCESSLOG_ALL_PER_S per
 * second. What a bucket refuses is counted (edgecoap_log_lines_suppressed_
 * total) and said in one line, "suppressed N lines from PEER", once that
 * peer may log again. Peers are kept in a fixed table of
 * EC_ACCESSLOG_SLOTS: a peer that takes over another's slot carries the
 * other's count into the line for "other peers".
 */
#define EC_ACCESSLOG_SLOTS 256
/* The longest the I/O thread holds an access line that waits for others. */
#define EC_LOG_HOLD_MS 50
#define EC_ACCESSLOG_BURST 20
#define EC_ACCESSLOG_REFILL_MS 1000
#define EC_ACCESSLOG_ALL_BURST 200
#define EC_ACCESSLOG_ALL_PER_S 50

typedef struct ec_accesslog ec_accesslog_t;

/**
 * The access log of @p srv, on when @p on and the log level is info or
 * more. @return 0 or EC_ENOMEM; srv->accesslog owns it (ec_accesslog_free)
 */
int ec_accesslog_new(ec_server_t *srv, bool on);

/** Write what is still suppressed and free it; NULL is a no-op. */
void ec_accesslog_free(ec_server_t *srv);

/**
 * Log the answer @p response to @p request on @p session, @p usec after the
 * request came; a response without a code (an empty ACK) is not an answer.
 * @p in is the request's size on the wire.
 */
void ec_accesslog_request(ec_server_t *srv, coap_session_t *session,
                          const coap_pdu_t *request, size_t in,
                          const coap_pdu_t *response, uint64_t usec);

/**
 * Log an answer the server sent without libcoap (screen.c): from @p from,
 * a request of @p method (its code byte) of @p in bytes to @p path (as
 * ec_accesslog_path() writes it; NULL: not read, "-") answered @p code
 * (class << 5 | detail) in @p out bytes, @p usec after it came.
 */
void ec_accesslog_raw(ec_server_t *srv, const struct sockaddr *from,
                      socklen_t from_len, unsigned method, const char *path,
                      size_t in, unsigned code, size_t out, uint64_t usec);

/**
 * Log an answer the server sent without libcoap to a request whose
 * options (and payload, if any) are the @p opts_len bytes at @p opts, as
 * ec_accesslog_request() logs it: the path from those options.
 */
void ec_accesslog_datagram(ec_server_t *srv, const struct sockaddr *from,
                           unsigned method, const uint8_t *opts,
                           size_t opts_len, size_t in, unsigned code,
                           size_t out, uint64_t usec);

/** The longest path and query a line shows, its terminator included
 * (longer ones are cut with "..."). */
#define EC_ACCESSLOG_PATH_MAX 400

/** @p request's path and query as a line shows them ("/a/b?x=1&y"), into
 * @p out of @p cap bytes. */
void ec_accesslog_path(const coap_pdu_t *request, char *out, size_t cap);

/** Say "suppressed N lines" for the peers that may log again (the server
 * loop calls it every round; it looks at most once a second). */
void ec_accesslog_tick(ec_server_t *srv);

#endif /* EDGECOAP_ACCESSLOG_H */
