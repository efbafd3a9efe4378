/* edgecoap-client: what its command files share (cli/io.c); it includes none of them. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_CLI_IO_H
#define EDGECOAP_CLI_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "edgecoap/client.h"

/**
 * Print an answer's body as JSON, ending in one newline (JSON as received,
 * CBOR transcoded); with @p one_line, line breaks inside JSON become spaces.
 * Nothing for an empty body.
 * @return 0, or < 0 (EC_EFORMAT for a body in another format)
 */
int ec_cli_print_body(FILE *f, const ec_response_t *r, bool one_line);

/* Exit statuses, as --help and docs/API.md section 5 list them. */
enum {
  EXIT_OK = 0,      /* a 2.xx answer */
  EXIT_REFUSED = 1, /* the server answered an error, or a document is invalid */
  EXIT_USAGE = 2,   /* a usage error */
  EXIT_FAILED = 3,  /* no usable answer came: network, timeout, handshake */
  EXIT_INPUT = 4    /* a local file (input, key) could not be read */
};

/**
 * Read all of file @p name ('-': standard input, at most 8 MiB).
 * @param[out] out  malloc'd; the caller frees it
 * @return 0, or -1 with the reason printed (exit with EXIT_INPUT)
 */
int ec_cli_read_input(const char *name, uint8_t **out, size_t *len);

/**
 * A document to send, read as ec_cli_read_input() reads @p name, in JSON
 * for the codec's decoders to check: JSON as it is, CBOR read with the
 * device core into the JSON the codec's CBOR reader would make of it
 * (cli/cbor_json.c), so that one CBOR reader serves the device side.
 * @param[out] out  malloc'd, *@p len bytes
 * @return 0; EXIT_INPUT (unreadable) or EXIT_REFUSED (CBOR the server
 *         would refuse), the reason printed
 */
int ec_cli_read_doc(const char *name, uint8_t **out, size_t *len);

/**
 * Say on stderr why no usable answer came from @p url for result @p rc (an
 * EC_E* code): nothing answered, no answer in time, a failed handshake.
 * @return EXIT_FAILED
 */
int ec_cli_no_answer(const char *url, int rc);

/**
 * True when @p r, an error notification after @p seen earlier ones, is the
 * server ending the observation (edgecoap-server sends 5.03 shutting-down
 * to its observers when it stops; libcoap, 4.04 for a resource it drops)
 * rather than a refusal.
 */
bool ec_cli_observation_ended(const ec_response_t *r, bool seen);

/**
 * Say on stderr what an error answer said: its code, then its problem
 * details' title, detail and field (RFC 9290: CBOR read by the device
 * core's decoder, JSON by the codec), or else its body (JSON, CBOR
 * transcoded, or diagnostic text with control bytes as '?').
 */
void ec_cli_print_problem(const ec_response_t *r);

/** One watch: an observation whose notifications are printed as JSON lines. */
typedef struct {
  const char *url;  /**< the server, named in messages */
  long long count;  /**< lines to print before stopping; 0: no limit */
  unsigned max_ms;  /**< how long to watch; 0: no limit */
  /** Says what an error answer (the first, or a notification) said. */
  void (*refusal)(const ec_response_t *r);
} ec_cli_watch_t;

/** Start the observation with @p cb and @p ud: an ec_client_*_observe()
 * call with the command's own arguments, @p arg. */
typedef int (*ec_cli_observe_fn)(ec_client_t *c, const void *arg,
                                 ec_observe_cb cb, void *ud, unsigned max_ms);

/**
 * Run a watch: print each 2.xx notification as one line of JSON on stdout,
 * flushed, until @p w->count lines, @p w->max_ms, an error answer, or
 * SIGINT/SIGTERM (which end the observation on the server too).
 * @return the exit status: EXIT_OK; EXIT_REFUSED for an error answer
 *         (said by @p w->refusal); EXIT_FAILED when no answer came, the
 *         server ended the observation (5.03 or 4.04 after a notification),
 *         did not accept Observe (a 2.xx without it), or stdout failed
 */
int ec_cli_watch(ec_client_t *c, const ec_cli_watch_t *w,
                 ec_cli_observe_fn observe, const void *arg);

#endif /* EDGECOAP_CLI_IO_H */
