/* edgecoap device core's POSIX port: DTLS 1.2 with a pre-shared key (OpenSSL), over an ec_dev_udp_t. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_DEVICE_DTLS_H
#define EDGECOAP_DEVICE_DTLS_H

/*
 * device/posix/dtls.c (CMake target edgecoap::device_dtls, which links
 * OpenSSL's libssl): coaps:// for the core on Linux. It takes over the
 * transport of an open ec_dev_udp_t, so that send() encrypts and
 * ec_dev_udp_poll() decrypts each record through the transport's
 * dtls_recv hook before the core sees it. OpenSSL allocates; the plain UDP
 * port does not, and a device program that does not link this file keeps
 * its 0 allocations.
 */

#include <stdbool.h>

#include "edgecoap/device_posix.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EC_DEV_DTLS_MAX_IDENTITY 128 /**< bytes of a PSK identity (the server's cap) */
#define EC_DEV_DTLS_MAX_KEY 64       /**< bytes of a pre-shared key */

typedef struct ec_dev_dtls ec_dev_dtls_t;

/**
 * Set up DTLS PSK on @p u (open, and outliving the result): identity and
 * key are copied (the copy of the key is wiped when freed). Nothing is sent
 * until ec_dev_dtls_handshake().
 * @return 0, EC_EINVAL (an identity of 0 or more than 128 bytes, a key of
 *         0 or more than 64), EC_ENOMEM or EC_EIO (OpenSSL refused)
 */
int ec_dev_dtls_new(ec_dev_udp_t *u, const char *identity, const uint8_t *key,
                    size_t key_len, ec_dev_dtls_t **out);

/**
 * Run a handshake unless a session is up, waiting at most @p timeout_ms
 * (OpenSSL retransmits its flights meanwhile). Blocking: call it before
 * starting exchanges, and again after ec_dev_dtls_up() turned false.
 *
 * The port also makes a new session by itself, blocking as long as this
 * call's last @p timeout_ms, when the core sends a confirmable request
 * for the last time (its EC_DEV_MAX_RETRANSMIT-th retransmission) and
 * nothing came from the server since its first transmission: the server
 * no longer knows the session (behind nginx, whose UDP session ended,
 * the records reach it from a new port, where it holds none, and are
 * dropped without an alert: docs/CLUSTER.md). The old session is ended
 * with a close_notify and that transmission goes out on the new one, with
 * the request's Message ID and Request-Id as before. When that handshake
 * fails, ec_dev_dtls_up() is false, as after an alert.
 * @return 0, EC_EHANDSHAKE (an alert: an unknown identity or a wrong key;
 *         or no answer in time), EC_ECONNREFUSED (an ICMP port unreachable:
 *         nothing listens there), EC_ENOMEM
 */
int ec_dev_dtls_handshake(ec_dev_dtls_t *d, uint32_t timeout_ms);

/** True while a handshake has completed and no alert ended the session. */
bool ec_dev_dtls_up(const ec_dev_dtls_t *d);

/**
 * End the session (a close_notify when it is up): ec_dev_dtls_up() turns
 * false, and the next ec_dev_dtls_handshake() makes a new one. NULL is a
 * no-op.
 */
void ec_dev_dtls_drop(ec_dev_dtls_t *d);

/** Send a close_notify, give @p u its plain transport back and free; NULL is a no-op. */
void ec_dev_dtls_free(ec_dev_dtls_t *d);

#ifdef __cplusplus
}
#endif
#endif /* EDGECOAP_DEVICE_DTLS_H */
