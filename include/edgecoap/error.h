/* edgecoap: the one error convention shared by every module. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_ERROR_H
#define EDGECOAP_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Every edgecoap call that can fail returns an int: 0 (EC_OK) on success, one
 * of these negative codes on failure. Calls that produce a length return it as
 * a value >= 0 and an error as a value < 0. errno is never part of the API.
 */
enum {
  EC_OK = 0,
  EC_EINVAL = -1,       /**< a bad argument from the caller (a programming error) */
  EC_ENOMEM = -2,       /**< out of memory, or the caller's arena is full */
  EC_ESYNTAX = -3,      /**< the body is not parseable JSON or CBOR */
  EC_EBADDOC = -4,      /**< parseable, but a field is missing, mistyped or unknown (4.00) */
  EC_ESEMANTIC = -5,    /**< well-formed but semantically wrong (4.22) */
  EC_ETOOBIG = -6,      /**< a length, depth or count cap was exceeded */
  EC_ENOTFOUND = -7,    /**< no such record */
  EC_ESTORE = -8,       /**< the storage layer failed */
  EC_ENOSPC = -9,       /**< the caller's output buffer is too small */
  EC_EIO = -10,         /**< network or system I/O failed */
  EC_ETIMEOUT = -11,    /**< no answer in time */
  EC_EPROTO = -12,      /**< the peer answered something unexpected */
  EC_EFORMAT = -13,     /**< an unsupported content format */
  EC_ERESPONSE = -14,   /**< the server answered with a 4.xx or 5.xx code */
  EC_EHANDSHAKE = -15,  /**< the DTLS handshake failed or never completed (unknown identity or wrong key) */
  EC_EADDRINUSE = -16,  /**< the address and port are in use by another socket */
  EC_EBUSY = -17,       /**< the resource (a database) is held by another process, or not ready yet */
  EC_ENOTSUP = -18,     /**< not built into this edgecoap (a kind of store) */
  EC_ECONNREFUSED = -19 /**< nothing listens at the server's address and port (ICMP port unreachable) */
};

/**
 * Name an edgecoap error code.
 * @param[in] err  a value returned by an edgecoap call
 * @return a static, never-NULL, English description
 */
const char *ec_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* EDGECOAP_ERROR_H */
