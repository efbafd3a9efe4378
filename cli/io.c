/* edgecoap-client: what the command files share: printing answers as JSON, reading input, saying why no answer came. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "edgecoap/client.h"
#include "edgecoap/device.h"

#include "cbor_json.h"
#include "io.h"

#define PROG "edgecoap-client"
/* Far above the server's 64 KiB cap: the server is the one to refuse. */
#define INPUT_CAP (8u << 20)

/*
 * Write a body as JSON plus one newline: CBOR is transcoded, JSON written as
 * received. @p one_line folds JSON line breaks, which JSON only allows as
 * whitespace, so a notification is always exactly one line.
 */
int ec_cli_print_body(FILE *f, const ec_response_t *r, bool one_line) {
  int fmt = r->format;

  if (!r->body_len)
    return 0;
  if (fmt < 0)
    fmt = (int)ec_format_sniff(r->body, r->body_len);
  if (fmt == EC_FORMAT_JSON) {
    size_t n = r->body_len;
    while (n && isspace(r->body[n - 1]))
      n--;
    for (size_t i = 0; i < n; i++) {
      int ch = r->body[i];
      putc(one_line && (ch == '\n' || ch == '\r') ? ' ' : ch, f);
    }
  } else if (fmt == EC_FORMAT_CBOR || fmt == EC_FORMAT_PROBLEM_CBOR) {
    char *json;
    size_t n;
    int rc = ec_cli_cbor_json(r->body, r->body_len, &json, &n);
    if (rc < 0)
      return rc;
    fwrite(json, 1, n, f);
    free(json);
  } else {
    return EC_EFORMAT;
  }
  putc('\n', f);
  return ferror(f) ? EC_EIO : 0;
}

int ec_cli_read_input(const char *name, uint8_t **out, size_t *len) {
  FILE *f = strcmp(name, "-") == 0 ? stdin : fopen(name, "rb");
  uint8_t *buf = NULL;
  size_t n = 0, cap = 0;
  const char *why = NULL;

  if (!f) {
    fprintf(stderr, PROG ": cannot read %s: %s\n", name, strerror(errno));
    return -1;
  }
  while (!why) {
    if (n == cap) {
      size_t grown = cap ? 2 * cap : 4096;
      uint8_t *p = grown <= INPUT_CAP ? realloc(buf, grown) : NULL;
      if (!p) {
        why = grown <= INPUT_CAP ? strerror(ENOMEM) : "larger than 8 MiB";
        break;
      }
      buf = p;
      cap = grown;
    }
    n += fread(buf + n, 1, cap - n, f);
    if (ferror(f))
      why = "read error";
    else if (feof(f))
      break;
  }
  if (f != stdin)
    fclose(f);
  if (why) {
    fprintf(stderr, PROG ": cannot read %s: %s\n", name, why);
    free(buf);
    return -1;
  }
  *out = buf;
  *len = n;
  return 0;
}

int ec_cli_read_doc(const char *name, uint8_t **out, size_t *len) {
  const char *shown = strcmp(name, "-") == 0 ? "stdin" : name;
  uint8_t *buf;
  size_t n;
  if (ec_cli_read_input(name, &buf, &n) < 0)
    return EXIT_INPUT;
  if (ec_format_sniff(buf, n) == EC_FORMAT_JSON) {
    *out = buf;
    *len = n;
    return 0;
  }
  char *json;
  int rc = ec_cli_cbor_json(buf, n, &json, len);
  free(buf);
  if (rc < 0) {
    fprintf(stderr, PROG ": %s: %s\n", shown, ec_cli_cbor_why(rc));
    return EXIT_REFUSED;
  }
  *out = (uint8_t *)json;
  return 0;
}

/* True when the URL's authority, @p n bytes at @p hp, ends in ":PORT". */
static bool has_port(const char *hp, size_t n) {
  size_t i = n;
  while (i > 0 && isdigit((unsigned char)hp[i - 1]))
    i--;
  if (i == n || i < 2 || hp[i - 1] != ':')
    return false;
  return hp[0] != '[' || hp[i - 2] == ']'; /* [::1] is no port */
}

int ec_cli_no_answer(const char *url, int rc) {
  if (rc == EC_ECONNREFUSED) {
    /* HOST:PORT as the URL gave it, with the default port if it had none. */
    const char *hp = strstr(url, "://");
    hp = hp ? hp + 3 : url;
    size_t n = strcspn(hp, "/");
    fprintf(stderr, PROG ": no server at %.*s%s: nothing listens on that "
                         "port\n", (int)n, hp,
            has_port(hp, n)                        ? ""
            : strncasecmp(url, "coaps://", 8) == 0 ? ":5684"
                                                   : ":5683");
  } else if (rc == EC_EIO) {
    fprintf(stderr, PROG ": no answer from %s: it cannot be reached (a name "
                         "that does not resolve, no route)\n", url);
  } else if (rc == EC_ETIMEOUT) {
    fprintf(stderr, PROG ": no answer from %s in time (--timeout)\n", url);
  } else {
    fprintf(stderr, PROG ": %s: %s\n", url, ec_strerror(rc));
  }
  return EXIT_FAILED;
}

/* A member of problem details, "" when absent. */
static const char *text(ec_dev_str_t s) {
  return s.ptr ? s.ptr : "";
}

/* JSON problem details, read by the codec (the core reads CBOR only) into
 * *mem, which the caller frees. */
static int json_problem(const ec_response_t *r, ec_dev_problem_t *p,
                        void **mem) {
  size_t cap = 2 * r->body_len + 1024;
  ec_arena_t arena;
  ec_problem_t q = {0};

  if ((*mem = malloc(cap)) == NULL)
    return EC_ENOMEM;
  ec_arena_init(&arena, *mem, cap);
  int rc = ec_problem_decode(EC_FORMAT_JSON, r->body, r->body_len, &q, &arena);
  if (rc < 0)
    return rc;
  p->title = (ec_dev_str_t){q.title, q.title ? strlen(q.title) : 0};
  p->detail = (ec_dev_str_t){q.detail, q.detail ? strlen(q.detail) : 0};
  p->field = (ec_dev_str_t){q.field, q.field ? strlen(q.field) : 0};
  return 0;
}

void ec_cli_print_problem(const ec_response_t *r) {
  int fmt = r->format < 0 && r->body_len
                ? (int)ec_format_sniff(r->body, r->body_len)
                : r->format;
  ec_dev_problem_t p = {{NULL, 0}, {NULL, 0}, {NULL, 0}, 0};
  void *mem = NULL;
  int rc = EC_EFORMAT;

  fprintf(stderr, PROG ": %d.%02d", r->code / 100, r->code % 100);
  if (r->body_len && (fmt == EC_FORMAT_CBOR || fmt == EC_FORMAT_PROBLEM_CBOR))
    rc = ec_dev_problem_decode(r->body, r->body_len, &p);
  else if (r->body_len && fmt == EC_FORMAT_JSON)
    rc = json_problem(r, &p, &mem);
  if (rc == 0 && (p.title.ptr || p.detail.ptr)) {
    fprintf(stderr, " %.*s%s%.*s", (int)p.title.len, text(p.title),
            p.title.ptr && p.detail.ptr ? ": " : "", (int)p.detail.len,
            text(p.detail));
    if (p.field.len)
      fprintf(stderr, " (field: %.*s)", (int)p.field.len, text(p.field));
    putc('\n', stderr);
  } else if (r->body_len) {
    /* Not a problem: JSON, or else diagnostic text (RFC 7252 5.5.2). */
    putc(' ', stderr);
    if (ec_cli_print_body(stderr, r, true) < 0) {
      for (size_t i = 0; i < r->body_len; i++)
        putc(r->body[i] < 0x20 || r->body[i] == 0x7f ? '?' : r->body[i],
             stderr);
      putc('\n', stderr);
    }
  } else {
    putc('\n', stderr);
  }
  free(mem);
}

/* The watch in progress, for the callback and the signal handler. */
typedef struct {
  const ec_cli_watch_t *w;
  long long left; /* lines still wanted; 0 for no limit */
  bool seen;      /* a 2.xx notification came */
  bool refused;   /* an error answer was said */
  bool ended;     /* the server ended the observation */
  bool broken;    /* stdout failed or the body could not be printed */
} watch_state_t;

static int on_notification(void *ud, const ec_response_t *r) {
  watch_state_t *s = ud;

  if (r->code >= 300) {
    /* edgecoap-server sends its observers a last 5.03 shutting-down when it
     * stops; libcoap, 4.04 for a resource it drops: after a notification,
     * either is the server ending the watch, not a refusal. */
    s->ended = s->seen && (r->code == 503 || r->code == 404);
    if (!s->ended)
      s->w->refusal(r);
    s->refused = !s->ended;
    return 1;
  }
  s->seen = true;
  /* Flushed per line so a pipe reader sees each notification as it comes. */
  if (ec_cli_print_body(stdout, r, true) < 0 || fflush(stdout) != 0) {
    s->broken = true;
    return 1;
  }
  return s->left > 0 && --s->left == 0;
}

static ec_client_t *watching;

static void stop_watching(int sig) {
  (void)sig;
  ec_client_interrupt(watching);
}

int ec_cli_watch(ec_client_t *c, const ec_cli_watch_t *w,
                 ec_cli_observe_fn observe, const void *arg) {
  watch_state_t s = {w, w->count, false, false, false, false};
  struct sigaction sa, old_int, old_term;

  /* Ctrl-C (or SIGTERM) ends the watch through the client, which cancels
   * the observation so that the server stops notifying at once. */
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = stop_watching;
  watching = c;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  int rc = observe(c, arg, on_notification, &s, w->max_ms);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  watching = NULL;

  if (s.ended) {
    fprintf(stderr, PROG ": %s ended the observation: the server stopped (or "
                         "the resource is gone)\n", w->url);
    return EXIT_FAILED;
  }
  if (s.refused)
    return EXIT_REFUSED;
  if (s.broken) {
    fprintf(stderr, PROG ": %s: cannot print a notification\n", w->url);
    return EXIT_FAILED;
  }
  if (rc == EC_EPROTO && s.seen) {
    /* A 2.xx answer without Observe: the resource is not observable. */
    fprintf(stderr, PROG ": %s: the answer carried no Observe option: no "
                         "notifications will come\n", w->url);
    return EXIT_FAILED;
  }
  return rc < 0 ? ec_cli_no_answer(w->url, rc) : EXIT_OK;
}
