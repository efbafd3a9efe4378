/* edgecoap tests: processes and the real server for integration (raw CoAP: itcoap.c). */
/* SPDX-License-Identifier: Apache-2.0 */
#include "itest.h"
#include "itest_internal.h"

#include <arpa/inet.h>
#include <cbor.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef EC_SERVER_BIN
#error "EC_SERVER_BIN must name the edgecoap-server binary"
#endif
#ifndef COAP_CLIENT_BIN
#error "COAP_CLIENT_BIN must name libcoap's coap-client"
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
/* Captured output beyond this is dropped, so a runaway child cannot exhaust
 * memory. */
#define OUTPUT_CAP (16u << 20)

void it_init(void) {
  /* A child that exits early must not kill us through a write to its stdin. */
  signal(SIGPIPE, SIG_IGN);
}

uint64_t it_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void it_sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

unsigned it__remaining_ms(uint64_t deadline) {
  uint64_t now = it_now_ms();
  return now >= deadline ? 0 : (unsigned)(deadline - now);
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */

int it_read_file(const char *path, uint8_t **data, size_t *len) {
  *data = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "itest: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t cap = 4096, n = 0;
  uint8_t *buf = malloc(cap);
  while (buf != NULL) {
    if (n + 1 >= cap) {
      uint8_t *b = realloc(buf, cap * 2);
      if (b == NULL) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = b;
      cap *= 2;
    }
    size_t r = fread(buf + n, 1, cap - n - 1, f);
    n += r;
    if (r == 0)
      break;
  }
  int bad = buf == NULL || ferror(f);
  fclose(f);
  if (bad) {
    fprintf(stderr, "itest: cannot read %s\n", path);
    free(buf);
    return -1;
  }
  buf[n] = '\0';
  *data = buf;
  *len = n;
  return 0;
}

int it_write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  if (f == NULL) {
    fprintf(stderr, "itest: cannot create %s: %s\n", path, strerror(errno));
    return -1;
  }
  size_t w = len ? fwrite(data, 1, len, f) : 0;
  if (fclose(f) != 0 || w != len) {
    fprintf(stderr, "itest: cannot write %s\n", path);
    return -1;
  }
  return 0;
}

int it_rmdir_files(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL)
    return -1;
  struct dirent *e;
  char p[512];
  int rc = 0;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
    if (unlink(p) < 0)
      rc = -1;
  }
  closedir(d);
  if (rmdir(dir) < 0)
    rc = -1;
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Child processes                                                           */

struct it_proc {
  pid_t pid;
  int fd_in, fd_out, fd_err; /* -1 once closed */
  const uint8_t *in;
  size_t in_len, in_off;
  it__buf_t out, err;
  bool reaped;
  int status;
};

int it__buf_append(it__buf_t *b, const void *p, size_t n) {
  if (b->len + n + 1 > OUTPUT_CAP)
    n = b->len + 1 >= OUTPUT_CAP ? 0 : OUTPUT_CAP - b->len - 1;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *d = realloc(b->data, cap);
    if (d == NULL)
      return -1;
    b->data = d;
    b->cap = cap;
  }
  if (n > 0) /* an empty payload has no pointer to copy from */
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

static void close_fd(int *fd) {
  if (*fd >= 0) {
    close(*fd);
    *fd = -1;
  }
}

/* pipe2() is a GNU extension; the build is strict POSIX. Single-threaded, so
 * no exec can slip in between pipe() and fcntl(). */
static int cloexec_pipe(int fds[2]) {
  if (pipe(fds) < 0)
    return -1;
  fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  return 0;
}

int it_proc_spawn(const char *const *argv, const void *in, size_t in_len,
                  it_proc_t **out) {
  int p_in[2] = {-1, -1}, p_out[2] = {-1, -1}, p_err[2] = {-1, -1};
  *out = NULL;
  it_proc_t *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return -1;
  if ((in != NULL && cloexec_pipe(p_in) < 0) || cloexec_pipe(p_out) < 0 ||
      cloexec_pipe(p_err) < 0) {
    fprintf(stderr, "itest: pipe: %s\n", strerror(errno));
    goto fail;
  }
  /* Make sure the buffers exist even if the child prints nothing. */
  if (it__buf_append(&p->out, "", 0) < 0 || it__buf_append(&p->err, "", 0) < 0)
    goto fail;

  fflush(NULL); /* the child must not print our buffered output again */
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "itest: fork: %s\n", strerror(errno));
    goto fail;
  }
  if (pid == 0) {
    /* Only async-signal-safe calls until exec. */
    int devnull = open("/dev/null", O_RDONLY);
    dup2(in != NULL ? p_in[0] : devnull, 0);
    dup2(p_out[1], 1);
    dup2(p_err[1], 2);
    execv(argv[0], (char *const *)argv);
    static const char msg[] = "itest: exec failed\n";
    ssize_t w = write(2, msg, sizeof(msg) - 1);
    (void)w;
    _exit(127);
  }
  close(p_out[1]);
  close(p_err[1]);
  if (in != NULL)
    close(p_in[0]);
  p->pid = pid;
  p->fd_in = in != NULL ? p_in[1] : -1;
  p->fd_out = p_out[0];
  p->fd_err = p_err[0];
  p->in = in;
  p->in_len = in_len;
  if (p->fd_in >= 0) {
    fcntl(p->fd_in, F_SETFL, fcntl(p->fd_in, F_GETFL) | O_NONBLOCK);
    if (in_len == 0)
      close_fd(&p->fd_in);
  }
  *out = p;
  return 0;

fail:
  for (int i = 0; i < 2; i++) {
    if (p_in[i] >= 0)
      close(p_in[i]);
    if (p_out[i] >= 0)
      close(p_out[i]);
    if (p_err[i] >= 0)
      close(p_err[i]);
  }
  free(p->out.data);
  free(p->err.data);
  free(p);
  return -1;
}

/* Move data between us and the child for at most @p timeout_ms; returns as
 * soon as something was read or written. */
static void pump(it_proc_t *p, unsigned timeout_ms) {
  struct pollfd fds[3];
  int *which[3];
  int n = 0;
  if (p->fd_out >= 0) {
    fds[n] = (struct pollfd){p->fd_out, POLLIN, 0};
    which[n++] = &p->fd_out;
  }
  if (p->fd_err >= 0) {
    fds[n] = (struct pollfd){p->fd_err, POLLIN, 0};
    which[n++] = &p->fd_err;
  }
  if (p->fd_in >= 0) {
    fds[n] = (struct pollfd){p->fd_in, POLLOUT, 0};
    which[n++] = &p->fd_in;
  }
  if (n == 0) {
    it_sleep_ms(timeout_ms < 10 ? timeout_ms : 10);
    return;
  }
  int r = poll(fds, (nfds_t)n, (int)timeout_ms);
  if (r <= 0)
    return;
  for (int i = 0; i < n; i++) {
    if (fds[i].revents == 0)
      continue;
    if (which[i] == &p->fd_in) {
      ssize_t w = write(p->fd_in, p->in + p->in_off, p->in_len - p->in_off);
      if (w > 0)
        p->in_off += (size_t)w;
      if ((w < 0 && errno != EAGAIN) || p->in_off == p->in_len)
        close_fd(&p->fd_in); /* all sent, or the child stopped reading */
      continue;
    }
    char chunk[8192];
    ssize_t got = read(*which[i], chunk, sizeof(chunk));
    if (got > 0)
      it__buf_append(which[i] == &p->fd_out ? &p->out : &p->err, chunk,
                 (size_t)got);
    else if (got == 0 || errno != EINTR)
      close_fd(which[i]);
  }
}

int it_proc_wait_for(it_proc_t *p, const char *needle, unsigned timeout_ms) {
  uint64_t deadline = it_now_ms() + timeout_ms;
  for (;;) {
    if (strstr(p->out.data, needle) != NULL)
      return 1;
    if (p->fd_out < 0 || it__remaining_ms(deadline) == 0)
      return 0;
    pump(p, it__remaining_ms(deadline));
  }
}

static int count_lines(const char *text, const char *needle) {
  int n = 0;
  const char *line = text;
  while (*line) {
    const char *end = strchr(line, '\n');
    if (end == NULL)
      break; /* an unfinished line is not counted yet */
    const char *hit = strstr(line, needle);
    if (hit != NULL && hit < end)
      n++;
    line = end + 1;
  }
  return n;
}

int it_proc_wait_lines(it_proc_t *p, const char *needle, int want,
                       unsigned timeout_ms) {
  uint64_t deadline = it_now_ms() + timeout_ms;
  for (;;) {
    int n = count_lines(p->out.data, needle);
    if (n >= want || p->fd_out < 0 || it__remaining_ms(deadline) == 0)
      return n;
    pump(p, it__remaining_ms(deadline));
  }
}

const char *it_proc_stdout(const it_proc_t *p) {
  return p->out.data;
}

int it_proc_finish(it_proc_t *p, unsigned timeout_ms, it_result_t *r) {
  uint64_t deadline = it_now_ms() + timeout_ms;
  memset(r, 0, sizeof(*r));
  r->exit_code = -1;
  for (;;) {
    if (p->fd_out < 0 && p->fd_err < 0) {
      pid_t w = waitpid(p->pid, &p->status, WNOHANG);
      if (w == p->pid) {
        p->reaped = true;
        break;
      }
    }
    if (it__remaining_ms(deadline) == 0)
      break;
    pump(p, it__remaining_ms(deadline) < 50 ? it__remaining_ms(deadline) : 50);
  }
  if (!p->reaped) {
    r->timed_out = true;
    kill(p->pid, SIGKILL);
    while (waitpid(p->pid, &p->status, 0) < 0 && errno == EINTR)
      ;
    p->reaped = true;
    /* Whatever the child wrote before it died is still in the pipes. */
    close_fd(&p->fd_in);
    for (int i = 0; i < 100 && (p->fd_out >= 0 || p->fd_err >= 0); i++)
      pump(p, 10);
  }
  close_fd(&p->fd_in);
  close_fd(&p->fd_out);
  close_fd(&p->fd_err);
  if (WIFEXITED(p->status))
    r->exit_code = WEXITSTATUS(p->status);
  else if (WIFSIGNALED(p->status))
    r->term_signal = WTERMSIG(p->status);
  r->out = p->out.data;
  r->out_len = p->out.len;
  r->err = p->err.data;
  r->err_len = p->err.len;
  free(p);
  return it_result_ok(r) ? 0 : -1;
}

int it_proc_stop(it_proc_t *p, unsigned timeout_ms, it_result_t *r) {
  if (!p->reaped)
    kill(p->pid, SIGTERM);
  it_proc_finish(p, timeout_ms, r);
  return r->timed_out ? -1 : 0;
}

int it_proc_kill(it_proc_t *p, it_result_t *r) {
  if (!p->reaped)
    kill(p->pid, SIGKILL);
  it_proc_finish(p, 5000, r);
  return r->term_signal == SIGKILL ? 0 : -1;
}

int it_run(const char *const *argv, const void *in, size_t in_len,
           unsigned timeout_ms, it_result_t *r) {
  it_proc_t *p;
  memset(r, 0, sizeof(*r));
  r->exit_code = -1;
  if (it_proc_spawn(argv, in, in_len, &p) < 0)
    return -1;
  int rc = it_proc_finish(p, timeout_ms, r);
  if (r->timed_out)
    fprintf(stderr, "itest: %s did not finish within %u ms; killed\n", argv[0],
            timeout_ms);
  return rc;
}

void it_result_free(it_result_t *r) {
  free(r->out);
  free(r->err);
  r->out = r->err = NULL;
  r->out_len = r->err_len = 0;
}

bool it_result_ok(const it_result_t *r) {
  return !r->timed_out && r->term_signal == 0 && r->exit_code == 0;
}

void it_result_dump(const char *what, const it_result_t *r) {
  fprintf(stderr, "\n--- %s: exit %d, signal %d%s\n", what, r->exit_code,
          r->term_signal, r->timed_out ? ", timed out" : "");
  fprintf(stderr, "--- stdout (%zu bytes):\n%.4000s\n", r->out_len,
          r->out ? r->out : "");
  fprintf(stderr, "--- stderr (%zu bytes):\n%.4000s\n", r->err_len,
          r->err ? r->err : "");
}

/* ------------------------------------------------------------------------ */
/* The server                                                                */


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
    if (ping(s->port,
             it__remaining_ms(deadline) < 500 ? it__remaining_ms(deadline) : 500))
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
      n += count_lines(section, needle);
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

/* ------------------------------------------------------------------------ */
/* Problem details                                                           */

/* Find integer key @p key, or text key @p tkey when it is not NULL. */
static cbor_item_t *cbor_map_find(cbor_item_t *map, int key, const char *tkey) {
  struct cbor_pair *pairs = cbor_map_handle(map);
  for (size_t i = 0; i < cbor_map_size(map); i++) {
    cbor_item_t *k = pairs[i].key;
    if (tkey == NULL && cbor_isa_negint(k) &&
        -1 - (int64_t)cbor_get_int(k) == key)
      return pairs[i].value;
    if (tkey != NULL && cbor_isa_string(k) && cbor_string_is_definite(k) &&
        cbor_string_length(k) == strlen(tkey) &&
        memcmp(cbor_string_handle(k), tkey, strlen(tkey)) == 0)
      return pairs[i].value;
  }
  return NULL;
}

/* A definite text string as a malloc'd C string; NULL if it is not one. */
static char *cbor_text(cbor_item_t *v) {
  if (v == NULL || !cbor_isa_string(v) || !cbor_string_is_definite(v))
    return NULL;
  size_t n = cbor_string_length(v);
  char *s = malloc(n + 1);
  if (s != NULL) {
    memcpy(s, cbor_string_handle(v), n);
    s[n] = '\0';
  }
  return s;
}

static char *json_text(const json_t *obj, const char *key) {
  const json_t *v = json_object_get(obj, key);
  return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

int it_problem_parse(const uint8_t *body, size_t len, int cf, it_problem_t *p) {
  memset(p, 0, sizeof(*p));
  p->code_int = -1;
  if (cf == 50) {
    json_t *j = json_loadb((const char *)body, len, 0, NULL);
    if (!json_is_object(j)) {
      json_decref(j);
      return -1;
    }
    p->title = json_text(j, "title");
    p->detail = json_text(j, "detail");
    p->field = json_text(j, "field");
    p->code_text = json_text(j, "response-code");
    json_decref(j);
    return 0;
  }
  if (cf != 257)
    return -1;
  struct cbor_load_result res;
  cbor_item_t *map = cbor_load(body, len, &res);
  if (map == NULL || !cbor_isa_map(map) || res.read != len) {
    if (map != NULL)
      cbor_decref(&map);
    return -1;
  }
  p->title = cbor_text(cbor_map_find(map, -1, NULL));
  p->detail = cbor_text(cbor_map_find(map, -2, NULL));
  p->field = cbor_text(cbor_map_find(map, -256, NULL));
  cbor_item_t *code = cbor_map_find(map, -4, NULL);
  if (code != NULL && cbor_isa_uint(code))
    p->code_int = (int64_t)cbor_get_int(code);
  /* The concise form is defined by its integer keys: the JSON names in it
   * would mean the server sent a transcoded JSON problem instead. */
  bool clean = cbor_map_find(map, 0, "title") == NULL &&
               cbor_map_find(map, 0, "detail") == NULL &&
               cbor_map_find(map, 0, "response-code") == NULL &&
               cbor_map_find(map, 0, "field") == NULL;
  cbor_decref(&map);
  if (!clean) {
    it_problem_free(p);
    return -1;
  }
  return 0;
}

void it_problem_free(it_problem_t *p) {
  free(p->title);
  free(p->detail);
  free(p->field);
  free(p->code_text);
  memset(p, 0, sizeof(*p));
}

/* ------------------------------------------------------------------------ */
/* coap-client                                                               */

/* Collect the response codes from coap-client's "-v 6" PDU lines, e.g.
 * "v:1 t:ACK c:2.01 i:1234 {01} [ ]". Requests show a method name there and
 * empty messages 0.00, so only codes of class 2 to 5 are kept. */
static void scan_codes(it_cc_t *cc) {
  const char *line = cc->run.out ? cc->run.out : "";
  while (*line &&
         cc->n_codes < (int)(sizeof(cc->codes) / sizeof(cc->codes[0]))) {
    const char *end = strchr(line, '\n');
    size_t n = end ? (size_t)(end - line) : strlen(line);
    if (n > 6 && strncmp(line, "v:1 t:", 6) == 0) {
      const char *c = strstr(line, " c:");
      unsigned cls, det;
      char dot;
      if (c != NULL && c < line + n &&
          sscanf(c + 3, "%1u%c%2u", &cls, &dot, &det) == 3 && dot == '.' &&
          cls >= 2 && cls <= 5)
        cc->codes[cc->n_codes++] = (int)(cls * 100 + det);
    }
    line += n + (end != NULL);
  }
}

int it_coap_client(const char *const *args, unsigned timeout_ms, it_cc_t *cc) {
  char tmpl[] = "/tmp/itest-cc-XXXXXX";
  const char *argv[48];
  int n = 0;

  memset(cc, 0, sizeof(*cc));
  int fd = mkstemp(tmpl);
  if (fd < 0) {
    fprintf(stderr, "itest: mkstemp: %s\n", strerror(errno));
    return -1;
  }
  close(fd);
  argv[n++] = COAP_CLIENT_BIN;
  argv[n++] = "-v";
  argv[n++] = "6";
  argv[n++] = "-B";
  argv[n++] = "10";
  argv[n++] = "-o";
  argv[n++] = tmpl;
  for (int i = 0; args[i] != NULL; i++) {
    if (n == (int)(sizeof(argv) / sizeof(argv[0])) - 1) {
      unlink(tmpl);
      return -1;
    }
    argv[n++] = args[i];
  }
  argv[n] = NULL;
  int rc = it_run(argv, NULL, 0, timeout_ms, &cc->run);
  scan_codes(cc);
  if (it_read_file(tmpl, &cc->body, &cc->body_len) < 0)
    rc = -1;
  unlink(tmpl);
  if (rc == 0 && cc->n_codes == 0)
    rc = -1;
  if (rc < 0)
    it_result_dump("coap-client", &cc->run);
  return rc;
}

int it_cc_last_code(const it_cc_t *cc) {
  return cc->n_codes > 0 ? cc->codes[cc->n_codes - 1] : -1;
}

void it_cc_free(it_cc_t *cc) {
  it_result_free(&cc->run);
  free(cc->body);
  cc->body = NULL;
  cc->body_len = 0;
}
