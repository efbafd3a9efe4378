/* edgecoap-client: helpers the program's command files share. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_CLI_H
#define EDGECOAP_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "edgecoap/client.h"

/**
 * Print an answer's body as JSON, ending in one newline (JSON as received,
 * CBOR transcoded); with @p one_line, line breaks inside JSON become spaces.
 * Nothing for an empty body.
 * @return 0, or < 0 (EC_EFORMAT for a body in another format)
 */
int ec_cli_print_body(FILE *f, const ec_response_t *r, bool one_line);

#endif /* EDGECOAP_CLI_H */
