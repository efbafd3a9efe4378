/* edgecoap fuzz: DeploymentStatus decoding in JSON and CBOR, with an encode/re-decode round trip as oracle. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  for (size_t i = 0; i < 2; i++) {
    ec_arena_t a;
    ec_deployment_status_t st;
    ec_codec_error_t err;
    fuzz_arena_new(&a, size);
    if (ec_deployment_status_decode(fuzz_formats[i], data, size, &st, &a,
                                    &err) == 0) {
      fuzz_status_roundtrip(&st);
      /* The route check reads the decoded ID: any spelling must be safe. */
      (void)ec_deployment_status_check_route(&st, st.deployment_id, &err);
    }
    fuzz_arena_free(&a);
  }
  return 0;
}
