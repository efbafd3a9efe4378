/* edgecoap device core: the durable outbox, reports kept in the caller's slot storage until the server has them. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "cbor.h"

/*
 * A record (docs/DEVICE.md, "The outbox"), little-endian:
 *
 *    0   4  CRC-32 (IEEE 802.3) of bytes 4 to the end
 *    4   2  0xEC 0x01: a record of this format
 *    6   2  n, the report's length in CBOR; 0 for a tombstone (delivered
 *           or given up), which is kept for its sequence number
 *    8   4  sequence number, per device, never 0
 *   12  37  deploymentId, NUL-terminated
 *   49  12  Request-Id: 8 random bytes and the sequence number
 *   61   n  the report
 *
 * The Request-Id comes right before the report, so that a record read into
 * the end of the work buffer is what ec__dev_post() sends.
 */
enum { O_MAGIC = 4, O_LEN = 6, O_SEQ = 8, O_DEP = 12, O_RID = 49, HDR = 61 };
#define DEP_LEN 36

static uint32_t crc32(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  while (n-- > 0) {
    c ^= *p++;
    for (int k = 0; k < 8; k++) {
      c = c >> 1 ^ (0xEDB88320u & (0u - (c & 1u)));
    }
  }
  return ~c;
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) {
    p[i] = (uint8_t)(v >> (8 * i));
  }
}

/* Sequence numbers compared modulo 2^32, as they wrap. */
static bool newer(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }

/* Write the header of the record at @p rec, whose Request-Id and @p n bytes
 * of report are in place, and its CRC. */
static void seal(uint8_t *rec, uint32_t seq, const char *dep, size_t n) {
  rec[O_MAGIC] = 0xEC;
  rec[O_MAGIC + 1] = 1;
  rec[O_LEN] = (uint8_t)n;
  rec[O_LEN + 1] = (uint8_t)(n >> 8);
  put32(rec + O_SEQ, seq);
  ec__copy(rec + O_DEP, dep, DEP_LEN);
  rec[O_DEP + DEP_LEN] = 0;
  put32(rec, crc32(rec + 4, HDR - 4 + n));
}

/* Read slot @p i into the end of the work buffer and check it: the
 * report's length (0 for a tombstone) and *rec, or < 0 when the slot holds
 * no record (never written, torn, corrupted). */
static int load(ec_dev_outbox_t *ob, unsigned i, uint8_t **rec) {
  const ec_dev_storage_t *st = ob->st;
  uint8_t *h = ob->buf + ob->cap - HDR;
  if (st->read(st->ctx, i, h, HDR) < 0 || h[O_MAGIC] != 0xEC ||
      h[O_MAGIC + 1] != 1) {
    return EC_EBADDOC;
  }
  /* The work buffer holds a slot (ec_dev_outbox_init()). */
  size_t n = (size_t)h[O_LEN] | (size_t)h[O_LEN + 1] << 8;
  if (HDR + n > st->slot_size) {
    return EC_EBADDOC;
  }
  /* A valid CRC means the header is as seal() wrote it: a sequence number
   * other than 0 and a NUL-terminated deploymentId. */
  uint8_t *r = h - n;
  if ((n > 0 && st->read(st->ctx, i, r, HDR + n) < 0) ||
      get32(r) != crc32(r + 4, HDR - 4 + n)) {
    return EC_EBADDOC;
  }
  *rec = r;
  return (int)n;
}

/* Replace slot @p i's report with a tombstone of the same sequence number
 * and deployment: it is not sent again, and the number is not used again.
 * A tombstone that could not be written leaves the report to be sent
 * again after a reboot, which its Request-Id makes harmless. */
static void bury(ec_dev_outbox_t *ob, unsigned i) {
  uint8_t h[HDR];
  ec__zero(h, sizeof h);
  seal(h, ob->slots[i].seq, ob->slots[i].dep, 0);
  (void)ob->st->write(ob->st->ctx, i, h, sizeof h);
  ob->slots[i].live = false;
}

static void arm(ec_dev_outbox_t *ob, uint32_t ms) {
  ob->deadline = ob->dev->t->now_ms(ob->dev->t->ctx) + ms;
  ob->waiting = true;
}

static void try_send(ec_dev_outbox_t *ob);

/* Slot @p i's report is delivered, or given up: buried, and the caller
 * told (from a copy of the deploymentId: the callback may reuse the slot). */
static void end(ec_dev_outbox_t *ob, unsigned i, const ec_dev_answer_t *a) {
  char dep[DEP_LEN + 1];
  uint32_t seq = ob->slots[i].seq;
  ec__copy(dep, ob->slots[i].dep, sizeof dep);
  ob->failures = 0;
  bury(ob, i);
  if (ob->cb != NULL) {
    ob->cb(ob->user, seq, dep, a);
  }
}

/* The end of a record's exchange: 2.01/2.04 delivered it, another 4.xx
 * refuses it for good (given up, and said so); anything else (a timeout, an
 * RST, 5.xx, 4.08 for an interrupted upload, 4.29) is tried again later,
 * after Max-Age for a 5.03, else after a delay that doubles. */
static void on_answer(ec_dev_t *dev, void *user, const ec_dev_answer_t *a) {
  (void)dev;
  ec_dev_outbox_t *ob = user;
  if (ob->busy < 0) {
    return; /* an exchange of before ec_dev_outbox_init() */
  }
  unsigned i = (unsigned)ob->busy;
  ec_dev_outbox_slot_t *s = &ob->slots[i];
  uint8_t c = a->result == 0 ? a->code : 0;
  ob->busy = -1;
  if (!s->live || s->seq != ob->busy_seq) {
    try_send(ob); /* replaced while in flight: the newer report goes next */
    return;
  }
  if (c != EC_COAP_CODE(2, 1) && c != EC_COAP_CODE(2, 4) &&
      (c >> 5 != 4 || c == EC_COAP_CODE(4, 8) || c == EC_COAP_CODE(4, 29))) {
    uint8_t k = ob->failures < 7 ? ob->failures : 7;
    ob->failures++;
    uint32_t age = a->max_age < 3600 ? a->max_age : 3600;
    arm(ob, c == EC_COAP_CODE(5, 3) ? age * 1000u
                                     : (uint32_t)EC_DEV_OUTBOX_RETRY_MS << k);
    return;
  }
  end(ob, i, a);
  try_send(ob);
}

/* Send the oldest record, unless one is in flight or a retry is waiting. */
static void try_send(ec_dev_outbox_t *ob) {
  while (ob->busy < 0 && !ob->waiting) {
    int i = -1;
    for (unsigned j = 0; j < ob->st->n_slots; j++) {
      if (ob->slots[j].live &&
          (i < 0 || newer(ob->slots[i].seq, ob->slots[j].seq))) {
        i = (int)j;
      }
    }
    if (i < 0) {
      return;
    }
    uint8_t *rec;
    int n = load(ob, (unsigned)i, &rec);
    if (n <= 0 || get32(rec + O_SEQ) != ob->slots[i].seq) {
      ob->slots[i].live = false; /* the storage lost it since */
      continue;
    }
    ob->busy = i;
    ob->busy_seq = ob->slots[i].seq;
    int rc = ec__dev_post(ob->dev, ob->device_id, ob->slots[i].dep, ob->buf,
                          ob->cap, (size_t)n, on_answer, ob);
    if (rc == EC_ENOSPC || rc == EC_EINVAL) {
      /* A record this buffer cannot send (written with another setup):
       * given up, and said so. */
      ec_dev_answer_t a;
      ec__zero(&a, sizeof a);
      a.result = rc;
      a.content_format = -1;
      ob->busy = -1;
      end(ob, (unsigned)i, &a);
    } else if (rc < 0) {
      /* No free exchange, or a send that failed: a second from now. */
      ob->busy = -1;
      arm(ob, 1000);
    }
  }
}

/* ec_dev_step()'s hook: a retry that is due, and the outbox's deadline. */
static uint32_t step(void *ctx, uint32_t now) {
  ec_dev_outbox_t *ob = ctx;
  if (ob->waiting && (int32_t)(ob->deadline - now) <= 0) {
    ob->waiting = false;
    try_send(ob);
  }
  if (!ob->waiting) {
    return EC_DEV_IDLE;
  }
  return (int32_t)(ob->deadline - now) <= 0 ? 0 : ob->deadline - now;
}

int ec_dev_outbox_init(ec_dev_outbox_t *ob, ec_dev_t *dev,
                       const ec_dev_storage_t *st, ec_dev_outbox_slot_t *slots,
                       const char *device_id, uint8_t *buf, size_t cap,
                       ec_dev_outbox_cb_t cb, void *user) {
  if (ob == NULL || dev == NULL || st == NULL || slots == NULL ||
      device_id == NULL || buf == NULL || st->n_slots < 2 ||
      st->slot_size <= HDR) {
    return EC_EINVAL;
  }
  /* What sending a slot's report takes (ec__dev_post()): the record, whose
   * header becomes room for the request's header and options, and one
   * block besides when a report in a slot may pass one datagram. */
  size_t need = st->slot_size + 64 + ec__len(device_id);
  if (need > EC_DEV_MAX_DATAGRAM + 32) {
    need += 1036;
  }
  if (cap < need) {
    return EC_EINVAL;
  }
  /* No struct assignment: that would call memset, and the core calls
   * nothing (docs/DEVICE.md). */
  ec__zero(ob, sizeof *ob);
  ob->dev = dev;
  ob->st = st;
  ob->slots = slots;
  ec__zero(slots, st->n_slots * sizeof *slots);
  ob->device_id = device_id;
  ob->buf = buf;
  ob->cap = cap;
  ob->cb = cb;
  ob->user = user;
  ob->busy = -1;
  uint32_t top = 0;
  for (unsigned i = 0; i < st->n_slots; i++) {
    uint8_t *rec;
    int n = load(ob, i, &rec);
    if (n >= 0) {
      slots[i].seq = get32(rec + O_SEQ);
      slots[i].live = n > 0;
      ec__copy(slots[i].dep, rec + O_DEP, DEP_LEN + 1);
      top = top == 0 || newer(slots[i].seq, top) ? slots[i].seq : top;
    }
  }
  ob->next_seq = top + 1 == 0 ? 1 : top + 1;
  /* A report with a newer record of its deployment beside it (a reset
   * came between writing the new one and burying the old) is not sent. */
  int pending = 0;
  for (unsigned i = 0; i < st->n_slots; i++) {
    for (unsigned j = 0; j < st->n_slots && slots[i].live; j++) {
      if (slots[j].seq != 0 && newer(slots[j].seq, slots[i].seq) &&
          ec__same(slots[j].dep, slots[i].dep, DEP_LEN)) {
        bury(ob, i);
      }
    }
    pending += slots[i].live;
  }
  dev->hook = step;
  dev->hook_ctx = ob;
  try_send(ob);
  return pending;
}

int ec_dev_outbox_put(ec_dev_outbox_t *ob, const ec_dev_status_t *st,
                      uint8_t *rec, size_t cap) {
  if (ob == NULL || st == NULL || rec == NULL || cap < HDR) {
    return EC_EINVAL;
  }
  /* A UUID of 36 characters, or EC_EINVAL. */
  int n = ec_dev_status_encode(st, rec + HDR, cap - HDR);
  if (n < 0) {
    return n;
  }
  if (HDR + (size_t)n > cap || HDR + (size_t)n > ob->st->slot_size) {
    return EC_ENOSPC;
  }
  /* The new record goes into a free slot (the one written longest ago)
   * before the old one of its deployment is buried, so a reset in between
   * leaves one or both, never neither; a slot is kept free for that. */
  ec_dev_outbox_slot_t *slots = ob->slots;
  int old = -1;
  int fr = -1;
  unsigned n_free = 0;
  for (unsigned i = 0; i < ob->st->n_slots; i++) {
    if (slots[i].live) {
      old = ec__same(slots[i].dep, st->deployment_id, DEP_LEN) ? (int)i : old;
    } else {
      n_free++;
      fr = fr < 0 || newer(slots[fr].seq, slots[i].seq) ? (int)i : fr;
    }
  }
  if (n_free < (old < 0 ? 2u : 1u)) {
    return EC_ENOSPC;
  }
  uint32_t seq = ob->next_seq;
  ob->next_seq = seq + 1 == 0 ? 1 : seq + 1;
  ob->dev->t->random(ob->dev->t->ctx, rec + O_RID, 8);
  put32(rec + O_RID + 8, seq);
  seal(rec, seq, st->deployment_id, (size_t)n);
  if (ob->st->write(ob->st->ctx, (unsigned)fr, rec, HDR + (size_t)n) < 0) {
    return EC_EIO;
  }
  slots[fr].seq = seq;
  slots[fr].live = true;
  ec__copy(slots[fr].dep, rec + O_DEP, DEP_LEN + 1);
  if (old >= 0) {
    bury(ob, (unsigned)old);
  }
  try_send(ob);
  return 0;
}

unsigned ec_dev_outbox_pending(const ec_dev_outbox_t *ob) {
  unsigned n = 0;
  for (unsigned i = 0; ob != NULL && i < ob->st->n_slots; i++) {
    n += ob->slots[i].live;
  }
  return n;
}
