/*
 * mqtt_int.h - private helpers shared by the files of the MQTT codec.
 *
 * Every byte of input is read through the mqtt__rd_* primitives below, which
 * check bounds against the cursor's end (STYLE rule 6); nothing else in the
 * codec indexes input. Writers assert on a capacity that mqtt_encode_size()
 * has already computed. The property table and its helpers live in
 * mqtt_props.c and are declared here for the decoder and the encoder.
 */
#ifndef IOT_MQTT_INT_H
#define IOT_MQTT_INT_H

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "proto/mqtt/mqtt.h"

/* A read cursor over the input bytes [p, end). */
typedef struct mqtt__rd {
    const uint8_t *p;   /* Next byte to read. */
    const uint8_t *end; /* One past the last readable byte. */
} mqtt__rd_t;

/* A write cursor over [p, end); end is the size the caller computed. */
typedef struct mqtt__wr {
    uint8_t *p;         /* Next byte to write. */
    uint8_t *end;       /* One past the last byte that may be written. */
} mqtt__wr_t;

/* Returns a cursor over [p, p + len); p may be NULL when len is 0. */
static inline mqtt__rd_t mqtt__rd_span(const uint8_t *p, size_t len)
{
    mqtt__rd_t r = { p, p ? p + len : p };
    return r;
}

static inline size_t mqtt__rd_left(const mqtt__rd_t *r)
{
    return (size_t)(r->end - r->p);
}

/*
 * Takes n bytes. The one primitive every other read goes through: it fails
 * with IOT_EMALFORMED, without moving, when fewer than n bytes are left.
 */
static inline int mqtt__rd_take(mqtt__rd_t *r, size_t n, const uint8_t **out)
{
    if (mqtt__rd_left(r) < n)
        return IOT_EMALFORMED;
    *out = r->p;
    r->p += n;
    return 0;
}

static inline int mqtt__rd_u8(mqtt__rd_t *r, uint8_t *v)
{
    const uint8_t *q;

    if (mqtt__rd_take(r, 1, &q))
        return IOT_EMALFORMED;
    *v = q[0];
    return 0;
}

/* Two Byte Integer, big-endian (MQTT 5.0 section 1.5.2). */
static inline int mqtt__rd_u16(mqtt__rd_t *r, uint16_t *v)
{
    const uint8_t *q;

    if (mqtt__rd_take(r, 2, &q))
        return IOT_EMALFORMED;
    *v = (uint16_t)((q[0] << 8) | q[1]);
    return 0;
}

/* Four Byte Integer, big-endian (MQTT 5.0 section 1.5.3). */
static inline int mqtt__rd_u32(mqtt__rd_t *r, uint32_t *v)
{
    const uint8_t *q;

    if (mqtt__rd_take(r, 4, &q))
        return IOT_EMALFORMED;
    *v = ((uint32_t)q[0] << 24) | ((uint32_t)q[1] << 16) |
         ((uint32_t)q[2] << 8) | q[3];
    return 0;
}

/*
 * Variable Byte Integer (MQTT 5.0 section 1.5.5). Returns IOT_EAGAIN when the
 * input ends inside it (only the fixed header can wait for more), and
 * IOT_EMALFORMED for a fifth byte or a non-minimal encoding [MQTT-1.5.5-1],
 * which 3.1.1 gets too: a trailing 0x00 continuation byte is never needed.
 */
static inline int mqtt__rd_varint(mqtt__rd_t *r, uint32_t *v)
{
    uint32_t val = 0;
    uint8_t b;
    int i;

    for (i = 0; i < 4; i++) {
        if (mqtt__rd_u8(r, &b))
            return IOT_EAGAIN;
        val |= (uint32_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            if (i > 0 && b == 0)
                return IOT_EMALFORMED;
            *v = val;
            return 0;
        }
    }
    return IOT_EMALFORMED;
}

/* Binary Data: a u16 length and that many bytes (MQTT 5.0 section 1.5.6). */
static inline int mqtt__rd_bin(mqtt__rd_t *r, mqtt_str_t *s)
{
    uint16_t n;

    if (mqtt__rd_u16(r, &n) || mqtt__rd_take(r, n, &s->p))
        return IOT_EMALFORMED;
    s->len = n;
    return 0;
}

/* UTF-8 Encoded String: Binary Data that must pass mqtt_utf8_valid(). */
static inline int mqtt__rd_utf8(mqtt__rd_t *r, mqtt_str_t *s)
{
    if (mqtt__rd_bin(r, s))
        return IOT_EMALFORMED;
    return mqtt_utf8_valid(s->p, s->len) ? 0 : IOT_EUTF8;
}

/* Bytes the Variable Byte Integer v takes; v <= MQTT_MAX_REMAINING. */
static inline size_t mqtt__varint_size(uint32_t v)
{
    return v < 128u ? 1 : v < 16384u ? 2 : v < 2097152u ? 3 : 4;
}

/* Encoded size of a string or binary field, SIZE_MAX if it is too long. */
static inline size_t mqtt__str_size(mqtt_str_t s)
{
    return s.len > UINT16_MAX ? SIZE_MAX : 2 + s.len;
}

/* a + b, where SIZE_MAX means "cannot be encoded" and stays so. */
static inline size_t mqtt__add(size_t a, size_t b)
{
    if (a == SIZE_MAX || b == SIZE_MAX || a > SIZE_MAX - 1 - b)
        return SIZE_MAX;
    return a + b;
}

static inline void mqtt__wr_bytes(mqtt__wr_t *w, const void *src, size_t n)
{
    assert((size_t)(w->end - w->p) >= n);
    if (n)
        memcpy(w->p, src, n);
    w->p += n;
}

static inline void mqtt__wr_u8(mqtt__wr_t *w, uint8_t v)
{
    mqtt__wr_bytes(w, &v, 1);
}

static inline void mqtt__wr_u16(mqtt__wr_t *w, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

    mqtt__wr_bytes(w, b, 2);
}

static inline void mqtt__wr_u32(mqtt__wr_t *w, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                     (uint8_t)v };

    mqtt__wr_bytes(w, b, 4);
}

static inline void mqtt__wr_varint(mqtt__wr_t *w, uint32_t v)
{
    assert(v <= MQTT_MAX_REMAINING);
    do {
        uint8_t b = v & 0x7F;

        v >>= 7;
        mqtt__wr_u8(w, (uint8_t)(v ? b | 0x80 : b));
    } while (v);
}

static inline void mqtt__wr_str(mqtt__wr_t *w, mqtt_str_t s)
{
    assert(s.len <= UINT16_MAX);
    mqtt__wr_u16(w, (uint16_t)s.len);
    mqtt__wr_bytes(w, s.p, s.len);
}

/*
 * Property contexts: the packet type (MQTT_CONNECT .. MQTT_AUTH), or
 * MQTT__CTX_WILL for the will properties inside CONNECT.
 */
#define MQTT__CTX_WILL 0

/*
 * Reads a property block (Variable Byte Integer length, then properties)
 * into props and checks it against the rules of ctx. Returns 0 or
 * IOT_EMALFORMED (bad length, unknown or misplaced identifier), IOT_EPROTO
 * (duplicate, bad value), IOT_EUTF8 or IOT_ELIMIT (more sub ids or user
 * properties than mqtt_props_t can count).
 */
int mqtt__props_decode(mqtt__rd_t *r, int ctx, mqtt_props_t *props);

/*
 * Returns the size of the property block of props for ctx, its length
 * field excluded, or SIZE_MAX when a value cannot be encoded.
 */
size_t mqtt__props_size(int ctx, const mqtt_props_t *props);

/* Writes the property block: length (content bytes) then the properties. */
void mqtt__props_write(mqtt__wr_t *w, int ctx, const mqtt_props_t *props,
                       size_t content);

#endif
