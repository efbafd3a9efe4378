/* edgecoap: the "messages" commands of edgecoap-client (post, list, get,
 * watch). */
/* SPDX-License-Identifier: Apache-2.0 */
#include "io.h"
#include "messages.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PROG "edgecoap-client"


typedef struct {
  const ec_client_config_t *cfg;
  const char *url;
  ec_msg_filter_t filter;
  bool fetch;       /* list: FETCH instead of GET */
  bool all;         /* list: page through everything */
  long long count;  /* watch: lines before stopping; 0: no limit */
  unsigned max_ms;  /* watch: 0: no limit */
  const char *file; /* post */
  const char *id;   /* get */
  /* Filter strings live here. */
  ec_arena_t arena;
  _Alignas(max_align_t) unsigned char mem[4096];
} opts_t;

static const struct {
  const char *name, *synopsis, *help;
} subcommands[] = {
    {"post", "FILE|-",
     "Send the StatusMessage, or {\"StatusMessages\": [...]} batch, in FILE\n"
     "('-': standard input), JSON or CBOR, after checking it locally; print\n"
     "what the server stored, with the IDs it assigned.\n"},
    {"list", "[NAME=VALUE ...] [--fetch] [--all]",
     "Print the messages that match every filter, oldest first. Filters:\n"
     "orderId, subscriptionId, accessId, macAddress, fromDateTime,\n"
     "toDateTime, fromStatusMessageID (exclusive), toStatusMessageID\n"
     "(exclusive), limit (default 1000, at most 10000).\n"
     "  --fetch  send the filters as a FETCH body instead of a query\n"
     "  --all    page through every match after fromStatusMessageID\n"},
    {"get", "ID", "Print the message with this statusMessageID.\n"},
    {"watch", "[NAME=VALUE ...] [--count N] [--max-time SECONDS]",
     "Observe the newest message that matches the filters (as for list,\n"
     "without limit): one compact JSON line per notification, the current\n"
     "one first.\n"
     "  --count N           stop after N lines\n"
     "  --max-time SECONDS  stop after this long (default: never)\n"},
};
#define N_SUB (sizeof(subcommands) / sizeof(subcommands[0]))

void ec_cli_messages_usage(FILE *f) {
  for (size_t i = 0; i < N_SUB; i++)
    fprintf(f, "  messages %s %s\n", subcommands[i].name,
            subcommands[i].synopsis);
}

static int usage(const char *sub, const char *fmt, const char *arg) {
  fputs(PROG ": ", stderr);
  fprintf(stderr, fmt, arg);
  putc('\n', stderr);
  for (size_t i = 0; i < N_SUB; i++)
    if (sub == NULL || strcmp(sub, subcommands[i].name) == 0)
      fprintf(stderr, "Usage: " PROG " [OPTIONS] messages %s %s\n",
              subcommands[i].name, subcommands[i].synopsis);
  return EXIT_USAGE;
}

/* ---- output ---- */

/* A typed call's result as output and an exit status. */
static int outcome(const opts_t *o, int rc, const ec_response_t *r) {
  if (rc == 0 || (rc == EC_ENOMEM && r->code / 100 == 2)) {
    /* The body is printed as it came; the decode only checked it. */
    if (ec_cli_print_body(stdout, r, true) == 0)
      return EXIT_OK;
    fprintf(stderr, PROG ": cannot print the answer\n");
    return EXIT_FAILED;
  }
  if (r->code >= 400) {
    ec_cli_print_problem(r);
    return EXIT_REFUSED;
  }
  return ec_cli_no_answer(o->url, rc);
}

/* ---- commands ---- */

static int run_post(ec_client_t *c, opts_t *o) {
  const char *name = strcmp(o->file, "-") == 0 ? "stdin" : o->file;
  uint8_t *buf = NULL;
  void *mem = NULL;
  size_t len;
  int status = EXIT_FAILED;

  int got = ec_cli_read_doc(o->file, &buf, &len);
  if (got != 0)
    return got;
  /* Decoded messages take a few times their wire size (tiny ones more). */
  size_t cap = 8 * len + 65536;
  if ((mem = malloc(cap)) == NULL) {
    fprintf(stderr, PROG ": %s\n", ec_strerror(EC_ENOMEM));
    goto done;
  }
  ec_arena_t arena;
  ec_arena_init(&arena, mem, cap);
  ec_status_message_t *msgs;
  size_t n;
  bool batch;
  ec_codec_error_t err = {0};
  /* Checked here, so a bad document is explained without a round trip. */
  int rc =
      ec_status_messages_decode(EC_FORMAT_JSON, buf, len, EC_MSG_NEW, &msgs,
                                &n, &batch, &arena, &err);
  if (rc < 0) {
    fprintf(stderr, PROG ": %s: %s: %s", name,
            err.title[0] ? err.title : "invalid",
            err.detail[0] ? err.detail : ec_strerror(rc));
    if (err.field[0])
      fprintf(stderr, " (field: %s)", err.field);
    putc('\n', stderr);
    status = EXIT_REFUSED;
    goto done;
  }
  ec_response_t r = {0};
  rc = ec_client_msg_post(c, o->cfg->format, msgs, n, batch, NULL, NULL, NULL,
                          &r);
  status = outcome(o, rc, &r);
done:
  free(mem);
  free(buf);
  return status;
}

/* Reads decode into an arena sized from the answer when the first is small. */
static int typed_read(ec_client_t *c, opts_t *o, bool get_one) {
  size_t cap = 64 * 1024;
  ec_response_t r = {0};
  int rc;
  for (int attempt = 0;; attempt++) {
    void *mem = malloc(cap);
    ec_arena_t arena;
    ec_status_message_t *msgs, one;
    size_t n;
    if (mem == NULL) {
      rc = EC_ENOMEM;
      break;
    }
    ec_arena_init(&arena, mem, cap);
    if (get_one) {
      char *end;
      errno = 0;
      long long id = strtoll(o->id, &end, 10);
      rc = errno || *end || id < 1 ? EC_EINVAL
                                   : ec_client_msg_get(c, id, &one, &arena, &r);
    } else if (o->fetch) {
      rc = ec_client_msg_fetch(c, o->cfg->format, &o->filter, &msgs, &n, &arena,
                               &r);
    } else {
      rc = ec_client_msg_list(c, &o->filter, &msgs, &n, &arena, &r);
    }
    free(mem);
    if (rc != EC_ENOMEM || attempt > 0 || r.body_len == 0)
      break;
    cap = 16 * r.body_len + 64 * 1024;
  }
  if (rc == EC_EINVAL && get_one)
    return usage("get", "'%s' is not a statusMessageID", o->id);
  return outcome(o, rc, &r);
}

typedef struct {
  FILE *f;
  size_t n;
  int error;
} sync_out_t;

/* Print each message of an --all walk as it comes: memory stays flat
 * however many there are. */
static int print_one(void *ud, const ec_status_message_t *m) {
  sync_out_t *s = ud;
  /* The envelope opens with the first message, so that a refused first
   * page leaves standard output empty for the refusal. */
  ssize_t len = ec_status_message_encode(EC_FORMAT_JSON, m, NULL, 0);
  uint8_t *buf = len >= 0 ? malloc((size_t)len + 1) : NULL;
  if (buf == NULL || ec_status_message_encode(EC_FORMAT_JSON, m, buf,
                                              (size_t)len + 1) != len) {
    free(buf);
    s->error = len < 0 ? (int)len : EC_ENOMEM;
    return 1;
  }
  fputs(s->n++ ? "," : "{\"StatusMessages\":[", s->f);
  fwrite(buf, 1, (size_t)len, s->f);
  free(buf);
  return 0;
}

static int run_list(ec_client_t *c, opts_t *o) {
  if (!o->all)
    return typed_read(c, o, false);
  sync_out_t s = {stdout, 0, 0};
  int64_t last;
  int rc = ec_client_msg_sync(c, &o->filter,
                              o->filter.has_from_id ? o->filter.from_id : 0,
                              print_one, &s, &last);
  fputs(s.n > 0 ? "]}\n" : rc == 0 ? "{\"StatusMessages\":[]}\n" : "", stdout);
  if (rc == 0 && s.error == 0)
    return EXIT_OK;
  if (rc == EC_ERESPONSE && s.n == 0) {
    /* The refusal comes again from a plain list, which prints it. */
    o->all = false;
    return run_list(c, o);
  }
  fprintf(stderr, PROG ": %s: %s (after ID %lld)\n", o->url,
          ec_strerror(rc < 0 ? rc : s.error), (long long)last);
  return EXIT_FAILED;
}

static int run_get(ec_client_t *c, opts_t *o) {
  return typed_read(c, o, true);
}

static int observe_latest(ec_client_t *c, const void *arg, ec_observe_cb cb,
                          void *ud, unsigned max_ms) {
  const opts_t *o = arg;
  return ec_client_msg_observe(c, &o->filter, cb, ud, max_ms);
}

static int run_watch(ec_client_t *c, opts_t *o) {
  ec_cli_watch_t w = {o->url, o->count, o->max_ms, ec_cli_print_problem};
  return ec_cli_watch(c, &w, observe_latest, o);
}

/* ---- argument parsing ---- */

static bool parse_count(const char *s, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < 1)
    return false;
  *out = v;
  return true;
}

/* Options and NAME=VALUE filters of one subcommand, in any order. */
static int parse_args(opts_t *o, const char *sub, int argc, char **argv) {
  bool is_list = strcmp(sub, "list") == 0, is_watch = strcmp(sub, "watch") == 0;
  const char **pos = strcmp(sub, "post") == 0  ? &o->file
                     : strcmp(sub, "get") == 0 ? &o->id
                                               : NULL;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *eq = strchr(a, '=');
    if (is_list && strcmp(a, "--fetch") == 0) {
      o->fetch = true;
    } else if (is_list && strcmp(a, "--all") == 0) {
      o->all = true;
    } else if (is_watch && strcmp(a, "--count") == 0) {
      if (++i == argc || !parse_count(argv[i], &o->count))
        return usage(sub, "--count wants a whole number >= 1, not '%s'",
                     i < argc ? argv[i] : "");
    } else if (is_watch && strcmp(a, "--max-time") == 0) {
      char *end;
      double secs = ++i < argc ? strtod(argv[i], &end) : 0;
      if (i == argc || *end || !(secs > 0 && secs <= UINT_MAX / 1000.0))
        return usage(sub, "--max-time wants seconds > 0, not '%s'",
                     i < argc ? argv[i] : "");
      o->max_ms = secs * 1000 < 1 ? 1 : (unsigned)(secs * 1000);
    } else if (a[0] == '-' && a[1] != '\0') {
      return usage(sub, "unknown option '%s'", a);
    } else if ((is_list || is_watch) && eq != NULL) {
      char name[64];
      ec_codec_error_t err = {0};
      size_t nlen = (size_t)(eq - a);
      snprintf(name, sizeof(name), "%.*s", (int)nlen, a);
      if (is_watch && strcmp(name, "limit") == 0)
        return usage(sub, "watch takes no %s", "limit");
      if (ec_msg_filter_set(&o->filter, name, eq + 1, strlen(eq + 1), &o->arena,
                            &err) < 0) {
        fprintf(stderr, PROG ": %s: %s\n", a, err.detail);
        return EXIT_USAGE;
      }
    } else if (pos != NULL && *pos == NULL) {
      *pos = a;
    } else {
      return usage(sub,
                   pos != NULL ? "unexpected argument '%s'"
                               : "'%s' is not a NAME=VALUE filter",
                   a);
    }
  }
  if (pos != NULL && *pos == NULL)
    return usage(sub, "missing %s", strcmp(sub, "post") == 0 ? "FILE" : "ID");
  return -1;
}

int ec_cli_messages(const ec_client_config_t *cfg, const char *url, int argc,
                    char **argv) {
  opts_t *o = calloc(1, sizeof(*o));
  ec_client_t *client;
  int status, sub = -1;

  if (o == NULL) {
    fprintf(stderr, PROG ": %s\n", ec_strerror(EC_ENOMEM));
    return EXIT_FAILED;
  }
  o->cfg = cfg;
  o->url = url;
  ec_arena_init(&o->arena, o->mem, sizeof(o->mem));
  for (size_t i = 0; argc > 1 && i < N_SUB; i++)
    if (strcmp(argv[1], subcommands[i].name) == 0)
      sub = (int)i;
  if (argc > 1 &&
      (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    printf("Usage: " PROG " [OPTIONS] messages SUBCOMMAND ...\n");
    ec_cli_messages_usage(stdout);
    status = EXIT_OK;
    goto done;
  }
  if (sub < 0) {
    status = usage(NULL,
                   argc > 1 ? "unknown command: messages %s"
                            : "messages needs a subcommand%s",
                   argc > 1 ? argv[1] : "");
    goto done;
  }
  const char *name = subcommands[sub].name;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      printf("Usage: " PROG " [OPTIONS] messages %s %s\n\n%s", name,
             subcommands[sub].synopsis, subcommands[sub].help);
      status = EXIT_OK;
      goto done;
    }
  }
  status = parse_args(o, name, argc - 2, argv + 2);
  if (status >= 0)
    goto done;

  int rc = ec_client_new(cfg, &client);
  if (rc < 0) {
    if (rc == EC_EINVAL) {
      fprintf(stderr, PROG ": invalid URL '%s' (want coap://host:port or "
                           "coaps://host:port)\n", url);
      status = EXIT_USAGE;
    } else {
      status = ec_cli_no_answer(url, rc);
    }
    goto done;
  }
  switch (sub) {
  case 0:
    status = run_post(client, o);
    break;
  case 1:
    status = run_list(client, o);
    break;
  case 2:
    status = run_get(client, o);
    break;
  default:
    status = run_watch(client, o);
    break;
  }
  ec_client_free(client);
done:
  free(o);
  return status;
}
