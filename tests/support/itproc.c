/* edgecoap tests: clocks, files, child processes and coap-client runs. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "itest.h"
#include "itest_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef COAP_CLIENT_BIN
#error "COAP_CLIENT_BIN must name libcoap's coap-client"
#endif

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

int it__count_lines(const char *text, const char *needle) {
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
    int n = it__count_lines(p->out.data, needle);
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
