/* edgecoap admin tool: `edgecoap-server admin device-*` (DTLS PSK identities). */
/* SPDX-License-Identifier: Apache-2.0 */
#include "admin.h"

#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "edgecoap/codec.h"
#include "edgecoap/deployment.h"
#include "store.h"
#include "util.h"

/*
 * A new key is 32 bytes from randombytes_buf(), written as 64 lowercase hex
 * digits, and those 64 ASCII characters are the pre-shared key itself: the
 * text printed is exactly what a client hands to its DTLS library
 * (`coap-client-openssl -k KEY`, `edgecoap-client` with EDGECOAP_PSK_KEY or
 * --psk-key-file), with no decoding step to get wrong. It carries the 256
 * bits of the random bytes.
 */

#define PROG "edgecoap-server admin"
#define KEY_RANDOM_BYTES 32
#define KEY_TEXT_LEN (2 * KEY_RANDOM_BYTES)

enum { EXIT_DONE = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };
enum { CMD_ADD, CMD_LIST, CMD_REMOVE };

static const char *const usages[] = {
    [CMD_ADD] =
        "Usage: " PROG " device-add [--db PATH] --identity ID "
        "[--role device|operator]\n"
        "\n"
        "Add the DTLS PSK identity ID with a new random key and print the key\n"
        "(64 hex digits, which are the key's bytes as text) once on standard\n"
        "output. A device's identity is its deviceId: it may report and read\n"
        "/device/ID/... only. An operator reads every device and the status\n"
        "messages, and posts status messages. ID is 1 to 128 of\n"
        "A-Z a-z 0-9 - . _ ~ : @. The key is stored in the database itself,\n"
        "so the database file is made readable by its owner only.\n"
        "Example: KEY=$(" PROG
        " device-add --db edgecoap.db --identity dev1)\n",
    [CMD_LIST] = "Usage: " PROG " device-list [--db PATH]\n"
                 "\n"
                 "Print one line per DTLS identity: identity, role and when\n"
                 "it was added, separated by tabs. Keys are never printed.\n",
    [CMD_REMOVE] =
        "Usage: " PROG " device-remove [--db PATH] --identity ID\n"
        "\n"
        "Remove a DTLS identity. A running server refuses its sessions from\n"
        "their next request and its new handshakes. To give an identity a\n"
        "new key, remove it and add it again.\n",
};

/*
 * The database holds the keys in clear: take group and other access away
 * from it and its WAL, shared-memory and journal files, and say so. SQLite
 * gives the -wal and -shm files it makes later the main file's mode.
 */
static void restrict_files(const char *db) {
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  char path[4096];
  struct stat st;

  for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
    if (snprintf(path, sizeof(path), "%s%s", db, suffixes[i]) >=
        (int)sizeof(path))
      return;
    if (stat(path, &st) != 0 || (st.st_mode & 077) == 0)
      continue;
    if (chmod(path, st.st_mode & 0700) == 0)
      fprintf(stderr,
              PROG ": %s now readable by its owner only (it holds "
                   "DTLS keys)\n",
              path);
    else
      fprintf(stderr,
              PROG ": warning: cannot restrict %s (%s); it holds "
                   "DTLS keys: chmod 600 it\n",
              path, strerror(errno));
  }
}

static int do_add(ec_store_t *store, const char *db, const char *identity,
                  ec_device_role_t role) {
  uint8_t raw[KEY_RANDOM_BYTES];
  char hex[KEY_TEXT_LEN + 1];
  ec_store_device_t d;
  int status = EXIT_FAILED;

  int rc = ec_store_device_find(store, (const uint8_t *)identity,
                                strlen(identity), &d);
  if (rc == 0) {
    fprintf(stderr,
            PROG ": identity %s exists already; remove it first to "
                 "give it a new key\n",
            identity);
    goto done;
  }
  if (rc != EC_ENOTFOUND) {
    fprintf(stderr, PROG ": %s: %s\n", db, ec_strerror(rc));
    goto done;
  }
  memset(&d, 0, sizeof(d));
  snprintf(d.identity, sizeof(d.identity), "%s", identity);
  d.role = role;
  randombytes_buf(raw, sizeof(raw));
  sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
  memcpy(d.key, hex, KEY_TEXT_LEN);
  d.key_len = KEY_TEXT_LEN;
  d.created_at_ms = ec_now_ms();
  rc = ec_store_device_add(store, &d, NULL);
  if (rc < 0) {
    fprintf(stderr, PROG ": %s: %s\n", identity,
            rc == EC_EINVAL ? "refused (added meanwhile?)" : ec_strerror(rc));
    goto done;
  }
  restrict_files(ec_store_where(store));
  fprintf(stderr,
          PROG ": added identity %s (role %s); its key follows on standard "
               "output and is not shown again. A server started without "
               "--dtls and with no identity serves coaps:// from its next "
               "start.\n",
          identity, ec_store_device_role_name(role));
  printf("%s\n", hex);
  status = EXIT_DONE;

done:
  sodium_memzero(raw, sizeof(raw));
  sodium_memzero(hex, sizeof(hex));
  sodium_memzero(&d, sizeof(d));
  return status;
}

static int print_one(void *ud, const ec_store_device_t *d) {
  char when[32];
  (void)ud;
  if (ec_time_format_ms(d->created_at_ms, when) < 0)
    snprintf(when, sizeof(when), "?");
  printf("%s\t%s\t%s\n", d->identity, ec_store_device_role_name(d->role), when);
  return 0;
}

static int do_remove(ec_store_t *store, const char *db, const char *identity) {
  int rc = ec_store_device_remove(store, identity);
  if (rc == EC_ENOTFOUND) {
    fprintf(stderr, PROG ": no identity %s\n", identity);
    return EXIT_FAILED;
  }
  if (rc < 0) {
    fprintf(stderr, PROG ": %s: %s\n", db, ec_strerror(rc));
    return EXIT_FAILED;
  }
  printf("removed identity %s\n", identity);
  return EXIT_DONE;
}

enum { OPT_DB = 256, OPT_IDENTITY, OPT_ROLE };

int ec_admin_devices(int argc, char **argv) {
  static const struct option opts[] = {
      {"db", required_argument, NULL, OPT_DB},
      {"store", required_argument, NULL, OPT_DB},
      {"identity", required_argument, NULL, OPT_IDENTITY},
      {"role", required_argument, NULL, OPT_ROLE},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *db = "edgecoap.db", *identity = NULL, *role_name = NULL;
  int cmd, c;

  if (strcmp(argv[0], "device-add") == 0)
    cmd = CMD_ADD;
  else if (strcmp(argv[0], "device-list") == 0)
    cmd = CMD_LIST;
  else if (strcmp(argv[0], "device-remove") == 0)
    cmd = CMD_REMOVE;
  else {
    fprintf(stderr, PROG ": unknown command '%s'; try '" PROG " --help'\n",
            argv[0]);
    return EXIT_USAGE;
  }
  optind = 0; /* glibc: start afresh on this vector */
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case OPT_DB:
      db = optarg;
      break;
    case OPT_IDENTITY:
      identity = optarg;
      break;
    case OPT_ROLE:
      role_name = optarg;
      break;
    case 'h':
      fputs(usages[cmd], stdout);
      return EXIT_DONE;
    default:
      fputs(usages[cmd], stderr);
      return EXIT_USAGE;
    }
  }
  bool wants_identity = cmd != CMD_LIST;
  if (optind != argc || (identity != NULL) != wants_identity ||
      (role_name != NULL && cmd != CMD_ADD)) {
    fprintf(stderr, PROG ": %s: missing or unexpected arguments\n", argv[0]);
    fputs(usages[cmd], stderr);
    return EXIT_USAGE;
  }
  if (identity != NULL && !ec_id_valid(identity)) {
    fprintf(stderr,
            PROG ": --identity wants 1 to %d of A-Z a-z 0-9 - . _ ~ "
                 ": @, not . or .. (a route's deviceId)\n",
            EC_ID_MAX);
    return EXIT_USAGE;
  }
  ec_device_role_t role = EC_DEVICE_ROLE_DEVICE;
  if (role_name != NULL && strcmp(role_name, "operator") == 0)
    role = EC_DEVICE_ROLE_OPERATOR;
  else if (role_name != NULL && strcmp(role_name, "device") != 0) {
    fprintf(stderr, PROG ": --role is device or operator, not '%s'\n",
            role_name);
    return EXIT_USAGE;
  }
  if (sodium_init() < 0) {
    fprintf(stderr, PROG ": libsodium cannot start\n");
    return EXIT_FAILED;
  }

  ec_store_t *store = NULL;
  if (ec_admin_open(db, &store) < 0) {
    return EXIT_FAILED;
  }
  int status;
  if (cmd == CMD_ADD) {
    status = do_add(store, db, identity, role);
  } else if (cmd == CMD_REMOVE) {
    status = do_remove(store, db, identity);
  } else {
    int rc = ec_store_device_each(store, false, print_one, NULL);
    status = rc < 0 ? EXIT_FAILED : EXIT_DONE;
    if (rc < 0)
      fprintf(stderr, PROG ": %s: %s\n", db, ec_strerror(rc));
  }
  ec_store_close(store);
  if (fflush(stdout) != 0 && status == EXIT_DONE) {
    fprintf(stderr, PROG ": cannot write to standard output\n");
    status = EXIT_FAILED;
  }
  return status;
}
