/* edgecoap tests: the tree-path reference encoders (tests/ref/ref_tree.c). */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_TESTS_REF_TREE_H
#define EDGECOAP_TESTS_REF_TREE_H

#include "edgecoap/deployment.h"
#include "edgecoap/status_message.h"

/* Each takes the arguments, and gives the results, of the codec function
 * of the same name with ec_ for ref_. */
ssize_t ref_deployment_status_encode(ec_format_t fmt,
                                     const ec_deployment_status_t *st,
                                     uint8_t *buf, size_t cap);
ssize_t ref_history_encode(ec_format_t fmt, const ec_history_entry_t *entries,
                           size_t n, uint8_t *buf, size_t cap);
ssize_t ref_deployments_encode(ec_format_t fmt,
                               const ec_deployment_summary_t *list, size_t n,
                               uint8_t *buf, size_t cap);
ssize_t ref_status_message_encode(ec_format_t fmt, const ec_status_message_t *m,
                                  uint8_t *buf, size_t cap);
ssize_t ref_status_messages_encode(ec_format_t fmt,
                                   const ec_status_message_t *msgs, size_t n,
                                   uint8_t *buf, size_t cap);
ssize_t ref_msg_rows_encode(ec_format_t fmt, const ec_msg_row_t *rows, size_t n,
                            bool envelope, uint8_t *buf, size_t cap);

ssize_t ref_cbor_to_json(const uint8_t *cbor, size_t len, char *out,
                         size_t cap);

#endif /* EDGECOAP_TESTS_REF_TREE_H */
