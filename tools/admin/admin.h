/* edgecoap admin tool: `edgecoap-server admin` (catalogs, accounts, DTLS identities). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_ADMIN_H
#define EDGECOAP_ADMIN_H

#include "store.h"

/**
 * Run `edgecoap-server admin ...`; argv[0] is "admin".
 *   admin import --db PATH FILE.json
 *   admin user-add --db PATH --username U [--role R] [--id N]
 *     (the password is the first line of standard input)
 *   admin device-add | device-list | device-remove ...  (ec_admin_devices())
 *   admin migrate --db PATH  (creates or migrates the schema, and exits)
 * Messages go to standard error, a one-line summary to standard output.
 * @return the process exit status: 0 done, 1 refused or failed, 2 usage
 */
int ec_admin_main(int argc, char **argv);

/**
 * Run `edgecoap-server admin device-...` (tools/admin/admin_devices.c); argv[0]
 * is the command:
 *   device-add --db PATH --identity ID [--role device|operator]
 *     (prints the new key on standard output)
 *   device-list --db PATH
 *   device-remove --db PATH --identity ID
 * @return the process exit status, as ec_admin_main()
 */
int ec_admin_devices(int argc, char **argv);

/**
 * Run `edgecoap-server admin user-list [--db PATH]` or `user-remove [--db
 * PATH] --username U` (tools/admin/admin_users.c); argv[0] is the command.
 * @return the process exit status, as ec_admin_main()
 */
int ec_admin_users(int argc, char **argv);

/**
 * Open the database @p db (its folder must exist) for an admin command,
 * creating it when missing, which is said on standard error with its
 * absolute path. Takes no lock: a running server may use it meanwhile.
 * @param[out] out  release with ec_store_close()
 * @return 0, or -1 with the reason printed
 */
int ec_admin_open(const char *db, ec_store_t **out);

#endif /* EDGECOAP_ADMIN_H */
