/*
 * frame_fuzz.c - libFuzzer target for the frame protocol codec (calls the
 * codec only).
 *
 * The input is decoded as a stream of frames, with the default maximum
 * payload and with a small one taken from the first byte. Each frame that
 * decodes is re-encoded, and the encoding must decode again to the same
 * fields and encode to the same bytes: encode(decode(encode(decode(x)))) ==
 * encode(decode(x)); it may only shrink (ignorable TLVs are dropped, TLVs
 * reordered). For the first frame, every shorter prefix must ask for more;
 * for an error, every prefix must ask for more or give that same error
 * (errors are sticky once detected, spec section 13.3).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/frame/frame.h"

#define CHECK(c) \
    do { \
        if (!(c)) \
            abort(); \
    } while (0)

static uint8_t out1[FRAME_DEFAULT_MAX_PAYLOAD + 64];
static uint8_t out2[FRAME_DEFAULT_MAX_PAYLOAD + 64];

static int same_str(frame_str_t a, frame_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* The fields of a and b, optional ones where present, are the same. */
static void same_frame(const frame_t *a, const frame_t *b)
{
    uint32_t pr = a->present;

    CHECK(a->type == b->type && a->present == b->present && b->ignored == 0);
    switch (a->type) {
    case FRAME_HELLO:
        CHECK(a->u.hello.version == b->u.hello.version && a->u.hello.flags == b->u.hello.flags);
        CHECK(a->u.hello.keepalive == b->u.hello.keepalive);
        CHECK(same_str(a->u.hello.device_id, b->u.hello.device_id));
        CHECK(!(pr & FRAME_HAS_TOKEN) || same_str(a->u.hello.token, b->u.hello.token));
        CHECK(!(pr & FRAME_HAS_PASSWORD) || same_str(a->u.hello.password, b->u.hello.password));
        CHECK(!(pr & FRAME_HAS_SESSION_EXPIRY) ||
              a->u.hello.session_expiry == b->u.hello.session_expiry);
        CHECK(!(pr & FRAME_HAS_DEVICE_MAX) || a->u.hello.device_max == b->u.hello.device_max);
        break;
    case FRAME_HELLO_ACK:
        CHECK(a->u.hello_ack.result == b->u.hello_ack.result);
        CHECK(a->u.hello_ack.flags == b->u.hello_ack.flags);
        CHECK(a->u.hello_ack.keepalive == b->u.hello_ack.keepalive);
        CHECK(!(pr & FRAME_HAS_SERVER_MAX) ||
              a->u.hello_ack.server_max == b->u.hello_ack.server_max);
        CHECK(!(pr & FRAME_HAS_ACK_SEQ) || a->u.hello_ack.ack_seq == b->u.hello_ack.ack_seq);
        CHECK(!(pr & FRAME_HAS_ACK_EVERY) || a->u.hello_ack.ack_every == b->u.hello_ack.ack_every);
        CHECK(!(pr & FRAME_HAS_ACK_DELAY) || a->u.hello_ack.ack_delay == b->u.hello_ack.ack_delay);
        break;
    case FRAME_DATA:
        CHECK(a->u.data.seq == b->u.data.seq);
        CHECK(!(pr & FRAME_HAS_STREAM_ID) || a->u.data.stream_id == b->u.data.stream_id);
        CHECK(!(pr & FRAME_HAS_STREAM_NAME) ||
              same_str(a->u.data.stream_name, b->u.data.stream_name));
        CHECK(!(pr & FRAME_HAS_TIMESTAMP) || a->u.data.timestamp == b->u.data.timestamp);
        CHECK(same_str(a->u.data.payload, b->u.data.payload));
        break;
    case FRAME_DATA_ACK:
        CHECK(a->u.data_ack.ack_seq == b->u.data_ack.ack_seq);
        break;
    case FRAME_CMD:
        CHECK(a->u.cmd.id == b->u.cmd.id && a->u.cmd.flags == b->u.cmd.flags);
        CHECK(same_str(a->u.cmd.payload, b->u.cmd.payload));
        break;
    case FRAME_CMD_ACK:
        CHECK(a->u.cmd_ack.id == b->u.cmd_ack.id && a->u.cmd_ack.result == b->u.cmd_ack.result);
        CHECK(same_str(a->u.cmd_ack.body, b->u.cmd_ack.body));
        break;
    case FRAME_ERROR:
        CHECK(a->u.error.code == b->u.error.code && same_str(a->u.error.text, b->u.error.text));
        break;
    case FRAME_BYE:
        CHECK(a->u.bye.reason == b->u.bye.reason);
        break;
    default:
        break;
    }
}

/* Re-encodes f (a frame of rc bytes) and checks the round trip. */
static void roundtrip(const frame_t *f, int rc)
{
    frame_t g;
    size_t n, m;

    n = frame_encode_size(f);
    CHECK(n >= FRAME_HEADER_SIZE && n <= (size_t)rc && n <= sizeof out1);
    CHECK(frame_encode(out1, sizeof out1, f) == n);
    CHECK(frame_decode(out1, n, FRAME_PAYLOAD_LIMIT, &g) == (int)n);
    CHECK(g.size == n);
    same_frame(f, &g);
    m = frame_encode_size(&g);
    CHECK(m == n);
    CHECK(frame_encode(out2, sizeof out2, &g) == m);
    CHECK(memcmp(out1, out2, n) == 0);
}

/* Prefixes of data[0..size) give IOT_EAGAIN, then only the final result. */
static void check_prefixes(const uint8_t *data, size_t size, size_t max, int final,
                           uint8_t code)
{
    size_t k, lim = size < 4096 ? size : 4096;
    int rc, seen = 0;
    frame_t f;

    if (final > 0 && (size_t)final < lim)
        lim = (size_t)final;
    for (k = 0; k < lim; k++) {
        rc = frame_decode(data, k, max, &f);
        if (final > 0 || (rc == IOT_EAGAIN && !seen)) {
            CHECK(rc == IOT_EAGAIN);
            continue;
        }
        CHECK(rc == final && f.error == code);
        seen = 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t maxes[2] = { 0, 0 };
    size_t i, off;
    frame_t f;
    int rc, first;

    /* A second pass with a small maximum drives the TOO_LARGE path. */
    maxes[1] = size > 0 ? (size_t)data[0] + 1 : 1;
    for (i = 0; i < 2; i++) {
        off = 0;
        first = 1;
        while (off < size) {
            rc = frame_decode(data + off, size - off, maxes[i], &f);
            CHECK(rc != 0);
            if (first)
                check_prefixes(data, size, maxes[i], rc, f.error);
            first = 0;
            if (rc < 0) {
                CHECK(rc == IOT_EAGAIN || f.error != 0);
                CHECK(rc != IOT_EAGAIN || f.error == 0);
                break;
            }
            CHECK((size_t)rc <= size - off && f.size == (uint32_t)rc && f.error == 0);
            roundtrip(&f, rc);
            off += (size_t)rc;
        }
    }
    return 0;
}
