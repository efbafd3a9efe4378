/* edgecoap device core's POSIX port: the transport over one UDP socket. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_DEVICE_POSIX_H
#define EDGECOAP_DEVICE_POSIX_H

/*
 * device/posix/udp.c: all the port does is move datagrams and tell the
 * time, so the core (edgecoap/device.h) runs on Linux and the BSDs as it
 * does on a microcontroller. It allocates nothing after ec_dev_udp_open().
 * device/posix/slots.c keeps the outbox's slots in files.
 */

#include "edgecoap/device.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One UDP socket connected to the server. */
typedef struct {
  int fd;                        /**< -1 when closed */
  ec_dev_transport_t transport;  /**< pass &transport to ec_dev_init() */
  /** Set when the kernel said that nothing listens at the server's port
   * (an ICMP port unreachable, ECONNREFUSED on a send or a receive); the
   * core takes it as loss and retransmits, the caller may clear it and
   * give up sooner. */
  bool refused;
  /** Optional: called with each CoAP datagram received (after DTLS)
   * before the core steps it, e.g. to trace it; NULL for none. */
  void (*on_recv)(void *ctx, const uint8_t *dgram, size_t len);
  void *on_recv_ctx;
} ec_dev_udp_t;

/**
 * Open a UDP socket connected to @p host (an IPv4 or IPv6 literal, or a
 * name looked up once, here) and @p port, and fill @p u->transport.
 * @return 0, or EC_EINVAL (unknown host) / EC_EIO
 */
int ec_dev_udp_open(ec_dev_udp_t *u, const char *host, uint16_t port);

/** Close the socket; safe to call twice. */
void ec_dev_udp_close(ec_dev_udp_t *u);

/**
 * Wait at most @p wait_ms for one datagram (into @p rx, the caller's
 * buffer of @p cap bytes), then run ec_dev_step() with it or without.
 * @return what ec_dev_step() returned: how long the caller may wait next
 */
uint32_t ec_dev_udp_poll(ec_dev_udp_t *u, ec_dev_t *dev, uint32_t wait_ms,
                         uint8_t *rx, size_t cap);

/**
 * The outbox's slots (ec_dev_storage_t) as files in a folder of their own,
 * slot-0, slot-1, ...: a write goes to slot-N.new, is fsynced and renamed
 * over slot-N, and the folder fsynced, so a slot holds its old record or
 * its new one whole whenever the process or the machine stops. It
 * allocates nothing.
 */
typedef struct {
  int dirfd;                /**< -1 when closed */
  ec_dev_storage_t storage; /**< pass &storage to ec_dev_outbox_init() */
} ec_dev_file_slots_t;

/**
 * Open (and make, if missing) @p dir for @p n_slots slots of @p slot_size
 * bytes, and fill @p fs->storage.
 * @return 0, or EC_EINVAL / EC_EIO
 */
int ec_dev_file_slots_open(ec_dev_file_slots_t *fs, const char *dir,
                           unsigned n_slots, size_t slot_size);

/** Close the folder; safe to call twice. */
void ec_dev_file_slots_close(ec_dev_file_slots_t *fs);

#ifdef __cplusplus
}
#endif
#endif /* EDGECOAP_DEVICE_POSIX_H */
