/* edgecoap: CUnit tests of the per-session peers (server/coap/peer.c). */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <coap3/coap.h>

#include "peer.h"
#include "srvfx.h"
#include "suite.h"
#include "udpsess.h"

/*
 * A peer is made once per session and found again by the session's remote
 * address (the screen's lookup, screen.c) through a table of
 * EC_PEER_BUCKETS chains. Where a chain holds several peers, a peer
 * dropped from its head, middle or end must leave the others findable. Client
 * sessions of one libcoap context stand for the peers (nothing is sent).
 */

/* With 600 addresses in 1024 buckets some chains hold several (a socket
 * each: under the usual 1024 descriptors). */
#define N_SESS 600

static coap_context_t *ctx;
static coap_session_t *sess[N_SESS];
static ec_server_t *srv;

static int suite_init(void) {
  if ((srv = ec_test_server_new(&ctx, 0)) == NULL)
    return -1;
  for (int i = 0; i < N_SESS; i++)
    if ((sess[i] = ec_test_session_to(ctx, (uint16_t)(20000 + i))) == NULL)
      return -1;
  return 0;
}

static int suite_cleanup(void) {
  ec_test_server_free(srv, ctx);
  return 0;
}

static ec_peer_t *find(int i) {
  return ec_peer_find(srv, coap_session_get_addr_remote(sess[i]));
}

/* Peers on srv->peers, walked forwards, checking the back links. */
static int listed(void) {
  int n = 0;
  for (ec_peer_t *p = srv->peers; p != NULL; p = p->next, n++)
    if (p->next != NULL && p->next->prev != p)
      return -1;
  return n;
}

static void test_every_peer_is_found_by_its_address(void) {
  int longest = 0;
  for (int i = 0; i < N_SESS; i++) {
    ec_peer_t *p = ec_peer_get(srv, sess[i]);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_PTR_EQUAL(p->session, sess[i]);
    CU_ASSERT_PTR_EQUAL(ec_peer_get(srv, sess[i]), p); /* once per session */
  }
  CU_ASSERT_EQUAL(listed(), N_SESS);
  for (int b = 0; b < EC_PEER_BUCKETS; b++) {
    int n = 0;
    for (ec_peer_t *p = srv->peer_hash[b]; p != NULL; p = p->hnext)
      n++;
    longest = n > longest ? n : longest;
  }
  CU_ASSERT(longest >= 2); /* the chains below are really chains */
  int found = 0;
  for (int i = 0; i < N_SESS; i++)
    found += find(i) == coap_session_get_app_data(sess[i]);
  CU_ASSERT_EQUAL(found, N_SESS);
  /* An address no session has is no peer's. */
  coap_address_t none = *coap_session_get_addr_remote(sess[0]);
  none.addr.sin.sin_port = htons(19999);
  CU_ASSERT_PTR_NULL(ec_peer_find(srv, &none));
}

static void test_dropping_peers_leaves_the_others_findable(void) {
  /* Every third peer goes, wherever it stands in its chain and list. */
  for (int i = 0; i < N_SESS; i += 3)
    ec_peer_drop(srv, sess[i]);
  int ok = 0;
  for (int i = 0; i < N_SESS; i++) {
    bool gone = i % 3 == 0;
    ec_peer_t *p = find(i);
    ok += gone ? p == NULL && coap_session_get_app_data(sess[i]) == NULL
               : p != NULL && p->session == sess[i];
  }
  CU_ASSERT_EQUAL(ok, N_SESS);
  CU_ASSERT_EQUAL(listed(), N_SESS - (N_SESS + 2) / 3);
  /* Dropping a session without a peer does nothing. */
  ec_peer_drop(srv, sess[0]);
  CU_ASSERT_EQUAL(listed(), N_SESS - (N_SESS + 2) / 3);
  /* A dropped session's peer comes back new. */
  ec_peer_t *p = ec_peer_get(srv, sess[3]);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  CU_ASSERT_FALSE(p->verified);
  CU_ASSERT_PTR_NULL(p->watches);
  CU_ASSERT_PTR_EQUAL(find(3), p);
}

static void test_an_upload_is_cleared(void) {
  ec_peer_t *p = ec_peer_get(srv, sess[1]);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  p->up_path = strdup("device/d/deployment/x/status");
  p->up_buf = malloc(64);
  p->up_len = 64;
  CU_ASSERT_FATAL(p->up_path != NULL && p->up_buf != NULL);
  ec_peer_upload_clear(p);
  CU_ASSERT(p->up_path == NULL && p->up_buf == NULL && p->up_len == 0);
  ec_peer_upload_clear(p); /* twice is harmless */
  /* A peer dropped mid-upload takes its buffers along (ASan would say). */
  p->up_path = strdup("x");
  p->up_buf = malloc(16);
  ec_peer_drop(srv, sess[1]);
  CU_ASSERT_PTR_NULL(find(1));
}

static void test_free_all_forgets_every_peer(void) {
  ec_peer_free_all(srv);
  CU_ASSERT_PTR_NULL(srv->peers);
  int left = 0;
  for (int b = 0; b < EC_PEER_BUCKETS; b++)
    left += srv->peer_hash[b] != NULL;
  for (int i = 0; i < N_SESS; i++)
    left += coap_session_get_app_data(sess[i]) != NULL;
  CU_ASSERT_EQUAL(left, 0);
  /* And the table works again from empty. */
  CU_ASSERT_PTR_NOT_NULL(ec_peer_get(srv, sess[7]));
  CU_ASSERT_PTR_EQUAL(find(7), coap_session_get_app_data(sess[7]));
  CU_ASSERT_EQUAL(listed(), 1);
}

static const ec_test_t tests[] = {
    {test_every_peer_is_found_by_its_address,
     "every_peer_is_found_by_its_address"},
    {test_dropping_peers_leaves_the_others_findable,
     "dropping_peers_leaves_the_others_findable"},
    {test_an_upload_is_cleared, "an_upload_is_cleared"},
    {test_free_all_forgets_every_peer, "free_all_forgets_every_peer"},
};

int main(void) {
  return ec_test_main("peer", tests, EC_TEST_COUNT(tests), suite_init,
                      suite_cleanup, NULL);
}
