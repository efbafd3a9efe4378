/* edgecoap: what a newcomer meets first: start-up refusals and the programs' messages. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "itest.h"
#include "suite.h"

/*
 * A second server on a port or a database already in use must refuse to
 * start (exit 3, exit 4) and leave the first one serving; a database that
 * cannot take writes, or whose folder is missing, is refused before
 * serving with a message that names it; the database's full path is
 * logged; the admin commands default to edgecoap.db as the server does.
 * The client says what happened when nothing listens (at once), when
 * nothing answers, when a watched server stops and when an input file is
 * missing (exit 4), exits as --help says, traces its datagrams with
 * EDGECOAP_DEBUG=1, has --version,
 * does not advertise coap+tcp://, and lists only the options a command
 * takes. Every program is the real one, on 127.0.0.1.
 */

#define DEP "5e1f5e1f-0000-4000-8000-000000000010"
#define RUN_MS 20000
#define STATUS_PATH "device/dev1/deployment/" DEP "/status"

static it_server_t srv;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static const char *report(const char *state) {
  static char buf[320];
  return it_report(buf, sizeof(buf), DEP, state, "c", state);
}

/* `sh -c SCRIPT` (for a working folder or a user of its own). */
static int sh(const char *script, it_result_t *r) {
  const char *argv[] = {"/bin/sh", "-c", script, NULL};
  return it_run(argv, NULL, 0, RUN_MS, r);
}

static bool has(const char *text, const char *needle) {
  return text != NULL && strstr(text, needle) != NULL;
}

/* A new folder @p name in the suite's server's folder: its path in @p dir,
 * its real path (symbolic links resolved) in @p real. */
static int subdir(const char *name, char dir[320], char real[PATH_MAX]) {
  snprintf(dir, 320, "%s/%s", srv.dir, name);
  return mkdir(dir, 0700) == 0 && realpath(dir, real) != NULL ? 0 : -1;
}

/* A second server on @p port with @p db; its result in *r. */
static void second_server(uint16_t port, const char *db, it_result_t *r) {
  char port_s[8], psk_s[8];
  snprintf(port_s, sizeof(port_s), "%u", port);
  snprintf(psk_s, sizeof(psk_s), "%u", it_free_port());
  const char *argv[] = {EC_SERVER_BIN, "--bind", "127.0.0.1", "--port",
                        port_s,        "--psk-port", psk_s, "--db", db, NULL};
  /* A second server that starts does not end by itself: it_run kills it
   * when the time is up, which fails the checks below. */
  it_run(argv, NULL, 0, 5000, r);
}

/* POST a report to the suite's server through edgecoap-client. */
static int post_status(const char *url, const char *state) {
  char file[320];
  it_result_t r = {0};
  snprintf(file, sizeof(file), "%s/report.json", srv.dir);
  const char *doc = report(state);
  if (it_write_file(file, doc, strlen(doc)) < 0)
    return -1;
  const char *argv[] = {EC_CLIENT_BIN, "--url", url, "status", "report",
                        "dev1",        DEP,     file, NULL};
  int rc = it_run(argv, NULL, 0, RUN_MS, &r);
  if (rc < 0)
    it_result_dump("status report", &r);
  it_result_free(&r);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Item 10: one server per port, one per database                           */

static void test_second_server_on_a_used_port_refused(void) {
  char db[320], needle[64];
  it_result_t r = {0};
  snprintf(db, sizeof(db), "%s/other.db", srv.dir);
  second_server(srv.port, db, &r);
  CU_ASSERT_FALSE(r.timed_out);
  CU_ASSERT_EQUAL(r.exit_code, 3);
  snprintf(needle, sizeof(needle), "[127.0.0.1]:%u", srv.port);
  CU_ASSERT(has(r.err, needle));
  CU_ASSERT(has(r.err, "in use"));
  if (r.exit_code != 3 || !has(r.err, needle))
    it_result_dump("second server", &r);
  it_result_free(&r);
  /* The first one still has the port: a write lands in its database. */
  CU_ASSERT_TRUE(it_server_alive(&srv, 5000));
  CU_ASSERT_EQUAL(post_status(srv.url, "Installing"), 0);
  const char *argv[] = {EC_CLIENT_BIN, "--url", srv.url, "--json", "status",
                        "get",         "dev1",  DEP,     NULL};
  CU_ASSERT_EQUAL(it_run(argv, NULL, 0, RUN_MS, &r), 0);
  CU_ASSERT(has(r.out, "Installing"));
  it_result_free(&r);
}

/* Nor can another program (libcoap's coap-server binds with SO_REUSEADDR,
 * which Linux would let share the port) bind the server's port later. */
static void test_port_not_shared_with_reuseaddr(void) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0), on = 1;
  CU_ASSERT_FATAL(fd >= 0);
  CU_ASSERT_EQUAL(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)),
                  0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(srv.port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  errno = 0;
  CU_ASSERT_NOT_EQUAL(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  CU_ASSERT_EQUAL(errno, EADDRINUSE);
  close(fd);
}

static void test_second_server_on_a_used_database_refused(void) {
  it_result_t r = {0};
  second_server(it_free_port(), srv.db, &r);
  CU_ASSERT_FALSE(r.timed_out);
  CU_ASSERT_EQUAL(r.exit_code, 4);
  CU_ASSERT(has(r.err, srv.db));
  CU_ASSERT(has(r.err, "in use by another edgecoap-server"));
  if (r.exit_code != 4)
    it_result_dump("second server", &r);
  it_result_free(&r);
  CU_ASSERT_TRUE(it_server_alive(&srv, 5000));
}

/* The README adds identities while the server runs: the lock is the
 * servers' only, so the admin commands keep working beside one. */
static void test_admin_works_beside_a_server(void) {
  it_result_t r = {0};
  const char *add[] = {EC_SERVER_BIN, "admin", "device-add", "--db", srv.db,
                       "--identity",  "dev9",  NULL};
  CU_ASSERT_EQUAL(it_run(add, NULL, 0, RUN_MS, &r), 0);
  it_result_free(&r);
  const char *list[] = {EC_SERVER_BIN, "admin", "device-list", "--db", srv.db,
                        NULL};
  CU_ASSERT_EQUAL(it_run(list, NULL, 0, RUN_MS, &r), 0);
  CU_ASSERT(has(r.out, "dev9"));
  it_result_free(&r);
}

/* ------------------------------------------------------------------------ */
/* Item 11: failures found at start, and named                              */

static void test_missing_folder_named(void) {
  char db[320], cmd[1024];
  it_result_t r = {0};
  snprintf(db, sizeof(db), "%s/no-such-folder/edgecoap.db", srv.dir);
  second_server(it_free_port(), db, &r);
  CU_ASSERT_EQUAL(r.exit_code, 1);
  CU_ASSERT(has(r.err, "no-such-folder does not exist"));
  it_result_free(&r);
  snprintf(cmd, sizeof(cmd), "'%s' admin device-list --db '%s'", EC_SERVER_BIN,
           db);
  CU_ASSERT_NOT_EQUAL(sh(cmd, &r), 0);
  CU_ASSERT(has(r.err, "no-such-folder does not exist"));
  it_result_free(&r);
}

/* Start a server in a new folder @p sub with "--OPTION 'NAME'" (its store),
 * its log on standard output, where it_proc_wait_for() looks, until it
 * says it serves database file @p file there; the folder's real path in
 * @p real. */
static void serve_in(const char *sub, const char *option, const char *name,
                     const char *file, char real[PATH_MAX], it_proc_t **p) {
  char dir[320], cmd[1400], needle[PATH_MAX + 64];
  CU_ASSERT_EQUAL_FATAL(subdir(sub, dir, real), 0);
  snprintf(cmd, sizeof(cmd),
           "cd '%s' && exec '%s' --bind 127.0.0.1 --port %u --psk-port %u "
           "--%s '%s' 2>&1",
           dir, EC_SERVER_BIN, it_free_port(), it_free_port(), option, name);
  const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
  CU_ASSERT_EQUAL_FATAL(it_proc_spawn(argv, NULL, 0, p), 0);
  snprintf(needle, sizeof(needle), "serving, database %s/%s", real, file);
  CU_ASSERT_EQUAL(it_proc_wait_for(*p, needle, 10000), 1);
}

/* Started from a folder of its own with a relative --db: the log names the
 * database's full path, and says that it was just created. */
static void test_full_path_logged(void) {
  char real[PATH_MAX], needle[PATH_MAX + 64];
  it_proc_t *p = NULL;
  it_result_t r = {0};
  serve_in("elsewhere", "db", "here.db", "here.db", real, &p);
  snprintf(needle, sizeof(needle), "%s/here.db did not exist: created it",
           real);
  CU_ASSERT(has(it_proc_stdout(p), needle));
  it_proc_stop(p, 5000, &r);
  it_result_free(&r);
}

/* A database that cannot take a write is refused before serving. As root
 * (which may write a read-only file) the server runs as nobody. */
static void test_read_only_database_refused(void) {
  char dir[320], db[340], cmd[1200];
  it_result_t r = {0};
  snprintf(dir, sizeof(dir), "%s/ro", srv.dir);
  snprintf(db, sizeof(db), "%s/ro.db", dir);
  CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0755), 0);
  const char *mk[] = {EC_SERVER_BIN, "admin", "device-list", "--db", db, NULL};
  CU_ASSERT_EQUAL_FATAL(it_run(mk, NULL, 0, RUN_MS, &r), 0);
  it_result_free(&r);
  CU_ASSERT_EQUAL_FATAL(chmod(db, 0444), 0);
  bool root = geteuid() == 0;
  /* The test's folders are root's own (0700): let nobody through to dir. */
  if (root)
    CU_ASSERT_EQUAL_FATAL(chmod(srv.dir, 0711), 0);
  snprintf(cmd, sizeof(cmd),
           "%s%s%s '%s' --bind 127.0.0.1 --port %u --psk-port %u --db '%s'",
           root ? "chown -R 65534:65534 '" : "", root ? dir : "",
           root ? "' && exec setpriv --reuid=65534 --regid=65534 "
                  "--clear-groups"
                : "exec",
           EC_SERVER_BIN, it_free_port(), it_free_port(), db);
  const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
  it_run(argv, NULL, 0, 5000, &r);
  CU_ASSERT_FALSE(r.timed_out);
  CU_ASSERT_EQUAL(r.exit_code, 1);
  CU_ASSERT(has(r.err, "read-only") || has(r.err, "cannot write"));
  CU_ASSERT(has(r.err, db));
  if (r.exit_code != 1)
    it_result_dump("server on a read-only database", &r);
  it_result_free(&r);
  if (root)
    chmod(srv.dir, 0700);
}

/* --store names the store: sqlite:PATH and a file: URI are the same SQLite
 * database as --db PATH (one server on it, the admin commands beside it),
 * and postgres:// is refused (its backend is not complete yet), without
 * echoing the URI. */
static void test_store_names(void) {
  char real[PATH_MAX], name[PATH_MAX + 64];
  it_proc_t *p = NULL;
  it_result_t r = {0};
  /* Relative to the folder the server starts in, as a path would be. */
  serve_in("named", "store", "sqlite:named.db", "named.db", real, &p);

  snprintf(name, sizeof(name), "file:%s/named.db?cache=private", real);
  second_server(it_free_port(), name, &r);
  CU_ASSERT_EQUAL(r.exit_code, 4); /* the same database, named otherwise */
  CU_ASSERT(has(r.err, "in use by another edgecoap-server"));
  it_result_free(&r);
  const char *list[] = {EC_SERVER_BIN, "admin", "device-list", "--store",
                        name, NULL};
  CU_ASSERT_EQUAL(it_run(list, NULL, 0, RUN_MS, &r), 0);
  it_result_free(&r);
  it_proc_stop(p, 5000, &r);
  it_result_free(&r);

  /* A password in a PostgreSQL URI is refused, and never echoed. */
  second_server(it_free_port(), "postgres://edge:s3cret@127.0.0.1:1/edgecoap",
                &r);
  CU_ASSERT_NOT_EQUAL(r.exit_code, 0);
  CU_ASSERT(has(r.err, "PGPASSFILE or ~/.pgpass"));
  CU_ASSERT(!has(r.err, "s3cret"));
  it_result_free(&r);
  /* No PostgreSQL there: the admin says it cannot open the store. */
  const char *pg[] = {EC_SERVER_BIN, "admin", "user-list", "--store",
                      "postgresql://edgecoap@127.0.0.1:1/edgecoap", NULL};
  CU_ASSERT_NOT_EQUAL(it_run(pg, NULL, 0, RUN_MS, &r), 0);
  CU_ASSERT(has(r.err, "cannot open the database"));
  it_result_free(&r);
}

/* Without --db the admin commands use edgecoap.db in the current folder,
 * as the server does, and say so when they create it. */
static void test_admin_defaults_to_the_servers_database(void) {
  char dir[320], real[PATH_MAX], cmd[1024], needle[PATH_MAX + 64];
  it_result_t r = {0};
  CU_ASSERT_EQUAL_FATAL(subdir("admin-default", dir, real), 0);
  snprintf(cmd, sizeof(cmd),
           "cd '%s' && '%s' admin device-add --identity devd >/dev/null && "
           "'%s' admin device-list",
           dir, EC_SERVER_BIN, EC_SERVER_BIN);
  CU_ASSERT_EQUAL(sh(cmd, &r), 0);
  CU_ASSERT(has(r.out, "devd"));
  snprintf(needle, sizeof(needle), "%s/edgecoap.db did not exist", real);
  CU_ASSERT(has(r.err, needle));
  if (!has(r.out, "devd"))
    it_result_dump("admin without --db", &r);
  it_result_free(&r);
}

/* A UDP socket on 127.0.0.1 that never answers: its port in *port. */
static int silent_socket(uint16_t *port) {
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

/* A closed port is said at once (the ICMP port unreachable), not after
 * every retransmission: "no server at HOST:PORT", exit 3, well before the
 * 20 s timeout, for a request and for a watch. */
static void test_client_no_answer_named(void) {
  char url[64], needle[96];
  it_result_t r = {0};
  uint16_t port = it_free_port();
  snprintf(url, sizeof(url), "coap://127.0.0.1:%u", port);
  snprintf(needle, sizeof(needle), "no server at 127.0.0.1:%u", port);
  const char *get[] = {EC_CLIENT_BIN, "--url", url, "--timeout", "20000",
                       "deployments", "dev1", NULL};
  const char *watch[] = {EC_CLIENT_BIN, "--url",  url, "--timeout", "20000",
                         "status",      "watch", "dev1", DEP,       NULL};
  const char *const *runs[] = {get, watch};
  for (int i = 0; i < 2; i++) {
    uint64_t t0 = it_now_ms();
    it_run(runs[i], NULL, 0, RUN_MS, &r);
    CU_ASSERT_EQUAL(r.exit_code, 3);
    CU_ASSERT(it_now_ms() - t0 < 5000);
    CU_ASSERT(has(r.err, needle));
    if (!has(r.err, needle))
      it_result_dump("client against a closed port", &r);
    it_result_free(&r);
  }
  /* A port that takes datagrams and never answers: the timeout's message. */
  int fd = silent_socket(&port);
  CU_ASSERT_TRUE_FATAL(fd >= 0);
  snprintf(url, sizeof(url), "coap://127.0.0.1:%u", port);
  snprintf(needle, sizeof(needle), "no answer from %s in time", url);
  const char *silent[] = {EC_CLIENT_BIN, "--url", url, "--timeout", "1500",
                          "deployments", "dev1", NULL};
  it_run(silent, NULL, 0, RUN_MS, &r);
  close(fd);
  CU_ASSERT_EQUAL(r.exit_code, 3);
  CU_ASSERT(has(r.err, needle));
  if (!has(r.err, needle))
    it_result_dump("client against a silent port", &r);
  it_result_free(&r);
}

/* Each exit status --help lists, from the real server: 0 for a 2.xx
 * answer, 1 for an error answer (its code and problem title on stderr),
 * 2 for a usage error (nothing sent); 3 and 4 have tests of their own. */
static void test_client_exit_statuses(void) {
  it_result_t r = {0};
  const char *help[] = {EC_CLIENT_BIN, "--help", NULL};
  CU_ASSERT_EQUAL(it_run(help, NULL, 0, RUN_MS, &r), 0);
  CU_ASSERT(has(r.out, "Exit status: 0 on a 2.xx answer; 1 when the server"));
  CU_ASSERT(has(r.out, "3 when no usable answer came"));
  CU_ASSERT(has(r.out, "EDGECOAP_DEBUG=1"));
  it_result_free(&r);
  CU_ASSERT_EQUAL_FATAL(post_status(srv.url, "Installing"), 0);
  const char *ok[] = {EC_CLIENT_BIN, "--url", srv.url, "status",
                      "get",         "dev1",  DEP,     NULL};
  CU_ASSERT_EQUAL(it_run(ok, NULL, 0, RUN_MS, &r), 0);
  CU_ASSERT(has(r.out, "\"Installing\""));
  it_result_free(&r);
  for (int json = 0; json < 2; json++) {
    const char *refused[] = {EC_CLIENT_BIN,
                             "--url",
                             srv.url,
                             "--format",
                             json ? "json" : "cbor",
                             "status",
                             "get",
                             "dev1",
                             "5e1f5e1f-0000-4000-8000-0000000000ff",
                             NULL};
    it_run(refused, NULL, 0, RUN_MS, &r);
    CU_ASSERT_EQUAL(r.exit_code, 1);
    CU_ASSERT(has(r.err, "edgecoap-client: 4.04 no-status: no status was "
                         "reported for device dev1"));
    if (r.exit_code != 1 || !has(r.err, "4.04 no-status: "))
      it_result_dump(json ? "a refusal in JSON" : "a refusal in CBOR", &r);
    CU_ASSERT(r.out_len == 0);
    it_result_free(&r);
  }
  const char *usage[] = {EC_CLIENT_BIN, "--url", srv.url, "status", "get",
                         "dev1", NULL};
  it_run(usage, NULL, 0, RUN_MS, &r);
  CU_ASSERT_EQUAL(r.exit_code, 2);
  CU_ASSERT(has(r.err, "missing arguments"));
  it_result_free(&r);
}

/* EDGECOAP_DEBUG=1: each datagram sent and received on stderr (type,
 * code, Message ID, token, options), stdout unchanged; without it, none. */
static void test_client_debug_trace(void) {
  it_result_t r = {0};
  CU_ASSERT_EQUAL_FATAL(post_status(srv.url, "Installing"), 0);
  const char *get[] = {EC_CLIENT_BIN, "--url", srv.url, "status",
                       "get",         "dev1",  DEP,     NULL};
  setenv("EDGECOAP_DEBUG", "1", 1);
  int rc = it_run(get, NULL, 0, RUN_MS, &r);
  unsetenv("EDGECOAP_DEBUG");
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT(has(r.out, "\"Installing\""));
  CU_ASSERT_FALSE(has(r.out, "coap >"));
  CU_ASSERT(has(r.err, "coap > "));
  CU_ASSERT(has(r.err, ": CON GET mid="));
  CU_ASSERT(has(r.err, " token="));
  CU_ASSERT(has(r.err, "Uri-Path=\"deployment\" Uri-Path=\"" DEP
                       "\" Uri-Path=\"status\" Accept=60"));
  CU_ASSERT(has(r.err, "coap < "));
  CU_ASSERT(has(r.err, ": ACK 2.05 mid="));
  CU_ASSERT(has(r.err, "Content-Format=60"));
  if (!has(r.err, ": ACK 2.05 mid="))
    it_result_dump("status get with EDGECOAP_DEBUG=1", &r);
  it_result_free(&r);
  CU_ASSERT_EQUAL(it_run(get, NULL, 0, RUN_MS, &r), 0);
  CU_ASSERT_FALSE(has(r.err, "coap >"));
  it_result_free(&r);
}

static void test_client_missing_file_exit_code(void) {
  char missing[320];
  it_result_t r = {0};
  snprintf(missing, sizeof(missing), "%s/no-such-report.json", srv.dir);
  const char *report_argv[] = {EC_CLIENT_BIN, "--url", srv.url, "status",
                               "report", "dev1", DEP, missing, NULL};
  it_run(report_argv, NULL, 0, RUN_MS, &r);
  CU_ASSERT_EQUAL(r.exit_code, 4);
  CU_ASSERT(has(r.err, missing));
  it_result_free(&r);
  const char *post_argv[] = {EC_CLIENT_BIN, "--url", srv.url, "messages",
                             "post", missing, NULL};
  it_run(post_argv, NULL, 0, RUN_MS, &r);
  CU_ASSERT_EQUAL(r.exit_code, 4);
  it_result_free(&r);
  const char *key_argv[] = {EC_CLIENT_BIN, "--url", "coaps://127.0.0.1:5684",
                            "--psk-identity", "dev1", "--psk-key-file",
                            missing, "deployments", "dev1", NULL};
  it_run(key_argv, NULL, 0, RUN_MS, &r);
  CU_ASSERT_EQUAL(r.exit_code, 4);
  CU_ASSERT(has(r.err, missing));
  it_result_free(&r);
}

static void test_client_version_and_help(void) {
  it_result_t r = {0};
  const char *version[] = {EC_CLIENT_BIN, "--version", NULL};
  CU_ASSERT_EQUAL(it_run(version, NULL, 0, RUN_MS, &r), 0);
  CU_ASSERT(r.out != NULL && strncmp(r.out, "edgecoap-client ", 16) == 0);
  it_result_free(&r);
  const char *server_version[] = {EC_SERVER_BIN, "--version", NULL};
  CU_ASSERT_EQUAL(it_run(server_version, NULL, 0, RUN_MS, &r), 0);
  it_result_free(&r);
  /* coap+tcp:// is not served: not advertised, and refused as a URL. */
  const char *help[] = {EC_CLIENT_BIN, "--help", NULL};
  CU_ASSERT_EQUAL(it_run(help, NULL, 0, RUN_MS, &r), 0);
  CU_ASSERT_FALSE(has(r.out, "coap+tcp"));
  CU_ASSERT(has(r.out, "--version"));
  it_result_free(&r);
  const char *tcp[] = {EC_CLIENT_BIN, "--url", "coap+tcp://127.0.0.1:5683",
                       "deployments", "dev1", NULL};
  it_run(tcp, NULL, 0, RUN_MS, &r);
  CU_ASSERT_EQUAL(r.exit_code, 2);
  CU_ASSERT_FALSE(has(r.err, "coap+tcp://host"));
  it_result_free(&r);
  /* insert takes no --provisioning-component-id: its help lists none. */
  const char *insert[] = {EC_CLIENT_BIN, "provisioning", "insert", "--help",
                          NULL};
  CU_ASSERT_EQUAL(it_run(insert, NULL, 0, RUN_MS, &r), 0);
  CU_ASSERT(has(r.out, "--provisioning-id"));
  CU_ASSERT_FALSE(has(r.out, "--provisioning-component-id"));
  it_result_free(&r);
}

/* Watchers whose server stops hear it (a last 5.03 notification), say that
 * the server ended the observation and exit 3, rather than print "4.04" or
 * wait for ever. */
static void test_watchers_told_the_server_stopped(void) {
  it_server_t other;
  it_proc_t *p[2] = {NULL, NULL};
  it_result_t r = {0};
  CU_ASSERT_EQUAL_FATAL(it_server_start(&other, NULL), 0);
  CU_ASSERT_EQUAL(post_status(other.url, "Installing"), 0);
  const char *status[] = {EC_CLIENT_BIN, "--url", other.url, "status",
                          "watch",       "dev1",  DEP,       NULL};
  const char *messages[] = {EC_CLIENT_BIN, "--url", other.url, "messages",
                            "watch", NULL};
  CU_ASSERT_EQUAL_FATAL(it_proc_spawn(status, NULL, 0, &p[0]), 0);
  CU_ASSERT_EQUAL_FATAL(it_proc_spawn(messages, NULL, 0, &p[1]), 0);
  CU_ASSERT_EQUAL(it_proc_wait_for(p[0], "Installing", 10000), 1);
  CU_ASSERT_EQUAL(it_proc_wait_for(p[1], "StatusMessages", 10000), 1);
  CU_ASSERT_EQUAL(it_server_stop(&other), 0);
  for (int i = 0; i < 2; i++) {
    it_proc_finish(p[i], 15000, &r);
    CU_ASSERT_FALSE(r.timed_out);
    CU_ASSERT_EQUAL(r.exit_code, 3);
    CU_ASSERT(has(r.err, "ended the observation"));
    if (!has(r.err, "ended the observation"))
      it_result_dump(i == 0 ? "status watch" : "messages watch", &r);
    it_result_free(&r);
  }
  it_server_cleanup(&other, false);
}

/* ------------------------------------------------------------------------ */
/* Item 12: accounts can be listed and removed                              */

/* `edgecoap-server admin ARGS --db srv.db`; *r holds the result. */
static int admin(it_result_t *r, const char *a1, const char *a2,
                 const char *a3) {
  const char *argv[] = {EC_SERVER_BIN, "admin", a1, "--db", srv.db, a2, a3,
                        NULL};
  return it_run(argv, NULL, 0, RUN_MS, r);
}

static void test_user_list_and_remove(void) {
  char token[80] = "";
  it_result_t r = {0};
  CU_ASSERT_EQUAL_FATAL(admin(&r, "import",
                              EC_TEST_DATA_DIR "/provisioning-catalog.json",
                              NULL), 0);
  it_result_free(&r);
  CU_ASSERT_EQUAL(admin(&r, "user-list", NULL, NULL), 0);
  CU_ASSERT(has(r.out, "\tadmin\tadmin\n"));
  CU_ASSERT(has(r.out, "\tdevice\tdevice\n"));
  CU_ASSERT_FALSE(has(r.out, "argon2"));
  it_result_free(&r);

  /* admin logs in and changes a component: it is that row's modifier. */
  const char *login[] = {EC_CLIENT_BIN, "--url", srv.url, "login", "admin",
                         NULL};
  static const char pw[] = "admin-pass-4e1f\n";
  CU_ASSERT_EQUAL_FATAL(it_run(login, pw, strlen(pw), RUN_MS, &r), 0);
  if (r.out != NULL)
    sscanf(r.out, "%79s", token);
  it_result_free(&r);
  const char *insert[] = {EC_CLIENT_BIN, "--url", srv.url, "provisioning",
                          "insert", "--token", token, "--provisioning-id",
                          "11", "--component-type", "Sensor",
                          "--component-id", "1", NULL};
  CU_ASSERT_EQUAL(it_run(insert, NULL, 0, RUN_MS, &r), 0);
  it_result_free(&r);

  /* Removed: the running server refuses its token and its password, and
   * the list shows what is left of it. */
  CU_ASSERT_EQUAL(admin(&r, "user-remove", "--username", "admin"), 0);
  CU_ASSERT(has(r.out, "removed user admin"));
  it_result_free(&r);
  const char *select[] = {EC_CLIENT_BIN, "--url", srv.url, "provisioning",
                          "select", "--token", token, NULL};
  it_run(select, NULL, 0, RUN_MS, &r);
  CU_ASSERT_EQUAL(r.exit_code, 1);
  CU_ASSERT(has(r.err, "INVALID_TOKEN"));
  it_result_free(&r);
  it_run(login, pw, strlen(pw), RUN_MS, &r);
  CU_ASSERT_EQUAL(r.exit_code, 1);
  it_result_free(&r);
  CU_ASSERT_EQUAL(admin(&r, "user-list", NULL, NULL), 0);
  CU_ASSERT(has(r.out, "\tadmin\tremoved\n"));
  it_result_free(&r);

  /* An account nothing names goes entirely; an unknown one is an error. */
  CU_ASSERT_EQUAL(admin(&r, "user-remove", "--username", "device"), 0);
  it_result_free(&r);
  CU_ASSERT_EQUAL(admin(&r, "user-list", NULL, NULL), 0);
  CU_ASSERT_FALSE(has(r.out, "\tdevice\t"));
  it_result_free(&r);
  admin(&r, "user-remove", "--username", "device");
  CU_ASSERT_EQUAL(r.exit_code, 1);
  CU_ASSERT(has(r.err, "no account is named 'device'"));
  it_result_free(&r);
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                    */

static int suite_init(void) {
  it_init();
  return it_server_start(&srv, NULL) == 0 ? 0 : -1;
}

static const ec_test_t tests[] = {
    {test_second_server_on_a_used_port_refused,
     "second_server_on_a_used_port_refused"},
    {test_port_not_shared_with_reuseaddr, "port_not_shared_with_reuseaddr"},
    {test_second_server_on_a_used_database_refused,
     "second_server_on_a_used_database_refused"},
    {test_admin_works_beside_a_server, "admin_works_beside_a_server"},
    {test_missing_folder_named, "missing_folder_named"},
    {test_full_path_logged, "full_path_logged"},
    {test_read_only_database_refused, "read_only_database_refused"},
    {test_admin_defaults_to_the_servers_database,
     "admin_defaults_to_the_servers_database"},
    {test_store_names, "store_names"},
    {test_client_no_answer_named, "client_no_answer_named"},
    {test_client_exit_statuses, "client_exit_statuses"},
    {test_client_debug_trace, "client_debug_trace"},
    {test_client_missing_file_exit_code, "client_missing_file_exit_code"},
    {test_client_version_and_help, "client_version_and_help"},
    {test_watchers_told_the_server_stopped,
     "watchers_told_the_server_stopped"},
    {test_user_list_and_remove, "user_list_and_remove"},
};

int main(void) {
  static const ec_test_after_t after = {it_after_run, &srv, "it_startup"};
  return ec_test_main("startup", tests, EC_TEST_COUNT(tests), suite_init,
                      NULL, &after);
}
