/*
 * mqtt_test.c - byte-vector tests of the MQTT decoder (STYLE rule 22).
 *
 * Two tables: valid packets of every type in both versions, and malformed
 * packets, each with the error and reason code it must produce, named after
 * the OASIS rule it breaks. Every valid vector is decoded whole, as each of
 * its prefixes (which must all ask for more), against a guard page, fed one
 * byte at a time inside a stream of all the others, and re-encoded: the
 * canonical ones must come back byte for byte. Then the fields of a few
 * decoded vectors, the user property and subscription list iterators, and
 * the 5.0 short forms. Run under ASan + UBSan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/mqtt/mqtt.h"

#include "codec_test_util.h"

/* A byte vector: compound literal plus its size. */
#define B(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })

typedef struct vec {
    const char *name;
    int version;       /* Connection version passed to mqtt_decode (0 = before CONNECT). */
    int canonical;     /* 1 if mqtt_encode() must give back exactly these bytes. */
    const uint8_t *b;
    size_t n;
} vec_t;

#define M 'M', 'Q', 'T', 'T'

static const vec_t valid[] = {
    /* ---- MQTT 3.1.1 ---- */
    { "v4 CONNECT minimal, before CONNECT", 0, 1,
      B(0x10, 0x0C, 0, 4, M, 4, 0x02, 0, 60, 0, 0) },
    { "v4 CONNECT will+user+password", 0, 1,
      B(0x10, 0x1F, 0, 4, M, 4, 0xEE, 0, 10, 0, 2, 'c', '1', 0, 3, 'w', '/', 't', 0, 3, 'b',
        'y', 'e', 0, 1, 'u', 0, 2, 0x00, 0xFF) },
    { "v4 CONNECT UTF-8 client id (second CONNECT decodes)", 4, 1,
      B(0x10, 0x12, 0, 4, M, 4, 0x00, 0, 0, 0, 6, 0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80) },
    { "v4 CONNACK session present", 4, 1, B(0x20, 0x02, 0x01, 0x00) },
    { "v4 CONNACK refused 5", 4, 1, B(0x20, 0x02, 0x00, 0x05) },
    { "v4 PUBLISH qos0", 4, 1, B(0x30, 0x07, 0, 3, 'a', '/', 'b', 'h', 'i') },
    { "v4 PUBLISH qos1 dup retain", 4, 1, B(0x3B, 0x06, 0, 1, 't', 0, 1, 'x') },
    { "v4 PUBLISH qos2 empty payload", 4, 1, B(0x34, 0x05, 0, 1, 't', 0x12, 0x34) },
    { "v4 PUBLISH topic with $ and spaces", 4, 1, B(0x30, 0x06, 0, 4, '$', 'S', ' ', '/') },
    { "v4 PUBACK", 4, 1, B(0x40, 0x02, 0, 1) },
    { "v4 PUBREC", 4, 1, B(0x50, 0x02, 0, 2) },
    { "v4 PUBREL [MQTT-3.6.1-1]", 4, 1, B(0x62, 0x02, 0, 3) },
    { "v4 PUBCOMP", 4, 1, B(0x70, 0x02, 0xFF, 0xFF) },
    { "v4 SUBSCRIBE two filters", 4, 1,
      B(0x82, 0x0C, 0, 10, 0, 3, 'a', '/', '+', 0x01, 0, 1, '#', 0x02) },
    { "v4 SUBSCRIBE shared", 4, 1,
      B(0x82, 0x0F, 0, 1, 0, 10, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', '#', 0x00) },
    { "v4 SUBACK", 4, 1, B(0x90, 0x04, 0, 10, 0x01, 0x80) },
    { "v4 UNSUBSCRIBE", 4, 1, B(0xA2, 0x07, 0, 11, 0, 3, 'a', '/', 'b') },
    { "v4 UNSUBACK", 4, 1, B(0xB0, 0x02, 0, 11) },
    { "v4 PINGREQ", 4, 1, B(0xC0, 0x00) },
    { "v4 PINGRESP", 4, 1, B(0xD0, 0x00) },
    { "v4 DISCONNECT", 4, 1, B(0xE0, 0x00) },

    /* ---- MQTT 5.0 ---- */
    { "v5 CONNECT minimal", 0, 1, B(0x10, 0x0D, 0, 4, M, 5, 0x02, 0, 60, 0, 0, 0) },
    { "v5 CONNECT props, will props, user, password", 0, 1,
      B(0x10, 0x3B, 0, 4, M, 5, 0xEE, 0, 10,
        0x0F, 0x11, 0, 0, 0, 0x78, 0x21, 0, 10, 0x26, 0, 1, 'k', 0, 1, 'v',
        0, 2, 'c', '1',
        0x0B, 0x01, 0x01, 0x03, 0, 1, 'j', 0x18, 0, 0, 0, 5,
        0, 3, 'w', '/', 't', 0, 3, 'b', 'y', 'e', 0, 1, 'u', 0, 2, 0x00, 0xFF) },
    { "v5 CONNECT password without username is allowed", 0, 1,
      B(0x10, 0x10, 0, 4, M, 5, 0x42, 0, 0, 0, 0, 0, 0, 1, 'p') },
    { "v5 CONNECT auth method and data", 0, 1,
      B(0x10, 0x1A, 0, 4, M, 5, 0x00, 0, 0, 0x0D, 0x15, 0, 4, 'S', 'C', 'R', 'M', 0x16, 0, 1,
        0x07, 0x17, 0x01, 0, 0) },
    { "v5 CONNACK with props", 5, 1,
      B(0x20, 0x0D, 0x00, 0x00, 0x0A, 0x12, 0, 2, 'i', 'd', 0x22, 0, 10, 0x24, 0x01) },
    { "v5 CONNACK refused 0x87", 5, 1, B(0x20, 0x03, 0x00, 0x87, 0x00) },
    { "v5 PUBLISH qos1 all publish props", 5, 1,
      B(0x32, 0x34, 0, 3, 'a', '/', 'b', 0, 5,
        0x27, 0x01, 0x01, 0x02, 0, 0, 0, 60, 0x08, 0, 3, 'r', '/', 'x', 0x09, 0, 2, 0xAA, 0xBB,
        0x0B, 0x07, 0x0B, 0x80, 0x01, 0x23, 0, 3, 0x26, 0, 1, 'a', 0, 1, 'b', 0x26, 0, 1, 'c',
        0, 0,
        'h', 'e', 'l', 'l', 'o') },
    { "v5 PUBLISH empty topic with alias", 5, 1,
      B(0x30, 0x07, 0, 0, 0x03, 0x23, 0, 1, 'p') },
    { "v5 PUBACK short form", 5, 1, B(0x40, 0x02, 0, 1) },
    { "v5 PUBACK reason only", 5, 1, B(0x40, 0x03, 0, 1, 0x10) },
    { "v5 PUBACK reason 0 with empty props (long form)", 5, 0,
      B(0x40, 0x04, 0, 1, 0x00, 0x00) },
    { "v5 PUBREC reason + reason string", 5, 1,
      B(0x50, 0x0A, 0, 2, 0x80, 0x06, 0x1F, 0, 3, 'b', 'a', 'd') },
    { "v5 PUBREL 0x92", 5, 1, B(0x62, 0x03, 0, 3, 0x92) },
    { "v5 PUBCOMP", 5, 1, B(0x70, 0x02, 0, 4) },
    { "v5 SUBSCRIBE sub id, options, shared", 5, 1,
      B(0x82, 0x18, 0, 10, 0x02, 0x0B, 0x05, 0, 3, 'a', '/', '+', 0x2D, 0, 10, '$', 's', 'h',
        'a', 'r', 'e', '/', 'g', '/', 'x', 0x02) },
    { "v5 SUBACK", 5, 1, B(0x90, 0x05, 0, 10, 0x00, 0x01, 0xA2) },
    { "v5 UNSUBSCRIBE", 5, 1, B(0xA2, 0x08, 0, 11, 0x00, 0, 3, 'a', '/', 'b') },
    { "v5 UNSUBACK", 5, 1, B(0xB0, 0x05, 0, 11, 0x00, 0x00, 0x11) },
    { "v5 PINGREQ", 5, 1, B(0xC0, 0x00) },
    { "v5 PINGRESP", 5, 1, B(0xD0, 0x00) },
    { "v5 DISCONNECT empty", 5, 1, B(0xE0, 0x00) },
    { "v5 DISCONNECT with will, no props", 5, 1, B(0xE0, 0x01, 0x04) },
    { "v5 DISCONNECT reason 0, empty props (long form)", 5, 0, B(0xE0, 0x02, 0x00, 0x00) },
    { "v5 DISCONNECT props", 5, 1,
      B(0xE0, 0x0B, 0x8E, 0x09, 0x11, 0, 0, 0, 0, 0x1F, 0, 1, 'x') },
    { "v5 AUTH empty", 5, 1, B(0xF0, 0x00) },
    { "v5 AUTH continue", 5, 1,
      B(0xF0, 0x0E, 0x18, 0x0C, 0x15, 0, 4, 'S', 'C', 'R', 'M', 0x16, 0, 2, 0x01, 0x02) },
};

#define NVALID (sizeof valid / sizeof valid[0])

/* The version to encode with: CONNECT carries its own. */
static int enc_version(const vec_t *v, const mqtt_packet_t *p)
{
    return p->type == MQTT_CONNECT ? p->u.connect.proto_level : v->version;
}

static void test_valid_whole(void **state)
{
    mqtt_packet_t p, q;
    uint8_t out[512];
    size_t i, n;
    int rc, ev;

    (void)state;
    for (i = 0; i < NVALID; i++) {
        const vec_t *v = &valid[i];

        rc = mqtt_decode(v->b, v->n, v->version, 0, &p);
        if (rc != (int)v->n)
            fail_msg("%s: decode returned %d (%s), want %zu", v->name, rc,
                     iot_strerror(rc), v->n);
        assert_int_equal(p.size, v->n);
        assert_int_equal(p.type, v->b[0] >> 4);
        /* max_size equal to the packet's size is allowed. */
        assert_int_equal(mqtt_decode(v->b, v->n, v->version, v->n, &q), (int)v->n);

        ev = enc_version(v, &p);
        n = mqtt_encode_size(ev, &p);
        assert_true(n > 0 && n <= sizeof out);
        assert_int_equal(mqtt_encode(out, sizeof out, ev, &p), n);
        if (v->canonical) {
            if (n != v->n || memcmp(out, v->b, n) != 0)
                fail_msg("%s: re-encoding differs", v->name);
        }
        /* The encoding of a decoded packet decodes and re-encodes to itself. */
        rc = mqtt_decode(out, n, v->version, 0, &q);
        if (rc != (int)n)
            fail_msg("%s: re-decode returned %d", v->name, rc);
        {
            uint8_t out2[512];

            assert_int_equal(mqtt_encode(out2, sizeof out2, ev, &q), n);
            assert_memory_equal(out, out2, n);
        }
    }
}

/* Every prefix of a packet asks for more and leaves nothing half-done. */
static void test_valid_truncations(void **state)
{
    mqtt_packet_t p;
    size_t i, k;
    int rc;

    (void)state;
    for (i = 0; i < NVALID; i++) {
        for (k = 0; k < valid[i].n; k++) {
            rc = mqtt_decode(valid[i].b, k, valid[i].version, 0, &p);
            if (rc != IOT_EAGAIN)
                fail_msg("%s: prefix %zu returned %d", valid[i].name, k, rc);
        }
    }
}

/*
 * The packet sits at the very end of a page whose successor is PROT_NONE,
 * so any read past its end faults (picohttpparser's test trick).
 */
static void test_valid_guard_page(void **state)
{
    mqtt_packet_t p;
    uint8_t *end, *at;
    size_t i, k;
    int rc, want;

    (void)state;
    end = guard_page_new();
    for (i = 0; i < NVALID; i++) {
        for (k = 0; k <= valid[i].n; k++) {
            at = end - k;
            memcpy(at, valid[i].b, k);
            want = k == valid[i].n ? (int)k : IOT_EAGAIN;
            rc = mqtt_decode(at, k, valid[i].version, 0, &p);
            if (rc != want)
                fail_msg("%s: at guard, prefix %zu returned %d", valid[i].name, k, rc);
        }
    }
    guard_page_free(end);
}

/*
 * All vectors of one version back to back, fed one byte at a time into a
 * growing window, as a socket might deliver them; each packet must come out
 * exactly when its last byte arrives (wslay's 1-byte feed).
 */
static void feed_stream(int version, size_t step)
{
    uint8_t stream[4096];
    size_t ends[NVALID], idx[NVALID];
    size_t len = 0, npk = 0, start = 0, avail, got = 0, i;
    mqtt_packet_t p;
    int rc;

    for (i = 0; i < NVALID; i++) {
        int vv = valid[i].version ? valid[i].version : (valid[i].b[8] == 5 ? 5 : 4);

        if (vv != version)
            continue;
        assert_true(len + valid[i].n <= sizeof stream);
        memcpy(stream + len, valid[i].b, valid[i].n);
        len += valid[i].n;
        ends[npk] = len;
        idx[npk++] = i;
    }
    for (avail = 0; avail <= len; avail += step) {
        for (;;) {
            rc = mqtt_decode(stream + start, avail - start, version, 0, &p);
            if (rc == IOT_EAGAIN)
                break;
            if (rc <= 0)
                fail_msg("stream v%d at %zu: %d", version, start, rc);
            assert_true(got < npk);
            assert_int_equal(start + (size_t)rc, ends[got]);
            assert_int_equal(p.type, valid[idx[got]].b[0] >> 4);
            start += (size_t)rc;
            got++;
        }
        if (avail == len)
            break;
        if (avail + step > len)
            avail = len - step;
    }
    assert_int_equal(got, npk);
    assert_int_equal(start, len);
}

static void test_stream_one_byte(void **state)
{
    (void)state;
    feed_stream(MQTT_V311, 1);
    feed_stream(MQTT_V5, 1);
}

static void test_stream_whole(void **state)
{
    (void)state;
    feed_stream(MQTT_V311, 4096);
    feed_stream(MQTT_V5, 4096);
    feed_stream(MQTT_V5, 7);
}

/* ---- Malformed and rejected input ---- */

typedef struct bad {
    const char *name;
    int version;
    int err;
    uint8_t reason;
    const uint8_t *b;
    size_t n;
} bad_t;

#define MAL IOT_EMALFORMED, 0x81
#define PRO IOT_EPROTO, 0x82
#define UTF IOT_EUTF8, 0x81
#define TOP IOT_ETOPIC, 0x90
#define UNS IOT_EUNSUPPORTED, 0x84

static const bad_t bad[] = {
    /* Fixed header. */
    { "[MQTT-1.5.5-1] remaining length of 5 bytes", 4, MAL,
      B(0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F) },
    { "[MQTT-1.5.5-1] remaining length not minimal v5", 5, MAL, B(0xC0, 0x80, 0x00) },
    { "[MQTT-1.5.5-1] remaining length not minimal v3", 4, MAL, B(0xC0, 0x80, 0x80, 0x00) },
    { "reserved packet type 0", 4, MAL, B(0x00, 0x00) },
    { "AUTH does not exist in 3.1.1", 4, MAL, B(0xF0, 0x00) },
    { "[MQTT-3.1.0-1] PUBLISH before CONNECT", 0, PRO, B(0x30, 0x03, 0, 1, 't') },
    { "[MQTT-3.1.0-1] PINGREQ before CONNECT", 0, PRO, B(0xC0, 0x00) },
    { "[MQTT-3.1.0-1] AUTH before CONNECT", 0, PRO, B(0xF0, 0x00) },
    { "[MQTT-2.2.2-2] CONNECT flags 1", 0, MAL, B(0x11, 0x00) },
    { "[MQTT-2.2.2-2] PUBACK flags 2", 4, MAL, B(0x42, 0x02, 0, 1) },
    { "[MQTT-3.6.1-1] PUBREL flags 0", 4, MAL, B(0x60, 0x02, 0, 1) },
    { "[MQTT-3.8.1-1] SUBSCRIBE flags 0", 4, MAL, B(0x80, 0x06, 0, 1, 0, 1, 'a', 0) },
    { "[MQTT-3.10.1-1] UNSUBSCRIBE flags 3", 4, MAL, B(0xA3, 0x05, 0, 1, 0, 1, 'a') },
    { "[MQTT-2.2.2-2] PINGREQ flags 1", 5, MAL, B(0xC1, 0x00) },
    { "[MQTT-2.2.2-2] DISCONNECT flags 8", 5, MAL, B(0xE8, 0x00) },
    { "[MQTT-3.3.1-4] PUBLISH QoS 3", 4, MAL, B(0x36, 0x05, 0, 1, 't', 0, 1) },
    { "[MQTT-3.3.1-2] PUBLISH QoS 0 with DUP", 5, MAL, B(0x38, 0x04, 0, 1, 't', 0) },

    /* CONNECT. */
    { "[MQTT-3.1.2-1] MQTT 3.1 MQIsdp level 3", 0, UNS,
      B(0x10, 0x0F, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 0x02, 0, 60, 0, 1, 'a') },
    { "[MQTT-3.1.2-2] level 6", 0, UNS, B(0x10, 0x0C, 0, 4, M, 6, 0x02, 0, 60, 0, 0) },
    { "[MQTT-3.1.2-1] protocol name MQTX", 0, UNS,
      B(0x10, 0x0C, 0, 4, 'M', 'Q', 'T', 'X', 4, 0x02, 0, 60, 0, 0) },
    { "[MQTT-3.1.2-3] reserved connect flag", 0, MAL,
      B(0x10, 0x0C, 0, 4, M, 4, 0x03, 0, 60, 0, 0) },
    { "[MQTT-3.1.2-13] will QoS without will flag", 0, MAL,
      B(0x10, 0x0C, 0, 4, M, 4, 0x0A, 0, 60, 0, 0) },
    { "v5 [MQTT-3.1.2-13] will retain without will flag", 0, MAL,
      B(0x10, 0x0D, 0, 4, M, 5, 0x22, 0, 60, 0, 0, 0) },
    { "[MQTT-3.1.2-14] will QoS 3", 0, MAL,
      B(0x10, 0x12, 0, 4, M, 4, 0x1E, 0, 60, 0, 0, 0, 1, 't', 0, 1, 'x') },
    { "[MQTT-3.1.2-22] password without username in 3.1.1", 0, MAL,
      B(0x10, 0x0F, 0, 4, M, 4, 0x42, 0, 0, 0, 0, 0, 1, 'p') },
    { "CONNECT with a trailing byte", 0, MAL, B(0x10, 0x0D, 0, 4, M, 4, 0x02, 0, 60, 0, 0, 0) },
    { "CONNECT client id runs past the packet", 0, MAL,
      B(0x10, 0x0C, 0, 4, M, 4, 0x02, 0, 60, 0, 5) },
    { "CONNECT without keepalive", 0, MAL, B(0x10, 0x08, 0, 4, M, 4, 0x02) },
    { "CONNECT username flag without username", 0, MAL,
      B(0x10, 0x0C, 0, 4, M, 4, 0x82, 0, 60, 0, 0) },
    { "[MQTT-1.5.3-1] client id overlong NUL C0 80", 0, UTF,
      B(0x10, 0x0E, 0, 4, M, 4, 0x02, 0, 60, 0, 2, 0xC0, 0x80) },
    { "[MQTT-1.5.3-2] client id with U+0000", 0, UTF,
      B(0x10, 0x0E, 0, 4, M, 4, 0x02, 0, 60, 0, 2, 'a', 0x00) },
    { "[MQTT-1.5.3-1] client id with a surrogate", 0, UTF,
      B(0x10, 0x0F, 0, 4, M, 4, 0x02, 0, 60, 0, 3, 0xED, 0xA0, 0x80) },
    { "[MQTT-1.5.3-1] username not UTF-8", 0, UTF,
      B(0x10, 0x0F, 0, 4, M, 4, 0x82, 0, 60, 0, 0, 0, 1, 0xFF) },
    { "will topic with a wildcard", 0, TOP,
      B(0x10, 0x12, 0, 4, M, 4, 0x06, 0, 60, 0, 0, 0, 1, '#', 0, 1, 'x') },
    { "v5 receive maximum 0", 0, PRO,
      B(0x10, 0x10, 0, 4, M, 5, 0x02, 0, 60, 3, 0x21, 0, 0, 0, 0) },
    { "v5 maximum packet size 0", 0, PRO,
      B(0x10, 0x12, 0, 4, M, 5, 0x02, 0, 60, 5, 0x27, 0, 0, 0, 0, 0, 0) },
    { "v5 session expiry twice", 0, PRO,
      B(0x10, 0x17, 0, 4, M, 5, 0x02, 0, 60, 10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2, 0, 0) },
    { "v5 will delay in CONNECT properties", 0, MAL,
      B(0x10, 0x12, 0, 4, M, 5, 0x02, 0, 60, 5, 0x18, 0, 0, 0, 1, 0, 0) },
    { "v5 request problem information 2", 0, PRO,
      B(0x10, 0x0F, 0, 4, M, 5, 0x02, 0, 60, 2, 0x17, 0x02, 0, 0) },
    { "v5 auth data without method", 0, PRO,
      B(0x10, 0x11, 0, 4, M, 5, 0x02, 0, 60, 4, 0x16, 0, 1, 0x07, 0, 0) },
    { "v5 topic alias in will properties", 0, MAL,
      B(0x10, 0x15, 0, 4, M, 5, 0x06, 0, 60, 0, 0, 0, 3, 0x23, 0, 1, 0, 1, 't', 0, 0) },
    { "v5 property length past the packet", 0, MAL,
      B(0x10, 0x0D, 0, 4, M, 5, 0x02, 0, 60, 0x05, 0, 0) },
    { "v5 property length not minimal", 0, MAL,
      B(0x10, 0x0E, 0, 4, M, 5, 0x02, 0, 60, 0x80, 0x00, 0, 0) },

    /* CONNACK. */
    { "v5 numbering [MQTT-3.2.2-1] CONNACK reserved flag bits", 4, MAL, B(0x20, 0x02, 0x02, 0x00) },
    { "CONNACK v3 return code 6", 4, PRO, B(0x20, 0x02, 0x00, 0x06) },
    { "[MQTT-3.2.2-4] session present on refusal", 4, PRO, B(0x20, 0x02, 0x01, 0x05) },
    { "CONNACK v5 reason 0x01", 5, PRO, B(0x20, 0x03, 0x00, 0x01, 0x00) },
    { "CONNACK v5 without property length", 5, MAL, B(0x20, 0x02, 0x00, 0x00) },
    { "CONNACK v5 max QoS 2", 5, PRO, B(0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02) },
    { "CONNACK v3 with a trailing byte", 4, MAL, B(0x20, 0x03, 0x00, 0x00, 0x00) },

    /* PUBLISH. */
    { "[MQTT-3.3.2-2] topic with '+'", 4, TOP, B(0x30, 0x05, 0, 3, 'a', '/', '+') },
    { "[MQTT-3.3.2-2] topic with '#'", 5, TOP, B(0x30, 0x04, 0, 1, '#', 0) },
    { "[MQTT-4.7.3-1] empty topic v3", 4, TOP, B(0x30, 0x03, 0, 0, 'x') },
    { "[MQTT-3.3.2-1] empty topic v5 without alias", 5, PRO, B(0x30, 0x03, 0, 0, 0) },
    { "[MQTT-2.3.1-1] QoS 1 packet id 0", 4, PRO, B(0x32, 0x05, 0, 1, 't', 0, 0) },
    { "[MQTT-1.5.3-1] topic not UTF-8", 4, UTF, B(0x30, 0x03, 0, 1, 0x80) },
    { "PUBLISH topic length past the packet", 4, MAL, B(0x30, 0x03, 0, 5, 't') },
    { "PUBLISH QoS 1 without packet id", 4, MAL, B(0x32, 0x03, 0, 1, 't') },
    { "v5 PUBLISH without property length", 5, MAL, B(0x30, 0x03, 0, 1, 't') },
    { "v5 PUBLISH session expiry not allowed", 5, MAL,
      B(0x30, 0x09, 0, 1, 't', 5, 0x11, 0, 0, 0, 1) },
    { "v5 PUBLISH unknown property 0x05", 5, MAL, B(0x30, 0x06, 0, 1, 't', 2, 0x05, 0) },
    { "v5 PUBLISH payload format twice", 5, PRO,
      B(0x30, 0x08, 0, 1, 't', 4, 0x01, 0, 0x01, 1) },
    { "v5 PUBLISH payload format 2", 5, PRO, B(0x30, 0x06, 0, 1, 't', 2, 0x01, 2) },
    { "[MQTT-3.3.2-8] v5 PUBLISH topic alias 0", 5, IOT_EPROTO, 0x94, B(0x30, 0x07, 0, 1, 't', 3, 0x23, 0, 0) },
    { "v5 PUBLISH topic alias twice", 5, PRO,
      B(0x30, 0x0A, 0, 1, 't', 6, 0x23, 0, 1, 0x23, 0, 2) },
    { "v5 PUBLISH subscription id 0", 5, PRO, B(0x30, 0x06, 0, 1, 't', 2, 0x0B, 0) },
    { "v5 PUBLISH subscription id of 5 bytes", 5, MAL,
      B(0x30, 0x0A, 0, 1, 't', 6, 0x0B, 0x80, 0x80, 0x80, 0x80, 0x01) },
    { "[MQTT-3.3.2-14] response topic with wildcard", 5, PRO,
      B(0x30, 0x09, 0, 1, 't', 5, 0x08, 0, 2, 'a', '#') },
    { "v5 PUBLISH user property not UTF-8", 5, UTF,
      B(0x30, 0x0B, 0, 1, 't', 7, 0x26, 0, 1, 'k', 0, 1, 0xC1) },
    { "v5 PUBLISH user property cut short", 5, MAL,
      B(0x30, 0x09, 0, 1, 't', 5, 0x26, 0, 1, 'k', 0) },
    { "v5 PUBLISH string property past block", 5, MAL,
      B(0x30, 0x0A, 0, 1, 't', 3, 0x03, 0, 3, 'a', 'b', 'c') },

    /* Acks. */
    { "PUBACK v3 remaining length 3", 4, MAL, B(0x40, 0x03, 0, 1, 0) },
    { "PUBACK remaining length 1", 5, MAL, B(0x40, 0x01, 0) },
    { "[MQTT-2.3.1-1] PUBACK packet id 0", 4, PRO, B(0x40, 0x02, 0, 0) },
    { "PUBACK v5 reason 0x05", 5, PRO, B(0x40, 0x03, 0, 1, 0x05) },
    { "PUBREL v5 reason 0x10", 5, PRO, B(0x62, 0x03, 0, 1, 0x10) },
    { "PUBCOMP v5 topic alias property", 5, MAL, B(0x70, 0x07, 0, 1, 0, 3, 0x23, 0, 1) },
    { "PUBREC v5 reason string twice", 5, PRO,
      B(0x50, 0x0C, 0, 1, 0x80, 8, 0x1F, 0, 1, 'a', 0x1F, 0, 1, 'b') },

    /* SUBSCRIBE, UNSUBSCRIBE. */
    { "[MQTT-3.8.3-3] SUBSCRIBE without filters", 4, PRO, B(0x82, 0x02, 0, 1) },
    { "[MQTT-3.8.3-2] v5 SUBSCRIBE without filters", 5, PRO, B(0x82, 0x03, 0, 1, 0) },
    { "[MQTT-3-8.3-4] v3 subscription option bit 2", 4, MAL,
      B(0x82, 0x06, 0, 1, 0, 1, 'a', 0x04) },
    { "[MQTT-3-8.3-4] v3 subscription QoS 3", 4, MAL, B(0x82, 0x06, 0, 1, 0, 1, 'a', 0x03) },
    { "[MQTT-3.8.3-5] v5 subscription option bit 6", 5, MAL,
      B(0x82, 0x07, 0, 1, 0, 0, 1, 'a', 0x40) },
    { "[MQTT-3.8.3-5] v5 subscription QoS 3", 5, MAL, B(0x82, 0x07, 0, 1, 0, 0, 1, 'a', 0x03) },
    { "v5 retain handling 3", 5, PRO, B(0x82, 0x07, 0, 1, 0, 0, 1, 'a', 0x30) },
    { "[MQTT-3.8.3-4] v5 no local on a shared subscription", 5, PRO,
      B(0x82, 0x10, 0, 1, 0, 0, 10, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'a', 0x04) },
    { "[MQTT-4.7.1-2] filter a/#/b", 4, MAL,
      B(0x82, 0x0A, 0, 1, 0, 5, 'a', '/', '#', '/', 'b', 0) },
    { "[MQTT-4.7.1-3] filter a+", 5, MAL, B(0x82, 0x08, 0, 1, 0, 0, 2, 'a', '+', 0) },
    { "[MQTT-4.7.3-1] empty filter", 4, MAL, B(0x82, 0x05, 0, 1, 0, 0, 0) },
    { "shared subscription without group", 4, MAL,
      B(0x82, 0x0C, 0, 1, 0, 8, '$', 's', 'h', 'a', 'r', 'e', '/', '/', 0) },
    { "shared subscription without filter", 4, MAL,
      B(0x82, 0x0D, 0, 1, 0, 9, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 0) },
    { "[MQTT-3.8.3-1] filter not UTF-8", 4, UTF, B(0x82, 0x06, 0, 1, 0, 1, 0xFE, 0) },
    { "SUBSCRIBE filter without options", 4, MAL, B(0x82, 0x05, 0, 1, 0, 1, 'a') },
    { "[MQTT-2.3.1-1] SUBSCRIBE packet id 0", 4, PRO, B(0x82, 0x06, 0, 0, 0, 1, 'a', 0) },
    { "v5 SUBSCRIBE subscription id twice", 5, PRO,
      B(0x82, 0x0B, 0, 1, 4, 0x0B, 1, 0x0B, 2, 0, 1, 'a', 0) },
    { "v5 SUBSCRIBE subscription id 0", 5, PRO,
      B(0x82, 0x09, 0, 1, 2, 0x0B, 0, 0, 1, 'a', 0) },
    { "v5 SUBSCRIBE topic alias property", 5, MAL,
      B(0x82, 0x0A, 0, 1, 3, 0x23, 0, 1, 0, 1, 'a', 0) },
    { "[MQTT-3.10.3-2] UNSUBSCRIBE without filters", 4, PRO, B(0xA2, 0x02, 0, 1) },
    { "[MQTT-4.7.1-2] UNSUBSCRIBE filter a#", 4, MAL, B(0xA2, 0x06, 0, 1, 0, 2, 'a', '#') },
    { "UNSUBSCRIBE filter #/a", 4, MAL, B(0xA2, 0x07, 0, 1, 0, 3, '#', '/', 'a') },
    { "v5 UNSUBSCRIBE subscription id property", 5, MAL,
      B(0xA2, 0x08, 0, 1, 2, 0x0B, 1, 0, 1, 'a') },

    /* SUBACK, UNSUBACK. */
    { "[MQTT-3.9.3-2] v3 SUBACK code 0x87", 4, PRO, B(0x90, 0x03, 0, 1, 0x87) },
    { "SUBACK without codes", 4, PRO, B(0x90, 0x02, 0, 1) },
    { "v5 SUBACK code 0x03", 5, PRO, B(0x90, 0x04, 0, 1, 0, 0x03) },
    { "v3 UNSUBACK with a payload", 4, MAL, B(0xB0, 0x03, 0, 1, 0) },
    { "v5 UNSUBACK code 0x01", 5, PRO, B(0xB0, 0x04, 0, 1, 0, 0x01) },
    { "v5 UNSUBACK without codes", 5, PRO, B(0xB0, 0x03, 0, 1, 0) },

    /* PINGREQ, PINGRESP, DISCONNECT, AUTH. */
    { "PINGREQ remaining length 1", 4, MAL, B(0xC0, 0x01, 0x00) },
    { "PINGRESP remaining length 1", 5, MAL, B(0xD0, 0x01, 0x00) },
    { "v3 DISCONNECT remaining length 1", 4, MAL, B(0xE0, 0x01, 0x00) },
    { "v5 DISCONNECT reason 0x01", 5, PRO, B(0xE0, 0x01, 0x01) },
    { "v5 DISCONNECT receive maximum property", 5, MAL, B(0xE0, 0x05, 0x00, 3, 0x21, 0, 1) },
    { "v5 DISCONNECT props cut short", 5, MAL, B(0xE0, 0x04, 0x00, 5, 0x11, 0) },
    { "v5 AUTH reason 0x04", 5, PRO, B(0xF0, 0x02, 0x04, 0) },
    { "v5 AUTH reason without property length", 5, MAL, B(0xF0, 0x01, 0x18) },
    { "v5 AUTH data without method", 5, PRO, B(0xF0, 0x06, 0x18, 4, 0x16, 0, 1, 9) },
};

#define NBAD (sizeof bad / sizeof bad[0])

static void test_malformed(void **state)
{
    mqtt_packet_t p;
    size_t i;
    int rc;

    (void)state;
    for (i = 0; i < NBAD; i++) {
        const bad_t *b = &bad[i];

        rc = mqtt_decode(b->b, b->n, b->version, 0, &p);
        if (rc != b->err || p.reason != b->reason)
            fail_msg("%s: got %d (%s) reason 0x%02x, want %d (%s) reason 0x%02x", b->name,
                     rc, iot_strerror(rc), p.reason, b->err, iot_strerror(b->err),
                     b->reason);
        /* The verdict does not depend on trailing bytes of the next packet. */
        {
            uint8_t more[512];

            assert_true(b->n + 2 <= sizeof more);
            memcpy(more, b->b, b->n);
            more[b->n] = 0xC0;
            more[b->n + 1] = 0x00;
            assert_int_equal(mqtt_decode(more, b->n + 2, b->version, 0, &p), b->err);
        }
    }
}

/* IOT_EUNSUPPORTED reports the level asked for, for the CONNACK. */
static void test_unsupported_level(void **state)
{
    static const uint8_t v31[] = { 0x10, 0x0F, 0, 6, 'M', 'Q', 'I', 's', 'd',
                                   'p',  3,    0x02, 0, 60, 0, 1, 'a' };
    static const uint8_t v6[] = { 0x10, 0x0C, 0, 4, M, 6, 0x02, 0, 60, 0, 0 };
    mqtt_packet_t p;

    (void)state;
    assert_int_equal(mqtt_decode(v31, sizeof v31, 0, 0, &p), IOT_EUNSUPPORTED);
    assert_int_equal(p.type, MQTT_CONNECT);
    assert_int_equal(p.u.connect.proto_level, MQTT_V31);
    assert_int_equal(p.reason, MQTT_RC_UNSUPPORTED_VERSION);
    assert_int_equal(mqtt_decode(v6, sizeof v6, 0, 0, &p), IOT_EUNSUPPORTED);
    assert_int_equal(p.u.connect.proto_level, 6);
}

/*
 * A packet larger than max_size is refused from its fixed header alone,
 * before the body arrives; a varint still incomplete waits.
 */
static void test_too_large(void **state)
{
    /* PUBLISH, remaining length 1000 (0xE8 0x07), body absent. */
    static const uint8_t hdr[] = { 0x30, 0xE8, 0x07 };
    static const uint8_t big[] = { 0x30, 0xFF, 0xFF, 0xFF, 0x7F };
    mqtt_packet_t p;

    (void)state;
    assert_int_equal(mqtt_decode(hdr, 2, 4, 100, &p), IOT_EAGAIN);
    assert_int_equal(mqtt_decode(hdr, 3, 4, 100, &p), IOT_ETOOLARGE);
    assert_int_equal(p.reason, MQTT_RC_PACKET_TOO_LARGE);
    assert_int_equal(mqtt_decode(hdr, 3, 5, 1003, &p), IOT_EAGAIN);
    assert_int_equal(mqtt_decode(hdr, 3, 5, 1002, &p), IOT_ETOOLARGE);
    /* The protocol maximum: 268435455 bytes of body wait, they are legal. */
    assert_int_equal(mqtt_decode(big, sizeof big, 5, 0, &p), IOT_EAGAIN);
    assert_int_equal(mqtt_decode(big, sizeof big, 0, 1 << 20, &p), IOT_EPROTO);
    assert_int_equal(mqtt_decode(big, sizeof big, 5, 1 << 20, &p), IOT_ETOOLARGE);
}

static void test_bad_version_argument(void **state)
{
    static const uint8_t ping[] = { 0xC0, 0x00 };
    mqtt_packet_t p;

    (void)state;
    assert_int_equal(mqtt_decode(ping, sizeof ping, 3, 0, &p), IOT_EINVAL);
    assert_int_equal(mqtt_decode(ping, sizeof ping, 6, 0, &p), IOT_EINVAL);
    assert_int_equal(mqtt_decode(NULL, 0, 4, 0, &p), IOT_EAGAIN);
}

/* ---- Decoded fields ---- */

#define S(lit) ((mqtt_str_t){ (const uint8_t *)(lit), sizeof(lit) - 1 })

static const mqtt_str_t none = { NULL, 0 };

static void assert_str(mqtt_str_t a, mqtt_str_t b)
{
    assert_int_equal(a.len, b.len);
    if (a.len)
        assert_memory_equal(a.p, b.p, a.len);
}

/* A decoded v5 CONNECT, field by field. */
static void test_decode_connect_fields(void **state)
{
    static const uint8_t v[] = {
        0x10, 0x3B, 0, 4, 'M', 'Q', 'T', 'T', 5, 0xEE, 0, 10,
        0x0F, 0x11, 0, 0, 0, 0x78, 0x21, 0, 10, 0x26, 0, 1, 'k', 0, 1, 'v',
        0, 2, 'c', '1',
        0x0B, 0x01, 0x01, 0x03, 0, 1, 'j', 0x18, 0, 0, 0, 5,
        0, 3, 'w', '/', 't', 0, 3, 'b', 'y', 'e', 0, 1, 'u', 0, 2, 0x00, 0xFF,
    };
    mqtt_packet_t p;
    mqtt_connect_t *c = &p.u.connect;
    mqtt_str_t k, val;
    size_t pos = 0;

    (void)state;
    assert_int_equal(mqtt_decode(v, sizeof v, 0, 0, &p), sizeof v);
    assert_int_equal(c->proto_level, 5);
    assert_int_equal(c->clean, 1);
    assert_int_equal(c->will_flag, 1);
    assert_int_equal(c->will_qos, 1);
    assert_int_equal(c->will_retain, 1);
    assert_int_equal(c->has_username, 1);
    assert_int_equal(c->has_password, 1);
    assert_int_equal(c->keepalive, 10);
    assert_str(c->client_id, S("c1"));
    assert_str(c->will_topic, S("w/t"));
    assert_str(c->will_payload, S("bye"));
    assert_str(c->username, S("u"));
    assert_str(c->password, S("\x00\xff"));
    assert_int_equal(c->props.present,
                     MQTT_P_SESSION_EXPIRY | MQTT_P_RECEIVE_MAX | MQTT_P_USER_PROPERTY);
    assert_int_equal(c->props.session_expiry, 120);
    assert_int_equal(c->props.receive_max, 10);
    assert_int_equal(c->props.user_count, 1);
    assert_int_equal(mqtt_user_props_next(&c->props, &pos, &k, &val), 1);
    assert_str(k, S("k"));
    assert_str(val, S("v"));
    assert_int_equal(mqtt_user_props_next(&c->props, &pos, &k, &val), 0);
    assert_int_equal(c->will_props.present,
                     MQTT_P_PAYLOAD_FORMAT | MQTT_P_CONTENT_TYPE | MQTT_P_WILL_DELAY);
    assert_int_equal(c->will_props.payload_format, 1);
    assert_str(c->will_props.content_type, S("j"));
    assert_int_equal(c->will_props.will_delay, 5);
}

/*
 * A decoded v5 PUBLISH: repeated subscription ids, user properties in order
 * [MQTT-3.3.2-18], and the copy of the user properties that outlives the
 * input buffer.
 */
static void test_decode_publish_fields(void **state)
{
    static const uint8_t v[] = {
        0x32, 0x34, 0, 3, 'a', '/', 'b', 0, 5,
        0x27, 0x01, 0x01, 0x02, 0, 0, 0, 60, 0x08, 0, 3, 'r', '/', 'x', 0x09, 0, 2, 0xAA, 0xBB,
        0x0B, 0x07, 0x0B, 0x80, 0x01, 0x23, 0, 3, 0x26, 0, 1, 'a', 0, 1, 'b', 0x26, 0, 1, 'c',
        0, 0, 'h', 'e', 'l', 'l', 'o',
    };
    static const uint8_t recs[] = { 0x26, 0, 1, 'a', 0, 1, 'b', 0x26, 0, 1, 'c', 0, 0 };
    mqtt_packet_t p;
    mqtt_publish_t *m = &p.u.publish;
    mqtt_props_t copy;
    uint8_t out[32];
    mqtt_str_t k, val;
    size_t pos = 0;

    (void)state;
    assert_int_equal(mqtt_decode(v, sizeof v, 5, 0, &p), sizeof v);
    assert_int_equal(p.flags, 0x02);
    assert_int_equal(m->qos, 1);
    assert_int_equal(m->packet_id, 5);
    assert_str(m->topic, S("a/b"));
    assert_str(m->payload, S("hello"));
    assert_int_equal(m->props.payload_format, 1);
    assert_int_equal(m->props.message_expiry, 60);
    assert_str(m->props.response_topic, S("r/x"));
    assert_str(m->props.correlation_data, S("\xaa\xbb"));
    assert_int_equal(m->props.sub_id_count, 2);
    assert_int_equal(m->props.sub_ids[0], 7);
    assert_int_equal(m->props.sub_ids[1], 128);
    assert_int_equal(m->props.topic_alias, 3);
    assert_int_equal(m->props.user_count, 2);
    assert_int_equal(mqtt_user_props_next(&m->props, &pos, &k, &val), 1);
    assert_str(k, S("a"));
    assert_str(val, S("b"));
    assert_int_equal(mqtt_user_props_next(&m->props, &pos, &k, &val), 1);
    assert_str(k, S("c"));
    assert_str(val, none);
    assert_int_equal(mqtt_user_props_next(&m->props, &pos, &k, &val), 0);

    /* Records only, in order; only whole records fit a short buffer. */
    assert_int_equal(mqtt_user_props_records(&m->props, NULL, 0), sizeof recs);
    assert_int_equal(mqtt_user_props_records(&m->props, out, sizeof out), sizeof recs);
    assert_memory_equal(out, recs, sizeof recs);
    assert_int_equal(mqtt_user_props_records(&m->props, out, 10), 7);
    assert_int_equal(mqtt_user_props_records(&m->props, out, sizeof out), sizeof recs);
    /* The copy is a user_raw of its own that iterates the same. */
    copy = m->props;
    copy.user_raw = (mqtt_str_t){ out, sizeof recs };
    pos = 0;
    assert_int_equal(mqtt_user_props_next(&copy, &pos, &k, &val), 1);
    assert_str(k, S("a"));
    assert_int_equal(mqtt_user_props_next(&copy, &pos, &k, &val), 1);
    assert_str(val, none);
    assert_int_equal(mqtt_user_props_next(&copy, &pos, &k, &val), 0);
}

static void test_decode_subscribe_list(void **state)
{
    static const uint8_t v[] = { 0x82, 0x18, 0, 10, 0x02, 0x0B, 0x05, 0, 3, 'a', '/', '+',
                                 0x2D, 0, 10, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/',
                                 'x', 0x02 };
    static const uint8_t u[] = { 0xA2, 0x0A, 0, 3, 0, 1, '#', 0, 3, '+', '/', '+' };
    mqtt_packet_t p;
    mqtt_str_t f;
    uint8_t opts;
    size_t pos = 0;

    (void)state;
    assert_int_equal(mqtt_decode(v, sizeof v, 5, 0, &p), sizeof v);
    assert_int_equal(p.u.subscribe.packet_id, 10);
    assert_int_equal(p.u.subscribe.count, 2);
    assert_int_equal(p.u.subscribe.props.sub_id_count, 1);
    assert_int_equal(p.u.subscribe.props.sub_ids[0], 5);
    assert_int_equal(mqtt_sub_next(&p.u.subscribe, 1, &pos, &f, &opts), 1);
    assert_str(f, S("a/+"));
    assert_int_equal(opts & MQTT_SUBOPT_QOS_MASK, 1);
    assert_true(opts & MQTT_SUBOPT_NO_LOCAL);
    assert_true(opts & MQTT_SUBOPT_RAP);
    assert_int_equal(opts >> MQTT_SUBOPT_RH_SHIFT, 2);
    assert_int_equal(mqtt_sub_next(&p.u.subscribe, 1, &pos, &f, &opts), 1);
    assert_str(f, S("$share/g/x"));
    assert_int_equal(opts, 2);
    assert_int_equal(mqtt_sub_next(&p.u.subscribe, 1, &pos, &f, &opts), 0);

    pos = 0;
    assert_int_equal(mqtt_decode(u, sizeof u, 4, 0, &p), sizeof u);
    assert_int_equal(p.u.subscribe.count, 2);
    assert_int_equal(mqtt_sub_next(&p.u.subscribe, 0, &pos, &f, NULL), 1);
    assert_str(f, S("#"));
    assert_int_equal(mqtt_sub_next(&p.u.subscribe, 0, &pos, &f, NULL), 1);
    assert_str(f, S("+/+"));
    assert_int_equal(mqtt_sub_next(&p.u.subscribe, 0, &pos, &f, NULL), 0);
}

/* Shortened 5.0 acks and DISCONNECT decode with reason 0 and no properties. */
static void test_decode_short_forms(void **state)
{
    static const uint8_t puback[] = { 0x40, 0x02, 0, 1 };
    static const uint8_t pubrel[] = { 0x62, 0x03, 0, 1, 0x92 };
    static const uint8_t disc[] = { 0xE0, 0x00 };
    static const uint8_t disc1[] = { 0xE0, 0x01, 0x8B };
    mqtt_packet_t p;

    (void)state;
    assert_int_equal(mqtt_decode(puback, sizeof puback, 5, 0, &p), sizeof puback);
    assert_int_equal(p.u.ack.reason, 0);
    assert_int_equal(p.u.ack.props.present, 0);
    assert_int_equal(mqtt_decode(pubrel, sizeof pubrel, 5, 0, &p), sizeof pubrel);
    assert_int_equal(p.u.ack.reason, 0x92);
    assert_int_equal(mqtt_decode(disc, sizeof disc, 5, 0, &p), sizeof disc);
    assert_int_equal(p.u.disconnect.reason, 0);
    assert_int_equal(mqtt_decode(disc1, sizeof disc1, 5, 0, &p), sizeof disc1);
    assert_int_equal(p.u.disconnect.reason, MQTT_RC_SERVER_SHUTTING_DOWN);
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
        cmocka_unit_test(test_unsupported_level),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_bad_version_argument),
        cmocka_unit_test(test_decode_connect_fields),
        cmocka_unit_test(test_decode_publish_fields),
        cmocka_unit_test(test_decode_subscribe_list),
        cmocka_unit_test(test_decode_short_forms),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
