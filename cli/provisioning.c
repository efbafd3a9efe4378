/* edgecoap: the login, logout and provisioning commands of edgecoap-client. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "io.h"
#include "provisioning.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PROG "edgecoap-client"
#define ARENA_FIRST (64u * 1024u)
#define MAX_PASSWORD 1024

enum {
  O_TOKEN = 256,
  O_GET,
  O_PC_ID,
  O_PROV_ID,
  O_TYPE,
  O_COMP_ID,
  O_ACTIVE,
  O_LIMIT,
  O_COUNT,
  O_MAX_TIME
};
/* Which options a command takes, as bits of (option - O_TOKEN). */
#define BIT(o) (1u << ((o)-O_TOKEN))

typedef struct opts opts_t;

typedef struct {
  const char *group; /* "provisioning", or NULL for a command of its own */
  const char *name;
  const char *synopsis;
  const char *help;
  unsigned allowed;
  int npos;
  int (*run)(ec_client_t *c, opts_t *o);
} cmd_t;

struct opts {
  const ec_client_config_t *cfg;
  const char *url;
  const char *token; /* --token, else $EDGECOAP_TOKEN */
  const char *user;  /* login's positional */
  bool get;          /* select with GET (every component) */
  bool has_filter;   /* any select filter given */
  ec_prov_request_t rq;
  long long count;   /* watch: lines before stopping; 0: no limit */
  unsigned max_ms;   /* watch: 0: no limit */
  int64_t *lists[2]; /* malloc'd id lists of rq */
};

/* ---- printing ------------------------------------------------------------ */

/* Say on stderr what an error answer said: "4.00 CODE: detail". */
static void print_refusal(const ec_response_t *r) {
  size_t cap = 2 * r->body_len + 1024;
  void *mem = malloc(cap);
  ec_arena_t arena;
  ec_prov_error_doc_t d;

  fprintf(stderr, PROG ": %d.%02d", r->code / 100, r->code % 100);
  if (mem != NULL && r->body_len > 0) {
    ec_arena_init(&arena, mem, cap);
    if (ec_client_prov_error(r, &d, &arena) == 0) {
      fprintf(stderr, " %s", d.error);
      if (d.detail != NULL)
        fprintf(stderr, ": %s", d.detail);
      for (size_t i = 0; d.ids != NULL && i < d.n_ids; i++)
        fprintf(stderr, "%s%lld", i ? ", " : ": ", (long long)d.ids[i]);
      putc('\n', stderr);
      free(mem);
      return;
    }
  }
  free(mem);
  /* Not the seed's shape (a transport refusal such as 4.13): the body. */
  putc(' ', stderr);
  if (r->body_len == 0 || ec_cli_print_body(stderr, r, true) < 0)
    putc('\n', stderr);
}

/* A call's result as output and exit status. */
static int outcome(const opts_t *o, int rc, const ec_response_t *r) {
  if (rc == 0) {
    if (ec_cli_print_body(stdout, r, false) == 0)
      return EXIT_OK;
    fprintf(stderr, PROG ": cannot print the answer\n");
    return EXIT_FAILED;
  }
  if (r->code >= 400) {
    print_refusal(r);
    return EXIT_REFUSED;
  }
  return ec_cli_no_answer(o->url, rc);
}

/* ---- commands ------------------------------------------------------------ */

static int need_token(ec_client_t *c, const opts_t *o) {
  if (o->token == NULL) {
    fprintf(stderr, PROG ": no token: give --token or set EDGECOAP_TOKEN "
                         "(from '" PROG " login USER')\n");
    return EXIT_USAGE;
  }
  if (ec_client_use_token(c, o->token) < 0) {
    fprintf(stderr, PROG ": a token is %d hex digits, as login printed it\n",
            EC_PROV_TOKEN_HEX);
    return EXIT_USAGE;
  }
  return -1;
}

/* The password: $EDGECOAP_PASSWORD, else the first line of stdin. */
static int read_password(char *out, size_t cap) {
  const char *env = getenv("EDGECOAP_PASSWORD");
  if (env != NULL) {
    if (strlen(env) >= cap)
      return -1;
    strcpy(out, env);
  } else if (fgets(out, (int)cap, stdin) == NULL) {
    return -1;
  }
  size_t n = strlen(out);
  while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
    out[--n] = '\0';
  return n > 0 ? 0 : -1;
}

static int run_login(ec_client_t *c, opts_t *o) {
  char password[MAX_PASSWORD + 2];
  unsigned char mem[4096];
  ec_arena_t arena;
  ec_login_response_t lr;
  ec_response_t r = {0};

  if (read_password(password, sizeof(password)) < 0) {
    fprintf(stderr, PROG ": no password: set EDGECOAP_PASSWORD or give it "
                         "on the first line of standard input\n");
    return EXIT_USAGE;
  }
  ec_arena_init(&arena, mem, sizeof(mem));
  int rc =
      ec_client_login(c, o->cfg->format, o->user, password, &lr, &arena, &r);
  memset(password, 0, sizeof(password));
  if (rc < 0)
    return outcome(o, rc, &r);
  /* The token alone, so that TOKEN=$(edgecoap-client login USER) works. */
  printf("%s\n", lr.token);
  return EXIT_OK;
}

static int run_logout(ec_client_t *c, opts_t *o) {
  ec_response_t r = {0};
  int st = need_token(c, o);
  if (st >= 0)
    return st;
  return outcome(o, ec_client_logout(c, o->cfg->format, o->token, &r), &r);
}

static int run_select(ec_client_t *c, opts_t *o) {
  int st = need_token(c, o);
  if (st >= 0)
    return st;
  if (o->get && o->has_filter) {
    fprintf(stderr, PROG ": --get selects everything: it takes no filter\n");
    return EXIT_USAGE;
  }
  ec_response_t r = {0};
  size_t cap = ARENA_FIRST;
  int rc;
  /* Rows decode into an arena; a first guess that was short is retried
   * once, sized from the answer. */
  for (int attempt = 0;; attempt++) {
    void *mem = malloc(cap);
    ec_arena_t arena;
    ec_prov_component_t *rows;
    size_t n;
    if (mem == NULL) {
      rc = EC_ENOMEM;
      break;
    }
    ec_arena_init(&arena, mem, cap);
    rc = ec_client_prov_select(c, o->cfg->format, o->get ? NULL : &o->rq, &rows,
                               &n, &arena, &r);
    free(mem);
    if (rc != EC_ENOMEM || attempt || !r.body_len)
      break;
    cap = 16 * r.body_len + ARENA_FIRST;
  }
  return outcome(o, rc == EC_ENOTFOUND ? EC_ERESPONSE : rc, &r);
}

static int run_write(ec_client_t *c, opts_t *o, bool insert) {
  ec_response_t r = {0};
  int st = need_token(c, o);
  if (st >= 0)
    return st;
  int rc =
      insert ? ec_client_prov_insert(c, o->cfg->format, &o->rq, NULL, NULL, &r)
             : ec_client_prov_update(c, o->cfg->format, &o->rq, NULL, NULL, &r);
  return outcome(o, rc, &r);
}

static int run_insert(ec_client_t *c, opts_t *o) {
  return run_write(c, o, true);
}

static int run_update(ec_client_t *c, opts_t *o) {
  return run_write(c, o, false);
}

static int observe_components(ec_client_t *c, const void *arg,
                              ec_observe_cb cb, void *ud, unsigned max_ms) {
  const opts_t *o = arg;
  return ec_client_prov_observe(
      c, o->rq.has_provisioning_id ? o->rq.provisioning_id : -1, cb, ud,
      max_ms);
}

static int run_watch(ec_client_t *c, opts_t *o) {
  int st = need_token(c, o);
  if (st >= 0)
    return st;
  ec_cli_watch_t w = {o->url, o->count, o->max_ms, print_refusal};
  return ec_cli_watch(c, &w, observe_components, o);
}

/* ---- the command table and argument parsing ------------------------------ */

/* insert names components by the triple only: it takes no
 * --provisioning-component-id, so its help does not list it. */
#define FILTERS                                                                \
  "  --provisioning-component-id IDS   one id, or a comma-separated list\n"    \
  TRIPLE
#define TRIPLE                                                                 \
  "  --provisioning-id N\n"                                                    \
  "  --component-type T   Sensor, Parameter, Group Parameter (any case), or\n" \
  "                       0, 1, 2\n"                                           \
  "  --component-id IDS   one id, or a comma-separated list (\"4,\" is a\n"    \
  "                       list of one)\n"                                      \
  "  --active-status N    0 active, 1 inactive\n"
#define TOKEN_HELP                                                             \
  "  --token TOKEN        the session token (default: $EDGECOAP_TOKEN)\n"

static const cmd_t commands[] = {
    {NULL, "login", "USER",
     "Log in as USER and print the session token. The password comes from\n"
     "$EDGECOAP_PASSWORD, or else the first line of standard input. Use the\n"
     "token with --token, or export EDGECOAP_TOKEN=$(" PROG " login USER).\n",
     0, 1, run_login},
    {NULL, "logout", "[--token TOKEN]",
     "End the session of TOKEN.\n" TOKEN_HELP, BIT(O_TOKEN), 0, run_logout},
    {"provisioning", "select", "[--token T] [--get | FILTERS] [--limit N]",
     "Print the components that match every filter given (POST, action\n"
     "select), as the seed's {\"responses\": {\"response_0\": "
     "...}}.\n" TOKEN_HELP
     "  --get                GET /v1/DeviceProvisioningComponents\n" FILTERS
     "  --limit N            at most N rows (the server's default: 1000)\n",
     BIT(O_TOKEN) | BIT(O_GET) | BIT(O_PC_ID) | BIT(O_PROV_ID) | BIT(O_TYPE) |
         BIT(O_COMP_ID) | BIT(O_ACTIVE) | BIT(O_LIMIT),
     0, run_select},
    {"provisioning", "insert",
     "[--token T] --provisioning-id N --component-type T --component-id IDS "
     "[--active-status N]",
     "Insert components (an existing one gets the new active "
     "status).\n" TOKEN_HELP TRIPLE,
     BIT(O_TOKEN) | BIT(O_PROV_ID) | BIT(O_TYPE) | BIT(O_COMP_ID) |
         BIT(O_ACTIVE),
     0, run_insert},
    {"provisioning", "update",
     "[--token T] (--provisioning-component-id IDS | --provisioning-id N "
     "--component-type T --component-id IDS) --active-status N",
     "Set the active status of the components named either by their\n"
     "provisioning_component_id or by provisioning, type and component "
     "id.\n" TOKEN_HELP FILTERS,
     BIT(O_TOKEN) | BIT(O_PC_ID) | BIT(O_PROV_ID) | BIT(O_TYPE) |
         BIT(O_COMP_ID) | BIT(O_ACTIVE),
     0, run_update},
    {"provisioning", "watch",
     "[--token T] [--provisioning-id N] [--count N] [--max-time SECONDS]",
     "Observe the components of provisioning N (default: all): one compact\n"
     "JSON line per notification, the current list first. A change whose\n"
     "list does not fit one datagram is announced as\n"
     "{\"provisioning_id\": N, \"status\": \"CHANGED\"}: select to read "
     "it.\n" TOKEN_HELP "  --provisioning-id N\n"
     "  --count N            stop after N lines\n"
     "  --max-time SECONDS   stop after this long (default: never)\n",
     BIT(O_TOKEN) | BIT(O_PROV_ID) | BIT(O_COUNT) | BIT(O_MAX_TIME), 0,
     run_watch},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_synopsis(FILE *f, const cmd_t *cmd) {
  fprintf(f, "Usage: " PROG " [OPTIONS] %s%s%s %s\n",
          cmd->group ? cmd->group : "", cmd->group ? " " : "", cmd->name,
          cmd->synopsis);
}

void ec_cli_provisioning_usage(FILE *f) {
  for (size_t i = 0; i < N_COMMANDS; i++)
    fprintf(f, "  %s%s%s %s\n", commands[i].group ? commands[i].group : "",
            commands[i].group ? " " : "", commands[i].name,
            commands[i].synopsis);
}

bool ec_cli_provisioning_handles(const char *word) {
  return strcmp(word, "login") == 0 || strcmp(word, "logout") == 0 ||
         strcmp(word, "provisioning") == 0;
}

static int usage_error(const cmd_t *cmd, const char *fmt, const char *arg) {
  fputs(PROG ": ", stderr);
  fprintf(stderr, fmt, arg);
  putc('\n', stderr);
  if (cmd != NULL)
    print_synopsis(stderr, cmd);
  return EXIT_USAGE;
}

static bool parse_num(const char *s, long long max, long long *out) {
  char *end;
  if (*s < '0' || *s > '9')
    return false;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end != '\0' || v > max)
    return false;
  *out = v;
  return true;
}

/* "4" is one id; "1,2,4" or "4," a list. @return 0 or -1. */
static int parse_ids(const char *s, ec_prov_ids_t *ids, int64_t **store) {
  size_t n = 1;
  for (const char *p = s; *p; p++)
    n += *p == ',';
  int64_t *v = malloc(n * sizeof(*v));
  if (v == NULL)
    return -1;
  free(*store);
  *store = v;
  size_t k = 0;
  const char *p = s;
  while (*p != '\0') {
    char *end;
    if (*p < '0' || *p > '9')
      return -1;
    errno = 0;
    long long x = strtoll(p, &end, 10);
    if (errno || (*end != ',' && *end != '\0'))
      return -1;
    v[k++] = x;
    p = *end == ',' ? end + 1 : end;
  }
  if (k == 0)
    return -1;
  ids->v = v;
  ids->n = k;
  ids->present = true;
  ids->is_array = strchr(s, ',') != NULL;
  return 0;
}

static const struct option long_opts[] = {
    {"token", required_argument, NULL, O_TOKEN},
    {"get", no_argument, NULL, O_GET},
    {"provisioning-component-id", required_argument, NULL, O_PC_ID},
    {"provisioning-id", required_argument, NULL, O_PROV_ID},
    {"component-type", required_argument, NULL, O_TYPE},
    {"component-id", required_argument, NULL, O_COMP_ID},
    {"active-status", required_argument, NULL, O_ACTIVE},
    {"limit", required_argument, NULL, O_LIMIT},
    {"count", required_argument, NULL, O_COUNT},
    {"max-time", required_argument, NULL, O_MAX_TIME},
    {"help", no_argument, NULL, 'h'},
    {0}};

/* One option's value into @p o. @return -1 to go on, or an exit status. */
static int take_option(const cmd_t *cmd, int opt, opts_t *o) {
  long long v;
  int t;
  char *end;
  double secs;
  if (opt >= O_TOKEN && !(cmd->allowed & BIT(opt))) {
    const struct option *lo = long_opts;
    while (lo->name != NULL && lo->val != opt)
      lo++;
    return usage_error(cmd, "--%s is not an option of this command",
                       lo->name ? lo->name : "?");
  }
  switch (opt) {
  case O_TOKEN:
    o->token = optarg;
    return -1;
  case O_GET:
    o->get = true;
    return -1;
  case O_PC_ID:
  case O_COMP_ID:
    o->has_filter = true;
    if (parse_ids(optarg,
                  opt == O_PC_ID ? &o->rq.provisioning_component_id
                                 : &o->rq.component_id,
                  &o->lists[opt == O_PC_ID]) < 0)
      return usage_error(cmd, "'%s' is not an id or a list of ids", optarg);
    return -1;
  case O_PROV_ID:
    o->has_filter = true;
    if (!parse_num(optarg, INT64_MAX, &v))
      return usage_error(cmd, "--provisioning-id wants an id, not '%s'",
                         optarg);
    o->rq.has_provisioning_id = true;
    o->rq.provisioning_id = v;
    return -1;
  case O_TYPE:
    o->has_filter = true;
    if ((t = ec_comp_type_parse(optarg, strlen(optarg))) < 0)
      return usage_error(cmd,
                         "--component-type: '%s' is not Sensor, "
                         "Parameter, Group Parameter, 0, 1 or 2",
                         optarg);
    o->rq.has_component_type = true;
    o->rq.component_type = (ec_comp_type_t)t;
    return -1;
  case O_ACTIVE:
    o->has_filter = true;
    if (!parse_num(optarg, 1, &v))
      return usage_error(cmd, "--active-status wants 0 or 1, not '%s'", optarg);
    o->rq.has_active_status = true;
    o->rq.active_status = (int)v;
    return -1;
  case O_LIMIT:
    if (!parse_num(optarg, INT64_MAX, &v))
      return usage_error(cmd, "--limit wants a number >= 0, not '%s'", optarg);
    o->rq.has_limit = true;
    o->rq.limit = v;
    return -1;
  case O_COUNT:
    if (!parse_num(optarg, LLONG_MAX, &o->count) || o->count < 1)
      return usage_error(cmd, "--count wants a number >= 1, not '%s'", optarg);
    return -1;
  case O_MAX_TIME:
    errno = 0;
    secs = strtod(optarg, &end);
    if (errno || end == optarg || *end ||
        !(secs > 0 && secs <= UINT_MAX / 1000.0))
      return usage_error(cmd, "--max-time wants seconds > 0, not '%s'", optarg);
    o->max_ms = secs * 1000 < 1 ? 1 : (unsigned)(secs * 1000);
    return -1;
  case 'h':
    print_synopsis(stdout, cmd);
    printf("\n%s", cmd->help);
    return EXIT_OK;
  case ':':
    return usage_error(cmd, "%s needs a value", cmd->name);
  default:
    return usage_error(cmd, "%s: unknown option", cmd->name);
  }
}

static int group_usage(int argc, char **argv) {
  bool help = argc > 1 &&
              (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
  FILE *f = help ? stdout : stderr;
  if (!help)
    fprintf(stderr, PROG ": %s%s\n", argc > 1 ? "unknown command: " : "",
            argc > 1 ? argv[1] : "provisioning needs a subcommand");
  fputs("Usage: " PROG " [OPTIONS] provisioning SUBCOMMAND ...\n", f);
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (commands[i].group != NULL)
      fprintf(f, "  provisioning %s %s\n", commands[i].name,
              commands[i].synopsis);
  return help ? EXIT_OK : EXIT_USAGE;
}

int ec_cli_provisioning(const ec_client_config_t *cfg, const char *url,
                        int argc, char **argv) {
  const cmd_t *cmd = NULL;
  int words = 1;
  for (size_t i = 0; i < N_COMMANDS && cmd == NULL; i++) {
    const cmd_t *k = &commands[i];
    if (k->group == NULL && strcmp(argv[0], k->name) == 0)
      cmd = k;
    else if (k->group != NULL && strcmp(argv[0], k->group) == 0 && argc > 1 &&
             strcmp(argv[1], k->name) == 0)
      cmd = k, words = 2;
  }
  if (cmd == NULL)
    return group_usage(argc, argv);

  opts_t o;
  memset(&o, 0, sizeof(o));
  o.cfg = cfg;
  o.url = url;
  o.token = getenv("EDGECOAP_TOKEN");
  int status = -1, opt;
  int sub_argc = argc - words + 1;
  char **sub_argv = argv + words - 1;
  optind = 0; /* glibc: start afresh on a new vector */
  opterr = 0;
  while (status < 0 &&
         (opt = getopt_long(sub_argc, sub_argv, ":h", long_opts, NULL)) != -1)
    status = take_option(cmd, opt, &o);
  if (status < 0 && sub_argc - optind != cmd->npos)
    status = usage_error(cmd, "%s: missing or unexpected arguments", cmd->name);
  if (status < 0 && cmd->npos == 1)
    o.user = sub_argv[optind];

  ec_client_t *client = NULL;
  if (status < 0) {
    int rc = ec_client_new(cfg, &client);
    if (rc == EC_EINVAL)
      status = usage_error(NULL, "invalid URL '%s'", url);
    else if (rc < 0)
      status = ec_cli_no_answer(url, rc);
  }
  if (status < 0)
    status = cmd->run(client, &o);
  ec_client_free(client);
  free(o.lists[0]);
  free(o.lists[1]);
  return status;
}
