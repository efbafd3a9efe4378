/* edgecoap server: start-up checks: UDP ports checked free and kept from being shared. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "startup.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "edgecoap/error.h"
#include "log.h"

void ec_port_seal(unsigned port) {
  /* libcoap 4.3.1 does not hand out its endpoints' descriptors: find the
   * UDP sockets bound to the port among this process's descriptors. */
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536)
    max = 65536;
  for (int fd = 0; fd < max; fd++) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int type = 0, off = 0;
    socklen_t tlen = sizeof(type);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 ||
        type != SOCK_DGRAM)
      continue;
    unsigned p = ss.ss_family == AF_INET
                     ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                 : ss.ss_family == AF_INET6
                     ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                     : 0;
    if (p == port)
      (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &off, sizeof(off));
  }
}

int ec_port_check(const coap_address_t *addr, const char *what,
                  const char *host, unsigned port) {
  int fd = socket(addr->addr.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ec_log(EC_LOG_ERROR, "cannot open a UDP socket: %s", strerror(errno));
    return EC_EIO;
  }
  /* Dual-stack, as libcoap binds "::": then an IPv4 listener on the port
   * counts too. */
  if (addr->addr.sa.sa_family == AF_INET6) {
    int off = 0;
    (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
  }
  int rc = 0;
  if (bind(fd, &addr->addr.sa, addr->size) < 0) {
    if (errno == EADDRINUSE) {
      ec_log(EC_LOG_ERROR, "cannot listen on %s[%s]:%u: the address and port "
             "are in use (another server runs there?)", what, host, port);
      rc = EC_EADDRINUSE;
    } else {
      ec_log(EC_LOG_ERROR, "cannot listen on %s[%s]:%u: %s", what, host, port,
             strerror(errno));
      rc = EC_EIO;
    }
  }
  close(fd);
  return rc;
}
