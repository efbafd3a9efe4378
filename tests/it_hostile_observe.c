/* edgecoap: hostile input: the observation caps, per session and resource. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "edgecoap/codec.h"
#include "it_hostile.h"
#include "it_prov_util.h"

/* ------------------------------------------------------------------------ */
/* 3. Observation caps                                                       */

/* Resources 0..99 take one observation each from one session; 100 is the
 * per-resource cap's; 101 is re-registered with new tokens. */
#define N_OBS_RES 102
#define RES_CAP 100
#define RES_REREG 101
#define PEER_CAP 64

static void obs_dep(char *out, size_t cap, int k) {
  snprintf(out, cap, "4057113e-0000-4000-8000-%012d", k);
}

static void obs_path(char *out, size_t cap, int k) {
  char dep[40];
  obs_dep(dep, sizeof(dep), k);
  snprintf(out, cap, "device/" DEV "-obs/deployment/%s/status", dep);
}

static int post_report(int k, const char *state) {
  char path[160], body[512], dep[40];
  obs_path(path, sizeof(path), k);
  obs_dep(dep, sizeof(dep), k);
  snprintf(body, sizeof(body),
           "{\"apiVersion\":\"v1\",\"kind\":\"DeploymentStatus\","
           "\"deploymentId\":\"%s\",\"status\":{\"state\":\"%s\"},"
           "\"components\":[]}",
           dep, state);
  it_coap_msg_t *r = itp_msg_new();
  it_req_t rq = IT_REQ(IT_POST, path);
  rq.content_format = EC_FORMAT_JSON;
  rq.payload = body;
  rq.payload_len = strlen(body);
  int code = server_ok() && it_coap_request(&udp, &rq, r, RAW_TIMEOUT_MS) == 0
                 ? IT_CODE_INT(r->code)
                 : -1;
  free(r);
  return code;
}

static void obs_token(uint8_t tok[8], uint32_t id) {
  memcpy(tok, "obs", 4);
  tok[4] = (uint8_t)(id >> 24);
  tok[5] = (uint8_t)(id >> 16);
  tok[6] = (uint8_t)(id >> 8);
  tok[7] = (uint8_t)id;
}

/* The observation token's id, or -1 for another token. */
static long obs_token_id(const it_coap_msg_t *r) {
  if (r->token_len != 8 || memcmp(r->token, "obs", 4) != 0)
    return -1;
  return (long)((uint32_t)r->token[4] << 24 | (uint32_t)r->token[5] << 16 |
                (uint32_t)r->token[6] << 8 | r->token[7]);
}

/* GET resource @p k with Observe @p action and token @p tok_id; the
 * answer's code (-1: none), whether it carried Observe, and its title. */
static int observe(it_udp_t *u, int k, uint32_t tok_id, int action,
                   bool *has_observe, char *title, size_t title_cap) {
  char path[160];
  uint8_t tok[8];
  obs_token(tok, tok_id);
  obs_path(path, sizeof(path), k);
  it_coap_msg_t *m = itp_msg_new(), *r = itp_msg_new();
  it_coap_init(m, IT_CON, IT_GET, it_udp_mid(u), tok, sizeof(tok));
  it_coap_add_uint(m, IT_OPT_OBSERVE, (uint32_t)action);
  it_coap_add_path(m, path);
  it_coap_add_uint(m, IT_OPT_ACCEPT, EC_FORMAT_JSON);
  int code = -1;
  size_t len;
  *has_observe = false;
  title[0] = '\0';
  if (server_ok() && it_coap_exchange(u, m, r, RAW_TIMEOUT_MS) == 0) {
    code = IT_CODE_INT(r->code);
    *has_observe = it_coap_opt(r, IT_OPT_OBSERVE, 0, &len) != NULL;
    it_problem_t p;
    if (it_problem_parse(r->payload, r->payload_len, cf_of(r), &p) == 0 &&
        p.title)
      snprintf(title, title_cap, "%s", p.title);
    it_problem_free(&p);
  }
  free(m);
  free(r);
  return code;
}

/* Collect notifications on @p u for @p wait_ms (acknowledging CONs); count
 * them per token id below @p n_ids into @p seen, the rest into *strays. */
static void notifications(it_udp_t *u, unsigned wait_ms, int *seen, long n_ids,
                          int want, int *strays) {
  it_coap_msg_t *r = itp_msg_new();
  uint64_t deadline = it_now_ms() + wait_ms;
  int got = 0;
  *strays = 0;
  while (it_now_ms() < deadline) {
    /* Once all wanted came, only a short wait for ones that should not. */
    if (got == want && deadline > it_now_ms() + 300)
      deadline = it_now_ms() + 300;
    if (it_udp_recv_msg(u, r, (unsigned)(deadline - it_now_ms())) < 0)
      continue;
    if (r->type == IT_CON) {
      uint8_t ack[4] = {(uint8_t)(1u << 6 | IT_ACK << 4), 0,
                        (uint8_t)(r->mid >> 8), (uint8_t)r->mid};
      it_udp_send(u, ack, sizeof(ack));
    }
    long id = obs_token_id(r);
    if (r->code != IT_CODE(2, 5) || id < 0 || id >= n_ids || seen[id]++ > 0)
      (*strays)++;
    else
      got++;
  }
  free(r);
}

static bool obs_resources_made;

static void make_obs_resources(void) {
  if (obs_resources_made)
    return;
  for (int k = 0; k < N_OBS_RES; k++)
    CU_ASSERT_EQUAL_FATAL(post_report(k, "Pending"), 201);
  obs_resources_made = true;
}

void test_observation_caps(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  make_obs_resources();
  it_udp_t a;
  char title[64];
  bool has_obs;
  int made = 0, refused = 0;
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&a, srv.port), 0);

  /* One session registers 100 observations on 100 resources: the first
   * 64 are made, the rest refused 5.03 without Observe. */
  for (uint32_t i = 0; i < 100; i++) {
    int code = observe(&a, (int)i, i, 0, &has_obs, title, sizeof(title));
    if (i < PEER_CAP && code == 205 && has_obs)
      made++;
    else if (i >= PEER_CAP && code == 503 && !has_obs &&
             strcmp(title, "too-many-observers") == 0)
      refused++;
    else
      fprintf(stderr, "\nit_hostile: observation %u: %d %s%s\n", i, code, title,
              has_obs ? " with Observe" : " without Observe");
  }
  CU_ASSERT_EQUAL(made, PEER_CAP);
  CU_ASSERT_EQUAL(refused, 100 - PEER_CAP);

  /* A change of each resource notifies exactly the 64 that were made. */
  for (int k = 0; k < 100; k++)
    CU_ASSERT_EQUAL(post_report(k, "Installed"), 204);
  int seen[100] = {0}, strays;
  notifications(&a, 5000, seen, PEER_CAP, PEER_CAP, &strays);
  int notified = 0;
  for (int i = 0; i < PEER_CAP; i++)
    notified += seen[i] == 1;
  if (notified != PEER_CAP || strays != 0)
    fprintf(stderr, "\nit_hostile: %d of %d observers notified, %d strays\n",
            notified, PEER_CAP, strays);
  CU_ASSERT_EQUAL(notified, PEER_CAP);
  CU_ASSERT_EQUAL(strays, 0);
  it_udp_close(&a);

  /* The per-resource cap (--max-observers 40), one observation per
   * session: the 41st is refused until one of the 40 is cancelled. */
  it_udp_t b[MAX_OBSERVERS + 2];
  made = 0;
  for (int i = 0; i < MAX_OBSERVERS + 2; i++)
    CU_ASSERT_EQUAL_FATAL(it_udp_open(&b[i], srv.port), 0);
  for (int i = 0; i < MAX_OBSERVERS; i++)
    made += observe(&b[i], RES_CAP, 1000 + (uint32_t)i, 0, &has_obs, title,
                    sizeof(title)) == 205 &&
            has_obs;
  CU_ASSERT_EQUAL(made, MAX_OBSERVERS);
  CU_ASSERT_EQUAL(observe(&b[MAX_OBSERVERS], RES_CAP, 2000, 0, &has_obs, title,
                          sizeof(title)),
                  503);
  CU_ASSERT_FALSE(has_obs);
  CU_ASSERT_STRING_EQUAL(title, "too-many-observers");
  CU_ASSERT_EQUAL(
      observe(&b[0], RES_CAP, 1000, 1, &has_obs, title, sizeof(title)), 205);
  CU_ASSERT_EQUAL(observe(&b[MAX_OBSERVERS], RES_CAP, 2001, 0, &has_obs, title,
                          sizeof(title)),
                  205);
  CU_ASSERT_TRUE(has_obs);
  CU_ASSERT_EQUAL(observe(&b[MAX_OBSERVERS + 1], RES_CAP, 2002, 0, &has_obs,
                          title, sizeof(title)),
                  503);
  for (int i = 0; i < MAX_OBSERVERS + 2; i++)
    it_udp_close(&b[i]);
  CU_ASSERT_TRUE(normal_get());
}

/* RFC 7641 section 4.1 keys an observation by client endpoint and token:
 * a session's observations of one resource with different tokens are
 * different observations, each notified (libcoap 4.3.1 merged them into
 * the last one). Registering the same token again replaces its
 * observation and counts once against the caps. */
void test_observe_tokens_are_distinct_observations(void) {
  CU_ASSERT_TRUE_FATAL(server_ok());
  make_obs_resources();
  it_udp_t a, e;
  char title[64];
  bool has_obs;
  int made = 0;
  const uint32_t n = MAX_OBSERVERS - 10; /* under the resource's cap */
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&a, srv.port), 0);
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&e, srv.port), 0);
  for (uint32_t i = 0; i < n; i++) {
    int code =
        observe(&a, RES_REREG, 3000 + i, 0, &has_obs, title, sizeof(title));
    if (code == 205 && has_obs)
      made++;
  }
  CU_ASSERT_EQUAL(made, (int)n);
  /* The same token again, more often than the cap has room for. */
  for (int i = 0; i < 20; i++) {
    CU_ASSERT_EQUAL(
        observe(&a, RES_REREG, 3000, 0, &has_obs, title, sizeof(title)), 205);
    CU_ASSERT_TRUE(has_obs);
  }
  /* Another client can still observe the resource. */
  CU_ASSERT_EQUAL(
      observe(&e, RES_REREG, 4000, 0, &has_obs, title, sizeof(title)), 205);
  CU_ASSERT_TRUE(has_obs);
  /* A change notifies every one of them, once. */
  CU_ASSERT_EQUAL(post_report(RES_REREG, "Failed"), 204);
  int *seen = calloc(5000, sizeof(int)), strays_a, strays_e, got = 0;
  CU_ASSERT_PTR_NOT_NULL_FATAL(seen);
  notifications(&a, 4000, seen, 5000, (int)n, &strays_a);
  for (uint32_t i = 0; i < n; i++)
    got += seen[3000 + i];
  CU_ASSERT_EQUAL(got, (int)n);
  CU_ASSERT_EQUAL(strays_a, 0);
  memset(seen, 0, 5000 * sizeof(int));
  notifications(&e, 3000, seen, 5000, 1, &strays_e);
  CU_ASSERT_EQUAL(seen[4000], 1);
  CU_ASSERT_EQUAL(strays_e, 0);
  free(seen);
  it_udp_close(&a);
  it_udp_close(&e);
  CU_ASSERT_TRUE(normal_get());
}
