/* edgecoap: the fleet resources against the real server: 200 devices, 3 deployments, roll-ups, paging, observers, DTLS scope. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <jansson.h>

#include "edgecoap/client.h"
#include "itest.h"
#include "suite.h"

/*
 * 200 simulated devices report over plain CoAP through the client library
 * (loopback), each to one of 3 deployments: Pending, then Installing, then
 * Installed or Failed (its "db" component with one of two error codes).
 * After every report the deployment's roll-up must equal a model the test
 * keeps. A raw observer of one roll-up, registered before the reports,
 * must end on the final counts, with at most one notification per
 * EC_FLEET_NOTIFY_MS (200 ms) of the time it watched. Paging through
 * /device and each deployment's devices must yield every device exactly
 * once. Over DTLS a device identity sees only its own rows of /device and
 * none of the roll-ups; an operator sees them.
 */

#define N_DEVICES 200
#define N_DEPS 3
#define TIMEOUT_MS 10000
#define NOTIFY_MS 200 /* EC_FLEET_NOTIFY_MS (server/api/res_fleet.h) */
#define KEY_LEN 64

static const char *const deps[N_DEPS] = {
    "f1ee7000-0000-4000-8000-000000000001",
    "f1ee7000-0000-4000-8000-000000000002",
    "f1ee7000-0000-4000-8000-000000000003",
};
static const char *const states[] = {"Pending", "Installing", "Installed",
                                     "Failed", "Removing", "Removed"};

static it_server_t srv;
static char psk_port_s[8];
static uint16_t psk_port;

/* The model: each device's state (-1: none yet) and failed code. */
static int dev_state[N_DEVICES];
static const char *dev_code[N_DEVICES];

static ec_client_t *client(void) {
  ec_client_config_t cfg = {.url = srv.url, .format = EC_FORMAT_JSON,
                            .timeout_ms = TIMEOUT_MS};
  ec_client_t *c = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_client_new(&cfg, &c), 0);
  return c;
}

/* GET @p path; its JSON body parsed (NULL unless 2.05). */
static json_t *get_json(ec_client_t *c, const char *path, int *code) {
  ec_response_t r;
  *code = -1;
  if (ec_client_request(c, "GET", path, -1, NULL, 0, &r) < 0)
    return NULL;
  *code = r.code;
  if (r.code != 205)
    return NULL;
  return json_loadb((const char *)r.body, r.body_len, 0, NULL);
}

static int report(ec_client_t *c, int dev, int state, const char *code) {
  char body[640], path[160], comp[200], comps[320];
  const char *dep = deps[dev % N_DEPS];
  if (code != NULL)
    snprintf(comp, sizeof(comp),
             "{\"name\":\"db\",\"state\":\"Failed\",\"error\":{\"code\":\"%s\","
             "\"message\":\"disk full\"}}",
             code);
  else
    snprintf(comp, sizeof(comp), "{\"name\":\"db\",\"state\":\"%s\"}",
             states[state]);
  snprintf(comps, sizeof(comps), "%s,{\"name\":\"web\",\"state\":\"%s\"}", comp,
           code != NULL ? "Installed" : states[state]);
  it_report_with(body, sizeof(body), dep, states[state], comps);
  snprintf(path, sizeof(path), "/device/sim-%03d/deployment/%s/status", dev,
           dep);
  ec_response_t r;
  if (ec_client_request(c, "POST", path, 50, (const uint8_t *)body,
                        strlen(body), &r) < 0)
    return -1;
  return r.code;
}

/* True when roll-up @p doc holds the model's counts of deployment @p d. */
static bool rollup_matches(const json_t *doc, int d) {
  int64_t want[6] = {0};
  int64_t fail_e1 = 0, fail_e2 = 0, total = 0;
  for (int i = d; i < N_DEVICES; i += N_DEPS) {
    if (dev_state[i] < 0)
      continue;
    want[dev_state[i]]++;
    total++;
    if (dev_code[i] != NULL && strcmp(dev_code[i], "E1") == 0)
      fail_e1++;
    else if (dev_code[i] != NULL)
      fail_e2++;
  }
  const json_t *st = json_object_get(doc, "states");
  if (json_integer_value(json_object_get(doc, "devices")) != total)
    return false;
  for (int s = 0; s < 6; s++)
    if (json_integer_value(json_object_get(st, states[s])) != want[s])
      return false;
  int64_t got_e1 = 0, got_e2 = 0;
  size_t i;
  const json_t *f;
  json_array_foreach(json_object_get(doc, "failures"), i, f) {
    const char *comp = json_string_value(json_object_get(f, "component"));
    const char *code = json_string_value(json_object_get(f, "code"));
    int64_t n = json_integer_value(json_object_get(f, "devices"));
    if (comp == NULL || code == NULL || strcmp(comp, "db") != 0)
      return false;
    if (strcmp(code, "E1") == 0)
      got_e1 = n;
    else if (strcmp(code, "E2") == 0)
      got_e2 = n;
    else
      return false;
  }
  return got_e1 == fail_e1 && got_e2 == fail_e2;
}

static bool rollup_now(ec_client_t *c, int d) {
  char path[128];
  int code;
  snprintf(path, sizeof(path), "/deployment/%s/rollup", deps[d]);
  json_t *doc = get_json(c, path, &code);
  bool ok = doc != NULL && rollup_matches(doc, d);
  if (!ok) {
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    fprintf(stderr, "roll-up of %s (%d): %s\n", deps[d], code, s ? s : "-");
    free(s);
  }
  json_decref(doc);
  return ok;
}

/* ---- the observer: a raw socket ------------------------------------------- */

static it_udp_t obs;
static bool observing;
static json_t *obs_last;
static int obs_notes;
static uint64_t obs_since;

static void observe_start(void) {
  char path[128];
  it_coap_msg_t *resp = calloc(1, sizeof(*resp));
  CU_ASSERT_PTR_NOT_NULL_FATAL(resp);
  snprintf(path, sizeof(path), "deployment/%s/rollup", deps[0]);
  CU_ASSERT_EQUAL_FATAL(it_udp_open(&obs, srv.port), 0);
  CU_ASSERT_EQUAL_FATAL(it_udp_verify(&obs), 0);
  it_req_t rq = IT_REQ(IT_GET, path);
  rq.accept = 50;
  rq.observe = 0;
  CU_ASSERT_EQUAL_FATAL(it_coap_request(&obs, &rq, resp, TIMEOUT_MS), 0);
  CU_ASSERT_EQUAL(IT_CODE_INT(resp->code), 205);
  CU_ASSERT_EQUAL(it_coap_opt_count(resp, IT_OPT_OBSERVE), 1);
  observing = it_coap_opt_count(resp, IT_OPT_OBSERVE) == 1;
  obs_since = it_now_ms();
  free(resp);
}

/* Read the notifications that came, acknowledging confirmable ones, until
 * none comes for @p quiet_ms; the last one's document in obs_last. */
static void observe_drain(unsigned quiet_ms) {
  it_coap_msg_t *m = calloc(1, sizeof(*m));
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  for (int i = 0; i < 10000 && it_udp_recv_msg(&obs, m, quiet_ms) == 0; i++) {
    if (m->type == IT_CON) {
      uint8_t ack[4] = {0x60, 0, (uint8_t)(m->mid >> 8), (uint8_t)m->mid};
      it_udp_send(&obs, ack, sizeof(ack));
    }
    if (IT_CODE_INT(m->code) != 205 ||
        it_coap_opt_count(m, IT_OPT_OBSERVE) != 1)
      continue;
    json_t *doc = json_loadb((const char *)m->payload, m->payload_len, 0, NULL);
    if (doc == NULL)
      continue;
    json_decref(obs_last);
    obs_last = doc;
    obs_notes++;
  }
  free(m);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_empty_fleet(void) {
  ec_client_t *c = client();
  int code;
  json_t *doc = get_json(c, "/device", &code);
  CU_ASSERT_EQUAL(code, 205);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(doc, "devices")), 0);
  json_decref(doc);
  doc = get_json(c, "/deployment", &code);
  CU_ASSERT_EQUAL(code, 205);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(doc, "deployments")), 0);
  json_decref(doc);
  /* A deployment nobody reported on: zero counts, not 4.04, so that an
   * observer can start before the first report. */
  for (int i = 0; i < N_DEVICES; i++)
    dev_state[i] = -1;
  CU_ASSERT_TRUE(rollup_now(c, 0));
  ec_client_free(c);
}

static void test_rollup_exact_after_every_report(void) {
  observe_start();
  ec_client_t *c = client();
  int bad = 0, reports = 0;
  uint64_t t0 = it_now_ms();
  /* Three rounds over the fleet: Pending, Installing, then Installed for
   * two devices in three and Failed (E1 or E2) for the rest. */
  for (int round = 0; round < 3 && bad < 5; round++) {
    for (int i = 0; i < N_DEVICES && bad < 5; i++) {
      int state = round == 0 ? 0 : round == 1 ? 1 : (i % 3 == 0 ? 3 : 2);
      const char *code = state == 3 ? (i % 2 ? "E1" : "E2") : NULL;
      int rc = report(c, i, state, code);
      if (rc != (round == 0 ? 201 : 204)) {
        fprintf(stderr, "report %d of sim-%03d: %d\n", round, i, rc);
        bad++;
        continue;
      }
      reports++;
      dev_state[i] = state;
      dev_code[i] = code;
      if (!rollup_now(c, i % N_DEPS))
        bad++;
    }
  }
  CU_ASSERT_EQUAL(bad, 0);
  CU_ASSERT_EQUAL(reports, 3 * N_DEVICES);
  fprintf(stderr, "%d reports, each followed by a roll-up read: %.1f s\n",
          reports, (double)(it_now_ms() - t0) / 1000.0);
  for (int d = 0; d < N_DEPS; d++)
    CU_ASSERT_TRUE(rollup_now(c, d));
  ec_client_free(c);
}

static void test_observer_sees_final_counts(void) {
  CU_ASSERT_TRUE_FATAL(observing);
  observe_drain(2 * NOTIFY_MS + 500);
  uint64_t watched = it_now_ms() - obs_since;
  CU_ASSERT_PTR_NOT_NULL_FATAL(obs_last);
  CU_ASSERT_TRUE(rollup_matches(obs_last, 0));
  /* Coalesced: the server spaces one roll-up's notifications by at least
   * NOTIFY_MS, so the test, which watched longer than the server sent,
   * cannot have seen more than this. */
  CU_ASSERT_TRUE(obs_notes >= 1);
  CU_ASSERT_TRUE((uint64_t)obs_notes <= watched / NOTIFY_MS + 1);
  fprintf(stderr, "observer: %d notifications in %.1f s for %d reports\n",
          obs_notes, (double)watched / 1000.0, 3 * (N_DEVICES / N_DEPS + 1));
  it_udp_close(&obs);
  json_decref(obs_last);
  obs_last = NULL;
}

/* Walk the pages of @p base ("?limit=N" or "...&limit=N"), following
 * nextAfter; count each device (and deployment) seen. */
static int walk(ec_client_t *c, const char *base, int seen[N_DEVICES],
                int *pages) {
  char path[400], after[300] = "";
  int total = 0;
  *pages = 0;
  for (int guard = 0; guard < 2 * N_DEVICES; guard++) {
    int code;
    snprintf(path, sizeof(path), "%s%s%s", base, after[0] ? "&after=" : "",
             after);
    json_t *doc = get_json(c, path, &code);
    if (doc == NULL) {
      fprintf(stderr, "GET %s: %d\n", path, code);
      return -1;
    }
    (*pages)++;
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(doc, "devices"), i, e) {
      int n = -1;
      const char *dev = json_string_value(json_object_get(e, "deviceId"));
      if (dev == NULL || sscanf(dev, "sim-%d", &n) != 1 || n < 0 ||
          n >= N_DEVICES) {
        json_decref(doc);
        return -1;
      }
      seen[n]++;
      total++;
      const char *st = json_string_value(json_object_get(e, "state"));
      if (st == NULL || strcmp(st, states[dev_state[n]]) != 0) {
        json_decref(doc);
        return -1;
      }
    }
    const char *next = json_string_value(json_object_get(doc, "nextAfter"));
    if (next == NULL) {
      json_decref(doc);
      return total;
    }
    snprintf(after, sizeof(after), "%s", next);
    json_decref(doc);
  }
  return -1;
}

static void test_paging_walks_every_device_once(void) {
  ec_client_t *c = client();
  int seen[N_DEVICES] = {0}, pages;
  CU_ASSERT_EQUAL(walk(c, "/device?limit=7", seen, &pages), N_DEVICES);
  for (int i = 0; i < N_DEVICES; i++)
    CU_ASSERT_EQUAL(seen[i], 1);
  CU_ASSERT_TRUE(pages >= N_DEVICES / 7);
  /* Without a limit, pages are cut by their size (API.md "Pages"). */
  memset(seen, 0, sizeof(seen));
  CU_ASSERT_EQUAL(walk(c, "/device?state=installed", seen, &pages),
                  N_DEVICES - (N_DEVICES + 2) / 3);

  /* Each deployment's devices, in each state and all of them. */
  memset(seen, 0, sizeof(seen));
  int sum = 0;
  for (int d = 0; d < N_DEPS; d++) {
    char base[160];
    snprintf(base, sizeof(base), "/deployment/%s/devices?limit=9", deps[d]);
    sum += walk(c, base, seen, &pages);
    for (int s = 0; s < 6; s++) {
      int per[N_DEVICES] = {0}, want = 0;
      for (int i = d; i < N_DEVICES; i += N_DEPS)
        want += dev_state[i] == s;
      snprintf(base, sizeof(base), "/deployment/%s/devices?state=%s&limit=5",
               deps[d], states[s]);
      CU_ASSERT_EQUAL(walk(c, base, per, &pages), want);
    }
  }
  CU_ASSERT_EQUAL(sum, N_DEVICES);
  for (int i = 0; i < N_DEVICES; i++)
    CU_ASSERT_EQUAL(seen[i], 1);

  /* The deployments with their counts. */
  int code;
  json_t *doc = get_json(c, "/deployment?limit=2", &code);
  CU_ASSERT_EQUAL(code, 205);
  CU_ASSERT_EQUAL(json_array_size(json_object_get(doc, "deployments")), 2);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc, "nextAfter")),
                         deps[1]);
  json_decref(doc);
  ec_client_free(c);
}

static void test_bad_queries(void) {
  ec_client_t *c = client();
  int code;
  json_decref(get_json(c, "/device?state=Sleeping", &code));
  CU_ASSERT_EQUAL(code, 400);
  json_decref(get_json(c, "/device?colour=red", &code));
  CU_ASSERT_EQUAL(code, 400);
  json_decref(get_json(c, "/device?limit=0", &code));
  CU_ASSERT_EQUAL(code, 400);
  json_decref(get_json(c, "/deployment/not%20an%20id/rollup", &code));
  CU_ASSERT_EQUAL(code, 400);
  ec_response_t r;
  CU_ASSERT_EQUAL(ec_client_request(c, "POST", "/deployment", 50,
                                    (const uint8_t *)"{}", 2, &r), 0);
  CU_ASSERT_EQUAL(r.code, 405);
  ec_client_free(c);
}

/* `edgecoap-server admin device-add`; its key in @p key. */
static int identity(const char *name, const char *role, char key[KEY_LEN + 1]) {
  const char *argv[] = {EC_SERVER_BIN, "admin", "device-add", "--db", srv.db,
                        "--identity", name, "--role", role, NULL};
  it_result_t r;
  int rc = it_run(argv, NULL, 0, TIMEOUT_MS, &r);
  if (rc != 0 || r.out == NULL || strlen(r.out) < KEY_LEN) {
    it_result_dump("admin device-add", &r);
    rc = -1;
  } else {
    memcpy(key, r.out, KEY_LEN);
    key[KEY_LEN] = '\0';
  }
  it_result_free(&r);
  return rc;
}

static ec_client_t *dtls_client(const char *name, const char *key) {
  char url[64];
  snprintf(url, sizeof(url), "coaps://127.0.0.1:%u", psk_port);
  ec_client_config_t cfg = {.url = url, .format = EC_FORMAT_JSON,
                            .timeout_ms = TIMEOUT_MS, .psk_identity = name,
                            .psk_key = (const uint8_t *)key,
                            .psk_key_len = KEY_LEN};
  ec_client_t *c = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_client_new(&cfg, &c), 0);
  return c;
}

static void test_device_identity_cannot_read_fleet(void) {
  char key_dev[KEY_LEN + 1], key_op[KEY_LEN + 1];
  CU_ASSERT_EQUAL_FATAL(identity("sim-007", "device", key_dev), 0);
  CU_ASSERT_EQUAL_FATAL(identity("fleet-operator", "operator", key_op), 0);
  ec_client_t *dev = dtls_client("sim-007", key_dev);
  char path[160];
  int code;
  snprintf(path, sizeof(path), "/deployment/%s/rollup", deps[1]);
  json_decref(get_json(dev, path, &code));
  CU_ASSERT_EQUAL(code, 403);
  snprintf(path, sizeof(path), "/deployment/%s/devices", deps[1]);
  json_decref(get_json(dev, path, &code));
  CU_ASSERT_EQUAL(code, 403);
  json_decref(get_json(dev, "/deployment", &code));
  CU_ASSERT_EQUAL(code, 403);
  json_decref(get_json(dev, "/device?device=sim-008", &code));
  CU_ASSERT_EQUAL(code, 403);
  /* /device shows the device its own rows only. */
  json_t *doc = get_json(dev, "/device", &code);
  CU_ASSERT_EQUAL(code, 205);
  const json_t *list = json_object_get(doc, "devices");
  CU_ASSERT_EQUAL(json_array_size(list), 1);
  CU_ASSERT_STRING_EQUAL(
      json_string_value(json_object_get(json_array_get(list, 0), "deviceId")),
      "sim-007");
  json_decref(doc);
  ec_client_free(dev);

  ec_client_t *op = dtls_client("fleet-operator", key_op);
  doc = get_json(op, "/device?limit=1000", &code);
  CU_ASSERT_EQUAL(code, 205);
  CU_ASSERT_TRUE(json_array_size(json_object_get(doc, "devices")) >= 100);
  json_decref(doc);
  snprintf(path, sizeof(path), "/deployment/%s/rollup", deps[1]);
  doc = get_json(op, path, &code);
  CU_ASSERT_EQUAL(code, 205);
  CU_ASSERT_TRUE(doc != NULL && rollup_matches(doc, 1));
  json_decref(doc);
  ec_client_free(op);
}

/* One server on plain CoAP and, with --dtls, on a coaps:// port of its own. */
static int suite_init(void) {
  it_init();
  if ((psk_port = it_free_port()) != 0) {
    const char *extra[] = {"--dtls", "--psk-port", psk_port_s, NULL};
    snprintf(psk_port_s, sizeof(psk_port_s), "%u", psk_port);
    if (it_server_start(&srv, extra) == 0)
      return 0;
  }
  return -1;
}

static const ec_test_t tests[] = {
    {test_empty_fleet, "empty_fleet"},
    {test_rollup_exact_after_every_report, "rollup_exact_after_every_report"},
    {test_observer_sees_final_counts, "observer_sees_final_counts"},
    {test_paging_walks_every_device_once, "paging_walks_every_device_once"},
    {test_bad_queries, "bad_queries"},
    {test_device_identity_cannot_read_fleet,
     "device_identity_cannot_read_fleet"},
};

int main(void) {
  ec_test_after_t after = {it_after_run, &srv, "it_fleet"};
  return ec_test_main("fleet", tests, EC_TEST_COUNT(tests), suite_init, NULL,
                      &after);
}
