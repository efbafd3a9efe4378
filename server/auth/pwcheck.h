/* edgecoap server: password checks on worker threads, off the I/O thread. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_PWCHECK_H
#define EDGECOAP_PWCHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/*
 * One Argon2id check costs tens of milliseconds; on the single I/O thread
 * every failed login stalled every other request for that long. So the I/O
 * thread only reads the account (SQLite stays on it), hands the hash and the
 * password to this module, and answers when the check is done:
 *
 *   I/O thread                      worker threads (1..EC_PWCHECK_MAX_THREADS)
 *   ec_pwcheck_submit(job)   --->   wait for job->delay_ms, then
 *                                   crypto_pwhash_str_verify(); job->match
 *   ec_pwcheck_take_done()   <---   finished jobs, in a list
 *
 * Nothing here touches libcoap or the store. The queue is bounded (jobs
 * waiting, delayed or being checked): a submit past it fails at once, so a
 * flood costs a fixed amount of memory and never more than the workers'
 * CPU. Workers run at a lower scheduling priority (nice +10) than the I/O
 * thread, so that on a busy machine the checks, not the answers, wait.
 */
#define EC_PWCHECK_MAX_THREADS 8
#define EC_PWCHECK_MAX_PASSWORD 1024

typedef struct ec_pwcheck ec_pwcheck_t;
typedef struct ec_pwcheck_job ec_pwcheck_job_t;

/** One check. The caller allocates it (usually inside its own record). */
struct ec_pwcheck_job {
  ec_pwcheck_job_t *next;                 /**< the module's while queued */
  char hash[EC_STORE_PROV_HASH_MAX];      /**< in: crypto_pwhash_str() form */
  char password[EC_PWCHECK_MAX_PASSWORD + 1]; /**< in; wiped once checked */
  int64_t delay_ms;   /**< in: start the check no sooner than this after submit */
  bool match;         /**< out: the password matches the hash */
  int64_t due_ns;     /* the module's: monotonic start time */
};

/**
 * Start @p threads workers with room for @p capacity jobs in flight.
 * @return 0, EC_EINVAL (0 threads or capacity, or too many threads) or
 *         EC_ENOMEM (also when a thread cannot start)
 */
int ec_pwcheck_new(unsigned threads, unsigned capacity, ec_pwcheck_t **out);

/**
 * Stop the workers (each finishes the check it is doing) and hand every job
 * not yet taken back through @p release (may be NULL). NULL is a no-op.
 */
void ec_pwcheck_free(ec_pwcheck_t *pc, void (*release)(ec_pwcheck_job_t *));

/**
 * Queue @p job. On success the module owns it until ec_pwcheck_take_done()
 * returns it.
 * @return 0, or EC_ETOOBIG when @p capacity jobs are in flight already
 */
int ec_pwcheck_submit(ec_pwcheck_t *pc, ec_pwcheck_job_t *job);

/**
 * Every finished job, linked through ->next (the caller's again), or NULL.
 * Never blocks.
 */
ec_pwcheck_job_t *ec_pwcheck_take_done(ec_pwcheck_t *pc);

/** Jobs submitted and not yet taken back. */
unsigned ec_pwcheck_in_flight(ec_pwcheck_t *pc);

#endif /* EDGECOAP_PWCHECK_H */
