/* edgecoap tests: what integration tests need to run the server and clients. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_ITEST_H
#define EDGECOAP_ITEST_H

/*
 * Everything here is bounded: every wait has a timeout, every child process
 * is killed if it overstays, and all traffic stays on 127.0.0.1. Calls return
 * 0 (or a length >= 0) on success and -1 on failure after printing why on
 * standard error, so a test can simply assert on the result.
 */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Call once at the start of a test program (ignores SIGPIPE). */
void it_init(void);

/** Monotonic milliseconds. */
uint64_t it_now_ms(void);

/** Sleep @p ms milliseconds. */
void it_sleep_ms(unsigned ms);

/* ------------------------------------------------------------------------ */
/* Files                                                                     */

/**
 * Read a whole file into a NUL-terminated malloc'd buffer.
 * @param[out] data  the caller frees it
 * @return 0, or -1 (the reason printed)
 */
int it_read_file(const char *path, uint8_t **data, size_t *len);

/** Write @p len bytes to @p path (created or truncated). @return 0 or -1 */
int it_write_file(const char *path, const void *data, size_t len);

/** Remove @p dir, the regular files in it and nothing deeper. @return 0 or -1
 */
int it_rmdir_files(const char *dir);

/* ------------------------------------------------------------------------ */
/* Child processes                                                           */

/** How a child process ended, and what it printed. */
typedef struct {
  int exit_code;   /**< its exit status, or -1 if it did not exit normally */
  int term_signal; /**< the signal that ended it, or 0 */
  bool timed_out;  /**< it overstayed and was killed with SIGKILL */
  char *out;       /**< standard output, NUL-terminated, malloc'd */
  size_t out_len;
  char *err; /**< standard error, NUL-terminated, malloc'd */
  size_t err_len;
} it_result_t;

/** Free the buffers of @p r (not @p r itself); safe on a zeroed result. */
void it_result_free(it_result_t *r);

/** True when the child exited normally with status 0 and did not time out. */
bool it_result_ok(const it_result_t *r);

/** Print a result's status and output on standard error, for a failed check. */
void it_result_dump(const char *what, const it_result_t *r);

/** A child process running in the background with its output captured. */
typedef struct it_proc it_proc_t;

/**
 * Start @p argv[0] (a path; no PATH search) with @p argv, standard input
 * fed from @p in (NULL: /dev/null) and both outputs captured.
 * @param[out] out  finish with it_proc_finish()
 * @return 0 or -1
 */
int it_proc_spawn(const char *const *argv, const void *in, size_t in_len,
                  it_proc_t **out);

/**
 * Collect output until standard output holds @p needle (searched from the
 * start) or @p timeout_ms passes or the child closes its output.
 * @return 1 when found, 0 otherwise
 */
int it_proc_wait_for(it_proc_t *p, const char *needle, unsigned timeout_ms);

/**
 * Count the lines of standard output seen so far containing @p needle,
 * collecting output for at most @p timeout_ms until @p want are there.
 * @return the number of such lines
 */
int it_proc_wait_lines(it_proc_t *p, const char *needle, int want,
                       unsigned timeout_ms);

/** What standard output held so far (NUL-terminated, owned by @p p). */
const char *it_proc_stdout(const it_proc_t *p);

/**
 * Wait at most @p timeout_ms for the child to exit (then SIGKILL it), collect
 * the rest of its output into @p r and free @p p.
 * @return 0 when it exited with status 0 in time, -1 otherwise
 */
int it_proc_finish(it_proc_t *p, unsigned timeout_ms, it_result_t *r);

/**
 * End a child that would run on (an observer): SIGTERM, then as
 * it_proc_finish(). Collects its output into @p r and frees @p p.
 * @return 0 when it ended within @p timeout_ms, -1 when it needed SIGKILL
 */
int it_proc_stop(it_proc_t *p, unsigned timeout_ms, it_result_t *r);

/**
 * Kill the child with SIGKILL at once, as a power cut looks to it, then as
 * it_proc_finish(): its output so far into @p r, and @p p freed.
 * @return 0 when it died of that SIGKILL, -1 otherwise
 */
int it_proc_kill(it_proc_t *p, it_result_t *r);

/**
 * Run @p argv to completion with a hard timeout.
 * @return 0 when it exited with status 0 in time, -1 otherwise (@p r says how)
 */
int it_run(const char *const *argv, const void *in, size_t in_len,
           unsigned timeout_ms, it_result_t *r);

/* ------------------------------------------------------------------------ */
/* The server                                                                */

#define IT_MAX_EXTRA_ARGS 16

typedef struct {
  pid_t pid; /**< 0 when not running */
  uint16_t port;
  char dir[256]; /**< the server's fresh temporary directory */
  char db[300];  /**< dir/edgecoap.db, or (EC_IT_STORE) a postgres:// URI */
  char log[300]; /**< dir/server.log: the server's standard error */
  char url[64];  /**< "coap://127.0.0.1:PORT" */
  char *extra[IT_MAX_EXTRA_ARGS]; /**< copies of the extra arguments */
  int n_extra;
} it_server_t;

/**
 * Start edgecoap-server (EC_SERVER_BIN) in a fresh temporary directory on a
 * free loopback port and wait until it answers a CoAP ping of
 * /.well-known/core. Tries other ports if it does not come up.
 * @param[in] extra  NULL-terminated extra arguments, or NULL
 * @return 0, or -1 with the tail of the server's log printed
 */
int it_server_start(it_server_t *s, const char *const *extra);

/**
 * Stop the server: SIGTERM, a bounded wait, SIGKILL if it would not stop.
 * @return 0 when it exited with status 0 on SIGTERM; -1 when it had crashed,
 *         exited non-zero, or had to be killed (the log's tail is printed)
 */
int it_server_stop(it_server_t *s);

/**
 * Stop the server and start it again on the same database (the same port if
 * it is still free).
 * @return 0 only when the stop was clean and the new server answers
 */
int it_server_restart(it_server_t *s);

/**
 * True when the server process has not ended; no traffic. The first call
 * that sees it ended says how and prints the log's tail.
 */
bool it_server_running(it_server_t *s);

/**
 * True when the server process is alive and answers a ping within
 * @p timeout_ms.
 */
bool it_server_alive(it_server_t *s, unsigned timeout_ms);

/** Print the last @p lines lines of the server's log on standard error. */
void it_server_log_tail(const it_server_t *s, int lines);

/**
 * Count the log lines containing @p needle, leaving out what failed start
 * attempts logged (a port taken by another process between our probe and
 * the server's bind). @return the count, or -1 if the log cannot be read
 */
int it_server_log_count(const it_server_t *s, const char *needle);

/**
 * Crash the server: SIGKILL, as a power cut looks to its files (nothing is
 * flushed, no handler runs), and reap it.
 * @return 0 when it was running and died of that SIGKILL, -1 otherwise
 */
int it_server_kill(it_server_t *s);

/**
 * Start the server again after it ended (it_server_kill(), or a crash), on
 * the same directory, database and log, and the same port if still free.
 * @return 0 when the new server answers
 */
int it_server_start_again(it_server_t *s);

/**
 * The server's resident memory (VmRSS of /proc/PID/status) in KiB.
 * @return the size, or -1 when the server is not running or it is unknown
 */
long it_server_rss_kib(const it_server_t *s);

/**
 * The server's peak resident memory (VmHWM of /proc/PID/status) in KiB.
 * @return the size, or -1 when the server is not running or it is unknown
 */
long it_server_hwm_kib(const it_server_t *s);

/**
 * Stop the server if it runs and free the extra arguments. The directory is
 * removed unless @p keep (then its path is printed).
 * @return it_server_stop()'s result when it was running, else 0
 */
int it_server_cleanup(it_server_t *s, bool keep);

/**
 * The after-run step (ec_test_after_t, support/suite.h) of a suite whose
 * set-up starts @p srv (an it_server_t *): it_server_cleanup(), keeping the
 * server's directory (database and log) when something failed.
 * @return @p failed, plus one when stopping the server failed
 */
unsigned it_after_run(unsigned failed, void *srv);

/* ------------------------------------------------------------------------ */
/* Raw CoAP over UDP (RFC 7252, RFC 7959, RFC 7641)                          */

enum { IT_CON = 0, IT_NON = 1, IT_ACK = 2, IT_RST = 3 };

/** A code from its class and detail: IT_CODE(2, 5) is 2.05 (69). */
#define IT_CODE(c, d) ((uint8_t)(((c) << 5) | (d)))
/** The code as the integer class*100+detail, e.g. 205. */
#define IT_CODE_INT(code) ((((code) >> 5) & 7) * 100 + ((code)&31))

enum { IT_GET = 1, IT_POST = 2, IT_PUT = 3, IT_DELETE = 4, IT_FETCH = 5 };

enum {
  IT_OPT_IF_MATCH = 1,
  IT_OPT_URI_HOST = 3,
  IT_OPT_ETAG = 4,
  IT_OPT_OBSERVE = 6,
  IT_OPT_URI_PORT = 7,
  IT_OPT_LOCATION_PATH = 8,
  IT_OPT_URI_PATH = 11,
  IT_OPT_CONTENT_FORMAT = 12,
  IT_OPT_MAX_AGE = 14,
  IT_OPT_URI_QUERY = 15,
  IT_OPT_ACCEPT = 17,
  IT_OPT_LOCATION_QUERY = 20,
  IT_OPT_BLOCK2 = 23,
  IT_OPT_BLOCK1 = 27,
  IT_OPT_SIZE2 = 28,
  IT_OPT_SIZE1 = 60,
  IT_OPT_ECHO = 252
};

#define IT_COAP_MAX_OPTS 48
#define IT_COAP_POOL 4096
/** Largest datagram built or received. */
#define IT_COAP_MAX_DGRAM 2048

/**
 * A CoAP message. Option values live in @p pool; the payload is a pointer
 * (into the caller's memory when building, into @p raw when parsed).
 */
typedef struct {
  uint8_t type;
  uint8_t code;
  uint16_t mid;
  uint8_t token[8];
  size_t token_len;
  struct {
    uint16_t num;
    uint16_t len;
    uint16_t off; /* into pool */
  } opts[IT_COAP_MAX_OPTS];
  size_t n_opts;
  uint8_t pool[IT_COAP_POOL];
  size_t pool_used;
  const uint8_t *payload;
  size_t payload_len;
  uint8_t raw[IT_COAP_MAX_DGRAM]; /* the datagram a parsed message came from */
  size_t raw_len;
  bool overflow; /* an option did not fit: it_coap_encode() fails */
} it_coap_msg_t;

/** Start a message; @p token_len is 0..8. */
void it_coap_init(it_coap_msg_t *m, int type, int code, uint16_t mid,
                  const void *token, size_t token_len);

/**
 * Add an option. Options may be added in any order: encoding sorts them by
 * number, keeping the order of repeated ones (Uri-Path segments).
 */
void it_coap_add_opt(it_coap_msg_t *m, uint16_t num, const void *val,
                     size_t len);

/** Add an unsigned-integer option in its shortest form (0 is empty). */
void it_coap_add_uint(it_coap_msg_t *m, uint16_t num, uint32_t v);

/**
 * Add one Uri-Path option per '/'-separated segment of @p path and, after a
 * '?', one Uri-Query option per '&'-separated item: "a/b?since=1&limit=2".
 * Nothing is percent-decoded: the bytes go out as written.
 */
void it_coap_add_path(it_coap_msg_t *m, const char *path);

/** Add a Block1/Block2 option (block number, more flag, size 16..1024). */
void it_coap_add_block(it_coap_msg_t *m, uint16_t num, uint32_t block_num,
                       bool more, unsigned size);

/** Set the payload (not copied: it must live until encoding). */
void it_coap_set_payload(it_coap_msg_t *m, const void *data, size_t len);

/**
 * Encode @p m into @p buf.
 * @return the datagram's length, or -1 if it does not fit or is malformed
 */
ssize_t it_coap_encode(const it_coap_msg_t *m, uint8_t *buf, size_t cap);

/** Parse a datagram into @p m (copied into m->raw). @return 0 or -1 */
int it_coap_parse(const uint8_t *buf, size_t len, it_coap_msg_t *m);

/** Number of occurrences of option @p num. */
int it_coap_opt_count(const it_coap_msg_t *m, uint16_t num);

/**
 * The @p idx'th occurrence of option @p num.
 * @return its value (not NUL-terminated) and *len, or NULL if absent
 */
const uint8_t *it_coap_opt(const it_coap_msg_t *m, uint16_t num, int idx,
                           size_t *len);

/** An unsigned-integer option's value, or @p dflt if absent or too long. */
uint32_t it_coap_opt_uint(const it_coap_msg_t *m, uint16_t num, uint32_t dflt);

/**
 * Join the Location-Path options with '/' (no leading slash) into @p out.
 * @return the length, or -1 if it does not fit
 */
int it_coap_location_path(const it_coap_msg_t *m, char *out, size_t cap);

/** A decoded Block1/Block2 option. */
typedef struct {
  uint32_t num;
  bool more;
  unsigned size; /* 16..1024 */
} it_block_t;

/** Decode option @p num as a block option. @return 0, or -1 if absent/bad */
int it_coap_block(const it_coap_msg_t *m, uint16_t num, it_block_t *b);

/** Format @p code as "4.04" into @p out (at least 8 bytes). */
const char *it_coap_code_str(uint8_t code, char out[8]);

/**
 * A UDP socket: either connected to a server on 127.0.0.1:port, or
 * listening on 127.0.0.1:port as a stand-in server that answers whoever sent
 * the last datagram (to see exactly what a client puts on the wire).
 */
typedef struct {
  int fd;
  uint16_t port;
  uint16_t next_mid;
  uint32_t next_token;
  bool listening;
  bool have_peer;
  struct sockaddr_in peer; /* listening: the last datagram's sender */
  bool verified; /* it_udp_verify() passed: the server knows its address */
} it_udp_t;

/** Open a socket connected to the loopback server on @p port. @return 0, -1 */
int it_udp_open(it_udp_t *u, uint16_t port);

/**
 * Like it_udp_open(), from a source address of its own (127.0.0.2 .. .254
 * in turn), so the server sees a peer it has never seen: no libcoap session,
 * Block1 state or verified address left from an earlier socket that had the
 * same port. @return 0, -1
 */
int it_udp_open_fresh(it_udp_t *u, uint16_t port);

/** Listen on a free loopback port (u->port). @return 0, -1 */
int it_udp_listen(it_udp_t *u);

/** Close it; safe to call twice. */
void it_udp_close(it_udp_t *u);

/**
 * Have the server verify this socket's address (RFC 9175 Echo, docs/
 * SECURITY.md "Amplification"): one GET of /.well-known/core through
 * it_coap_exchange(), which answers the 4.01 Echo challenge. Tests that send
 * raw datagrams whose answers are large (logins, observations) call it
 * first; it does nothing the second time. @return 0 or -1
 */
int it_udp_verify(it_udp_t *u);

/** A UDP port on 127.0.0.1 that was free a moment ago, or 0. */
uint16_t it_free_port(void);

/** A fresh Message ID / a fresh 4-byte token for this socket. */
uint16_t it_udp_mid(it_udp_t *u);
void it_udp_token(it_udp_t *u, uint8_t tok[4]);

/** Send one datagram (listening: to the last sender). @return 0 or -1 */
int it_udp_send(it_udp_t *u, const void *buf, size_t len);

/**
 * Receive one datagram within @p timeout_ms.
 * @return its length (>= 0), or -1 on timeout or error (ICMP port
 *         unreachable included)
 */
ssize_t it_udp_recv(it_udp_t *u, void *buf, size_t cap, unsigned timeout_ms);

/**
 * Receive and parse the next datagram within @p timeout_ms.
 * @return 0, or -1 on timeout or an unparseable datagram
 */
int it_udp_recv_msg(it_udp_t *u, it_coap_msg_t *m, unsigned timeout_ms);

/**
 * Send an encoded request and wait for its answer: a piggybacked ACK or RST
 * with its Message ID, or a separate response with its token (an empty ACK
 * is skipped; a separate CON response is acknowledged). A CON request is
 * retransmitted, the same datagram, after 2 s and then at doubling
 * intervals, as RFC 7252 section 4.2 does.
 * @param[in] dgram the request's encoded form, e.g. from it_coap_encode()
 * @return 0, or -1 when no answer came within @p timeout_ms
 */
int it_coap_exchange_raw(it_udp_t *u, const uint8_t *dgram, size_t len,
                         it_coap_msg_t *resp, unsigned timeout_ms);

/**
 * Encode @p req and run it_coap_exchange_raw(). A 4.01 answer with an Echo
 * option (the server verifying the address, RFC 9175) is followed by the
 * same request with that Echo, whose answer is returned.
 */
int it_coap_exchange(it_udp_t *u, const it_coap_msg_t *req, it_coap_msg_t *resp,
                     unsigned timeout_ms);

/** One request's parameters for it_coap_request(). */
typedef struct {
  int code; /**< IT_GET, IT_POST... */
  /** "device/d/deployment/x/status?a=b", as for it_coap_add_path() */
  const char *path;
  int content_format; /**< -1: none */
  int accept;         /**< -1: none */
  int observe;        /**< -1: none, 0 register, 1 deregister */
  const void *payload;
  size_t payload_len;
  int block2_size; /**< > 0: ask for Block2 of this size from block 0 */
} it_req_t;

/** A request's defaults: GET, no options, no payload. */
#define IT_REQ(method, p) ((it_req_t){(method), (p), -1, -1, -1, NULL, 0, 0})

/**
 * Send a CON request built from @p rq on a fresh MID and token, and wait for
 * the answer (see it_coap_exchange_raw()). The payload must fit one datagram.
 */
int it_coap_request(it_udp_t *u, const it_req_t *rq, it_coap_msg_t *resp,
                    unsigned timeout_ms);

/** A reassembled block-wise answer. */
typedef struct {
  uint8_t code;
  int content_format; /**< -1 if absent */
  uint8_t *body;      /**< malloc'd (NUL-terminated); the caller frees it */
  size_t len;
  int blocks; /**< how many exchanges it took */
  uint8_t etag[8];
  size_t etag_len;
} it_body_t;

/**
 * GET @p path block by block (RFC 7959 Block2 of @p block_size bytes) until
 * the last block, at most @p max_blocks exchanges. Fails when a block's code,
 * Content-Format or ETag differs from the first's, or a block comes out of
 * order.
 * @return 0, or -1
 */
int it_coap_get_blockwise(it_udp_t *u, const char *path, int accept,
                          unsigned block_size, int max_blocks, it_body_t *out,
                          unsigned timeout_ms);

/**
 * POST or PUT @p len bytes block by block (Block1 of @p block_size), without
 * Size1 unless @p send_size1, stopping at the first answer that is not 2.31
 * Continue.
 * @param[out] resp   the last answer
 * @param[out] sent   how many blocks were sent
 * @return 0 when an answer came to every block sent, -1 otherwise
 */
int it_coap_put_blockwise(it_udp_t *u, int method, const char *path,
                          int content_format, const uint8_t *data, size_t len,
                          unsigned block_size, bool send_size1,
                          it_coap_msg_t *resp, int *sent, unsigned timeout_ms);

/* ------------------------------------------------------------------------ */
/* Problem details (RFC 9290; API.md section 1)                              */

/** A problem-details answer's members; the strings are malloc'd or NULL. */
typedef struct {
  char *title;
  char *detail;
  char *field;
  char *code_text;  /**< JSON "response-code", e.g. "4.22"; NULL if absent */
  int64_t code_int; /**< concise CBOR key -4, e.g. 150; -1 if absent */
} it_problem_t;

/**
 * Parse a problem-details body with jansson or libcbor directly, so a test
 * does not depend on the codec it checks: JSON (Content-Format 50) with text
 * keys, or concise CBOR (257) with integer keys -1 title, -2 detail,
 * -4 response-code and -256 field (edgecoap's entry, API.md section 1).
 * @return 0, or -1 when the body is not such a document (for CBOR, also
 *         when it carries the JSON names instead of the integer keys)
 */
int it_problem_parse(const uint8_t *body, size_t len, int cf, it_problem_t *p);

/** Free the strings of @p p; safe on a zeroed one. */
void it_problem_free(it_problem_t *p);

/* ------------------------------------------------------------------------ */
/* Status messages (API.md section 3)                                        */

/**
 * How many status messages of order @p order_id the server on 127.0.0.1:
 * @p port holds: GET api/2.3/statusmessages?orderId=... in JSON, block-wise,
 * from a fresh verified socket. @return the count, or -1 when no 2.05 list
 * came within @p timeout_ms
 */
int it_messages_count(uint16_t port, const char *order_id,
                      unsigned timeout_ms);

/* ------------------------------------------------------------------------ */
/* Deployment-status reports (API.md section 2)                              */

/**
 * Write into @p buf the JSON report that suites send: apiVersion
 * "deployment.margo/v1", kind "DeploymentStatus", deploymentId @p dep,
 * status.state @p state and components, whose array holds @p components
 * (JSON text, "" for none), in that order.
 * @param[out] buf  @p cap bytes; a report that does not fit aborts the
 *                  program (a test's mistake, not the server's)
 * @return @p buf
 */
const char *it_report_with(char *buf, size_t cap, const char *dep,
                           const char *state, const char *components);

/**
 * it_report_with() for the usual report: one component named @p comp in
 * @p comp_state, or none when @p comp is NULL.
 */
const char *it_report(char *buf, size_t cap, const char *dep, const char *state,
                      const char *comp, const char *comp_state);

/* ------------------------------------------------------------------------ */
/* libcoap's coap-client                                                     */

/** What coap-client did: the result, the answer codes it logged, the body. */
typedef struct {
  it_result_t run;
  int codes[32]; /**< the response codes seen, as class*100+detail, in order */
  int n_codes;
  uint8_t *body; /**< what -o wrote (NUL-terminated), or an empty buffer */
  size_t body_len;
} it_cc_t;

/**
 * Run COAP_CLIENT_BIN with "-v 6 -B 10 -o TMPFILE" followed by @p args (a
 * NULL-terminated list ending with the URI), within @p timeout_ms.
 * @return 0 when it exited with status 0 and at least one response code was
 *         seen, -1 otherwise
 */
int it_coap_client(const char *const *args, unsigned timeout_ms, it_cc_t *cc);

/** The last response code coap-client saw (e.g. 201), or -1. */
int it_cc_last_code(const it_cc_t *cc);

void it_cc_free(it_cc_t *cc);

#ifdef __cplusplus
}
#endif
#endif /* EDGECOAP_ITEST_H */
