/* edgecoap: the edgecoap-client program (options, the command table, the status commands), which prints every answer as JSON. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "edgecoap/client.h"

#include "io.h"
#include "messages.h"
#include "provisioning.h"

#define PROG "edgecoap-client"
#define ARENA_FIRST (64u * 1024u)

/* Exit statuses, as --help states them. */

enum { OPT_COUNT = 256, OPT_MAX_TIME, OPT_SINCE, OPT_LIMIT };

/* The server's URL, named in messages about failed exchanges. */
static const char *server_url = "coap://127.0.0.1:5683";

/* coaps://: the pre-shared key, read from --psk-key-file or
 * $EDGECOAP_PSK_KEY (never from the command line, where every user of the
 * machine can read it), and wiped at exit. */
#define PSK_KEY_MAX 64
static uint8_t psk_key[PSK_KEY_MAX];

/* A command's arguments once parsed. */
typedef struct {
  char *pos[3];
  long long count; /* watch: lines before stopping; 0 for no limit */
  unsigned max_ms; /* watch: 0 for no limit */
  long long since; /* history */
  int limit;       /* history; 0 for the server's default */
} args_t;

typedef struct {
  const char *group; /* the first word ("status"), or NULL */
  const char *name;
  const char *synopsis;
  const char *help;
  int npos;
  const struct option *opts;
  int (*run)(ec_client_t *c, const args_t *a);
} command_t;

/* ---- printing ---- */

/* Turn a typed call's result into output and an exit status. */
static int outcome(int rc, const ec_response_t *r) {
  if (rc == 0) {
    rc = ec_cli_print_body(stdout, r, false);
    if (rc == 0)
      return EXIT_OK;
    fprintf(stderr, PROG ": cannot print the answer: %s\n", ec_strerror(rc));
    return EXIT_FAILED;
  }
  if (r->code >= 400) {
    ec_cli_print_problem(r);
    return EXIT_REFUSED;
  }
  return ec_cli_no_answer(server_url, rc);
}

/* ---- commands ---- */

static int run_report(ec_client_t *c, const args_t *a) {
  const char *name = strcmp(a->pos[2], "-") == 0 ? "stdin" : a->pos[2];
  uint8_t *buf = NULL;
  void *mem = NULL;
  size_t len, cap;
  ec_arena_t arena;
  ec_deployment_status_t st;
  ec_codec_error_t err = {0};
  ec_response_t r = {0};
  int rc, status = EXIT_FAILED;

  if ((rc = ec_cli_read_doc(a->pos[2], &buf, &len)) != 0)
    return rc;
  /* Decoded strings are copies and structs small: a few times the input. */
  cap = 4 * len + ARENA_FIRST;
  mem = malloc(cap);
  if (!mem) {
    fprintf(stderr, PROG ": %s\n", ec_strerror(EC_ENOMEM));
    goto done;
  }
  ec_arena_init(&arena, mem, cap);
  /* Check the document here, so a bad one is explained without a round trip. */
  rc = ec_deployment_status_decode(EC_FORMAT_JSON, buf, len, &st, &arena,
                                   &err);
  if (rc == 0)
    rc = ec_deployment_status_check_route(&st, a->pos[1], &err);
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
  status = outcome(ec_client_status_report(c, a->pos[0], &st, &r), &r);
done:
  free(mem);
  free(buf);
  return status;
}

/* Typed reads decode into an arena sized before the answer is seen. */
typedef int (*read_fn)(ec_client_t *c, const args_t *a, ec_arena_t *arena,
                       ec_response_t *r);

static int typed_read(ec_client_t *c, const args_t *a, read_fn fn) {
  size_t cap = ARENA_FIRST;
  ec_response_t r = {0};
  int rc;

  for (int attempt = 0;; attempt++) {
    void *mem = malloc(cap);
    ec_arena_t arena;

    if (!mem) {
      rc = EC_ENOMEM;
      break;
    }
    ec_arena_init(&arena, mem, cap);
    rc = fn(c, a, &arena, &r);
    free(mem);
    /* A first guess that was too small is retried once, sized from the body. */
    if (rc != EC_ENOMEM || attempt || !r.body_len)
      break;
    cap = 16 * r.body_len + ARENA_FIRST;
  }
  return outcome(rc, &r);
}

static int read_status(ec_client_t *c, const args_t *a, ec_arena_t *arena,
                       ec_response_t *r) {
  ec_deployment_status_t st;
  return ec_client_status_get(c, a->pos[0], a->pos[1], &st, arena, r);
}

static int read_history(ec_client_t *c, const args_t *a, ec_arena_t *arena,
                        ec_response_t *r) {
  ec_history_item_t *items;
  size_t n;
  return ec_client_status_history(c, a->pos[0], a->pos[1], a->since, a->limit,
                                  &items, &n, arena, r);
}

static int read_deployments(ec_client_t *c, const args_t *a, ec_arena_t *arena,
                            ec_response_t *r) {
  ec_deployment_summary_t *list;
  size_t n;
  return ec_client_deployments(c, a->pos[0], &list, &n, arena, r);
}

static int run_get(ec_client_t *c, const args_t *a) {
  return typed_read(c, a, read_status);
}
static int run_history(ec_client_t *c, const args_t *a) {
  return typed_read(c, a, read_history);
}
static int run_deployments(ec_client_t *c, const args_t *a) {
  return typed_read(c, a, read_deployments);
}

static int observe_status(ec_client_t *c, const void *arg, ec_observe_cb cb,
                          void *ud, unsigned max_ms) {
  const args_t *a = arg;
  return ec_client_status_observe(c, a->pos[0], a->pos[1], cb, ud, max_ms);
}

static int run_watch(ec_client_t *c, const args_t *a) {
  ec_cli_watch_t w = {server_url, a->count, a->max_ms, ec_cli_print_problem};
  return ec_cli_watch(c, &w, observe_status, a);
}

/* ---- the command table and argument parsing ---- */

static const struct option plain_opts[] = {{"help", no_argument, NULL, 'h'},
                                           {0}};
static const struct option watch_opts[] = {
    {"count", required_argument, NULL, OPT_COUNT},
    {"max-time", required_argument, NULL, OPT_MAX_TIME},
    {"help", no_argument, NULL, 'h'},
    {0}};
static const struct option history_opts[] = {
    {"since", required_argument, NULL, OPT_SINCE},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"help", no_argument, NULL, 'h'},
    {0}};

static const command_t commands[] = {
    {"status", "report", "DEVICE DEPLOYMENT FILE|-",
     "Send the DeploymentStatus document in FILE ('-': standard input),\n"
     "JSON or CBOR, after checking it locally; print the document the\n"
     "server stored.\n",
     3, plain_opts, run_report},
    {"status", "get", "DEVICE DEPLOYMENT",
     "Print the deployment's latest status report.\n", 2, plain_opts, run_get},
    {"status", "watch", "DEVICE DEPLOYMENT [--count N] [--max-time SECONDS]",
     "Observe the deployment's status: print one compact JSON line per\n"
     "notification, the current report first.\n"
     "  --count N           stop after N lines\n"
     "  --max-time SECONDS  stop after this long (default: never)\n",
     2, watch_opts, run_watch},
    {"status", "history", "DEVICE DEPLOYMENT [--since N] [--limit M]",
     "Print the deployment's stored reports, oldest first.\n"
     "  --since N  only reports with seq > N\n"
     "  --limit M  at most M reports (default: the server's)\n",
     2, history_opts, run_history},
    {NULL, "deployments", "DEVICE",
     "List the device's deployments and their states.\n", 1, plain_opts,
     run_deployments},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void print_usage(FILE *f) {
  fputs(
      "Usage: " PROG
      " [--url URL] [--format cbor|json] [--timeout MS]\n"
      "       [--psk-identity ID [--psk-key-file PATH]] COMMAND ...\n\n"
      "Talk to an edgecoap server over CoAP; answers go to stdout as JSON.\n\n"
      "Options:\n"
      "  --url URL     coap://host:port or coaps://host:port (DTLS PSK)\n"
      "                (default coap://127.0.0.1:5683)\n"
      "  --psk-identity ID    coaps://: the PSK identity (a device's is its\n"
      "                deviceId)\n"
      "  --psk-key-file PATH  coaps://: a file holding the key that\n"
      "                'edgecoap-server admin device-add' printed; without it\n"
      "                the key comes from $EDGECOAP_PSK_KEY\n"
      "  --format cbor|json  the body format sent and asked for: CBOR (the\n"
      "                default; a report's CBOR is the device core's) or JSON\n"
      "  --json, --cbor      the same as --format json, --format cbor\n"
      "  --timeout MS  per request, retransmissions included (default 10000)\n"
      "  -h, --help    this text; COMMAND --help for one command\n"
      "  --version     the program's version\n\n"
      "Commands:\n",
      f);
  for (size_t i = 0; i < N_COMMANDS; i++)
    fprintf(f, "  %s%s%s %s\n", commands[i].group ? commands[i].group : "",
            commands[i].group ? " " : "", commands[i].name,
            commands[i].synopsis);
  ec_cli_messages_usage(f);
  ec_cli_provisioning_usage(f);
  fputs(
      "\nExit status: 0 on a 2.xx answer; 1 when the server answered an error\n"
      "(on stderr: its code and problem details' title) or the document is\n"
      "invalid; 2 on a usage error; 3 when no usable answer came: \"no server\n"
      "at HOST:PORT\" at once when nothing listens there (ICMP port\n"
      "unreachable), else a timeout, a failed DTLS handshake, a bad reply, or\n"
      "the server ended a watch; 4 when a local file (input, key) could not\n"
      "be read.\n"
      "EDGECOAP_DEBUG=1 writes each datagram sent and received to stderr (type,\n"
      "code, Message ID, token, options, payload length).\n"
      "A key is never taken from the command line, where other users of the\n"
      "machine could read it.\n",
      f);
}

static void print_synopsis(FILE *f, const command_t *cmd) {
  fprintf(f, "Usage: " PROG " [OPTIONS] %s%s%s %s\n",
          cmd->group ? cmd->group : "", cmd->group ? " " : "", cmd->name,
          cmd->synopsis);
}

/* Report a usage error; @p cmd picks which --help to point at. */
static int usage_error(const command_t *cmd, const char *fmt, ...) {
  va_list ap;

  fputs(PROG ": ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  putc('\n', stderr);
  if (cmd)
    print_synopsis(stderr, cmd);
  else
    fputs("Try '" PROG " --help'.\n", stderr);
  return EXIT_USAGE;
}

static bool parse_ll(const char *s, long long min, long long max,
                     long long *out) {
  char *end;
  long long v;

  errno = 0;
  v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max)
    return false;
  *out = v;
  return true;
}

static void wipe_key(void) {
  explicit_bzero(psk_key, sizeof psk_key);
}

/*
 * Read a key as device-add printed it: 1 to 64 hex digits, blanks and line
 * ends around them ignored. The characters themselves are the key's bytes
 * (as coap-client-openssl -k takes them), not decoded from hex.
 * @return its length, or 0 (said why on stderr)
 */
static size_t read_key(const char *text, size_t len, const char *from) {
  while (len && isspace((unsigned char)text[len - 1]))
    len--;
  while (len && isspace((unsigned char)*text)) {
    text++;
    len--;
  }
  bool hex = len > 0;
  for (size_t i = 0; hex && i < len; i++)
    hex = isxdigit((unsigned char)text[i]) != 0;
  if (!hex || len > PSK_KEY_MAX) {
    fprintf(stderr,
            PROG ": %s: a PSK key is the 1 to %d hex digits that "
                 "'edgecoap-server admin device-add' printed\n",
            from, PSK_KEY_MAX);
    return 0;
  }
  memcpy(psk_key, text, len);
  return len;
}

/* The key in file @p path; 0 when there is none, with *unreadable set when
 * the file itself could not be read. */
static size_t read_key_file(const char *path, bool *unreadable) {
  char buf[4 * PSK_KEY_MAX];
  FILE *f = fopen(path, "rb");
  size_t n;

  *unreadable = false;
  if (!f) {
    fprintf(stderr, PROG ": cannot read %s: %s\n", path, strerror(errno));
    *unreadable = true;
    return 0;
  }
  n = fread(buf, 1, sizeof buf, f);
  if (ferror(f)) {
    fprintf(stderr, PROG ": cannot read %s: read error\n", path);
    *unreadable = true;
    n = 0;
  } else {
    n = read_key(buf, n, path);
  }
  fclose(f);
  explicit_bzero(buf, sizeof buf);
  return n;
}

/*
 * coaps:// needs an identity and a key, and they make sense with coaps://
 * only. @return -1 to go on, or an exit status (the reason printed)
 */
static int psk_options(ec_client_config_t *cfg, const char *key_file) {
  const char *url = cfg->url ? cfg->url : server_url;
  const char *env = getenv("EDGECOAP_PSK_KEY");
  bool secure = strncasecmp(url, "coaps://", 8) == 0;

  if (!secure) {
    if (cfg->psk_identity || key_file)
      return usage_error(NULL, "--psk-identity and --psk-key-file are for "
                               "coaps:// URLs");
    return -1; /* $EDGECOAP_PSK_KEY may be set for other calls: ignore it */
  }
  if (!cfg->psk_identity || !*cfg->psk_identity)
    return usage_error(NULL, "a coaps:// URL needs --psk-identity ID");
  if (!key_file && !env)
    return usage_error(NULL, "a coaps:// URL needs a key: --psk-key-file "
                             "PATH or $EDGECOAP_PSK_KEY");
  bool unreadable = false;
  cfg->psk_key_len = key_file ? read_key_file(key_file, &unreadable)
                              : read_key(env, strlen(env), "EDGECOAP_PSK_KEY");
  if (!cfg->psk_key_len)
    return unreadable ? EXIT_INPUT : EXIT_USAGE;
  cfg->psk_key = psk_key;
  atexit(wipe_key);
  return -1;
}

/* getopt's view of the offending option, for messages. */
static const char *bad_option(char **argv) {
  return argv[optind - 1];
}

/*
 * Parse one command's options and positionals; argv[0] is the command's
 * name. Options may come before, between or after the positionals.
 * @return -1 to go on, or an exit status
 */
static int parse_command(const command_t *cmd, int argc, char **argv,
                         args_t *a) {
  int opt, npos;
  long long v;
  char *end;
  double secs;

  optind = 0; /* glibc: start afresh on a new vector */
  while ((opt = getopt_long(argc, argv, ":h", cmd->opts, NULL)) != -1) {
    switch (opt) {
    case 'h':
      print_synopsis(stdout, cmd);
      printf("\n%s", cmd->help);
      return EXIT_OK;
    case OPT_COUNT:
      if (!parse_ll(optarg, 1, LLONG_MAX, &a->count))
        return usage_error(cmd, "--count wants a whole number >= 1, not '%s'",
                           optarg);
      break;
    case OPT_MAX_TIME:
      errno = 0;
      secs = strtod(optarg, &end);
      if (errno || end == optarg || *end ||
          !(secs > 0 && secs <= UINT_MAX / 1000.0))
        return usage_error(cmd, "--max-time wants seconds > 0, not '%s'",
                           optarg);
      a->max_ms = secs * 1000 < 1 ? 1 : (unsigned)(secs * 1000);
      break;
    case OPT_SINCE:
      if (!parse_ll(optarg, 0, LLONG_MAX, &a->since))
        return usage_error(
            cmd, "--since wants a sequence number >= 0, not '%s'", optarg);
      break;
    case OPT_LIMIT:
      if (!parse_ll(optarg, 1, INT_MAX, &v))
        return usage_error(cmd, "--limit wants a whole number >= 1, not '%s'",
                           optarg);
      a->limit = (int)v;
      break;
    case ':':
      return usage_error(cmd, "%s needs a value", bad_option(argv));
    default:
      return usage_error(cmd, "unknown option '%s'", bad_option(argv));
    }
  }
  npos = argc - optind;
  if (npos != cmd->npos)
    return usage_error(cmd, "%s arguments",
                       npos < cmd->npos ? "missing" : "too many");
  for (int i = 0; i < npos; i++)
    a->pos[i] = argv[optind + i];
  return -1;
}

/* Find the command named by argv[0] (and argv[1] for a group); sets *words. */
static const command_t *find_command(int argc, char **argv, int *words) {
  for (size_t i = 0; i < N_COMMANDS; i++) {
    const command_t *cmd = &commands[i];
    if (!cmd->group && strcmp(argv[0], cmd->name) == 0) {
      *words = 1;
      return cmd;
    }
    if (cmd->group && strcmp(argv[0], cmd->group) == 0 && argc > 1 &&
        strcmp(argv[1], cmd->name) == 0) {
      *words = 2;
      return cmd;
    }
  }
  return NULL;
}

/* "status" alone, "status --help" or "status bogus". */
static int group_usage(const char *group, int argc, char **argv) {
  bool help = argc > 1 &&
              (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
  FILE *f = help ? stdout : stderr;

  if (!help)
    fprintf(stderr, PROG ": %s%s%s\n", argc > 1 ? "unknown command: " : "",
            argc > 1 ? argv[1] : group, argc > 1 ? "" : " needs a subcommand");
  fprintf(f, "Usage: " PROG " [OPTIONS] %s SUBCOMMAND ...\n", group);
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (commands[i].group && strcmp(commands[i].group, group) == 0)
      fprintf(f, "  %s %s %s\n", group, commands[i].name, commands[i].synopsis);
  return help ? EXIT_OK : EXIT_USAGE;
}

static bool is_group(const char *word) {
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (commands[i].group && strcmp(commands[i].group, word) == 0)
      return true;
  return false;
}

int main(int argc, char **argv) {
  static const struct option global_opts[] = {
      {"url", required_argument, NULL, 'u'},
      {"json", no_argument, NULL, 'j'},
      {"cbor", no_argument, NULL, 'c'},
      {"format", required_argument, NULL, 'f'},
      {"timeout", required_argument, NULL, 't'},
      {"psk-identity", required_argument, NULL, 'i'},
      {"psk-key-file", required_argument, NULL, 'k'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {0}};
  ec_client_config_t cfg = {
      .url = NULL, .format = EC_FORMAT_CBOR, .timeout_ms = 0};
  const char *key_file = NULL;
  const command_t *cmd;
  ec_client_t *client;
  args_t args = {0};
  long long v;
  int opt, words, status, rc;

  /* Each datagram on stderr, for a look at what went over the wire. */
  const char *debug = getenv("EDGECOAP_DEBUG");
  cfg.debug = debug != NULL && *debug != '\0' && strcmp(debug, "0") != 0;
  /* A closed stdout becomes a write error, not a kill mid-exchange. */
  signal(SIGPIPE, SIG_IGN);
  opterr = 0;
  /* getopt would take "--psk-key KEY" as an abbreviation of --psk-key-file
   * and look for a file named after the key: a key on the command line is
   * refused as such. */
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--psk-key") == 0 ||
        strncmp(argv[i], "--psk-key=", 10) == 0)
      return usage_error(NULL, "a key is never taken from the command line: "
                               "use --psk-key-file PATH or $EDGECOAP_PSK_KEY");
  /* '+': global options stop at the command word. */
  while ((opt = getopt_long(argc, argv, "+:h", global_opts, NULL)) != -1) {
    switch (opt) {
    case 'u':
      cfg.url = server_url = optarg;
      break;
    case 'j':
      cfg.format = EC_FORMAT_JSON;
      break;
    case 'c':
      cfg.format = EC_FORMAT_CBOR;
      break;
    case 'f':
      if (strcmp(optarg, "cbor") != 0 && strcmp(optarg, "json") != 0)
        return usage_error(NULL, "--format wants cbor or json, not '%s'",
                           optarg);
      cfg.format = optarg[0] == 'c' ? EC_FORMAT_CBOR : EC_FORMAT_JSON;
      break;
    case 't':
      if (!parse_ll(optarg, 1, UINT_MAX, &v))
        return usage_error(NULL, "--timeout wants milliseconds >= 1, not '%s'",
                           optarg);
      cfg.timeout_ms = (unsigned)v;
      break;
    case 'i':
      cfg.psk_identity = optarg;
      break;
    case 'k':
      key_file = optarg;
      break;
    case 'h':
      print_usage(stdout);
      return EXIT_OK;
    case 'V':
      printf(PROG " %s\n", EDGECOAP_VERSION);
      return EXIT_OK;
    case ':':
      return usage_error(NULL, "%s needs a value", bad_option(argv));
    default:
      return usage_error(NULL, "unknown option '%s'", bad_option(argv));
    }
  }
  argc -= optind;
  argv += optind;
  if (argc < 1)
    return usage_error(NULL, "no command given");
  status = psk_options(&cfg, key_file);
  if (status >= 0)
    return status;
  /* The messages commands take NAME=VALUE filters: they parse their own. */
  if (strcmp(argv[0], "messages") == 0)
    return ec_cli_messages(&cfg, server_url, argc, argv);
  /* So do login, logout and provisioning (their options are the seed's). */
  if (ec_cli_provisioning_handles(argv[0]))
    return ec_cli_provisioning(&cfg, server_url, argc, argv);
  cmd = find_command(argc, argv, &words);
  if (!cmd) {
    if (is_group(argv[0]))
      return group_usage(argv[0], argc, argv);
    return usage_error(NULL, "unknown command: %s", argv[0]);
  }
  status = parse_command(cmd, argc - words + 1, argv + words - 1, &args);
  if (status >= 0)
    return status;

  rc = ec_client_new(&cfg, &client);
  if (rc == EC_EINVAL)
    return usage_error(
        NULL,
        "invalid URL '%s' (want coap://host:port or coaps://host:port)",
        cfg.url);
  if (rc < 0)
    return ec_cli_no_answer(server_url, rc);
  status = cmd->run(client, &args);
  ec_client_free(client);
  if (fflush(stdout) != 0 && status == EXIT_OK) {
    fprintf(stderr, PROG ": cannot write to standard output\n");
    status = EXIT_FAILED;
  }
  return status;
}
