/* edgecoap tests: the real server: start, stop, kill, its log and memory. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "itest.h"
#include "itest_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#ifndef EC_SERVER_BIN
#error "EC_SERVER_BIN must name the edgecoap-server binary"
#endif

/* How long a started server gets to answer its first ping, per attempt. */
#define START_WAIT_MS 5000
/* Port attempts before giving up: another process may take a free port
 * between our probe and the server's bind. */
#define START_ATTEMPTS 3
/* How long SIGTERM gets before SIGKILL. The server's loop notices the signal
 * within a second; sanitizer builds spend a little more on exit. */
#define STOP_WAIT_MS 6000
/* Lines the library writes into the server's log. */
#define START_MARK "==== itest: starting"
#define FAILED_MARK "==== itest: this start failed"

/* One CON GET /.well-known/core; any answer to its Message ID will do. */
static bool ping(uint16_t port, unsigned timeout_ms) {
  it_udp_t u;
  it_coap_msg_t req, resp;
  if (it_udp_open(&u, port) < 0)
    return false;
  uint8_t tok[4];
  it_udp_token(&u, tok);
  it_coap_init(&req, IT_CON, IT_GET, it_udp_mid(&u), tok, sizeof(tok));
  it_coap_add_path(&req, ".well-known/core");
  uint8_t dgram[IT_COAP_MAX_DGRAM];
  ssize_t n = it_coap_encode(&req, dgram, sizeof(dgram));
  bool ok = false;
  uint64_t deadline = it_now_ms() + timeout_ms;
  if (n > 0 && it_udp_send(&u, dgram, (size_t)n) == 0) {
    while (!ok && it__remaining_ms(deadline) > 0) {
      if (it_udp_recv_msg(&u, &resp, it__remaining_ms(deadline)) < 0)
        break;
      ok = resp.mid == req.mid && (resp.type == IT_ACK || resp.type == IT_RST);
    }
  }
  it_udp_close(&u);
  return ok;
}

/* Reap the server if it has ended; describe how into @p why. */
static bool server_exited(it_server_t *s, char *why, size_t cap) {
  int status;
  if (s->pid <= 0) {
    snprintf(why, cap, "was not running");
    return true;
  }
  pid_t w = waitpid(s->pid, &status, WNOHANG);
  if (w != s->pid)
    return false;
  if (WIFSIGNALED(status))
    snprintf(why, cap, "killed by signal %d (%s)", WTERMSIG(status),
             strsignal(WTERMSIG(status)));
  else
    snprintf(why, cap, "exited with status %d", WEXITSTATUS(status));
  s->pid = 0;
  return true;
}

/* Start once on @p port; 0 when it answers, -1 when it exited or hung. */
static int start_once(it_server_t *s, uint16_t port) {
  char port_s[8];
  snprintf(port_s, sizeof(port_s), "%u", port);
  const char *argv[14 + IT_MAX_EXTRA_ARGS];
  int n = 0;
  /* EC_TEST_SERVER_BIN runs a suite against another build (bench/rss, or an
   * older binary to see a regression test fail). */
  const char *bin = getenv("EC_TEST_SERVER_BIN");
  if (bin == NULL || *bin == '\0')
    bin = EC_SERVER_BIN;
  argv[n++] = bin;
  argv[n++] = "--bind";
  argv[n++] = "127.0.0.1";
  argv[n++] = "--port";
  argv[n++] = port_s;
  argv[n++] = "--db";
  argv[n++] = s->db;
  argv[n++] = "--log-level";
  argv[n++] = "debug";
  /* Tests run servers side by side: none takes the default HTTP port, a
   * suite that wants HTTP names a port of its own (a later --http wins). */
  argv[n++] = "--http";
  argv[n++] = "off";
  for (int i = 0; i < s->n_extra; i++)
    argv[n++] = s->extra[i];
  argv[n] = NULL;

  int logfd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (logfd < 0) {
    fprintf(stderr, "itest: cannot open %s: %s\n", s->log, strerror(errno));
    return -1;
  }
  dprintf(logfd, START_MARK " %s on port %u\n", bin, port);
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(logfd);
    fprintf(stderr, "itest: fork: %s\n", strerror(errno));
    return -1;
  }
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    /* A test that dies (an assertion under -fsanitize halts it) takes its
     * server along, and the server keeps none of the test's descriptors:
     * an orphan holding, say, a lock file inherited from the caller would
     * hold that lock for as long as it runs. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (int fd = 3; fd < 1024; fd++)
      close(fd);
    execv(argv[0], (char *const *)argv);
    static const char msg[] = "itest: cannot exec the server\n";
    ssize_t w = write(2, msg, sizeof(msg) - 1);
    (void)w;
    _exit(127);
  }
  close(logfd);
  s->pid = pid;
  s->port = port;
  snprintf(s->url, sizeof(s->url), "coap://127.0.0.1:%u", port);

  char why[96];
  uint64_t deadline = it_now_ms() + START_WAIT_MS;
  while (it__remaining_ms(deadline) > 0) {
    if (server_exited(s, why, sizeof(why))) {
      fprintf(stderr, "itest: the server on port %u %s while starting\n", port,
              why);
      return -1;
    }
    if (ping(port, 250))
      return 0;
  }
  fprintf(stderr, "itest: the server on port %u did not answer within %d ms\n",
          port, START_WAIT_MS);
  kill(s->pid, SIGKILL);
  while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
    ;
  s->pid = 0;
  return -1;
}

/* Close a failed attempt's section of the log, so that what it logged (a
 * port taken by someone else, typically) is not held against the server. */
static void mark_failed_start(const it_server_t *s) {
  int fd = open(s->log, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd >= 0) {
    dprintf(fd, FAILED_MARK "\n");
    close(fd);
  }
}

static int start_attempts(it_server_t *s, int first_port) {
  for (int attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    uint16_t port;
    if (attempt == 0 && first_port > 0)
      port = (uint16_t)first_port;
    else if ((port = it_free_port()) == 0) {
      fprintf(stderr, "itest: no free UDP port: %s\n", strerror(errno));
      continue;
    }
    if (start_once(s, port) == 0)
      return 0;
    mark_failed_start(s);
    if (attempt + 1 < START_ATTEMPTS)
      fprintf(stderr, "itest: trying another port\n");
  }
  it_server_log_tail(s, 40);
  return -1;
}

/*
 * EC_IT_STORE=postgres://... (CTest's *_postgres runs, in a throw-away
 * cluster: tests/support/pgtmp) runs the server on PostgreSQL: each
 * server's store is a new schema of that database, named in the URI that
 * s->db then holds (which the admin commands take as --db does a path).
 */
static int pg_store(it_server_t *s, const char *base) {
  static unsigned n;
  char schema[64], sql[96];
  snprintf(schema, sizeof(schema), "ec_it_%ld_%u", (long)getpid(), ++n);
  snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
  PGconn *c = PQconnectdb(base);
  PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
  bool ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok)
    fprintf(stderr, "itest: EC_IT_STORE: %s", PQerrorMessage(c));
  PQclear(r);
  PQfinish(c);
  int len = snprintf(s->db, sizeof(s->db), "%s%coptions=-csearch_path%%3D%s",
                     base, strchr(base, '?') != NULL ? '&' : '?', schema);
  return ok && len > 0 && (size_t)len < sizeof(s->db) ? 0 : -1;
}

int it_server_start(it_server_t *s, const char *const *extra) {
  memset(s, 0, sizeof(*s));
  const char *tmp = getenv("TMPDIR");
  snprintf(s->dir, sizeof(s->dir), "%s/edgecoap-it-XXXXXX",
           tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(s->dir) == NULL) {
    fprintf(stderr, "itest: mkdtemp %s: %s\n", s->dir, strerror(errno));
    return -1;
  }
  snprintf(s->db, sizeof(s->db), "%s/edgecoap.db", s->dir);
  snprintf(s->log, sizeof(s->log), "%s/server.log", s->dir);
  const char *pg = getenv("EC_IT_STORE");
  if (pg != NULL && strncmp(pg, "postgres", 8) == 0 && pg_store(s, pg) < 0)
    return -1;
  for (; extra != NULL && extra[s->n_extra] != NULL; s->n_extra++) {
    if (s->n_extra == IT_MAX_EXTRA_ARGS ||
        (s->extra[s->n_extra] = strdup(extra[s->n_extra])) == NULL) {
      fprintf(stderr, "itest: too many extra server arguments\n");
      return -1;
    }
  }
  return start_attempts(s, 0);
}

int it_server_stop(it_server_t *s) {
  char why[96];
  if (s->pid <= 0) {
    fprintf(stderr, "itest: the server is not running\n");
    return -1;
  }
  if (server_exited(s, why, sizeof(why))) {
    fprintf(stderr, "itest: the server had already ended: it %s\n", why);
    it_server_log_tail(s, 40);
    return -1;
  }
  kill(s->pid, SIGTERM);
  uint64_t deadline = it_now_ms() + STOP_WAIT_MS;
  int status = 0;
  pid_t w = 0;
  while (it__remaining_ms(deadline) > 0 &&
         (w = waitpid(s->pid, &status, WNOHANG)) == 0)
    it_sleep_ms(10);
  if (w != s->pid) {
    fprintf(stderr, "itest: the server ignored SIGTERM for %d ms; killed\n",
            STOP_WAIT_MS);
    kill(s->pid, SIGKILL);
    while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
      ;
    s->pid = 0;
    it_server_log_tail(s, 40);
    return -1;
  }
  s->pid = 0;
  if (WIFSIGNALED(status)) {
    fprintf(stderr, "itest: the server crashed on SIGTERM: signal %d (%s)\n",
            WTERMSIG(status), strsignal(WTERMSIG(status)));
    it_server_log_tail(s, 40);
    return -1;
  }
  if (WEXITSTATUS(status) != 0) {
    fprintf(stderr, "itest: the server exited with status %d on SIGTERM\n",
            WEXITSTATUS(status));
    it_server_log_tail(s, 40);
    return -1;
  }
  return 0;
}

int it_server_restart(it_server_t *s) {
  int port = s->port;
  int rc = it_server_stop(s);
  /* Keep the port when possible, so observers and URLs stay the same. */
  if (start_attempts(s, port) < 0)
    return -1;
  return rc;
}

bool it_server_running(it_server_t *s) {
  char why[96];
  if (s->pid <= 0)
    return false;
  if (!server_exited(s, why, sizeof(why)))
    return true;
  fprintf(stderr, "itest: the server has ended: it %s\n", why);
  it_server_log_tail(s, 40);
  return false;
}

bool it_server_alive(it_server_t *s, unsigned timeout_ms) {
  char why[96];
  if (server_exited(s, why, sizeof(why))) {
    fprintf(stderr, "itest: the server is gone: it %s\n", why);
    it_server_log_tail(s, 40);
    return false;
  }
  uint64_t deadline = it_now_ms() + timeout_ms;
  do {
    if (ping(s->port, it__remaining_ms(deadline) < 500
                          ? it__remaining_ms(deadline)
                          : 500))
      return true;
  } while (it__remaining_ms(deadline) > 0);
  fprintf(stderr, "itest: the server does not answer pings\n");
  it_server_log_tail(s, 40);
  return false;
}

void it_server_log_tail(const it_server_t *s, int lines) {
  uint8_t *log;
  size_t len;
  if (s->log[0] == '\0' || it_read_file(s->log, &log, &len) < 0)
    return;
  size_t start = len;
  int seen = 0;
  while (start > 0) {
    if (log[start - 1] == '\n' && start != len && ++seen == lines)
      break;
    start--;
  }
  fprintf(stderr, "---- last %d lines of %s:\n%s---- end of log\n", lines,
          s->log, (const char *)log + start);
  free(log);
}

int it_server_log_count(const it_server_t *s, const char *needle) {
  uint8_t *log;
  size_t len;
  if (it_read_file(s->log, &log, &len) < 0)
    return -1;
  /* Count section by section: one per start, skipping failed starts. */
  int n = 0;
  char *section = (char *)log;
  while (*section) {
    char *next = strstr(section + 1, "\n" START_MARK);
    if (next != NULL)
      *++next = '\0'; /* end the section before the mark; restored below */
    if (strstr(section, FAILED_MARK) == NULL)
      n += it__count_lines(section, needle);
    if (next == NULL)
      break;
    *next = '=';
    section = next;
  }
  free(log);
  return n;
}

int it_server_kill(it_server_t *s) {
  char why[96];
  if (s->pid <= 0 || server_exited(s, why, sizeof(why))) {
    fprintf(stderr, "itest: cannot kill the server: it is not running\n");
    return -1;
  }
  pid_t pid = s->pid;
  int status = 0;
  kill(pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  s->pid = 0;
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
    fprintf(stderr, "itest: the server ended before SIGKILL reached it\n");
    it_server_log_tail(s, 40);
    return -1;
  }
  return 0;
}

int it_server_start_again(it_server_t *s) {
  if (s->pid > 0) {
    fprintf(stderr, "itest: the server is still running\n");
    return -1;
  }
  return start_attempts(s, s->port);
}

/* One "Name: N kB" field of /proc/PID/status, or -1. */
static long proc_status_kib(const it_server_t *s, const char *field) {
  char path[64], line[256], fmt[32];
  long kib = -1;
  if (s->pid <= 0)
    return -1;
  snprintf(path, sizeof(path), "/proc/%ld/status", (long)s->pid);
  snprintf(fmt, sizeof(fmt), "%s: %%ld kB", field);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return -1;
  while (fgets(line, sizeof(line), f) != NULL)
    if (sscanf(line, fmt, &kib) == 1)
      break;
  fclose(f);
  return kib;
}

long it_server_rss_kib(const it_server_t *s) {
  return proc_status_kib(s, "VmRSS");
}

long it_server_hwm_kib(const it_server_t *s) {
  return proc_status_kib(s, "VmHWM");
}

int it_server_cleanup(it_server_t *s, bool keep) {
  int rc = 0;
  if (s->pid > 0)
    rc = it_server_stop(s);
  for (int i = 0; i < s->n_extra; i++)
    free(s->extra[i]);
  s->n_extra = 0;
  if (s->dir[0] != '\0') {
    if (keep)
      fprintf(stderr, "itest: kept %s for inspection\n", s->dir);
    else
      it_rmdir_files(s->dir);
  }
  return rc;
}

unsigned it_after_run(unsigned failed, void *srv) {
  return failed + (it_server_cleanup(srv, failed != 0) != 0);
}
