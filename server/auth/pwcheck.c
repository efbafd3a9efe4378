/* edgecoap server: password checks on worker threads, off the I/O thread. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "pwcheck.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "edgecoap/error.h"
#include "log.h"

struct ec_pwcheck {
  pthread_mutex_t lock;
  pthread_cond_t wake; /* a job was queued, or stop */
  pthread_t threads[EC_PWCHECK_MAX_THREADS];
  unsigned n_threads;
  unsigned capacity;
  unsigned in_flight; /* queued + being checked + done, not yet taken */
  bool stop;
  ec_pwcheck_job_t *queue; /* unordered; workers take the earliest due */
  ec_pwcheck_job_t *done;
};

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Unlink and return the queued job due first, or NULL when the queue is
 * empty; *wait_ns is how long until it is due (0: now). */
static ec_pwcheck_job_t *next_job(ec_pwcheck_t *pc, int64_t now,
                                  int64_t *wait_ns) {
  ec_pwcheck_job_t **best = NULL;
  for (ec_pwcheck_job_t **pp = &pc->queue; *pp != NULL; pp = &(*pp)->next)
    if (best == NULL || (*pp)->due_ns < (*best)->due_ns)
      best = pp;
  if (best == NULL)
    return NULL;
  *wait_ns = (*best)->due_ns > now ? (*best)->due_ns - now : 0;
  if (*wait_ns > 0)
    return NULL;
  ec_pwcheck_job_t *j = *best;
  *best = j->next;
  j->next = NULL;
  return j;
}

static void *worker(void *arg) {
  ec_pwcheck_t *pc = arg;
  /* Below the I/O thread: when both cores are busy, answers go first. */
  (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
  pthread_mutex_lock(&pc->lock);
  while (!pc->stop) {
    int64_t wait_ns = -1;
    ec_pwcheck_job_t *j = next_job(pc, mono_ns(), &wait_ns);
    if (j == NULL) {
      if (wait_ns <= 0) {
        pthread_cond_wait(&pc->wake, &pc->lock);
      } else {
        int64_t until = mono_ns() + wait_ns;
        struct timespec ts = {(time_t)(until / 1000000000),
                              (long)(until % 1000000000)};
        pthread_cond_timedwait(&pc->wake, &pc->lock, &ts);
      }
      continue;
    }
    pthread_mutex_unlock(&pc->lock);
    j->match = crypto_pwhash_str_verify(j->hash, j->password,
                                        strlen(j->password)) == 0;
    sodium_memzero(j->password, sizeof(j->password));
    pthread_mutex_lock(&pc->lock);
    j->next = pc->done;
    pc->done = j;
  }
  pthread_mutex_unlock(&pc->lock);
  return NULL;
}

int ec_pwcheck_new(unsigned threads, unsigned capacity, ec_pwcheck_t **out) {
  if (out == NULL || threads == 0 || threads > EC_PWCHECK_MAX_THREADS ||
      capacity == 0)
    return EC_EINVAL;
  ec_pwcheck_t *pc = calloc(1, sizeof(*pc));
  if (pc == NULL)
    return EC_ENOMEM;
  pc->capacity = capacity;
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  /* Delays are measured on the monotonic clock, which no one can set. */
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  int rc = pthread_cond_init(&pc->wake, &ca);
  pthread_condattr_destroy(&ca);
  if (rc != 0 || pthread_mutex_init(&pc->lock, NULL) != 0) {
    if (rc == 0)
      pthread_cond_destroy(&pc->wake);
    free(pc);
    return EC_ENOMEM;
  }
  for (; pc->n_threads < threads; pc->n_threads++) {
    if (pthread_create(&pc->threads[pc->n_threads], NULL, worker, pc) != 0) {
      ec_log(EC_LOG_ERROR, "auth: cannot start a password-check thread");
      ec_pwcheck_free(pc, NULL);
      return EC_ENOMEM;
    }
  }
  *out = pc;
  return 0;
}

void ec_pwcheck_free(ec_pwcheck_t *pc, void (*release)(ec_pwcheck_job_t *)) {
  if (pc == NULL)
    return;
  pthread_mutex_lock(&pc->lock);
  pc->stop = true;
  pthread_cond_broadcast(&pc->wake);
  pthread_mutex_unlock(&pc->lock);
  for (unsigned i = 0; i < pc->n_threads; i++)
    pthread_join(pc->threads[i], NULL);
  ec_pwcheck_job_t *lists[2] = {pc->queue, pc->done};
  for (int l = 0; l < 2; l++) {
    for (ec_pwcheck_job_t *j = lists[l], *next; j != NULL; j = next) {
      next = j->next;
      sodium_memzero(j->password, sizeof(j->password));
      if (release != NULL)
        release(j);
    }
  }
  pthread_cond_destroy(&pc->wake);
  pthread_mutex_destroy(&pc->lock);
  free(pc);
}

int ec_pwcheck_submit(ec_pwcheck_t *pc, ec_pwcheck_job_t *job) {
  if (pc == NULL || job == NULL)
    return EC_EINVAL;
  job->match = false;
  job->due_ns = mono_ns() + (job->delay_ms > 0 ? job->delay_ms : 0) * 1000000;
  pthread_mutex_lock(&pc->lock);
  if (pc->in_flight >= pc->capacity) {
    pthread_mutex_unlock(&pc->lock);
    return EC_ETOOBIG;
  }
  pc->in_flight++;
  job->next = pc->queue;
  pc->queue = job;
  /* Every worker re-reads the queue: a job due now may overtake one that a
   * sleeping worker waits for. */
  pthread_cond_broadcast(&pc->wake);
  pthread_mutex_unlock(&pc->lock);
  return 0;
}

ec_pwcheck_job_t *ec_pwcheck_take_done(ec_pwcheck_t *pc) {
  if (pc == NULL)
    return NULL;
  pthread_mutex_lock(&pc->lock);
  ec_pwcheck_job_t *d = pc->done;
  pc->done = NULL;
  for (ec_pwcheck_job_t *j = d; j != NULL; j = j->next)
    pc->in_flight--;
  pthread_mutex_unlock(&pc->lock);
  return d;
}

unsigned ec_pwcheck_in_flight(ec_pwcheck_t *pc) {
  if (pc == NULL)
    return 0;
  pthread_mutex_lock(&pc->lock);
  unsigned n = pc->in_flight;
  pthread_mutex_unlock(&pc->lock);
  return n;
}
