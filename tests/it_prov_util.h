/* edgecoap tests: helpers shared by it_provisioning and it_login. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_IT_PROV_UTIL_H
#define EDGECOAP_IT_PROV_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "edgecoap/client.h"
#include "edgecoap/provisioning.h"
#include "itest.h"

/* What tests/data/provisioning-catalog.json holds. */
#define ITP_CATALOG EC_TEST_DATA_DIR "/provisioning-catalog.json"
#define ITP_ADMIN_PW "admin-pass-4e1f"
#define ITP_DEVICE_PW "device-pass-9c2a"
#define ITP_COMPONENTS "v1/DeviceProvisioningComponents"
#define ITP_LOGIN "v1/Login"

#define ITP_RAW_TIMEOUT_MS 5000
#define ITP_CLI_TIMEOUT_MS 15000

/**
 * The suite's server: requests fail at once, without waiting for timeouts,
 * once it is found gone. Set before the first request.
 */
void itp_use_server(it_server_t *s);

/** False once the suite's server has been found gone. */
bool itp_server_ok(void);

/** A zeroed message on the heap (one carries 6 KiB of buffers). */
it_coap_msg_t *itp_msg_new(void);

/** Parse JSON (printing it when it is not); a new reference or NULL. */
json_t *itp_parse_json(const void *body, size_t len);

/** An answer's body as JSON, transcoding CBOR when @p cf is 60. */
json_t *itp_body_json(const uint8_t *body, size_t len, int cf);

/** A member as a string ("(absent)" when it is not one). */
const char *itp_jstr(const json_t *o, const char *k);

/** A member as an integer (-999 when it is not one). */
long long itp_jint(const json_t *o, const char *k);

/** The keys of @p o joined with ',' in document order. */
void itp_keys_of(const json_t *o, char *out, size_t cap);

/** True when the message's payload is exactly @p want. */
bool itp_payload_is(const it_coap_msg_t *m, const char *want);

/**
 * A raw CON request on @p u with option 65000 holding @p tok (as its hex
 * text, or as its raw bytes when @p raw_tok) unless NULL, Observe unless
 * @p observe < 0, and Content-Format unless @p cf < 0.
 * @return 0 when an answer came (in @p resp), -1 otherwise
 */
int itp_raw_req(it_udp_t *u, int method, const char *path, int cf,
                const char *tok, bool raw_tok, const char *body, int observe,
                it_coap_msg_t *resp);

/**
 * A request through the client library (block-wise both ways), with the
 * token @p tok (hex) or none.
 * @param[out] out  the answer's body as JSON (NULL when empty)
 * @return the answer's code (e.g. 205), or -1
 */
int itp_lib_req(ec_client_t *c, const char *method, const char *path,
                const char *tok, int cf, const void *body, size_t len,
                json_t **out);

/** Run a program; its output is printed when the outcome is not expected. */
int itp_run(it_result_t *r, bool expect_ok, const void *in, size_t in_len,
            const char *const *argv);

/** edgecoap-server admin import --db @p db @p file. */
int itp_import(const char *db, const char *file, it_result_t *r,
               bool expect_ok);

/** Start a server with @p extra arguments and import the catalog into it. */
int itp_start_server(it_server_t *s, const char *const *extra);

/** The first column of the first row of @p sql on @p db (read-only), or -1. */
long long itp_count_rows(const char *db, const char *sql);

/**
 * POST /v1/Login in JSON on @p u: the answer's code; the token into @p tok
 * and the document into *doc when they are not NULL.
 */
int itp_login_raw(it_udp_t *u, const char *user, const char *pw,
                  char tok[EC_PROV_TOKEN_HEX + 1], json_t **doc);

/** Acknowledge @p m, received on @p u, when it is confirmable. */
void itp_ack_con(it_udp_t *u, const it_coap_msg_t *m);

/** The next 2.05 notification on @p u within @p ms (each CON acknowledged),
 * its body as JSON, or NULL when none came. */
json_t *itp_next_notification(it_udp_t *u, unsigned ms);

/** The whole component list as @p tok sees it, as compact JSON (malloc'd;
 * "none" when the GET failed), to show that a refusal changed nothing. */
char *itp_snapshot(ec_client_t *c, const char *tok);

/** Assert that @p dt is a datetime in the seed's format, close to now. */
void itp_check_recent_datetime(const char *dt);

#endif /* EDGECOAP_IT_PROV_UTIL_H */
