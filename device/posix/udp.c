/* edgecoap device core's POSIX port: datagrams over a connected UDP socket, a monotonic clock, getrandom(). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "edgecoap/device_posix.h"

static int udp_send(void *ctx, const uint8_t *d, size_t len) {
  ec_dev_udp_t *u = ctx;
  if (send(u->fd, d, len, 0) == (ssize_t)len) {
    return 0;
  }
  /* An ICMP error from an earlier datagram (nobody listening: the server
   * restarting) is reported on this call; to the core it is one more lost
   * datagram, which it retransmits. */
  if (errno == ECONNREFUSED) {
    u->refused = true;
  }
  return errno == ECONNREFUSED || errno == EAGAIN || errno == ENOBUFS ? 0 : -1;
}

static uint32_t udp_now(void *ctx) {
  (void)ctx;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static void udp_random(void *ctx, void *buf, size_t len) {
  (void)ctx;
  uint8_t *p = buf;
  while (len > 0) {
    ssize_t n = getrandom(p, len, 0);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) {
        continue;
      }
      /* No kernel randomness: the clock is a poor but harmless source for
       * Message IDs, tokens and jitter (nothing secret depends on them). */
      uint32_t t = udp_now(NULL);
      for (; len > 0; len--) {
        *p++ = (uint8_t)((t = t * 1103515245u + 12345u) >> 16);
      }
      return;
    }
    p += n;
    len -= (size_t)n;
  }
}

static int connect_to(ec_dev_udp_t *u, const struct sockaddr *a,
                      socklen_t alen) {
  u->fd = socket(a->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (u->fd < 0) {
    return EC_EIO;
  }
  if (connect(u->fd, a, alen) < 0) {
    close(u->fd);
    u->fd = -1;
    return EC_EIO;
  }
  return 0;
}

int ec_dev_udp_open(ec_dev_udp_t *u, const char *host, uint16_t port) {
  if (u == NULL || host == NULL) {
    return EC_EINVAL;
  }
  memset(u, 0, sizeof *u);
  u->fd = -1;
  u->transport = (ec_dev_transport_t){udp_send, udp_now, udp_random, NULL, u};
  struct sockaddr_in a4;
  struct sockaddr_in6 a6;
  memset(&a4, 0, sizeof a4);
  memset(&a6, 0, sizeof a6);
  if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
    a4.sin_family = AF_INET;
    a4.sin_port = htons(port);
    return connect_to(u, (struct sockaddr *)&a4, sizeof a4);
  }
  if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons(port);
    return connect_to(u, (struct sockaddr *)&a6, sizeof a6);
  }
  /* A name: looked up once, at start-up, the only time the port allocates. */
  char service[8];
  snprintf(service, sizeof service, "%u", (unsigned)port);
  struct addrinfo hints;
  struct addrinfo *res;
  memset(&hints, 0, sizeof hints);
  hints.ai_socktype = SOCK_DGRAM;
  if (getaddrinfo(host, service, &hints, &res) != 0) {
    return EC_EINVAL;
  }
  int rc = EC_EIO;
  for (struct addrinfo *ai = res; ai != NULL && rc < 0; ai = ai->ai_next) {
    rc = connect_to(u, ai->ai_addr, ai->ai_addrlen);
  }
  freeaddrinfo(res);
  return rc;
}

void ec_dev_udp_close(ec_dev_udp_t *u) {
  if (u != NULL && u->fd >= 0) {
    close(u->fd);
    u->fd = -1;
  }
}

/* Step the core with a received CoAP datagram. */
static uint32_t step_with(ec_dev_udp_t *u, ec_dev_t *dev, const uint8_t *d,
                          size_t len) {
  if (u->on_recv != NULL) {
    u->on_recv(u->on_recv_ctx, d, len);
  }
  return ec_dev_step(dev, udp_now(NULL), d, len);
}

uint32_t ec_dev_udp_poll(ec_dev_udp_t *u, ec_dev_t *dev, uint32_t wait_ms,
                         uint8_t *rx, size_t cap) {
  struct pollfd p = {u->fd, POLLIN, 0};
  int ms = wait_ms > 60000u ? 60000 : (int)wait_ms;
  if (poll(&p, 1, ms) > 0) {
    ssize_t n = recv(u->fd, rx, cap, MSG_DONTWAIT);
    const ec_dev_transport_t *t = &u->transport;
    if (n < 0 && errno == ECONNREFUSED) {
      u->refused = true; /* the ICMP error of a datagram sent before */
    } else if (n > 0 && t->dtls_recv != NULL) {
      /* A DTLS record (device/posix/dtls.c): the datagram it carries, or
       * none (a handshake or alert record, one that does not decrypt). */
      const uint8_t *d = NULL;
      int m = t->dtls_recv(t->ctx, rx, (size_t)n, NULL, 0, &d);
      if (m > 0 && d != NULL) {
        return step_with(u, dev, d, (size_t)m);
      }
    } else if (n > 0) {
      return step_with(u, dev, rx, (size_t)n);
    }
  }
  return ec_dev_step(dev, udp_now(NULL), NULL, 0);
}
