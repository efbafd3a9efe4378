/* edgecoap codec: error names, codec error reports and the typed field readers that fill them. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgecoap/error.h"
#include "tree.h"

const char *ec_strerror(int err) {
  switch (err) {
  case EC_OK:
    return "success";
  case EC_EINVAL:
    return "invalid argument";
  case EC_ENOMEM:
    return "out of memory";
  case EC_ESYNTAX:
    return "body is not parseable JSON or CBOR";
  case EC_EBADDOC:
    return "field missing, mistyped or unknown";
  case EC_ESEMANTIC:
    return "document is semantically invalid";
  case EC_ETOOBIG:
    return "length, depth or count limit exceeded";
  case EC_ENOTFOUND:
    return "not found";
  case EC_ESTORE:
    return "storage failure";
  case EC_ENOSPC:
    return "output buffer too small";
  case EC_EIO:
    return "I/O error";
  case EC_ETIMEOUT:
    return "timed out";
  case EC_EPROTO:
    return "unexpected answer from peer";
  case EC_EFORMAT:
    return "unsupported content format";
  case EC_ERESPONSE:
    return "server answered with an error code";
  case EC_EHANDSHAKE:
    return "DTLS handshake failed (unknown identity or wrong key?)";
  case EC_EADDRINUSE:
    return "address and port in use";
  case EC_EBUSY:
    return "in use by another process";
  case EC_ENOTSUP:
    return "not built into this edgecoap";
  case EC_ECONNREFUSED:
    return "nothing listens at that address and port";
  default:
    return "unknown error";
  }
}

/* A string cut to fit its buffer by snprintf may end inside a UTF-8
 * character; drop that partial character so the text stays valid (problem
 * details refuse invalid UTF-8 and would lose their body). */
static void utf8_trim(char *s, size_t cap) {
  size_t n = strlen(s);
  if (n + 1 < cap) {
    return; /* not cut */
  }
  size_t i = n;
  while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
    i--;
  }
  if (i > 0 && ((unsigned char)s[i - 1] & 0x80) != 0) {
    unsigned char lead = (unsigned char)s[i - 1];
    size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    if (n - (i - 1) < want) {
      s[i - 1] = '\0';
    }
  }
}

int ec__fail(ec_codec_error_t *err, int code, const char *title,
             const char *field, const char *fmt, ...) {
  if (err == NULL) {
    return code;
  }
  err->code = code;
  snprintf(err->title, sizeof err->title, "%s", title != NULL ? title : "");
  snprintf(err->field, sizeof err->field, "%s", field != NULL ? field : "");
  err->detail[0] = '\0';
  if (fmt != NULL) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof err->detail, fmt, ap);
    va_end(ap);
  }
  utf8_trim(err->field, sizeof err->field);
  utf8_trim(err->detail, sizeof err->detail);
  return code;
}

void ec__path_key(char *out, size_t cap, const char *path, const char *key) {
  if (out == NULL || cap == 0) {
    return;
  }
  if (path == NULL || *path == '\0') {
    snprintf(out, cap, "%s", key != NULL ? key : "");
  } else {
    snprintf(out, cap, "%s.%s", path, key != NULL ? key : "");
  }
  utf8_trim(out, cap);
}

void ec__path_index(char *out, size_t cap, const char *path, size_t i) {
  if (out == NULL || cap == 0) {
    return;
  }
  snprintf(out, cap, "%s[%zu]", path != NULL ? path : "", i);
}

/* Look @p key up; 1 when found, 0 when absent and optional, < 0 when absent
 * and required. */
static int lookup(const json_t *obj, const char *key, const char *path,
                  bool required, const json_t **v, char *field, size_t cap,
                  ec_codec_error_t *err) {
  ec__path_key(field, cap, path, key);
  *v = json_object_get(obj, key);
  if (*v != NULL) {
    return 1;
  }
  if (required) {
    return ec__fail(err, EC_EBADDOC, "missing-field", field, "%s is required",
                    field);
  }
  return 0;
}

int ec__get_member(const json_t *obj, const char *key, const char *path,
                   bool required, json_type type, const json_t **v,
                   ec_codec_error_t *err) {
  static const char *const type_names[] = {
      [JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",
      [JSON_STRING] = "a string",  [JSON_INTEGER] = "an integer",
      [JSON_REAL] = "a number",    [JSON_TRUE] = "a boolean",
      [JSON_FALSE] = "a boolean",  [JSON_NULL] = "null"};
  if (!json_is_object(obj) || key == NULL || v == NULL ||
      (unsigned)type >= sizeof type_names / sizeof type_names[0]) {
    return EC_EINVAL;
  }
  char field[sizeof err->field];
  int rc = lookup(obj, key, path, required, v, field, sizeof field, err);
  if (rc <= 0) {
    return rc;
  }
  if (json_typeof(*v) != type) {
    return ec__fail(err, EC_EBADDOC, "invalid-type", field, "%s must be %s",
                    field, type_names[type]);
  }
  return 0;
}

int ec__get_string(const json_t *obj, const char *key, const char *path,
                   bool required, size_t min_len, size_t max_len,
                   ec_arena_t *arena, const char **out, ec_codec_error_t *err) {
  if (!json_is_object(obj) || key == NULL || arena == NULL || out == NULL) {
    return EC_EINVAL;
  }
  char field[sizeof err->field];
  const json_t *v;
  int rc = lookup(obj, key, path, required, &v, field, sizeof field, err);
  if (rc <= 0) {
    return rc;
  }
  if (!json_is_string(v)) {
    return ec__fail(err, EC_EBADDOC, "invalid-type", field,
                    "%s must be a string", field);
  }
  size_t len = json_string_length(v);
  if (len < min_len || len > max_len) {
    return ec__fail(err, EC_ESEMANTIC, "invalid-length", field,
                    "%s must be %zu to %zu bytes long", field, min_len,
                    max_len);
  }
  const char *s = ec_arena_strndup(arena, json_string_value(v), len);
  if (s == NULL) {
    return ec__fail(err, EC_ENOMEM, "out-of-memory", field,
                    "the decode arena is full at %s", field);
  }
  *out = s;
  return 0;
}

/* Shared by both integer readers: @p lenient also takes decimal digits in a
 * string, with an optional minus sign and nothing else around them. */
static int get_int(const json_t *obj, const char *key, const char *path,
                   bool required, int64_t min, int64_t max, int64_t *out,
                   bool *present, bool lenient, ec_codec_error_t *err) {
  if (!json_is_object(obj) || key == NULL || out == NULL) {
    return EC_EINVAL;
  }
  char field[sizeof err->field];
  const json_t *v;
  if (present != NULL) {
    *present = false;
  }
  int rc = lookup(obj, key, path, required, &v, field, sizeof field, err);
  if (rc <= 0) {
    return rc;
  }
  int64_t n;
  if (json_is_integer(v)) {
    n = (int64_t)json_integer_value(v);
  } else if (lenient && json_is_string(v)) {
    const char *s = json_string_value(v);
    const char *d = *s == '-' ? s + 1 : s;
    char *end = NULL;
    long long ll = 0;
    bool digits = *d >= '0' && *d <= '9';
    if (digits) {
      int saved = errno;
      errno = 0;
      ll = strtoll(s, &end, 10);
      bool range = errno == ERANGE;
      errno = saved;
      if (*end != '\0') {
        digits = false;
      } else if (range) {
        return ec__fail(err, EC_ESEMANTIC, "out-of-range", field,
                        "%s must be between %" PRId64 " and %" PRId64, field,
                        min, max);
      }
    }
    if (!digits) {
      return ec__fail(err, EC_EBADDOC, "invalid-type", field,
                      "%s must be an integer", field);
    }
    n = (int64_t)ll;
  } else {
    return ec__fail(err, EC_EBADDOC, "invalid-type", field,
                    "%s must be an integer", field);
  }
  if (n < min || n > max) {
    return ec__fail(err, EC_ESEMANTIC, "out-of-range", field,
                    "%s must be between %" PRId64 " and %" PRId64, field, min,
                    max);
  }
  *out = n;
  if (present != NULL) {
    *present = true;
  }
  return 0;
}

int ec__get_int(const json_t *obj, const char *key, const char *path,
                bool required, int64_t min, int64_t max, int64_t *out,
                bool *present, ec_codec_error_t *err) {
  return get_int(obj, key, path, required, min, max, out, present, false, err);
}

int ec__get_int_lenient(const json_t *obj, const char *key, const char *path,
                        bool required, int64_t min, int64_t max, int64_t *out,
                        bool *present, ec_codec_error_t *err) {
  return get_int(obj, key, path, required, min, max, out, present, true, err);
}

int ec__check_keys(const json_t *obj, const char *path,
                   const char *const *allowed, ec_codec_error_t *err) {
  if (!json_is_object(obj)) {
    return EC_EINVAL;
  }
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)obj, key, val) {
    bool known = false;
    for (size_t i = 0; allowed != NULL && allowed[i] != NULL && !known; i++) {
      known = strcmp(key, allowed[i]) == 0;
    }
    if (!known) {
      char field[sizeof err->field];
      ec__path_key(field, sizeof field, path, key);
      return ec__fail(err, EC_EBADDOC, "unknown-key", field,
                      "unknown key \"%s\"", key);
    }
  }
  return 0;
}
