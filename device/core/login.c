/* edgecoap device core: the provisioning login (API.md section 4, POST /v1/Login): its body and its answer in CBOR. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "cbor.h"

int ec_dev_login_encode(const char *username, const char *password,
                        const char *token, uint8_t *buf, size_t cap) {
  if ((buf == NULL && cap != 0) ||
      (token != NULL ? username != NULL || password != NULL
                     : username == NULL || password == NULL)) {
    return EC_EINVAL;
  }
  /* As the codec's ec_login_request_encode() writes it: {"token": t} for
   * a logout, else {"username": u, "password": p}. */
  ec__cbw_t w = {buf, cap, 0};
  ec__cbw_head(&w, 5, token != NULL ? 1 : 2);
  ec__cbw_text(&w, token != NULL ? "token" : "username");
  ec__cbw_text(&w, token != NULL ? token : username);
  if (token == NULL) {
    ec__cbw_text(&w, "password");
    ec__cbw_text(&w, password);
  }
  return w.len > (size_t)INT32_MAX ? EC_ENOSPC : (int)w.len;
}

#define LOGIN(m) offsetof(ec_dev_login_t, m)
#define LOGIN_NAMES "status\0error\0token\0userid\0userrole\0username\0"
static const EC__MAP(6, LOGIN_NAMES) login_map = {
    6,
    {EC__M_TEXT, LOGIN(status), EC__M_TEXT, LOGIN(error), EC__M_TEXT,
     LOGIN(token), EC__M_NUM, LOGIN(userid), EC__M_TEXT, LOGIN(userrole),
     EC__M_TEXT, LOGIN(username)},
    LOGIN_NAMES};

int ec_dev_login_decode(const uint8_t *buf, size_t len, ec_dev_login_t *out) {
  if (out == NULL) {
    return EC_EINVAL;
  }
  ec__zero(out, sizeof *out);
  /* status and error always; with a token, the user it was given to as
   * well, as the codec requires (a second walk, with every member
   * required). */
  int rc = ec__cbr_doc(buf, len, EC__M(login_map), NULL, out, 0x03);
  if (rc == 0 && out->token.ptr != NULL) {
    rc = ec__cbr_doc(buf, len, EC__M(login_map), NULL, out, 0x3F);
  }
  return rc;
}

/* The login goes as a request of device/core/request.c, which answers
 * the server's Echo challenge for a POST (over plain CoAP the server
 * verifies an address before it sends an answer three times the
 * request's size, and the token makes it so): its ec_dev_req_t and body
 * are kept at the front of the caller's buffer, aligned, and the
 * datagram built after them. */
int ec_dev_login(ec_dev_t *dev, const char *username, const char *password,
                 uint8_t *buf, size_t cap, ec_dev_cb_t cb, void *user) {
  if (dev == NULL || buf == NULL || username == NULL || password == NULL) {
    return EC_EINVAL;
  }
  uintptr_t a = _Alignof(ec_dev_req_t);
  size_t head = (size_t)((a - (uintptr_t)buf % a) % a) + sizeof(ec_dev_req_t);
  int len = ec_dev_login_encode(username, password, NULL, NULL, 0);
  if (len < 0 || cap < head + (size_t)len) {
    return len < 0 ? len : EC_ENOSPC;
  }
  ec_dev_req_t *rq = (ec_dev_req_t *)(void *)(buf + head - sizeof *rq);
  uint8_t *body = buf + head;
  (void)ec_dev_login_encode(username, password, NULL, body, (size_t)len);
  *rq = (ec_dev_req_t){EC_COAP_POST, "v1/Login", 60, 60, body, (size_t)len,
                       0, NULL, 0};
  return ec_dev_request(dev, rq, false, body + len, cap - head - (size_t)len,
                        cb, user);
}
