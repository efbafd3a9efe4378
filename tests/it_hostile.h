/* edgecoap: hostile input: what it_hostile's files share. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_IT_HOSTILE_H
#define EDGECOAP_IT_HOSTILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "edgecoap/provisioning.h"
#include "itest.h"

#define DEP "4057113e-0000-4000-8000-00000000beef"
#define DEV "hostile"
#define STATUS_PATH "device/" DEV "/deployment/" DEP "/status"
#define MSGS "api/2.3/statusmessages"

#define RAW_TIMEOUT_MS 5000
#define BLOCK 1024
#define BODY_CAP 65536 /* the server's default --max-body */
#define MAX_OBSERVERS 40

/* The status every normal GET reads, and its members for other bodies. */
#define DEP_DOC_HEAD                                                           \
  "{\"apiVersion\":\"deployment.margo/v1\",\"kind\":\"DeploymentStatus\","     \
  "\"deploymentId\":\"" DEP "\",\"status\":{\"state\":\"Installed\"},"
#define DEP_DOC_COMPONENTS                                                     \
  "\"components\":[{\"name\":\"a\",\"state\":\"Installed\"}]"

/* The suite's server (--max-observers 40), its verified client session,
 * the admin's provisioning token, and the seed of the random datagrams. */
extern it_server_t srv;
extern it_udp_t udp;
extern char token[EC_PROV_TOKEN_HEX + 1];
extern unsigned seed;

/* xorshift32 from the seed: reproducible from the printed seed. */
uint32_t rnd(void);

/* A growing byte buffer for bodies, NUL-terminated; out of memory aborts. */
typedef struct {
  uint8_t *p;
  size_t len, cap;
} bb_t;

void bb_put(bb_t *b, const void *data, size_t n);
void bb_str(bb_t *b, const char *s);
void bb_byte(bb_t *b, uint8_t c);

/* True while the server runs. */
bool server_ok(void);
/* A message's Content-Format, or -1. */
int cf_of(const it_coap_msg_t *m);
/* A normal GET of the seeded status: the server still serves. */
bool normal_get(void);

/* The APIs that take a body. */
typedef struct {
  const char *name;
  int method;
  const char *path;
  bool prov; /* needs the token; errors in the seed's shape */
} api_t;

enum { API_DEP, API_MSG_POST, API_MSG_FETCH, API_PROV, N_APIS };

extern const api_t apis[N_APIS];

#define ALL_APIS ((1u << N_APIS) - 1)
#define ONLY(a) (1u << (a))

/* Bytes written as a literal. */
typedef struct {
  const char *p;
  size_t len;
} hbytes_t;
/* clang-format off */
#define HB(s) {s, sizeof(s) - 1}
/* clang-format on */

/* One hostile payload: its body and what each API must answer. The body
 * is head, unit x times, mid, unit2 x times2, tail; or build's. */
typedef struct {
  const char *name;
  int cf;
  unsigned apis;          /* bit per API */
  int want_doc;           /* code for the problem-details APIs */
  const char *title_doc;  /* NULL: not checked */
  int want_prov;          /* code for provisioning */
  const char *title_prov; /* seed error or problem title */
  bool size1;
  int want_blocks; /* blocks sent before the refusal; 0: any */
  hbytes_t head, unit;
  size_t times;
  hbytes_t mid, unit2;
  size_t times2;
  hbytes_t tail;
  void (*build)(bb_t *b);
} hcase_t;

/* it_hostile_cases.c: the payloads, and each one's body into @p b. */
extern const hcase_t hostile_cases[];
extern const size_t n_hostile_cases;
void hostile_body(const hcase_t *c, bb_t *b);

/* The tests after the payloads, one file each. */
void test_random_datagrams(void);                         /* _random.c */
void test_observation_caps(void);                         /* _observe.c */
void test_observe_tokens_are_distinct_observations(void); /* _observe.c */
void test_flood_of_peers(void);                           /* _flood.c */

#endif /* EDGECOAP_IT_HOSTILE_H */
