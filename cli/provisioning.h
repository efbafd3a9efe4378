/* edgecoap: the login, logout and provisioning commands of edgecoap-client. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_CLI_PROVISIONING_H
#define EDGECOAP_CLI_PROVISIONING_H

#include <stdbool.h>
#include <stdio.h>

#include "edgecoap/client.h"

/** True when @p word ("login", "logout", "provisioning") is one of these
 * commands. */
bool ec_cli_provisioning_handles(const char *word);

/**
 * Run "login ...", "logout ..." or "provisioning SUBCOMMAND ..." with
 * @p argv[0] the command word (global options already parsed into @p cfg;
 * @p url names the server in messages).
 * @return the program's exit status: 0 on a 2.xx answer, 1 on an error
 *         answer, 2 on a usage error, 3 when no usable answer came
 */
int ec_cli_provisioning(const ec_client_config_t *cfg, const char *url,
                        int argc, char **argv);

/** Print the commands' synopsis lines for the program's --help. */
void ec_cli_provisioning_usage(FILE *f);

#endif /* EDGECOAP_CLI_PROVISIONING_H */
