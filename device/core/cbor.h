/* edgecoap device core internals: a CBOR writer and a pull reader over caller memory. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_DEVICE_CBOR_H
#define EDGECOAP_DEVICE_CBOR_H

#include "edgecoap/device.h"

/* A writer: with buf NULL and cap 0 it only measures; len counts every byte,
 * also those that did not fit. */
typedef struct {
  uint8_t *buf;
  size_t cap;
  size_t len;
} ec__cbw_t;

/* A head of @p major (0..7) with argument @p v, in its shortest form (what
 * a device writes fits 32 bits). */
void ec__cbw_head(ec__cbw_t *w, uint8_t major, uint32_t v);
/* A definite-length text string. */
void ec__cbw_text(ec__cbw_t *w, const char *s);
/* An unsigned integer of up to 64 bits, in its shortest head (a status
 * message's IDs pass 32 bits). */
void ec__cbw_uint64(ec__cbw_t *w, uint64_t v);

/* A reader over [p, end). Every read checks the bytes left first. */
typedef struct {
  const uint8_t *p;
  const uint8_t *end;
} ec__cbr_t;

/* The major type of the next item without consuming it, or EC_ESYNTAX at the
 * end of input. */
int ec__cbr_peek(const ec__cbr_t *r);
/* A text string: length within the input and EC_DEV_MAX_TEXT, UTF-8 (RFC
 * 3629), no NUL (the codec's C strings cannot hold one). An item of
 * another type is a mistyped member, EC_EBADDOC (4.00 in the codec), also
 * at the end of input. */
int ec__cbr_text(ec__cbr_t *r, ec_dev_str_t *s);
/* An integer inside int64 (major 0 or 1). */
int ec__cbr_int(ec__cbr_t *r, int64_t *v);
/* Skip one item of any type the codec accepts, nested at most @p depth
 * more levels. */
int ec__cbr_skip(ec__cbr_t *r, int depth);

/* A map's members, for the walk all decoders share and for the encoder
 * (device/core/docs.c), in one run of bytes: their count n; for each
 * member two bytes, what its value is to the walk and where in the output
 * struct it goes; their names one after the other, each ended by its NUL
 * and the list by an empty name (so "a\0b\0" names two); and, for a map
 * the encoder writes, two bytes a member for it. A member name is kept
 * once, for both directions, and a map costs no pointers: a member table
 * is two bytes a member (four when encoded too) and the names' own bytes.
 * EC__MAP() declares the type of one, EC__MAP2() of one with the encoder's
 * bytes; pass it as EC__M(map). */
typedef uint8_t ec__map_t;
#define EC__MAP(n, names)                                                     \
  struct {                                                                    \
    uint8_t count;                                                            \
    uint8_t spec[2 * (n)];                                                    \
    char nm[sizeof(names)];                                                   \
  }
#define EC__MAP2(n, names)                                                    \
  struct {                                                                    \
    uint8_t count;                                                            \
    uint8_t spec[2 * (n)];                                                    \
    char nm[sizeof(names)];                                                   \
    uint8_t enc[2 * (n)];                                                     \
  }
#define EC__M(map) (&(map).count)
/* The names of map @p m. */
#define EC__NAMES(m) ((const char *)(m) + 1 + 2 * (m)[0])

/* What a member's value is to the walk (the low nibble of its first spec
 * byte). The high nibble, e, is non-zero for a member that also has an
 * integer key, -2^(e-1): problem details' concise keys (RFC 9290) are -1,
 * -2, -4 and -256. */
enum {
  EC__M_FN = 0,   /* read by the document's own function */
  EC__M_TEXT,     /* an ec_dev_str_t */
  EC__M_NONEMPTY, /* an ec_dev_str_t, not "" */
  EC__M_STATE,    /* an ec_dev_state_t, from its name */
  EC__M_NUM,      /* an int64_t: an integer >= 0, or 1 to 18 decimal digits */
  EC__M_POS       /* a uint64_t: an integer (no digits) >= 1 */
};
#define EC__IKEY(e) ((e) << 4)

/* The index of the name @p s (@p len bytes) in @p names, ASCII case
 * ignored when @p fold; -1 when it is none of them. */
int ec__lookup(const char *names, const char *s, size_t len, bool fold);
/* The @p i-th name of @p names, "" past the last. */
const char *ec__nth(const char *names, unsigned i);

/* The walk enters the map (EC_EBADDOC when the member is of another type,
 * EC_ESYNTAX at the end of input), reads known members of the simple kinds
 * itself and calls @p fn with the member's index for EC__M_FN ones (and
 * @p out advanced by the member's offset, 0 for a function that reads the
 * whole struct);
 * unknown members are skipped; a key given twice, known or not, is
 * refused (EC_ESYNTAX) as the codec refuses duplicate keys. Keys are
 * compared by value, as the codec's tree keys them: an integer key is its
 * decimal text there, so a text key that is an integer's own decimal
 * spelling (no leading zero, no "-0", within int64) is that integer here
 * too, and two heads of one key (one longer than it needs) are one key.
 * Each key is compared with the map's earlier keys, read again: no memory,
 * and at most EC_DEV_MAX_ITEMS members (ec__cbr_enter()). *seen gets a
 * bit per index found. With a map of no members it checks and skips any
 * map (ec__cbr_skip()). */
typedef int (*ec__member_fn)(ec__cbr_t *r, int f, void *out, int depth);
int ec__cbr_map(ec__cbr_t *r, const ec__map_t *m, ec__member_fn fn,
                void *out, int depth, unsigned *seen);
/* Enter a map or array member of @p major: EC_EBADDOC when it is of
 * another type (EC_ESYNTAX at the end of input), EC_ETOOBIG when @p depth
 * (levels still allowed) is used up; *n its elements (pairs for a map),
 * each proven to have at least its minimum size in what is left, so a
 * count claim cannot make a loop outrun the input (EC_ESYNTAX), and then
 * at most EC_DEV_MAX_ITEMS, the codec's cap (EC_ETOOBIG past it).
 * Indefinite lengths are refused. A caller that has checked the type and
 * counts no levels passes @p depth 1. */
int ec__cbr_enter(ec__cbr_t *r, uint8_t major, int depth, size_t *n);
/* A whole document: the checks every decoder makes on its input, the map
 * walk over it from the top (EC_ESYNTAX when it is no map), that nothing
 * follows it, and that the members of the mask @p required (bits as
 * *seen) are there (EC_EBADDOC). */
int ec__cbr_doc(const uint8_t *buf, size_t len, const ec__map_t *m,
                ec__member_fn fn, void *out, unsigned required);

/* The first value of each option of @p nums (n of them in number order,
 * then 0xFFFF), read in one walk over the options of @p m: v NULL when
 * absent, and for an unsigned integer (a 0 bit in @p bytes) also when
 * past 4 bytes; u the value of an integer. A table instead of a walk per
 * option read (device/core/engine.c). */
typedef struct {
  const uint8_t *v;
  size_t len;
  uint32_t u;
} ec__opt_t;
void ec__coap_opts(const ec_coap_msg_t *m, const uint16_t *nums, unsigned n,
                   unsigned bytes, ec__opt_t *o);

/* A report's Request-Id (API.md, "Request-Id"), 12 bytes (the server takes
 * 8 to 16): random from ec_dev_report(); from the outbox 8 random and the
 * record's sequence number. */
#define EC__RID_LEN 12
/* POST the report whose CBOR is the last @p n bytes of @p buf, and whose
 * Request-Id the EC__RID_LEN bytes before them (device/core/engine.c);
 * returns as ec_dev_report(). */
int ec__dev_post(ec_dev_t *dev, const char *device_id, const char *deployment_id,
                 uint8_t *buf, size_t cap, size_t n, ec_dev_cb_t cb, void *user);

/* strlen(), memcmp(), memcpy() and memset(.., 0, ..) of the core's own: its strings are short, and a
 * byte loop is a few bytes of code where a C library's word-at-a-time
 * versions are a few hundred (docs/DEVICE.md, the size table). */
size_t ec__len(const char *s);
/* ec__copy() copies front to back, so a copy to a lower address may overlap. */
void ec__copy(void *dst, const void *src, size_t n);
void ec__zero(void *dst, size_t n);
bool ec__same(const void *a, const void *b, size_t n);
/* The value of the @p n (> 0) decimal digits at @p s, or -1 when there are
 * none or one is no digit (n <= 18 cannot overflow; 19 digits, counted in
 * uint64_t, are their value when the result is cast back to it). */
int64_t ec__digits(const char *s, size_t n);

#endif /* EDGECOAP_DEVICE_CBOR_H */
