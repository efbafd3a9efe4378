/* edgecoap admin tool: `edgecoap-server admin user-list` and `user-remove`. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "admin.h"

#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "store.h"

#define PROG "edgecoap-server admin"

enum { EXIT_DONE = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

static const char usage_list[] =
    "Usage: " PROG " user-list [--db PATH]\n"
    "\n"
    "Print one line per provisioning account: id, username and role,\n"
    "separated by tabs. Passwords are never printed.\n";

static const char usage_remove[] =
    "Usage: " PROG " user-remove [--db PATH] --username U\n"
    "\n"
    "Remove the account U: its session tokens end (a running server refuses\n"
    "them from their next request) and the provisionings it owned have no\n"
    "owner. When components name it as their last modifier, its id stays\n"
    "for that history, with the role \"removed\" and a password nobody\n"
    "knows; user-add on the same username makes it an account again.\n";

static int print_user(void *ud, const ec_store_prov_user_t *u) {
  (void)ud;
  printf("%lld\t%s\t%s\n", (long long)u->id, u->username, u->role);
  return 0;
}

/* A password hash that no password matches in practice: of 32 random
 * bytes that are forgotten at once. */
static int unknown_hash(char out[EC_STORE_PROV_HASH_MAX]) {
  unsigned char secret[32];
  char hex[2 * sizeof(secret) + 1];
  randombytes_buf(secret, sizeof(secret));
  sodium_bin2hex(hex, sizeof(hex), secret, sizeof(secret));
  int rc = ec_auth_password_hash(hex, out);
  sodium_memzero(secret, sizeof(secret));
  sodium_memzero(hex, sizeof(hex));
  return rc;
}

int ec_admin_users(int argc, char **argv) {
  static const struct option opts[] = {
      {"db", required_argument, NULL, 'd'},
      {"store", required_argument, NULL, 'd'},
      {"username", required_argument, NULL, 'u'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  bool remove = strcmp(argv[0], "user-remove") == 0;
  const char *usage = remove ? usage_remove : usage_list;
  const char *db = "edgecoap.db", *username = NULL;
  int c;

  optind = 0; /* glibc: start afresh on this vector */
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case 'd':
      db = optarg;
      break;
    case 'u':
      username = optarg;
      break;
    case 'h':
      fputs(usage, stdout);
      return EXIT_DONE;
    default:
      fputs(usage, stderr);
      return EXIT_USAGE;
    }
  }
  if (optind != argc || (username != NULL) != remove ||
      (remove && *username == '\0')) {
    fprintf(stderr, PROG ": %s: missing or unexpected arguments\n", argv[0]);
    fputs(usage, stderr);
    return EXIT_USAGE;
  }
  char hash[EC_STORE_PROV_HASH_MAX];
  if (remove && (sodium_init() < 0 || unknown_hash(hash) < 0)) {
    fprintf(stderr, PROG ": cannot make a password hash\n");
    return EXIT_FAILED;
  }

  ec_store_t *store = NULL;
  if (ec_admin_open(db, &store) < 0)
    return EXIT_FAILED;
  int status = EXIT_DONE, rc;
  if (remove) {
    bool kept = false;
    rc = ec_store_prov_user_remove(store, username, hash, &kept);
    if (rc == EC_ENOTFOUND) {
      fprintf(stderr, PROG ": no account is named '%s'\n", username);
      status = EXIT_FAILED;
    } else if (rc < 0) {
      fprintf(stderr, PROG ": %s: %s\n", username, ec_strerror(rc));
      status = EXIT_FAILED;
    } else {
      printf("removed user %s%s\n", username,
             kept ? " (its id stays, role \"removed\", as components name it "
                    "as their last modifier)"
                  : "");
    }
  } else {
    rc = ec_store_prov_user_each(store, print_user, NULL);
    if (rc < 0) {
      fprintf(stderr, PROG ": %s: %s\n", db, ec_strerror(rc));
      status = EXIT_FAILED;
    }
  }
  ec_store_close(store);
  if (fflush(stdout) != 0 && status == EXIT_DONE) {
    fprintf(stderr, PROG ": cannot write to standard output\n");
    status = EXIT_FAILED;
  }
  return status;
}
