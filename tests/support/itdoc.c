/* edgecoap tests: problem details read, status messages counted and deployment-status reports written. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "itest.h"

#include <cbor.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Problem details                                                           */

/* Find integer key @p key, or text key @p tkey when it is not NULL. */
static cbor_item_t *cbor_map_find(cbor_item_t *map, int key, const char *tkey) {
  struct cbor_pair *pairs = cbor_map_handle(map);
  for (size_t i = 0; i < cbor_map_size(map); i++) {
    cbor_item_t *k = pairs[i].key;
    if (tkey == NULL && cbor_isa_negint(k) &&
        -1 - (int64_t)cbor_get_int(k) == key)
      return pairs[i].value;
    if (tkey != NULL && cbor_isa_string(k) && cbor_string_is_definite(k) &&
        cbor_string_length(k) == strlen(tkey) &&
        memcmp(cbor_string_handle(k), tkey, strlen(tkey)) == 0)
      return pairs[i].value;
  }
  return NULL;
}

/* A definite text string as a malloc'd C string; NULL if it is not one. */
static char *cbor_text(cbor_item_t *v) {
  if (v == NULL || !cbor_isa_string(v) || !cbor_string_is_definite(v))
    return NULL;
  size_t n = cbor_string_length(v);
  char *s = malloc(n + 1);
  if (s != NULL) {
    memcpy(s, cbor_string_handle(v), n);
    s[n] = '\0';
  }
  return s;
}

static char *json_text(const json_t *obj, const char *key) {
  const json_t *v = json_object_get(obj, key);
  return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

int it_problem_parse(const uint8_t *body, size_t len, int cf, it_problem_t *p) {
  memset(p, 0, sizeof(*p));
  p->code_int = -1;
  if (cf == 50) {
    json_t *j = json_loadb((const char *)body, len, 0, NULL);
    if (!json_is_object(j)) {
      json_decref(j);
      return -1;
    }
    p->title = json_text(j, "title");
    p->detail = json_text(j, "detail");
    p->field = json_text(j, "field");
    p->code_text = json_text(j, "response-code");
    json_decref(j);
    return 0;
  }
  if (cf != 257)
    return -1;
  struct cbor_load_result res;
  cbor_item_t *map = cbor_load(body, len, &res);
  if (map == NULL || !cbor_isa_map(map) || res.read != len) {
    if (map != NULL)
      cbor_decref(&map);
    return -1;
  }
  p->title = cbor_text(cbor_map_find(map, -1, NULL));
  p->detail = cbor_text(cbor_map_find(map, -2, NULL));
  p->field = cbor_text(cbor_map_find(map, -256, NULL));
  cbor_item_t *code = cbor_map_find(map, -4, NULL);
  if (code != NULL && cbor_isa_uint(code))
    p->code_int = (int64_t)cbor_get_int(code);
  /* The concise form is defined by its integer keys: the JSON names in it
   * would mean the server sent a transcoded JSON problem instead. */
  bool clean = cbor_map_find(map, 0, "title") == NULL &&
               cbor_map_find(map, 0, "detail") == NULL &&
               cbor_map_find(map, 0, "response-code") == NULL &&
               cbor_map_find(map, 0, "field") == NULL;
  cbor_decref(&map);
  if (!clean) {
    it_problem_free(p);
    return -1;
  }
  return 0;
}

void it_problem_free(it_problem_t *p) {
  free(p->title);
  free(p->detail);
  free(p->field);
  free(p->code_text);
  memset(p, 0, sizeof(*p));
}

/* ------------------------------------------------------------------------ */
/* Status messages                                                           */

int it_messages_count(uint16_t port, const char *order_id,
                      unsigned timeout_ms) {
  char path[128];
  it_udp_t u;
  it_body_t b = {0};
  int count = -1;
  snprintf(path, sizeof(path), "api/2.3/statusmessages?orderId=%s", order_id);
  if (it_udp_open(&u, port) < 0)
    return -1;
  if (it_udp_verify(&u) == 0 &&
      it_coap_get_blockwise(&u, path, 50, 1024, 100, &b, timeout_ms) == 0 &&
      IT_CODE_INT(b.code) == 205) {
    json_t *j = json_loadb((const char *)b.body, b.len, 0, NULL);
    json_t *list = json_object_get(j, "StatusMessages");
    count = json_is_array(list) ? (int)json_array_size(list) : -1;
    json_decref(j);
  }
  free(b.body);
  it_udp_close(&u);
  return count;
}

/* ------------------------------------------------------------------------ */
/* Deployment-status reports                                                 */

const char *it_report_with(char *buf, size_t cap, const char *dep,
                           const char *state, const char *components) {
  int n = snprintf(buf, cap,
                   "{\"apiVersion\":\"deployment.margo/v1\",\"kind\":"
                   "\"DeploymentStatus\",\"deploymentId\":\"%s\",\"status\":"
                   "{\"state\":\"%s\"},\"components\":[%s]}",
                   dep, state, components);
  /* A report cut short would test something else: the caller's buffer is
   * a test's mistake, so stop the test program at once. */
  if (n < 0 || (size_t)n >= cap) {
    fprintf(stderr, "itest: a report of %d bytes does not fit %zu\n", n, cap);
    abort();
  }
  return buf;
}

const char *it_report(char *buf, size_t cap, const char *dep, const char *state,
                      const char *comp, const char *comp_state) {
  char one[320] = "";
  if (comp != NULL &&
      (size_t)snprintf(one, sizeof(one), "{\"name\":\"%s\",\"state\":\"%s\"}",
                       comp, comp_state) >= sizeof(one)) {
    fprintf(stderr, "itest: component name %.40s... too long\n", comp);
    abort();
  }
  return it_report_with(buf, cap, dep, state, one);
}
