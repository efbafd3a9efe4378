/* edgecoap: what the deployment-status integration suite's files share. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_IT_DEPLOYMENT_H
#define EDGECOAP_IT_DEPLOYMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "itest.h"

/*
 * it_deployment.c holds the suite (one server for all its tests), its
 * helpers and most tests; it_deployment_malformed.c the malformed-request
 * test, its cases and bursts.
 */

#define SEED_FILE EC_TEST_DATA_DIR "/seed-deployment-status.json"
#define SEED_DEV "dev1"
#define SEED_DEP "a3e2f5dc-912e-494f-8395-52cf3769bc06"
#define SEED_PATH "device/" SEED_DEV "/deployment/" SEED_DEP "/status"

/* Deployments of the later tests, one or two per test. */
#define DEP_CLI "5f0c2b1e-7d3a-4c9b-8e21-0a1b2c3d4e5f"
#define DEP_OTHER "0d9e8f7a-6b5c-4d3e-9f1a-2b3c4d5e6f70"
#define DEP_OBS_A "11111111-2222-4333-8444-555555555555"
#define DEP_OBS_B "66666666-7777-4888-9999-aaaaaaaaaaaa"
#define DEP_RETX "7e57a11d-0000-4000-8000-00000000fade"
#define DEP_BIG "b16b16b1-6b16-4b16-8b16-b16b16b16b16"

/* Loopback answers take milliseconds, even under ASan; these bounds leave
 * room for a loaded machine and only matter when something hangs. */
#define RAW_TIMEOUT_MS 5000
#define CLI_TIMEOUT_MS 15000
#define NOTIFY_WAIT_MS 5000

extern it_server_t srv;
extern it_udp_t udp; /* the raw client's socket, reopened after a restart */

/* False once the server has ended or stopped answering. */
bool server_ok(void);
/* A raw CON request on the suite's socket; the answer in *resp. */
int raw(int method, const char *path, int cf, int accept, const void *body,
        size_t len, it_coap_msg_t *resp);
/* A block-wise upload (JSON, 1024-byte blocks) on the suite's socket,
 * failing at once when the server is gone. */
int put_blocks(const char *path, const uint8_t *data, size_t len, bool size1,
               it_coap_msg_t *resp, int *sent);
/* Allocated on the heap: a message carries its 6 KiB of buffers. */
it_coap_msg_t *msg_new(void);
char *status_path(char *out, size_t cap, const char *dev, const char *dep,
                  const char *tail);
char *url_of(char *out, size_t cap, const char *path);
/* A report as compact JSON; the caller frees it. Components are named
 * "c0", "c1"... unless @p name_pad makes their names long. */
char *report_json(const char *dep, const char *state, int n_comp,
                  const char *comp_state, int name_pad, int msg_len);
/* The latest report as JSON via a raw GET; NULL unless 2.05. */
json_t *get_json(const char *dev, const char *dep);
/* The number of reports the history answers, or -1. */
int history_len(const char *dev, const char *dep);
/* libcoap's coap-client with these arguments (NULL-terminated). */
int coap_client(it_cc_t *cc, ...);
/* @p resp is problem details of @p code in @p cf naming @p field and
 * mentioning @p needle (either NULL not to check). */
void check_problem(const it_coap_msg_t *resp, int code, int cf,
                   const char *field, const char *needle);
/* The seed's report exists, and is as the server must give it back. */
void ensure_seed(void);
void check_seed_doc(const json_t *d);

/* it_deployment_malformed.c */
void test_malformed_requests(void);

#endif /* EDGECOAP_IT_DEPLOYMENT_H */
