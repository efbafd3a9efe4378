/* edgecoap tests: map keys given twice or not, as the codec's tree keys them, for the core's cases and their comparison with the codec. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_TEST_DEVICE_KEYS_H
#define EDGECOAP_TEST_DEVICE_KEYS_H

#include <stdbool.h>
#include <stdint.h>

/* Maps of two pairs whose keys are one key given twice (twice) or two
 * keys. The codec's tree keys an integer by its decimal text, so a head
 * longer than needed is the same key, and so is the text of an integer's
 * decimal spelling as the codec writes it (no leading zero, no "-0",
 * within int64), either way round; other texts are other keys.
 * tests/test_device_cases.c has the core refuse or read each (host and
 * Cortex-M), tests/test_device_codec.c has it agree with the codec. */
typedef struct {
  uint8_t b[40];
  uint8_t len;
  bool twice;
} ec_test_keys_t;

static const ec_test_keys_t ec_test_keys[] = {
    {{0xa2, 0x61, 'a', 0x00, 0x78, 0x01, 'a', 0x00}, 8, true},
    {{0xa2, 0x05, 0x00, 0x18, 0x05, 0x00}, 6, true},
    {{0xa2, 0x20, 0x00, 0x38, 0x00, 0x00}, 6, true},
    {{0xa2, 0x05, 0x00, 0x61, '5', 0x00}, 6, true},
    {{0xa2, 0x61, '5', 0x00, 0x05, 0x00}, 6, true},
    {{0xa2, 0x61, '5', 0x00, 0x61, '5', 0x00}, 7, true},
    {{0xa2, 0x22, 0x00, 0x62, '-', '3', 0x00}, 7, true},
    {{0xa2, 0x00, 0x00, 0x61, '0', 0x00}, 6, true},
    {{0xa2, 0x19, 0x01, 0x00, 0x00, 0x63, '2', '5', '6', 0x00}, 10, true},
    /* INT64_MAX and INT64_MIN and their texts */
    {{0xa2, 0x1b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
      0x73, '9', '2', '2', '3', '3', '7', '2', '0', '3', '6', '8', '5',
      '4', '7', '7', '5', '8', '0', '7', 0x00}, 32, true},
    {{0xa2, 0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
      0x74, '-', '9', '2', '2', '3', '3', '7', '2', '0', '3', '6', '8',
      '5', '4', '7', '7', '5', '8', '0', '8', 0x00}, 33, true},
    {{0xa2, 0x05, 0x00, 0x62, '0', '5', 0x00}, 7, false},
    {{0xa2, 0x00, 0x00, 0x62, '-', '0', 0x00}, 7, false},
    {{0xa2, 0x00, 0x00, 0x60, 0x00}, 5, false},
    {{0xa2, 0x05, 0x00, 0x62, '+', '5', 0x00}, 7, false},
    {{0xa2, 0x61, '5', 0x00, 0x62, '0', '5', 0x00}, 8, false},
    {{0xa2, 0x22, 0x00, 0x62, '-', '2', 0x00}, 7, false},
    {{0xa2, 0x22, 0x00, 0x61, '-', 0x00}, 6, false},
    /* INT64_MAX + 1 and INT64_MIN - 1 as text: no integer's */
    {{0xa2, 0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
      0x73, '9', '2', '2', '3', '3', '7', '2', '0', '3', '6', '8', '5',
      '4', '7', '7', '5', '8', '0', '8', 0x00}, 32, false},
    {{0xa2, 0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
      0x74, '-', '9', '2', '2', '3', '3', '7', '2', '0', '3', '6', '8',
      '5', '4', '7', '7', '5', '8', '0', '9', 0x00}, 33, false},
    {{0xa2, 0x00, 0x00, 0x74, '1', '0', '0', '0', '0', '0', '0', '0', '0',
      '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', 0x00}, 25,
     false},
};
#define EC_TEST_N_KEYS (sizeof ec_test_keys / sizeof ec_test_keys[0])

#endif /* EDGECOAP_TEST_DEVICE_KEYS_H */
