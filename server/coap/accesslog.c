/* edgecoap server: the access log: one line per answered request, errors rate-limited per peer. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "accesslog.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "request.h"
#include "screen.h"
#include "util.h"

/* A token bucket: @p tokens lines may go now; one more each interval. */
typedef struct {
  unsigned tokens;
  uint64_t at_ms; /* when the last token was added (monotonic) */
} bucket_t;

/* A peer address (its port left out) and its bucket. */
typedef struct {
  bool used;
  uint8_t family; /* AF_INET or AF_INET6 */
  uint8_t addr[16];
  bucket_t bucket;
  uint64_t suppressed; /* error lines left out since it last logged */
} slot_t;

/* The options that gave the last path shown, and the text they gave
 * (ec_accesslog_request): the options from the first to the end of the
 * last Uri-Path or Uri-Query decide the text alone, so a request whose
 * options start with the same bytes, and have no Uri-Path or Uri-Query
 * after them, shows the same text without its being written again. */
#define PATH_KEY_MAX 256

typedef struct {
  uint8_t key[PATH_KEY_MAX];
  size_t key_len;      /* 0: nothing kept */
  unsigned key_number; /* the number of the key's last option */
  char text[EC_ACCESSLOG_PATH_MAX];
  size_t text_len;
  bool plain;          /* no '=' in it: a text line shows it unquoted */
} path_cache_t;

struct ec_accesslog {
  bool on;
  path_cache_t path;
  bucket_t all;
  uint64_t others; /* suppressed lines of peers whose slot was taken */
  uint64_t next_tick_ms;
  slot_t slots[EC_ACCESSLOG_SLOTS];
};

/* A peer as written, at most (a path and its query: EC_ACCESSLOG_PATH_MAX,
 * longer ones cut with "..."): a line stays far below the log's limit. */
#define PEER_MAX_SHOWN 64
#define IDENTITY_MAX_SHOWN 129

static void refill(bucket_t *b, unsigned burst, unsigned every_ms,
                   uint64_t now) {
  uint64_t add = (now - b->at_ms) / every_ms;
  if (add == 0)
    return;
  b->tokens = b->tokens + add >= burst ? burst : b->tokens + (unsigned)add;
  b->at_ms = b->tokens == burst ? now : b->at_ms + add * every_ms;
}

int ec_accesslog_new(ec_server_t *srv, bool on) {
  ec_accesslog_t *a = calloc(1, sizeof(*a));
  if (a == NULL)
    return EC_ENOMEM;
  a->on = on && ec_log_get_level() >= EC_LOG_INFO;
  a->all.tokens = EC_ACCESSLOG_ALL_BURST;
  a->all.at_ms = ec_mono_ms();
  srv->accesslog = a;
  return 0;
}

/* The address of @p sa, an IPv4-mapped one as IPv4, into @p s (its bytes)
 * and @p out (as written, with the port when @p port). */
/* Write @p v in decimal at @p out (no terminator); its length. */
static size_t put_decimal(char *out, unsigned v) {
  char d[10];
  size_t n = 0, k = 0;
  do {
    d[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v > 0);
  while (n > 0)
    out[k++] = d[--n];
  return k;
}

static size_t address_of(const struct sockaddr *sa, slot_t *s, char *out,
                         size_t cap) {
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  memset(s, 0, sizeof(*s));
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    port = ntohs(in6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      s->family = AF_INET;
      memcpy(s->addr, in6->sin6_addr.s6_addr + 12, 4);
    } else {
      s->family = AF_INET6;
      memcpy(s->addr, in6->sin6_addr.s6_addr, 16);
    }
  } else if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    port = ntohs(in->sin_port);
    s->family = AF_INET;
    memcpy(s->addr, &in->sin_addr, 4);
  }
  if (out == NULL)
    return 0;
  if (s->family == AF_INET && cap >= sizeof("255.255.255.255:65535")) {
    /* The common case by hand: inet_ntop and snprintf were a good part of
     * an access line's cost. */
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
      n += put_decimal(out + n, s->addr[i]);
      out[n++] = i < 3 ? '.' : ':';
    }
    if (port == 0)
      n--;
    else
      n += put_decimal(out + n, port);
    out[n] = '\0';
    return n;
  }
  if (s->family != 0)
    inet_ntop(s->family, s->addr, host, sizeof(host));
  if (port == 0)
    snprintf(out, cap, "%s", host);
  else if (s->family == AF_INET6)
    snprintf(out, cap, "[%s]:%u", host, port);
  else
    snprintf(out, cap, "%s:%u", host, port);
  return strlen(out);
}

static void address_shown(const slot_t *s, char *out, size_t cap) {
  if (s->family == 0 || inet_ntop(s->family, s->addr, out, (socklen_t)cap) ==
                            NULL)
    snprintf(out, cap, "?");
}

static void say_suppressed(const char *who, uint64_t n) {
  ec_log_field_t f[] = {{"peer", who, 0}, {"lines", NULL, (long long)n}};
  char msg[96];
  snprintf(msg, sizeof(msg), "access: suppressed %llu lines from %s",
           (unsigned long long)n, who);
  /* The count in a field of its own too, for a shipper to add up. */
  ec_log_fields(EC_LOG_INFO, msg, f, 2);
}

static void slot_summary(slot_t *s) {
  char who[INET6_ADDRSTRLEN];
  address_shown(s, who, sizeof(who));
  say_suppressed(who, s->suppressed);
  s->suppressed = 0;
}

/* The slot of @p key's address, taken over when another holds it. */
static slot_t *slot_for(ec_accesslog_t *a, const slot_t *key, uint64_t now) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < sizeof(key->addr); i++)
    h = (h ^ key->addr[i]) * 16777619u;
  slot_t *s = &a->slots[h % EC_ACCESSLOG_SLOTS];
  if (s->used && s->family == key->family &&
      memcmp(s->addr, key->addr, sizeof(s->addr)) == 0)
    return s;
  a->others += s->suppressed;
  *s = *key;
  s->used = true;
  s->bucket.tokens = EC_ACCESSLOG_BURST;
  s->bucket.at_ms = now;
  return s;
}

/* May an error answer to @p key's address be logged? Says what was
 * suppressed first when it may. */
static bool error_ok(ec_server_t *srv, const slot_t *key) {
  ec_accesslog_t *a = srv->accesslog;
  uint64_t now = ec_mono_ms();
  refill(&a->all, EC_ACCESSLOG_ALL_BURST, 1000 / EC_ACCESSLOG_ALL_PER_S, now);
  slot_t *s = slot_for(a, key, now);
  refill(&s->bucket, EC_ACCESSLOG_BURST, EC_ACCESSLOG_REFILL_MS, now);
  if (s->bucket.tokens > 0 && a->all.tokens > 0 && s->suppressed > 0) {
    slot_summary(s);
    a->all.tokens--;
  }
  if (s->bucket.tokens == 0 || a->all.tokens == 0) {
    s->suppressed++;
    ec_metrics_add(srv->metrics, EC_M_LOG_SUPPRESSED, 1);
    return false;
  }
  s->bucket.tokens--;
  a->all.tokens--;
  return true;
}

static const char *method_name(unsigned m, char out[8]) {
  static const char *const names[] = {NULL,     "GET",   "POST", "PUT",
                                      "DELETE", "FETCH", "PATCH", "iPATCH"};
  if (m < sizeof(names) / sizeof(names[0]) && names[m] != NULL)
    return names[m];
  snprintf(out, 8, "%u.%02u", (m >> 5) & 7, m & 31);
  return out;
}

/* Percent-encode @p len bytes of an option into @p out at @p *n: what a
 * URI would not show as it is, and the separators the path is joined with. */
/* Which bytes a path shows as they are (put_encoded): 1, unreserved and
 * sub-delims, ':' and '@' (RFC 3986); 2, '/' and '?', in a query only. */
static const uint8_t shown_as_is[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 2,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static void put_encoded(char *out, size_t cap, size_t *n, const uint8_t *v,
                        size_t len, bool query) {
  static const char hex[] = "0123456789ABCDEF";
  size_t k = *n;
  size_t i = 0;
  /* Room for every byte encoded: no bound to check per byte. */
  if (len < cap && k + 3 * len + 4 < cap) {
    unsigned shown = query ? 3 : 1; /* the classes shown as they are */
    while (i < len) {
      size_t run = i;
      /* Four bytes a step while all four are shown as they are (in a
       * query, a mix of the two classes goes on byte by byte). */
      while (run + 4 <= len &&
             (shown_as_is[v[run]] & shown_as_is[v[run + 1]] &
              shown_as_is[v[run + 2]] & shown_as_is[v[run + 3]] & shown) != 0)
        run += 4;
      while (run < len && (shown_as_is[v[run]] & shown) != 0)
        run++;
      memcpy(out + k, v + i, run - i); /* the usual: the whole value */
      k += run - i;
      if (run == len)
        break;
      uint8_t c = v[run];
      out[k++] = '%';
      out[k++] = hex[c >> 4];
      out[k++] = hex[c & 15];
      i = run + 1;
    }
    *n = k;
    return;
  }
  for (; i < len && k + 4 < cap; i++) {
    uint8_t c = v[i];
    if (shown_as_is[c] == 1 || (query && shown_as_is[c] == 2)) {
      out[k++] = (char)c;
    } else {
      out[k++] = '%';
      out[k++] = hex[c >> 4];
      out[k++] = hex[c & 15];
    }
  }
  *n = k;
}

/*
 * Write the path and query of the options @p it walks into @p out (@p cap
 * bytes, terminated); its length. *@p key: how many bytes from the first
 * option to the end of the last Uri-Path or Uri-Query, and *@p number that
 * option's number; 0 when there is none or the text was cut.
 */
static size_t render_path(ec_req_optw_t *it, char *out, size_t cap,
                          size_t *key, unsigned *number) {
  const coap_opt_t *opt;
  const uint8_t *value;
  size_t len;
  size_t n = 0;
  int queries = 0;
  *key = 0;
  *number = 0;
  while (ec_req_optw_next(it, &opt, &value, &len)) {
    if (it->number != COAP_OPTION_URI_PATH &&
        it->number != COAP_OPTION_URI_QUERY)
      continue;
    if (n + 8 >= cap) {
      memcpy(out + n, "...", 3);
      n += 3;
      *key = 0;
      break;
    }
    bool query = it->number == COAP_OPTION_URI_QUERY;
    if (query && n == 0)
      out[n++] = '/'; /* the root's query */
    out[n++] = query ? (queries++ == 0 ? '?' : '&') : '/';
    put_encoded(out, cap, &n, value, len, query);
    *key = (size_t)(value + len - it->start);
    *number = it->number;
  }
  if (n == 0)
    out[n++] = '/';
  out[n] = '\0';
  return n;
}

void ec_accesslog_path(const coap_pdu_t *request, char *out, size_t cap) {
  ec_req_optw_t it;
  size_t key;
  unsigned number;
  ec_req_optw_init(&it, request);
  render_path(&it, out, cap, &key, &number);
}

/* Does @p c hold the path of the options @p it is about to walk: they
 * start with its key, and no Uri-Path or Uri-Query follows the key? */
static bool path_kept(const path_cache_t *c, const ec_req_optw_t *it) {
  if (c->key_len == 0 || it->p == NULL ||
      (size_t)(it->end - it->p) < c->key_len ||
      memcmp(it->p, c->key, c->key_len) != 0)
    return false;
  ec_req_optw_t w = *it;
  const coap_opt_t *opt;
  const uint8_t *value;
  size_t len;
  w.p += c->key_len;
  w.number = c->key_number;
  /* Options come in number order: past Uri-Query, none can be either. */
  while (ec_req_optw_next(&w, &opt, &value, &len) &&
         w.number <= COAP_OPTION_URI_QUERY)
    if (w.number == COAP_OPTION_URI_PATH || w.number == COAP_OPTION_URI_QUERY)
      return false;
  return true;
}

/* The path of the options @p it walks (from the first) as a line shows
 * it, from the cache when it can. */
static const path_cache_t *path_of(ec_accesslog_t *a, ec_req_optw_t it) {
  path_cache_t *c = &a->path;
  if (path_kept(c, &it))
    return c;
  size_t key;
  c->text_len = render_path(&it, c->text, sizeof(c->text), &key,
                            &c->key_number);
  c->plain = memchr(c->text, '=', c->text_len) == NULL;
  c->key_len = key <= sizeof(c->key) ? key : 0;
  if (c->key_len > 0)
    memcpy(c->key, it.start, c->key_len);
  return c;
}

/*
 * One access line. The peer (@p peer_len bytes), method and code are
 * plain (log.h): digits, letters and ".:[]?"; so is the path when
 * @p path_len is not 0 (what put_encoded() writes, without '='). The
 * identity comes from the peer and is escaped as it needs.
 */
static void write_line(const char *peer, size_t peer_len,
                       const char *identity, unsigned method,
                       const char *path, size_t path_len, unsigned code,
                       size_t in, size_t out, uint64_t usec) {
  char mbuf[8], cbuf[8] = {(char)('0' + ((code >> 5) & 7)), '.',
                             (char)('0' + (code & 31) / 10),
                             (char)('0' + (code & 31) % 10), '\0'};
  ec_log_field_t f[8];
  size_t plain[8] = {0};
  size_t n = 0;
  const char *m = method_name(method, mbuf);
  plain[n] = peer_len;
  f[n++] = (ec_log_field_t){"peer", peer, 0};
  if (identity != NULL)
    f[n++] = (ec_log_field_t){"identity", identity, 0};
  plain[n] = strlen(m);
  f[n++] = (ec_log_field_t){"method", m, 0};
  plain[n] = path_len;
  f[n++] = (ec_log_field_t){"path", path, 0};
  plain[n] = 4;
  f[n++] = (ec_log_field_t){"code", cbuf, 0};
  f[n++] = (ec_log_field_t){"in", NULL, (long long)in};
  f[n++] = (ec_log_field_t){"out", NULL, (long long)out};
  f[n++] = (ec_log_field_t){"us", NULL, (long long)usec};
  ec_log_fields_plain(EC_LOG_INFO, "access", f, plain, n);
}

static bool is_error(unsigned code) { return (code >> 5) >= 4; }

/*
 * The I/O thread holds its access lines (server.c): a line goes out now,
 * with those held before it and before its answer, unless a request
 * already waits on the coap:// socket. That one's answer is logged next;
 * the server writes what it holds before it waits for more (or after
 * EC_LOG_HOLD_MS under a load that never lets it wait), so a busy server
 * makes one write per 4 KiB of lines instead of one per line.
 */
static void sync_unless_more(ec_server_t *srv) {
  uint8_t h[2];
  /* What is seen is kept for the screen, which then need not look again,
   * unless libcoap may still read the socket before it (screen.h). */
  ssize_t n = ec_screen_look(srv, h, sizeof(h), !srv->coap_may_read);
  /* A CoAP request (version 1, a method code) waits; ACKs do not count. */
  if (n >= 4 && h[0] >> 6 == 1 && h[1] >= 1 && h[1] <= 31)
    return;
  ec_log_sync(0);
}

/* The peer at @p from as a line of answer @p code shows it, into @p peer:
 * its length, or 0 when no line is written (the log is off, or an error
 * line of that peer is rate-limited). */
static size_t line_peer(ec_server_t *srv, const struct sockaddr *from,
                        unsigned code, char peer[PEER_MAX_SHOWN]) {
  ec_accesslog_t *a = srv->accesslog;
  if (a == NULL || !a->on || code == 0)
    return 0;
  slot_t key;
  size_t peer_len = address_of(from, &key, peer, PEER_MAX_SHOWN);
  if (is_error(code) && !error_ok(srv, &key))
    return 0;
  return peer_len;
}

void ec_accesslog_request(ec_server_t *srv, coap_session_t *session,
                          const coap_pdu_t *request, size_t in,
                          const coap_pdu_t *response, uint64_t usec) {
  unsigned code = coap_pdu_get_code(response);
  char peer[PEER_MAX_SHOWN], id[IDENTITY_MAX_SHOWN];
  size_t peer_len = line_peer(
      srv, &coap_session_get_addr_remote(session)->addr.sa, code, peer);
  if (peer_len == 0)
    return;
  const char *identity = NULL;
  if (coap_session_get_proto(session) == COAP_PROTO_DTLS) {
    const coap_bin_const_t *psk = coap_session_get_psk_identity(session);
    size_t len = psk != NULL && psk->s != NULL ? psk->length : 0;
    if (len > sizeof(id) - 1)
      len = sizeof(id) - 1;
    for (size_t i = 0; i < len; i++)
      id[i] = psk->s[i] != 0 ? (char)psk->s[i] : '?';
    id[len] = '\0';
    identity = id;
  }
  ec_req_optw_t it;
  ec_req_optw_init(&it, request);
  const path_cache_t *path = path_of(srv->accesslog, it);
  write_line(peer, peer_len, identity, coap_pdu_get_code(request),
             path->text, path->plain ? path->text_len : 0, code, in,
             ec_req_wire_size(response), usec);
  sync_unless_more(srv);
}

void ec_accesslog_datagram(ec_server_t *srv, const struct sockaddr *from,
                           unsigned method, const uint8_t *opts,
                           size_t opts_len, size_t in, unsigned code,
                           size_t out, uint64_t usec) {
  char peer[PEER_MAX_SHOWN];
  size_t peer_len = line_peer(srv, from, code, peer);
  if (peer_len == 0)
    return;
  ec_req_optw_t it;
  ec_req_optw_init_raw(&it, opts, opts_len);
  const path_cache_t *path = path_of(srv->accesslog, it);
  write_line(peer, peer_len, NULL, method, path->text,
             path->plain ? path->text_len : 0, code, in, out, usec);
  sync_unless_more(srv);
}

void ec_accesslog_raw(ec_server_t *srv, const struct sockaddr *from,
                      socklen_t from_len, unsigned method, const char *path,
                      size_t in, unsigned code, size_t out, uint64_t usec) {
  char peer[PEER_MAX_SHOWN];
  (void)from_len;
  size_t peer_len = line_peer(srv, from, code, peer);
  if (peer_len == 0)
    return;
  write_line(peer, peer_len, NULL, method, path != NULL ? path : "-", 0,
             code, in, out, usec);
  sync_unless_more(srv);
}

void ec_accesslog_tick(ec_server_t *srv) {
  ec_accesslog_t *a = srv->accesslog;
  uint64_t now = ec_mono_ms();
  if (a == NULL || !a->on || now < a->next_tick_ms)
    return;
  a->next_tick_ms = now + 1000;
  refill(&a->all, EC_ACCESSLOG_ALL_BURST, 1000 / EC_ACCESSLOG_ALL_PER_S, now);
  for (size_t i = 0; i < EC_ACCESSLOG_SLOTS && a->all.tokens > 0; i++) {
    slot_t *s = &a->slots[i];
    if (s->suppressed == 0)
      continue;
    refill(&s->bucket, EC_ACCESSLOG_BURST, EC_ACCESSLOG_REFILL_MS, now);
    if (s->bucket.tokens == 0)
      continue;
    slot_summary(s);
    a->all.tokens--;
  }
  if (a->others > 0 && a->all.tokens > 0) {
    say_suppressed("other peers", a->others);
    a->others = 0;
    a->all.tokens--;
  }
}

void ec_accesslog_free(ec_server_t *srv) {
  ec_accesslog_t *a = srv->accesslog;
  if (a == NULL)
    return;
  for (size_t i = 0; i < EC_ACCESSLOG_SLOTS; i++)
    if (a->slots[i].suppressed > 0)
      slot_summary(&a->slots[i]);
  if (a->others > 0)
    say_suppressed("other peers", a->others);
  free(a);
  srv->accesslog = NULL;
}
