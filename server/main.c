/* edgecoap-server: command line, signals and the serve loop. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "server.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
  (void)sig;
  stop_flag = 1;
}

static void usage(FILE *out) {
  fprintf(out,
          "Usage: edgecoap-server [OPTIONS]\n"
          "\n"
          "Serve the edgecoap resources (Margo deployment status) over CoAP.\n"
          "\n"
          "Options:\n"
          "  --bind ADDR         numeric IPv4 or IPv6 address to listen on "
          "(default ::, every address)\n"
          "  --port N            UDP port (default 5683)\n"
          "  --db PATH           SQLite database file (default edgecoap.db)\n"
          "  --log-level LEVEL   error, warn, info or debug (default info)\n"
          "  --max-body BYTES    largest request body accepted (default "
          "65536)\n"
          "  --max-observers N   observers of one resource (default 20000)\n"
          "  --max-idle-sessions N  idle client sessions kept (default 1000)\n"
          "  --session-timeout S    seconds before an idle session ends "
          "(default 60)\n"
          "  -h, --help          show this help\n"
          "  --version           show the version\n"
          "\n"
          "Logs go to standard error. Stop with SIGINT or SIGTERM.\n");
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
  OPT_SESSION_TIMEOUT,
  OPT_VERSION
};

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"bind", required_argument, NULL, OPT_BIND},
      {"port", required_argument, NULL, OPT_PORT},
      {"db", required_argument, NULL, OPT_DB},
      {"log-level", required_argument, NULL, OPT_LOG},
      {"max-body", required_argument, NULL, OPT_MAX_BODY},
      {"max-observers", required_argument, NULL, OPT_MAX_OBS},
      {"max-idle-sessions", required_argument, NULL, OPT_MAX_IDLE},
      {"session-timeout", required_argument, NULL, OPT_SESSION_TIMEOUT},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, OPT_VERSION},
      {NULL, 0, NULL, 0}};
  ec_server_config_t cfg;
  unsigned long v;
  int c, level;

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
    case OPT_DB:
      cfg.db_path = optarg;
      break;
    case OPT_LOG:
      if ((level = ec_log_level_parse(optarg)) < 0)
        goto bad_value;
      ec_log_set_level((ec_log_level_t)level);
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
    case OPT_SESSION_TIMEOUT:
      if (parse_uint(optarg, 86400, &v) < 0 || v == 0)
        goto bad_value;
      cfg.session_timeout_s = (unsigned)v;
      break;
    case 'h':
      usage(stdout);
      return 0;
    case OPT_VERSION:
      printf("edgecoap-server %s\n", EDGECOAP_VERSION);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "edgecoap-server: unexpected argument '%s'\n", argv[optind]);
    usage(stderr);
    return 2;
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
    return 1;
  }
  rc = ec_server_run(srv, &stop_flag);
  ec_log(EC_LOG_INFO, "stopping");
  ec_server_free(srv);
  return rc < 0 ? 1 : 0;

bad_value:
  fprintf(stderr, "edgecoap-server: invalid value '%s' for --%s\n", optarg,
          opts[c - OPT_BIND].name);
  return 2;
}
