/* edgecoap: the "messages" commands of edgecoap-client (ON-API status
 * messages). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_CLI_MESSAGES_H
#define EDGECOAP_CLI_MESSAGES_H

#include <stdio.h>

#include "edgecoap/client.h"

/**
 * Run "messages SUBCOMMAND ..." with @p argv[0] == "messages" (global
 * options already parsed into @p cfg; @p url names the server in messages).
 * @return the program's exit status: 0 on a 2.xx answer, 1 on an error
 *         answer or a refused document, 2 on a usage error, 3 otherwise
 */
int ec_cli_messages(const ec_client_config_t *cfg, const char *url, int argc,
                    char **argv);

/** Print the messages commands' synopsis lines for the program's --help. */
void ec_cli_messages_usage(FILE *f);

#endif /* EDGECOAP_CLI_MESSAGES_H */
