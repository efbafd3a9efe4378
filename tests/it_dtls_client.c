/* edgecoap tests: one long-lived ec_client_* client over coaps://, a GET of a deployment's status per line of input. */
/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Usage: it_dtls_client URL IDENTITY PATH, the key in $EDGECOAP_PSK_KEY.
 * One client for as long as the program runs (a timeout of 2 s a
 * request): each line on standard input is a GET of PATH, printed as
 * "answered CODE MS" or "error RC MS". tests/it_cluster_dtls.sh reloads
 * nginx under it: the first GET after the reload times out, and the next
 * must handshake again rather than wait on a session no node holds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgecoap/client.h"

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
  const char *key = getenv("EDGECOAP_PSK_KEY");
  if (argc != 4 || key == NULL) {
    fprintf(stderr, "usage: %s URL IDENTITY PATH (the key in $EDGECOAP_PSK_KEY)\n",
            argv[0]);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  ec_client_config_t cfg = {.url = argv[1], .timeout_ms = 2000,
                            .psk_identity = argv[2],
                            .psk_key = (const uint8_t *)key,
                            .psk_key_len = strcspn(key, " \t\r\n")};
  ec_client_t *c = NULL;
  if (ec_client_new(&cfg, &c) != 0) {
    fprintf(stderr, "it_dtls_client: cannot make the client\n");
    return 1;
  }
  char line[64];
  while (fgets(line, sizeof line, stdin) != NULL) {
    ec_response_t resp;
    long long t0 = now_ms();
    int rc = ec_client_request(c, "GET", argv[3], 0, NULL, 0, &resp);
    if (rc == 0)
      printf("answered %d %lld\n", resp.code, now_ms() - t0);
    else
      printf("error %d %lld\n", rc, now_ms() - t0);
  }
  ec_client_free(c);
  return 0;
}
