/* edgecoap-bench: request bodies: none, one file, a template, or message batches. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "body.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One generated message takes at most this much JSON. */
#define MESSAGE_MAX 512

int bb_load(bb_body_t *b, bb_kind_t kind, const char *path) {
  memset(b, 0, sizeof(*b));
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    perror(path);
    return -1;
  }
  size_t cap = 4096, len = 0;
  uint8_t *buf = malloc(cap);
  size_t n;
  while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
    len += n;
    if (len == cap) {
      uint8_t *p = realloc(buf, cap * 2);
      if (p == NULL) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = p;
      cap *= 2;
    }
  }
  int bad = ferror(f) || buf == NULL;
  fclose(f);
  if (bad) {
    fprintf(stderr, "edgecoap-bench: cannot read %s\n", path);
    free(buf);
    return -1;
  }
  b->kind = kind;
  b->data = buf;
  b->len = len;
  return 0;
}

int bb_messages(bb_body_t *b, const char *spec) {
  memset(b, 0, sizeof(*b));
  unsigned long long start = 0;
  char prefix[16];
  int n = sscanf(spec, "%u:%u:%15[-.0-9A-Za-z]:%llu", &b->batch, &b->orders,
                 prefix, &start);
  if (n < 3 || b->batch == 0 || b->orders == 0) {
    fprintf(stderr, "edgecoap-bench: --gen-messages wants BATCH:ORDERS:PREFIX"
                    "[:START], not '%s'\n", spec);
    return -1;
  }
  b->kind = BB_MESSAGES;
  b->start = start;
  memcpy(b->prefix, prefix, sizeof(prefix));
  return 0;
}

void bb_free(bb_body_t *b) {
  free(b->data);
  memset(b, 0, sizeof(*b));
}

static size_t count_marks(const uint8_t *p, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i + 1 < len; i++)
    if (p[i] == '%' && p[i + 1] == 'd')
      n++;
  return n;
}

size_t bb_max_len(const bb_body_t *b) {
  switch (b->kind) {
  case BB_FIXED:
    return b->len;
  case BB_TEMPLATE:
    return b->len + 20 * count_marks(b->data, b->len) + 1;
  case BB_MESSAGES:
    return 32 + (size_t)b->batch * MESSAGE_MAX;
  default:
    return 0;
  }
}

/* One message shaped like the ON-API example: the fields a network
 * operator's provisioning chain sends, with realistic lengths. */
static int message(char *out, size_t cap, const bb_body_t *b, uint64_t i) {
  time_t t = (time_t)(1700000000 + i);
  struct tm tm;
  char date[32];
  gmtime_r(&t, &tm);
  strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
  uint64_t order = i % b->orders;
  return snprintf(out, cap,
                  "{\"messageDate\":\"%s.%03uZ\",\"messageCode\":%u,"
                  "\"messageParameters\":[{\"Delivery date\":\"2018-06-17\"}],"
                  "\"orderId\":\"%s-%" PRIu64 "\",\"subscriptionId\":\"S%s%"
                  PRIu64 "\",\"accessId\":\"A%" PRIu64 "\",\"dhcpOption\":"
                  "{\"IPv4\":{\"option82\":{\"remoteId\":\"KS_A001:Gi0/014\","
                  "\"circuitId\":\"A%" PRIu64 "\"}}}}",
                  date, (unsigned)(i % 1000), 101 + (unsigned)(i % 10),
                  b->prefix, order, b->prefix, order, order, order);
}

const uint8_t *bb_make(const bb_body_t *b, uint64_t n, uint8_t *buf,
                       size_t cap, size_t *len) {
  size_t o = 0;
  switch (b->kind) {
  case BB_NONE:
    *len = 0;
    return NULL;
  case BB_FIXED:
    *len = b->len;
    return b->data;
  case BB_TEMPLATE:
    for (size_t i = 0; i < b->len && o < cap; i++) {
      if (b->data[i] == '%' && i + 1 < b->len && b->data[i + 1] == 'd') {
        int w = snprintf((char *)buf + o, cap - o, "%" PRIu64, n);
        o += w > 0 ? (size_t)w : 0;
        i++;
      } else {
        buf[o++] = b->data[i];
      }
    }
    break;
  case BB_MESSAGES: {
    o = (size_t)snprintf((char *)buf, cap, "{\"StatusMessages\":[");
    for (unsigned j = 0; j < b->batch && o < cap; j++) {
      int w = message((char *)buf + o, cap - o, b,
                      b->start + n * b->batch + j);
      o += w > 0 ? (size_t)w : 0;
      if (j + 1 < b->batch && o < cap)
        buf[o++] = ',';
    }
    o += (size_t)snprintf((char *)buf + o, cap > o ? cap - o : 0, "]}");
    break;
  }
  }
  *len = o < cap ? o : cap;
  return buf;
}
