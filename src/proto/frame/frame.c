/*
 * frame.c - iotgate frame protocol codec (docs/frame-protocol.md; STYLE
 * rules 3, 4, 6, 7).
 *
 * Decoding checks the header byte by byte as it arrives (magic, type,
 * length against max_payload), waits for the whole frame, then reads the
 * payload in the order of spec section 13.3: fixed fields, the TLV block,
 * the body, the cross-field rules. Every byte of input is read through the
 * frame__rd_* cursor below; nothing else indexes input.
 *
 * The value rules live in the frame__check_* functions, which work on a
 * decoded frame_t and return a FRAME_ERR_* code (0 = fine). The decoder
 * calls them as it goes; the encoder calls the same ones up front, so that
 * whatever it writes decodes again. The optional TLVs are one table,
 * frame__tlvs[], shared by both directions.
 *
 * Encoding follows mqtt_encode.c: frame__payload() runs twice, first only
 * counting (for frame_encode_size()), then writing; both passes take the
 * same branches, so the size is exact by construction.
 */
#include <assert.h>
#include <stddef.h>
#include <string.h>

#include "proto/frame/frame.h"

/* ---- Reading: the one bounds-checked primitive set ---- */

/* A read cursor over the input bytes [p, end). */
typedef struct frame__rd {
    const uint8_t *p;   /* Next byte to read. */
    const uint8_t *end; /* One past the last readable byte. */
} frame__rd_t;

/* Returns a cursor over [p, p + len); p may be NULL when len is 0. */
static frame__rd_t frame__rd_span(const uint8_t *p, size_t len)
{
    frame__rd_t r = { p, p ? p + len : p };

    return r;
}

static size_t frame__rd_left(const frame__rd_t *r)
{
    return (size_t)(r->end - r->p);
}

/*
 * Takes n bytes. Every other read goes through it: it fails, without
 * moving, when fewer than n bytes are left.
 */
static int frame__rd_take(frame__rd_t *r, size_t n, const uint8_t **out)
{
    if (frame__rd_left(r) < n)
        return -1;
    *out = r->p;
    r->p += n;
    return 0;
}

static int frame__rd_u8(frame__rd_t *r, uint8_t *v)
{
    const uint8_t *q;

    if (frame__rd_take(r, 1, &q))
        return -1;
    *v = q[0];
    return 0;
}

static int frame__rd_u16(frame__rd_t *r, uint16_t *v)
{
    const uint8_t *q;

    if (frame__rd_take(r, 2, &q))
        return -1;
    *v = (uint16_t)((q[0] << 8) | q[1]);
    return 0;
}

static int frame__rd_u32(frame__rd_t *r, uint32_t *v)
{
    const uint8_t *q;

    if (frame__rd_take(r, 4, &q))
        return -1;
    *v = ((uint32_t)q[0] << 24) | ((uint32_t)q[1] << 16) | ((uint32_t)q[2] << 8) | q[3];
    return 0;
}

static int frame__rd_u64(frame__rd_t *r, uint64_t *v)
{
    uint32_t hi, lo;

    if (frame__rd_left(r) < 8 || frame__rd_u32(r, &hi) || frame__rd_u32(r, &lo))
        return -1;
    *v = ((uint64_t)hi << 32) | lo;
    return 0;
}

/* n bytes as a span pointing into the input. */
static int frame__rd_bytes(frame__rd_t *r, size_t n, frame_str_t *s)
{
    if (frame__rd_take(r, n, &s->p))
        return -1;
    s->len = n;
    return 0;
}

/* The rest of the cursor as a span. */
static void frame__rd_rest(frame__rd_t *r, frame_str_t *s)
{
    (void)frame__rd_bytes(r, frame__rd_left(r), s);
}

/* ---- The TLV table (spec section 4.2) ---- */

enum frame__kind { FRAME__U16, FRAME__U32, FRAME__U64, FRAME__BYTES };

typedef struct frame__tlv_def {
    uint8_t type;        /* FRAME_TLV_*. */
    uint8_t frame_type;  /* The one message type that carries it. */
    uint8_t kind;        /* enum frame__kind. */
    uint8_t code;        /* FRAME_ERR_* when the value breaks its bounds. */
    uint32_t min;        /* Smallest value (integers) or length (bytes). */
    uint32_t max;        /* Largest length (bytes); unused for integers. */
    uint32_t bit;        /* FRAME_HAS_*. */
    size_t off;          /* Offset of the field in frame_t. */
} frame__tlv_def_t;

#define FRAME__OFF(m) offsetof(frame_t, u.m)

/* In ascending type order: the encoder writes them in this order. */
static const frame__tlv_def_t frame__tlvs[] = {
    { FRAME_TLV_TOKEN, FRAME_HELLO, FRAME__BYTES, FRAME_ERR_MALFORMED, 1, FRAME_MAX_TOKEN,
      FRAME_HAS_TOKEN, FRAME__OFF(hello.token) },
    { FRAME_TLV_PASSWORD, FRAME_HELLO, FRAME__BYTES, FRAME_ERR_MALFORMED, 1, FRAME_MAX_PASSWORD,
      FRAME_HAS_PASSWORD, FRAME__OFF(hello.password) },
    { FRAME_TLV_SESSION_EXPIRY, FRAME_HELLO, FRAME__U32, 0, 0, 0,
      FRAME_HAS_SESSION_EXPIRY, FRAME__OFF(hello.session_expiry) },
    { FRAME_TLV_DEVICE_MAX, FRAME_HELLO, FRAME__U32, FRAME_ERR_PROTOCOL, FRAME_MIN_MAX_PAYLOAD, 0,
      FRAME_HAS_DEVICE_MAX, FRAME__OFF(hello.device_max) },
    { FRAME_TLV_SERVER_MAX, FRAME_HELLO_ACK, FRAME__U32, FRAME_ERR_PROTOCOL, FRAME_MIN_MAX_PAYLOAD,
      0, FRAME_HAS_SERVER_MAX, FRAME__OFF(hello_ack.server_max) },
    { FRAME_TLV_ACK_SEQ, FRAME_HELLO_ACK, FRAME__U32, 0, 0, 0,
      FRAME_HAS_ACK_SEQ, FRAME__OFF(hello_ack.ack_seq) },
    { FRAME_TLV_ACK_EVERY, FRAME_HELLO_ACK, FRAME__U16, FRAME_ERR_PROTOCOL, 1, 0,
      FRAME_HAS_ACK_EVERY, FRAME__OFF(hello_ack.ack_every) },
    { FRAME_TLV_ACK_DELAY, FRAME_HELLO_ACK, FRAME__U16, 0, 0, 0,
      FRAME_HAS_ACK_DELAY, FRAME__OFF(hello_ack.ack_delay) },
    /* Length and charset both come from frame_stream_name_valid(). */
    { FRAME_TLV_STREAM_NAME, FRAME_DATA, FRAME__BYTES, FRAME_ERR_BAD_STREAM, 0, UINT16_MAX,
      FRAME_HAS_STREAM_NAME, FRAME__OFF(data.stream_name) },
    { FRAME_TLV_STREAM_ID, FRAME_DATA, FRAME__U16, FRAME_ERR_PROTOCOL, 1, 0,
      FRAME_HAS_STREAM_ID, FRAME__OFF(data.stream_id) },
    { FRAME_TLV_TIMESTAMP, FRAME_DATA, FRAME__U64, 0, 0, 0,
      FRAME_HAS_TIMESTAMP, FRAME__OFF(data.timestamp) },
};

#define FRAME__NTLVS (sizeof frame__tlvs / sizeof frame__tlvs[0])

/* The definition of TLV type t in a frame of type ft, or NULL. */
static const frame__tlv_def_t *frame__tlv_find(uint8_t ft, uint8_t t)
{
    size_t i;

    for (i = 0; i < FRAME__NTLVS; i++) {
        if (frame__tlvs[i].type == t && frame__tlvs[i].frame_type == ft)
            return &frame__tlvs[i];
    }
    return NULL;
}

/* Size of the value of kind k (integers only). */
static size_t frame__int_size(uint8_t k)
{
    return k == FRAME__U16 ? 2 : k == FRAME__U32 ? 4 : 8;
}

/* The field of d inside f. */
static const void *frame__tlv_field(const frame_t *f, const frame__tlv_def_t *d)
{
    return (const uint8_t *)f + d->off;
}

static int frame__tlv_applies(const frame_t *f, const frame__tlv_def_t *d)
{
    return d->frame_type == f->type && (f->present & d->bit);
}

/* ---- Value rules, shared by the decoder and the encoder ---- */

static int frame__type_known(uint8_t t)
{
    return t >= FRAME_HELLO && t <= FRAME_BYE;
}

/*
 * Offset in frame_t of the body of type t, or 0 for the types without one
 * (spec section 4: only DATA, CMD, CMD_ACK and ERROR end with a body).
 */
static size_t frame__body_off(uint8_t t)
{
    switch (t) {
    case FRAME_DATA: return FRAME__OFF(data.payload);
    case FRAME_CMD: return FRAME__OFF(cmd.payload);
    case FRAME_CMD_ACK: return FRAME__OFF(cmd_ack.body);
    case FRAME_ERROR: return FRAME__OFF(error.text);
    default: return 0;
    }
}

/* The body of f, or NULL for a type without one. */
static const frame_str_t *frame__body(const frame_t *f)
{
    size_t off = frame__body_off(f->type);

    return off ? (const frame_str_t *)((const uint8_t *)f + off) : NULL;
}

/* The IOT_E* class of a FRAME_ERR_* code (see frame.h). */
static int frame__class(uint8_t code)
{
    switch (code) {
    case FRAME_ERR_MALFORMED:
    case FRAME_ERR_BAD_MAGIC:
        return IOT_EMALFORMED;
    case FRAME_ERR_TOO_LARGE:
        return IOT_ETOOLARGE;
    case FRAME_ERR_UNKNOWN_TYPE:
    case FRAME_ERR_UNSUPPORTED_VERSION:
        return IOT_EUNSUPPORTED;
    default:
        return IOT_EPROTO;
    }
}

/* Device ids and stream name levels share one charset (spec section 7). */
static int frame__name_char(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == ':';
}

int frame_device_id_valid(const uint8_t *p, size_t len)
{
    size_t i;

    if (len == 0 || len > FRAME_MAX_DEVICE_ID || p == NULL)
        return 0;
    for (i = 0; i < len; i++) {
        if (!frame__name_char(p[i]))
            return 0;
    }
    return 1;
}

int frame_stream_name_valid(const uint8_t *p, size_t len)
{
    size_t i, level = 0, first = 0;

    if (len == 0 || len > FRAME_MAX_STREAM_NAME || p == NULL)
        return 0;
    for (i = 0; i <= len; i++) {
        if (i == len || p[i] == '/') {
            if (level == 0)
                return 0; /* Empty level: leading, trailing or double '/'. */
            if (first == 0)
                first = i;
            level = 0;
        } else if (frame__name_char(p[i])) {
            level++;
        } else {
            return 0;
        }
    }
    /* The device's own cmd and status topics are not streams. */
    if ((first == 3 && memcmp(p, "cmd", 3) == 0) || (first == 6 && memcmp(p, "status", 6) == 0))
        return 0;
    return 1;
}

static int frame__str_ok(frame_str_t s)
{
    return s.len == 0 || s.p != NULL;
}

/* The fixed fields, in field order. */
static uint8_t frame__check_fixed(const frame_t *f)
{
    switch (f->type) {
    case FRAME_HELLO:
        if (f->u.hello.version != FRAME_VERSION)
            return FRAME_ERR_UNSUPPORTED_VERSION;
        if (f->u.hello.flags & ~FRAME_HELLO_CLEAN)
            return FRAME_ERR_MALFORMED;
        if (!frame_device_id_valid(f->u.hello.device_id.p, f->u.hello.device_id.len))
            return FRAME_ERR_BAD_DEVICE_ID;
        return 0;
    case FRAME_HELLO_ACK:
        return (f->u.hello_ack.flags & ~FRAME_HELLO_ACK_SESSION) ? FRAME_ERR_MALFORMED : 0;
    case FRAME_CMD:
        if (f->u.cmd.id == 0)
            return FRAME_ERR_PROTOCOL;
        return (f->u.cmd.flags & ~FRAME_CMD_DUP) ? FRAME_ERR_MALFORMED : 0;
    case FRAME_CMD_ACK:
        return f->u.cmd_ack.id == 0 ? FRAME_ERR_PROTOCOL : 0;
    case FRAME_ERROR:
        return f->u.error.code == 0 ? FRAME_ERR_PROTOCOL : 0;
    default:
        return 0;
    }
}

/* The value of one TLV against its bounds. */
static uint8_t frame__check_tlv(const frame_t *f, const frame__tlv_def_t *d)
{
    const void *v = frame__tlv_field(f, d);
    const frame_str_t *s;
    uint64_t n;

    switch (d->kind) {
    case FRAME__U16:
        n = *(const uint16_t *)v;
        break;
    case FRAME__U32:
        n = *(const uint32_t *)v;
        break;
    case FRAME__U64:
        n = *(const uint64_t *)v;
        break;
    default:
        s = v;
        if (!frame__str_ok(*s) || s->len < d->min || s->len > d->max)
            return d->code ? d->code : FRAME_ERR_MALFORMED;
        if (d->type == FRAME_TLV_STREAM_NAME && !frame_stream_name_valid(s->p, s->len))
            return FRAME_ERR_BAD_STREAM;
        return 0;
    }
    return n < d->min ? d->code : 0;
}

/* The body (types without one have nothing to check here). */
static uint8_t frame__check_body(const frame_t *f)
{
    if (f->type == FRAME_ERROR && f->u.error.text.len > FRAME_MAX_ERROR_TEXT)
        return FRAME_ERR_MALFORMED;
    return 0;
}

/* Rules that tie fields together, checked last. */
static uint8_t frame__check_cross(const frame_t *f)
{
    if (f->type == FRAME_HELLO && (f->present & FRAME_HAS_TOKEN) &&
        (f->present & FRAME_HAS_PASSWORD))
        return FRAME_ERR_PROTOCOL;
    if (f->type == FRAME_HELLO_ACK && f->u.hello_ack.result != 0 &&
        (f->u.hello_ack.flags & FRAME_HELLO_ACK_SESSION))
        return FRAME_ERR_PROTOCOL;
    return 0;
}

/* ---- Decoding ---- */

/* The fixed fields of f->type (spec section 6). */
static uint8_t frame__dec_fixed(frame__rd_t *r, frame_t *f)
{
    uint8_t n;

    switch (f->type) {
    case FRAME_HELLO:
        /* The version comes first in every version; nothing after it is read
         * when it is not ours, since another version may lay it out anew. */
        if (frame__rd_u8(r, &f->u.hello.version))
            return FRAME_ERR_MALFORMED;
        if (f->u.hello.version != FRAME_VERSION)
            return FRAME_ERR_UNSUPPORTED_VERSION;
        if (frame__rd_u8(r, &f->u.hello.flags) || frame__rd_u16(r, &f->u.hello.keepalive) ||
            frame__rd_u8(r, &n) || frame__rd_bytes(r, n, &f->u.hello.device_id))
            return FRAME_ERR_MALFORMED;
        return 0;
    case FRAME_HELLO_ACK:
        if (frame__rd_u8(r, &f->u.hello_ack.result) || frame__rd_u8(r, &f->u.hello_ack.flags) ||
            frame__rd_u16(r, &f->u.hello_ack.keepalive))
            return FRAME_ERR_MALFORMED;
        return 0;
    case FRAME_DATA:
        return frame__rd_u32(r, &f->u.data.seq) ? FRAME_ERR_MALFORMED : 0;
    case FRAME_DATA_ACK:
        return frame__rd_u32(r, &f->u.data_ack.ack_seq) ? FRAME_ERR_MALFORMED : 0;
    case FRAME_CMD:
        if (frame__rd_u32(r, &f->u.cmd.id) || frame__rd_u8(r, &f->u.cmd.flags))
            return FRAME_ERR_MALFORMED;
        return 0;
    case FRAME_CMD_ACK:
        if (frame__rd_u32(r, &f->u.cmd_ack.id) || frame__rd_u8(r, &f->u.cmd_ack.result))
            return FRAME_ERR_MALFORMED;
        return 0;
    case FRAME_ERROR:
        return frame__rd_u8(r, &f->u.error.code) ? FRAME_ERR_MALFORMED : 0;
    case FRAME_BYE:
        return frame__rd_u8(r, &f->u.bye.reason) ? FRAME_ERR_MALFORMED : 0;
    default: /* PING, PONG: no fixed fields. */
        return 0;
    }
}

/* Reads the value v of TLV d into its field of f. */
static uint8_t frame__dec_tlv_value(frame__rd_t *v, const frame__tlv_def_t *d, frame_t *f)
{
    void *field = (uint8_t *)f + d->off;

    if (d->kind != FRAME__BYTES && frame__rd_left(v) != frame__int_size(d->kind))
        return FRAME_ERR_MALFORMED;
    switch (d->kind) {
    case FRAME__U16:
        (void)frame__rd_u16(v, field);
        break;
    case FRAME__U32:
        (void)frame__rd_u32(v, field);
        break;
    case FRAME__U64:
        (void)frame__rd_u64(v, field);
        break;
    default:
        frame__rd_rest(v, field);
        break;
    }
    return 0;
}

/* The TLV block: u16 length, then TLVs filling it exactly (section 4.1). */
static uint8_t frame__dec_tlvs(frame__rd_t *r, frame_t *f)
{
    const frame__tlv_def_t *d;
    const uint8_t *p;
    frame__rd_t blk, val;
    uint16_t n, vlen;
    uint8_t t, code;

    if (frame__rd_u16(r, &n) || frame__rd_take(r, n, &p))
        return FRAME_ERR_MALFORMED;
    blk = frame__rd_span(p, n);
    while (frame__rd_left(&blk) > 0) {
        if (frame__rd_u8(&blk, &t) || frame__rd_u16(&blk, &vlen) ||
            frame__rd_take(&blk, vlen, &p))
            return FRAME_ERR_MALFORMED;
        d = frame__tlv_find(f->type, t);
        if (d == NULL) {
            if (!(t & FRAME_TLV_IGNORABLE))
                return FRAME_ERR_MALFORMED; /* Unknown or misplaced critical TLV. */
            if (f->ignored < UINT16_MAX)
                f->ignored++;
            continue;
        }
        if (f->present & d->bit)
            return FRAME_ERR_PROTOCOL; /* Each type at most once. */
        val = frame__rd_span(p, vlen);
        if ((code = frame__dec_tlv_value(&val, d, f)) != 0 ||
            (code = frame__check_tlv(f, d)) != 0)
            return code;
        f->present |= d->bit;
    }
    return 0;
}

/* The payload of a frame whose header is decoded (section 13.3 order). */
static uint8_t frame__dec_payload(frame__rd_t *r, frame_t *f)
{
    size_t off = frame__body_off(f->type);
    uint8_t code;

    if ((code = frame__dec_fixed(r, f)) != 0 || (code = frame__check_fixed(f)) != 0 ||
        (code = frame__dec_tlvs(r, f)) != 0)
        return code;
    if (off != 0)
        frame__rd_rest(r, (frame_str_t *)((uint8_t *)f + off));
    else if (frame__rd_left(r) != 0)
        return FRAME_ERR_MALFORMED; /* Trailing bytes after the TLV block. */
    if ((code = frame__check_body(f)) != 0)
        return code;
    return frame__check_cross(f);
}

int frame_decode(const uint8_t *buf, size_t len, size_t max_payload, frame_t *f)
{
    static const uint8_t magic[4] = {
        (uint8_t)(FRAME_MAGIC >> 24), (uint8_t)(FRAME_MAGIC >> 16),
        (uint8_t)(FRAME_MAGIC >> 8), (uint8_t)FRAME_MAGIC,
    };
    frame__rd_t r = frame__rd_span(buf, len), payload;
    const uint8_t *p;
    uint32_t plen;
    size_t n, cap;
    uint8_t code;

    memset(f, 0, sizeof *f);
    /* Each magic byte is checked as soon as it is in (section 13.3, 1). */
    n = frame__rd_left(&r) < 4 ? frame__rd_left(&r) : 4;
    if (n > 0 && (frame__rd_take(&r, n, &p) || memcmp(p, magic, n) != 0)) {
        code = FRAME_ERR_BAD_MAGIC;
        goto fail;
    }
    if (n < 4 || frame__rd_u8(&r, &f->type))
        return IOT_EAGAIN;
    if (!frame__type_known(f->type)) {
        code = FRAME_ERR_UNKNOWN_TYPE;
        goto fail;
    }
    if (frame__rd_u32(&r, &plen))
        return IOT_EAGAIN;
    cap = max_payload == 0 ? FRAME_DEFAULT_MAX_PAYLOAD : max_payload;
    if (cap > FRAME_PAYLOAD_LIMIT)
        cap = FRAME_PAYLOAD_LIMIT;
    if (plen > cap) {
        code = FRAME_ERR_TOO_LARGE;
        goto fail;
    }
    f->size = FRAME_HEADER_SIZE + plen;
    if (frame__rd_take(&r, plen, &p))
        return IOT_EAGAIN;
    payload = frame__rd_span(p, plen);
    if ((code = frame__dec_payload(&payload, f)) != 0)
        goto fail;
    return (int)f->size;

fail:
    f->error = code;
    return frame__class(code);
}

/* ---- Encoding ---- */

/*
 * The measuring writer: counts bytes when p is NULL, writes otherwise.
 * size turns SIZE_MAX when a field cannot be encoded.
 */
typedef struct frame__out {
    uint8_t *p;     /* Next byte to write; NULL while measuring. */
    uint8_t *end;   /* One past the last byte that may be written. */
    size_t size;    /* Bytes counted or written so far. */
} frame__out_t;

static void frame__o_bytes(frame__out_t *o, const void *src, size_t n)
{
    if (o->size == SIZE_MAX || n > SIZE_MAX - 1 - o->size) {
        o->size = SIZE_MAX;
        return;
    }
    o->size += n;
    if (o->p != NULL) {
        assert((size_t)(o->end - o->p) >= n);
        if (n)
            memcpy(o->p, src, n);
        o->p += n;
    }
}

static void frame__o_u8(frame__out_t *o, uint8_t v)
{
    frame__o_bytes(o, &v, 1);
}

static void frame__o_u16(frame__out_t *o, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

    frame__o_bytes(o, b, 2);
}

static void frame__o_u32(frame__out_t *o, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

    frame__o_bytes(o, b, 4);
}

static void frame__o_u64(frame__out_t *o, uint64_t v)
{
    frame__o_u32(o, (uint32_t)(v >> 32));
    frame__o_u32(o, (uint32_t)v);
}

static void frame__o_str(frame__out_t *o, frame_str_t s)
{
    frame__o_bytes(o, s.p, s.len);
}

/* Value length of TLV d in f. */
static size_t frame__tlv_len(const frame_t *f, const frame__tlv_def_t *d)
{
    if (d->kind == FRAME__BYTES)
        return ((const frame_str_t *)frame__tlv_field(f, d))->len;
    return frame__int_size(d->kind);
}

/* The TLV block with its length, in table (type) order. */
static void frame__o_tlvs(frame__out_t *o, const frame_t *f)
{
    const frame__tlv_def_t *d;
    const void *v;
    size_t i, n = 0;

    for (i = 0; i < FRAME__NTLVS; i++) {
        if (frame__tlv_applies(f, &frame__tlvs[i]))
            n += 3 + frame__tlv_len(f, &frame__tlvs[i]);
    }
    if (n > UINT16_MAX) {
        o->size = SIZE_MAX;
        return;
    }
    frame__o_u16(o, (uint16_t)n);
    for (i = 0; i < FRAME__NTLVS; i++) {
        d = &frame__tlvs[i];
        if (!frame__tlv_applies(f, d))
            continue;
        v = frame__tlv_field(f, d);
        frame__o_u8(o, d->type);
        frame__o_u16(o, (uint16_t)frame__tlv_len(f, d));
        switch (d->kind) {
        case FRAME__U16: frame__o_u16(o, *(const uint16_t *)v); break;
        case FRAME__U32: frame__o_u32(o, *(const uint32_t *)v); break;
        case FRAME__U64: frame__o_u64(o, *(const uint64_t *)v); break;
        default: frame__o_str(o, *(const frame_str_t *)v); break;
        }
    }
}

/* The payload of f: fixed fields, TLV block, body. */
static void frame__payload(frame__out_t *o, const frame_t *f)
{
    switch (f->type) {
    case FRAME_HELLO:
        frame__o_u8(o, f->u.hello.version);
        frame__o_u8(o, f->u.hello.flags);
        frame__o_u16(o, f->u.hello.keepalive);
        frame__o_u8(o, (uint8_t)f->u.hello.device_id.len);
        frame__o_str(o, f->u.hello.device_id);
        break;
    case FRAME_HELLO_ACK:
        frame__o_u8(o, f->u.hello_ack.result);
        frame__o_u8(o, f->u.hello_ack.flags);
        frame__o_u16(o, f->u.hello_ack.keepalive);
        break;
    case FRAME_DATA:
        frame__o_u32(o, f->u.data.seq);
        break;
    case FRAME_DATA_ACK:
        frame__o_u32(o, f->u.data_ack.ack_seq);
        break;
    case FRAME_CMD:
        frame__o_u32(o, f->u.cmd.id);
        frame__o_u8(o, f->u.cmd.flags);
        break;
    case FRAME_CMD_ACK:
        frame__o_u32(o, f->u.cmd_ack.id);
        frame__o_u8(o, f->u.cmd_ack.result);
        break;
    case FRAME_ERROR:
        frame__o_u8(o, f->u.error.code);
        break;
    case FRAME_BYE:
        frame__o_u8(o, f->u.bye.reason);
        break;
    default: /* PING, PONG. */
        break;
    }
    frame__o_tlvs(o, f);
    if (frame__body(f) != NULL)
        frame__o_str(o, *frame__body(f));
}

/* Payload size of f, or SIZE_MAX when f breaks a rule or is too big. */
static size_t frame__payload_size(const frame_t *f)
{
    frame__out_t o = { NULL, NULL, 0 };
    size_t i;

    if (!frame__type_known(f->type) || frame__check_fixed(f) != 0)
        return SIZE_MAX;
    for (i = 0; i < FRAME__NTLVS; i++) {
        if (frame__tlv_applies(f, &frame__tlvs[i]) && frame__check_tlv(f, &frame__tlvs[i]) != 0)
            return SIZE_MAX;
    }
    if (frame__check_body(f) != 0 || frame__check_cross(f) != 0)
        return SIZE_MAX;
    if (frame__body(f) != NULL && !frame__str_ok(*frame__body(f)))
        return SIZE_MAX; /* A length without bytes (TLV spans: frame__check_tlv). */
    frame__payload(&o, f);
    return o.size > FRAME_PAYLOAD_LIMIT ? SIZE_MAX : o.size;
}

size_t frame_encode_size(const frame_t *f)
{
    size_t n = frame__payload_size(f);

    return n == SIZE_MAX ? 0 : FRAME_HEADER_SIZE + n;
}

size_t frame_encode(uint8_t *out, size_t cap, const frame_t *f)
{
    size_t n = frame__payload_size(f);
    frame__out_t o;

    assert(n != SIZE_MAX);
    if (n == SIZE_MAX)
        return 0; /* Release builds: write nothing rather than garbage. */
    assert(cap >= FRAME_HEADER_SIZE + n);
    if (cap < FRAME_HEADER_SIZE + n)
        return 0;
    o.p = out;
    o.end = out + FRAME_HEADER_SIZE + n;
    o.size = 0;
    frame__o_u32(&o, FRAME_MAGIC);
    frame__o_u8(&o, f->type);
    frame__o_u32(&o, (uint32_t)n);
    frame__payload(&o, f);
    assert(o.size == FRAME_HEADER_SIZE + n && o.p == o.end);
    return FRAME_HEADER_SIZE + n;
}

/* ---- Names ---- */

const char *frame_type_name(uint8_t type)
{
    static const char *const names[] = {
        "UNKNOWN", "HELLO", "HELLO_ACK", "DATA", "DATA_ACK", "PING",
        "PONG", "CMD", "CMD_ACK", "ERROR", "BYE",
    };

    return frame__type_known(type) ? names[type] : names[0];
}

const char *frame_strerror(uint8_t code)
{
    static const char *const texts[] = {
        "unknown error",            /* 0x00: not an error code. */
        "malformed frame",          /* 0x01 MALFORMED */
        "bad magic",                /* 0x02 BAD_MAGIC */
        "frame too large",          /* 0x03 TOO_LARGE */
        "unknown frame type",       /* 0x04 UNKNOWN_TYPE */
        "protocol error",           /* 0x05 PROTOCOL */
        "unsupported version",      /* 0x06 UNSUPPORTED_VERSION */
        "bad device id",            /* 0x07 BAD_DEVICE_ID */
        "bad credentials",          /* 0x08 BAD_CREDENTIALS */
        "not authorised",           /* 0x09 NOT_AUTHORISED */
        "bad stream name",          /* 0x0A BAD_STREAM */
        "unknown stream id",        /* 0x0B UNKNOWN_STREAM */
        "hello timeout",            /* 0x0C HELLO_TIMEOUT */
        "keepalive timeout",        /* 0x0D KEEPALIVE_TIMEOUT */
        "limit reached",            /* 0x0E LIMIT */
        "server unavailable",       /* 0x0F SERVER_UNAVAILABLE */
    };

    return code < sizeof texts / sizeof texts[0] ? texts[code] : texts[0];
}

const char *frame_cmd_result_name(uint8_t result)
{
    static const char *const names[] = {
        "ok", "accepted", "rejected", "unknown_command", "bad_arguments",
        "busy", "failed", "timeout", "too_large",
    };

    if (result >= FRAME_CMD_APP_ERROR)
        return "app_error";
    return result < sizeof names / sizeof names[0] ? names[result] : "unknown";
}

const char *frame_bye_reason_name(uint8_t reason)
{
    static const char *const names[] = {
        "normal", "session_end", "shutdown", "taken_over", "admin",
    };

    return reason < sizeof names / sizeof names[0] ? names[reason] : "unknown";
}
