/* edgecoap device core's POSIX port: the outbox's slots as files in a folder, each replaced whole by rename. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "edgecoap/device_posix.h"

/* "slot-N" (or "slot-N.new" while written) for slot @p i, into @p out. */
static void slot_name(char out[24], unsigned i, bool tmp) {
  char digits[12];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + i % 10);
    i /= 10;
  } while (i > 0);
  memcpy(out, "slot-", 5);
  size_t k = 5;
  while (n > 0) {
    out[k++] = digits[--n];
  }
  if (tmp) {
    memcpy(out + k, ".new", 4);
    k += 4;
  }
  out[k] = '\0';
}

static int slot_read(void *ctx, unsigned slot, void *buf, size_t len) {
  ec_dev_file_slots_t *fs = ctx;
  char name[24];
  slot_name(name, slot, false);
  int fd = openat(fs->dirfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return EC_EIO; /* never written: no record */
  }
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)got);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    got += (size_t)n;
  }
  close(fd);
  return got == len ? 0 : EC_EIO;
}

/*
 * The record goes to slot-N.new, which is synced, then renamed over
 * slot-N, and the folder synced: the slot holds the old record or the
 * new one, whole, whenever the process or the machine stops.
 */
static int slot_write(void *ctx, unsigned slot, const void *rec, size_t len) {
  ec_dev_file_slots_t *fs = ctx;
  char tmp[24];
  char name[24];
  slot_name(tmp, slot, true);
  slot_name(name, slot, false);
  int fd = openat(fs->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                  0600);
  if (fd < 0) {
    return EC_EIO;
  }
  size_t put = 0;
  while (put < len) {
    ssize_t n = write(fd, (const char *)rec + put, len - put);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    put += (size_t)n;
  }
  int rc = put == len && fsync(fd) == 0 ? 0 : EC_EIO;
  if (close(fd) != 0) {
    rc = EC_EIO;
  }
  if (rc == 0 && (renameat(fs->dirfd, tmp, fs->dirfd, name) != 0 ||
                  fsync(fs->dirfd) != 0)) {
    rc = EC_EIO;
  }
  if (rc != 0) {
    (void)unlinkat(fs->dirfd, tmp, 0);
  }
  return rc;
}

int ec_dev_file_slots_open(ec_dev_file_slots_t *fs, const char *dir,
                           unsigned n_slots, size_t slot_size) {
  if (fs == NULL || dir == NULL) {
    return EC_EINVAL;
  }
  memset(fs, 0, sizeof *fs);
  fs->dirfd = -1;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    return EC_EIO;
  }
  fs->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fs->dirfd < 0) {
    return EC_EIO;
  }
  fs->storage = (ec_dev_storage_t){slot_read, slot_write, fs, n_slots,
                                   slot_size};
  return 0;
}

void ec_dev_file_slots_close(ec_dev_file_slots_t *fs) {
  if (fs != NULL && fs->dirfd >= 0) {
    close(fs->dirfd);
    fs->dirfd = -1;
  }
}
