/* edgecoap server: the operators' HTTP endpoint: the daemon in the I/O loop, paths, credentials, answers. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "log.h"
#include "res_provisioning.h"

/* Connections open at once, and seconds an idle one is kept: a scraper
 * and a few people's browsers, not a public web server. */
#define HTTP_CONNECTIONS 64
#define HTTP_TIMEOUT_S 15

int ec_http_parse_addr(const char *s, struct sockaddr_storage *sa,
                       socklen_t *len) {
  char host[64];
  const char *port;
  if (s == NULL || sa == NULL || len == NULL)
    return EC_EINVAL;
  if (s[0] == '[') {
    const char *end = strchr(s, ']');
    if (end == NULL || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
      return EC_EINVAL;
    memcpy(host, s + 1, (size_t)(end - s - 1));
    host[end - s - 1] = '\0';
    port = end + 2;
  } else {
    const char *colon = strrchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= sizeof(host) ||
        memchr(s, ':', (size_t)(colon - s)) != NULL)
      return EC_EINVAL; /* an IPv6 address goes in brackets */
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = colon + 1;
  }
  char *end;
  unsigned long p = strtoul(port, &end, 10);
  if (port[0] < '0' || port[0] > '9' || *end != '\0' || p == 0 || p > 65535)
    return EC_EINVAL;
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
  if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL)
    return EC_EINVAL;
  memset(sa, 0, sizeof(*sa));
  memcpy(sa, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

/* True for 127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/8. */
static bool is_loopback(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a) ||
           (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
  }
  return false;
}

/* ---- answers ------------------------------------------------------------ */

enum MHD_Result ec__http_answer(struct MHD_Connection *c, unsigned status,
                                const char *type, char *body, size_t len,
                                enum MHD_ResponseMemoryMode mode) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
  if (r == NULL) {
    if (mode == MHD_RESPMEM_MUST_FREE)
      free(body);
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  if (status == MHD_HTTP_UNAUTHORIZED)
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                            "Bearer realm=\"edgecoap\"");
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
    MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "5");
  enum MHD_Result rc = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return rc;
}

enum MHD_Result ec__http_text(struct MHD_Connection *c, unsigned status,
                              const char *msg) {
  return ec__http_answer(c, status, "text/plain; charset=utf-8", (char *)msg,
                         strlen(msg), MHD_RESPMEM_PERSISTENT);
}

enum MHD_Result ec__http_json(struct MHD_Connection *c, unsigned status,
                              char *body, size_t len) {
  return ec__http_answer(c, status, "application/json", body, len,
                         MHD_RESPMEM_MUST_FREE);
}

enum MHD_Result ec__http_problem(struct MHD_Connection *c, unsigned status,
                                 const char *code, const char *fmt, ...) {
  char detail[384], *body = malloc(512);
  va_list ap;
  if (body == NULL)
    return ec__http_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
  va_start(ap, fmt);
  vsnprintf(detail, sizeof(detail), fmt, ap);
  va_end(ap);
  /* The details are the server's own words, but may quote a query value:
   * anything that would need escaping in JSON is left out. */
  for (char *p = detail; *p != '\0'; p++)
    if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
      *p = '?';
  int n =
      snprintf(body, 512, "{\"error\":\"%s\",\"detail\":\"%s\"}", code, detail);
  return ec__http_json(c, status, body, n < 512 ? (size_t)n : 511);
}

void ec__http_time(int64_t ms, char out[32]) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (ms < 0 || gmtime_r(&t, &tm) == NULL) {
    snprintf(out, 32, "1970-01-01T00:00:00.000Z");
    return;
  }
  size_t n = strftime(out, 24, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, 32 - n, ".%03uZ", (unsigned)(ms % 1000));
}

/* The gauges that are read, not counted: set just before a scrape. */
static void sample(ec_http_t *h) {
  int64_t bytes;
  if (ec_store_size(h->srv->store, &bytes) == 0)
    ec_metrics_set(h->srv->metrics, EC_M_DB_BYTES, bytes);
}

static enum MHD_Result serve_metrics(ec_http_t *h, struct MHD_Connection *c) {
  sample(h);
  size_t n = ec_metrics_render(h->srv->metrics, NULL, 0);
  char *buf = malloc(n + 1);
  if (buf == NULL)
    return ec__http_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
  n = ec_metrics_render(h->srv->metrics, buf, n);
  return ec__http_answer(c, MHD_HTTP_OK,
                         "text/plain; version=0.0.4; charset=utf-8", buf, n,
                         MHD_RESPMEM_MUST_FREE);
}

/* Ready when the store answers a read and a write commits. Writes of the
 * round that wait in an open batch are committed first: the check is no
 * write of theirs to nest in. */
static enum MHD_Result serve_ready(ec_http_t *h, struct MHD_Connection *c) {
  ec_batch_commit(h->srv);
  int64_t bytes;
  if (ec_store_size(h->srv->store, &bytes) < 0)
    return ec__http_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                         "not ready: the store does not answer a read\n");
  if (ec_store_ping(h->srv->store) < 0)
    return ec__http_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                         "not ready: a write to the store does not commit\n");
  return ec__http_text(c, MHD_HTTP_OK, "ready\n");
}

static const char *peer_name(struct MHD_Connection *c, char *buf, size_t cap) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  snprintf(buf, cap, "?");
  if (ci != NULL && ci->client_addr != NULL)
    (void)getnameinfo(ci->client_addr,
                      ci->client_addr->sa_family == AF_INET6
                          ? sizeof(struct sockaddr_in6)
                          : sizeof(struct sockaddr_in),
                      buf, (socklen_t)cap, NULL, 0, NI_NUMERICHOST);
  return buf;
}

/* Beyond loopback: a bearer token of an operator or admin account. */
static bool authorized(ec_http_t *h, struct MHD_Connection *c) {
  if (!h->need_auth)
    return true;
  const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                              MHD_HTTP_HEADER_AUTHORIZATION);
  /* A browser's EventSource cannot send a header: the dashboard keeps the
   * token in a cookie of the same name (page.c's sign-in). */
  const char *cookie =
      MHD_lookup_connection_value(c, MHD_COOKIE_KIND, EC_HTTP_TOKEN_COOKIE);
  if (v == NULL && cookie == NULL)
    return false;
  char who[64];
  int rc = EC_ENOTFOUND;
  const char *t = NULL;
  if (v != NULL && strncasecmp(v, "Bearer ", 7) == 0)
    t = v + 7;
  else if (v == NULL)
    t = cookie;
  if (t != NULL) {
    while (*t == ' ')
      t++;
    size_t len = strlen(t);
    while (len > 0 && t[len - 1] == ' ')
      len--;
    rc = ec_provisioning_check_operator(h->srv, t, len);
  }
  if (rc == 0)
    return true;
  ec_metrics_add(h->srv->metrics, EC_M_LOGIN_FAILED_HTTP, 1);
  ec_log(EC_LOG_INFO, "http: %s: credentials refused (%s)",
         peer_name(c, who, sizeof(who)),
         rc == EC_ESTORE ? "the store failed"
                         : "not the token of an operator or admin");
  return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls) {
  ec_http_t *h = cls;
  (void)version;
  (void)upload;
  (void)upload_size;
  (void)req_cls;
  if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
      strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
    return ec__http_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
  enum MHD_Result rc;
  if (!authorized(h, c)) {
    /* The page's sign-in form asks a browser for the token. */
    if (ec__http_page_signin(c, url, &rc))
      return rc;
    return ec__http_text(
        c, MHD_HTTP_UNAUTHORIZED,
        "this endpoint listens beyond loopback: send "
        "'Authorization: Bearer TOKEN', the token of an operator "
        "or admin account (edgecoap-client login USER)\n");
  }
  if (strcmp(url, "/metrics") == 0)
    return serve_metrics(h, c);
  if (strcmp(url, "/healthz") == 0)
    return ec__http_text(c, MHD_HTTP_OK, "ok\n");
  if (strcmp(url, "/readyz") == 0)
    return serve_ready(h, c);
  if (strcmp(url, "/api/events") == 0)
    return ec__http_events_serve(h, c);
  if (strncmp(url, "/api/", 5) == 0)
    return ec__http_api(h, c, url);
  if (ec__http_page(h, c, url, &rc))
    return rc;
  return ec__http_text(
      c, MHD_HTTP_NOT_FOUND,
      "not found: / (the dashboard), /api/..., /metrics, /healthz "
      "and /readyz are served\n");
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  char msg[256];
  (void)cls;
  vsnprintf(msg, sizeof(msg), fmt, ap);
  size_t n = strlen(msg);
  while (n > 0 && msg[n - 1] == '\n')
    msg[--n] = '\0';
  ec_log(EC_LOG_DEBUG, "http: libmicrohttpd: %s", msg);
}

/* The listening socket is made here, not by libmicrohttpd, so that an
 * address in use is told apart from other failures. */
static int listen_on(const struct sockaddr_storage *sa, socklen_t len,
                     int *out) {
  int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return EC_EIO;
  int one = 1;
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (sa->ss_family == AF_INET6)
    (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd, (const struct sockaddr *)sa, len) < 0 || listen(fd, 32) < 0) {
    int e = errno;
    close(fd);
    return e == EADDRINUSE ? EC_EADDRINUSE : EC_EIO;
  }
  *out = fd;
  return 0;
}

int ec_http_start(ec_server_t *srv, ec_http_t **out) {
  const ec_server_config_t *cfg = &srv->cfg;
  struct sockaddr_storage sa;
  socklen_t len;
  int fd = -1;

  *out = NULL;
  if (cfg->http_addr == NULL)
    return 0;
  if (ec_http_parse_addr(cfg->http_addr, &sa, &len) < 0) {
    ec_log(EC_LOG_ERROR,
           "--http %s: not ADDR:PORT with a numeric address "
           "([ADDR]:PORT for IPv6), nor 'off'",
           cfg->http_addr);
    return EC_EINVAL;
  }
  bool need_auth = !is_loopback((const struct sockaddr *)&sa);
  if (need_auth && !ec_provisioning_has_operator(srv)) {
    ec_log(EC_LOG_ERROR,
           "--http %s listens beyond loopback, where every "
           "request needs an operator's credentials, and the store has no "
           "account with role operator or admin: add one ('admin user-add "
           "--username U --role operator'), or listen on 127.0.0.1",
           cfg->http_addr);
    return EC_EINVAL;
  }
  if (coap_context_get_coap_fd(srv->ctx) < 0) {
    ec_log(EC_LOG_ERROR, "--http needs a libcoap built with epoll");
    return EC_EINVAL;
  }
  int rc = listen_on(&sa, len, &fd);
  if (rc == EC_EADDRINUSE && !cfg->http_explicit) {
    ec_log(EC_LOG_WARN,
           "http://%s is in use (another server on this "
           "host?): serving without the HTTP endpoint; give --http ADDR:PORT "
           "or --http off",
           cfg->http_addr);
    return 0;
  }
  if (rc < 0) {
    ec_log(EC_LOG_ERROR, "cannot listen on TCP %s for HTTP (%s)",
           cfg->http_addr,
           rc == EC_EADDRINUSE ? "in use"
                               : "not an address "
                                 "of this host?");
    return rc;
  }
  ec_http_t *h = calloc(1, sizeof(*h));
  if (h == NULL) {
    close(fd);
    return EC_ENOMEM;
  }
  h->srv = srv;
  h->need_auth = need_auth;
  snprintf(h->where, sizeof(h->where), "%s", cfg->http_addr);
  if (ec__http_events_new(h) < 0) {
    close(fd);
    free(h);
    return EC_ENOMEM;
  }
  /* Suspend and resume: an event stream with nothing to send waits
   * without being polled (events.c). */
  unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
  if (sa.ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  h->daemon = MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
      NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)HTTP_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
      (unsigned)HTTP_TIMEOUT_S, MHD_OPTION_END);
  const union MHD_DaemonInfo *di =
      h->daemon ? MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_EPOLL_FD)
                : NULL;
  if (di == NULL) {
    ec_log(EC_LOG_ERROR, "cannot start the HTTP endpoint on %s",
           cfg->http_addr);
    if (h->daemon != NULL)
      MHD_stop_daemon(h->daemon);
    else
      close(fd);
    ec__http_events_free(h);
    free(h);
    return EC_EIO;
  }
  h->epoll_fd = di->epoll_fd;
  ec_log(EC_LOG_INFO,
         "listening on http://%s (the dashboard at /, /api, "
         "/metrics, /healthz, /readyz; %s)",
         cfg->http_addr,
         need_auth ? "beyond loopback: operators' bearer tokens required"
                   : "loopback: no credentials asked");
  *out = h;
  return 0;
}

int ec_http_fd(const ec_http_t *h) {
  return h != NULL ? h->epoll_fd : -1;
}

void ec_http_run(ec_http_t *h) {
  if (h != NULL)
    (void)MHD_run(h->daemon);
}

void ec_http_poll(ec_http_t *h) {
  /* A resumed stream is written by the next MHD_run(): run it now rather
   * than wait for the round after. */
  if (h != NULL && ec__http_events_poll(h))
    (void)MHD_run(h->daemon);
}

int ec_http_next_ms(const ec_http_t *h) {
  if (h == NULL)
    return -1;
  int due = ec__http_events_next_ms(h);
  /* libmicrohttpd's own: 0 while resumed connections wait to be served
   * (its epoll set reports a socket once, and one resumed was writable
   * all along), else its connections' timeouts. */
  MHD_UNSIGNED_LONG_LONG t;
  if (MHD_get_timeout(h->daemon, &t) == MHD_YES &&
      (due < 0 || t < (MHD_UNSIGNED_LONG_LONG)due))
    due = t > 1000 ? 1000 : (int)t;
  return due;
}

void ec_http_stop(ec_http_t *h) {
  if (h == NULL)
    return;
  ec__http_events_close(h);
  MHD_stop_daemon(h->daemon); /* closes the listening socket too */
  ec__http_events_free(h);
  free(h);
}
