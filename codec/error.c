/* edgecoap codec: names for the shared error codes. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "edgecoap/error.h"

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
  default:
    return "unknown error";
  }
}
