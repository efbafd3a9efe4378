/* edgecoap SQLite store: SQLite's small allocations, kept for reuse in per-thread free lists. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store_internal.h"

/*
 * Every run of a statement allocates its cursors and the records it builds,
 * and frees them when it ends; SQLite's lookaside would serve them, but
 * Debian's SQLite is built without it (SQLITE_OMIT_LOOKASIDE), so each is a
 * malloc() and a free(): about 2,500 instructions of a status report, a
 * dozen of each. These methods (SQLITE_CONFIG_MALLOC) keep freed blocks of
 * up to MEM_CLASS_MAX bytes in free lists, one per multiple of MEM_STEP,
 * at most mem_kept each, that belong to the thread that freed them (no
 * lock; a block may be freed by another thread than the one that took
 * it). A thread's lists are emptied when it ends, and the main thread's
 * at exit. Under AddressSanitizer nothing is kept, so that it still sees
 * every block's use after its free.
 *
 * Each block starts with 8 bytes that hold its usable size (SQLite asks
 * for it, xSize) and so stays 8-byte aligned, as SQLite needs.
 */
#define MEM_STEP 64
#define MEM_CLASSES 16
#define MEM_CLASS_MAX (MEM_STEP * MEM_CLASSES)
#if defined(__SANITIZE_ADDRESS__)
static const unsigned mem_kept = 0;
#else
static const unsigned mem_kept = 16;
#endif

typedef struct free_block {
  struct free_block *next;
} free_block_t;

typedef struct {
  free_block_t *head[MEM_CLASSES];
  unsigned n[MEM_CLASSES];
  bool registered; /* its thread empties it when it ends */
} mem_lists_t;

static _Thread_local mem_lists_t lists;
static pthread_key_t lists_key;
static pthread_once_t lists_once = PTHREAD_ONCE_INIT;

#define ROUND8(n) (((size_t)(n) + 7) & ~(size_t)7)

static void empty(mem_lists_t *l) {
  for (unsigned c = 0; c < MEM_CLASSES; c++) {
    while (l->head[c] != NULL) {
      free_block_t *b = l->head[c];
      l->head[c] = b->next;
      free((int64_t *)b - 1);
    }
    l->n[c] = 0;
  }
}

static void thread_ends(void *l) {
  empty(l);
  /* A later free on this thread registers it again, and is emptied in
   * the destructors' next round. */
  ((mem_lists_t *)l)->registered = false;
}
static void process_ends(void) { empty(&lists); }

static void make_key(void) {
  if (pthread_key_create(&lists_key, thread_ends) == 0)
    atexit(process_ends);
}

/* The block's whole size (header included) when it is kept in a class. */
static size_t whole(size_t n) { return ROUND8(n) + 8; }

static void *mem_malloc(int n) {
  size_t size = whole((size_t)(n > 0 ? n : 1));
  if (size <= MEM_CLASS_MAX) {
    unsigned c = (unsigned)((size - 1) / MEM_STEP);
    free_block_t *b = lists.head[c];
    if (b != NULL) {
      lists.head[c] = b->next;
      lists.n[c]--;
      return b; /* its header still holds its class's size */
    }
    size = (size_t)(c + 1) * MEM_STEP;
  }
  int64_t *p = malloc(size);
  if (p == NULL)
    return NULL;
  p[0] = (int64_t)(size - 8);
  return p + 1;
}

static void mem_free(void *q) {
  if (q == NULL)
    return;
  int64_t *p = (int64_t *)q - 1;
  size_t size = (size_t)p[0] + 8;
  if (size <= MEM_CLASS_MAX) {
    unsigned c = (unsigned)(size / MEM_STEP) - 1;
    if (lists.n[c] < mem_kept) {
      if (!lists.registered) {
        /* Without the key the lists are never emptied: none are kept. */
        pthread_once(&lists_once, make_key);
        lists.registered = pthread_setspecific(lists_key, &lists) == 0;
      }
      if (lists.registered) {
        free_block_t *b = q;
        b->next = lists.head[c];
        lists.head[c] = b;
        lists.n[c]++;
        return;
      }
    }
  }
  free(p);
}

static int mem_size(void *q) {
  return q != NULL ? (int)((int64_t *)q)[-1] : 0;
}

static void *mem_realloc(void *q, int n) {
  int64_t *p = (int64_t *)q - 1;
  size_t size = whole((size_t)(n > 0 ? n : 1));
  if (size - 8 <= (size_t)p[0])
    return q;
  if (size > MEM_CLASS_MAX && (size_t)p[0] + 8 > MEM_CLASS_MAX) {
    /* Neither the old nor the new one is kept: realloc() may grow it
     * where it is. */
    int64_t *r = realloc(p, size);
    if (r == NULL)
      return NULL;
    r[0] = (int64_t)(size - 8);
    return r + 1;
  }
  void *r = mem_malloc(n);
  if (r == NULL)
    return NULL;
  memcpy(r, q, (size_t)p[0]);
  mem_free(q);
  return r;
}

static int mem_roundup(int n) {
  size_t size = whole((size_t)(n > 0 ? n : 1));
  if (size <= MEM_CLASS_MAX)
    size = (size + MEM_STEP - 1) / MEM_STEP * MEM_STEP;
  return (int)(size - 8);
}

static int mem_init(void *ud) {
  (void)ud;
  return SQLITE_OK;
}

static void mem_shutdown(void *ud) {
  (void)ud;
  empty(&lists);
}

int store_mem_install(void) {
  static const sqlite3_mem_methods methods = {
      mem_malloc, mem_free,     mem_realloc, mem_size,
      mem_roundup, mem_init,    mem_shutdown, NULL};
  return sqlite3_config(SQLITE_CONFIG_MALLOC, &methods);
}
