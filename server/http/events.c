/* edgecoap server: the dashboard's live events: a ring of recent reports, sent as Server-Sent Events (/api/events). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"
#include "log.h"
#include "util.h"

/*
 * Each committed report reaches ec_http's listener (srv->on_report, called
 * by ec_fleet_reported() on the I/O thread), which copies its fields into
 * the next slot of a fixed ring; a stream renders a slot, when it sends it,
 * as the text of one event (so that a report nobody watches costs a copy,
 * not a rendering):
 *
 *   id: k3x9a1-42
 *   event: report
 *   data: {"deploymentId":"...","deviceId":"...","state":"Installed",...}
 *
 * An id is the server's start time (base 36) and the event's number, so a
 * browser's Last-Event-ID names one event of one run of the server. A
 * stream sends the ring from the event after its Last-Event-ID (none: from
 * the next report on); one whose id is from another run, or so old that
 * the ring has moved past it, or that falls behind by more than the ring
 * holds, gets `event: reset` and goes on from the newest: its page reads
 * the fleet again instead of missing reports without knowing.
 *
 * A stream with nothing to send is suspended (MHD_suspend_connection), so
 * an idle stream costs the I/O loop nothing; ec_http_poll(), once per I/O
 * round after the commit, resumes those that have events, or a keep-alive
 * comment due (proxies and browsers drop a silent connection, and a closed
 * one is found out only by writing to it). Nothing blocks: the reports go
 * into the ring whether or not a stream reads them, and libmicrohttpd
 * writes to a socket only when it is writable.
 */

/* Reports the ring holds: a page that missed more reads the fleet again. */
#ifndef EC_HTTP_EVENTS
#define EC_HTTP_EVENTS 4096
#endif
/* One event's text at most: ids are at most 128 bytes, error codes are cut
 * to ERROR_MAX. */
#define EVENT_MAX 480
#define ERROR_MAX 96
#define DEVICE_MAX 128
#define DEPLOYMENT_MAX 40
/* A comment is sent on a stream that has been silent this long. */
#ifndef EC_HTTP_KEEPALIVE_MS
#define EC_HTTP_KEEPALIVE_MS 15000
#endif
/* A stream that cannot be written for this long is closed. */
#define STREAM_TIMEOUT_S 60
/* How long a browser waits before it connects again (the `retry:` field). */
#define RETRY_MS 2000
/* Suspended streams' sockets are looked at this often for a peer that
 * closed (libmicrohttpd does not read a suspended connection). */
#define PROBE_MS 500

/* A report as the ring keeps it: its ids and error code each one byte past
 * the cap that rendering applies, so that json_str() sees where to cut. */
typedef struct {
  char dev[DEVICE_MAX + 2];
  char dep[DEPLOYMENT_MAX + 2];
  char err[ERROR_MAX + 2];
  bool has_err;
  ec_state_t state;
  int64_t at_ms, seq;
} entry_t;

typedef struct stream {
  struct stream *next, **prev;
  ec_http_events_t *ev;
  struct MHD_Connection *conn;
  int fd;           /* its socket, to see a closed peer while suspended */
  uint64_t want;    /* the number of the next event to send */
  uint64_t last_ms; /* the last write (monotonic) */
  bool suspended;
  bool hello;   /* the retry field and greeting not sent yet */
  bool reset;   /* a reset event is due first */
  bool closing; /* the server stops: end the stream */
} stream_t;

struct ec_http_events {
  ec_http_t *h;
  char boot[16]; /* the server's start, base 36: the ids' first part */
  uint64_t next; /* the number the next report gets (the first is 1) */
  entry_t *ring; /* event n in ring[n % EC_HTTP_EVENTS] */
  stream_t *streams;
  unsigned n_streams;
  unsigned n_closing; /* of them, ending: no longer counted for the cap */
  uint64_t probe_ms;  /* the last look at suspended streams' sockets */
};

/* ---- the ring ----------------------------------------------------------- */

static uint64_t oldest(const ec_http_events_t *ev) {
  return ev->next > EC_HTTP_EVENTS ? ev->next - EC_HTTP_EVENTS : 1;
}

/* @p s as a JSON string's contents into @p out (cap > 8), at most @p max
 * bytes of @p s and never a UTF-8 sequence cut in two; control characters,
 * quotes and backslashes escaped. */
static size_t json_str(char *out, size_t cap, const char *s, size_t max) {
  size_t n = 0, i = 0, len = strlen(s);
  if (len > max) {
    len = max;
    while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
      len--; /* s[len] continues a sequence: cut before its start */
  }
  for (; i < len && n + 7 < cap; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      out[n++] = '\\';
      out[n++] = (char)c;
    } else if (c < 0x20) {
      n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
    } else {
      out[n++] = (char)c;
    }
  }
  out[n] = '\0';
  return n;
}

/* The first @p max + 1 bytes of @p s at most, into @p out. */
static void keep(char *out, const char *s, size_t max) {
  size_t len = strnlen(s, max + 1);
  memcpy(out, s, len);
  out[len] = '\0';
}

static void on_report(void *ud, const ec_report_t *r) {
  ec_http_events_t *ev = ud;
  uint64_t n = ev->next;
  entry_t *e = &ev->ring[n % EC_HTTP_EVENTS];
  keep(e->dev, r->device_id, DEVICE_MAX);
  keep(e->dep, r->deployment_id, DEPLOYMENT_MAX);
  e->has_err = r->error_code != NULL;
  if (e->has_err)
    keep(e->err, r->error_code, ERROR_MAX);
  e->state = r->state;
  e->at_ms = r->at_ms;
  e->seq = r->seq;
  ev->next = n + 1;
  ec_metrics_add(ev->h->srv->metrics, EC_M_HTTP_EVENTS, 1);
}

/* Event @p n (its slot @p e) as text into @p text (EVENT_MAX bytes).
 * @return its length, or 0 when it does not fit (cannot happen with the
 * caps above: the event is left out) */
static size_t render(const ec_http_events_t *ev, uint64_t n, const entry_t *e,
                     char *text) {
  char dev[EVENT_MAX / 3], dep[64], err[ERROR_MAX * 2], at[32];
  json_str(dev, sizeof(dev), e->dev, DEVICE_MAX);
  json_str(dep, sizeof(dep), e->dep, DEPLOYMENT_MAX);
  for (char *p = dep; *p != '\0'; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char)(*p - 'A' + 'a');
  ec__http_time(e->at_ms, at);
  int len;
  if (e->has_err) {
    json_str(err, sizeof(err), e->err, ERROR_MAX);
    len = snprintf(text, EVENT_MAX,
                   "id: %s-%" PRIu64 "\nevent: report\ndata: "
                   "{\"deploymentId\":\"%s\",\"deviceId\":\"%s\","
                   "\"state\":\"%s\",\"error\":\"%s\",\"at\":\"%s\","
                   "\"seq\":%" PRId64 "}\n\n",
                   ev->boot, n, dep, dev, ec_state_name(e->state), err, at,
                   e->seq);
  } else {
    len = snprintf(text, EVENT_MAX,
                   "id: %s-%" PRIu64 "\nevent: report\ndata: "
                   "{\"deploymentId\":\"%s\",\"deviceId\":\"%s\","
                   "\"state\":\"%s\",\"at\":\"%s\",\"seq\":%" PRId64
                   "}\n\n",
                   ev->boot, n, dep, dev, ec_state_name(e->state), at, e->seq);
  }
  return len < 0 || len >= EVENT_MAX ? 0 : (size_t)len;
}

int ec__http_events_new(ec_http_t *h) {
  ec_http_events_t *ev = calloc(1, sizeof(*ev));
  if (ev == NULL)
    return EC_ENOMEM;
  ev->ring = calloc(EC_HTTP_EVENTS, sizeof(*ev->ring));
  if (ev->ring == NULL) {
    free(ev);
    return EC_ENOMEM;
  }
  ev->h = h;
  ev->next = 1;
  /* The start in milliseconds, base 36: another run's ids never match. */
  uint64_t t = (uint64_t)ec_now_ms();
  char tmp[16];
  int k = 0;
  do {
    tmp[k++] = "0123456789abcdefghijklmnopqrstuvwxyz"[t % 36];
    t /= 36;
  } while (t > 0 && k < (int)sizeof(tmp) - 1);
  for (int i = 0; i < k; i++)
    ev->boot[i] = tmp[k - 1 - i];
  ev->boot[k] = '\0';
  h->events = ev;
  h->srv->on_report = on_report;
  h->srv->on_report_ud = ev;
  return 0;
}

void ec__http_events_close(ec_http_t *h) {
  ec_http_events_t *ev = h->events;
  if (ev == NULL)
    return;
  if (h->srv->on_report_ud == ev) {
    h->srv->on_report = NULL;
    h->srv->on_report_ud = NULL;
  }
  for (stream_t *s = ev->streams; s != NULL; s = s->next) {
    if (!s->closing)
      ev->n_closing++;
    s->closing = true;
    if (s->suspended) {
      s->suspended = false;
      MHD_resume_connection(s->conn);
    }
  }
}

void ec__http_events_free(ec_http_t *h) {
  ec_http_events_t *ev = h->events;
  if (ev == NULL)
    return;
  ec__http_events_close(h);
  /* The daemon is stopped: every stream's free callback has run. */
  while (ev->streams != NULL) {
    stream_t *s = ev->streams;
    ev->streams = s->next;
    free(s);
  }
  free(ev->ring);
  free(ev);
  h->events = NULL;
}

/* ---- one stream --------------------------------------------------------- */

static size_t put(char *buf, size_t max, size_t n, const char *text) {
  size_t len = strlen(text);
  if (n + len > max)
    return n;
  memcpy(buf + n, text, len);
  return n + len;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
  stream_t *s = cls;
  ec_http_events_t *ev = s->ev;
  size_t n = 0;
  char line[96];
  (void)pos;
  if (s->closing)
    return MHD_CONTENT_READER_END_OF_STREAM;
  if (s->hello) {
    snprintf(line, sizeof(line), "retry: %d\n: edgecoap events %s\n\n",
             RETRY_MS, ev->boot);
    n = put(buf, max, n, line);
    s->hello = n == 0;
  }
  if (s->want < oldest(ev)) { /* fell behind the ring */
    s->want = ev->next;
    s->reset = true;
  }
  if (s->reset) {
    snprintf(line, sizeof(line),
             "id: %s-%" PRIu64 "\nevent: reset\ndata: {}\n\n", ev->boot,
             s->want - 1);
    size_t m = put(buf, max, n, line);
    s->reset = m == n;
    n = m;
  }
  uint64_t sent = 0;
  while (s->want < ev->next) {
    char text[EVENT_MAX];
    size_t len = render(ev, s->want, &ev->ring[s->want % EC_HTTP_EVENTS],
                        text);
    if (n + len > max)
      break;
    memcpy(buf + n, text, len);
    n += len;
    s->want++;
    sent++;
  }
  if (sent > 0)
    ec_metrics_add(ev->h->srv->metrics, EC_M_HTTP_EVENTS_SENT, (int64_t)sent);
  uint64_t now = ec_mono_ms();
  if (n == 0 && now >= s->last_ms + EC_HTTP_KEEPALIVE_MS)
    n = put(buf, max, n, ": keep-alive\n\n");
  if (n == 0) {
    if (s->want < ev->next)
      return 0; /* no room in libmicrohttpd's buffer now: it asks again */
    /* Nothing to send: wait, unpolled, for ec_http_poll() to resume. */
    s->suspended = true;
    MHD_suspend_connection(s->conn);
    return 0;
  }
  s->last_ms = now;
  return (ssize_t)n;
}

static void stream_free(void *cls) {
  stream_t *s = cls;
  ec_http_events_t *ev = s->ev;
  if (s->closing)
    ev->n_closing--;
  *s->prev = s->next;
  if (s->next != NULL)
    s->next->prev = s->prev;
  ev->n_streams--;
  ec_metrics_set(ev->h->srv->metrics, EC_M_HTTP_STREAMS, ev->n_streams);
  free(s);
}

/* Where a stream starts: after @p last ("BOOT-N"), if the ring still has
 * what follows; else from the next report, with a reset when @p last
 * named something. */
static void start_at(const ec_http_events_t *ev, const char *last,
                     stream_t *s) {
  s->want = ev->next;
  if (last == NULL || *last == '\0')
    return;
  const char *dash = strrchr(last, '-');
  size_t blen = dash != NULL ? (size_t)(dash - last) : 0;
  char *end = NULL;
  unsigned long long n = dash != NULL ? strtoull(dash + 1, &end, 10) : 0;
  if (dash == NULL || blen != strlen(ev->boot) ||
      memcmp(last, ev->boot, blen) != 0 || end == dash + 1 || *end != '\0' ||
      n >= ev->next || n + 1 < oldest(ev)) {
    s->reset = true;
    return;
  }
  s->want = (uint64_t)n + 1;
}

/*
 * End the suspended streams whose browser went away: a page reloaded or
 * closed sends FIN, which a suspended connection never reads, and the cap
 * would count it until a keep-alive failed. An event stream's client sends
 * nothing after its request, so a readable socket that reads 0 bytes (or
 * an error) is a peer gone; data is left where it is (MSG_PEEK).
 */
static unsigned probe(ec_http_events_t *ev) {
  unsigned n = 0;
  for (stream_t *s = ev->streams; s != NULL; s = s->next) {
    if (!s->suspended || s->closing || s->fd < 0)
      continue;
    char b;
    ssize_t r = recv(s->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r == 0 ||
        (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      s->closing = true;
      ev->n_closing++;
      s->suspended = false;
      MHD_resume_connection(s->conn);
      n++;
    }
  }
  return n;
}

enum MHD_Result ec__http_events_serve(ec_http_t *h, struct MHD_Connection *c) {
  ec_http_events_t *ev = h->events;
  ec_metrics_t *m = h->srv->metrics;
  if (ev->n_streams - ev->n_closing >= h->srv->cfg.http_streams)
    probe(ev);
  if (ev->n_streams - ev->n_closing >= h->srv->cfg.http_streams) {
    ec_metrics_add(m, EC_M_HTTP_STREAMS_REFUSED, 1);
    return ec__http_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                         "too many event streams open: try again later\n");
  }
  stream_t *s = calloc(1, sizeof(*s));
  if (s == NULL)
    return ec__http_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
  s->ev = ev;
  s->conn = c;
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  s->fd = ci != NULL ? ci->connect_fd : -1;
  s->hello = true;
  s->last_ms = ec_mono_ms();
  /* A browser sends the header when it connects again; a page that starts
   * with data it read just before may name the event it read up to. */
  const char *last =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
  if (last == NULL)
    last = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "after");
  start_at(ev, last, s);
  struct MHD_Response *r = MHD_create_response_from_callback(
      MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
  if (r == NULL) {
    free(s);
    return MHD_NO;
  }
  s->next = ev->streams;
  s->prev = &ev->streams;
  if (ev->streams != NULL)
    ev->streams->prev = &s->next;
  ev->streams = s;
  ev->n_streams++;
  ec_metrics_set(m, EC_M_HTTP_STREAMS, ev->n_streams);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                          "text/event-stream; charset=utf-8");
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  MHD_add_response_header(r, "X-Accel-Buffering", "no");
  (void)MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
                                  (unsigned)STREAM_TIMEOUT_S);
  enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r); /* stream_free runs when the connection ends */
  return rc;
}

bool ec__http_events_poll(ec_http_t *h) {
  ec_http_events_t *ev = h->events;
  bool resumed = false;
  if (ev == NULL || ev->streams == NULL)
    return false;
  uint64_t now = ec_mono_ms();
  if (now >= ev->probe_ms + PROBE_MS) {
    ev->probe_ms = now;
    resumed = probe(ev) > 0;
  }
  for (stream_t *s = ev->streams; s != NULL; s = s->next) {
    if (s->suspended && (s->want < ev->next || s->reset ||
                         now >= s->last_ms + EC_HTTP_KEEPALIVE_MS)) {
      s->suspended = false;
      MHD_resume_connection(s->conn);
      resumed = true;
    }
  }
  return resumed;
}

int ec__http_events_next_ms(const ec_http_t *h) {
  const ec_http_events_t *ev = h->events;
  if (ev == NULL || ev->streams == NULL)
    return -1;
  uint64_t now = ec_mono_ms(), due = ev->probe_ms + PROBE_MS;
  for (const stream_t *s = ev->streams; s != NULL; s = s->next)
    if (s->suspended && s->last_ms + EC_HTTP_KEEPALIVE_MS < due)
      due = s->last_ms + EC_HTTP_KEEPALIVE_MS;
  return due <= now ? 0 : (int)(due - now);
}
