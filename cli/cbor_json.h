/* edgecoap-client: CBOR as JSON, read with the device core (cli/cbor_json.c). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_CLI_CBOR_JSON_H
#define EDGECOAP_CLI_CBOR_JSON_H

#include <stddef.h>
#include <stdint.h>

/**
 * The JSON of the CBOR document @p buf, as the codec's ec_cbor_to_json()
 * writes it, read with the device core's pull decoder (ec_dev_cbor_check(),
 * ec_dev_cbor_next()) and refused where the codec's CBOR reader refuses it.
 * @param[out] out  a malloc'd, NUL-terminated string of *@p n bytes
 * @return 0, EC_ESYNTAX, EC_ETOOBIG or EC_ENOMEM
 */
int ec_cli_cbor_json(const uint8_t *buf, size_t len, char **out, size_t *n);

/** Why ec_cli_cbor_json() refused a document, for a message. */
const char *ec_cli_cbor_why(int rc);

#endif /* EDGECOAP_CLI_CBOR_JSON_H */
