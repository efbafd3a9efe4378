/* edgecoap: the client library's datagram trace ($EDGECOAP_DEBUG), one line per datagram, read with the device core's parser. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdio.h>

#include "client_internal.h"
#include "edgecoap/device.h"

/* How an option's value is written. */
enum { V_UINT, V_TEXT, V_OPAQUE, V_BLOCK, V_SECRET };

/* The options a datagram of this client or its server may carry (RFC 7252,
 * 7641, 7959, 9175; edgecoap's 65000 and 65004), in number order, which is
 * the order they are written in. */
static const struct {
  uint16_t num;
  uint8_t kind;
  const char *name;
} options[] = {
    {1, V_OPAQUE, "If-Match"},
    {3, V_TEXT, "Uri-Host"},
    {EC_COAP_OPT_ETAG, V_OPAQUE, "ETag"},
    {5, V_OPAQUE, "If-None-Match"},
    {EC_COAP_OPT_OBSERVE, V_UINT, "Observe"},
    {7, V_UINT, "Uri-Port"},
    {8, V_TEXT, "Location-Path"},
    {EC_COAP_OPT_URI_PATH, V_TEXT, "Uri-Path"},
    {EC_COAP_OPT_CONTENT_FORMAT, V_UINT, "Content-Format"},
    {EC_COAP_OPT_MAX_AGE, V_UINT, "Max-Age"},
    {EC_COAP_OPT_URI_QUERY, V_TEXT, "Uri-Query"},
    {EC_COAP_OPT_ACCEPT, V_UINT, "Accept"},
    {20, V_TEXT, "Location-Query"},
    {EC_COAP_OPT_BLOCK2, V_BLOCK, "Block2"},
    {EC_COAP_OPT_BLOCK1, V_BLOCK, "Block1"},
    {EC_COAP_OPT_SIZE2, V_UINT, "Size2"},
    {EC_COAP_OPT_SIZE1, V_UINT, "Size1"},
    {EC_COAP_OPT_ECHO, V_OPAQUE, "Echo"},
    {EC_COAP_OPT_AUTH_TOKEN, V_SECRET, "Token65000"},
    {EC_COAP_OPT_REQUEST_ID, V_OPAQUE, "Request-Id"},
};

static void hex(FILE *f, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    fprintf(f, "%02x", p[i]);
}

static void value(FILE *f, int kind, const uint8_t *v, size_t len) {
  uint32_t u = 0;
  for (size_t i = 0; i < len && i < 4; i++)
    u = u << 8 | v[i];
  switch (kind) {
  case V_UINT:
    fprintf(f, "%lu", (unsigned long)u);
    break;
  case V_BLOCK: /* NUM/M/SIZE, RFC 7959 section 2.2 */
    fprintf(f, "%lu/%u/%u", (unsigned long)(u >> 4), (unsigned)(u >> 3 & 1),
            16u << (u & 7));
    break;
  case V_TEXT:
    putc('"', f);
    for (size_t i = 0; i < len; i++)
      putc(v[i] < 0x20 || v[i] >= 0x7f || v[i] == '"' ? '?' : v[i], f);
    putc('"', f);
    break;
  case V_SECRET:
    fprintf(f, "(%zu bytes)", len);
    break;
  default:
    fputs(len ? "0x" : "(empty)", f);
    hex(f, v, len);
  }
}

void ec_client_trace(FILE *f, bool sent, const uint8_t *d, size_t len) {
  static const char *const types[] = {"CON", "NON", "ACK", "RST"};
  static const char *const methods[] = {"EMPTY", "GET",   "POST", "PUT",
                                        "DELETE", "FETCH", "PATCH", "iPATCH"};
  ec_coap_msg_t m;

  fprintf(f, "coap %c %zu bytes", sent ? '>' : '<', len);
  if (ec_coap_parse(&m, d, len) < 0) {
    fputs(": not a CoAP message\n", f);
    return;
  }
  fprintf(f, ": %s ", types[m.type & 3]);
  if (m.code < sizeof methods / sizeof methods[0])
    fputs(methods[m.code], f);
  else
    fprintf(f, "%u.%02u", (unsigned)(m.code >> 5), (unsigned)(m.code & 0x1f));
  fprintf(f, " mid=%u token=", (unsigned)m.mid);
  if (m.tkl == 0)
    fputs("(none)", f);
  hex(f, m.token, m.tkl);
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
    const uint8_t *v;
    size_t n;
    for (unsigned k = 0; ec_coap_opt(&m, options[i].num, k, &v, &n) == 1; k++) {
      fprintf(f, " %s=", options[i].name);
      value(f, options[i].kind, v, n);
    }
  }
  fprintf(f, " payload=%zu\n", m.payload ? m.payload_len : 0);
}
