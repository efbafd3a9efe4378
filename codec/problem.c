/* edgecoap codec: RFC 9290 problem details, in JSON and in concise CBOR. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "tree.h"

/* Concise problem details (RFC 9290 section 6) use negative integer keys;
 * the tree holds them as decimal strings and ec__tree_write() turns them back
 * into integers. */
#define KEY_TITLE "-1"
#define KEY_DETAIL "-2"
#define KEY_CODE "-4"
/* The field at fault. RFC 9290's CDDL has no room for a text key in the
 * concise form: its own entries are negative integers, and section 3 lets
 * a specification add entries of its own. This one is edgecoap's (API.md
 * section 1), a negative key far from the registry's one-byte range. */
#define KEY_FIELD "-256"

/* Add @p s under @p key unless it is NULL (or empty, when @p skip_empty). */
static int add_text(json_t *obj, const char *key, const char *s,
                    bool skip_empty) {
  if (s == NULL || (skip_empty && *s == '\0')) {
    return 0;
  }
  return ec__set_str(obj, key, s);
}

ssize_t ec_problem_encode(ec_format_t fmt, const char *title,
                          const char *detail, int coap_code, const char *field,
                          uint8_t *buf, size_t cap) {
  if ((buf == NULL && cap != 0) || coap_code < 0 || coap_code > 255) {
    return EC_EINVAL;
  }
  bool cbor = fmt == EC_FORMAT_CBOR || fmt == EC_FORMAT_PROBLEM_CBOR;
  if (!cbor && fmt != EC_FORMAT_JSON) {
    return EC_EFORMAT;
  }
  json_t *t = json_object();
  if (t == NULL) {
    return EC_ENOMEM;
  }
  ssize_t rc = add_text(t, cbor ? KEY_TITLE : "title", title, false);
  if (rc == 0) {
    rc = add_text(t, cbor ? KEY_DETAIL : "detail", detail, false);
  }
  /* 0 is no response code at all (0.00 is not one), so it is left out. */
  if (rc == 0 && coap_code != 0) {
    json_t *v;
    if (cbor) {
      v = json_integer(coap_code);
    } else {
      char s[8];
      snprintf(s, sizeof s, "%d.%02d", coap_code >> 5, coap_code & 0x1F);
      v = json_string_nocheck(s);
    }
    rc = ec__set_new(t, cbor ? KEY_CODE : "response-code", v);
  }
  if (rc == 0) {
    rc = add_text(t, cbor ? KEY_FIELD : "field", field, true);
  }
  if (rc == 0) {
    rc = ec__tree_write(cbor ? EC_FORMAT_CBOR : EC_FORMAT_JSON, t, cbor, buf,
                        cap);
  }
  json_decref(t);
  return rc;
}

/* Read a text member spelt @p name or, in the concise form, @p alt. */
static int get_text(const json_t *t, const char *name, const char *alt,
                    ec_arena_t *arena, const char **out) {
  const char *key = json_object_get(t, name) != NULL ? name : alt;
  if (key == NULL) {
    return 0;
  }
  return ec__get_string(t, key, "", false, 0, EC_MAX_TEXT, arena, out, NULL);
}

/* "4.22" -> 150: a class digit 0..7, a dot, two detail digits 00..31. */
static int parse_dotted(const char *s, int *code) {
  if (strlen(s) != 4 || s[0] < '0' || s[0] > '7' || s[1] != '.' ||
      s[2] < '0' || s[2] > '9' || s[3] < '0' || s[3] > '9') {
    return EC_EBADDOC;
  }
  int dd = (s[2] - '0') * 10 + (s[3] - '0');
  if (dd > 31) {
    return EC_EBADDOC;
  }
  *code = (s[0] - '0') * 32 + dd;
  return 0;
}

static int get_code(const json_t *t, int *code) {
  const json_t *v = json_object_get(t, "response-code");
  if (v == NULL) {
    v = json_object_get(t, KEY_CODE);
  }
  if (v == NULL) {
    return 0;
  }
  if (json_is_string(v)) {
    return parse_dotted(json_string_value(v), code);
  }
  if (!json_is_integer(v) || json_integer_value(v) < 0 ||
      json_integer_value(v) > 255) {
    return EC_EBADDOC;
  }
  *code = (int)json_integer_value(v);
  return 0;
}

int ec_problem_decode(ec_format_t fmt, const uint8_t *buf, size_t len,
                      ec_problem_t *out, ec_arena_t *arena) {
  if (out == NULL || arena == NULL || (buf == NULL && len > 0)) {
    return EC_EINVAL;
  }
  json_t *t;
  int rc = ec__tree_parse(fmt, buf, len, &t, NULL);
  if (rc < 0) {
    return rc;
  }
  /* Either spelling is read in either format, so a peer that mixes the JSON
   * names into CBOR (or the reverse) is still understood. Other members are
   * RFC 9290 extensions and are skipped. */
  size_t mark = arena->used;
  ec_problem_t p = {0};
  if (!json_is_object(t)) {
    rc = EC_EBADDOC;
    goto fail_tree;
  }
  if ((rc = get_text(t, "title", KEY_TITLE, arena, &p.title)) < 0 ||
      (rc = get_text(t, "detail", KEY_DETAIL, arena, &p.detail)) < 0 ||
      (rc = get_text(t, "field", KEY_FIELD, arena, &p.field)) < 0 ||
      (rc = get_code(t, &p.coap_code)) < 0) {
    goto fail_tree;
  }
  json_decref(t);
  *out = p;
  return 0;

fail_tree:
  arena->used = mark;
  json_decref(t);
  return rc;
}
