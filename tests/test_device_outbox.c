/* edgecoap tests: the device core's outbox over slots in RAM that can tear, on any target: no heap, no stdio. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "edgecoap/device.h"
#include "test_device_cases.h"

#define DEP_A "a3e2f5dc-912e-494f-8395-52cf3769bc06"
#define DEP_B "b3e2f5dc-912e-494f-8395-52cf3769bc06"
#define DEP_C "c3e2f5dc-912e-494f-8395-52cf3769bc06"
#define DEP_D "d3e2f5dc-912e-494f-8395-52cf3769bc06"

/* ---- Slots in RAM, as flash pages: a write erases the page (0xFF), then
 * programs it; a write can be cut short or fail, as a reset would. */

#define N_SLOTS 4
#define SLOT_SIZE 320
static uint8_t flash[N_SLOTS][SLOT_SIZE];
static int writes;     /* writes asked for */
static int tear_after; /* > 0: the next write stops after that many bytes */
static int fail_write; /* > 0: write number fail_write fails, leaving the page as it was */

static int ram_read(void *ctx, unsigned slot, void *buf, size_t len) {
  (void)ctx;
  if (slot >= N_SLOTS || len > SLOT_SIZE) {
    return -1;
  }
  memcpy(buf, flash[slot], len);
  return 0;
}

static int ram_write(void *ctx, unsigned slot, const void *rec, size_t len) {
  (void)ctx;
  writes++;
  if (slot >= N_SLOTS || len > SLOT_SIZE || writes == fail_write) {
    return -1;
  }
  memset(flash[slot], 0xFF, SLOT_SIZE);
  if (tear_after > 0) {
    memcpy(flash[slot], rec, (size_t)tear_after < len ? (size_t)tear_after : len);
    tear_after = 0;
    return -1; /* the power failed in the middle */
  }
  memcpy(flash[slot], rec, len);
  return 0;
}

static const ec_dev_storage_t ram = {ram_read, ram_write, NULL, N_SLOTS,
                                     SLOT_SIZE};

/* ---- A transport that keeps the last datagram sent -------------------- */

static uint8_t last[1280];
static size_t last_len;
static int n_sent;
static uint32_t now;
static uint8_t rnd;

static int fake_send(void *ctx, const uint8_t *d, size_t len) {
  (void)ctx;
  if (len <= sizeof last) {
    memcpy(last, d, len);
    last_len = len;
  }
  n_sent++;
  return 0;
}
static uint32_t fake_clock(void *ctx) {
  (void)ctx;
  return now;
}
/* Each call's bytes differ, so Request-Ids of two records do too. */
static void fake_rand(void *ctx, void *buf, size_t len) {
  (void)ctx;
  rnd++;
  memset(buf, rnd, len);
}
static const ec_dev_transport_t fake = {fake_send, fake_clock, fake_rand, NULL,
                                        NULL};

static ec_dev_t dev;
static ec_dev_outbox_t ob;
static ec_dev_outbox_slot_t slots[N_SLOTS];
static uint8_t work[SLOT_SIZE + 160];
static uint8_t scratch[SLOT_SIZE];

static struct {
  int calls;
  uint32_t seq;
  char dep[37];
  uint8_t code;
  int result;
} got;

static void on_end(void *user, uint32_t seq, const char *dep,
                   const ec_dev_answer_t *a) {
  (void)user;
  got.calls++;
  got.seq = seq;
  memcpy(got.dep, dep, 37);
  got.code = a->code;
  got.result = a->result;
}

/* A device starting up (the first time, or after a reset): what the slots
 * hold is all that is left. @return what ec_dev_outbox_init() returned. */
static int boot(void) {
  n_sent = 0;
  last_len = 0;
  memset(&got, 0, sizeof got);
  ec_dev_init(&dev, &fake);
  return ec_dev_outbox_init(&ob, &dev, &ram, slots, "dev1", work, sizeof work,
                            on_end, NULL);
}

static void wipe(void) {
  memset(flash, 0xFF, sizeof flash);
  writes = 0;
  tear_after = 0;
  fail_write = 0;
  now = 1000;
  rnd = 0;
}

static const ec_dev_component_t comps[] = {
    {"app", EC_DEV_INSTALLED, {NULL, NULL, NULL}}};

static int put(const char *dep, ec_dev_state_t state) {
  ec_dev_status_t st = {"deployment.margo/v1", NULL, dep, NULL, 0, state,
                        {NULL, NULL, NULL}, comps, 1};
  return ec_dev_outbox_put(&ob, &st, scratch, sizeof scratch);
}

/* The last datagram sent, parsed; its deploymentId (Uri-Path 4) and
 * Request-Id. */
static ec_coap_msg_t sent_msg(void) {
  ec_coap_msg_t m;
  memset(&m, 0, sizeof m);
  (void)ec_coap_parse(&m, last, last_len);
  return m;
}
static bool sent_dep(const char *dep) {
  ec_coap_msg_t m = sent_msg();
  const uint8_t *v;
  size_t len;
  return m.code == EC_COAP_POST &&
         ec_coap_opt(&m, EC_COAP_OPT_URI_PATH, 3, &v, &len) == 1 &&
         len == 36 && memcmp(v, dep, 36) == 0;
}
static bool sent_rid(uint8_t rid[12]) {
  ec_coap_msg_t m = sent_msg();
  const uint8_t *v;
  size_t len;
  if (ec_coap_opt(&m, EC_COAP_OPT_REQUEST_ID, 0, &v, &len) != 1 || len != 12) {
    return false;
  }
  memcpy(rid, v, 12);
  return true;
}

/* The server's piggybacked answer to the last datagram sent. */
static uint32_t answer(uint8_t code, int max_age) {
  ec_coap_msg_t req = sent_msg();
  uint8_t buf[64];
  ec_coap_build_t b;
  ec_coap_start(&b, buf, sizeof buf, EC_COAP_ACK, code, req.mid, req.token,
                req.tkl);
  if (max_age >= 0) {
    ec_coap_add_uint(&b, EC_COAP_OPT_MAX_AGE, (uint32_t)max_age);
  }
  int n = ec_coap_finish(&b);
  return ec_dev_step(&dev, now, buf, n > 0 ? (size_t)n : 0);
}

/* ---- Cases -------------------------------------------------------------- */

/* A report put is written, sent at once with a Request-Id of 8 random bytes
 * and its sequence number, and on 2.01 replaced by a tombstone that keeps
 * its number: after a reset nothing is sent and numbering goes on. */
static void outbox_put_send_remove(void) {
  wipe();
  DCHECK(boot() == 0 && n_sent == 0);
  DCHECK(ec_dev_step(&dev, now, NULL, 0) == EC_DEV_IDLE);
  DCHECK(put(DEP_A, EC_DEV_INSTALLING) == 0);
  DCHECK(writes == 1 && n_sent == 1 && ec_dev_outbox_pending(&ob) == 1);
  uint8_t rid[12];
  DCHECK(sent_dep(DEP_A) && sent_rid(rid));
  DCHECK(rid[0] == rid[7] && rid[8] == 1 && rid[9] == 0 && rid[10] == 0 &&
         rid[11] == 0);
  ec_coap_msg_t m = sent_msg();
  DCHECK(m.payload != NULL && m.payload_len > 0 && m.payload[0] == 0xa5);
  answer(EC_COAP_CODE(2, 1), -1);
  DCHECK(got.calls == 1 && got.seq == 1 && got.code == EC_COAP_CODE(2, 1) &&
         memcmp(got.dep, DEP_A, 37) == 0);
  DCHECK(ec_dev_outbox_pending(&ob) == 0 && writes == 2);
  DCHECK(ec_dev_step(&dev, now, NULL, 0) == EC_DEV_IDLE);
  DCHECK(boot() == 0 && n_sent == 0);
  DCHECK(put(DEP_A, EC_DEV_INSTALLED) == 0 && sent_rid(rid) && rid[8] == 2);
}

/* Only 2.01 and 2.04 remove a record. A timeout, 5.00, 4.08 (an upload cut
 * off) and 4.29 are tried again after a delay that doubles, 5.03 after its
 * Max-Age, each with the same Request-Id on a new Message ID; and the delay
 * is what ec_dev_step() returns, for a device to sleep through. */
static void outbox_removed_only_on_success(void) {
  wipe();
  DCHECK(boot() == 0);
  DCHECK(put(DEP_A, EC_DEV_INSTALLING) == 0);
  uint8_t rid[12], again[12];
  DCHECK(sent_rid(rid));
  uint16_t mid = sent_msg().mid;
  DCHECK(answer(EC_COAP_CODE(5, 0), -1) == EC_DEV_OUTBOX_RETRY_MS);
  DCHECK(got.calls == 0 && ec_dev_outbox_pending(&ob) == 1 && n_sent == 1);
  now += EC_DEV_OUTBOX_RETRY_MS - 1;
  DCHECK(ec_dev_step(&dev, now, NULL, 0) == 1 && n_sent == 1);
  now += 1;
  ec_dev_step(&dev, now, NULL, 0);
  DCHECK(n_sent == 2 && sent_rid(again) && memcmp(rid, again, 12) == 0);
  DCHECK(sent_msg().mid != mid);
  DCHECK(answer(EC_COAP_CODE(4, 8), -1) == 2 * EC_DEV_OUTBOX_RETRY_MS);
  now += 2 * EC_DEV_OUTBOX_RETRY_MS;
  ec_dev_step(&dev, now, NULL, 0);
  DCHECK(n_sent == 3);
  DCHECK(answer(EC_COAP_CODE(4, 29), -1) == 4 * EC_DEV_OUTBOX_RETRY_MS);
  now += 4 * EC_DEV_OUTBOX_RETRY_MS;
  ec_dev_step(&dev, now, NULL, 0);
  DCHECK(n_sent == 4);
  DCHECK(answer(EC_COAP_CODE(5, 3), 7) == 7000);
  now += 7000;
  ec_dev_step(&dev, now, NULL, 0);
  DCHECK(n_sent == 5);
  mid = sent_msg().mid;
  /* No answer at all: the exchange's retransmissions (the same datagram),
   * then a new attempt later. */
  uint32_t wait;
  int guard = 0;
  while ((wait = ec_dev_step(&dev, now, NULL, 0)) != EC_DEV_IDLE && n_sent < 10 &&
         guard++ < 20) {
    now += wait;
  }
  /* Four retransmissions of the fifth attempt, then EC_ETIMEOUT, then the
   * sixth attempt after the doubled delay. */
  DCHECK(n_sent == 10 && got.calls == 0 && ec_dev_outbox_pending(&ob) == 1);
  DCHECK(sent_msg().mid != mid);
  DCHECK(sent_rid(again) && memcmp(rid, again, 12) == 0);
  answer(EC_COAP_CODE(2, 4), -1);
  DCHECK(got.calls == 1 && got.code == EC_COAP_CODE(2, 4));
  DCHECK(ec_dev_outbox_pending(&ob) == 0);
  DCHECK(ec_dev_step(&dev, now, NULL, 0) == EC_DEV_IDLE);
}

/* A 4.xx that will never succeed (4.00, 4.03, 4.09 ...) drops the record
 * and says so; the next one goes. */
static void outbox_refused_given_up(void) {
  wipe();
  DCHECK(boot() == 0);
  DCHECK(put(DEP_A, EC_DEV_INSTALLING) == 0 && put(DEP_B, EC_DEV_INSTALLING) == 0);
  DCHECK(n_sent == 1 && sent_dep(DEP_A));
  answer(EC_COAP_CODE(4, 9), -1);
  DCHECK(got.calls == 1 && got.code == EC_COAP_CODE(4, 9) && got.seq == 1);
  DCHECK(ec_dev_outbox_pending(&ob) == 1 && n_sent == 2 && sent_dep(DEP_B));
  answer(EC_COAP_CODE(4, 0), -1);
  DCHECK(got.calls == 2 && got.seq == 2 && ec_dev_outbox_pending(&ob) == 0);
  DCHECK(boot() == 0 && n_sent == 0);
}

/* Only each deployment's newest report is kept: a report replaced while in
 * flight is not sent again (and gets no callback), its successor goes
 * next. The slots bound the outbox: one per deployment and one spare. */
static void outbox_newest_per_deployment(void) {
  wipe();
  DCHECK(boot() == 0);
  DCHECK(put(DEP_A, EC_DEV_PENDING) == 0);
  DCHECK(put(DEP_A, EC_DEV_INSTALLING) == 0);
  DCHECK(put(DEP_A, EC_DEV_INSTALLED) == 0);
  DCHECK(n_sent == 1 && ec_dev_outbox_pending(&ob) == 1);
  DCHECK(put(DEP_B, EC_DEV_INSTALLING) == 0 && put(DEP_C, EC_DEV_INSTALLING) == 0);
  DCHECK(ec_dev_outbox_pending(&ob) == 3);
  DCHECK(put(DEP_D, EC_DEV_INSTALLING) == EC_ENOSPC); /* the spare stays free */
  DCHECK(put(DEP_C, EC_DEV_INSTALLED) == 0);          /* a newer one fits */
  DCHECK(ec_dev_outbox_pending(&ob) == 3);
  /* The first report's answer: it was replaced, so A's newest (seq 3) goes. */
  answer(EC_COAP_CODE(2, 1), -1);
  DCHECK(got.calls == 0 && n_sent == 2 && sent_dep(DEP_A));
  uint8_t rid[12];
  DCHECK(sent_rid(rid) && rid[8] == 3);
  answer(EC_COAP_CODE(2, 4), -1);
  DCHECK(got.calls == 1 && got.seq == 3 && sent_dep(DEP_B));
  answer(EC_COAP_CODE(2, 1), -1);
  DCHECK(got.seq == 4 && sent_dep(DEP_C) && sent_rid(rid) && rid[8] == 6);
  answer(EC_COAP_CODE(2, 1), -1);
  DCHECK(got.calls == 3 && got.seq == 6 && ec_dev_outbox_pending(&ob) == 0);
  DCHECK(put(DEP_D, EC_DEV_INSTALLING) == 0);
}

/* After a reset the outbox is replayed oldest first, each report with the
 * Request-Id it was first sent with. */
static void outbox_replay_order(void) {
  wipe();
  DCHECK(boot() == 0);
  uint8_t rid_a[12], rid_b[12], rid[12];
  DCHECK(put(DEP_B, EC_DEV_INSTALLING) == 0 && sent_rid(rid_b));
  DCHECK(put(DEP_A, EC_DEV_INSTALLING) == 0 && put(DEP_C, EC_DEV_INSTALLING) == 0);
  DCHECK(n_sent == 1); /* one at a time */
  answer(EC_COAP_CODE(2, 1), -1);
  DCHECK(sent_dep(DEP_A) && sent_rid(rid_a));
  /* Reset before A's answer: B is delivered, A and C wait. */
  DCHECK(boot() == 2 && n_sent == 1);
  DCHECK(sent_dep(DEP_A) && sent_rid(rid) && memcmp(rid, rid_a, 12) == 0);
  answer(EC_COAP_CODE(2, 4), -1);
  DCHECK(got.calls == 1 && got.seq == 2 && sent_dep(DEP_C));
  answer(EC_COAP_CODE(2, 1), -1);
  DCHECK(got.calls == 2 && got.seq == 3 && ec_dev_outbox_pending(&ob) == 0);
  DCHECK(memcmp(rid_a, rid_b, 8) != 0);
}

/* A record whose bytes changed (a bad page) fails its CRC and is not sent;
 * the others are. */
static void outbox_crc_corruption(void) {
  wipe();
  DCHECK(boot() == 0);
  DCHECK(put(DEP_A, EC_DEV_INSTALLING) == 0 && put(DEP_B, EC_DEV_INSTALLING) == 0);
  /* Slot 0 holds A, slot 1 B: a bit of B's report, then of A's header. */
  flash[1][100] ^= 0x10;
  DCHECK(boot() == 1 && sent_dep(DEP_A));
  flash[0][9] ^= 0x01;
  DCHECK(boot() == 0 && n_sent == 0);
  /* Every byte of a record matters. */
  wipe();
  DCHECK(boot() == 0 && put(DEP_A, EC_DEV_INSTALLING) == 0);
  uint8_t copy[SLOT_SIZE];
  memcpy(copy, flash[0], sizeof copy);
  int len = 61 + (copy[6] | copy[7] << 8);
  int bad = 0;
  for (int i = 0; i < len; i++) {
    memcpy(flash[0], copy, sizeof copy);
    flash[0][i] ^= 0x80;
    bad += boot() == 0;
  }
  DCHECK(bad == len);
  memcpy(flash[0], copy, sizeof copy);
  DCHECK(boot() == 1);
}

/* A write cut short leaves the slot it wrote without a valid record, and
 * the others as they were: the older report of the deployment is still
 * there and replayed. A reset between writing the newer record and
 * burying the older leaves both: the newer one's sequence number wins. */
static void outbox_torn_write(void) {
  wipe();
  DCHECK(boot() == 0);
  uint8_t rid1[12], rid[12];
  DCHECK(put(DEP_A, EC_DEV_INSTALLING) == 0 && sent_rid(rid1));
  for (int cut = 1; cut < 120; cut += 7) {
    tear_after = cut;
    DCHECK(put(DEP_A, EC_DEV_INSTALLED) == EC_EIO);
    DCHECK(boot() == 1 && sent_dep(DEP_A) && sent_rid(rid) &&
           memcmp(rid, rid1, 12) == 0);
  }
  /* The tombstone of the older record never written. */
  fail_write = writes + 2;
  DCHECK(put(DEP_A, EC_DEV_INSTALLED) == 0);
  DCHECK(boot() == 1 && sent_dep(DEP_A) && sent_rid(rid) &&
         memcmp(rid, rid1, 12) != 0);
  answer(EC_COAP_CODE(2, 1), -1);
  DCHECK(got.calls == 1 && ec_dev_outbox_pending(&ob) == 0);
  DCHECK(boot() == 0 && n_sent == 0);
  /* A torn tombstone leaves nothing to send: the report was delivered.
   * Its sequence number, the highest, is lost with it and used again, but
   * the Request-Id's random bytes differ. */
  DCHECK(put(DEP_B, EC_DEV_INSTALLING) == 0 && sent_rid(rid1));
  tear_after = 10;
  answer(EC_COAP_CODE(2, 1), -1);
  DCHECK(got.calls == 1 && ec_dev_outbox_pending(&ob) == 0);
  DCHECK(boot() == 0 && n_sent == 0);
  DCHECK(put(DEP_B, EC_DEV_INSTALLED) == 0 && sent_rid(rid));
  DCHECK(rid[8] == rid1[8] && memcmp(rid, rid1, 8) != 0);
}

/* Reports put while no exchange is free wait and go once one is. */
static void outbox_no_free_exchange(void) {
  wipe();
  DCHECK(boot() == 0);
  uint8_t rq[EC_DEV_MAX_EXCHANGES][128];
  for (int i = 0; i < EC_DEV_MAX_EXCHANGES; i++) {
    DCHECK(ec_dev_get(&dev, "a/b", true, rq[i], sizeof rq[i], NULL, NULL) >= 0);
  }
  DCHECK(put(DEP_A, EC_DEV_INSTALLING) == 0 && ec_dev_outbox_pending(&ob) == 1);
  DCHECK(n_sent == EC_DEV_MAX_EXCHANGES && ob.waiting);
  ec_dev_cancel(&dev, 0);
  now += 1000;
  ec_dev_step(&dev, now, NULL, 0);
  DCHECK(n_sent == EC_DEV_MAX_EXCHANGES + 1 && sent_dep(DEP_A));
  /* Arguments. */
  DCHECK(ec_dev_outbox_init(&ob, &dev, &ram, slots, "dev1", work,
                            SLOT_SIZE + 64 + 3, on_end, NULL) == EC_EINVAL);
  DCHECK(ec_dev_outbox_init(&ob, &dev, &ram, slots, "dev1", work,
                            SLOT_SIZE + 64 + 4, on_end, NULL) == 1);
  ec_dev_status_t st = {"deployment.margo/v1", NULL, "not-a-uuid", NULL, 0,
                        EC_DEV_INSTALLED, {NULL, NULL, NULL}, comps, 1};
  DCHECK(boot() == 1);
  DCHECK(ec_dev_outbox_put(&ob, &st, scratch, sizeof scratch) == EC_EINVAL);
  DCHECK(ec_dev_outbox_put(&ob, &st, scratch, 10) == EC_EINVAL);
  st.deployment_id = DEP_B;
  DCHECK(ec_dev_outbox_put(&ob, &st, scratch, 100) == EC_ENOSPC);
}

const ec_dev_case_t ec_dev_outbox_cases[] = {
    {outbox_put_send_remove, "outbox_put_send_remove"},
    {outbox_removed_only_on_success, "outbox_removed_only_on_success"},
    {outbox_refused_given_up, "outbox_refused_given_up"},
    {outbox_newest_per_deployment, "outbox_newest_per_deployment"},
    {outbox_replay_order, "outbox_replay_order"},
    {outbox_crc_corruption, "outbox_crc_corruption"},
    {outbox_torn_write, "outbox_torn_write"},
    {outbox_no_free_exchange, "outbox_no_free_exchange"},
};
const size_t ec_dev_n_outbox_cases =
    sizeof ec_dev_outbox_cases / sizeof ec_dev_outbox_cases[0];
