/*
 * frame_test.c - byte-vector tests of the frame protocol codec (STYLE rule
 * 22; the wire format is docs/frame-protocol.md).
 *
 * Two tables: valid payloads of every message type and malformed frames,
 * each malformed one with the IOT_E* class and the ERROR code it must give.
 * Valid payloads get their 9-byte header at run time (so no length is
 * typed by hand); each frame is decoded whole, as each of its prefixes
 * (which must all ask for more), against a guard page, one byte at a time
 * inside a stream of all the others, and re-encoded: the canonical ones must
 * come back byte for byte. Then a hand-built round trip per message type,
 * the annotated example of the spec as hex, bad magic at each byte, size
 * limits, the encoder's refusals, the validators and the names. Run under
 * ASan + UBSan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/frame/frame.h"

#include "codec_test_util.h"

/* A byte vector: compound literal plus its size. */
#define B(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })

#define MAGIC 0xAB, 0xCD, 0xEF, 0x99

/* Writes the header for a payload of n bytes and the payload; returns the size. */
static size_t mk(uint8_t *out, uint8_t type, const uint8_t *pl, size_t n)
{
    static const uint8_t magic[] = { MAGIC };

    memcpy(out, magic, 4);
    out[4] = type;
    out[5] = (uint8_t)(n >> 24);
    out[6] = (uint8_t)(n >> 16);
    out[7] = (uint8_t)(n >> 8);
    out[8] = (uint8_t)n;
    if (n)
        memcpy(out + 9, pl, n);
    return 9 + n;
}

typedef struct vec {
    const char *name;
    int canonical;    /* 1 if frame_encode() must give back exactly these bytes. */
    uint8_t type;
    const uint8_t *b; /* The payload; the header is added by mk(). */
    size_t n;
} vec_t;

/* "sensor-1" */
#define SENSOR1 's', 'e', 'n', 's', 'o', 'r', '-', '1'
#define ID64 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', \
             'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', \
             'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', \
             'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'

static const vec_t valid[] = {
    /* The frames of the annotated example (spec section 14). */
    { "spec HELLO", 1, FRAME_HELLO,
      B(0x01, 0x01, 0x00, 0x3C, 0x08, SENSOR1, 0x00, 0x10,
        0x01, 0x00, 0x06, 't', 'o', 'k', '1', '2', '3', 0x04, 0x00, 0x04, 0, 0, 0x04, 0x00) },
    { "spec HELLO_ACK", 1, FRAME_HELLO_ACK,
      B(0x00, 0x00, 0x00, 0x3C, 0x00, 0x11, 0x10, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00,
        0x12, 0x00, 0x02, 0x00, 0x10, 0x13, 0x00, 0x02, 0x00, 0xC8) },
    { "spec DATA defining stream 1", 1, FRAME_DATA,
      B(0, 0, 0, 1, 0x00, 0x17, 0x20, 0x00, 0x04, 't', 'e', 'm', 'p', 0x21, 0x00, 0x02, 0x00,
        0x01, 0x22, 0x00, 0x08, 0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00,
        '{', '"', 't', '"', ':', '2', '1', '.', '5', '}') },
    { "spec DATA by stream id", 1, FRAME_DATA,
      B(0, 0, 0, 2, 0x00, 0x05, 0x21, 0x00, 0x02, 0x00, 0x01,
        '{', '"', 't', '"', ':', '2', '1', '.', '6', '}') },
    { "spec DATA_ACK", 1, FRAME_DATA_ACK, B(0, 0, 0, 2, 0, 0) },
    { "spec CMD", 1, FRAME_CMD, B(0, 0, 0, 1, 0, 0, 0, 'r', 'e', 'b', 'o', 'o', 't') },
    { "spec CMD_ACK", 1, FRAME_CMD_ACK,
      B(0, 0, 0, 1, 0, 0, 0, '{', '"', 'u', 'p', '"', ':', '4', '2', '}') },
    { "spec PING", 1, FRAME_PING, B(0, 0) },
    { "spec PONG", 1, FRAME_PONG, B(0, 0) },
    { "spec BYE", 1, FRAME_BYE, B(0, 0, 0) },

    /* HELLO. */
    { "HELLO minimal, one-byte id, no keepalive", 1, FRAME_HELLO, B(1, 0, 0, 0, 1, 'a', 0, 0) },
    { "HELLO 64-byte id", 1, FRAME_HELLO, B(1, 0, 0xFF, 0xFF, 64, ID64, 0, 0) },
    { "HELLO id with every allowed kind of byte", 1, FRAME_HELLO,
      B(1, 0, 0, 10, 8, 'A', 'z', '0', '9', '-', '_', '.', ':', 0, 0) },
    { "HELLO password and session expiry", 1, FRAME_HELLO,
      B(1, 0, 0, 30, 1, 'd', 0, 13, 0x02, 0, 3, 'p', 'w', 0x00, 0x03, 0, 4, 0xFF, 0xFF, 0xFF,
        0xFF) },
    { "HELLO TLVs out of order", 0, FRAME_HELLO,
      B(1, 0, 0, 30, 1, 'd', 0, 13, 0x03, 0, 4, 0, 0, 0, 0, 0x02, 0, 3, 'p', 'w', 0x00) },
    { "HELLO ignorable TLV 0x80 and 0xFF", 0, FRAME_HELLO,
      B(1, 1, 0, 30, 1, 'd', 0, 8, 0x80, 0, 2, 'h', 'i', 0xFF, 0, 0) },

    /* HELLO_ACK. */
    { "HELLO_ACK refused bad credentials", 1, FRAME_HELLO_ACK, B(0x08, 0, 0, 0, 0, 0) },
    { "HELLO_ACK unknown refusal code", 1, FRAME_HELLO_ACK, B(0xC3, 0, 0, 0, 0, 0) },
    { "HELLO_ACK session present with ACK_SEQ", 1, FRAME_HELLO_ACK,
      B(0, 1, 0x01, 0x2C, 0, 7, 0x11, 0, 4, 0xFF, 0xFF, 0xFF, 0xFE) },
    { "HELLO_ACK SERVER_MAX at its minimum, ACK_DELAY 0", 1, FRAME_HELLO_ACK,
      B(0, 0, 0, 0, 0, 12, 0x10, 0, 4, 0, 0, 0, 64, 0x13, 0, 2, 0, 0) },

    /* DATA. */
    { "DATA default stream, empty payload", 1, FRAME_DATA, B(0, 0, 0, 0, 0, 0) },
    { "DATA seq 0xFFFFFFFF, binary payload", 1, FRAME_DATA,
      B(0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x00, 0xFF, 0xAB, 0xCD, 0xEF, 0x99) },
    { "DATA multi-level stream name", 1, FRAME_DATA,
      B(0, 0, 0, 7, 0, 12, 0x20, 0, 9, 'a', '/', 'b', '.', 'c', '/', 'd', '_', 'e', 'x') },
    { "DATA stream name starting with cmd but longer", 1, FRAME_DATA,
      B(0, 0, 0, 7, 0, 9, 0x20, 0, 6, 'c', 'm', 'd', 's', '/', 'x') },
    { "DATA stream id 65535 and timestamp 0", 1, FRAME_DATA,
      B(0, 0, 0, 9, 0, 16, 0x21, 0, 2, 0xFF, 0xFF, 0x22, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 'z') },
    { "DATA ignorable TLV before stream id", 0, FRAME_DATA,
      B(0, 0, 0, 9, 0, 9, 0xA5, 0, 1, 0x00, 0x21, 0, 2, 0, 3, 'z') },

    /* The rest. */
    { "DATA_ACK 0xFFFFFFFF", 1, FRAME_DATA_ACK, B(0xFF, 0xFF, 0xFF, 0xFF, 0, 0) },
    { "CMD DUP, empty payload", 1, FRAME_CMD, B(0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0, 0) },
    { "CMD_ACK app error 0x80, empty body", 1, FRAME_CMD_ACK, B(0, 0, 0, 9, 0x80, 0, 0) },
    { "CMD_ACK reserved result 0x42", 1, FRAME_CMD_ACK, B(0, 0, 0, 9, 0x42, 0, 0, 'x') },
    { "ERROR with text", 1, FRAME_ERROR,
      B(0x02, 0, 0, 'b', 'a', 'd', ' ', 'm', 'a', 'g', 'i', 'c') },
    { "ERROR implementation code 0xFE, text not UTF-8", 1, FRAME_ERROR, B(0xFE, 0, 0, 0xFF, 0xC0) },
    { "BYE taken over", 1, FRAME_BYE, B(0x03, 0, 0) },
    { "BYE unknown reason", 1, FRAME_BYE, B(0x77, 0, 0) },
    { "PING with an ignorable TLV", 0, FRAME_PING, B(0, 4, 0x90, 0, 1, 0x00) },
};

#define NVALID (sizeof valid / sizeof valid[0])

static int same_str(frame_str_t a, frame_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* Frames a and b carry the same fields: optional ones only where present
 * (ignored TLVs aside). */
static void assert_same_frame(const frame_t *a, const frame_t *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->present, b->present);
    switch (a->type) {
    case FRAME_HELLO:
        assert_int_equal(a->u.hello.version, b->u.hello.version);
        assert_int_equal(a->u.hello.flags, b->u.hello.flags);
        assert_int_equal(a->u.hello.keepalive, b->u.hello.keepalive);
        assert_true(same_str(a->u.hello.device_id, b->u.hello.device_id));
        if (a->present & FRAME_HAS_TOKEN)
            assert_true(same_str(a->u.hello.token, b->u.hello.token));
        if (a->present & FRAME_HAS_PASSWORD)
            assert_true(same_str(a->u.hello.password, b->u.hello.password));
        if (a->present & FRAME_HAS_SESSION_EXPIRY)
            assert_int_equal(a->u.hello.session_expiry, b->u.hello.session_expiry);
        if (a->present & FRAME_HAS_DEVICE_MAX)
            assert_int_equal(a->u.hello.device_max, b->u.hello.device_max);
        break;
    case FRAME_HELLO_ACK:
        assert_int_equal(a->u.hello_ack.result, b->u.hello_ack.result);
        assert_int_equal(a->u.hello_ack.flags, b->u.hello_ack.flags);
        assert_int_equal(a->u.hello_ack.keepalive, b->u.hello_ack.keepalive);
        if (a->present & FRAME_HAS_SERVER_MAX)
            assert_int_equal(a->u.hello_ack.server_max, b->u.hello_ack.server_max);
        if (a->present & FRAME_HAS_ACK_SEQ)
            assert_int_equal(a->u.hello_ack.ack_seq, b->u.hello_ack.ack_seq);
        if (a->present & FRAME_HAS_ACK_EVERY)
            assert_int_equal(a->u.hello_ack.ack_every, b->u.hello_ack.ack_every);
        if (a->present & FRAME_HAS_ACK_DELAY)
            assert_int_equal(a->u.hello_ack.ack_delay, b->u.hello_ack.ack_delay);
        break;
    case FRAME_DATA:
        assert_int_equal(a->u.data.seq, b->u.data.seq);
        if (a->present & FRAME_HAS_STREAM_ID)
            assert_int_equal(a->u.data.stream_id, b->u.data.stream_id);
        if (a->present & FRAME_HAS_STREAM_NAME)
            assert_true(same_str(a->u.data.stream_name, b->u.data.stream_name));
        if (a->present & FRAME_HAS_TIMESTAMP)
            assert_true(a->u.data.timestamp == b->u.data.timestamp);
        assert_true(same_str(a->u.data.payload, b->u.data.payload));
        break;
    case FRAME_DATA_ACK:
        assert_int_equal(a->u.data_ack.ack_seq, b->u.data_ack.ack_seq);
        break;
    case FRAME_CMD:
        assert_int_equal(a->u.cmd.id, b->u.cmd.id);
        assert_int_equal(a->u.cmd.flags, b->u.cmd.flags);
        assert_true(same_str(a->u.cmd.payload, b->u.cmd.payload));
        break;
    case FRAME_CMD_ACK:
        assert_int_equal(a->u.cmd_ack.id, b->u.cmd_ack.id);
        assert_int_equal(a->u.cmd_ack.result, b->u.cmd_ack.result);
        assert_true(same_str(a->u.cmd_ack.body, b->u.cmd_ack.body));
        break;
    case FRAME_ERROR:
        assert_int_equal(a->u.error.code, b->u.error.code);
        assert_true(same_str(a->u.error.text, b->u.error.text));
        break;
    case FRAME_BYE:
        assert_int_equal(a->u.bye.reason, b->u.bye.reason);
        break;
    default:
        break;
    }
}

/* Encodes f, decodes the result, and checks that the fields survive. */
static size_t roundtrip(const frame_t *f, uint8_t *out, size_t cap)
{
    frame_t g;
    size_t n;

    n = frame_encode_size(f);
    assert_true(n >= FRAME_HEADER_SIZE && n <= cap);
    assert_int_equal(frame_encode(out, cap, f), n);
    assert_int_equal(frame_decode(out, n, FRAME_PAYLOAD_LIMIT, &g), (int)n);
    assert_int_equal(g.size, n);
    assert_int_equal(g.ignored, 0);
    assert_same_frame(f, &g);
    return n;
}

static void test_valid_whole(void **state)
{
    uint8_t in[256], out[256], out2[256];
    frame_t f, g;
    size_t i, n, m;
    int rc;

    (void)state;
    for (i = 0; i < NVALID; i++) {
        const vec_t *v = &valid[i];

        n = mk(in, v->type, v->b, v->n);
        rc = frame_decode(in, n, 0, &f);
        if (rc != (int)n)
            fail_msg("%s: decode returned %d (%s, code %d), want %zu", v->name, rc,
                     iot_strerror(rc), f.error, n);
        assert_int_equal(f.size, n);
        assert_int_equal(f.type, v->type);
        assert_int_equal(f.error, 0);
        /* A payload exactly at max_payload is allowed; one byte less is not. */
        assert_int_equal(frame_decode(in, n, v->n, &g), (int)n);
        if (v->n > 0) {
            assert_int_equal(frame_decode(in, n, v->n - 1, &g), IOT_ETOOLARGE);
            assert_int_equal(g.error, FRAME_ERR_TOO_LARGE);
        }
        m = frame_encode_size(&f);
        assert_true(m > 0 && m <= sizeof out);
        assert_int_equal(frame_encode(out, sizeof out, &f), m);
        if (v->canonical && (m != n || memcmp(out, in, n) != 0))
            fail_msg("%s: re-encoding differs", v->name);
        if (!v->canonical)
            assert_true(m < n || memcmp(out, in, n) != 0);
        /* The encoding of a decoded frame decodes to the same fields and
         * encodes to itself. */
        rc = frame_decode(out, m, 0, &g);
        if (rc != (int)m)
            fail_msg("%s: re-decode returned %d", v->name, rc);
        assert_same_frame(&f, &g);
        assert_int_equal(frame_encode(out2, sizeof out2, &g), m);
        assert_memory_equal(out, out2, m);
    }
}

/* Every prefix of a frame asks for more. */
static void test_valid_truncations(void **state)
{
    uint8_t in[256];
    frame_t f;
    size_t i, k, n;
    int rc;

    (void)state;
    for (i = 0; i < NVALID; i++) {
        n = mk(in, valid[i].type, valid[i].b, valid[i].n);
        for (k = 0; k < n; k++) {
            rc = frame_decode(k ? in : NULL, k, 0, &f);
            if (rc != IOT_EAGAIN)
                fail_msg("%s: prefix %zu returned %d", valid[i].name, k, rc);
        }
    }
}

/*
 * The frame sits at the very end of a page whose successor is PROT_NONE, so
 * any read past its end faults (picohttpparser's test trick).
 */
static void test_valid_guard_page(void **state)
{
    uint8_t in[256], *end, *at;
    frame_t f;
    size_t i, k, n;
    int rc, want;

    (void)state;
    end = guard_page_new();
    for (i = 0; i < NVALID; i++) {
        n = mk(in, valid[i].type, valid[i].b, valid[i].n);
        for (k = 0; k <= n; k++) {
            at = end - k;
            memcpy(at, in, k);
            want = k == n ? (int)k : IOT_EAGAIN;
            rc = frame_decode(at, k, 0, &f);
            if (rc != want)
                fail_msg("%s: at guard, prefix %zu returned %d", valid[i].name, k, rc);
        }
    }
    guard_page_free(end);
}

/*
 * All vectors back to back, fed step bytes at a time into a growing window
 * as a socket might deliver them; each frame must come out exactly when its
 * last byte arrives (wslay's 1-byte feed).
 */
static void feed_stream(size_t step)
{
    uint8_t stream[4096];
    size_t ends[NVALID], len = 0, start = 0, avail, got = 0, i;
    frame_t f;
    int rc;

    for (i = 0; i < NVALID; i++) {
        assert_true(len + 9 + valid[i].n <= sizeof stream);
        len += mk(stream + len, valid[i].type, valid[i].b, valid[i].n);
        ends[i] = len;
    }
    for (avail = 0; avail <= len; avail += step) {
        for (;;) {
            rc = frame_decode(stream + start, avail - start, 0, &f);
            if (rc == IOT_EAGAIN)
                break;
            if (rc <= 0)
                fail_msg("stream step %zu at %zu: %d", step, start, rc);
            assert_true(got < NVALID);
            assert_int_equal(start + (size_t)rc, ends[got]);
            assert_int_equal(f.type, valid[got].type);
            start += (size_t)rc;
            got++;
        }
        if (avail == len)
            break;
        if (avail + step > len)
            avail = len - step;
    }
    assert_int_equal(got, NVALID);
    assert_int_equal(start, len);
}

static void test_stream_one_byte(void **state)
{
    (void)state;
    feed_stream(1);
}

static void test_stream_whole(void **state)
{
    (void)state;
    feed_stream(4096);
    feed_stream(7);
}

/* ---- Malformed and refused input ---- */

typedef struct bad {
    const char *name;
    int err;          /* IOT_E* class. */
    uint8_t code;     /* FRAME_ERR_* code. */
    int raw;          /* 1: b is the whole input; 0: b is a payload of type. */
    uint8_t type;
    const uint8_t *b;
    size_t n;
} bad_t;

#define MAL IOT_EMALFORMED, FRAME_ERR_MALFORMED
#define PRO IOT_EPROTO, FRAME_ERR_PROTOCOL
#define MAGIC_ IOT_EMALFORMED, FRAME_ERR_BAD_MAGIC
#define TYPE_ IOT_EUNSUPPORTED, FRAME_ERR_UNKNOWN_TYPE
#define VER IOT_EUNSUPPORTED, FRAME_ERR_UNSUPPORTED_VERSION
#define BADID IOT_EPROTO, FRAME_ERR_BAD_DEVICE_ID
#define STREAM IOT_EPROTO, FRAME_ERR_BAD_STREAM
#define BIG IOT_ETOOLARGE, FRAME_ERR_TOO_LARGE
#define RAW 1, 0
#define PL(t) 0, t

static const bad_t bad[] = {
    /* Header (raw bytes; each detected before the frame is complete). */
    { "bad magic at byte 0", MAGIC_, RAW, B(0x00) },
    { "bad magic at byte 1", MAGIC_, RAW, B(0xAB, 0xCC) },
    { "bad magic at byte 2", MAGIC_, RAW, B(0xAB, 0xCD, 0xEE) },
    { "bad magic at byte 3", MAGIC_, RAW, B(0xAB, 0xCD, 0xEF, 0x98) },
    { "magic in little endian", MAGIC_, RAW, B(0x99, 0xEF, 0xCD, 0xAB, 0x05, 0, 0, 0, 2, 0, 0) },
    { "an HTTP request", MAGIC_, RAW, B('G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P') },
    { "an MQTT CONNECT", MAGIC_, RAW, B(0x10, 0x0C, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60) },
    { "type 0", TYPE_, RAW, B(MAGIC, 0x00) },
    { "type 0x0B", TYPE_, RAW, B(MAGIC, 0x0B) },
    { "type 0xFF", TYPE_, RAW, B(MAGIC, 0xFF, 0, 0, 0, 2, 0, 0) },
    { "length 65537 over the default", BIG, RAW, B(MAGIC, 0x03, 0x00, 0x01, 0x00, 0x01) },
    { "length 0xFFFFFFFF", BIG, RAW, B(MAGIC, 0x05, 0xFF, 0xFF, 0xFF, 0xFF) },

    /* The payload layout (section 4). */
    { "PING without tlv_len", MAL, PL(FRAME_PING), B(0) },
    { "PING empty payload", MAL, PL(FRAME_PING), B() },
    { "PONG trailing byte", MAL, PL(FRAME_PONG), B(0, 0, 0) },
    { "DATA_ACK trailing byte", MAL, PL(FRAME_DATA_ACK), B(0, 0, 0, 1, 0, 0, 0) },
    { "HELLO_ACK trailing byte after TLVs", MAL, PL(FRAME_HELLO_ACK),
      B(0, 0, 0, 0, 0, 5, 0x12, 0, 2, 0, 1, 0) },
    { "tlv_len past the payload", MAL, PL(FRAME_DATA), B(0, 0, 0, 1, 0, 6, 0x21, 0, 2, 0) },
    { "TLV head cut inside the block", MAL, PL(FRAME_DATA), B(0, 0, 0, 1, 0, 2, 0x21, 0) },
    { "TLV value past the block", MAL, PL(FRAME_DATA),
      B(0, 0, 0, 1, 0, 4, 0x21, 0, 2, 0, 1, 'x') },
    { "TLV value past the payload", MAL, PL(FRAME_HELLO),
      B(1, 0, 0, 0, 1, 'a', 0, 6, 0x01, 0, 9, 'a', 'b', 'c') },
    { "TLV type 0", MAL, PL(FRAME_DATA), B(0, 0, 0, 1, 0, 3, 0x00, 0, 0) },
    { "unknown critical TLV 0x7F", MAL, PL(FRAME_DATA), B(0, 0, 0, 1, 0, 3, 0x7F, 0, 0) },
    { "STREAM_NAME in HELLO (misplaced)", MAL, PL(FRAME_HELLO),
      B(1, 0, 0, 0, 1, 'a', 0, 4, 0x20, 0, 1, 'x') },
    { "TOKEN in DATA (misplaced)", MAL, PL(FRAME_DATA), B(0, 0, 0, 1, 0, 4, 0x01, 0, 1, 'x') },
    { "critical TLV in PING", MAL, PL(FRAME_PING), B(0, 4, 0x01, 0, 1, 'x') },
    { "STREAM_ID of 3 bytes", MAL, PL(FRAME_DATA), B(0, 0, 0, 1, 0, 6, 0x21, 0, 3, 0, 0, 1) },
    { "TIMESTAMP of 4 bytes", MAL, PL(FRAME_DATA), B(0, 0, 0, 1, 0, 7, 0x22, 0, 4, 0, 0, 0, 1) },
    { "SESSION_EXPIRY of 2 bytes", MAL, PL(FRAME_HELLO),
      B(1, 0, 0, 0, 1, 'a', 0, 5, 0x03, 0, 2, 0, 1) },
    { "STREAM_ID twice", PRO, PL(FRAME_DATA),
      B(0, 0, 0, 1, 0, 10, 0x21, 0, 2, 0, 1, 0x21, 0, 2, 0, 2) },
    { "first TLV error wins (dup before malformed)", PRO, PL(FRAME_DATA),
      B(0, 0, 0, 1, 0, 13, 0x21, 0, 2, 0, 1, 0x21, 0, 2, 0, 2, 0x7F, 0, 0) },

    /* HELLO. */
    { "HELLO empty payload", MAL, PL(FRAME_HELLO), B() },
    { "HELLO version 0", VER, PL(FRAME_HELLO), B(0) },
    { "HELLO version 2 (rest not parsed)", VER, PL(FRAME_HELLO), B(2, 0xFF, 0xFF) },
    { "HELLO without keepalive", MAL, PL(FRAME_HELLO), B(1, 0, 0) },
    { "HELLO id_len past the payload", MAL, PL(FRAME_HELLO), B(1, 0, 0, 0, 5, 'a', 'b') },
    { "HELLO without tlv_len", MAL, PL(FRAME_HELLO), B(1, 0, 0, 0, 1, 'a') },
    { "HELLO empty device id", BADID, PL(FRAME_HELLO), B(1, 0, 0, 60, 0, 0, 0) },
    { "HELLO device id with '/'", BADID, PL(FRAME_HELLO), B(1, 0, 0, 60, 3, 'a', '/', 'b', 0, 0) },
    { "HELLO device id with '+'", BADID, PL(FRAME_HELLO), B(1, 0, 0, 60, 1, '+', 0, 0) },
    { "HELLO device id with '#'", BADID, PL(FRAME_HELLO), B(1, 0, 0, 60, 1, '#', 0, 0) },
    { "HELLO device id with a space", BADID, PL(FRAME_HELLO), B(1, 0, 0, 60, 2, 'a', ' ', 0, 0) },
    { "HELLO device id with NUL", BADID, PL(FRAME_HELLO), B(1, 0, 0, 60, 2, 'a', 0, 0, 0) },
    { "HELLO device id with '$'", BADID, PL(FRAME_HELLO), B(1, 0, 0, 60, 2, '$', 'a', 0, 0) },
    { "HELLO device id with UTF-8", BADID, PL(FRAME_HELLO), B(1, 0, 0, 60, 2, 0xC3, 0xA9, 0, 0) },
    { "HELLO device id of 65 bytes", BADID, PL(FRAME_HELLO), B(1, 0, 0, 60, 65, ID64, 'x', 0, 0) },
    { "HELLO reserved flag bit 1", MAL, PL(FRAME_HELLO), B(1, 0x02, 0, 60, 1, 'a', 0, 0) },
    { "HELLO reserved flag bit 7", MAL, PL(FRAME_HELLO), B(1, 0x81, 0, 60, 1, 'a', 0, 0) },
    { "HELLO empty TOKEN", MAL, PL(FRAME_HELLO), B(1, 0, 0, 60, 1, 'a', 0, 3, 0x01, 0, 0) },
    { "HELLO empty PASSWORD", MAL, PL(FRAME_HELLO), B(1, 0, 0, 60, 1, 'a', 0, 3, 0x02, 0, 0) },
    { "HELLO TOKEN and PASSWORD", PRO, PL(FRAME_HELLO),
      B(1, 0, 0, 60, 1, 'a', 0, 8, 0x01, 0, 1, 't', 0x02, 0, 1, 'p') },
    { "HELLO DEVICE_MAX 63", PRO, PL(FRAME_HELLO),
      B(1, 0, 0, 60, 1, 'a', 0, 7, 0x04, 0, 4, 0, 0, 0, 63) },

    /* HELLO_ACK. */
    { "HELLO_ACK without keepalive", MAL, PL(FRAME_HELLO_ACK), B(0, 0, 0) },
    { "HELLO_ACK reserved flag", MAL, PL(FRAME_HELLO_ACK), B(0, 0x02, 0, 0, 0, 0) },
    { "HELLO_ACK session present on a refusal", PRO, PL(FRAME_HELLO_ACK), B(0x09, 1, 0, 0, 0, 0) },
    { "HELLO_ACK ACK_EVERY 0", PRO, PL(FRAME_HELLO_ACK), B(0, 0, 0, 0, 0, 5, 0x12, 0, 2, 0, 0) },
    { "HELLO_ACK SERVER_MAX 10", PRO, PL(FRAME_HELLO_ACK),
      B(0, 0, 0, 0, 0, 7, 0x10, 0, 4, 0, 0, 0, 10) },

    /* DATA. */
    { "DATA seq of 3 bytes", MAL, PL(FRAME_DATA), B(0, 0, 1) },
    { "DATA without tlv_len", MAL, PL(FRAME_DATA), B(0, 0, 0, 1) },
    { "DATA stream id 0", PRO, PL(FRAME_DATA), B(0, 0, 0, 1, 0, 5, 0x21, 0, 2, 0, 0) },
    { "DATA empty stream name", STREAM, PL(FRAME_DATA), B(0, 0, 0, 1, 0, 3, 0x20, 0, 0) },
    { "DATA stream cmd", STREAM, PL(FRAME_DATA), B(0, 0, 0, 1, 0, 6, 0x20, 0, 3, 'c', 'm', 'd') },
    { "DATA stream cmd/ack", STREAM, PL(FRAME_DATA),
      B(0, 0, 0, 1, 0, 10, 0x20, 0, 7, 'c', 'm', 'd', '/', 'a', 'c', 'k') },
    { "DATA stream status", STREAM, PL(FRAME_DATA),
      B(0, 0, 0, 1, 0, 9, 0x20, 0, 6, 's', 't', 'a', 't', 'u', 's') },
    { "DATA stream a//b", STREAM, PL(FRAME_DATA),
      B(0, 0, 0, 1, 0, 7, 0x20, 0, 4, 'a', '/', '/', 'b') },
    { "DATA stream /a", STREAM, PL(FRAME_DATA), B(0, 0, 0, 1, 0, 5, 0x20, 0, 2, '/', 'a') },
    { "DATA stream a/", STREAM, PL(FRAME_DATA), B(0, 0, 0, 1, 0, 5, 0x20, 0, 2, 'a', '/') },
    { "DATA stream with '+'", STREAM, PL(FRAME_DATA), B(0, 0, 0, 1, 0, 5, 0x20, 0, 2, 'a', '+') },
    { "DATA stream with '#'", STREAM, PL(FRAME_DATA), B(0, 0, 0, 1, 0, 4, 0x20, 0, 1, '#') },
    { "DATA stream of 65 bytes", STREAM, PL(FRAME_DATA),
      B(0, 0, 0, 1, 0, 68, 0x20, 0, 65, ID64, 'x') },

    /* CMD, CMD_ACK, ERROR, BYE. */
    { "CMD id 0", PRO, PL(FRAME_CMD), B(0, 0, 0, 0, 0, 0, 0) },
    { "CMD without flags", MAL, PL(FRAME_CMD), B(0, 0, 0, 1) },
    { "CMD reserved flag", MAL, PL(FRAME_CMD), B(0, 0, 0, 1, 0x02, 0, 0) },
    { "CMD_ACK id 0", PRO, PL(FRAME_CMD_ACK), B(0, 0, 0, 0, 0, 0, 0) },
    { "CMD_ACK without result", MAL, PL(FRAME_CMD_ACK), B(0, 0, 0, 1) },
    { "ERROR code 0", PRO, PL(FRAME_ERROR), B(0, 0, 0) },
    { "ERROR without tlv_len", MAL, PL(FRAME_ERROR), B(1) },
    { "BYE empty payload", MAL, PL(FRAME_BYE), B() },
    { "BYE without tlv_len", MAL, PL(FRAME_BYE), B(0) },
    { "BYE trailing byte", MAL, PL(FRAME_BYE), B(0, 0, 0, 0) },
};

#define NBAD (sizeof bad / sizeof bad[0])

/*
 * Each bad input gives its class and code, and so does each longer prefix
 * once the error is detected: before that, a prefix only asks for more.
 */
static void test_malformed(void **state)
{
    uint8_t in[512];
    frame_t f;
    size_t i, k, n;
    int rc, seen;

    (void)state;
    for (i = 0; i < NBAD; i++) {
        const bad_t *v = &bad[i];

        if (v->raw) {
            memcpy(in, v->b, v->n);
            n = v->n;
        } else {
            n = mk(in, v->type, v->b, v->n);
        }
        rc = frame_decode(in, n, 0, &f);
        if (rc != v->err || f.error != v->code)
            fail_msg("%s: got %d (%s) code %d, want %d code %d", v->name, rc, iot_strerror(rc),
                     f.error, v->err, v->code);
        if (v->code == FRAME_ERR_UNSUPPORTED_VERSION) {
            assert_int_equal(f.type, FRAME_HELLO);
            assert_int_equal(f.u.hello.version, in[9]);
        }
        if (!v->raw)
            assert_int_equal(f.type, v->type);
        seen = 0;
        for (k = 0; k < n; k++) {
            rc = frame_decode(in, k, 0, &f);
            if (rc == IOT_EAGAIN && !seen)
                continue;
            if (rc != v->err || f.error != v->code)
                fail_msg("%s: prefix %zu gave %d code %d", v->name, k, rc, f.error);
            seen = 1;
        }
        /* Header errors are found before the frame is complete. */
        if (v->raw && v->code != FRAME_ERR_UNKNOWN_TYPE && v->code != FRAME_ERR_BAD_MAGIC &&
            v->code != FRAME_ERR_TOO_LARGE)
            fail_msg("%s: raw vectors are for header errors", v->name);
    }
}

/* A wrong byte at each magic position is refused as soon as it arrives. */
static void test_bad_magic_each_byte(void **state)
{
    uint8_t in[32];
    frame_t f;
    size_t i, n, k;
    int b;

    (void)state;
    n = mk(in, FRAME_PING, (const uint8_t[]){ 0, 0 }, 2);
    for (i = 0; i < 4; i++) {
        for (b = 0; b < 256; b++) {
            uint8_t save = in[i];

            if (b == save)
                continue;
            in[i] = (uint8_t)b;
            for (k = 0; k <= n; k++) {
                int want = k <= i ? IOT_EAGAIN : IOT_EMALFORMED;

                assert_int_equal(frame_decode(in, k, 0, &f), want);
                if (want != IOT_EAGAIN)
                    assert_int_equal(f.error, FRAME_ERR_BAD_MAGIC);
            }
            in[i] = save;
        }
    }
}

/* Every type byte outside 0x01..0x0A is refused at byte 4. */
static void test_unknown_types(void **state)
{
    uint8_t in[16];
    frame_t f;
    int t;

    (void)state;
    for (t = 0; t < 256; t++) {
        mk(in, (uint8_t)t, (const uint8_t[]){ 0, 0 }, 2);
        if (t >= FRAME_HELLO && t <= FRAME_BYE) {
            assert_int_equal(frame_decode(in, 5, 0, &f), IOT_EAGAIN);
            continue;
        }
        assert_int_equal(frame_decode(in, 5, 0, &f), IOT_EUNSUPPORTED);
        assert_int_equal(f.error, FRAME_ERR_UNKNOWN_TYPE);
        assert_int_equal(f.type, t);
    }
}

/* max_payload: 0 is the default, the limit is checked on the header alone. */
static void test_max_payload(void **state)
{
    static uint8_t big[9 + 70000];
    uint8_t hdr[9] = { MAGIC, FRAME_DATA, 0, 0, 0, 0 };
    frame_t f;
    size_t n;

    (void)state;
    /* 65536 is accepted by default (waits for the payload), 65537 is not. */
    hdr[6] = 0x01;
    assert_int_equal(frame_decode(hdr, 9, 0, &f), IOT_EAGAIN);
    assert_int_equal(f.size, 9 + 65536);
    hdr[8] = 0x01;
    assert_int_equal(frame_decode(hdr, 9, 0, &f), IOT_ETOOLARGE);
    assert_int_equal(f.error, FRAME_ERR_TOO_LARGE);
    assert_int_equal(f.type, FRAME_DATA);
    assert_int_equal(frame_decode(hdr, 9, 65537, &f), IOT_EAGAIN);
    /* A huge max_payload is capped at FRAME_PAYLOAD_LIMIT. */
    memset(hdr + 5, 0xFF, 4);
    assert_int_equal(frame_decode(hdr, 9, SIZE_MAX, &f), IOT_ETOOLARGE);
    hdr[5] = 0x7F;
    hdr[8] = 0xF6; /* 0x7FFFFFF6 = FRAME_PAYLOAD_LIMIT. */
    assert_int_equal(frame_decode(hdr, 9, SIZE_MAX, &f), IOT_EAGAIN);
    assert_int_equal(f.size, 0x7FFFFFFFu);
    hdr[8] = 0xF7;
    assert_int_equal(frame_decode(hdr, 9, SIZE_MAX, &f), IOT_ETOOLARGE);

    /* A DATA of 70000 payload bytes round-trips when allowed. */
    memset(&f, 0, sizeof f);
    f.type = FRAME_DATA;
    f.u.data.seq = 42;
    f.u.data.payload.p = big + 9; /* Any 69994 bytes. */
    f.u.data.payload.len = 70000 - 6;
    n = frame_encode_size(&f);
    assert_int_equal(n, 9 + 70000);
    {
        uint8_t *out = malloc(n);
        frame_t g;

        assert_non_null(out);
        assert_int_equal(frame_encode(out, n, &f), n);
        assert_int_equal(frame_decode(out, n, 0, &g), IOT_ETOOLARGE);
        assert_int_equal(frame_decode(out, n, 70000, &g), (int)n);
        assert_int_equal(g.u.data.payload.len, 70000 - 6);
        free(out);
    }
}

/* ---- A round trip per message type, built by hand ---- */

static frame_str_t S(const char *s)
{
    frame_str_t r = { (const uint8_t *)s, strlen(s) };

    return r;
}

static void test_roundtrip_each_type(void **state)
{
    uint8_t out[8192];
    static uint8_t token[FRAME_MAX_TOKEN];
    static uint8_t text[FRAME_MAX_ERROR_TEXT];
    frame_t f;

    (void)state;
    memset(token, 'T', sizeof token);
    memset(text, 'e', sizeof text);

    memset(&f, 0, sizeof f);
    f.type = FRAME_HELLO;
    f.u.hello.version = FRAME_VERSION;
    f.u.hello.flags = FRAME_HELLO_CLEAN;
    f.u.hello.keepalive = 65535;
    f.u.hello.device_id = S("dev-01:aa.bb_cc");
    f.present = FRAME_HAS_TOKEN | FRAME_HAS_SESSION_EXPIRY | FRAME_HAS_DEVICE_MAX;
    f.u.hello.token.p = token;
    f.u.hello.token.len = sizeof token;
    f.u.hello.session_expiry = 0xFFFFFFFFu;
    f.u.hello.device_max = 64;
    assert_int_equal(roundtrip(&f, out, sizeof out), 9 + 5 + 15 + 2 + 3 + 4096 + 7 + 7);
    f.present = FRAME_HAS_PASSWORD;
    f.u.hello.password = S("hunter2");
    roundtrip(&f, out, sizeof out);

    memset(&f, 0, sizeof f);
    f.type = FRAME_HELLO_ACK;
    f.u.hello_ack.flags = FRAME_HELLO_ACK_SESSION;
    f.u.hello_ack.keepalive = 90;
    f.present = FRAME_HAS_SERVER_MAX | FRAME_HAS_ACK_SEQ | FRAME_HAS_ACK_EVERY |
                FRAME_HAS_ACK_DELAY;
    f.u.hello_ack.server_max = 1u << 20;
    f.u.hello_ack.ack_seq = 7;
    f.u.hello_ack.ack_every = 1;
    f.u.hello_ack.ack_delay = 65535;
    assert_int_equal(roundtrip(&f, out, sizeof out), 9 + 4 + 2 + 7 + 7 + 5 + 5);

    memset(&f, 0, sizeof f);
    f.type = FRAME_DATA;
    f.u.data.seq = 0x80000000u;
    f.present = FRAME_HAS_STREAM_NAME | FRAME_HAS_STREAM_ID | FRAME_HAS_TIMESTAMP;
    f.u.data.stream_name = S("power/phase.1");
    f.u.data.stream_id = 65535;
    f.u.data.timestamp = UINT64_MAX;
    f.u.data.payload = S("\x00\x01\x02");
    f.u.data.payload.len = 3;
    roundtrip(&f, out, sizeof out);

    memset(&f, 0, sizeof f);
    f.type = FRAME_DATA_ACK;
    f.u.data_ack.ack_seq = 0xDEADBEEFu;
    assert_int_equal(roundtrip(&f, out, sizeof out), 15);

    memset(&f, 0, sizeof f);
    f.type = FRAME_PING;
    assert_int_equal(roundtrip(&f, out, sizeof out), 11);
    f.type = FRAME_PONG;
    assert_int_equal(roundtrip(&f, out, sizeof out), 11);

    memset(&f, 0, sizeof f);
    f.type = FRAME_CMD;
    f.u.cmd.id = 1;
    f.u.cmd.flags = FRAME_CMD_DUP;
    f.u.cmd.payload = S("{\"set\":{\"led\":true}}");
    roundtrip(&f, out, sizeof out);

    memset(&f, 0, sizeof f);
    f.type = FRAME_CMD_ACK;
    f.u.cmd_ack.id = 0xFFFFFFFFu;
    f.u.cmd_ack.result = FRAME_CMD_FAILED;
    f.u.cmd_ack.body = S("no such led");
    roundtrip(&f, out, sizeof out);

    memset(&f, 0, sizeof f);
    f.type = FRAME_ERROR;
    f.u.error.code = FRAME_ERR_KEEPALIVE_TIMEOUT;
    f.u.error.text.p = text;
    f.u.error.text.len = sizeof text;
    assert_int_equal(roundtrip(&f, out, sizeof out), 9 + 3 + FRAME_MAX_ERROR_TEXT);

    memset(&f, 0, sizeof f);
    f.type = FRAME_BYE;
    f.u.bye.reason = FRAME_BYE_SESSION_END;
    assert_int_equal(roundtrip(&f, out, sizeof out), 12);

    /* TLV bits of another type are left out, not an error. */
    memset(&f, 0, sizeof f);
    f.type = FRAME_DATA_ACK;
    f.present = FRAME_HAS_TOKEN | FRAME_HAS_STREAM_ID;
    assert_int_equal(frame_encode_size(&f), 15);
}

/* Things the encoder refuses to write (size 0). */
static void test_encode_refuses(void **state)
{
    static uint8_t big[FRAME_MAX_TOKEN + 1];
    frame_t f, base;

    (void)state;
    memset(&base, 0, sizeof base);
    base.type = FRAME_HELLO;
    base.u.hello.version = FRAME_VERSION;
    base.u.hello.device_id = S("d");
    assert_true(frame_encode_size(&base) > 0);

    f = base;
    f.type = 0;
    assert_int_equal(frame_encode_size(&f), 0);
    f.type = 0x0B;
    assert_int_equal(frame_encode_size(&f), 0);
    f = base;
    f.u.hello.version = 2;
    assert_int_equal(frame_encode_size(&f), 0);
    f = base;
    f.u.hello.flags = 0x80;
    assert_int_equal(frame_encode_size(&f), 0);
    f = base;
    f.u.hello.device_id = S("");
    assert_int_equal(frame_encode_size(&f), 0);
    f.u.hello.device_id = S("a/b");
    assert_int_equal(frame_encode_size(&f), 0);
    f.u.hello.device_id.p = NULL;
    f.u.hello.device_id.len = 3;
    assert_int_equal(frame_encode_size(&f), 0);
    f = base;
    f.present = FRAME_HAS_TOKEN;
    f.u.hello.token.p = big;
    f.u.hello.token.len = sizeof big;
    assert_int_equal(frame_encode_size(&f), 0);
    f.u.hello.token.len = 0;
    assert_int_equal(frame_encode_size(&f), 0);
    f.u.hello.token = S("t");
    assert_true(frame_encode_size(&f) > 0);
    f.present |= FRAME_HAS_PASSWORD;
    f.u.hello.password = S("p");
    assert_int_equal(frame_encode_size(&f), 0);
    f = base;
    f.present = FRAME_HAS_DEVICE_MAX;
    f.u.hello.device_max = 63;
    assert_int_equal(frame_encode_size(&f), 0);

    memset(&f, 0, sizeof f);
    f.type = FRAME_HELLO_ACK;
    f.u.hello_ack.result = FRAME_ERR_NOT_AUTHORISED;
    f.u.hello_ack.flags = FRAME_HELLO_ACK_SESSION;
    assert_int_equal(frame_encode_size(&f), 0);
    f.u.hello_ack.flags = 0;
    f.present = FRAME_HAS_ACK_EVERY;
    assert_int_equal(frame_encode_size(&f), 0);

    memset(&f, 0, sizeof f);
    f.type = FRAME_DATA;
    f.present = FRAME_HAS_STREAM_ID;
    assert_int_equal(frame_encode_size(&f), 0);
    f.present = FRAME_HAS_STREAM_NAME;
    f.u.data.stream_name = S("status");
    assert_int_equal(frame_encode_size(&f), 0);
    f.present = 0;
    f.u.data.payload.len = 5;
    assert_int_equal(frame_encode_size(&f), 0); /* Length without bytes. */
    f.u.data.payload.p = big;
    f.u.data.payload.len = (size_t)FRAME_PAYLOAD_LIMIT; /* + seq + tlv_len: over. */
    assert_int_equal(frame_encode_size(&f), 0);
    f.u.data.payload.len = SIZE_MAX;
    assert_int_equal(frame_encode_size(&f), 0);

    memset(&f, 0, sizeof f);
    f.type = FRAME_CMD;
    assert_int_equal(frame_encode_size(&f), 0);
    f.u.cmd.id = 1;
    f.u.cmd.flags = 0x02;
    assert_int_equal(frame_encode_size(&f), 0);
    f.type = FRAME_CMD_ACK;
    f.u.cmd_ack.id = 0;
    assert_int_equal(frame_encode_size(&f), 0);
    memset(&f, 0, sizeof f);
    f.type = FRAME_ERROR;
    assert_int_equal(frame_encode_size(&f), 0);
    f.u.error.code = 1;
    f.u.error.text.p = big;
    f.u.error.text.len = FRAME_MAX_ERROR_TEXT + 1;
    assert_int_equal(frame_encode_size(&f), 0);
}

/* An error found in the payload of a HELLO still reports the type, and the
 * decoder reads nothing past a version it does not know. */
static void test_refused_hello_type(void **state)
{
    uint8_t in[64];
    frame_t f;
    size_t n;

    (void)state;
    n = mk(in, FRAME_HELLO, (const uint8_t[]){ 1, 0, 0, 60, 0, 0, 0 }, 7);
    assert_int_equal(frame_decode(in, n, 0, &f), IOT_EPROTO);
    assert_int_equal(f.type, FRAME_HELLO);
    assert_int_equal(f.error, FRAME_ERR_BAD_DEVICE_ID);
    assert_int_equal(f.size, n);
    n = mk(in, FRAME_HELLO, (const uint8_t[]){ 7 }, 1);
    assert_int_equal(frame_decode(in, n, 0, &f), IOT_EUNSUPPORTED);
    assert_int_equal(f.u.hello.version, 7);
    assert_int_equal(f.error, FRAME_ERR_UNSUPPORTED_VERSION);
}

/* ---- The annotated example of spec section 14, as hex ---- */

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = 0;
    unsigned v;

    while (*h) {
        if (*h == ' ' || *h == '\n') {
            h++;
            continue;
        }
        assert_true(n < cap && sscanf(h, "%2x", &v) == 1);
        out[n++] = (uint8_t)v;
        h += 2;
    }
    return n;
}

static void test_spec_example(void **state)
{
    /* The device-to-server vector of section 14, copied from the spec. */
    static const char dev[] =
        "abcdef99010000001f0101003c0873656e736f722d310010010006746f6b313233040004"
        "00000400abcdef99030000002700000001001720000474656d7021000200012200080000"
        "018bcfe568007b2274223a32312e357dabcdef9903000000150000000200052100020001"
        "7b2274223a32312e367dabcdef990800000010000000010000007b227570223a34327dab"
        "cdef9905000000020000abcdef990a00000003000000";
    /* The server's frames, from the annotated listing. */
    static const char srv[] =
        "ab cd ef 99 02 00 00 00 17 00 00 00 3c 00 11 10 00 04 00 01 00 00 12 00 02 00 10"
        "13 00 02 00 c8"
        "ab cd ef 99 04 00 00 00 06 00 00 00 02 00 00"
        "ab cd ef 99 07 00 00 00 0d 00 00 00 01 00 00 00 72 65 62 6f 6f 74"
        "ab cd ef 99 06 00 00 00 02 00 00"
        "ab cd ef 99 0a 00 00 00 03 00 00 00";
    static const uint8_t dev_types[] = { FRAME_HELLO, FRAME_DATA, FRAME_DATA, FRAME_CMD_ACK,
                                         FRAME_PING, FRAME_BYE };
    static const uint8_t srv_types[] = { FRAME_HELLO_ACK, FRAME_DATA_ACK, FRAME_CMD, FRAME_PONG,
                                         FRAME_BYE };
    uint8_t buf[256], out[256];
    size_t n, off = 0, i = 0, m;
    frame_t f;
    int rc;

    (void)state;
    n = unhex(dev, buf, sizeof buf);
    assert_int_equal(n, 166);
    while (off < n) {
        rc = frame_decode(buf + off, n - off, 0, &f);
        assert_true(rc > 0);
        assert_int_equal(f.type, dev_types[i]);
        m = frame_encode(out, sizeof out, &f);
        assert_int_equal(m, (size_t)rc);
        assert_memory_equal(out, buf + off, m);
        if (i == 0) {
            assert_true(same_str(f.u.hello.device_id, S("sensor-1")));
            assert_true(same_str(f.u.hello.token, S("tok123")));
            assert_int_equal(f.u.hello.device_max, 1024);
            assert_int_equal(f.u.hello.flags, FRAME_HELLO_CLEAN);
            assert_int_equal(f.u.hello.keepalive, 60);
        } else if (i == 1) {
            assert_true(same_str(f.u.data.stream_name, S("temp")));
            assert_int_equal(f.u.data.stream_id, 1);
            assert_true(f.u.data.timestamp == 1700000000000ull);
            assert_true(same_str(f.u.data.payload, S("{\"t\":21.5}")));
        } else if (i == 2) {
            assert_int_equal(f.present, FRAME_HAS_STREAM_ID);
            assert_int_equal(f.u.data.seq, 2);
        } else if (i == 3) {
            assert_true(same_str(f.u.cmd_ack.body, S("{\"up\":42}")));
        }
        off += (size_t)rc;
        i++;
    }
    assert_int_equal(i, sizeof dev_types);

    n = unhex(srv, buf, sizeof buf);
    for (off = 0, i = 0; off < n; i++) {
        rc = frame_decode(buf + off, n - off, 0, &f);
        assert_true(rc > 0);
        assert_int_equal(f.type, srv_types[i]);
        if (i == 0) {
            assert_int_equal(f.u.hello_ack.server_max, 65536);
            assert_int_equal(f.u.hello_ack.ack_every, 16);
            assert_int_equal(f.u.hello_ack.ack_delay, 200);
        }
        off += (size_t)rc;
    }
    assert_int_equal(i, sizeof srv_types);
}

/* ---- Helpers ---- */

static void test_validators(void **state)
{
    (void)state;
    assert_true(frame_device_id_valid((const uint8_t *)"a", 1));
    assert_false(frame_device_id_valid(NULL, 0));
    assert_false(frame_device_id_valid((const uint8_t *)"a b", 3));
    assert_true(frame_stream_name_valid((const uint8_t *)"telemetry", 9));
    assert_true(frame_stream_name_valid((const uint8_t *)"cmdx", 4));
    assert_true(frame_stream_name_valid((const uint8_t *)"x/cmd", 5));
    assert_true(frame_stream_name_valid((const uint8_t *)"statuses/a", 10));
    assert_false(frame_stream_name_valid((const uint8_t *)"cmd/x", 5));
    assert_false(frame_stream_name_valid((const uint8_t *)"status/", 7));
    assert_false(frame_stream_name_valid((const uint8_t *)"/", 1));
    assert_false(frame_stream_name_valid(NULL, 0));
}

static void test_seq_cmp(void **state)
{
    (void)state;
    assert_int_equal(frame_seq_cmp(5, 5), 0);
    assert_true(frame_seq_cmp(6, 5) > 0);
    assert_true(frame_seq_cmp(5, 6) < 0);
    assert_true(frame_seq_cmp(0, 0xFFFFFFFFu) > 0);     /* Wrap-around. */
    assert_true(frame_seq_cmp(0xFFFFFFFFu, 0) < 0);
    assert_true(frame_seq_cmp(0x7FFFFFFFu, 0) > 0);
    assert_true(frame_seq_cmp(0x80000001u, 0) < 0);
    assert_true(frame_seq_cmp(0x80000000u, 0) > 0);     /* Exactly half: after. */
}

static void test_names(void **state)
{
    int c;

    (void)state;
    assert_string_equal(frame_type_name(FRAME_HELLO), "HELLO");
    assert_string_equal(frame_type_name(FRAME_BYE), "BYE");
    assert_string_equal(frame_type_name(0), "UNKNOWN");
    assert_string_equal(frame_type_name(0x0B), "UNKNOWN");
    assert_string_equal(frame_strerror(FRAME_ERR_BAD_MAGIC), "bad magic");
    assert_string_equal(frame_strerror(FRAME_ERR_SERVER_UNAVAILABLE), "server unavailable");
    assert_string_equal(frame_strerror(0), "unknown error");
    for (c = 1; c <= FRAME_ERR_SERVER_UNAVAILABLE; c++)
        assert_string_not_equal(frame_strerror((uint8_t)c), "unknown error");
    for (c = FRAME_ERR_SERVER_UNAVAILABLE + 1; c < 256; c++)
        assert_string_equal(frame_strerror((uint8_t)c), "unknown error");
    assert_string_equal(frame_cmd_result_name(FRAME_CMD_OK), "ok");
    assert_string_equal(frame_cmd_result_name(FRAME_CMD_BAD_ARGUMENTS), "bad_arguments");
    assert_string_equal(frame_cmd_result_name(FRAME_CMD_TOO_LARGE), "too_large");
    assert_string_equal(frame_cmd_result_name(0x09), "unknown");
    assert_string_equal(frame_cmd_result_name(0x7F), "unknown");
    assert_string_equal(frame_cmd_result_name(0x80), "app_error");
    assert_string_equal(frame_cmd_result_name(0xFF), "app_error");
    assert_string_equal(frame_bye_reason_name(FRAME_BYE_TAKEN_OVER), "taken_over");
    assert_string_equal(frame_bye_reason_name(0x05), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_whole),
        cmocka_unit_test(test_valid_truncations),
        cmocka_unit_test(test_valid_guard_page),
        cmocka_unit_test(test_stream_one_byte),
        cmocka_unit_test(test_stream_whole),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bad_magic_each_byte),
        cmocka_unit_test(test_unknown_types),
        cmocka_unit_test(test_max_payload),
        cmocka_unit_test(test_roundtrip_each_type),
        cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_refused_hello_type),
        cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_validators),
        cmocka_unit_test(test_seq_cmp),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
