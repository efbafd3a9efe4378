/* edgecoap tests: a device core's UDP port that loses its first sends. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_ITLOSSY_H
#define EDGECOAP_ITLOSSY_H

#include <stdint.h>

#include "edgecoap/device_posix.h"

/*
 * The POSIX port (device/posix/udp.c) with a transport in front of it that
 * drops the next `drop` datagrams the core sends, as a lossy link would,
 * and counts every send. Give the core `&l->transport` (ec_dev_init()); the
 * struct must stay where it is while the core uses it.
 */
typedef struct {
  ec_dev_udp_t udp;
  ec_dev_transport_t transport; /* the port's, dropping sends */
  int drop;                     /* sends still to drop */
  int sends;                    /* sends the core made, lost ones too */
} it_lossy_t;

/** Open the port to 127.0.0.1:@p port, dropping the first @p drop sends.
 * @return 0, or < 0 (nothing to close) */
int it_lossy_open(it_lossy_t *l, uint16_t port, int drop);

#endif /* EDGECOAP_ITLOSSY_H */
