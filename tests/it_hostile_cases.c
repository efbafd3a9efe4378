/* edgecoap: hostile input: the payloads of it_hostile's first test. */
/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>

#include "it_hostile.h"

/*
 * Each body is byte strings written as literals: a head, a unit repeated,
 * a middle, a second unit repeated and a tail (most bodies are the head
 * alone). CBOR is spelled out byte by byte; a text string is its head
 * (0x60 + length below 24, 0x78 and one length byte up to 255) and then
 * its characters, in a literal of their own so that no hex escape runs
 * into them. The two bodies no repetition describes have a builder.
 */

/* The literals below are laid out by hand: clang-format would put every
 * CBOR head on a line of its own. */
/* clang-format off */

/* Refused while parsing: the same on every API. Provisioning answers a
 * body over a codec cap as INVALID_REQUEST_PRAM; only the transport's body
 * cap stays a problem-details 4.13. */
#define PARSE(nm, fmt)                                                         \
  .name = nm, .cf = fmt, .apis = ALL_APIS, .want_doc = 400,                    \
  .title_doc = "malformed-body", .want_prov = 400,                             \
  .title_prov = "INVALID_REQUEST_PRAM"
#define PARSE_BIG(nm, fmt)                                                     \
  .name = nm, .cf = fmt, .apis = ALL_APIS, .want_doc = 413,                    \
  .title_doc = "too-large", .want_prov = 400,                                  \
  .title_prov = "INVALID_REQUEST_PRAM"
/* Past the body cap: refused while uploading, 4.13 on every API. */
#define UPLOAD_BIG(nm, fmt)                                                    \
  .name = nm, .cf = fmt, .apis = ALL_APIS, .want_doc = 413,                    \
  .title_doc = "too-large", .want_prov = 413, .title_prov = "too-large"
/* A Content-Format that is not 50 or 60. */
#define BAD_CF(nm, fmt)                                                        \
  .name = nm, .cf = fmt, .apis = ALL_APIS, .want_doc = 415,                    \
  .title_doc = "unsupported-content-format", .want_prov = 415,                 \
  .title_prov = "unsupported-content-format",                                  \
  .head = HB("{\"action\":\"select\"}")
/* One API with problem details (title NULL: not checked). */
#define DOC(api, nm, fmt, code, title)                                         \
  .name = nm, .cf = fmt, .apis = ONLY(api), .want_doc = code,                  \
  .title_doc = title
/* Provisioning alone, with its seed error (NULL: not checked). */
#define PROV(nm, fmt, code, error)                                             \
  .name = nm, .cf = fmt, .apis = ONLY(API_PROV), .want_prov = code,            \
  .title_prov = error

/* 8-byte arguments: 2^63, 2^32 and 2^64-1. */
#define U64_2_63 "\x80\x00\x00\x00\x00\x00\x00\x00"
#define U64_2_32 "\x00\x00\x00\x01\x00\x00\x00\x00"
#define U64_MAX "\xff\xff\xff\xff\xff\xff\xff\xff"
/* CBOR text strings the bodies use. */
#define T_ACTION "\x66" "action"
#define T_SELECT "\x66" "select"
#define T_LIMIT "\x65" "limit"
#define T_COMPONENTS "\x6a" "components"
#define T_PROV_ID "\x6f" "provisioning_id"
#define T_PROV_COMP_ID "\x78\x19" "provisioning_component_id"
/* A CBOR array head of 20000 items. */
#define A20000 "\x99\x4e\x20"

/* The seeded deployment document in CBOR (DEP_DOC_HEAD's members, then
 * "components"), as a map of @p pairs: 6 when a member follows
 * CB_DEP_COMPONENTS, 5 when the body gives the components itself. */
#define CB_DEP_DOC(pairs)                                                      \
  pairs "\x6a" "apiVersion" "\x73" "deployment.margo/v1" "\x64" "kind"         \
  "\x70" "DeploymentStatus" "\x6c" "deploymentId" "\x78\x24" DEP              \
  "\x66" "status" "\xa1\x65" "state" "\x69" "Installed" T_COMPONENTS
#define CB_DEP_COMPONENTS                                                      \
  "\x81\xa2\x64" "name" "\x61" "a" "\x65" "state" "\x69" "Installed"
#define CB_DEP_AMV CB_DEP_DOC("\xa6") CB_DEP_COMPONENTS "\x76" "adoptedManifestVersion"

/* clang-format on */

/* 20,000 components, each an object of its own name (c0, c1...). */
static void components_20000(bb_t *b) {
  bb_str(b, DEP_DOC_HEAD "\"components\":[");
  for (int i = 0; i < 20000; i++) {
    char comp[64];
    snprintf(comp, sizeof(comp), "%s{\"name\":\"c%d\",\"state\":\"Failed\"}",
             i ? "," : "", i);
    bb_str(b, comp);
  }
  bb_str(b, "]}");
}

/* A select of 20,000 provisioning_component_ids 24..223, none stored. */
static void select_20000(bb_t *b) {
  bb_str(b, "\xa2" T_ACTION T_SELECT T_PROV_COMP_ID A20000);
  for (int i = 0; i < 20000; i++) {
    uint8_t id[2] = {0x18, (uint8_t)(24 + i % 200)};
    bb_put(b, id, sizeof(id));
  }
}

/* clang-format off */
const hcase_t hostile_cases[] = {
    /* Nesting 100,000 deep: past the body cap in both formats, refused
     * while uploading, with and without Size1. Without Size1 the 64th
     * block is refused: it ends at 64 KiB with more to come, so the body
     * will be larger than the cap; Size1 gives it away at once. */
    {UPLOAD_BIG("JSON nested 100000 deep", 50), .unit = HB("["),
     .times = 100000, .unit2 = HB("]"), .times2 = 100000,
     .want_blocks = BODY_CAP / BLOCK},
    {UPLOAD_BIG("JSON nested 100000 deep, Size1", 50), .unit = HB("["),
     .times = 100000, .unit2 = HB("]"), .times2 = 100000, .size1 = true,
     .want_blocks = 1},
    {UPLOAD_BIG("CBOR nested 100000 deep", 60), .unit = HB("\x81"),
     .times = 100000, .mid = HB("\x00"), .want_blocks = BODY_CAP / BLOCK},
    {UPLOAD_BIG("CBOR indefinite nested 100000 deep, Size1", 60),
     .unit = HB("\x9f"), .times = 100000, .unit2 = HB("\xff"),
     .times2 = 100000, .size1 = true, .want_blocks = 1},

    /* Deep nesting within the body cap: the depth cap (16) refuses it. */
    {PARSE_BIG("JSON arrays nested 32000 deep", 50), .unit = HB("["),
     .times = 32000, .unit2 = HB("]"), .times2 = 32000},
    {PARSE_BIG("JSON objects nested 8000 deep", 50), .unit = HB("{\"a\":"),
     .times = 8000, .mid = HB("1"), .unit2 = HB("}"), .times2 = 8000},
    {PARSE_BIG("CBOR arrays nested 60000 deep", 60), .unit = HB("\x81"),
     .times = 60000, .mid = HB("\x00")},
    {PARSE_BIG("CBOR indefinite arrays nested 30000 deep", 60),
     .unit = HB("\x9f"), .times = 30000, .unit2 = HB("\xff"), .times2 = 30000},
    {PARSE_BIG("CBOR maps nested 20000 deep", 60), .unit = HB("\xa1\x61\x61"),
     .times = 20000, .mid = HB("\x00")},

    /* Length claims of 2^63 (and 2^64-1) with a few bytes behind them. */
    {PARSE("CBOR text claiming 2^63 bytes", 60),
     .head = HB("\x7b" U64_2_63 "abc")},
    {PARSE("CBOR map value text claiming 2^63 bytes", 60),
     .head = HB("\xa1\x6a" "apiVersion" "\x7b" U64_2_63 "abc")},
    {PARSE("CBOR array claiming 2^63 items", 60),
     .head = HB("\x9b" U64_2_63 "\x01\x02\x03")},
    {PARSE("CBOR map claiming 2^63 pairs", 60),
     .head = HB("\xbb" U64_2_63 "\x61" "a" "\x01")},
    {PARSE("CBOR map claiming 2^64-1 pairs", 60),
     .head = HB("\xbb" U64_MAX "\x61" "a" "\x01")},
    {PARSE("CBOR array claiming 2^64-1 items inside a map", 60),
     .head = HB("\xa1" T_COMPONENTS "\x9b" U64_MAX "\x01")},
    {PARSE("CBOR text claiming 2^32 bytes as a map key", 60),
     .head = HB("\xa1\x7b" U64_2_32 "action")},

    /* Indefinite-length items never closed. */
    {PARSE("CBOR indefinite map unterminated", 60),
     .head = HB("\xbf" T_ACTION T_SELECT)},
    {PARSE("CBOR indefinite array unterminated", 60),
     .head = HB("\x9f\x01\x02\x03")},
    {PARSE("CBOR indefinite text unterminated", 60),
     .head = HB("\x7f\x61\x61\x61\x62")},
    {PARSE("CBOR indefinite array unterminated inside a map", 60),
     .head = HB("\xa1" T_COMPONENTS "\x9f\x01")},
    {PARSE("CBOR break outside an indefinite item", 60),
     .head = HB("\xa1\x61\x61\xff")},

    /* Invalid UTF-8. */
    {PARSE("JSON value with invalid UTF-8", 50),
     .head = HB("{\"apiVersion\":\"\xc3\x28\"}")},
    {PARSE("JSON key with invalid UTF-8", 50), .head = HB("{\"\xff\xfe\":1}")},
    {PARSE("JSON overlong UTF-8", 50),
     .head = HB("{\"action\":\"\xc0\xaf\"}")},
    {PARSE("JSON UTF-8 surrogate", 50),
     .head = HB("{\"action\":\"\xed\xa0\x80\"}")},
    {PARSE("JSON escaped lone surrogate", 50),
     .head = HB("{\"action\":\"\\ud800\"}")},
    {PARSE("CBOR text with invalid UTF-8", 60),
     .head = HB("\xa1" T_ACTION "\x62\xff\xfe")},
    {PARSE("CBOR key with invalid UTF-8", 60),
     .head = HB("\xa1\x62\xc3\x28\x01")},
    {PARSE("CBOR character split across text chunks", 60),
     .head = HB("\xa1" T_ACTION "\x7f\x61\xc3\x61\xa9\xff")},
    {PARSE("CBOR text past U+10FFFF", 60),
     .head = HB("\xa1" T_ACTION "\x64\xf4\x90\x80\x80")},

    /* Numbers beyond int64, at the parsing stage. */
    {PARSE("JSON integer 2^64", 50),
     .head = HB("{\"action\":\"select\",\"limit\":18446744073709551616}")},
    {PARSE("JSON integer -2^63-1", 50),
     .head = HB("{\"action\":\"select\",\"limit\":-9223372036854775809}")},
    {PARSE("CBOR unsigned 2^63", 60),
     .head = HB("\xa1" T_LIMIT "\x1b" U64_2_63)},
    {PARSE("CBOR negative -2^64", 60), .head = HB("\xa1" T_LIMIT "\x3b" U64_MAX)},

    /* Duplicate keys, in either format, also an integer key and its text. */
    {PARSE("JSON duplicate key", 50),
     .head = HB("{\"action\":\"select\",\"action\":\"select\"}")},
    {PARSE("JSON duplicate key nested", 50),
     .head = HB("{\"a\":{\"state\":\"Failed\",\"state\":\"Failed\"}}")},
    {PARSE("CBOR duplicate key", 60),
     .head = HB("\xa2" T_ACTION T_SELECT T_ACTION T_SELECT)},
    {PARSE("CBOR integer key 1 beside text key \"1\"", 60),
     .head = HB("\xa2\x01\x00\x61\x31\x00")},

    /* Arrays past the item cap (20,000), inside the body cap. */
    {PARSE_BIG("JSON array of 20001 integers", 50), .head = HB("{\"x\":[1"),
     .unit = HB(",1"), .times = 20000, .tail = HB("]}")},
    {PARSE_BIG("CBOR array of 20001 integers", 60),
     .head = HB("\xa1\x61" "x" "\x99\x4e\x21"), .unit = HB("\x01"),
     .times = 20001},
    {PARSE_BIG("CBOR indefinite array of 20001 integers", 60),
     .head = HB("\xa1\x61" "x" "\x9f"), .unit = HB("\x01"), .times = 20001,
     .tail = HB("\xff")},

    /* Content-Formats that are not 50 or 60. */
    {BAD_CF("Content-Format 0 (text/plain)", 0)},
    {BAD_CF("Content-Format 41 (XML)", 41)},
    {BAD_CF("Content-Format 257 (problem+cbor)", 257)},
    {BAD_CF("Content-Format 11542", 11542)},
    {BAD_CF("Content-Format 65535", 65535)},

    /* ---- deployment status: integers where reals or huge numbers come.
     * A real is a wrong type; an integer jansson cannot hold, a body that
     * does not parse. */
    {DOC(API_DEP, "adoptedManifestVersion 1.5", 50, 400, "invalid-type"),
     .head = HB(DEP_DOC_HEAD DEP_DOC_COMPONENTS
                ",\"adoptedManifestVersion\":1.5}")},
    {DOC(API_DEP, "adoptedManifestVersion 1e3", 50, 400, "invalid-type"),
     .head = HB(DEP_DOC_HEAD DEP_DOC_COMPONENTS
                ",\"adoptedManifestVersion\":1e3}")},
    {DOC(API_DEP, "adoptedManifestVersion 1.0", 50, 400, "invalid-type"),
     .head = HB(DEP_DOC_HEAD DEP_DOC_COMPONENTS
                ",\"adoptedManifestVersion\":1.0}")},
    {DOC(API_DEP, "adoptedManifestVersion 2^63", 50, 400, "malformed-body"),
     .head = HB(DEP_DOC_HEAD DEP_DOC_COMPONENTS
                ",\"adoptedManifestVersion\":9223372036854775808}")},
    {DOC(API_DEP, "adoptedManifestVersion 2^64", 50, 400, "malformed-body"),
     .head = HB(DEP_DOC_HEAD DEP_DOC_COMPONENTS
                ",\"adoptedManifestVersion\":18446744073709551616}")},
    {DOC(API_DEP, "CBOR adoptedManifestVersion half-float 1.5", 60, 400,
         "invalid-type"),
     .head = HB(CB_DEP_AMV "\xf9\x3e\x00")},
    {DOC(API_DEP, "CBOR adoptedManifestVersion double 1.0", 60, 400,
         "invalid-type"),
     .head = HB(CB_DEP_AMV "\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00")},
    {DOC(API_DEP, "CBOR adoptedManifestVersion 2^64-1", 60, 400,
         "malformed-body"),
     .head = HB(CB_DEP_AMV "\x1b" U64_MAX)},
    {DOC(API_DEP, "JSON duplicate apiVersion", 50, 400, "malformed-body"),
     .head = HB(DEP_DOC_HEAD DEP_DOC_COMPONENTS
                ",\"apiVersion\":\"deployment.margo/v1\"}")},
    {DOC(API_DEP, "JSON 20000 components (integers)", 50, 413, "too-large"),
     .head = HB(DEP_DOC_HEAD "\"components\":[1"), .unit = HB(",1"),
     .times = 19999, .tail = HB("]}")},
    {DOC(API_DEP, "CBOR 20000 components (small integers)", 60, 413,
         "too-large"),
     .head = HB(CB_DEP_DOC("\xa5") A20000), .unit = HB("\x01"),
     .times = 20000},
    {DOC(API_DEP, "JSON 20000 components (objects, past the body cap)", 50,
         413, "too-large"),
     .build = components_20000},

    /* ---- status messages ---------------------------------------------- */
    {DOC(API_MSG_POST, "messageCode 1e3", 50, 400, NULL),
     .head = HB("{\"orderId\":\"hostile\",\"messageCode\":1e3}")},
    {DOC(API_MSG_POST, "messageCode 1.5", 50, 400, NULL),
     .head = HB("{\"orderId\":\"hostile\",\"messageCode\":1.5}")},
    {DOC(API_MSG_POST, "messageCode 101.0", 50, 400, NULL),
     .head = HB("{\"orderId\":\"hostile\",\"messageCode\":101.0}")},
    {DOC(API_MSG_POST, "messageCode 2^64", 50, 400, "malformed-body"),
     .head = HB("{\"orderId\":\"hostile\","
                "\"messageCode\":18446744073709551616}")},
    {DOC(API_MSG_POST, "messageCode \"1e3\"", 50, 400, NULL),
     .head = HB("{\"orderId\":\"hostile\",\"messageCode\":\"1e3\"}")},
    {DOC(API_MSG_POST, "messageCode \"2^64\"", 50, 400, NULL),
     .head = HB("{\"orderId\":\"hostile\","
                "\"messageCode\":\"18446744073709551616\"}")},
    {DOC(API_MSG_POST, "CBOR messageCode float 1000.0", 60, 400, NULL),
     .head = HB("\xa2\x67" "orderId" "\x67" "hostile" "\x6b" "messageCode"
                "\xf9\x63\xd0")},
    {DOC(API_MSG_POST, "JSON duplicate orderId", 50, 400, "malformed-body"),
     .head = HB("{\"messageCode\":101,\"orderId\":\"a\",\"orderId\":\"b\"}")},
    {DOC(API_MSG_POST, "JSON batch of 20000 integers", 50, 413, "too-large"),
     .head = HB("{\"StatusMessages\":[1"), .unit = HB(",1"), .times = 19999,
     .tail = HB("]}")},
    {DOC(API_MSG_POST, "CBOR batch of 20000 small integers", 60, 413,
         "too-large"),
     .head = HB("\xa1\x6e" "StatusMessages" A20000), .unit = HB("\x01"),
     .times = 20000},
    {DOC(API_MSG_POST, "JSON macAddress of 20000 entries", 50, 413,
         "too-large"),
     .head = HB("{\"messageCode\":101,\"orderId\":\"h\",\"macAddress\":[1"),
     .unit = HB(",1"), .times = 19999, .tail = HB("]}")},
    {DOC(API_MSG_POST, "CBOR messageParameters of 20000 entries", 60, 413,
         "too-large"),
     .head = HB("\xa3\x6b" "messageCode" "\x18\x65\x67" "orderId" "\x61" "h"
                "\x71" "messageParameters" A20000),
     .unit = HB("\x01"), .times = 20000},

    {DOC(API_MSG_FETCH, "FETCH fromStatusMessageID 1.5", 50, 400, NULL),
     .head = HB("{\"fromStatusMessageID\":1.5}")},
    {DOC(API_MSG_FETCH, "FETCH fromStatusMessageID 2^64", 50, 400, NULL),
     .head = HB("{\"fromStatusMessageID\":18446744073709551616}")},
    {DOC(API_MSG_FETCH, "FETCH fromStatusMessageID \"10^20\"", 50, 400, NULL),
     .head = HB("{\"fromStatusMessageID\":\"99999999999999999999\"}")},
    {DOC(API_MSG_FETCH, "FETCH toStatusMessageID -2^63-1", 50, 400, NULL),
     .head = HB("{\"toStatusMessageID\":-9223372036854775809}")},
    {DOC(API_MSG_FETCH, "FETCH limit 1e3", 50, 400, NULL),
     .head = HB("{\"limit\":1e3}")},
    {DOC(API_MSG_FETCH, "FETCH limit \"1e3\"", 50, 400, NULL),
     .head = HB("{\"limit\":\"1e3\"}")},
    {DOC(API_MSG_FETCH, "FETCH duplicate orderId", 50, 400, NULL),
     .head = HB("{\"orderId\":\"a\",\"orderId\":\"a\"}")},
    {DOC(API_MSG_FETCH, "FETCH orderId as 20000 integers", 50, 400, NULL),
     .head = HB("{\"orderId\":[1"), .unit = HB(",1"), .times = 19999,
     .tail = HB("]}")},
    {DOC(API_MSG_FETCH, "CBOR FETCH limit of 20000 small integers", 60, 400,
         NULL),
     .head = HB("\xa1" T_LIMIT A20000), .unit = HB("\x01"), .times = 20000},

    /* ---- provisioning ------------------------------------------------- */
    {PROV("provisioning_id 2^64", 50, 400, "INVALID_REQUEST_PRAM"),
     .head = HB("{\"action\":\"select\","
                "\"provisioning_id\":18446744073709551616}")},
    {PROV("provisioning_id 1.5", 50, 400, "INVALID_PROVISIONING_ID_PRAM"),
     .head = HB("{\"action\":\"select\",\"provisioning_id\":1.5}")},
    {PROV("provisioning_id 1e3", 50, 400, "INVALID_PROVISIONING_ID_PRAM"),
     .head = HB("{\"action\":\"select\",\"provisioning_id\":1e3}")},
    {PROV("provisioning_id \"2^64\"", 50, 400, "INVALID_PROVISIONING_ID_PRAM"),
     .head = HB("{\"action\":\"select\","
                "\"provisioning_id\":\"18446744073709551616\"}")},
    {PROV("provisioning_id \"10^22\"", 50, 400,
          "INVALID_PROVISIONING_ID_PRAM"),
     .head = HB("{\"action\":\"select\","
                "\"provisioning_id\":\"99999999999999999999999\"}")},
    {PROV("provisioning_id -1", 50, 400, "INVALID_PROVISIONING_ID_PRAM"),
     .head = HB("{\"action\":\"select\",\"provisioning_id\":-1}")},
    {PROV("CBOR provisioning_id 2^64-1", 60, 400, "INVALID_REQUEST_PRAM"),
     .head = HB("\xa2" T_ACTION T_SELECT T_PROV_ID "\x1b" U64_MAX)},
    {PROV("CBOR provisioning_id float 11.0", 60, 400,
          "INVALID_PROVISIONING_ID_PRAM"),
     .head = HB("\xa2" T_ACTION T_SELECT T_PROV_ID "\xf9\x49\x80")},
    {PROV("insert of 20000 unknown sensor ids", 50, 400,
          "INVALID_COMPONENT_SENSOR_ID_PRAM"),
     .head = HB("{\"action\":\"insert\",\"provisioning_id\":11,"
                "\"component_type\":0,\"component_id\":[7"),
     .unit = HB(",7"), .times = 19999, .tail = HB("]}")},
    {PROV("CBOR update of 20000 unknown provisioning_component_ids", 60, 400,
          NULL),
     .head = HB("\xa3" T_ACTION "\x66" "update" "\x6d" "active_status"
                "\x01" T_PROV_COMP_ID A20000),
     .unit = HB("\x09"), .times = 20000},
    {PROV("CBOR select of 20000 provisioning_component_ids", 60, 404,
          "NO_DATA"),
     .build = select_20000},
};
/* clang-format on */

const size_t n_hostile_cases = sizeof(hostile_cases) / sizeof(hostile_cases[0]);

/* An absent part is {NULL, 0}: nothing to copy (memcpy wants a pointer). */
static void put(bb_t *b, hbytes_t part) {
  if (part.len > 0)
    bb_put(b, part.p, part.len);
}

void hostile_body(const hcase_t *c, bb_t *b) {
  b->len = 0;
  if (c->build != NULL) {
    c->build(b);
    return;
  }
  put(b, c->head);
  for (size_t i = 0; i < c->times; i++)
    put(b, c->unit);
  put(b, c->mid);
  for (size_t i = 0; i < c->times2; i++)
    put(b, c->unit2);
  put(b, c->tail);
}
