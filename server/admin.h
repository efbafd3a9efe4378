/* edgecoap server: `edgecoap-server admin` (catalog import, accounts). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_ADMIN_H
#define EDGECOAP_ADMIN_H

/**
 * Run `edgecoap-server admin ...`; argv[0] is "admin".
 *   admin import --db PATH FILE.json
 *   admin user-add --db PATH --username U [--role R] [--id N]
 *     (the password is the first line of standard input)
 * Messages go to standard error, a one-line summary to standard output.
 * @return the process exit status: 0 done, 1 refused or failed, 2 usage
 */
int ec_admin_main(int argc, char **argv);

#endif /* EDGECOAP_ADMIN_H */
