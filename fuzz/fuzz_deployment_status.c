/* edgecoap fuzz: DeploymentStatus decoding in JSON and CBOR, with an encode/re-decode round trip as oracle. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  for (size_t i = 0; i < 2; i++) {
    ec_arena_t a;
    ec_deployment_status_t st, st2;
    ec_codec_error_t err, err2;
    size_t tlen;
    fuzz_arena_new(&a, size);
    int rc = ec_deployment_status_decode(fuzz_formats[i], data, size, &st, &a,
                                         &err);
    if (rc == 0) {
      fuzz_status_roundtrip(&st);
      /* The route check reads the decoded ID: any spelling must be safe. */
      (void)ec_deployment_status_check_route(&st, st.deployment_id, &err2);
    }
    /* The same document in the other format gets the same answer. */
    uint8_t *t = fuzz_transcoded(fuzz_formats[i], data, size, &tlen);
    if (t != NULL) {
      int rc2 = ec_deployment_status_decode(fuzz_formats[1 - i], t, tlen, &st2,
                                            &a, &err2);
      FUZZ_CHECK(fuzz_same_refusal(rc, &err, rc2, &err2));
      FUZZ_CHECK(rc != 0 || fuzz_status_eq(&st, &st2));
      free(t);
    }
    fuzz_arena_free(&a);
  }
  return 0;
}
