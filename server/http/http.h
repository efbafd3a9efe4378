/* edgecoap server: the operators' HTTP endpoint (the dashboard, its JSON and events, /metrics, /healthz, /readyz), served from the I/O loop. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_HTTP_H
#define EDGECOAP_HTTP_H

#include <stdbool.h>
#include <sys/socket.h>

#include "context.h"

/*
 * libmicrohttpd in its external mode: no thread of its own. Its epoll
 * descriptor is polled beside libcoap's in the server's I/O round
 * (ec_http_fd), and ec_http_run() answers what is ready, on the I/O thread.
 * So a handler may read the server's state and the store as any CoAP
 * handler does, and no lock is needed; an answer costs the I/O loop its
 * rendering (a /metrics scrape is a few tens of microseconds). The
 * dashboard's reads (/api/...) are the fleet's bounded, indexed store
 * reads; its event stream (/api/events) is fed by the server's report
 * listener (context.h's on_report) from a fixed ring, and a stream with
 * nothing to send is suspended, not polled (server/http/events.c).
 *
 * Bound to a loopback address, every local process may read it. Bound to
 * any other address, every request must carry `Authorization: Bearer
 * TOKEN`, a provisioning session token (API.md section 4, `edgecoap-client
 * login`) of an account whose role is operator or admin; tokens are stored
 * as SHA-256 digests (server/auth/auth.h). Such a server refuses to start
 * while the store has no such account.
 */

/* The default: loopback only, one port below CoAP's. */
#define EC_HTTP_DEFAULT "127.0.0.1:5680"

typedef struct ec_http ec_http_t;

/**
 * Parse "ADDR:PORT" or "[IPv6]:PORT" (numeric address, port 1..65535).
 * @param[out] sa  the address; @p len its length
 * @return 0, or EC_EINVAL
 */
int ec_http_parse_addr(const char *s, struct sockaddr_storage *sa,
                       socklen_t *len);

/**
 * Listen on srv->cfg.http_addr (NULL: off, *out NULL and 0 returned).
 * An address in use is EC_EADDRINUSE when cfg.http_explicit, and a logged
 * warning and no HTTP endpoint (*out NULL, 0 returned) for the default.
 * Beyond loopback without an operator or admin account: EC_EINVAL, logged.
 * @return 0, EC_EINVAL, EC_EADDRINUSE, EC_EIO or EC_ENOMEM
 */
int ec_http_start(ec_server_t *srv, ec_http_t **out);

/** The descriptor to poll for reading, or -1 (NULL @p h: off). */
int ec_http_fd(const ec_http_t *h);

/** Answer what is ready, without waiting; NULL is a no-op. */
void ec_http_run(ec_http_t *h);

/** Once per I/O round, after the round's commit: wake the event streams
 * that have reports or a keep-alive to send; NULL is a no-op. */
void ec_http_poll(ec_http_t *h);

/** Milliseconds until ec_http_poll() has a keep-alive to send, or -1. */
int ec_http_next_ms(const ec_http_t *h);

/** Stop listening and release; NULL is a no-op. */
void ec_http_stop(ec_http_t *h);

#endif /* EDGECOAP_HTTP_H */
