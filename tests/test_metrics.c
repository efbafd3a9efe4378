/* edgecoap tests: the metrics registry and its Prometheus text. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "suite.h"

#define CODE(c, d) ((c) << 5 | (d))

static char *render(const ec_metrics_t *m, size_t *len) {
  size_t n = ec_metrics_render(m, NULL, 0);
  char *buf = malloc(n + 1);
  if (buf == NULL)
    return NULL;
  *len = ec_metrics_render(m, buf, n);
  buf[n] = '\0';
  return buf;
}

static void test_requests_counted_by_template(void) {
  ec_metrics_t *m = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_metrics_new(&m), 0);
  int status = ec_metrics_route(
      m, "device/{deviceId}/deployment/{deploymentId}/status");
  int history = ec_metrics_route(m, "device/{deviceId}/history");
  CU_ASSERT_EQUAL(status, 0);
  CU_ASSERT_EQUAL(history, 1);
  CU_ASSERT_EQUAL(ec_metrics_route(m, "device/{deviceId}/history"), 1);
  for (int i = 0; i < 7; i++)
    ec_metrics_request(m, status, 3 /* PUT */, CODE(2, 4), 300);
  ec_metrics_request(m, status, 1, CODE(4, 4), 50);
  ec_metrics_request(m, -1, 1, CODE(4, 4), 20);
  ec_metrics_request(m, history, 99, 0x7f, 2000000);
  CU_ASSERT_EQUAL(ec_metrics_requests(m, status, 3, CODE(2, 4)), 7);
  CU_ASSERT_EQUAL(ec_metrics_requests(m, -1, 1, CODE(4, 4)), 1);

  size_t len;
  char *t = render(m, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  CU_ASSERT_EQUAL(strlen(t), len);
  CU_ASSERT_PTR_NOT_NULL(strstr(t,
      "edgecoap_requests_total{route=\"/device/{deviceId}/deployment/"
      "{deploymentId}/status\",method=\"PUT\",code=\"2.04\"} 7\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(t,
      "edgecoap_requests_total{route=\"unmatched\",method=\"GET\","
      "code=\"4.04\"} 1\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(t,
      "edgecoap_requests_total{route=\"/device/{deviceId}/history\","
      "method=\"other\",code=\"other\"} 1\n"));
  /* 7 of 8 status requests took 300 us: in the 0.0005 bucket, not 0.00025. */
  CU_ASSERT_PTR_NOT_NULL(strstr(t,
      "edgecoap_request_duration_seconds_bucket{route=\"/device/{deviceId}/"
      "deployment/{deploymentId}/status\",le=\"0.00025\"} 1\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(t,
      "edgecoap_request_duration_seconds_bucket{route=\"/device/{deviceId}/"
      "deployment/{deploymentId}/status\",le=\"0.0005\"} 8\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(t,
      "edgecoap_request_duration_seconds_count{route=\"/device/{deviceId}/"
      "history\"} 1\n"));
  /* A series that counted nothing is not written. */
  CU_ASSERT_PTR_NULL(strstr(t, "code=\"2.05\""));
  free(t);
  ec_metrics_free(m);
}

static void test_scalars_and_histograms(void) {
  ec_metrics_t *m = NULL;
  CU_ASSERT_EQUAL_FATAL(ec_metrics_new(&m), 0);
  ec_metrics_set_build(m, "1.2.3", "4.3.1");
  ec_metrics_add(m, EC_M_OBSERVERS, 3);
  ec_metrics_add(m, EC_M_OBSERVERS, -1);
  ec_metrics_add(m, EC_M_OBS_DROPPED_SILENT, 1);
  ec_metrics_set(m, EC_M_DB_BYTES, 4096);
  ec_metrics_observe(m, EC_H_COMMIT_WRITES, 1);
  ec_metrics_observe(m, EC_H_COMMIT_WRITES, 3);
  ec_metrics_observe(m, EC_H_COMMIT_WRITES, 1000);
  CU_ASSERT_EQUAL(ec_metrics_get(m, EC_M_OBSERVERS), 2);
  size_t len;
  char *t = render(m, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  CU_ASSERT_PTR_NOT_NULL(strstr(t,
      "edgecoap_build_info{version=\"1.2.3\",libcoap=\"4.3.1\"} 1\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(t, "\nedgecoap_observers 2\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(t, "\nedgecoap_database_bytes 4096\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(t,
      "edgecoap_observations_dropped_total{reason=\"silent\"} 1\n"
      "edgecoap_observations_dropped_total{reason=\"reset\"} 0\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(t,
      "edgecoap_store_commit_writes_bucket{le=\"1\"} 1\n"
      "edgecoap_store_commit_writes_bucket{le=\"2\"} 1\n"
      "edgecoap_store_commit_writes_bucket{le=\"4\"} 2\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(t,
      "edgecoap_store_commit_writes_bucket{le=\"+Inf\"} 3\n"
      "edgecoap_store_commit_writes_sum 1004\n"
      "edgecoap_store_commit_writes_count 3\n"));
  /* Each family has one TYPE line, before its series. */
  const char *type = strstr(t, "# TYPE edgecoap_observations_dropped_total");
  CU_ASSERT_PTR_NOT_NULL(type);
  CU_ASSERT_PTR_NULL(strstr(type + 1,
                            "# TYPE edgecoap_observations_dropped_total"));
  free(t);
  ec_metrics_free(m);
}

static void test_render_into_short_buffer(void) {
  ec_metrics_t *m = NULL;
  char small[100];
  CU_ASSERT_EQUAL_FATAL(ec_metrics_new(&m), 0);
  size_t whole = ec_metrics_render(m, NULL, 0);
  memset(small, 'x', sizeof(small));
  CU_ASSERT_EQUAL(ec_metrics_render(m, small, 50), whole);
  CU_ASSERT_EQUAL(small[50], 'x');
  CU_ASSERT_EQUAL(memcmp(small, "# HELP edgecoap_build_info", 26), 0);
  ec_metrics_free(m);
}

static void test_routes_past_the_cap_count_as_unmatched(void) {
  ec_metrics_t *m = NULL;
  static char names[EC_METRICS_MAX_ROUTES + 1][16];
  CU_ASSERT_EQUAL_FATAL(ec_metrics_new(&m), 0);
  for (int i = 0; i < EC_METRICS_MAX_ROUTES; i++) {
    names[i][0] = 'r';
    names[i][1] = (char)('A' + i);
    CU_ASSERT_EQUAL(ec_metrics_route(m, names[i]), i);
  }
  CU_ASSERT_TRUE(ec_metrics_route(m, "one/more") < 0);
  ec_metrics_request(m, EC_METRICS_MAX_ROUTES, 1, CODE(2, 5), 1);
  CU_ASSERT_EQUAL(ec_metrics_requests(m, -1, 1, CODE(2, 5)), 1);
  ec_metrics_free(m);
}

static const ec_test_t tests[] = {
    {test_requests_counted_by_template, "requests_counted_by_template"},
    {test_scalars_and_histograms, "scalars_and_histograms"},
    {test_render_into_short_buffer, "render_into_short_buffer"},
    {test_routes_past_the_cap_count_as_unmatched,
     "routes_past_the_cap_count_as_unmatched"},
};

int main(void) {
  return ec_test_main("metrics", tests, EC_TEST_COUNT(tests), NULL, NULL,
                      NULL);
}
