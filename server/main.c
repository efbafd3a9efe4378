/* edgecoap-server: command line, signals and the serve loop. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "http.h"
#include "log.h"
#include "pwcheck.h"
#include "server.h"

static volatile sig_atomic_t stop_flag;

/* Exit statuses (--help, README.md "Configuration"). */
enum {
  EXIT_START_FAILED = 1, /* cannot start, or the I/O loop failed */
  EXIT_USAGE = 2,
  EXIT_ADDR_IN_USE = 3,  /* a UDP address and port already in use */
  EXIT_DB_IN_USE = 4     /* the database is used by another server */
};

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static void usage(FILE *out) {
  fprintf(out,
          "Usage: edgecoap-server [OPTIONS]\n"
          "       edgecoap-server admin COMMAND ...  (catalogs, accounts and\n"
          "                                           DTLS identities; see\n"
          "                                           'admin --help')\n"
          "\n"
          "Serve the edgecoap resources over CoAP: Margo deployment status, ON-API\n"
          "status messages and device provisioning components.\n"
          "\n"
          "Options:\n"
          "  --bind ADDR         numeric IPv4 or IPv6 address to listen on "
          "(default ::, every address)\n"
          "  --port N            UDP port of coap:// (default 5683)\n"
          "  --psk-port N        UDP port of coaps:// (DTLS PSK; default "
          "5684)\n"
          "  --dtls              serve coaps:// even while no PSK identity is "
          "stored\n"
          "                      (by default only when 'admin device-add' "
          "made one)\n"
          "  --no-plain          serve coaps:// only: no unauthenticated "
          "coap://\n"
          "  --db PATH           SQLite database file (default edgecoap.db)\n"
          "  --store STORE       the store: a database file's path, "
          "sqlite:PATH or a\n"
          "                      file: URI, or postgres://[USER@]HOST[:PORT]/DB "
          "(the\n"
          "                      password from PGPASSFILE or ~/.pgpass); "
          "--db is the same\n"
          "  --http ADDR:PORT    the operators' HTTP endpoint: the "
          "dashboard (/),\n"
          "                      /metrics, /healthz, /readyz (default "
          EC_HTTP_DEFAULT
          ", loopback; [ADDR]:PORT\n"
          "                      for IPv6; 'off' for none). Beyond "
          "loopback every\n"
          "                      request needs an operator's bearer token\n"
          "  --http-streams N    the dashboard's live event streams open "
          "at once;\n"
          "                      one more is answered 503 (default 32, "
          "at most 60)\n"
          "  --observe-check S   send each observer a confirmable "
          "notification at\n"
          "                      least every S seconds, so that one gone "
          "silent is\n"
          "                      dropped (default 240; 0: only every "
          "fifth one)\n"
          "  --ack-timeout MS    RFC 7252 ACK_TIMEOUT of the server's "
          "confirmable\n"
          "                      messages: the first retransmission's wait; "
          "four\n"
          "                      doublings later an observer is given up "
          "(default 2000)\n"
          "  --log-level LEVEL   error, warn, info or debug (default info)\n"
          "  --log-format FMT    text, or json: one JSON object per line, "
          "for log\n"
          "                      shippers (default text)\n");
  fprintf(out,
          "  --access-log on|off a line per answered request at info: peer, "
          "DTLS\n"
          "                      identity, method, path, code, bytes, "
          "microseconds;\n"
          "                      errors rate-limited per peer (default on)\n"
          "  --max-body BYTES    largest request body accepted (default "
          "65536)\n"
          "  --max-observers N   observers of one resource (default 20000)\n"
          "  --max-idle-sessions N  idle client sessions kept (default 100)\n"
          "  --max-idle-resources N status resources kept without observers "
          "(default\n"
          "                      1000; others are made again when asked for)\n"
          "  --session-timeout S    seconds before an idle session ends "
          "(default 30)\n"
          "  --token-ttl TIME    a session token unused this long expires "
          "(default 3600;\n"
          "                      minutes, or with a unit: 90s, 60m, 2h)\n"
          "  --login-user-failures N  failed logins per username from one "
          "client\n"
          "                      address per window: then that address is "
          "refused\n"
          "                      for that username (default 5)\n"
          "  --login-peer-failures N  failed logins per client address per "
          "window:\n"
          "                      then it is refused for every username "
          "(default 20)\n"
          "  --login-slow-after N failed logins per username from all "
          "addresses\n"
          "                      after which each of its logins waits, "
          "250 ms\n"
          "                      doubling per further failure (default 5)\n"
          "  --login-max-delay TIME  the longest such wait (default 4s; "
          "also ms)\n"
          "  --login-window TIME the failed-login window (default 15 "
          "minutes)\n"
          "  --login-threads N   threads checking passwords (default 1)\n"
          "  --login-queue N     password checks in flight; past it a "
          "login gets\n"
          "                      5.03 with Max-Age (default 32)\n"
          "  -h, --help          show this help\n"
          "  --version           show the version\n"
          "\n"
          "Plain coap:// is unauthenticated and open to every client: use it "
          "for\n"
          "development or on trusted networks, and --no-plain elsewhere.\n"
          "Logs go to standard error. Stop with SIGINT or SIGTERM.\n"
          "\n"
          "Exit status: 0 when stopped by a signal; 1 when it cannot start (the\n"
          "log says why: a missing folder, a read-only database...) or fails\n"
          "while serving; 2 on a usage error; 3 when an address and port to\n"
          "listen on are in use; 4 when another server uses the database.\n");
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out) {
  char *end;
  if (s == NULL || *s == '\0' || *s == '-')
    return -1;
  unsigned long v = strtoul(s, &end, 10);
  if (*end != '\0' || v > max)
    return -1;
  *out = v;
  return 0;
}

enum {
  OPT_BIND = 256,
  OPT_PORT,
  OPT_DB,
  OPT_LOG,
  OPT_MAX_BODY,
  OPT_MAX_OBS,
  OPT_MAX_IDLE,
  OPT_MAX_IDLE_RES,
  OPT_SESSION_TIMEOUT,
  OPT_VERSION,
  OPT_TOKEN_TTL,
  OPT_LOGIN_USER,
  OPT_LOGIN_PEER,
  OPT_LOGIN_WINDOW,
  OPT_LOGIN_SLOW,
  OPT_LOGIN_DELAY,
  OPT_LOGIN_THREADS,
  OPT_LOGIN_QUEUE,
  OPT_PSK_PORT,
  OPT_DTLS,
  OPT_NO_PLAIN,
  OPT_HTTP,
  OPT_OBSERVE_CHECK,
  OPT_ACK_TIMEOUT,
  OPT_LOG_FORMAT,
  OPT_ACCESS_LOG,
  OPT_HTTP_STREAMS
};

/* A duration: minutes, or a number with the unit s, m or h. */
static int parse_duration_ms(const char *s, int64_t *out) {
  char *end;
  if (s == NULL || *s < '0' || *s > '9')
    return -1;
  unsigned long long v = strtoull(s, &end, 10);
  int64_t unit = 60000;
  if (end[0] == 'm' && end[1] == 's')
    unit = 1, end += 2;
  else if (*end == 's')
    unit = 1000, end++;
  else if (*end == 'm')
    end++;
  else if (*end == 'h')
    unit = 3600000, end++;
  if (*end != '\0' || v == 0 || v > 10000000ull)
    return -1;
  *out = (int64_t)v * unit;
  return 0;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"bind", required_argument, NULL, OPT_BIND},
      {"port", required_argument, NULL, OPT_PORT},
      {"db", required_argument, NULL, OPT_DB},
      {"store", required_argument, NULL, OPT_DB},
      {"log-level", required_argument, NULL, OPT_LOG},
      {"max-body", required_argument, NULL, OPT_MAX_BODY},
      {"max-observers", required_argument, NULL, OPT_MAX_OBS},
      {"max-idle-sessions", required_argument, NULL, OPT_MAX_IDLE},
      {"max-idle-resources", required_argument, NULL, OPT_MAX_IDLE_RES},
      {"session-timeout", required_argument, NULL, OPT_SESSION_TIMEOUT},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, OPT_VERSION},
      {"token-ttl", required_argument, NULL, OPT_TOKEN_TTL},
      {"login-user-failures", required_argument, NULL, OPT_LOGIN_USER},
      {"login-peer-failures", required_argument, NULL, OPT_LOGIN_PEER},
      {"login-window", required_argument, NULL, OPT_LOGIN_WINDOW},
      {"login-slow-after", required_argument, NULL, OPT_LOGIN_SLOW},
      {"login-max-delay", required_argument, NULL, OPT_LOGIN_DELAY},
      {"login-threads", required_argument, NULL, OPT_LOGIN_THREADS},
      {"login-queue", required_argument, NULL, OPT_LOGIN_QUEUE},
      {"psk-port", required_argument, NULL, OPT_PSK_PORT},
      {"dtls", no_argument, NULL, OPT_DTLS},
      {"no-plain", no_argument, NULL, OPT_NO_PLAIN},
      {"http", required_argument, NULL, OPT_HTTP},
      {"observe-check", required_argument, NULL, OPT_OBSERVE_CHECK},
      {"ack-timeout", required_argument, NULL, OPT_ACK_TIMEOUT},
      {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
      {"access-log", required_argument, NULL, OPT_ACCESS_LOG},
      {"http-streams", required_argument, NULL, OPT_HTTP_STREAMS},
      {NULL, 0, NULL, 0}};
  ec_server_config_t cfg;
  unsigned long v;
  int c, level;

  if (argc > 1 && strcmp(argv[1], "admin") == 0)
    return ec_admin_main(argc - 1, argv + 1);
  ec_server_config_default(&cfg);
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case OPT_BIND:
      cfg.bind_addr = optarg;
      break;
    case OPT_PORT:
      if (parse_uint(optarg, 65535, &v) < 0)
        goto bad_value;
      cfg.port = (uint16_t)v;
      break;
    case OPT_PSK_PORT:
      if (parse_uint(optarg, 65535, &v) < 0 || v == 0)
        goto bad_value;
      cfg.psk_port = (uint16_t)v;
      break;
    case OPT_DTLS:
      cfg.dtls = true;
      break;
    case OPT_NO_PLAIN:
      cfg.no_plain = true;
      break;
    case OPT_DB:
      cfg.store = optarg;
      break;
    case OPT_HTTP: {
      struct sockaddr_storage sa;
      socklen_t len;
      if (strcmp(optarg, "off") == 0) {
        cfg.http_addr = NULL;
        break;
      }
      if (ec_http_parse_addr(optarg, &sa, &len) < 0)
        goto bad_value;
      cfg.http_addr = optarg;
      cfg.http_explicit = true;
      break;
    }
    case OPT_HTTP_STREAMS:
      if (parse_uint(optarg, 60, &v) < 0 || v < 1)
        goto bad_value;
      cfg.http_streams = (unsigned)v;
      break;
    case OPT_OBSERVE_CHECK:
      if (parse_uint(optarg, 86400, &v) < 0)
        goto bad_value;
      cfg.observe_check_s = (unsigned)v;
      break;
    case OPT_ACK_TIMEOUT:
      if (parse_uint(optarg, 60000, &v) < 0 || v < 10)
        goto bad_value;
      cfg.ack_timeout_ms = (unsigned)v;
      break;
    case OPT_LOG:
      if ((level = ec_log_level_parse(optarg)) < 0)
        goto bad_value;
      ec_log_set_level((ec_log_level_t)level);
      break;
    case OPT_LOG_FORMAT:
      if ((level = ec_log_format_parse(optarg)) < 0)
        goto bad_value;
      ec_log_set_format((ec_log_format_t)level);
      break;
    case OPT_ACCESS_LOG:
      if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0)
        goto bad_value;
      cfg.access_log = strcmp(optarg, "on") == 0;
      break;
    case OPT_MAX_BODY:
      if (parse_uint(optarg, 16ul << 20, &v) < 0 || v < 1024)
        goto bad_value;
      cfg.max_body = v;
      break;
    case OPT_MAX_OBS:
      if (parse_uint(optarg, 1000000, &v) < 0)
        goto bad_value;
      cfg.max_observers = (unsigned)v;
      break;
    case OPT_MAX_IDLE:
      if (parse_uint(optarg, 1000000, &v) < 0)
        goto bad_value;
      cfg.max_idle_sessions = (unsigned)v;
      break;
    case OPT_MAX_IDLE_RES:
      if (parse_uint(optarg, 10000000, &v) < 0)
        goto bad_value;
      cfg.max_idle_resources = (unsigned)v;
      break;
    case OPT_SESSION_TIMEOUT:
      if (parse_uint(optarg, 86400, &v) < 0 || v == 0)
        goto bad_value;
      cfg.session_timeout_s = (unsigned)v;
      break;
    case OPT_TOKEN_TTL:
      if (parse_duration_ms(optarg, &cfg.token_ttl_ms) < 0)
        goto bad_value;
      break;
    case OPT_LOGIN_USER:
    case OPT_LOGIN_PEER:
      if (parse_uint(optarg, 1000000, &v) < 0 || v == 0)
        goto bad_value;
      *(c == OPT_LOGIN_USER ? &cfg.login_user_failures
                            : &cfg.login_peer_failures) = (unsigned)v;
      break;
    case OPT_LOGIN_WINDOW:
      if (parse_duration_ms(optarg, &cfg.login_window_ms) < 0)
        goto bad_value;
      break;
    case OPT_LOGIN_SLOW:
    case OPT_LOGIN_QUEUE:
      if (parse_uint(optarg, 1000000, &v) < 0 || v == 0)
        goto bad_value;
      *(c == OPT_LOGIN_SLOW ? &cfg.login_slow_after : &cfg.login_queue) =
          (unsigned)v;
      break;
    case OPT_LOGIN_DELAY:
      if (parse_duration_ms(optarg, &cfg.login_max_delay_ms) < 0)
        goto bad_value;
      break;
    case OPT_LOGIN_THREADS:
      if (parse_uint(optarg, EC_PWCHECK_MAX_THREADS, &v) < 0 || v == 0)
        goto bad_value;
      cfg.login_threads = (unsigned)v;
      break;
    case 'h':
      usage(stdout);
      return 0;
    case OPT_VERSION:
      printf("edgecoap-server %s\n", EDGECOAP_VERSION);
      return 0;
    default:
      usage(stderr);
      return EXIT_USAGE;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "edgecoap-server: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    return EXIT_USAGE;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  ec_server_t *srv;
  int rc = ec_server_new(&cfg, &srv);
  if (rc < 0) {
    ec_log(EC_LOG_ERROR, "cannot start: %s", ec_strerror(rc));
    /* Distinct statuses for the two conflicts with another server, so a
     * supervisor can tell them from a configuration error. */
    return rc == EC_EADDRINUSE ? EXIT_ADDR_IN_USE
           : rc == EC_EBUSY    ? EXIT_DB_IN_USE
                               : EXIT_START_FAILED;
  }
  rc = ec_server_run(srv, &stop_flag);
  ec_log(EC_LOG_INFO, "stopping");
  ec_server_free(srv);
  return rc < 0 ? EXIT_START_FAILED : 0;

bad_value:
  /* Found by value: the table's order need not follow the enum's. */
  for (v = 0; opts[v].name != NULL && opts[v].val != c; v++)
    ;
  fprintf(stderr, "edgecoap-server: invalid value '%s' for --%s\n", optarg,
          opts[v].name ? opts[v].name : "?");
  return EXIT_USAGE;
}
