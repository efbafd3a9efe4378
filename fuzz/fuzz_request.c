/* edgecoap fuzz: the request path, one CoAP datagram through libcoap, dispatch, handler and store, with the answers drained. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cbor.h>
#include <jansson.h>

#include "fuzz.h"
#include "log.h"
#include "batch.h"
#include "res_provisioning.h"
#include "server.h"
#include "store_sqlite.h"

/*
 * libcoap 4.3.1 reads requests only from sockets, so one server listens on
 * a loopback port for the whole run and the harness talks to it from one
 * client socket: every input is one datagram from the same peer. The server
 * keeps state between inputs (stored reports, routes, observations, Block1
 * uploads, the dedup table), as a real one does; a fresh server every
 * RESET_EVERY inputs keeps that state, and the run's speed, bounded.
 */
#define RESET_EVERY 20000
/* Option 65000's token, as raw bytes, and a login that works cheaply. */
#define FUZZ_TOKEN "edgecoap-fuzz-token-0123456789ab"
#define FUZZ_USER "fuzz"
#define FUZZ_PASSWORD "fuzz"

static ec_server_t *srv;
static int cli = -1;
static struct sockaddr_in srv_addr;
static char dir[] = "/tmp/edgecoap-fuzz-XXXXXX";
static char db[sizeof dir + 16];
static unsigned long runs;
/*
 * Every input since the server was last made, so that a failure that needs
 * the state earlier inputs left can be reproduced: on an oracle failure they
 * are written to the directory $EDGECOAP_FUZZ_HISTORY names (run-fuzzer.sh
 * sets it) as 00000, 00001..., which the replay driver runs in that order.
 * A replay needs none: its inputs are already files, run in name order.
 */
static struct {
  uint8_t *data;
  size_t len;
} hist[RESET_EVERY];
static size_t n_hist;

static void hist_clear(void) {
  for (size_t i = 0; i < n_hist; i++) {
    free(hist[i].data);
  }
  n_hist = 0;
}

static void hist_add(const uint8_t *data, size_t size) {
  uint8_t *copy = malloc(size > 0 ? size : 1);
  if (copy == NULL || n_hist == RESET_EVERY) {
    free(copy);
    return;
  }
  memcpy(copy, data, size);
  hist[n_hist].data = copy;
  hist[n_hist++].len = size;
}

static void hist_dump(void) {
  char d[256], path[300];
  const char *env = getenv("EDGECOAP_FUZZ_HISTORY");
  if (env == NULL) {
    return;
  }
  snprintf(d, sizeof d, "%s", env);
  mkdir(d, 0755);
  for (size_t i = 0; i < n_hist; i++) {
    snprintf(path, sizeof path, "%s/%05zu", d, i);
    FILE *f = fopen(path, "wb");
    if (f != NULL) {
      fwrite(hist[i].data, 1, hist[i].len, f);
      fclose(f);
    }
  }
  fprintf(stderr, "the %zu inputs since the server started are in %s/\n",
          n_hist, d);
}

/* An oracle of the request path: on failure, keep the inputs that led here. */
#define REQ_CHECK(cond) ((cond) ? (void)0 : (hist_dump(), FUZZ_CHECK(cond)))
static int verbose;


static uint16_t free_port(void) {
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t len = sizeof a;
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  FUZZ_CHECK(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
             getsockname(s, (struct sockaddr *)&a, &len) == 0);
  close(s);
  return ntohs(a.sin_port);
}

/* An account, a live token and small catalogs, so that requests can get
 * past authentication and reach the provisioning store. The password hash
 * uses libsodium's cheapest parameters: a login costs microseconds here. */
static void seed_provisioning(ec_store_t *st) {
  static const ec_store_prov_item_t provs[] = {{1, "line-1", 0, false, 0},
                                               {2, "line-2", 1, false, 0}};
  static const ec_store_prov_item_t items[] = {{1, "temperature", 0, false, 0},
                                               {2, "pressure", 0, false, 0}};
  ec_store_prov_user_t u = {.id = 1, .username = FUZZ_USER, .role = "admin"};
  FUZZ_CHECK(crypto_pwhash_str(u.password_hash, FUZZ_PASSWORD,
                               strlen(FUZZ_PASSWORD),
                               crypto_pwhash_OPSLIMIT_MIN,
                               crypto_pwhash_MEMLIMIT_MIN) == 0);
  ec_store_prov_import_t im = {.users = &u, .n_users = 1,
                               .provisionings = provs, .n_provisionings = 2};
  for (int t = 0; t < EC_COMP_TYPE_COUNT; t++) {
    im.catalog[t] = items;
    im.n_catalog[t] = 2;
  }
  FUZZ_CHECK(ec_store_prov_import(st, &im) == 0);
  uint8_t digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, (const uint8_t *)FUZZ_TOKEN, strlen(FUZZ_TOKEN));
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  FUZZ_CHECK(ec_store_prov_token_add(st, digest, 1, (int64_t)ts.tv_sec * 1000,
                                     INT64_C(3600) * 60 * 1000) == 0);
}

static void remove_db(void) {
  static const char *const files[] = {"", "-wal", "-shm", "-journal"};
  char path[sizeof db + 16];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s%s", db, files[i]);
    unlink(path);
  }
}

static void teardown(void) {
  hist_clear();
  ec_server_free(srv);
  srv = NULL;
  remove_db();
}

static void at_exit(void) {
  teardown();
  rmdir(dir);
  close(cli);
}

/* On an oracle failure the server may be in any state: only its files go. */
static void at_fail(void) {
  remove_db();
  rmdir(dir);
}

static void setup(void) {
  if (cli < 0) {
    ec_log_set_level(EC_LOG_ERROR);
    FUZZ_CHECK(mkdtemp(dir) != NULL);
    snprintf(db, sizeof db, "%s/fuzz.db", dir);
    /* A bound client keeps one address, so libcoap sees one session. */
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cli = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    FUZZ_CHECK(cli >= 0 && bind(cli, (struct sockaddr *)&a, sizeof a) == 0);
    atexit(at_exit);
    fuzz_fail_hook = at_fail;
  }
  ec_server_config_t cfg;
  ec_server_config_default(&cfg);
  cfg.bind_addr = "127.0.0.1";
  cfg.port = free_port();
  cfg.store = db;
  /* Unknown users cost one real Argon2id hash (0.1 s) until the peer's
   * failure limit is reached: keep that to a few per server. */
  cfg.login_peer_failures = 3;
  FUZZ_CHECK(ec_server_new(&cfg, &srv) == 0);
  FUZZ_CHECK(ec_store_set_synchronous(srv->store, "off") == 0);
  seed_provisioning(srv->store);
  srv_addr = (struct sockaddr_in){.sin_family = AF_INET,
                                  .sin_port = htons(cfg.port)};
  srv_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* Every body the server sends whole in JSON or CBOR must be well-formed in
 * it, judged by jansson and libcbor themselves rather than by the codec
 * under test (whose caps a valid answer may exceed). */
static void check_answer(const uint8_t *a, size_t n) {
  coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, n);
  FUZZ_CHECK(pdu != NULL && coap_pdu_parse(COAP_PROTO_UDP, a, n, pdu));
  coap_opt_iterator_t it;
  coap_opt_t *cf = coap_check_option(pdu, COAP_OPTION_CONTENT_FORMAT, &it);
  coap_opt_t *b2 = coap_check_option(pdu, COAP_OPTION_BLOCK2, &it);
  size_t len;
  const uint8_t *body;
  if (cf != NULL && (b2 == NULL || coap_opt_length(b2) == 0 ||
                     coap_decode_var_bytes(coap_opt_value(b2),
                                           coap_opt_length(b2)) >> 3 == 0) &&
      coap_get_data(pdu, &len, &body)) {
    unsigned f = coap_decode_var_bytes(coap_opt_value(cf), coap_opt_length(cf));
    if (f == EC_FORMAT_JSON) {
      json_error_t je;
      json_t *t = json_loadb((const char *)body, len,
                             JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
      if (t == NULL) {
        fprintf(stderr, "answer code %d.%02d, %zu-byte JSON body: %s\n%.*s\n",
                a[1] >> 5, a[1] & 31, len, je.text, (int)len, body);
      }
      REQ_CHECK(t != NULL);
      json_decref(t);
    } else if (f == EC_FORMAT_CBOR || f == EC_FORMAT_PROBLEM_CBOR) {
      struct cbor_load_result r;
      cbor_item_t *item = cbor_load(body, len, &r);
      if (item == NULL || r.error.code != CBOR_ERR_NONE || r.read != len) {
        fprintf(stderr, "answer code %d.%02d, %zu-byte CBOR body: error %d "
                "at %zu:", a[1] >> 5, a[1] & 31, len, (int)r.error.code,
                r.error.position);
        for (size_t i = 0; i < len; i++) {
          fprintf(stderr, " %02x", body[i]);
        }
        fprintf(stderr, "\n");
      }
      REQ_CHECK(item != NULL && r.error.code == CBOR_ERR_NONE &&
                 r.read == len);
      cbor_decref(&item);
    }
  }
  coap_delete_pdu(pdu);
}

/* True when the request carries No-Response (RFC 7967, option 258): then
 * libcoap rightly answers a suppressed code with an empty ACK. */
static int no_response(const uint8_t *data, size_t size) {
  coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, size);
  coap_opt_iterator_t it;
  int found = pdu != NULL && coap_pdu_parse(COAP_PROTO_UDP, data, size, pdu) &&
              coap_check_option(pdu, COAP_OPTION_NORESPONSE, &it) != NULL;
  coap_delete_pdu(pdu);
  return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (srv != NULL && ++runs % RESET_EVERY == 0) {
    teardown();
  }
  if (srv == NULL) {
    setup();
    verbose = getenv("EDGECOAP_FUZZ_VERBOSE") != NULL;
  }
  /* As large as a UDP datagram can be, so that an oversized answer is seen
   * whole rather than cut. */
  static uint8_t answer[65536];
  hist_add(data, size);
  /* A confirmable request (method 0.01..0.07) that reaches a handler must
   * get a response code on every path (DESIGN.md): an empty ACK with its
   * Message ID means a handler returned without setting one. */
  int con_request = size >= 4 && (data[0] & 0xF0) == 0x40 && data[1] >= 1 &&
                    data[1] <= 7 && !no_response(data, size);
  if (sendto(cli, data, size, 0, (struct sockaddr *)&srv_addr,
             sizeof srv_addr) < 0) {
    return 0; /* too large for a datagram: nothing reaches the server */
  }
  /* Loopback delivers at once, so the first pass reads the request and
   * sends the answer; a second sends what the handler queued (Observe
   * notifications). Stop early once nothing more comes. */
  /* A write may be answered with an empty ACK first and a separate response
   * after the group commit (server/coap/batch.h); `held` and `answered` check
   * that the answer does follow. */
  int held = 0, answered = 0;
  for (int i = 0; i < 4; i++) {
    int got = 0;
    REQ_CHECK(coap_io_process(srv->ctx, COAP_IO_NO_WAIT) >= 0);
    /* As the server's loop does after each round: commit, which releases
     * the answers deferred to that commit. */
    ec_batch_commit(srv);
    /* And hand finished password checks back (res_provisioning.h): they run
     * on a worker thread, so wait for them, a bounded while. */
    for (int w = 0; ec_provisioning_poll(srv) > 0 && w < 5000; w++)
      usleep(200);
    ssize_t n;
    while ((n = recv(cli, answer, sizeof answer, 0)) > 0) {
      got++;
      if (con_request && n >= 4 && (answer[0] & 0xF0) == 0x60 &&
          answer[1] == 0 && answer[2] == data[2] && answer[3] == data[3]) {
        held = 1;
      } else if (n >= 4 && answer[1] != 0) {
        answered = 1;
        if ((answer[0] & 0x30) == 0x00) {
          /* A confirmable separate response: acknowledge it, or libcoap
           * holds later ones back until it gives up retransmitting. */
          uint8_t ack[4] = {0x60, 0x00, answer[2], answer[3]};
          (void)sendto(cli, ack, sizeof ack, 0,
                       (struct sockaddr *)&srv_addr, sizeof srv_addr);
        }
      }
      /* A CoAP answer over UDP fits the path MTU (libcoap's default 1152
       * bytes); larger bodies go block-wise (API.md section 1). */
      REQ_CHECK(n <= COAP_DEFAULT_MTU);
      check_answer(answer, (size_t)n);
      if (verbose && n >= 4) {
        /* Type, code and the start of the payload: enough to see which
         * handler answered when replaying a corpus by hand. */
        const uint8_t *pl = memchr(answer + 4, 0xFF, (size_t)n - 4);
        fprintf(stderr, "  answer type %d code %d.%02d, %zd bytes: %.*s\n",
                answer[0] >> 4 & 3, answer[1] >> 5, answer[1] & 31, n,
                pl != NULL ? (int)(answer + n - pl - 1 > 120
                                       ? 120
                                       : answer + n - pl - 1)
                           : 0,
                pl != NULL ? (const char *)pl + 1 : "");
      }
    }
    if (i >= 1 && got == 0) {
      break;
    }
  }
  /* A confirmable request that reaches a handler gets a code on every path
   * (DESIGN.md): an empty ACK alone means a handler returned without one. */
  REQ_CHECK(!(held && !answered));
  return 0;
}
