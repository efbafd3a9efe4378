/* edgecoap admin tool: `edgecoap-server admin` (catalog import, accounts). */
/* SPDX-License-Identifier: Apache-2.0 */
#include "admin.h"

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth.h"
#include "log.h"
#include "store.h"

/*
 * The import file is JSON:
 *   {"users": [{"id", "username", "password", "role"}],
 *    "provisionings": [{"id", "name", "active_status", "owner"}],
 *    "sensors": [{"id", "name"}], "parameters": [...],
 *    "group_parameters": [...]}
 * every array optional. Entries are inserted or, when their id exists,
 * updated, all in one transaction, so importing a file twice changes
 * nothing the second time (passwords are hashed anew, with a new salt).
 * Passwords arrive in clear and are stored only as Argon2id hashes.
 */

#define PROG "edgecoap-server admin"
#define MAX_PASSWORD 1024

enum { EXIT_DONE = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

static void usage_admin(FILE *f) {
  fputs("Usage: " PROG " COMMAND [OPTIONS]\n"
        "\n"
        "Manage the catalogs and accounts of the device provisioning\n"
        "resources and the DTLS identities in the server's database (the\n"
        "server may be running).\n"
        "\n"
        "Commands:\n"
        "  import [--db PATH] FILE.json\n"
        "      load users, provisionings, sensors, parameters and\n"
        "      group_parameters; entries whose id exists are updated\n"
        "  user-add [--db PATH] --username U [--role R] [--id N]\n"
        "      add an account, or set the password and role of an existing\n"
        "      one; the password is read from standard input\n"
        "  user-list [--db PATH]\n"
        "      list the accounts: id, username and role\n"
        "  user-remove [--db PATH] --username U\n"
        "      remove an account; its session tokens end\n"
        "  device-add [--db PATH] --identity ID [--role device|operator]\n"
        "      add a DTLS PSK identity with a new random key, printed once\n"
        "      on standard output\n"
        "  device-list [--db PATH]\n"
        "      list the DTLS identities and their roles (never the keys)\n"
        "  device-remove [--db PATH] --identity ID\n"
        "      remove a DTLS identity; its sessions are refused from their\n"
        "      next request\n"
        "  migrate [--db PATH]\n"
        "      create the store's schema, or bring it to this edgecoap's\n"
        "      version, and exit (every command and the server do so too)\n"
        "\n"
        "--db PATH is the server's database, edgecoap.db in the current\n"
        "folder by default (as for the server); a missing one is created.\n"
        "--store STORE names it as the server's --store does (a path,\n"
        "sqlite:PATH, a file: URI or postgres://...); every command takes\n"
        "either.\n"
        "COMMAND --help describes one command.\n",
        f);
}

static void usage_import(FILE *f) {
  fputs("Usage: " PROG " import [--db PATH] FILE.json\n"
        "\n"
        "Load a catalog file into the database at PATH (created if missing):\n"
        "  {\"users\": [{\"id\": 1, \"username\": \"admin\", \"password\": "
        "\"...\","
        " \"role\": \"admin\"}],\n"
        "   \"provisionings\": [{\"id\": 11, \"name\": \"...\","
        " \"active_status\": 0, \"owner\": 2}],\n"
        "   \"sensors\": [{\"id\": 2, \"name\": \"Carbon Monoxide\"}],\n"
        "   \"parameters\": [...], \"group_parameters\": [...]}\n"
        "Every array is optional; role defaults to \"user\", active_status to\n"
        "0; owner (a user id: that account may use the provisioning besides\n"
        "admins and operators) to none. An entry whose id exists is updated, so importing twice does not\n"
        "duplicate anything. All of the file is stored, or none of it.\n"
        "Passwords are stored only as Argon2id hashes (19 MiB, 2 passes).\n",
        f);
}

static void usage_user_add(FILE *f) {
  fputs("Usage: " PROG " user-add [--db PATH] --username U [--role R] [--id N]\n"
        "\n"
        "Read a password from the first line of standard input and add the\n"
        "account U with role R (default \"user\") and id N (default: the next\n"
        "free one). When U exists, its password and role are replaced.\n"
        "Example: printf '%s\\n' \"$PASSWORD\" | " PROG
        " user-add --db edgecoap.db --username device7 --role device\n",
        f);
}

int ec_admin_open(const char *db, ec_store_t **out) {
  if (ec_store_open(db, out) < 0) {
    /* Not a URI itself: one refused for holding a password would show it. */
    if (strstr(db, "://") != NULL)
      fprintf(stderr, PROG ": cannot open the database (the store said why "
              "above)\n");
    else
      fprintf(stderr, PROG ": cannot open the database %s\n", db);
    return -1;
  }
  if (ec_store_created(*out))
    fprintf(stderr, PROG ": the database %s did not exist: created it\n",
            ec_store_where(*out));
  return 0;
}

/* ---- migrate ------------------------------------------------------------- */

/* Opening a store migrates it (PostgreSQL's under an advisory lock, so
 * that nodes starting together migrate once; SQLite's in one
 * transaction): this opens it and says what it found. */
static int do_migrate(const char *db) {
  ec_store_t *store = NULL;
  if (ec_admin_open(db, &store) < 0)
    return EXIT_FAILED;
  printf("%s: the schema is this edgecoap's\n", ec_store_where(store));
  ec_store_close(store);
  return EXIT_DONE;
}

static void usage_migrate(FILE *f) {
  fputs("Usage: " PROG " migrate [--db PATH]\n"
        "\n"
        "Create the store's schema, or migrate it to this edgecoap's version,\n"
        "and exit. A PostgreSQL store (--store postgres://...) is migrated\n"
        "under an advisory lock, so nodes that start together migrate once;\n"
        "a schema newer than this edgecoap's is refused and left as it is.\n",
        f);
}

/* ---- import -------------------------------------------------------------- */

/* One entry's members; @p what names the entry in messages. */
static bool get_id(const json_t *o, const char *what, size_t i, int64_t *id) {
  const json_t *v = json_object_get(o, "id");
  if (!json_is_integer(v) || json_integer_value(v) < 0) {
    fprintf(stderr, PROG ": %s[%zu]: \"id\" must be an integer >= 0\n", what,
            i);
    return false;
  }
  *id = json_integer_value(v);
  return true;
}

static bool get_text(const json_t *o, const char *key, const char *what,
                     size_t i, bool required, size_t max, const char **out) {
  const json_t *v = json_object_get(o, key);
  if (v == NULL && !required)
    return true;
  if (!json_is_string(v) || json_string_length(v) == 0 ||
      json_string_length(v) > max ||
      strlen(json_string_value(v)) != json_string_length(v)) {
    fprintf(stderr,
            PROG ": %s[%zu]: \"%s\" must be a string of 1 to %zu "
                 "bytes\n",
            what, i, key, max);
    return false;
  }
  *out = json_string_value(v);
  return true;
}

static bool only_keys(const json_t *o, const char *what, size_t i,
                      const char *const *keys) {
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)o, k, v) {
    bool ok = false;
    for (const char *const *a = keys; *a != NULL && !ok; a++)
      ok = strcmp(*a, k) == 0;
    if (!ok) {
      fprintf(stderr, PROG ": %s[%zu]: unknown member \"%s\"\n", what, i, k);
      return false;
    }
  }
  return true;
}

/* The array @p key of the file in *out (NULL when absent, which jansson's
 * array calls treat as empty). @return false when it is not an array of
 * objects. */
static bool section(const json_t *doc, const char *key, const json_t **out) {
  const json_t *a = json_object_get(doc, key);
  *out = a;
  if (a == NULL)
    return true;
  if (!json_is_array(a)) {
    fprintf(stderr, PROG ": \"%s\" must be an array\n", key);
    return false;
  }
  for (size_t i = 0; i < json_array_size(a); i++) {
    if (!json_is_object(json_array_get(a, i))) {
      fprintf(stderr, PROG ": %s[%zu] must be an object\n", key, i);
      return false;
    }
  }
  return true;
}

static int read_users(const json_t *a, ec_store_prov_user_t *users) {
  static const char *const keys[] = {"id", "username", "password", "role",
                                     NULL};
  for (size_t i = 0; i < json_array_size(a); i++) {
    const json_t *o = json_array_get(a, i);
    const char *name = NULL, *password = NULL, *role = "user";
    ec_store_prov_user_t *u = &users[i];
    if (!only_keys(o, "users", i, keys) || !get_id(o, "users", i, &u->id) ||
        !get_text(o, "username", "users", i, true, EC_STORE_PROV_TEXT_MAX,
                  &name) ||
        !get_text(o, "password", "users", i, true, MAX_PASSWORD, &password) ||
        !get_text(o, "role", "users", i, false, EC_STORE_PROV_TEXT_MAX, &role))
      return -1;
    snprintf(u->username, sizeof(u->username), "%s", name);
    snprintf(u->role, sizeof(u->role), "%s", role);
    if (ec_auth_password_hash(password, u->password_hash) < 0) {
      fprintf(stderr,
              PROG ": users[%zu]: cannot hash the password (out of "
                   "memory?)\n",
              i);
      return -1;
    }
  }
  return 0;
}

static int read_items(const json_t *a, const char *what, bool with_status,
                      ec_store_prov_item_t *items) {
  static const char *const keys[] = {"id", "name", NULL};
  static const char *const pkeys[] = {"id", "name", "active_status", "owner",
                                      NULL};
  for (size_t i = 0; i < json_array_size(a); i++) {
    const json_t *o = json_array_get(a, i);
    ec_store_prov_item_t *it = &items[i];
    if (!only_keys(o, what, i, with_status ? pkeys : keys) ||
        !get_id(o, what, i, &it->id) ||
        !get_text(o, "name", what, i, true, EC_STORE_PROV_TEXT_MAX, &it->name))
      return -1;
    const json_t *st = json_object_get(o, "active_status");
    it->active_status = 0;
    if (st != NULL) {
      if (!json_is_integer(st) || json_integer_value(st) < 0 ||
          json_integer_value(st) > 1) {
        fprintf(stderr, PROG ": %s[%zu]: \"active_status\" must be 0 or 1\n",
                what, i);
        return -1;
      }
      it->active_status = (int)json_integer_value(st);
    }
    /* The account that may use this provisioning besides admins and
     * operators (API.md section 4): a user id of the same file or the
     * database. */
    const json_t *ow = json_object_get(o, "owner");
    it->has_owner = ow != NULL && !json_is_null(ow);
    if (it->has_owner) {
      if (!json_is_integer(ow) || json_integer_value(ow) < 0) {
        fprintf(stderr, PROG ": %s[%zu]: \"owner\" must be a user id >= 0\n",
                what, i);
        return -1;
      }
      it->owner_id = json_integer_value(ow);
    }
  }
  return 0;
}

static int do_import(const char *db, const char *file) {
  static const char *const top[] = {"users",         "sensors",
                                    "parameters",    "group_parameters",
                                    "provisionings", NULL};
  static const char *const catalogs[EC_COMP_TYPE_COUNT] = {
      "sensors", "parameters", "group_parameters"};
  json_error_t je;
  json_t *doc = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
  ec_store_prov_user_t *users = NULL;
  ec_store_prov_item_t *provs = NULL, *cat[EC_COMP_TYPE_COUNT] = {NULL};
  ec_store_t *store = NULL;
  ec_store_prov_import_t im;
  int status = EXIT_FAILED;

  memset(&im, 0, sizeof(im));
  if (doc == NULL) {
    fprintf(stderr, PROG ": %s: %s (line %d)\n", file, je.text, je.line);
    return EXIT_FAILED;
  }
  if (!json_is_object(doc)) {
    fprintf(stderr, PROG ": %s: the file must hold one JSON object\n", file);
    goto done;
  }
  const char *k;
  json_t *v;
  json_object_foreach(doc, k, v) {
    bool ok = false;
    for (const char *const *a = top; *a != NULL && !ok; a++)
      ok = strcmp(*a, k) == 0;
    if (!ok) {
      fprintf(stderr, PROG ": %s: unknown member \"%s\"\n", file, k);
      goto done;
    }
  }
  const json_t *ua, *pa, *ca[EC_COMP_TYPE_COUNT];
  bool ok = section(doc, "users", &ua) && section(doc, "provisionings", &pa);
  for (int t = 0; ok && t < EC_COMP_TYPE_COUNT; t++)
    ok = section(doc, catalogs[t], &ca[t]);
  if (!ok)
    goto done;

  im.n_users = json_array_size(ua);
  im.n_provisionings = json_array_size(pa);
  users = calloc(im.n_users + 1, sizeof(*users));
  provs = calloc(im.n_provisionings + 1, sizeof(*provs));
  ok = users != NULL && provs != NULL;
  for (int t = 0; t < EC_COMP_TYPE_COUNT; t++) {
    im.n_catalog[t] = json_array_size(ca[t]);
    ok = (cat[t] = calloc(im.n_catalog[t] + 1, sizeof(*cat[t]))) != NULL && ok;
  }
  if (!ok) {
    fprintf(stderr, PROG ": out of memory\n");
    goto done;
  }
  if (read_users(ua, users) < 0 ||
      read_items(pa, "provisionings", true, provs) < 0)
    goto done;
  for (int t = 0; t < EC_COMP_TYPE_COUNT; t++)
    if (read_items(ca[t], catalogs[t], false, cat[t]) < 0)
      goto done;
  im.users = users;
  im.provisionings = provs;
  for (int t = 0; t < EC_COMP_TYPE_COUNT; t++)
    im.catalog[t] = cat[t];

  if (ec_admin_open(db, &store) < 0) {
    goto done;
  }
  int rc = ec_store_prov_import(store, &im);
  if (rc < 0) {
    fprintf(stderr, PROG ": %s: nothing imported: %s\n", file,
            rc == EC_EINVAL ? "an entry conflicts with the database (e.g. a "
                              "username held by another id, or an owner "
                              "that is no user)"
                            : ec_strerror(rc));
    goto done;
  }
  printf("imported %zu users, %zu provisionings, %zu sensors, %zu parameters, "
         "%zu group parameters\n",
         im.n_users, im.n_provisionings, im.n_catalog[0], im.n_catalog[1],
         im.n_catalog[2]);
  status = EXIT_DONE;

done:
  ec_store_close(store);
  if (users != NULL)
    memset(users, 0, (im.n_users + 1) * sizeof(*users));
  free(users);
  free(provs);
  for (int t = 0; t < EC_COMP_TYPE_COUNT; t++)
    free(cat[t]);
  json_decref(doc);
  return status;
}

/* ---- user-add ------------------------------------------------------------ */

/* The first line of standard input, without its line ending. */
static int read_password(char *out, size_t cap) {
  if (fgets(out, (int)cap, stdin) == NULL) {
    fprintf(stderr, PROG ": no password on standard input\n");
    return -1;
  }
  size_t n = strlen(out);
  if (n == cap - 1 && out[n - 1] != '\n') {
    fprintf(stderr, PROG ": the password is longer than %d bytes\n",
            MAX_PASSWORD);
    return -1;
  }
  while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
    out[--n] = '\0';
  if (n == 0) {
    fprintf(stderr, PROG ": the password is empty\n");
    return -1;
  }
  return 0;
}

static int do_user_add(const char *db, const char *username, const char *role,
                       int64_t id) {
  char password[MAX_PASSWORD + 2];
  ec_store_prov_user_t u;
  ec_store_t *store = NULL;
  int status = EXIT_FAILED;

  memset(&u, 0, sizeof(u));
  if (strlen(username) > EC_STORE_PROV_TEXT_MAX ||
      strlen(role) > EC_STORE_PROV_TEXT_MAX) {
    fprintf(stderr, PROG ": username and role are at most %d bytes\n",
            EC_STORE_PROV_TEXT_MAX);
    return EXIT_USAGE;
  }
  if (read_password(password, sizeof(password)) < 0)
    return EXIT_FAILED;
  u.id = id;
  snprintf(u.username, sizeof(u.username), "%s", username);
  snprintf(u.role, sizeof(u.role), "%s", role);
  int rc = ec_auth_password_hash(password, u.password_hash);
  memset(password, 0, sizeof(password));
  if (rc < 0) {
    fprintf(stderr, PROG ": cannot hash the password: %s\n", ec_strerror(rc));
    return EXIT_FAILED;
  }
  if (ec_admin_open(db, &store) < 0) {
    return EXIT_FAILED;
  }
  int64_t got = 0;
  int created = 0;
  rc = ec_store_prov_user_put(store, &u, &got, &created);
  if (rc < 0) {
    fprintf(stderr, PROG ": %s: %s\n", username,
            rc == EC_EINVAL ? "refused (is the id taken?)" : ec_strerror(rc));
  } else {
    printf("%s user %s (id %lld, role %s)\n", created ? "added" : "updated",
           username, (long long)got, role);
    status = EXIT_DONE;
  }
  ec_store_close(store);
  return status;
}

/* ---- dispatch ------------------------------------------------------------ */

enum { OPT_DB = 256, OPT_USERNAME, OPT_ROLE, OPT_ID };

int ec_admin_main(int argc, char **argv) {
  static const struct option opts[] = {
      {"db", required_argument, NULL, OPT_DB},
      {"store", required_argument, NULL, OPT_DB},
      {"username", required_argument, NULL, OPT_USERNAME},
      {"role", required_argument, NULL, OPT_ROLE},
      {"id", required_argument, NULL, OPT_ID},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *db = "edgecoap.db", *username = NULL, *role = "user";
  long long id = 0;
  char *end;
  int c;

  if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "-h") == 0) {
    usage_admin(argc < 2 ? stderr : stdout);
    return argc < 2 ? EXIT_USAGE : EXIT_DONE;
  }
  const char *cmd = argv[1];
  if (strncmp(cmd, "device-", 7) == 0)
    return ec_admin_devices(argc - 1, argv + 1);
  if (strcmp(cmd, "user-list") == 0 || strcmp(cmd, "user-remove") == 0)
    return ec_admin_users(argc - 1, argv + 1);
  bool import = strcmp(cmd, "import") == 0;
  bool migrate = strcmp(cmd, "migrate") == 0;
  if (!import && !migrate && strcmp(cmd, "user-add") != 0) {
    fprintf(stderr, PROG ": unknown command '%s'\n", cmd);
    usage_admin(stderr);
    return EXIT_USAGE;
  }
  void (*usage)(FILE *) = import    ? usage_import
                          : migrate ? usage_migrate
                                    : usage_user_add;
  optind = 0; /* glibc: start afresh on this vector */
  while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
    switch (c) {
    case OPT_DB:
      db = optarg;
      break;
    case OPT_USERNAME:
      username = optarg;
      break;
    case OPT_ROLE:
      role = optarg;
      break;
    case OPT_ID:
      id = strtoll(optarg, &end, 10);
      if (*optarg == '\0' || *end != '\0' || id < 0) {
        fprintf(stderr, PROG ": --id wants a whole number >= 0\n");
        return EXIT_USAGE;
      }
      break;
    case 'h':
      usage(stdout);
      return EXIT_DONE;
    default:
      usage(stderr);
      return EXIT_USAGE;
    }
  }
  int npos = argc - 1 - optind;
  if (migrate) {
    if (npos != 0 || username != NULL || id != 0) {
      fprintf(stderr, PROG ": migrate: unexpected arguments\n");
      usage(stderr);
      return EXIT_USAGE;
    }
    return do_migrate(db);
  }
  if ((import && (npos != 1 || username != NULL || id != 0)) ||
      (!import && (npos != 0 || username == NULL || *username == '\0'))) {
    fprintf(stderr, PROG ": %s: missing or unexpected arguments\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
  }
  return import ? do_import(db, argv[1 + optind])
                : do_user_add(db, username, role, (int64_t)id);
}
