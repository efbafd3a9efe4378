/* edgecoap device core's POSIX port: DTLS 1.2 with a pre-shared key over the port's UDP socket, with OpenSSL. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "edgecoap/device_dtls.h"

/* Records leave through a memory BIO that is emptied onto the socket after
 * every OpenSSL call, one datagram per flush, and come in through another
 * that the port fills with one received datagram at a time: OpenSSL never
 * touches the socket, so the core's transport stays the port's. */
#define RECORD_MAX 4096
/* CoAP datagrams stay under 1152 bytes (EC_DEV_MAX_DATAGRAM); records
 * around them fit any path's MTU of 1280 or more. */
#define LINK_MTU 1280
/* CoAP requests the port counts the transmissions of (docs/CLUSTER.md,
 * "What the device library does about it"): one per open exchange, and
 * one more, since an exchange's Message ID changes while others run. */
#define UNHEARD (EC_DEV_MAX_EXCHANGES + 1)

struct ec_dev_dtls {
  ec_dev_udp_t *u;
  ec_dev_transport_t plain; /* the UDP port's own, for its clock and random bytes */
  SSL_CTX *ctx;
  SSL *ssl;     /* NULL until a handshake starts */
  BIO *rbio;    /* owned by ssl */
  BIO *wbio;
  bool up;      /* the handshake completed and no alert ended the session */
  char identity[EC_DEV_DTLS_MAX_IDENTITY + 1];
  uint8_t key[EC_DEV_DTLS_MAX_KEY];
  size_t key_len;
  uint32_t handshake_ms; /* the bound of the caller's last handshake */
  /* The confirmable requests sent since the last record that decrypted,
   * by Message ID, and how often each went out. */
  struct {
    uint16_t mid;
    uint8_t sent; /* 0: a free entry */
  } unheard[UNHEARD];
  uint8_t plain_buf[RECORD_MAX];
};

static unsigned int psk_cb(SSL *ssl, const char *hint, char *identity,
                           unsigned int max_identity_len, unsigned char *psk,
                           unsigned int max_psk_len) {
  ec_dev_dtls_t *d = SSL_get_app_data(ssl);
  size_t n = strlen(d->identity);
  (void)hint;
  if (n + 1 > max_identity_len || d->key_len > max_psk_len) {
    return 0;
  }
  memcpy(identity, d->identity, n + 1);
  memcpy(psk, d->key, d->key_len);
  return (unsigned int)d->key_len;
}

/* Send what OpenSSL wrote: one datagram per record it wrote. */
static int flush(ec_dev_dtls_t *d) {
  uint8_t buf[RECORD_MAX];
  int rc = 0;
  int n;
  while ((n = BIO_read(d->wbio, buf, sizeof buf)) > 0) {
    if (d->plain.send(d->plain.ctx, buf, (size_t)n) < 0) {
      rc = -1;
    }
  }
  return rc;
}

/* How often the confirmable request @p dgram has now gone out with nothing
 * heard from the server since its first transmission; 0 for other
 * messages (an ACK, an RST). */
static unsigned count_sent(ec_dev_dtls_t *d, const uint8_t *dgram,
                           size_t len) {
  if (len < 4 || (dgram[0] & 0x30) != 0 || dgram[1] == 0) {
    return 0;
  }
  uint16_t mid = (uint16_t)(dgram[2] << 8 | dgram[3]);
  unsigned k = 0;
  for (unsigned i = 0; i < UNHEARD; i++) {
    if (d->unheard[i].sent != 0 && d->unheard[i].mid == mid) {
      k = i;
      break;
    }
    /* Else the entry sent the fewest times makes room. */
    k = d->unheard[i].sent < d->unheard[k].sent ? i : k;
  }
  if (d->unheard[k].sent == 0 || d->unheard[k].mid != mid) {
    d->unheard[k].mid = mid;
    d->unheard[k].sent = 0;
  }
  return d->unheard[k].sent < UINT8_MAX ? ++d->unheard[k].sent : UINT8_MAX;
}

static int dtls_send(void *ctx, const uint8_t *dgram, size_t len) {
  ec_dev_dtls_t *d = ctx;
  if (d->up && count_sent(d, dgram, len) > EC_DEV_MAX_RETRANSMIT) {
    /* The last transmission of a request, and the server has said nothing
     * since its first: every retransmission went unanswered. Behind a
     * proxy whose session ended (nginx reloaded, its proxy_timeout
     * passed), the server gets our records from a new port, where it
     * holds no session, and drops them without an alert; a new handshake
     * reaches it as a new peer. So the session is ended (a close_notify,
     * for a server that did hold it) and made again, bounded as the
     * caller's last handshake was, and the request goes out on it. */
    ec_dev_dtls_drop(d);
    (void)ec_dev_dtls_handshake(d, d->handshake_ms);
  }
  if (!d->up || len > INT32_MAX || SSL_write(d->ssl, dgram, (int)len) <= 0) {
    ERR_clear_error();
    return -1; /* a loss to the core, which retransmits */
  }
  return flush(d);
}

static int dtls_recv(void *ctx, const uint8_t *rec, size_t len, uint8_t *out,
                     size_t cap, const uint8_t **dgram) {
  ec_dev_dtls_t *d = ctx;
  (void)out;
  (void)cap;
  if (d->ssl == NULL || len > INT32_MAX) {
    return -1;
  }
  /* Whatever an earlier datagram left unread belongs to no later one. */
  (void)BIO_reset(d->rbio);
  BIO_write(d->rbio, rec, (int)len);
  int n = SSL_read(d->ssl, d->plain_buf, sizeof d->plain_buf);
  int err = n > 0 ? SSL_ERROR_NONE : SSL_get_error(d->ssl, n);
  (void)flush(d); /* an alert or a handshake answer */
  ERR_clear_error();
  if (n > 0) {
    memset(d->unheard, 0, sizeof d->unheard); /* the server hears us */
    *dgram = d->plain_buf;
    return n;
  }
  if (err == SSL_ERROR_WANT_READ) {
    return 0;
  }
  d->up = false; /* a close_notify or a fatal alert: a new handshake next */
  return -1;
}

static uint32_t dtls_now(void *ctx) {
  ec_dev_dtls_t *d = ctx;
  return d->plain.now_ms(d->plain.ctx);
}

static void dtls_random(void *ctx, void *buf, size_t len) {
  ec_dev_dtls_t *d = ctx;
  d->plain.random(d->plain.ctx, buf, len);
}

int ec_dev_dtls_new(ec_dev_udp_t *u, const char *identity, const uint8_t *key,
                    size_t key_len, ec_dev_dtls_t **out) {
  if (u == NULL || identity == NULL || key == NULL || out == NULL ||
      identity[0] == '\0' || strlen(identity) > EC_DEV_DTLS_MAX_IDENTITY ||
      key_len == 0 || key_len > EC_DEV_DTLS_MAX_KEY) {
    return EC_EINVAL;
  }
  ec_dev_dtls_t *d = calloc(1, sizeof *d);
  if (d == NULL) {
    return EC_ENOMEM;
  }
  d->ctx = SSL_CTX_new(DTLS_client_method());
  if (d->ctx == NULL ||
      SSL_CTX_set_min_proto_version(d->ctx, DTLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(d->ctx, "PSK") != 1) {
    ec_dev_dtls_free(d);
    ERR_clear_error();
    return EC_EIO;
  }
  SSL_CTX_set_psk_client_callback(d->ctx, psk_cb);
  d->u = u;
  strcpy(d->identity, identity);
  memcpy(d->key, key, key_len);
  d->key_len = key_len;
  d->plain = u->transport;
  u->transport = (ec_dev_transport_t){dtls_send, dtls_now, dtls_random,
                                      dtls_recv, d};
  *out = d;
  return 0;
}

static void drop_session(ec_dev_dtls_t *d) {
  if (d->ssl != NULL) {
    SSL_free(d->ssl); /* and its BIOs */
  }
  d->ssl = NULL;
  d->rbio = d->wbio = NULL;
  d->up = false;
}

/* A fresh client session with its two memory BIOs. */
static int new_session(ec_dev_dtls_t *d) {
  drop_session(d);
  d->ssl = SSL_new(d->ctx);
  d->rbio = BIO_new(BIO_s_mem());
  d->wbio = BIO_new(BIO_s_mem());
  if (d->ssl == NULL || d->rbio == NULL || d->wbio == NULL) {
    BIO_free(d->rbio);
    BIO_free(d->wbio);
    d->rbio = d->wbio = NULL;
    drop_session(d);
    return EC_ENOMEM;
  }
  BIO_set_mem_eof_return(d->rbio, -1); /* empty: "want read", not EOF */
  SSL_set_bio(d->ssl, d->rbio, d->wbio);
  SSL_set_app_data(d->ssl, d);
  SSL_set_options(d->ssl, SSL_OP_NO_QUERY_MTU);
  DTLS_set_link_mtu(d->ssl, LINK_MTU);
  SSL_set_connect_state(d->ssl);
  return 0;
}

int ec_dev_dtls_handshake(ec_dev_dtls_t *d, uint32_t timeout_ms) {
  if (d == NULL) {
    return EC_EINVAL;
  }
  if (d->up) {
    return 0;
  }
  d->handshake_ms = timeout_ms;
  memset(d->unheard, 0, sizeof d->unheard);
  int rc = new_session(d);
  if (rc < 0) {
    return rc;
  }
  uint32_t start = dtls_now(d);
  uint8_t buf[RECORD_MAX];
  for (;;) {
    int r = SSL_do_handshake(d->ssl);
    int err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(d->ssl, r);
    (void)flush(d);
    ERR_clear_error();
    if (r == 1) {
      d->up = true;
      return 0;
    }
    uint32_t spent = dtls_now(d) - start;
    if (err != SSL_ERROR_WANT_READ || spent >= timeout_ms) {
      /* An alert (an unknown identity, a wrong key), or silence: a server
       * drops records it cannot authenticate. */
      drop_session(d);
      return EC_EHANDSHAKE;
    }
    /* OpenSSL's own retransmission timer (RFC 6347 section 4.2.4). */
    struct timeval tv;
    uint32_t wait = timeout_ms - spent;
    if (DTLSv1_get_timeout(d->ssl, &tv) == 1) {
      uint64_t t = (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
      wait = t < wait ? (uint32_t)t : wait;
    }
    struct pollfd p = {d->u->fd, POLLIN, 0};
    int ready = poll(&p, 1, (int)(wait > 1000 ? 1000 : wait));
    ssize_t n = ready > 0 ? recv(d->u->fd, buf, sizeof buf, MSG_DONTWAIT) : -1;
    if (n < 0 && errno == ECONNREFUSED) {
      /* An ICMP port unreachable: nothing listens there, and no handshake
       * can come; said at once rather than after every retransmission. */
      d->u->refused = true;
      drop_session(d);
      return EC_ECONNREFUSED;
    }
    if (n > 0) {
      (void)BIO_reset(d->rbio);
      BIO_write(d->rbio, buf, (int)n);
    } else if (ready == 0 || (n < 0 && errno != EINTR)) {
      /* Nothing came (or only an ICMP error: the server restarting). */
      (void)DTLSv1_handle_timeout(d->ssl);
    }
  }
}

bool ec_dev_dtls_up(const ec_dev_dtls_t *d) {
  return d != NULL && d->up;
}

void ec_dev_dtls_drop(ec_dev_dtls_t *d) {
  if (d == NULL) {
    return;
  }
  if (d->up) {
    (void)SSL_shutdown(d->ssl); /* a close_notify, so the server can forget us */
    (void)flush(d);
  }
  drop_session(d);
  ERR_clear_error();
}

void ec_dev_dtls_free(ec_dev_dtls_t *d) {
  if (d == NULL) {
    return;
  }
  ec_dev_dtls_drop(d);
  SSL_CTX_free(d->ctx);
  if (d->u != NULL && d->u->transport.ctx == d) {
    d->u->transport = d->plain;
  }
  OPENSSL_cleanse(d->key, sizeof d->key);
  ERR_clear_error();
  free(d);
}
