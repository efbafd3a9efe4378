/* edgecoap tests: the device core's CBOR against the server's codec, document by document. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#include "client_internal.h"
#include "device_keys.h"
#include "edgecoap/codec.h"
#include "edgecoap/deployment.h"
#include "edgecoap/device.h"
#include "edgecoap/provisioning.h"
#include "edgecoap/status_message.h"
#include "suite.h"

#define UUID "a3e2f5dc-912e-494f-8395-52cf3769bc06"

static _Alignas(max_align_t) uint8_t arena_mem[1 << 16];

/* The same document in both structs: the device's is built from the
 * codec's, so every field the codec has is carried over. */
static void to_device(const ec_deployment_status_t *s, ec_dev_status_t *d,
                      ec_dev_component_t *comps) {
  memset(d, 0, sizeof *d);
  d->api_version = s->api_version;
  d->kind = s->kind;
  d->deployment_id = s->deployment_id;
  d->device_id = s->device_id;
  d->adopted_manifest_version = (uint32_t)s->adopted_manifest_version;
  d->state = (ec_dev_state_t)s->state;
  if (s->has_error) {
    d->error = (ec_dev_error_t){s->error.code, s->error.message, s->error.source};
  }
  for (size_t i = 0; i < s->n_components; i++) {
    const ec_component_status_t *c = &s->components[i];
    comps[i] = (ec_dev_component_t){c->name, (ec_dev_state_t)c->state, {0}};
    if (c->has_error) {
      comps[i].error =
          (ec_dev_error_t){c->error.code, c->error.message, c->error.source};
    }
  }
  d->components = comps;
  d->n_components = s->n_components;
}

/* Documents covering every optional part: extras, errors with and without
 * source, no components, a manifest kind, non-ASCII text, long strings
 * (two-byte heads), every state. */
static const char *const docs[] = {
    "{\"apiVersion\":\"deployment.margo/v1\",\"kind\":\"DeploymentStatus\","
    "\"deploymentId\":\"" UUID "\",\"status\":{\"state\":\"Installing\"},"
    "\"components\":[{\"name\":\"db\",\"state\":\"Installed\"},"
    "{\"name\":\"web\",\"state\":\"Installing\"}]}",
    "{\"apiVersion\":\"v\",\"kind\":\"DeploymentStatusManifest\","
    "\"deploymentId\":\"" UUID "\",\"deviceId\":\"dev-\xc3\xa9\","
    "\"adoptedManifestVersion\":70000,\"status\":{\"state\":\"Failed\","
    "\"error\":{\"code\":\"E1\",\"message\":\"disk full\"}},\"components\":[]}",
    "{\"apiVersion\":\"v\",\"kind\":\"DeploymentStatus\",\"deploymentId\":\"" UUID
    "\",\"adoptedManifestVersion\":23,\"status\":{\"state\":\"Removing\"},"
    "\"components\":[{\"name\":\"a\",\"state\":\"Failed\",\"error\":{\"code\":"
    "\"c\",\"message\":\"m\",\"source\":\"s\"}},{\"name\":\"b\",\"state\":"
    "\"Removed\"},{\"name\":\"c\",\"state\":\"Pending\",\"error\":{\"code\":"
    "\"x\",\"message\":\"" "0123456789012345678901234567890123456789"
    "0123456789012345678901234567890123456789012345678901234567890123456789"
    "0123456789012345678901234567890123456789012345678901234567890123456789"
    "0123456789012345678901234567890123456789012345678901234567890123456789"
    "\"}}]}",
    "{\"apiVersion\":\"v\",\"kind\":\"DeploymentStatus\",\"deploymentId\":\"" UUID
    "\",\"status\":{\"state\":\"Failed\",\"error\":{\"code\":\"E\",\"message\":"
    "\"m\",\"source\":\"sda\"}},\"components\":[{\"name\":\"n\",\"state\":"
    "\"Installed\",\"error\":{\"code\":\"\",\"message\":\"\"}}]}",
};

/* The codec wrote @p na bytes at @p a, the core @p nb at @p b after
 * measuring @p measured: the same bytes. */
static void same_bytes(const uint8_t *a, ssize_t na, const uint8_t *b, int nb,
                       int measured) {
  CU_ASSERT_TRUE_FATAL(na > 0);
  CU_ASSERT_EQUAL(measured, nb);
  CU_ASSERT_EQUAL_FATAL(na, nb);
  CU_ASSERT_EQUAL(memcmp(a, b, (size_t)na), 0);
}

static int count_component(void *ctx, size_t idx,
                           const ec_dev_component_view_t *c) {
  (void)c;
  *(size_t *)ctx = idx + 1;
  return 0;
}

static void test_report_bytes_equal_codec(void) {
  for (size_t d = 0; d < sizeof docs / sizeof docs[0]; d++) {
    ec_arena_t arena;
    ec_arena_init(&arena, arena_mem, sizeof arena_mem);
    ec_deployment_status_t st;
    CU_ASSERT_EQUAL_FATAL(ec_deployment_status_decode(
                              EC_FORMAT_JSON, (const uint8_t *)docs[d],
                              strlen(docs[d]), &st, &arena, NULL),
                          0);
    uint8_t a[2048], b[2048];
    ssize_t na = ec_deployment_status_encode(EC_FORMAT_CBOR, &st, a, sizeof a);
    ec_dev_component_t comps[8];
    ec_dev_status_t dst;
    to_device(&st, &dst, comps);
    int measured = ec_dev_status_encode(&dst, NULL, 0);
    int nb = ec_dev_status_encode(&dst, b, sizeof b);
    same_bytes(a, na, b, nb, measured);
    /* And the core reads what the codec wrote (the server's answer). */
    ec_dev_status_view_t v;
    size_t seen = 0;
    CU_ASSERT_EQUAL(ec_dev_status_decode(a, (size_t)na, &v, count_component,
                                         &seen),
                    0);
    CU_ASSERT_EQUAL(v.state, (ec_dev_state_t)st.state);
    CU_ASSERT_EQUAL(v.n_components, st.n_components);
    CU_ASSERT_EQUAL(seen, st.n_components);
    CU_ASSERT_EQUAL(v.adopted_manifest_version, st.adopted_manifest_version);
    CU_ASSERT_EQUAL(v.error_code.ptr != NULL, st.has_error);
    /* A buffer one byte short is reported by the length, as the codec does. */
    CU_ASSERT_EQUAL(ec_dev_status_encode(&dst, b, (size_t)nb - 1), nb);
  }
}

static void test_states_match_codec(void) {
  CU_ASSERT_EQUAL(EC_DEV_PENDING, EC_STATE_PENDING);
  CU_ASSERT_EQUAL(EC_DEV_INSTALLING, EC_STATE_INSTALLING);
  CU_ASSERT_EQUAL(EC_DEV_INSTALLED, EC_STATE_INSTALLED);
  CU_ASSERT_EQUAL(EC_DEV_FAILED, EC_STATE_FAILED);
  CU_ASSERT_EQUAL(EC_DEV_REMOVING, EC_STATE_REMOVING);
  CU_ASSERT_EQUAL(EC_DEV_REMOVED, EC_STATE_REMOVED);
  CU_ASSERT_EQUAL(EC_DEV_STATE_COUNT, EC_STATE_COUNT);
  /* And the decoders' caps are the codec's. */
  CU_ASSERT_EQUAL(EC_DEV_MAX_DEPTH, EC_MAX_DEPTH);
  CU_ASSERT_EQUAL(EC_DEV_MAX_TEXT, EC_MAX_TEXT);
  CU_ASSERT_EQUAL(EC_DEV_MAX_ITEMS, EC_MAX_ITEMS);
}

static void test_problem_from_codec(void) {
  uint8_t buf[512];
  ssize_t n = ec_problem_encode(EC_FORMAT_PROBLEM_CBOR, "invalid-state",
                                "status.state must be one of ...", 150,
                                "status.state", buf, sizeof buf);
  CU_ASSERT_TRUE_FATAL(n > 0);
  ec_dev_problem_t p;
  CU_ASSERT_EQUAL_FATAL(ec_dev_problem_decode(buf, (size_t)n, &p), 0);
  CU_ASSERT_EQUAL(p.code, 150);
  CU_ASSERT_TRUE(p.title.len == 13 && memcmp(p.title.ptr, "invalid-state", 13) == 0);
  CU_ASSERT_TRUE(p.field.len == 12 && memcmp(p.field.ptr, "status.state", 12) == 0);
  CU_ASSERT_PTR_NOT_NULL(p.detail.ptr);
  /* Without a field and code, the codec leaves them out. */
  n = ec_problem_encode(EC_FORMAT_PROBLEM_CBOR, "t", NULL, 0, NULL, buf,
                        sizeof buf);
  CU_ASSERT_EQUAL_FATAL(ec_dev_problem_decode(buf, (size_t)n, &p), 0);
  CU_ASSERT_EQUAL(p.code, 0);
  CU_ASSERT_PTR_NULL(p.field.ptr);
  CU_ASSERT_PTR_NULL(p.detail.ptr);
}

/* Whatever the codec refuses as a report, the core's reader refuses too,
 * for every truncation of a codec-written report. */
static void test_truncations_refused_by_both(void) {
  ec_arena_t arena;
  ec_arena_init(&arena, arena_mem, sizeof arena_mem);
  ec_deployment_status_t st;
  CU_ASSERT_EQUAL_FATAL(ec_deployment_status_decode(
                            EC_FORMAT_JSON, (const uint8_t *)docs[2],
                            strlen(docs[2]), &st, &arena, NULL),
                        0);
  uint8_t a[2048];
  ssize_t na = ec_deployment_status_encode(EC_FORMAT_CBOR, &st, a, sizeof a);
  CU_ASSERT_TRUE_FATAL(na > 0);
  for (ssize_t cut = 0; cut < na; cut++) {
    ec_dev_status_view_t v;
    ec_arena_reset(&arena);
    CU_ASSERT_TRUE(ec_deployment_status_decode(EC_FORMAT_CBOR, a, (size_t)cut,
                                               &st, &arena, NULL) < 0);
    CU_ASSERT_TRUE(ec_dev_status_decode(a, (size_t)cut, &v, NULL, NULL) < 0);
  }
}

static ec_dev_msg_t seen_msgs[4];
static int on_msg(void *ctx, size_t idx, const ec_dev_msg_t *m) {
  (void)ctx;
  if (idx < 4) {
    seen_msgs[idx] = *m;
  }
  return 0;
}

static bool str_is(ec_dev_str_t s, const char *want) {
  return s.ptr != NULL && s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

/* A page of status messages as the codec writes it, read by the core; and
 * the shape the server adds for a cut page (nextFromStatusMessageID, IDs
 * as digit strings, which the codec also reads). */
static void test_message_page_from_codec(void) {
  static const ec_msg_param_t params[] = {{"Delivery date", "2018-06-17"}};
  static const uint64_t macs[] = {0xfe00ae3544acULL, 0x1ULL};
  ec_status_message_t msgs[3];
  memset(msgs, 0, sizeof msgs);
  msgs[0] = (ec_status_message_t){.id = 5, .has_date = true, .code = 101,
                                  .params = params,
                                  .n_params = 1, .order_id = "O1",
                                  .macs = macs, .n_macs = 2};
  msgs[0].dhcp = (ec_dhcp_option_t){.present = true, .has_ipv4 = true,
                                    .has_option82 = true,
                                    .option82_remote_id = "r1"};
  msgs[1] = (ec_status_message_t){.id = 6, .has_date = true,
                                  .date_ms = 1529247010033, .code = 110,
                                  .subscription_id = "S1"};
  msgs[2] = (ec_status_message_t){.id = 1000023424553123, .has_date = true,
                                  .date_ms = -62167219200000, .code = 999,
                                  .access_id = "A1"};
  uint8_t buf[1024];
  ssize_t n = ec_status_messages_encode(EC_FORMAT_CBOR, msgs, 3, buf, sizeof buf);
  CU_ASSERT_TRUE_FATAL(n > 0 && (size_t)n <= sizeof buf);
  int64_t next = -1;
  memset(seen_msgs, 0, sizeof seen_msgs);
  CU_ASSERT_EQUAL_FATAL(ec_dev_msgs_decode(buf, (size_t)n, on_msg, NULL, &next), 0);
  CU_ASSERT_EQUAL(next, 0);
  CU_ASSERT_EQUAL(seen_msgs[0].id, 5);
  CU_ASSERT_EQUAL(seen_msgs[0].code, 101);
  CU_ASSERT_TRUE(str_is(seen_msgs[0].order_id, "O1"));
  CU_ASSERT_EQUAL(seen_msgs[0].n_params, 1);
  CU_ASSERT_EQUAL(seen_msgs[0].n_macs, 2);
  CU_ASSERT_TRUE(str_is(seen_msgs[1].date, "2018-06-17T14:50:10.033Z"));
  CU_ASSERT_TRUE(str_is(seen_msgs[1].subscription_id, "S1"));
  CU_ASSERT_EQUAL(seen_msgs[2].id, 1000023424553123);
  CU_ASSERT_TRUE(str_is(seen_msgs[2].access_id, "A1"));
  for (ssize_t cut = 0; cut < n; cut++) {
    CU_ASSERT_TRUE(ec_dev_msgs_decode(buf, (size_t)cut, NULL, NULL, NULL) < 0);
  }
  static const char cut_page[] =
      "{\"StatusMessages\":[{\"statusMessageID\":\"4711\",\"messageCode\":"
      "\"101\",\"messageDate\":\"2018-06-17T14:50:10.033Z\",\"orderId\":"
      "\"O\"}],\"nextFromStatusMessageID\":4711}";
  n = ec_json_to_cbor(cut_page, strlen(cut_page), buf, sizeof buf);
  CU_ASSERT_TRUE_FATAL(n > 0);
  CU_ASSERT_EQUAL(ec_dev_msgs_decode(buf, (size_t)n, on_msg, NULL, &next), 0);
  CU_ASSERT_EQUAL(next, 4711);
  CU_ASSERT_EQUAL(seen_msgs[0].id, 4711);
  CU_ASSERT_EQUAL(seen_msgs[0].code, 101);
  /* What the codec refuses in a message, the core refuses too. */
  static const char *const bad[] = {
      "{\"StatusMessages\":[{\"statusMessageID\":1,\"messageCode\":101}]}",
      "{\"StatusMessages\":[{\"statusMessageID\":1,\"messageCode\":99,\"orderId\":\"O\"}]}",
      "{\"StatusMessages\":[{\"statusMessageID\":1,\"messageCode\":101,\"orderId\":\"O\","
      "\"messageParameters\":[{\"a\":1}]}]}",
      "{\"StatusMessages\":{}}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    n = ec_json_to_cbor(bad[i], strlen(bad[i]), buf, sizeof buf);
    CU_ASSERT_TRUE_FATAL(n > 0);
    CU_ASSERT_EQUAL(ec_dev_msgs_decode(buf, (size_t)n, NULL, NULL, NULL), EC_EBADDOC);
  }
}


/* ---- status messages posted: the core's CBOR is the codec's ------------ */

/* The device's message built from the codec's, every field carried over;
 * @p params gets the parameters (the two structs have one layout, but the
 * copy does not rely on it). */
static void msg_to_device(const ec_status_message_t *m, ec_dev_msg_new_t *d,
                          ec_dev_msg_param_t *params) {
  memset(d, 0, sizeof *d);
  d->code = m->code;
  d->has_date = m->has_date;
  d->date_ms = m->date_ms;
  d->order_id = m->order_id;
  d->subscription_id = m->subscription_id;
  d->access_id = m->access_id;
  for (size_t i = 0; m->params != NULL && i < m->n_params; i++) {
    params[i] = (ec_dev_msg_param_t){m->params[i].key, m->params[i].value};
  }
  d->params = m->params != NULL ? params : NULL;
  d->n_params = m->n_params;
  d->macs = m->macs;
  d->n_macs = m->n_macs;
  const ec_dhcp_option_t *o = &m->dhcp;
  d->dhcp = (ec_dev_dhcp_t){o->present, o->has_ipv4, o->has_option82,
                            o->has_ipv6, o->has_option18, o->has_option37,
                            o->option82_remote_id, o->option82_circuit_id,
                            o->option18_interface_id, o->option37_remote_id};
}

#define LONG40 "0123456789012345678901234567890123456789"
/* Posts covering every member: dates with an offset, before 1970 and at
 * both ends of the four-digit years; every dhcpOption object, empty ones
 * too; addresses in each spelling; non-ASCII and long text (one- and
 * two-byte heads); 30 parameters (a two-byte array head); batches. */
static const char *const msg_docs[] = {
    "{\"messageCode\":\"101\",\"orderId\":\"O10000004234345\",\"subscriptionId\":"
    "\"S100943053344\",\"macAddress\":[\"FE-00-AE-35-44-AC\",\"fe00.ae35.44ad\","
    "\"0123456789ab\"],\"messageParameters\":[{\"Delivery date\":\"2018-06-17\"},"
    "{\"k\":\"\"}],\"dhcpOption\":{\"IPv4\":{\"option82\":{\"remoteId\":\"r\","
    "\"circuitId\":\"A100003453455\"}},\"IPv6\":{\"option18\":{\"interfaceId\":"
    "\"i\"},\"option37\":{\"remoteId\":\"r6\"}}}}",
    "{\"messageCode\":999,\"accessId\":\"A1\",\"messageDate\":"
    "\"2018-06-17T16:05:41.201+02:00\",\"dhcpOption\":{}}",
    "{\"messageCode\":100,\"subscriptionId\":\"s.-1\",\"messageDate\":"
    "\"1969-12-31T23:59:59.999Z\",\"dhcpOption\":{\"IPv4\":{},\"IPv6\":"
    "{\"option18\":{},\"option37\":{}}}}",
    "{\"messageCode\":102,\"orderId\":\"" "012345678901234567890123456789-.ABCD\",\"messageDate\":"
    "\"0000-01-01T00:00:00.000Z\"}",
    "{\"messageCode\":102,\"accessId\":\"" "01234567890123456789012345678901"
    "\",\"messageDate\":\"9999-12-31T23:59:59.999Z\",\"messageParameters\":"
    "[{\"n\xc3\xa4me\":\"v\xc3\xa4lue " LONG40 LONG40 LONG40 LONG40 LONG40
    LONG40 LONG40 "\"}]}",
    "{\"StatusMessages\":[{\"messageCode\":102,\"orderId\":\"O1\"},"
    "{\"messageCode\":106,\"accessId\":\"A100003453455\",\"messageDate\":"
    "\"2018-06-17T16:05:41.201\"},{\"messageCode\":110,\"orderId\":\"O1\","
    "\"messageDate\":\"2000-02-29T12:00:00Z\"}]}",
    "{\"StatusMessages\":[{\"messageCode\":103,\"orderId\":\"O2\"}]}",
    "{\"messageCode\":104,\"orderId\":\"P\",\"messageParameters\":["
    "{\"a\":\"1\"},{\"b\":\"2\"},{\"c\":\"3\"},{\"d\":\"4\"},{\"e\":\"5\"},"
    "{\"f\":\"6\"},{\"g\":\"7\"},{\"h\":\"8\"},{\"i\":\"9\"},{\"j\":\"10\"},"
    "{\"k\":\"11\"},{\"l\":\"12\"},{\"m\":\"13\"},{\"n\":\"14\"},{\"o\":\"15\"},"
    "{\"p\":\"16\"},{\"q\":\"17\"},{\"r\":\"18\"},{\"s\":\"19\"},{\"t\":\"20\"},"
    "{\"u\":\"21\"},{\"v\":\"22\"},{\"w\":\"23\"},{\"x\":\"24\"},{\"y\":\"25\"},"
    "{\"z\":\"26\"},{\"A\":\"27\"},{\"B\":\"28\"},{\"C\":\"29\"},{\"D\":\"30\"}]}",
};

static void test_message_post_bytes_equal_codec(void) {
  for (size_t d = 0; d < sizeof msg_docs / sizeof msg_docs[0]; d++) {
    ec_arena_t arena;
    ec_arena_init(&arena, arena_mem, sizeof arena_mem);
    ec_status_message_t *msgs;
    size_t n;
    bool batch;
    ec_codec_error_t err;
    int rc = ec_status_messages_decode(EC_FORMAT_JSON,
                                       (const uint8_t *)msg_docs[d],
                                       strlen(msg_docs[d]), EC_MSG_NEW, &msgs,
                                       &n, &batch, &arena, &err);
    if (rc != 0) {
      printf("doc %zu: %s %s\n", d, err.title, err.field);
    }
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_FATAL(n <= 4);
    static uint8_t a[4096], b[4096];
    ssize_t na = batch ? ec_status_messages_encode(EC_FORMAT_CBOR, msgs, n, a,
                                                   sizeof a)
                       : ec_status_message_encode(EC_FORMAT_CBOR, msgs, a,
                                                  sizeof a);
    ec_dev_msg_new_t dm[4];
    ec_dev_msg_param_t params[4][32];
    for (size_t i = 0; i < n; i++) {
      CU_ASSERT_FATAL(msgs[i].n_params <= 32);
      msg_to_device(&msgs[i], &dm[i], params[i]);
    }
    int measured = ec_dev_msgs_encode(dm, n, batch, NULL, 0);
    int nb = ec_dev_msgs_encode(dm, n, batch, b, sizeof b);
    same_bytes(a, na, b, nb, measured);
    /* A buffer one byte short is reported by the length. */
    CU_ASSERT_EQUAL(ec_dev_msgs_encode(dm, n, batch, b, (size_t)nb - 1), nb);
    /* And the core reads back the stored form the codec writes, with its
     * ID and date: one message, or a page. */
    msgs[0].id = 42;
    if (!msgs[0].has_date) {
      msgs[0].has_date = true;
      msgs[0].date_ms = 1529247010033;
    }
    na = ec_status_message_encode(EC_FORMAT_CBOR, msgs, a, sizeof a);
    ec_dev_msg_t v;
    CU_ASSERT_EQUAL(ec_dev_msg_decode(a, (size_t)na, &v), 0);
    CU_ASSERT_EQUAL(v.id, 42);
    CU_ASSERT_EQUAL(v.code, msgs[0].code);
    CU_ASSERT_EQUAL(v.n_params, msgs[0].n_params);
    CU_ASSERT_EQUAL(v.n_macs, msgs[0].n_macs);
    CU_ASSERT_EQUAL(v.date.len, 24);
  }
}

/* messageDate over the whole range, one date every 37 days and a bit (so
 * every month, leap day and time of day comes round): the core's civil
 * date is the codec's. */
static void test_message_dates_equal_codec(void) {
  const int64_t first = -62167219200000, end = 253402300800000;
  const int64_t step = 37 * INT64_C(86400000) + 3723457;
  int differ = 0;
  long n = 0;
  for (int64_t ms = first; ms < end; ms += step, n++) {
    ec_status_message_t m = {.code = 101, .order_id = "O", .has_date = true,
                             .date_ms = ms};
    ec_dev_msg_new_t d;
    msg_to_device(&m, &d, NULL);
    uint8_t a[128], b[128];
    ssize_t na = ec_status_message_encode(EC_FORMAT_CBOR, &m, a, sizeof a);
    int nb = ec_dev_msgs_encode(&d, 1, false, b, sizeof b);
    differ += na != nb || na < 0 || memcmp(a, b, (size_t)na) != 0;
  }
  CU_ASSERT_TRUE(n > 90000);
  CU_ASSERT_EQUAL(differ, 0);
}

/* What the codec's encoder refuses, the core's refuses too. */
static void test_message_post_refused_by_both(void) {
  static const ec_msg_param_t empty_key[] = {{"", "v"}};
  static const uint64_t wide[] = {1ULL << 48};
  static const char too_long[] = LONG40;
  ec_status_message_t bad[] = {
      {.code = 99, .order_id = "O"},
      {.code = 1000, .order_id = "O"},
      {.code = 101},
      {.code = 101, .order_id = "O/1"},
      {.code = 101, .order_id = ""},
      {.code = 101, .order_id = too_long},
      {.code = 101, .access_id = "A-1"},
      {.code = 101, .order_id = "O", .params = empty_key, .n_params = 1},
      {.code = 101, .order_id = "O", .macs = wide, .n_macs = 1},
      {.code = 101, .order_id = "O", .has_date = true,
       .date_ms = 253402300800000}, /* 10000-01-01 */
      {.code = 101, .order_id = "O", .has_date = true,
       .date_ms = -62167219200001}, /* a millisecond before year 0 */
      {.code = 101, .order_id = "O", .n_params = 1},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ec_dev_msg_new_t dm;
    ec_dev_msg_param_t params[1];
    msg_to_device(&bad[i], &dm, params);
    uint8_t buf[256];
    CU_ASSERT_TRUE(ec_status_message_encode(EC_FORMAT_CBOR, &bad[i], buf,
                                            sizeof buf) < 0);
    CU_ASSERT_EQUAL(ec_dev_msgs_encode(&dm, 1, false, buf, sizeof buf),
                    EC_EINVAL);
  }
  /* The first and last days of year 0 to 9999 are written by both. */
  ec_status_message_t ok = {.code = 101, .order_id = "O", .has_date = true,
                            .date_ms = -62167219200000};
  ec_dev_msg_new_t dm;
  msg_to_device(&ok, &dm, NULL);
  CU_ASSERT_TRUE(ec_dev_msgs_encode(&dm, 1, false, NULL, 0) > 0);
  CU_ASSERT_TRUE(ec_status_message_encode(EC_FORMAT_CBOR, &ok, NULL, 0) > 0);
  /* Two messages need the batch form. */
  ec_dev_msg_new_t two[2] = {dm, dm};
  CU_ASSERT_EQUAL(ec_dev_msgs_encode(two, 2, false, NULL, 0), EC_EINVAL);
  CU_ASSERT_EQUAL(ec_dev_msgs_encode(two, 0, true, NULL, 0), EC_EINVAL);
}

/* The login body, both forms, is the codec's; the core reads the codec's
 * answers. */
static void test_login_equals_codec(void) {
  static const ec_login_request_t rqs[] = {
      {"device", "p\xc3\xa4ssw0rd", NULL},
      {"a-user-name-longer-than-twenty-three", "", NULL},
      {NULL, NULL, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
  };
  for (size_t i = 0; i < sizeof rqs / sizeof rqs[0]; i++) {
    uint8_t a[256], b[256];
    ssize_t na = ec_login_request_encode(EC_FORMAT_CBOR, &rqs[i], a, sizeof a);
    int nb = ec_dev_login_encode(rqs[i].username, rqs[i].password,
                                 rqs[i].token, b, sizeof b);
    CU_ASSERT_TRUE_FATAL(na > 0);
    CU_ASSERT_EQUAL_FATAL(na, nb);
    CU_ASSERT_EQUAL(memcmp(a, b, (size_t)na), 0);
  }
  ec_login_response_t ok = {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                            42, "device", "dev1", "SUCCESS", ""};
  ec_login_response_t no = {NULL, 0, NULL, NULL, "INVALID_USER", "no such user"};
  uint8_t buf[512];
  ssize_t n = ec_login_response_encode(EC_FORMAT_CBOR, &ok, buf, sizeof buf);
  ec_dev_login_t l;
  CU_ASSERT_TRUE_FATAL(n > 0);
  CU_ASSERT_EQUAL(ec_dev_login_decode(buf, (size_t)n, &l), 0);
  CU_ASSERT_EQUAL(l.userid, 42);
  CU_ASSERT_TRUE(str_is(l.token, ok.token));
  CU_ASSERT_TRUE(str_is(l.username, "dev1"));
  CU_ASSERT_TRUE(str_is(l.status, "SUCCESS"));
  n = ec_login_response_encode(EC_FORMAT_CBOR, &no, buf, sizeof buf);
  CU_ASSERT_EQUAL(ec_dev_login_decode(buf, (size_t)n, &l), 0);
  CU_ASSERT_PTR_NULL(l.token.ptr);
  CU_ASSERT_TRUE(str_is(l.error, "no such user"));
}

/* Provisioning request bodies: the core's bytes are the codec's, over
 * every member present or not (all 2^6 subsets of the optional ones, each
 * action), one ID or an array, and values past 32 bits or negative; and
 * what one refuses the other refuses. */
static void test_prov_request_equals_codec(void) {
  static const int64_t ids[] = {0, 23, 4294967296LL, INT64_MAX, -1,
                                INT64_MIN};
  unsigned compared = 0;
  for (unsigned mask = 0; mask < 64; mask++) {
    for (int action = 0; action <= 2; action++) {
      for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++) {
        ec_prov_request_t rq;
        memset(&rq, 0, sizeof rq);
        rq.action = (ec_prov_action_t)action;
        rq.provisioning_component_id =
            (ec_prov_ids_t){ids + k, sizeof ids / sizeof ids[0] - k,
                            (mask & 1) != 0, (k & 1) != 0};
        rq.has_provisioning_id = (mask & 2) != 0;
        rq.provisioning_id = ids[(k + 1) % 6];
        rq.has_component_type = (mask & 4) != 0;
        rq.component_type = (ec_comp_type_t)(k % 3);
        rq.component_id = (ec_prov_ids_t){ids, k + 1, (mask & 8) != 0, k > 2};
        rq.has_active_status = (mask & 16) != 0;
        rq.active_status = (int)(k % 2);
        rq.has_limit = (mask & 32) != 0;
        rq.limit = ids[(k + 2) % 6];
        ec_dev_prov_req_t d = {action,
                               {rq.provisioning_component_id.v,
                                rq.provisioning_component_id.n,
                                rq.provisioning_component_id.present,
                                rq.provisioning_component_id.is_array},
                               rq.has_provisioning_id,
                               rq.provisioning_id,
                               rq.has_component_type,
                               (int)rq.component_type,
                               {rq.component_id.v, rq.component_id.n,
                                rq.component_id.present,
                                rq.component_id.is_array},
                               rq.has_active_status,
                               rq.active_status,
                               rq.has_limit,
                               rq.limit};
        uint8_t a[512], b[512];
        ssize_t na = ec_prov_request_encode(EC_FORMAT_CBOR, &rq, a, sizeof a);
        int measured = ec_dev_prov_request_encode(&d, NULL, 0);
        int nb = ec_dev_prov_request_encode(&d, b, sizeof b);
        same_bytes(a, na, b, nb, measured);
        CU_ASSERT_EQUAL(ec_dev_prov_request_encode(&d, b, (size_t)nb - 1), nb);
        compared++;
        /* An ID member present with no values, a type or an action out of
         * range: refused by both. */
        ec_prov_request_t bad = rq;
        ec_dev_prov_req_t dbad = d;
        bad.component_id = (ec_prov_ids_t){ids, 0, true, false};
        dbad.component_id = (ec_dev_prov_ids_t){ids, 0, true, false};
        CU_ASSERT_TRUE(ec_prov_request_encode(EC_FORMAT_CBOR, &bad, a,
                                              sizeof a) < 0);
        CU_ASSERT_EQUAL(ec_dev_prov_request_encode(&dbad, b, sizeof b),
                        EC_EINVAL);
      }
    }
  }
  CU_ASSERT_EQUAL(compared, 64 * 3 * 6);
  ec_prov_request_t rq;
  memset(&rq, 0, sizeof rq);
  ec_dev_prov_req_t d;
  memset(&d, 0, sizeof d);
  uint8_t a[64];
  rq.action = (ec_prov_action_t)3;
  d.action = 3;
  CU_ASSERT_TRUE(ec_prov_request_encode(EC_FORMAT_CBOR, &rq, a, sizeof a) < 0);
  CU_ASSERT_EQUAL(ec_dev_prov_request_encode(&d, a, sizeof a), EC_EINVAL);
  rq.action = EC_PROV_SELECT;
  d.action = 0;
  rq.has_component_type = d.has_component_type = true;
  rq.component_type = (ec_comp_type_t)3;
  d.component_type = 3;
  CU_ASSERT_TRUE(ec_prov_request_encode(EC_FORMAT_CBOR, &rq, a, sizeof a) < 0);
  CU_ASSERT_EQUAL(ec_dev_prov_request_encode(&d, a, sizeof a), EC_EINVAL);
}

/* ---- the client's readings (client/docs.c) against the codec's ----- */

/*
 * The client (client/docs.c, ec__client_*_cbor()) reads the server's CBOR answers with the
 * device core's decoders; the codec is the reference. For the same
 * document both give the same struct, field by field; every truncation is
 * refused by both; and of every one-byte change of a document, what the
 * codec accepts the client accepts with the same fields, and what both
 * accept reads the same. The core skips members it does not know (an
 * answer of a newer server), where the codec refuses them: that is the
 * one way the client is the more lenient.
 */

static _Alignas(max_align_t) uint8_t mem_a[1 << 16];
static _Alignas(max_align_t) uint8_t mem_b[1 << 16];

static bool same_str(const char *a, const char *b) {
  return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static bool same_error(bool ha, const ec_error_info_t *a, bool hb,
                       const ec_error_info_t *b) {
  return ha == hb && (!ha || (same_str(a->code, b->code) &&
                              same_str(a->message, b->message) &&
                              same_str(a->source, b->source)));
}

static bool same_status(const ec_deployment_status_t *a,
                        const ec_deployment_status_t *b) {
  if (!same_str(a->api_version, b->api_version) ||
      !same_str(a->kind, b->kind) ||
      !same_str(a->deployment_id, b->deployment_id) ||
      !same_str(a->device_id, b->device_id) ||
      a->adopted_manifest_version != b->adopted_manifest_version ||
      a->state != b->state ||
      !same_error(a->has_error, &a->error, b->has_error, &b->error) ||
      a->n_components != b->n_components) {
    return false;
  }
  for (size_t i = 0; i < a->n_components; i++) {
    const ec_component_status_t *x = &a->components[i], *y = &b->components[i];
    if (!same_str(x->name, y->name) || x->state != y->state ||
        !same_error(x->has_error, &x->error, y->has_error, &y->error)) {
      return false;
    }
  }
  return true;
}

/* The codec's CBOR for docs[d]. */
static size_t status_cbor(size_t d, uint8_t *buf, size_t cap) {
  ec_arena_t arena;
  ec_deployment_status_t st;
  ec_arena_init(&arena, mem_a, sizeof mem_a);
  CU_ASSERT_EQUAL_FATAL(ec_deployment_status_decode(
                            EC_FORMAT_JSON, (const uint8_t *)docs[d],
                            strlen(docs[d]), &st, &arena, NULL),
                        0);
  ssize_t n = ec_deployment_status_encode(EC_FORMAT_CBOR, &st, buf, cap);
  CU_ASSERT_TRUE_FATAL(n > 0 && (size_t)n <= cap);
  return (size_t)n;
}

/* Both readings of @p len bytes: -1 codec only, 1 client only, 0 both
 * agree (both refused, or both read the same fields), 2 both read but
 * differ. */
static int status_both(const uint8_t *buf, size_t len) {
  ec_arena_t a, b;
  ec_deployment_status_t x, y;
  ec_arena_init(&a, mem_a, sizeof mem_a);
  ec_arena_init(&b, mem_b, sizeof mem_b);
  int ra = ec_deployment_status_decode(EC_FORMAT_CBOR, buf, len, &x, &a, NULL);
  int rb = ec__client_status_cbor(buf, len, &y, &b);
  if ((ra < 0) != (rb < 0)) {
    return ra == 0 ? -1 : 1;
  }
  return ra < 0 || same_status(&x, &y) ? 0 : 2;
}

static void test_status_equals_codec(void) {
  uint8_t buf[4096];
  for (size_t d = 0; d < sizeof docs / sizeof docs[0]; d++) {
    size_t n = status_cbor(d, buf, sizeof buf);
    ec_arena_t b;
    ec_deployment_status_t y;
    ec_arena_init(&b, mem_b, sizeof mem_b);
    CU_ASSERT_EQUAL(ec__client_status_cbor(buf, n, &y, &b), 0);
    CU_ASSERT_EQUAL(status_both(buf, n), 0);
    for (size_t cut = 0; cut < n; cut++) {
      CU_ASSERT_EQUAL(status_both(buf, cut), 0);
    }
  }
}

/* Each byte of @p buf set in turn to every value 0, @p step, 2 step...
 * and to itself with bit 5 flipped: of each change, what the codec
 * accepts the client must accept (@p both, -1 when only the codec did),
 * with the same fields (2 when they differ); when @p strict, what the
 * codec refuses the client must refuse too (1 when only the client
 * accepted). */
static void mutations_agree(uint8_t *buf, size_t n,
                            int (*both)(const uint8_t *, size_t),
                            unsigned step, bool strict) {
  unsigned only_codec = 0, only_client = 0, differ = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t orig = buf[i];
    for (unsigned v = 0; v <= 256; v += step) {
      buf[i] = v < 256 ? (uint8_t)v : (uint8_t)(orig ^ 0x20);
      int r = both(buf, n);
      only_codec += r == -1;
      only_client += r == 1;
      differ += r == 2;
    }
    buf[i] = orig;
  }
  CU_ASSERT_EQUAL(only_codec, 0);
  CU_ASSERT_EQUAL(differ, 0);
  CU_ASSERT_TRUE(!strict || only_client == 0);
}

/* One-byte changes of every document at every byte. */
static void test_status_mutations_against_codec(void) {
  uint8_t buf[4096];
  for (size_t d = 0; d < sizeof docs / sizeof docs[0]; d++) {
    mutations_agree(buf, status_cbor(d, buf, sizeof buf), status_both, 4, false);
  }
}

/* What the codec refuses past the core's own checks: a component given
 * twice, more than EC_MAX_COMPONENTS; and a full arena. */
static void test_status_codec_rules(void) {
  static ec_dev_component_t comps[EC_MAX_COMPONENTS + 1];
  static char names[EC_MAX_COMPONENTS + 1][8];
  static uint8_t buf[16384];
  for (size_t i = 0; i <= EC_MAX_COMPONENTS; i++) {
    snprintf(names[i], sizeof names[i], "c%zu", i);
    comps[i] = (ec_dev_component_t){names[i], EC_DEV_INSTALLED, {0}};
  }
  ec_dev_status_t st = {"v", NULL, UUID, NULL, 0, EC_DEV_INSTALLED, {0},
                        comps, EC_MAX_COMPONENTS};
  int n = ec_dev_status_encode(&st, buf, sizeof buf);
  CU_ASSERT_TRUE_FATAL(n > 0 && (size_t)n <= sizeof buf);
  CU_ASSERT_EQUAL(status_both(buf, (size_t)n), 0);
  ec_arena_t b;
  ec_deployment_status_t y;
  ec_arena_init(&b, mem_b, sizeof mem_b);
  CU_ASSERT_EQUAL(ec__client_status_cbor(buf, (size_t)n, &y, &b), 0);
  CU_ASSERT_EQUAL(y.n_components, EC_MAX_COMPONENTS);
  st.n_components = EC_MAX_COMPONENTS + 1;
  n = ec_dev_status_encode(&st, buf, sizeof buf);
  ec_arena_init(&b, mem_b, sizeof mem_b);
  CU_ASSERT_EQUAL(ec__client_status_cbor(buf, (size_t)n, &y, &b), EC_ETOOBIG);
  CU_ASSERT_EQUAL(status_both(buf, (size_t)n), 0);
  /* "c1" twice. */
  comps[2].name = "c1";
  st.n_components = 3;
  n = ec_dev_status_encode(&st, buf, sizeof buf);
  ec_arena_init(&b, mem_b, sizeof mem_b);
  CU_ASSERT_EQUAL(ec__client_status_cbor(buf, (size_t)n, &y, &b),
                  EC_ESEMANTIC);
  CU_ASSERT_EQUAL(b.used, 0);
  CU_ASSERT_EQUAL(status_both(buf, (size_t)n), 0);
  comps[2].name = names[2];
  /* An arena too small is EC_ENOMEM, and left as it was. */
  n = ec_dev_status_encode(&st, buf, sizeof buf);
  ec_arena_init(&b, mem_b, 40);
  CU_ASSERT_EQUAL(ec__client_status_cbor(buf, (size_t)n, &y, &b), EC_ENOMEM);
  CU_ASSERT_EQUAL(b.used, 0);
  /* A length claim of 2^63 for the first key. */
  static const uint8_t huge[] = {0xa1, 0x7b, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x61};
  CU_ASSERT_EQUAL(ec__client_status_cbor(huge, sizeof huge, &y, &b),
                  EC_ESYNTAX);
  CU_ASSERT_EQUAL(status_both(huge, sizeof huge), 0);
}

static bool same_login(const ec_login_response_t *a,
                       const ec_login_response_t *b) {
  return same_str(a->token, b->token) && a->userid == b->userid &&
         same_str(a->userrole, b->userrole) &&
         same_str(a->username, b->username) && same_str(a->status, b->status) &&
         same_str(a->error, b->error);
}

static int login_both(const uint8_t *buf, size_t len) {
  ec_arena_t a, b;
  ec_login_response_t x, y;
  ec_arena_init(&a, mem_a, sizeof mem_a);
  ec_arena_init(&b, mem_b, sizeof mem_b);
  int ra = ec_login_response_decode(EC_FORMAT_CBOR, buf, len, &x, &a, NULL);
  int rb = ec__client_login_cbor(buf, len, &y, &b);
  if ((ra < 0) != (rb < 0)) {
    return ra == 0 ? -1 : 1;
  }
  return ra < 0 || same_login(&x, &y) ? 0 : 2;
}

static void test_login_answer_equals_codec(void) {
  static const ec_login_response_t answers[] = {
      {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 42,
       "device", "dev1", "SUCCESS", "NO_ERROR"},
      {NULL, 0, NULL, NULL, "FAILURE", "INVALID_USER"},
      {NULL, 0, NULL, NULL, "LOGGED_OUT", "NO_ERROR"},
  };
  uint8_t buf[512];
  for (size_t d = 0; d < sizeof answers / sizeof answers[0]; d++) {
    ssize_t n = ec_login_response_encode(EC_FORMAT_CBOR, &answers[d], buf,
                                         sizeof buf);
    CU_ASSERT_TRUE_FATAL(n > 0);
    ec_arena_t b;
    ec_login_response_t y;
    ec_arena_init(&b, mem_b, sizeof mem_b);
    CU_ASSERT_EQUAL(ec__client_login_cbor(buf, (size_t)n, &y, &b), 0);
    CU_ASSERT_TRUE(same_login(&y, &answers[d]));
    for (ssize_t cut = 0; cut < n; cut++) {
      CU_ASSERT_EQUAL(login_both(buf, (size_t)cut), 0);
    }
    mutations_agree(buf, (size_t)n, login_both, 3, false);
  }
}

static bool same_rows(const ec_prov_component_t *a, size_t na,
                      const ec_prov_component_t *b, size_t nb) {
  if (na != nb) {
    return false;
  }
  for (size_t i = 0; i < na; i++) {
    const ec_prov_component_t *x = &a[i], *y = &b[i];
    if (x->provisioning_component_id != y->provisioning_component_id ||
        x->provisioning_id != y->provisioning_id ||
        x->component_type != y->component_type ||
        x->component_id != y->component_id || !same_str(x->name, y->name) ||
        x->active_status != y->active_status ||
        x->last_modified_by != y->last_modified_by ||
        x->last_modified_s != y->last_modified_s) {
      return false;
    }
  }
  return true;
}

static int rows_both(const uint8_t *buf, size_t len) {
  ec_arena_t a, b;
  ec_prov_component_t *x = NULL, *y = NULL;
  size_t nx = 0, ny = 0;
  ec_arena_init(&a, mem_a, sizeof mem_a);
  ec_arena_init(&b, mem_b, sizeof mem_b);
  int ra = ec_prov_select_decode(EC_FORMAT_CBOR, buf, len, &x, &nx, &a, NULL);
  int rb = ec__client_prov_rows_cbor(buf, len, &y, &ny, &b);
  if ((ra < 0) != (rb < 0)) {
    return ra == 0 ? -1 : 1;
  }
  return ra < 0 || same_rows(x, nx, y, ny) ? 0 : 2;
}

static void test_prov_rows_equal_codec(void) {
  static const ec_prov_component_t rows[] = {
      {1, 7, EC_COMP_SENSOR, 100, "temperature", 0, 3, 1700000000},
      {2, 7, EC_COMP_PARAMETER, 1234567890123LL, "p\xc3\xa4ram", 1, 4,
       951782400 /* 2000-02-29 00:00:00 */},
      {3, 7, EC_COMP_GROUP_PARAMETER, 0, "", 0, 0, 0},
  };
  uint8_t buf[2048];
  for (size_t k = 0; k <= 3; k++) {
    ssize_t n = ec_prov_select_encode(EC_FORMAT_CBOR, rows, k, buf, sizeof buf);
    CU_ASSERT_TRUE_FATAL(n > 0 && (size_t)n <= sizeof buf);
    ec_arena_t b;
    ec_prov_component_t *y = NULL;
    size_t ny = 99;
    ec_arena_init(&b, mem_b, sizeof mem_b);
    CU_ASSERT_EQUAL(ec__client_prov_rows_cbor(buf, (size_t)n, &y, &ny, &b), 0);
    CU_ASSERT_TRUE(same_rows(rows, k, y, ny));
    CU_ASSERT_EQUAL(rows_both(buf, (size_t)n), 0);
    for (ssize_t cut = 0; cut < n; cut++) {
      CU_ASSERT_EQUAL(rows_both(buf, (size_t)cut), 0);
    }
  }
  /* One-byte changes of the three rows: the datetimes, digits and types
   * included. */
  ssize_t n = ec_prov_select_encode(EC_FORMAT_CBOR, rows, 3, buf, sizeof buf);
  mutations_agree(buf, (size_t)n, rows_both, 3, false);
}

/* A FETCH body: the core's CBOR is the codec's for every subset of the
 * filters, IDs past 32 bits and dates of both ends included; both refuse
 * the same filters. */
static void test_msg_filter_equals_codec(void) {
  uint8_t a[512], b[512];
  for (unsigned bits = 0; bits < 512; bits++) {
    ec_msg_filter_t f = {0};
    f.order_id = bits & 1 ? "O-1.a" : NULL;
    f.subscription_id = bits & 2 ? "S" : NULL;
    f.access_id = bits & 4 ? "Acc9" : NULL;
    f.has_mac = bits & 8, f.mac = 0xfe00ae3544acULL;
    f.has_from_date = bits & 16, f.from_date_ms = -62167219200000;
    f.has_to_date = bits & 32, f.to_date_ms = 253402300799999;
    f.has_from_id = bits & 64, f.from_id = 1000023424553123;
    f.has_to_id = bits & 128, f.to_id = 23;
    f.limit = bits & 256 ? 10000 : 0;
    ec_dev_msg_filter_t d = {f.order_id,     f.subscription_id, f.access_id,
                             f.has_mac,      f.mac,             f.has_from_date,
                             f.from_date_ms, f.has_to_date,     f.to_date_ms,
                             f.has_from_id,  f.from_id,         f.has_to_id,
                             f.to_id,        f.limit};
    ssize_t na = ec_msg_filter_encode(EC_FORMAT_CBOR, &f, a, sizeof a);
    int nb = ec_dev_msg_filter_encode(&d, b, sizeof b);
    same_bytes(a, na, b, nb, ec_dev_msg_filter_encode(&d, NULL, 0));
  }
  /* Refused by both: an ID of another spelling, an address past 48 bits,
   * a date past 9999, a negative ID, a limit past its cap. */
  for (int k = 0; k < 6; k++) {
    ec_msg_filter_t f = {0};
    switch (k) {
    case 0: f.order_id = "a/b"; break;
    case 1: f.access_id = "a.b"; break;
    case 2: f.has_mac = true, f.mac = 1ULL << 48; break;
    case 3: f.has_to_date = true, f.to_date_ms = 253402300800000; break;
    case 4: f.has_from_id = true, f.from_id = -1; break;
    default: f.limit = 10001; break;
    }
    ec_dev_msg_filter_t d = {f.order_id,     f.subscription_id, f.access_id,
                             f.has_mac,      f.mac,             f.has_from_date,
                             f.from_date_ms, f.has_to_date,     f.to_date_ms,
                             f.has_from_id,  f.from_id,         f.has_to_id,
                             f.to_id,        f.limit};
    CU_ASSERT_TRUE(ec_msg_filter_encode(EC_FORMAT_CBOR, &f, a, sizeof a) < 0);
    CU_ASSERT_EQUAL(ec_dev_msg_filter_encode(&d, b, sizeof b), EC_EINVAL);
  }
}

/* ---- the client's other CBOR answers, read by the core ------------------- */

/* What the client's reading returned in the last *_both() call below. */
static int client_rc;

/* A hostile document for @p both: an unknown member nested past the
 * codec's EC_MAX_DEPTH, and length claims of 2^63 for a key and for the
 * list; both readings must refuse each. */
static void hostile_refused_by_both(const char *list_key,
                                    int (*both)(const uint8_t *, size_t),
                                    int short_rc) {
  uint8_t buf[256];
  size_t n = 0, k = strlen(list_key);
  buf[n++] = 0xa2;
  buf[n++] = (uint8_t)(0x60 + k);
  memcpy(buf + n, list_key, k);
  n += k;
  buf[n++] = 0x80;
  buf[n++] = 0x61;
  buf[n++] = 'x';
  for (int i = 0; i < EC_MAX_DEPTH + 4; i++) {
    buf[n++] = 0x81;
  }
  buf[n++] = 0x00;
  CU_ASSERT_EQUAL(both(buf, n), 0);
  CU_ASSERT_TRUE(client_rc < 0);
  /* The same with the nesting cut to one level: both read it (or, for a
   * document that needs more than the list, refuse it as @p short_rc). */
  buf[5 + k] = 0x00;
  CU_ASSERT_EQUAL(both(buf, 6 + k), 0);
  CU_ASSERT_EQUAL(client_rc, short_rc);
  /* Nested as deep as the codec takes, 16 levels (the document is the
   * first, the member's arrays the 15 after it): both read it; one
   * level more, both refuse it. */
  for (int deep = EC_MAX_DEPTH - 1; deep <= EC_MAX_DEPTH; deep++) {
    n = 5 + k;
    for (int i = 0; i < deep; i++) {
      buf[n++] = 0x81;
    }
    buf[n++] = 0x00;
    CU_ASSERT_EQUAL(both(buf, n), 0);
    CU_ASSERT_EQUAL(client_rc, deep < EC_MAX_DEPTH ? short_rc : EC_ETOOBIG);
  }
  /* The unknown member twice, and a key twice in a map inside it: the
   * codec refuses a key given twice, known or not. */
  n = 5 + k;
  buf[0] = 0xa3;
  buf[n++] = 0x00;
  buf[n++] = 0x61;
  buf[n++] = 'x';
  buf[n++] = 0x00;
  CU_ASSERT_EQUAL(both(buf, n), 0);
  CU_ASSERT_EQUAL(client_rc, EC_ESYNTAX);
  static const uint8_t inner[] = {0xa2, 0x61, 'a', 0x00, 0x61, 'a', 0x01};
  buf[0] = 0xa2;
  n = 5 + k;
  memcpy(buf + n, inner, sizeof inner);
  n += sizeof inner;
  CU_ASSERT_EQUAL(both(buf, n), 0);
  CU_ASSERT_EQUAL(client_rc, EC_ESYNTAX);
  /* Keys compared by value, as the codec's tree keys them
   * (tests/device_keys.h). */
  for (size_t i = 0; i < EC_TEST_N_KEYS; i++) {
    n = 5 + k;
    memcpy(buf + n, ec_test_keys[i].b, ec_test_keys[i].len);
    n += ec_test_keys[i].len;
    CU_ASSERT_EQUAL(both(buf, n), 0);
    CU_ASSERT_EQUAL(client_rc, ec_test_keys[i].twice ? EC_ESYNTAX : short_rc);
  }
  /* The unknown member's key again with a longer head. */
  buf[0] = 0xa3;
  n = 5 + k;
  static const uint8_t x_long[] = {0x00, 0x78, 0x01, 'x', 0x00};
  memcpy(buf + n, x_long, sizeof x_long);
  n += sizeof x_long;
  CU_ASSERT_EQUAL(both(buf, n), 0);
  CU_ASSERT_EQUAL(client_rc, EC_ESYNTAX);
  /* The codec's cap on a container, EC_MAX_ITEMS: an array at it read,
   * one past it refused, and a map of one pair too many refused before
   * its keys are read. */
  static uint8_t big[2 * EC_MAX_ITEMS + 64];
  buf[0] = 0xa2;
  for (int more = 0; more <= 2; more++) {
    size_t items = EC_MAX_ITEMS + (more > 0);
    memcpy(big, buf, 5 + k);
    n = 5 + k;
    big[n++] = more == 2 ? 0xb9 : 0x99;
    big[n++] = (uint8_t)(items >> 8);
    big[n++] = (uint8_t)items;
    memset(big + n, 0x00, (more == 2 ? 2 : 1) * items);
    n += (more == 2 ? 2 : 1) * items;
    CU_ASSERT_EQUAL(both(big, n), 0);
    CU_ASSERT_EQUAL(client_rc, more > 0 ? EC_ETOOBIG : short_rc);
  }
  static const uint8_t huge_key[] = {0xa1, 0x7b, 0x80, 0, 0, 0, 0, 0, 0, 0,
                                     0x61};
  CU_ASSERT_EQUAL(both(huge_key, sizeof huge_key), 0);
  CU_ASSERT_EQUAL(client_rc, EC_ESYNTAX);
  n = 0;
  buf[n++] = 0xa1;
  buf[n++] = (uint8_t)(0x60 + k);
  memcpy(buf + n, list_key, k);
  n += k;
  static const uint8_t huge_list[] = {0x9b, 0x80, 0, 0, 0, 0, 0, 0, 0, 0xa0};
  memcpy(buf + n, huge_list, sizeof huge_list);
  n += sizeof huge_list;
  CU_ASSERT_EQUAL(both(buf, n), 0);
  CU_ASSERT_EQUAL(client_rc, EC_ESYNTAX);
}

/* Every truncation of @p buf refused by both, and one-byte changes agree
 * both ways. */
static void cuts_and_mutations(uint8_t *buf, size_t n,
                               int (*both)(const uint8_t *, size_t),
                               unsigned step) {
  for (size_t cut = 0; cut < n; cut++) {
    CU_ASSERT_EQUAL(both(buf, cut), 0);
  }
  mutations_agree(buf, n, both, step, true);
}

static bool same_msg(const ec_status_message_t *a,
                     const ec_status_message_t *b) {
  const ec_dhcp_option_t *x = &a->dhcp, *y = &b->dhcp;
  bool same = a->id == b->id && a->has_date == b->has_date &&
              a->date_ms == b->date_ms && a->code == b->code &&
              a->n_params == b->n_params && a->n_macs == b->n_macs &&
              same_str(a->order_id, b->order_id) &&
              same_str(a->subscription_id, b->subscription_id) &&
              same_str(a->access_id, b->access_id) &&
              x->present == y->present && x->has_ipv4 == y->has_ipv4 &&
              x->has_option82 == y->has_option82 &&
              x->has_ipv6 == y->has_ipv6 &&
              x->has_option18 == y->has_option18 &&
              x->has_option37 == y->has_option37 &&
              same_str(x->option82_remote_id, y->option82_remote_id) &&
              same_str(x->option82_circuit_id, y->option82_circuit_id) &&
              same_str(x->option18_interface_id, y->option18_interface_id) &&
              same_str(x->option37_remote_id, y->option37_remote_id);
  for (size_t i = 0; same && i < a->n_params; i++) {
    same = same_str(a->params[i].key, b->params[i].key) &&
           same_str(a->params[i].value, b->params[i].value);
  }
  for (size_t i = 0; same && i < a->n_macs; i++) {
    same = a->macs[i] == b->macs[i];
  }
  return same;
}

static int msgs_both(const uint8_t *buf, size_t len) {
  ec_arena_t a, b;
  ec_status_message_t *x = NULL, *y = NULL;
  size_t nx = 0, ny = 0;
  ec_arena_init(&a, mem_a, sizeof mem_a);
  ec_arena_init(&b, mem_b, sizeof mem_b);
  int ra = ec_status_messages_decode(EC_FORMAT_CBOR, buf, len, EC_MSG_STORED,
                                     &x, &nx, NULL, &a, NULL);
  int rb = client_rc = ec__client_msgs_cbor(buf, len, &y, &ny, &b);
  if ((ra < 0) != (rb < 0)) {
    return ra == 0 ? -1 : 1;
  }
  bool same = ra < 0 || nx == ny;
  for (size_t i = 0; ra == 0 && same && i < nx; i++) {
    same = same_msg(&x[i], &y[i]);
  }
  return same ? 0 : 2;
}

/* One message alone, as GET .../statusmessages/{id} answers. */
static int msg_both(const uint8_t *buf, size_t len) {
  ec_arena_t a, b;
  ec_status_message_t x, y;
  ec_arena_init(&a, mem_a, sizeof mem_a);
  ec_arena_init(&b, mem_b, sizeof mem_b);
  int ra = ec_status_message_decode(EC_FORMAT_CBOR, buf, len, EC_MSG_STORED,
                                    &x, &a, NULL);
  int rb = ec__client_msg_cbor(buf, len, &y, &b);
  if ((ra < 0) != (rb < 0)) {
    return ra == 0 ? -1 : 1;
  }
  return ra < 0 || same_msg(&x, &y) ? 0 : 2;
}

static void test_messages_equal_codec(void) {
  static const ec_msg_param_t params[] = {{"Delivery date", "2018-06-17"},
                                          {"k", ""}};
  static const uint64_t macs[] = {0xfe00ae3544acULL, 0x1ULL};
  ec_status_message_t msgs[3];
  memset(msgs, 0, sizeof msgs);
  msgs[0] = (ec_status_message_t){.id = 5, .has_date = true,
                                  .date_ms = 1529247010033, .code = 101,
                                  .params = params, .n_params = 2,
                                  .order_id = "O-1.x", .macs = macs,
                                  .n_macs = 2};
  msgs[0].dhcp = (ec_dhcp_option_t){.present = true, .has_ipv4 = true,
                                    .has_option82 = true,
                                    .option82_remote_id = "r1",
                                    .option82_circuit_id = "c1",
                                    .has_ipv6 = true, .has_option18 = true,
                                    .option18_interface_id = "i",
                                    .has_option37 = true};
  msgs[1] = (ec_status_message_t){.id = 6, .has_date = true, .date_ms = 0,
                                  .code = 110, .subscription_id = "S1",
                                  .access_id = "A1"};
  msgs[1].dhcp = (ec_dhcp_option_t){.present = true, .has_ipv6 = true};
  msgs[2] = (ec_status_message_t){.id = 1000023424553123, .has_date = true,
                                  .date_ms = 253402300799999, .code = 999,
                                  .access_id = "A1"};
  uint8_t buf[1024];
  for (size_t k = 0; k <= 3; k++) {
    ssize_t n =
        ec_status_messages_encode(EC_FORMAT_CBOR, msgs, k, buf, sizeof buf);
    CU_ASSERT_TRUE_FATAL(n > 0 && (size_t)n <= sizeof buf);
    CU_ASSERT_EQUAL((msgs_both(buf, (size_t)n), client_rc), 0);
    CU_ASSERT_EQUAL(msgs_both(buf, (size_t)n), 0);
    cuts_and_mutations(buf, (size_t)n, msgs_both, k == 3 ? 5 : 17);
  }
  for (size_t i = 0; i < 3; i++) {
    ssize_t n = ec_status_message_encode(EC_FORMAT_CBOR, &msgs[i], buf,
                                         sizeof buf);
    CU_ASSERT_TRUE_FATAL(n > 0);
    ec_arena_t b;
    ec_status_message_t y;
    ec_arena_init(&b, mem_b, sizeof mem_b);
    CU_ASSERT_EQUAL(ec__client_msg_cbor(buf, (size_t)n, &y, &b), 0);
    CU_ASSERT_TRUE(same_msg(&y, &msgs[i]));
    CU_ASSERT_EQUAL(msgs_both(buf, (size_t)n), 0); /* a post's answer */
    cuts_and_mutations(buf, (size_t)n, msg_both, 5);
  }
  /* What the codec refuses past the core's own reading: IDs and
   * addresses of the wrong spelling, a date that is none, lists past
   * their caps; each by both. */
  static const char *const bad[] = {
      "{\"statusMessageID\":1,\"messageDate\":\"2018-06-17\",\"messageCode\":"
      "101,\"orderId\":\"O\"}",
      "{\"statusMessageID\":1,\"messageDate\":\"2018-06-17T14:50:10Z\","
      "\"messageCode\":101,\"orderId\":\"O/1\"}",
      "{\"statusMessageID\":1,\"messageDate\":\"2018-06-17T14:50:10Z\","
      "\"messageCode\":101,\"accessId\":\"A-1\"}",
      "{\"statusMessageID\":1,\"messageDate\":\"2018-06-17T14:50:10Z\","
      "\"messageCode\":101,\"orderId\":\"\"}",
      "{\"statusMessageID\":1,\"messageDate\":\"2018-06-17T14:50:10Z\","
      "\"messageCode\":101,\"orderId\":\"O\",\"macAddress\":[\"zz\"]}",
      "{\"statusMessageID\":1,\"messageDate\":\"2018-06-17T14:50:10Z\","
      "\"messageCode\":101,\"orderId\":\"O\",\"messageParameters\":[{\"\":\"v\"}]}",
      "{\"statusMessageID\":1,\"messageDate\":\"2018-06-17T14:50:10Z\","
      "\"messageCode\":101,\"orderId\":\"O\",\"dhcpOption\":{\"IPv4\":[]}}",
      "{\"statusMessageID\":1,\"messageDate\":\"2018-06-17T14:50:10Z\","
      "\"messageCode\":101,\"orderId\":\"O\",\"dhcpOption\":{\"IPv6\":"
      "{\"option37\":{\"remoteId\":5}}}}",
      "{\"statusMessageID\":1,\"messageCode\":101,\"orderId\":\"O\"}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ssize_t n = ec_json_to_cbor(bad[i], strlen(bad[i]), buf, sizeof buf);
    CU_ASSERT_TRUE_FATAL(n > 0);
    CU_ASSERT_TRUE((msgs_both(buf, (size_t)n), client_rc) < 0);
    CU_ASSERT_EQUAL(msgs_both(buf, (size_t)n), 0);
  }
  /* A message that also has a StatusMessages member is no message to the
   * codec but a page, and no valid one: refused, not read as the one
   * message it may also be. */
  static const char *const not_a_page[] = {
      "{\"statusMessageID\":1,\"messageDate\":\"2018-06-17T14:50:10Z\","
      "\"messageCode\":101,\"orderId\":\"O\",\"StatusMessages\":5}",
      "{\"StatusMessages\":{},\"statusMessageID\":1,\"messageDate\":"
      "\"2018-06-17T14:50:10Z\",\"messageCode\":101,\"orderId\":\"O\"}",
  };
  for (size_t i = 0; i < 2; i++) {
    ssize_t k = ec_json_to_cbor(not_a_page[i], strlen(not_a_page[i]), buf,
                                sizeof buf);
    CU_ASSERT_TRUE_FATAL(k > 0);
    CU_ASSERT_EQUAL((msgs_both(buf, (size_t)k), client_rc), EC_EBADDOC);
    CU_ASSERT_EQUAL(msgs_both(buf, (size_t)k), 0);
    CU_ASSERT_EQUAL(ec_dev_msgs_decode(buf, (size_t)k, NULL, NULL, NULL),
                    EC_EBADDOC);
    cuts_and_mutations(buf, (size_t)k, msgs_both, 9);
  }
  /* Without it, one message, which the page's reader tells apart. */
  ssize_t one = ec_status_message_encode(EC_FORMAT_CBOR, &msgs[1], buf,
                                         sizeof buf);
  CU_ASSERT_TRUE_FATAL(one > 0);
  CU_ASSERT_EQUAL(ec_dev_msgs_decode(buf, (size_t)one, NULL, NULL, NULL),
                  EC_ENOTFOUND);
  static uint64_t many[EC_MSG_MAX_MACS + 1];
  static uint8_t big[4096];
  ec_status_message_t m = {.id = 1, .has_date = true, .code = 101,
                           .order_id = "O", .macs = many,
                           .n_macs = EC_MSG_MAX_MACS + 1};
  ssize_t n = ec_status_message_encode(EC_FORMAT_CBOR, &m, big, sizeof big);
  CU_ASSERT_TRUE_FATAL(n > 0 && (size_t)n <= sizeof big);
  CU_ASSERT_EQUAL((msgs_both(big, (size_t)n), client_rc), EC_ETOOBIG);
  CU_ASSERT_EQUAL(msgs_both(big, (size_t)n), 0);
  hostile_refused_by_both("StatusMessages", msgs_both, 0);
}

static bool same_history(const ec_history_item_t *a, size_t na,
                         const ec_history_item_t *b, size_t nb) {
  bool same = na == nb;
  for (size_t i = 0; same && i < na; i++) {
    same = a[i].seq == b[i].seq && a[i].received_at_ms == b[i].received_at_ms &&
           same_status(&a[i].report, &b[i].report);
  }
  return same;
}

static int history_both(const uint8_t *buf, size_t len) {
  ec_arena_t a, b;
  ec_history_item_t *x = NULL, *y = NULL;
  size_t nx = 0, ny = 0;
  ec_arena_init(&a, mem_a, sizeof mem_a);
  ec_arena_init(&b, mem_b, sizeof mem_b);
  int ra = ec_history_decode(EC_FORMAT_CBOR, buf, len, &x, &nx, &a, NULL);
  int rb = client_rc = ec__client_history_cbor(buf, len, &y, &ny, &b);
  if ((ra < 0) != (rb < 0)) {
    return ra == 0 ? -1 : 1;
  }
  return ra < 0 || same_history(x, nx, y, ny) ? 0 : 2;
}

static void test_history_equals_codec(void) {
  static uint8_t reports[3][1024];
  ec_history_entry_t e[3];
  for (size_t d = 0; d < 3; d++) {
    size_t n = status_cbor(d, reports[d], sizeof reports[d]);
    e[d] = (ec_history_entry_t){(int64_t)d + 1,
                                1529247010033 + (int64_t)d * 1000,
                                reports[d], n};
  }
  uint8_t buf[4096];
  for (size_t k = 0; k <= 3; k++) {
    ssize_t n = ec_history_encode(EC_FORMAT_CBOR, e, k, buf, sizeof buf);
    CU_ASSERT_TRUE_FATAL(n > 0 && (size_t)n <= sizeof buf);
    CU_ASSERT_EQUAL((history_both(buf, (size_t)n), client_rc), 0);
    CU_ASSERT_EQUAL(history_both(buf, (size_t)n), 0);
    for (ssize_t cut = 0; cut < n; cut++) {
      CU_ASSERT_EQUAL(history_both(buf, (size_t)cut), 0);
    }
  }
  ssize_t n = ec_history_encode(EC_FORMAT_CBOR, e, 1, buf, sizeof buf);
  mutations_agree(buf, (size_t)n, history_both, 5, true);
  hostile_refused_by_both("reports", history_both, 0);
}

static int deployments_both(const uint8_t *buf, size_t len) {
  ec_arena_t a, b;
  ec_deployment_summary_t *x = NULL, *y = NULL;
  size_t nx = 0, ny = 0;
  ec_arena_init(&a, mem_a, sizeof mem_a);
  ec_arena_init(&b, mem_b, sizeof mem_b);
  int ra = ec_deployments_decode(EC_FORMAT_CBOR, buf, len, &x, &nx, &a, NULL);
  int rb = client_rc = ec__client_deployments_cbor(buf, len, &y, &ny, &b);
  if ((ra < 0) != (rb < 0)) {
    return ra == 0 ? -1 : 1;
  }
  bool same = ra < 0 || nx == ny;
  for (size_t i = 0; ra == 0 && same && i < nx; i++) {
    same = same_str(x[i].deployment_id, y[i].deployment_id) &&
           x[i].state == y[i].state && x[i].updated_at_ms == y[i].updated_at_ms;
  }
  return same ? 0 : 2;
}

static void test_deployments_equal_codec(void) {
  static const ec_deployment_summary_t list[] = {
      {UUID, EC_STATE_INSTALLED, 1529247010033},
      {"b3e2f5dc-912e-494f-8395-52cf3769bc06", EC_STATE_FAILED, 0},
      {"x", EC_STATE_REMOVED, -62167219200000},
  };
  uint8_t buf[1024];
  for (size_t k = 0; k <= 3; k++) {
    ssize_t n = ec_deployments_encode(EC_FORMAT_CBOR, list, k, buf, sizeof buf);
    CU_ASSERT_TRUE_FATAL(n > 0 && (size_t)n <= sizeof buf);
    CU_ASSERT_EQUAL((deployments_both(buf, (size_t)n), client_rc), 0);
    CU_ASSERT_EQUAL(deployments_both(buf, (size_t)n), 0);
    cuts_and_mutations(buf, (size_t)n, deployments_both, k == 3 ? 3 : 11);
  }
  hostile_refused_by_both("deployments", deployments_both, 0);
}

static bool same_ids(const ec_prov_ids_t *a, const ec_prov_ids_t *b) {
  bool same = a->present == b->present && a->n == b->n &&
              a->is_array == b->is_array;
  for (size_t i = 0; same && i < a->n; i++) {
    same = a->v[i] == b->v[i];
  }
  return same;
}

static bool same_result(const ec_prov_result_t *a, const ec_prov_result_t *b) {
  return a->action == b->action && a->by_pc_id == b->by_pc_id &&
         same_ids(&a->provisioning_component_id,
                  &b->provisioning_component_id) &&
         a->provisioning_id == b->provisioning_id &&
         a->component_type == b->component_type &&
         same_ids(&a->component_id, &b->component_id) &&
         a->active_status == b->active_status &&
         a->last_modified_by == b->last_modified_by &&
         a->last_modified_s == b->last_modified_s;
}

static int result_both(const uint8_t *buf, size_t len) {
  ec_arena_t a, b;
  ec_prov_result_t x, y;
  ec_arena_init(&a, mem_a, sizeof mem_a);
  ec_arena_init(&b, mem_b, sizeof mem_b);
  int ra = ec_prov_result_decode(EC_FORMAT_CBOR, buf, len, &x, &a, NULL);
  int rb = client_rc = ec__client_prov_result_cbor(buf, len, &y, &b);
  if ((ra < 0) != (rb < 0)) {
    return ra == 0 ? -1 : 1;
  }
  return ra < 0 || same_result(&x, &y) ? 0 : 2;
}

static void test_prov_results_equal_codec(void) {
  static const int64_t pcs[] = {4, 5, 1234567890123LL};
  static const int64_t comps[] = {100};
  ec_prov_result_t r[3];
  memset(r, 0, sizeof r);
  r[0] = (ec_prov_result_t){.action = EC_PROV_INSERT, .provisioning_id = 7,
                            .component_type = EC_COMP_PARAMETER,
                            .component_id = {comps, 1, true, true},
                            .active_status = 1, .last_modified_by = 3,
                            .last_modified_s = 951782400};
  r[1] = (ec_prov_result_t){.action = EC_PROV_UPDATE, .provisioning_id = 8,
                            .component_type = EC_COMP_GROUP_PARAMETER,
                            .component_id = {pcs, 3, true, true}};
  r[2] = (ec_prov_result_t){.action = EC_PROV_UPDATE, .by_pc_id = true,
                            .provisioning_component_id = {pcs, 2, true, true},
                            .active_status = 1};
  uint8_t buf[512];
  for (size_t i = 0; i < 3; i++) {
    ssize_t n = ec_prov_result_encode(EC_FORMAT_CBOR, &r[i], buf, sizeof buf);
    CU_ASSERT_TRUE_FATAL(n > 0 && (size_t)n <= sizeof buf);
    ec_arena_t b;
    ec_prov_result_t y;
    ec_arena_init(&b, mem_b, sizeof mem_b);
    CU_ASSERT_EQUAL(ec__client_prov_result_cbor(buf, (size_t)n, &y, &b), 0);
    CU_ASSERT_TRUE(same_result(&y, &r[i]));
    CU_ASSERT_EQUAL(result_both(buf, (size_t)n), 0);
    cuts_and_mutations(buf, (size_t)n, result_both, 3);
  }
  /* The codec's lenient readings: one ID alone, digits for numbers, a
   * type's name in any case; and its refusals. */
  static const char *const docs2[] = {
      "{\"provisioning_id\":\"7\",\"component_type\":\"sensor\","
      "\"component_id\":9,\"active_status\":\"3\",\"error\":\"NO_ERROR\"}",
      "{\"provisioning_component_id\":[],\"active_status\":0,\"error\":"
      "\"NO_ERROR\"}",
      "{\"provisioning_component_id\":[1],\"active_status\":0,\"error\":"
      "\"FAILED\"}",
      "{\"provisioning_id\":1,\"component_type\":3,\"component_id\":[1],"
      "\"active_status\":0,\"error\":\"NO_ERROR\"}",
      "{\"provisioning_id\":1,\"component_type\":1,\"component_id\":[1],"
      "\"active_status\":0,\"last_modified_by\":1,\"last_modified_datetime\":"
      "\"2001-02-29 00:00:00\",\"error\":\"NO_ERROR\"}",
      "{\"provisioning_component_id\":[1],\"provisioning_id\":[],"
      "\"active_status\":0,\"error\":\"NO_ERROR\"}",
  };
  static const int ok[] = {1, 0, 0, 0, 0, 1};
  for (size_t i = 0; i < sizeof docs2 / sizeof docs2[0]; i++) {
    ssize_t n = ec_json_to_cbor(docs2[i], strlen(docs2[i]), buf, sizeof buf);
    CU_ASSERT_TRUE_FATAL(n > 0);
    CU_ASSERT_EQUAL((result_both(buf, (size_t)n), client_rc) == 0, ok[i]);
    CU_ASSERT_EQUAL(result_both(buf, (size_t)n), 0);
  }
  static const uint8_t huge[] = {0xa1, 0x7b, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x61};
  CU_ASSERT_EQUAL((result_both(huge, sizeof huge), client_rc), EC_ESYNTAX);
  CU_ASSERT_EQUAL(result_both(huge, sizeof huge), 0);
}

static bool same_error_doc(const ec_prov_error_doc_t *a,
                       const ec_prov_error_doc_t *b) {
  bool same = same_str(a->status, b->status) && same_str(a->error, b->error) &&
              same_str(a->detail, b->detail) &&
              (a->ids == NULL) == (b->ids == NULL) && a->n_ids == b->n_ids;
  for (size_t i = 0; same && i < a->n_ids; i++) {
    same = a->ids[i] == b->ids[i];
  }
  return same;
}

static int error_both(const uint8_t *buf, size_t len) {
  ec_arena_t a, b;
  ec_prov_error_doc_t x, y;
  ec_arena_init(&a, mem_a, sizeof mem_a);
  ec_arena_init(&b, mem_b, sizeof mem_b);
  int ra = ec_prov_error_decode(EC_FORMAT_CBOR, buf, len, &x, &a);
  int rb = client_rc = ec__client_prov_error_cbor(buf, len, &y, &b);
  if ((ra < 0) != (rb < 0)) {
    return ra == 0 ? -1 : 1;
  }
  return ra < 0 || same_error_doc(&x, &y) ? 0 : 2;
}

/* The seed's error documents: with a text detail, with IDs (none too),
 * without a status; the codec's lenient readings and its refusals. */
static void test_prov_errors_equal_codec(void) {
  static const int64_t ids[] = {3, 1234567890123LL};
  uint8_t buf[512];
  for (int k = 0; k < 4; k++) {
    ssize_t n = ec_prov_error_encode(
        EC_FORMAT_CBOR, k == 3 ? NULL : "FAILURE", "INVALID_COMPONENT_ID",
        k == 0 ? "no such row" : NULL, k == 1 ? ids : NULL, k == 1 ? 2 : 0,
        buf, sizeof buf);
    CU_ASSERT_TRUE_FATAL(n > 0 && (size_t)n <= sizeof buf);
    CU_ASSERT_EQUAL((error_both(buf, (size_t)n), client_rc), 0);
    CU_ASSERT_EQUAL(error_both(buf, (size_t)n), 0);
    cuts_and_mutations(buf, (size_t)n, error_both, 3);
  }
  static const char *const docs3[] = {
      "{\"status\":5,\"error\":\"E\",\"error_detail\":{}}",
      "{\"error\":\"E\",\"error_detail\":[]}",
      "{\"error\":\"E\",\"error_detail\":[\"12\",7]}",
      "{\"status\":\"S\"}",
      "{\"error\":5}",
      "{\"error\":\"E\",\"error_detail\":[-1]}",
  };
  static const int ok[] = {1, 1, 1, 0, 0, 0};
  for (size_t i = 0; i < sizeof docs3 / sizeof docs3[0]; i++) {
    ssize_t n = ec_json_to_cbor(docs3[i], strlen(docs3[i]), buf, sizeof buf);
    CU_ASSERT_TRUE_FATAL(n > 0);
    CU_ASSERT_EQUAL(error_both(buf, (size_t)n), 0);
    CU_ASSERT_EQUAL(client_rc == 0, ok[i]);
  }
  static const uint8_t huge[] = {0xa1, 0x7b, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x61};
  CU_ASSERT_EQUAL(error_both(huge, sizeof huge), 0);
  CU_ASSERT_EQUAL(client_rc, EC_ESYNTAX);
  hostile_refused_by_both("error_detail", error_both, EC_EBADDOC);
}

int main(void) {
  static const ec_test_t tests[] = {
      {test_report_bytes_equal_codec, "report_bytes_equal_codec"},
      {test_states_match_codec, "states_match_codec"},
      {test_problem_from_codec, "problem_from_codec"},
      {test_truncations_refused_by_both, "truncations_refused_by_both"},
      {test_message_page_from_codec, "message_page_from_codec"},
      {test_message_post_bytes_equal_codec, "message_post_bytes_equal_codec"},
      {test_message_post_refused_by_both, "message_post_refused_by_both"},
      {test_message_dates_equal_codec, "message_dates_equal_codec"},
      {test_login_equals_codec, "login_equals_codec"},
      {test_prov_request_equals_codec, "prov_request_equals_codec"},
      {test_status_equals_codec, "client_status_equals_codec"},
      {test_status_mutations_against_codec, "client_status_mutations_against_codec"},
      {test_status_codec_rules, "client_status_codec_rules"},
      {test_login_answer_equals_codec, "client_login_equals_codec"},
      {test_prov_rows_equal_codec, "client_prov_rows_equal_codec"},
      {test_msg_filter_equals_codec, "msg_filter_equals_codec"},
      {test_messages_equal_codec, "client_messages_equal_codec"},
      {test_history_equals_codec, "client_history_equals_codec"},
      {test_deployments_equal_codec, "client_deployments_equal_codec"},
      {test_prov_results_equal_codec, "client_prov_results_equal_codec"},
      {test_prov_errors_equal_codec, "client_prov_errors_equal_codec"},
  };
  return ec_test_main("device_codec", tests, EC_TEST_COUNT(tests), NULL, NULL,
                      NULL);
}
