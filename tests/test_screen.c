/* edgecoap: CUnit tests of the datagram screen (server/coap/screen.c). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <coap3/coap.h>

#include "screen.h"
#include "suite.h"

/*
 * The screen reads the coap:// socket before libcoap does. Here that
 * socket is a UDP socket of the test on 127.0.0.1, and a second socket,
 * connected to it, is the client: each datagram it sends is either left
 * at the head of the socket for libcoap (ec_screen_run() says 1, and the
 * datagram is still there, whole) or consumed and answered as screen.h
 * says (RFC 7252 sections 3, 4.2 and 5.8; RFC 7959 section 2.9.3).
 */

#define MAX_BODY 65536

static ec_server_t *srv;
static int server_fd = -1, client_fd = -1;

static int udp_on_loopback(uint16_t port, struct sockaddr_in *bound) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {0};
  socklen_t len = sizeof(a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
      getsockname(fd, (struct sockaddr *)bound, &len) < 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  return fd;
}

static int suite_init(void) {
  struct sockaddr_in s, c;
  srv = calloc(1, sizeof(*srv));
  if (srv == NULL)
    return -1;
  srv->cfg.max_body = MAX_BODY;
  srv->screen_fd = -1;
  server_fd = udp_on_loopback(0, &s);
  client_fd = udp_on_loopback(0, &c);
  if (server_fd < 0 || client_fd < 0 ||
      connect(client_fd, (struct sockaddr *)&s, sizeof(s)) < 0)
    return -1;
  srv->cfg.port = ntohs(s.sin_port);
  return 0;
}

static int suite_cleanup(void) {
  if (server_fd >= 0)
    close(server_fd);
  if (client_fd >= 0)
    close(client_fd);
  free(srv);
  return 0;
}

/* Whatever waits on @p fd now, dropped. */
static void drain(int fd) {
  uint8_t buf[2048];
  while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
    ;
}

/* Send @p n bytes: @p head (its first @p head_len bytes), then zeros. */
static void send_dgram(const uint8_t *head, size_t head_len, size_t n) {
  uint8_t buf[2048] = {0};
  CU_ASSERT_FATAL(n <= sizeof(buf) && head_len <= n);
  memcpy(buf, head, head_len);
  CU_ASSERT_EQUAL_FATAL(send(client_fd, buf, n, 0), (ssize_t)n);
  /* Loopback delivers at once; wait for it all the same, briefly. */
  struct pollfd p = {server_fd, POLLIN, 0};
  CU_ASSERT_EQUAL_FATAL(poll(&p, 1, 1000), 1);
}

/* The client's next answer within @p ms: its length, or -1 for none. */
static ssize_t answer(uint8_t *buf, size_t cap, int ms) {
  struct pollfd p = {client_fd, POLLIN, 0};
  if (poll(&p, 1, ms) != 1)
    return -1;
  return recv(client_fd, buf, cap, MSG_DONTWAIT);
}

/* True when the server socket's next datagram is the one of @p n bytes
 * starting with @p head, left for libcoap; it is consumed here. */
static bool left_for_libcoap(const uint8_t *head, size_t head_len, size_t n) {
  uint8_t buf[2048];
  ssize_t got = recv(server_fd, buf, sizeof(buf), MSG_DONTWAIT);
  return got == (ssize_t)n && memcmp(buf, head, head_len) == 0;
}

/* A CON (type 0) or NON (1) request header: Version 1, token "tk12". */
static const uint8_t con_get[] = {0x44, 0x01, 0x12, 0x34, 't', 'k', '1', '2'};
static const uint8_t non_get[] = {0x54, 0x01, 0x12, 0x35, 't', 'k', '1', '2'};

static void test_init_finds_the_plain_socket(void) {
  ec_screen_init(srv);
  CU_ASSERT_EQUAL(srv->screen_fd, server_fd);
  /* Without coap:// nothing is screened. */
  srv->cfg.no_plain = true;
  ec_screen_init(srv);
  CU_ASSERT_EQUAL(srv->screen_fd, -1);
  CU_ASSERT_EQUAL(ec_screen_run(srv), 0);
  srv->cfg.no_plain = false;
  ec_screen_init(srv);
  CU_ASSERT_EQUAL_FATAL(srv->screen_fd, server_fd);
}

static void test_requests_libcoap_serves_are_left_whole(void) {
  srv->screen_fd = server_fd;
  drain(server_fd);
  CU_ASSERT_EQUAL(ec_screen_run(srv), 0); /* nothing waiting */
  send_dgram(con_get, sizeof(con_get), sizeof(con_get));
  CU_ASSERT_EQUAL(ec_screen_run(srv), 1);
  CU_ASSERT_TRUE(left_for_libcoap(con_get, sizeof(con_get), sizeof(con_get)));
  /* The largest datagram served: RFC 7252's 1152 bytes. */
  send_dgram(con_get, sizeof(con_get), EC_SCREEN_MAX_DGRAM);
  CU_ASSERT_EQUAL(ec_screen_run(srv), 1);
  CU_ASSERT_TRUE(
      left_for_libcoap(con_get, sizeof(con_get), EC_SCREEN_MAX_DGRAM));
  /* A runt, which libcoap ignores, and an empty ACK and RST of no watch. */
  static const uint8_t runt[] = {0x40, 0x01, 0x00};
  send_dgram(runt, sizeof(runt), sizeof(runt));
  CU_ASSERT_EQUAL(ec_screen_run(srv), 1);
  CU_ASSERT_TRUE(left_for_libcoap(runt, sizeof(runt), sizeof(runt)));
  static const uint8_t rst[] = {0x70, 0x00, 0x12, 0x34};
  send_dgram(rst, sizeof(rst), sizeof(rst));
  CU_ASSERT_EQUAL(ec_screen_run(srv), 1);
  CU_ASSERT_TRUE(left_for_libcoap(rst, sizeof(rst), sizeof(rst)));
  uint8_t buf[64];
  CU_ASSERT_EQUAL(answer(buf, sizeof(buf), 50), -1);
}

static void test_another_version_is_dropped(void) {
  static const uint8_t v2[] = {0x84, 0x01, 0x12, 0x34, 't', 'k', '1', '2'};
  srv->screen_fd = server_fd;
  drain(server_fd);
  send_dgram(v2, sizeof(v2), sizeof(v2));
  CU_ASSERT_EQUAL(ec_screen_run(srv), 0); /* consumed, nothing after it */
  uint8_t buf[64];
  CU_ASSERT_EQUAL(answer(buf, sizeof(buf), 50), -1);
}

static void
test_an_oversized_con_request_gets_4_13_with_block1_and_size1(void) {
  srv->screen_fd = server_fd;
  drain(server_fd);
  send_dgram(con_get, sizeof(con_get), EC_SCREEN_MAX_DGRAM + 1);
  CU_ASSERT_EQUAL(ec_screen_run(srv), 0);
  uint8_t buf[64];
  /* ACK 4.13, its Message ID and token; Block1 (27) = block 0 of 1024
   * bytes (SZX 6); Size1 (60) = the body cap, 65536 in 3 bytes. */
  static const uint8_t want[] = {0x64, 0x8d, 0x12, 0x34, 't',  'k',
                                 '1',  '2',  0xd1, 0x0e, 0x06, 0xd3,
                                 0x14, 0x01, 0x00, 0x00};
  ssize_t n = answer(buf, sizeof(buf), 1000);
  CU_ASSERT_EQUAL_FATAL(n, (ssize_t)sizeof(want));
  CU_ASSERT_EQUAL(memcmp(buf, want, sizeof(want)), 0);
  CU_ASSERT_EQUAL(answer(buf, sizeof(buf), 50), -1);
}

static void test_other_oversized_messages_get_an_rst_or_nothing(void) {
  uint8_t buf[64];
  srv->screen_fd = server_fd;
  drain(server_fd);
  /* A NON request: an RST with its Message ID. */
  send_dgram(non_get, sizeof(non_get), 1400);
  CU_ASSERT_EQUAL(ec_screen_run(srv), 0);
  static const uint8_t rst[] = {0x70, 0x00, 0x12, 0x35};
  CU_ASSERT_EQUAL_FATAL(answer(buf, sizeof(buf), 1000), (ssize_t)sizeof(rst));
  CU_ASSERT_EQUAL(memcmp(buf, rst, sizeof(rst)), 0);
  /* A CON response (2.05) too. */
  static const uint8_t con_205[] = {0x40, 0x45, 0x22, 0x22};
  send_dgram(con_205, sizeof(con_205), 1400);
  CU_ASSERT_EQUAL(ec_screen_run(srv), 0);
  CU_ASSERT_EQUAL_FATAL(answer(buf, sizeof(buf), 1000), 4);
  CU_ASSERT(buf[0] == 0x70 && buf[1] == 0 && buf[2] == 0x22 && buf[3] == 0x22);
  /* An ACK is dropped without a word. */
  static const uint8_t ack[] = {0x60, 0x45, 0x33, 0x33};
  send_dgram(ack, sizeof(ack), 1400);
  CU_ASSERT_EQUAL(ec_screen_run(srv), 0);
  CU_ASSERT_EQUAL(answer(buf, sizeof(buf), 50), -1);
}

static void test_an_unassigned_method_gets_4_05(void) {
  uint8_t buf[64];
  srv->screen_fd = server_fd;
  drain(server_fd);
  /* Code 0.08: piggybacked on the ACK of a CON. */
  uint8_t con8[sizeof(con_get)];
  memcpy(con8, con_get, sizeof(con8));
  con8[1] = 0x08;
  send_dgram(con8, sizeof(con8), sizeof(con8));
  CU_ASSERT_EQUAL(ec_screen_run(srv), 0);
  static const uint8_t ack_405[] = {0x64, 0x85, 0x12, 0x34, 't', 'k', '1', '2'};
  CU_ASSERT_EQUAL_FATAL(answer(buf, sizeof(buf), 1000),
                        (ssize_t)sizeof(ack_405));
  CU_ASSERT_EQUAL(memcmp(buf, ack_405, sizeof(ack_405)), 0);
  /* Code 0.31 as a NON: a NON 4.05 with the token, a Message ID of the
   * server's own. */
  uint8_t non31[sizeof(non_get)];
  memcpy(non31, non_get, sizeof(non31));
  non31[1] = 0x1f;
  send_dgram(non31, sizeof(non31), sizeof(non31));
  CU_ASSERT_EQUAL(ec_screen_run(srv), 0);
  CU_ASSERT_EQUAL_FATAL(answer(buf, sizeof(buf), 1000), 8);
  CU_ASSERT(buf[0] == 0x54 && buf[1] == 0x85);
  CU_ASSERT_EQUAL(memcmp(buf + 4, "tk12", 4), 0);
  /* Every assigned method (0.01-0.07) is libcoap's. */
  for (uint8_t code = 1; code <= 7; code++) {
    con8[1] = code;
    send_dgram(con8, sizeof(con8), sizeof(con8));
    CU_ASSERT_EQUAL(ec_screen_run(srv), 1);
    CU_ASSERT_TRUE(left_for_libcoap(con8, sizeof(con8), sizeof(con8)));
  }
}

static void test_screened_datagrams_give_way_to_the_next(void) {
  uint8_t buf[64];
  srv->screen_fd = server_fd;
  drain(server_fd);
  /* Two refused ones, then a request: one run answers both and stops at
   * the request, left for libcoap. */
  send_dgram(non_get, sizeof(non_get), 1400);
  send_dgram(con_get, sizeof(con_get), 1300);
  send_dgram(con_get, sizeof(con_get), sizeof(con_get));
  CU_ASSERT_EQUAL(ec_screen_run(srv), 1);
  CU_ASSERT_TRUE(left_for_libcoap(con_get, sizeof(con_get), sizeof(con_get)));
  CU_ASSERT_EQUAL(answer(buf, sizeof(buf), 1000), 4);  /* the RST */
  CU_ASSERT_EQUAL(answer(buf, sizeof(buf), 1000), 16); /* the 4.13 */
  CU_ASSERT_EQUAL(answer(buf, sizeof(buf), 50), -1);
}

/* The access log's look at the socket (ec_screen_look), kept, is what
 * the next run screens: it is trusted, with no look of the run's own, so
 * it must be kept only while nothing else can read the socket. */
static void test_a_kept_look_is_screened_without_looking_again(void) {
  uint8_t buf[64], h[2];
  srv->screen_fd = server_fd;
  drain(server_fd);
  CU_ASSERT_EQUAL(ec_screen_look(srv, h, sizeof(h), true), -1);
  CU_ASSERT_FALSE(srv->screen_look.kept); /* nothing waits: nothing kept */
  /* An oversized CON, then a request: the kept look of the first is
   * answered 4.13 and consumed, the second left for libcoap. */
  send_dgram(con_get, sizeof(con_get), EC_SCREEN_MAX_DGRAM + 1);
  send_dgram(con_get, sizeof(con_get), sizeof(con_get));
  CU_ASSERT_EQUAL(ec_screen_look(srv, h, sizeof(h), true),
                  EC_SCREEN_MAX_DGRAM + 1);
  CU_ASSERT(h[0] == con_get[0] && h[1] == con_get[1]);
  CU_ASSERT_TRUE(srv->screen_look.kept);
  CU_ASSERT_EQUAL(ec_screen_run(srv), 1);
  CU_ASSERT_FALSE(srv->screen_look.kept);
  CU_ASSERT_EQUAL(answer(buf, sizeof(buf), 1000), 16); /* the 4.13 */
  CU_ASSERT_TRUE(left_for_libcoap(con_get, sizeof(con_get), sizeof(con_get)));
  /* A look not kept leaves the run to look itself. */
  send_dgram(con_get, sizeof(con_get), sizeof(con_get));
  CU_ASSERT_EQUAL(ec_screen_look(srv, h, sizeof(h), false),
                  (ssize_t)sizeof(con_get));
  CU_ASSERT_FALSE(srv->screen_look.kept);
  CU_ASSERT_TRUE(left_for_libcoap(con_get, sizeof(con_get), sizeof(con_get)));
  CU_ASSERT_EQUAL(ec_screen_run(srv), 0);
  /* Kept, then read behind the screen's back: the run trusts what was
   * kept (a datagram for libcoap) and makes no look of its own. */
  send_dgram(con_get, sizeof(con_get), sizeof(con_get));
  CU_ASSERT_EQUAL(ec_screen_look(srv, h, sizeof(h), true),
                  (ssize_t)sizeof(con_get));
  CU_ASSERT_TRUE(left_for_libcoap(con_get, sizeof(con_get), sizeof(con_get)));
  CU_ASSERT_EQUAL(ec_screen_run(srv), 1);
  CU_ASSERT_EQUAL(ec_screen_run(srv), 0);
  CU_ASSERT_EQUAL(answer(buf, sizeof(buf), 50), -1);
}

static const ec_test_t tests[] = {
    {test_init_finds_the_plain_socket, "init_finds_the_plain_socket"},
    {test_requests_libcoap_serves_are_left_whole,
     "requests_libcoap_serves_are_left_whole"},
    {test_another_version_is_dropped, "another_version_is_dropped"},
    {test_an_oversized_con_request_gets_4_13_with_block1_and_size1,
     "an_oversized_con_request_gets_4_13_with_block1_and_size1"},
    {test_other_oversized_messages_get_an_rst_or_nothing,
     "other_oversized_messages_get_an_rst_or_nothing"},
    {test_an_unassigned_method_gets_4_05, "an_unassigned_method_gets_4_05"},
    {test_a_kept_look_is_screened_without_looking_again,
     "a_kept_look_is_screened_without_looking_again"},
    {test_screened_datagrams_give_way_to_the_next,
     "screened_datagrams_give_way_to_the_next"},
};

int main(void) {
  return ec_test_main("screen", tests, EC_TEST_COUNT(tests), suite_init,
                      suite_cleanup, NULL);
}
