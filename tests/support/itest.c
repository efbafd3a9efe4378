/* edgecoap tests: processes, the real server and raw CoAP for integration. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "itest.h"

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

static unsigned remaining_ms(uint64_t deadline) {
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

typedef struct {
  char *data;
  size_t len, cap;
} buf_t;

struct it_proc {
  pid_t pid;
  int fd_in, fd_out, fd_err; /* -1 once closed */
  const uint8_t *in;
  size_t in_len, in_off;
  buf_t out, err;
  bool reaped;
  int status;
};

static int buf_append(buf_t *b, const void *p, size_t n) {
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
  if (buf_append(&p->out, "", 0) < 0 || buf_append(&p->err, "", 0) < 0)
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
      buf_append(which[i] == &p->fd_out ? &p->out : &p->err, chunk,
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
    if (p->fd_out < 0 || remaining_ms(deadline) == 0)
      return 0;
    pump(p, remaining_ms(deadline));
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
    if (n >= want || p->fd_out < 0 || remaining_ms(deadline) == 0)
      return n;
    pump(p, remaining_ms(deadline));
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
    if (remaining_ms(deadline) == 0)
      break;
    pump(p, remaining_ms(deadline) < 50 ? remaining_ms(deadline) : 50);
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

static int free_udp_port(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof(a);
  int rc = -1;
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &alen) == 0) {
    *port = ntohs(a.sin_port);
    rc = 0;
  }
  close(fd);
  return rc;
}

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
    while (!ok && remaining_ms(deadline) > 0) {
      if (it_udp_recv_msg(&u, &resp, remaining_ms(deadline)) < 0)
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
  const char *argv[12 + IT_MAX_EXTRA_ARGS];
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
  while (remaining_ms(deadline) > 0) {
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
    else if (free_udp_port(&port) < 0) {
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
  while (remaining_ms(deadline) > 0 &&
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
             remaining_ms(deadline) < 500 ? remaining_ms(deadline) : 500))
      return true;
  } while (remaining_ms(deadline) > 0);
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
/* Raw CoAP                                                                  */

void it_coap_init(it_coap_msg_t *m, int type, int code, uint16_t mid,
                  const void *token, size_t token_len) {
  memset(m, 0, offsetof(it_coap_msg_t, pool));
  m->pool_used = 0;
  m->payload = NULL;
  m->payload_len = 0;
  m->raw_len = 0;
  m->overflow = false;
  m->type = (uint8_t)type;
  m->code = (uint8_t)code;
  m->mid = mid;
  if (token_len > sizeof(m->token)) {
    m->overflow = true;
    token_len = sizeof(m->token);
  }
  if (token_len)
    memcpy(m->token, token, token_len);
  m->token_len = token_len;
}

void it_coap_add_opt(it_coap_msg_t *m, uint16_t num, const void *val,
                     size_t len) {
  if (m->n_opts == IT_COAP_MAX_OPTS || len > IT_COAP_POOL - m->pool_used) {
    m->overflow = true;
    return;
  }
  m->opts[m->n_opts].num = num;
  m->opts[m->n_opts].len = (uint16_t)len;
  m->opts[m->n_opts].off = (uint16_t)m->pool_used;
  if (len)
    memcpy(m->pool + m->pool_used, val, len);
  m->pool_used += len;
  m->n_opts++;
}

void it_coap_add_uint(it_coap_msg_t *m, uint16_t num, uint32_t v) {
  uint8_t b[4];
  size_t n = 0;
  for (int shift = 24; shift >= 0; shift -= 8)
    if (n > 0 || (v >> shift) & 0xff)
      b[n++] = (uint8_t)(v >> shift);
  it_coap_add_opt(m, num, b, n);
}

/* Add the @p sep-separated items of s[0..len) as options @p num. */
static void add_items(it_coap_msg_t *m, uint16_t num, const char *s, size_t len,
                      char sep) {
  const char *end = s + len;
  while (s < end) {
    const char *e = memchr(s, sep, (size_t)(end - s));
    if (e == NULL)
      e = end;
    it_coap_add_opt(m, num, s, (size_t)(e - s));
    s = e < end ? e + 1 : end;
  }
}

void it_coap_add_path(it_coap_msg_t *m, const char *path) {
  while (*path == '/')
    path++;
  const char *q = strchr(path, '?');
  size_t plen = q != NULL ? (size_t)(q - path) : strlen(path);
  add_items(m, IT_OPT_URI_PATH, path, plen, '/');
  if (q != NULL)
    add_items(m, IT_OPT_URI_QUERY, q + 1, strlen(q + 1), '&');
}

static unsigned szx_of(unsigned size) {
  unsigned szx = 0;
  while (szx < 6 && (16u << szx) < size)
    szx++;
  return szx;
}

void it_coap_add_block(it_coap_msg_t *m, uint16_t num, uint32_t block_num,
                       bool more, unsigned size) {
  it_coap_add_uint(m, num, block_num << 4 | (more ? 8u : 0u) | szx_of(size));
}

void it_coap_set_payload(it_coap_msg_t *m, const void *data, size_t len) {
  m->payload = data;
  m->payload_len = len;
}

/* The option header's nibble for a delta or length, and its extension. */
static size_t opt_nibble(uint32_t v, uint8_t *nib, uint8_t ext[2]) {
  if (v < 13) {
    *nib = (uint8_t)v;
    return 0;
  }
  if (v < 269) {
    *nib = 13;
    ext[0] = (uint8_t)(v - 13);
    return 1;
  }
  *nib = 14;
  ext[0] = (uint8_t)((v - 269) >> 8);
  ext[1] = (uint8_t)(v - 269);
  return 2;
}

ssize_t it_coap_encode(const it_coap_msg_t *m, uint8_t *buf, size_t cap) {
  size_t order[IT_COAP_MAX_OPTS];
  size_t n = 0;

  if (m->overflow || m->token_len > 8)
    return -1;
  /* A stable insertion sort: repeated options keep the order they came in. */
  for (size_t i = 0; i < m->n_opts; i++) {
    size_t j = n++;
    while (j > 0 && m->opts[order[j - 1]].num > m->opts[i].num) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = i;
  }
  if (cap < 4 + m->token_len)
    return -1;
  buf[0] = (uint8_t)(1u << 6 | (m->type & 3u) << 4 | m->token_len);
  buf[1] = m->code;
  buf[2] = (uint8_t)(m->mid >> 8);
  buf[3] = (uint8_t)m->mid;
  memcpy(buf + 4, m->token, m->token_len);
  size_t len = 4 + m->token_len;
  uint16_t last = 0;
  for (size_t k = 0; k < n; k++) {
    const uint8_t *val = m->pool + m->opts[order[k]].off;
    uint32_t olen = m->opts[order[k]].len;
    uint8_t dn, ln, dext[2], lext[2];
    size_t dx = opt_nibble(m->opts[order[k]].num - last, &dn, dext);
    size_t lx = opt_nibble(olen, &ln, lext);
    if (len + 1 + dx + lx + olen > cap)
      return -1;
    buf[len++] = (uint8_t)(dn << 4 | ln);
    memcpy(buf + len, dext, dx);
    len += dx;
    memcpy(buf + len, lext, lx);
    len += lx;
    memcpy(buf + len, val, olen);
    len += olen;
    last = m->opts[order[k]].num;
  }
  if (m->payload_len > 0) {
    if (len + 1 + m->payload_len > cap)
      return -1;
    buf[len++] = 0xff;
    memcpy(buf + len, m->payload, m->payload_len);
    len += m->payload_len;
  }
  return (ssize_t)len;
}

/* Read a delta or length nibble's value; -1 for the reserved 15. */
static int32_t read_ext(uint8_t nib, const uint8_t **p, const uint8_t *end) {
  if (nib < 13)
    return nib;
  if (nib == 13) {
    if (*p >= end)
      return -1;
    return 13 + *(*p)++;
  }
  if (nib == 14) {
    if (end - *p < 2)
      return -1;
    int32_t v = 269 + ((*p)[0] << 8 | (*p)[1]);
    *p += 2;
    return v;
  }
  return -1;
}

int it_coap_parse(const uint8_t *buf, size_t len, it_coap_msg_t *m) {
  if (len < 4 || len > sizeof(m->raw))
    return -1;
  unsigned tkl = buf[0] & 0x0f;
  if ((buf[0] >> 6) != 1 || tkl > 8 || len < 4 + tkl)
    return -1;
  it_coap_init(m, (buf[0] >> 4) & 3, buf[1], (uint16_t)(buf[2] << 8 | buf[3]),
               buf + 4, tkl);
  memcpy(m->raw, buf, len);
  m->raw_len = len;
  const uint8_t *p = m->raw + 4 + tkl, *end = m->raw + len;
  uint32_t num = 0;
  while (p < end) {
    if (*p == 0xff) {
      p++;
      if (p == end)
        return -1; /* a payload marker with no payload is a format error */
      m->payload = p;
      m->payload_len = (size_t)(end - p);
      break;
    }
    uint8_t h = *p++;
    int32_t delta = read_ext(h >> 4, &p, end);
    int32_t olen = read_ext(h & 0x0f, &p, end);
    if (delta < 0 || olen < 0 || end - p < olen)
      return -1;
    num += (uint32_t)delta;
    if (num > 65535)
      return -1;
    it_coap_add_opt(m, (uint16_t)num, p, (size_t)olen);
    p += olen;
  }
  return m->overflow ? -1 : 0;
}

int it_coap_opt_count(const it_coap_msg_t *m, uint16_t num) {
  int n = 0;
  for (size_t i = 0; i < m->n_opts; i++)
    n += m->opts[i].num == num;
  return n;
}

const uint8_t *it_coap_opt(const it_coap_msg_t *m, uint16_t num, int idx,
                           size_t *len) {
  for (size_t i = 0; i < m->n_opts; i++) {
    if (m->opts[i].num == num && idx-- == 0) {
      *len = m->opts[i].len;
      return m->pool + m->opts[i].off;
    }
  }
  *len = 0;
  return NULL;
}

uint32_t it_coap_opt_uint(const it_coap_msg_t *m, uint16_t num, uint32_t dflt) {
  size_t len;
  const uint8_t *v = it_coap_opt(m, num, 0, &len);
  if (v == NULL || len > 4)
    return dflt;
  uint32_t x = 0;
  for (size_t i = 0; i < len; i++)
    x = x << 8 | v[i];
  return x;
}

int it_coap_location_path(const it_coap_msg_t *m, char *out, size_t cap) {
  size_t n = 0, len;
  const uint8_t *v;
  if (cap == 0)
    return -1;
  out[0] = '\0';
  for (int i = 0; (v = it_coap_opt(m, IT_OPT_LOCATION_PATH, i, &len)); i++) {
    if (n + (i > 0) + len + 1 > cap)
      return -1;
    if (i > 0)
      out[n++] = '/';
    memcpy(out + n, v, len);
    n += len;
    out[n] = '\0';
  }
  return (int)n;
}

int it_coap_block(const it_coap_msg_t *m, uint16_t num, it_block_t *b) {
  size_t len;
  if (it_coap_opt(m, num, 0, &len) == NULL || len > 3)
    return -1;
  uint32_t v = it_coap_opt_uint(m, num, 0);
  if ((v & 7) == 7)
    return -1; /* szx 7 is reserved */
  b->num = v >> 4;
  b->more = (v & 8) != 0;
  b->size = 16u << (v & 7);
  return 0;
}

const char *it_coap_code_str(uint8_t code, char out[8]) {
  snprintf(out, 8, "%u.%02u", code >> 5, code & 31u);
  return out;
}

static void seed_ids(it_udp_t *u) {
  /* Start Message IDs and tokens at a random place, as RFC 7252 asks: a
   * server that remembers a previous socket's MIDs must not see repeats. */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint32_t seed =
      (uint32_t)ts.tv_nsec ^ (uint32_t)getpid() << 16 ^ (uint32_t)u->fd;
  u->next_mid = (uint16_t)(seed * 2654435761u >> 16);
  u->next_token = seed * 2246822519u;
}

int it_udp_open(it_udp_t *u, uint16_t port) {
  memset(u, 0, sizeof(*u));
  u->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (u->fd < 0) {
    fprintf(stderr, "itest: socket: %s\n", strerror(errno));
    return -1;
  }
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (connect(u->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
    fprintf(stderr, "itest: connect 127.0.0.1:%u: %s\n", port, strerror(errno));
    close(u->fd);
    u->fd = -1;
    return -1;
  }
  u->port = port;
  seed_ids(u);
  return 0;
}

uint16_t it_free_port(void) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  uint16_t port = 0;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

int it_udp_listen(it_udp_t *u) {
  memset(u, 0, sizeof(*u));
  u->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (u->fd < 0) {
    fprintf(stderr, "itest: socket: %s\n", strerror(errno));
    return -1;
  }
  struct sockaddr_in a;
  socklen_t alen = sizeof(a);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(u->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
      getsockname(u->fd, (struct sockaddr *)&a, &alen) < 0) {
    fprintf(stderr, "itest: bind 127.0.0.1:0: %s\n", strerror(errno));
    close(u->fd);
    u->fd = -1;
    return -1;
  }
  u->port = ntohs(a.sin_port);
  u->listening = true;
  seed_ids(u);
  return 0;
}

void it_udp_close(it_udp_t *u) {
  if (u->fd >= 0)
    close(u->fd);
  u->fd = -1;
}

uint16_t it_udp_mid(it_udp_t *u) {
  return u->next_mid++;
}

void it_udp_token(it_udp_t *u, uint8_t tok[4]) {
  uint32_t t = ++u->next_token;
  tok[0] = (uint8_t)(t >> 24);
  tok[1] = (uint8_t)(t >> 16);
  tok[2] = (uint8_t)(t >> 8);
  tok[3] = (uint8_t)t;
}

int it_udp_send(it_udp_t *u, const void *buf, size_t len) {
  ssize_t n;
  if (u->listening) {
    if (!u->have_peer) {
      fprintf(stderr, "itest: nobody to answer yet\n");
      return -1;
    }
    n = sendto(u->fd, buf, len, 0, (const struct sockaddr *)&u->peer,
               sizeof(u->peer));
  } else {
    n = send(u->fd, buf, len, 0);
  }
  if (n != (ssize_t)len) {
    fprintf(stderr, "itest: send: %s\n", strerror(errno));
    return -1;
  }
  return 0;
}

ssize_t it_udp_recv(it_udp_t *u, void *buf, size_t cap, unsigned timeout_ms) {
  uint64_t deadline = it_now_ms() + timeout_ms;
  for (;;) {
    struct pollfd pfd = {u->fd, POLLIN, 0};
    int r = poll(&pfd, 1, (int)remaining_ms(deadline));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    struct sockaddr_in from;
    socklen_t flen = sizeof(from);
    ssize_t n = recvfrom(u->fd, buf, cap, MSG_DONTWAIT,
                         (struct sockaddr *)&from, &flen);
    if (n >= 0) {
      if (u->listening && flen == sizeof(from)) {
        u->peer = from;
        u->have_peer = true;
      }
      return n;
    }
    if (errno != EAGAIN && errno != EINTR)
      return -1; /* ECONNREFUSED: nobody listens on that port */
  }
}

int it_udp_recv_msg(it_udp_t *u, it_coap_msg_t *m, unsigned timeout_ms) {
  uint8_t buf[IT_COAP_MAX_DGRAM];
  ssize_t n = it_udp_recv(u, buf, sizeof(buf), timeout_ms);
  if (n < 0)
    return -1;
  if (it_coap_parse(buf, (size_t)n, m) < 0) {
    fprintf(stderr,
            "itest: the server sent an unparseable datagram of %zd "
            "bytes\n",
            n);
    return -1;
  }
  return 0;
}

static void send_empty(it_udp_t *u, int type, uint16_t mid) {
  uint8_t b[4] = {(uint8_t)(1u << 6 | (unsigned)type << 4), 0,
                  (uint8_t)(mid >> 8), (uint8_t)mid};
  it_udp_send(u, b, sizeof(b));
}

int it_coap_exchange_raw(it_udp_t *u, const uint8_t *dgram, size_t len,
                         it_coap_msg_t *resp, unsigned timeout_ms) {
  if (len < 4)
    return -1;
  int type = (dgram[0] >> 4) & 3;
  size_t tkl = dgram[0] & 0x0f;
  uint16_t mid = (uint16_t)(dgram[2] << 8 | dgram[3]);
  if (tkl > 8 || len < 4 + tkl)
    return -1;
  uint8_t token[8];
  memcpy(token, dgram + 4, tkl);

  uint64_t now = it_now_ms(), deadline = now + timeout_ms;
  uint64_t resend_at = type == IT_CON ? now + 2000 : deadline;
  unsigned backoff = 2000;
  bool acked = false;
  if (it_udp_send(u, dgram, len) < 0)
    return -1;
  while ((now = it_now_ms()) < deadline) {
    if (!acked && now >= resend_at) {
      it_udp_send(u, dgram, len);
      backoff *= 2;
      resend_at = now + backoff;
    }
    uint64_t until = acked || resend_at > deadline ? deadline : resend_at;
    if (it_udp_recv_msg(u, resp, remaining_ms(until)) < 0)
      continue;
    bool same_token =
        resp->token_len == tkl && memcmp(resp->token, token, tkl) == 0;
    if ((resp->type == IT_ACK || resp->type == IT_RST) && resp->mid == mid) {
      if (resp->type == IT_ACK && resp->code == 0) {
        acked = true; /* a separate response follows */
        continue;
      }
      return 0;
    }
    if ((resp->type == IT_CON || resp->type == IT_NON) && resp->code >= 64) {
      /* Acknowledge every CON the server sends us, ours or a stray
       * notification, so it does not keep retransmitting it. */
      if (resp->type == IT_CON)
        send_empty(u, IT_ACK, resp->mid);
      if (same_token)
        return 0;
    }
  }
  return -1;
}

int it_udp_verify(it_udp_t *u) {
  if (u->verified)
    return 0;
  static it_coap_msg_t req, resp;
  uint8_t tok[4];
  it_udp_token(u, tok);
  it_coap_init(&req, IT_CON, IT_GET, it_udp_mid(u), tok, sizeof(tok));
  it_coap_add_path(&req, ".well-known/core");
  if (it_coap_exchange(u, &req, &resp, 10000) < 0 ||
      resp.code != IT_CODE(2, 5)) {
    fprintf(stderr, "itest: the server did not verify this socket\n");
    return -1;
  }
  u->verified = true;
  return 0;
}

int it_coap_exchange(it_udp_t *u, const it_coap_msg_t *req, it_coap_msg_t *resp,
                     unsigned timeout_ms) {
  uint8_t dgram[IT_COAP_MAX_DGRAM];
  ssize_t n = it_coap_encode(req, dgram, sizeof(dgram));
  if (n < 0) {
    fprintf(stderr, "itest: the request does not fit one datagram\n");
    return -1;
  }
  int rc = it_coap_exchange_raw(u, dgram, (size_t)n, resp, timeout_ms);
  /* A 4.01 with Echo (RFC 9175) is the server verifying this socket's
   * address before a large answer or an observation, or asking for an
   * Observe again once the resource exists: repeat the request with the
   * Echo value, as libcoap's clients do, on a new Message ID. */
  if (it_coap_opt_count(req, IT_OPT_ECHO) > 0)
    return rc;
  static it_coap_msg_t again; /* large: not on the stack */
  for (int round = 0; round < 3 && rc == 0 && resp->code == IT_CODE(4, 1);
       round++) {
    size_t elen;
    const uint8_t *echo = it_coap_opt(resp, IT_OPT_ECHO, 0, &elen);
    uint8_t value[64];
    if (echo == NULL || elen > sizeof(value))
      break;
    memcpy(value, echo, elen);
    again = *req;
    again.mid = it_udp_mid(u);
    it_coap_add_opt(&again, IT_OPT_ECHO, value, elen);
    n = it_coap_encode(&again, dgram, sizeof(dgram));
    if (n < 0)
      break;
    rc = it_coap_exchange_raw(u, dgram, (size_t)n, resp, timeout_ms);
  }
  return rc;
}

static void build_request(it_udp_t *u, const it_req_t *rq, it_coap_msg_t *m) {
  uint8_t tok[4];
  it_udp_token(u, tok);
  it_coap_init(m, IT_CON, rq->code, it_udp_mid(u), tok, sizeof(tok));
  if (rq->observe >= 0)
    it_coap_add_uint(m, IT_OPT_OBSERVE, (uint32_t)rq->observe);
  if (rq->path != NULL)
    it_coap_add_path(m, rq->path);
  if (rq->content_format >= 0)
    it_coap_add_uint(m, IT_OPT_CONTENT_FORMAT, (uint32_t)rq->content_format);
  if (rq->accept >= 0)
    it_coap_add_uint(m, IT_OPT_ACCEPT, (uint32_t)rq->accept);
  if (rq->block2_size > 0)
    it_coap_add_block(m, IT_OPT_BLOCK2, 0, false, (unsigned)rq->block2_size);
  it_coap_set_payload(m, rq->payload, rq->payload_len);
}

int it_coap_request(it_udp_t *u, const it_req_t *rq, it_coap_msg_t *resp,
                    unsigned timeout_ms) {
  it_coap_msg_t *req = malloc(sizeof(*req));
  if (req == NULL)
    return -1;
  build_request(u, rq, req);
  int rc = it_coap_exchange(u, req, resp, timeout_ms);
  free(req);
  if (rc < 0)
    fprintf(stderr, "itest: no answer to %d /%s within %u ms\n", rq->code,
            rq->path ? rq->path : "", timeout_ms);
  return rc;
}

int it_coap_get_blockwise(it_udp_t *u, const char *path, int accept,
                          unsigned block_size, int max_blocks, it_body_t *out,
                          unsigned timeout_ms) {
  buf_t body = {0};
  it_coap_msg_t *req = malloc(sizeof(*req)), *resp = malloc(sizeof(*resp));
  uint64_t deadline = it_now_ms() + timeout_ms;
  int rc = -1;
  size_t len;
  const uint8_t *v;
  char cs[8];

  memset(out, 0, sizeof(*out));
  out->content_format = -1;
  if (req == NULL || resp == NULL || buf_append(&body, "", 0) < 0)
    goto done;
  for (uint32_t num = 0;; num++) {
    if (out->blocks == max_blocks) {
      fprintf(stderr, "itest: block-wise GET /%s: more than %d blocks\n", path,
              max_blocks);
      goto done;
    }
    it_req_t rq = IT_REQ(IT_GET, path);
    rq.accept = accept;
    build_request(u, &rq, req);
    it_coap_add_block(req, IT_OPT_BLOCK2, num, false, block_size);
    if (it_coap_exchange(u, req, resp, remaining_ms(deadline)) < 0) {
      fprintf(stderr, "itest: block-wise GET /%s: no answer to block %u\n",
              path, num);
      goto done;
    }
    out->blocks++;
    int cf = (int)it_coap_opt_uint(resp, IT_OPT_CONTENT_FORMAT, (uint32_t)-1);
    if (num == 0) {
      out->code = resp->code;
      out->content_format =
          it_coap_opt(resp, IT_OPT_CONTENT_FORMAT, 0, &len) ? cf : -1;
      if ((v = it_coap_opt(resp, IT_OPT_ETAG, 0, &len)) && len <= 8) {
        memcpy(out->etag, v, len);
        out->etag_len = len;
      }
    } else {
      v = it_coap_opt(resp, IT_OPT_ETAG, 0, &len);
      if (resp->code != out->code ||
          (out->content_format >= 0 && cf != out->content_format) ||
          (v == NULL) != (out->etag_len == 0) ||
          (v != NULL && (len != out->etag_len || memcmp(v, out->etag, len)))) {
        fprintf(stderr,
                "itest: block-wise GET /%s: block %u changed code, "
                "format or ETag (%s)\n",
                path, num, it_coap_code_str(resp->code, cs));
        goto done;
      }
    }
    if ((resp->code >> 5) != 2) {
      /* An error answer is whole in one message. */
      if (buf_append(&body, resp->payload, resp->payload_len) < 0)
        goto done;
      break;
    }
    it_block_t b;
    if (it_coap_block(resp, IT_OPT_BLOCK2, &b) < 0) {
      if (num != 0) {
        fprintf(stderr, "itest: block-wise GET /%s: block %u lacks Block2\n",
                path, num);
        goto done;
      }
      if (buf_append(&body, resp->payload, resp->payload_len) < 0)
        goto done;
      break; /* small enough for one message */
    }
    /* A server may pick smaller blocks than asked; follow its size. */
    if ((size_t)b.num * b.size != body.len ||
        (b.more && resp->payload_len != b.size) || b.size > block_size) {
      fprintf(stderr,
              "itest: block-wise GET /%s: got block %u of %u bytes "
              "(%zu in it) at offset %zu\n",
              path, b.num, b.size, resp->payload_len, body.len);
      goto done;
    }
    if (buf_append(&body, resp->payload, resp->payload_len) < 0)
      goto done;
    if (!b.more)
      break;
    block_size = b.size;
    num = (uint32_t)(body.len / b.size) - 1; /* the loop adds one */
  }
  out->body = (uint8_t *)body.data;
  out->len = body.len;
  body.data = NULL;
  rc = 0;
done:
  free(body.data);
  free(req);
  free(resp);
  return rc;
}

int it_coap_put_blockwise(it_udp_t *u, int method, const char *path,
                          int content_format, const uint8_t *data, size_t len,
                          unsigned block_size, bool send_size1,
                          it_coap_msg_t *resp, int *sent, unsigned timeout_ms) {
  it_coap_msg_t *req = malloc(sizeof(*req));
  uint64_t deadline = it_now_ms() + timeout_ms;
  uint8_t tok[4];
  int rc = -1;

  *sent = 0;
  if (req == NULL)
    return -1;
  /* RFC 7959 lets one token serve the whole transfer. */
  it_udp_token(u, tok);
  for (uint32_t num = 0; (size_t)num * block_size < len; num++) {
    size_t off = (size_t)num * block_size;
    size_t n = len - off < block_size ? len - off : block_size;
    bool more = off + n < len;
    it_coap_init(req, IT_CON, method, it_udp_mid(u), tok, sizeof(tok));
    it_coap_add_path(req, path);
    if (content_format >= 0)
      it_coap_add_uint(req, IT_OPT_CONTENT_FORMAT, (uint32_t)content_format);
    it_coap_add_block(req, IT_OPT_BLOCK1, num, more, block_size);
    if (send_size1)
      it_coap_add_uint(req, IT_OPT_SIZE1, (uint32_t)len);
    it_coap_set_payload(req, data + off, n);
    if (it_coap_exchange(u, req, resp, remaining_ms(deadline)) < 0) {
      fprintf(stderr,
              "itest: block-wise upload to /%s: no answer to block "
              "%u\n",
              path, num);
      goto done;
    }
    (*sent)++;
    if (resp->code != IT_CODE(2, 31) || !more)
      break;
  }
  rc = 0;
done:
  free(req);
  return rc;
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
