/* edgecoap-client: what the command files share: printing answers as JSON, reading input, saying why no answer came. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgecoap/client.h"

#include "io.h"

#define PROG "edgecoap-client"
/* Far above the server's 64 KiB cap: the server is the one to refuse. */
#define INPUT_CAP (8u << 20)

/*
 * Write a body as JSON plus one newline: CBOR is transcoded, JSON written as
 * received. @p one_line folds JSON line breaks, which JSON only allows as
 * whitespace, so a notification is always exactly one line.
 */
int ec_cli_print_body(FILE *f, const ec_response_t *r, bool one_line) {
  int fmt = r->format;

  if (!r->body_len)
    return 0;
  if (fmt < 0)
    fmt = (int)ec_format_sniff(r->body, r->body_len);
  if (fmt == EC_FORMAT_JSON) {
    size_t n = r->body_len;
    while (n && isspace(r->body[n - 1]))
      n--;
    for (size_t i = 0; i < n; i++) {
      int ch = r->body[i];
      putc(one_line && (ch == '\n' || ch == '\r') ? ' ' : ch, f);
    }
  } else if (fmt == EC_FORMAT_CBOR || fmt == EC_FORMAT_PROBLEM_CBOR) {
    ssize_t n = ec_cbor_to_json(r->body, r->body_len, NULL, 0);
    char *json;
    if (n < 0)
      return (int)n;
    json = malloc((size_t)n + 1);
    if (!json)
      return EC_ENOMEM;
    n = ec_cbor_to_json(r->body, r->body_len, json, (size_t)n + 1);
    if (n >= 0)
      fwrite(json, 1, (size_t)n, f);
    free(json);
    if (n < 0)
      return (int)n;
  } else {
    return EC_EFORMAT;
  }
  putc('\n', f);
  return ferror(f) ? EC_EIO : 0;
}

int ec_cli_read_input(const char *name, uint8_t **out, size_t *len) {
  FILE *f = strcmp(name, "-") == 0 ? stdin : fopen(name, "rb");
  uint8_t *buf = NULL;
  size_t n = 0, cap = 0;
  const char *why = NULL;

  if (!f) {
    fprintf(stderr, PROG ": cannot read %s: %s\n", name, strerror(errno));
    return -1;
  }
  while (!why) {
    if (n == cap) {
      size_t grown = cap ? 2 * cap : 4096;
      uint8_t *p = grown <= INPUT_CAP ? realloc(buf, grown) : NULL;
      if (!p) {
        why = grown <= INPUT_CAP ? strerror(ENOMEM) : "larger than 8 MiB";
        break;
      }
      buf = p;
      cap = grown;
    }
    n += fread(buf + n, 1, cap - n, f);
    if (ferror(f))
      why = "read error";
    else if (feof(f))
      break;
  }
  if (f != stdin)
    fclose(f);
  if (why) {
    fprintf(stderr, PROG ": cannot read %s: %s\n", name, why);
    free(buf);
    return -1;
  }
  *out = buf;
  *len = n;
  return 0;
}

int ec_cli_no_answer(const char *url, int rc) {
  if (rc == EC_EIO)
    fprintf(stderr, PROG ": no answer from %s: nothing listens there, or it "
                         "cannot be reached\n", url);
  else if (rc == EC_ETIMEOUT)
    fprintf(stderr, PROG ": no answer from %s in time (--timeout)\n", url);
  else
    fprintf(stderr, PROG ": %s: %s\n", url, ec_strerror(rc));
  return EXIT_FAILED;
}

bool ec_cli_observation_ended(const ec_response_t *r, bool seen) {
  return seen && (r->code == 503 || r->code == 404);
}

int ec_cli_print_ended(const char *url) {
  fprintf(stderr, PROG ": %s ended the observation: the server stopped (or "
                       "the resource is gone)\n", url);
  return EXIT_FAILED;
}
