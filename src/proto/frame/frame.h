/*
 * frame.h - sans-I/O codec for the iotgate frame protocol, version 1.
 *
 * The wire format is specified in docs/frame-protocol.md; section numbers
 * below refer to it. Bytes in, structs out; structs in, bytes out. No
 * sockets, no clock, no global state, no logging, no allocation. Decoded
 * byte fields point into the input buffer and are valid until that buffer
 * changes.
 *
 * Decode contract (STYLE rule 4, spec section 13.3):
 *   frame_decode() returns the size of one whole frame (> 0), IOT_EAGAIN
 *   when the buffer holds only a prefix of a frame, or a negative IOT_E*
 *   error. On error, f->error holds the FRAME_ERR_* code to send (in ERROR,
 *   or as the HELLO_ACK result for a refused HELLO payload: spec 13.2), and
 *   f->type holds the type byte once it was read (0 before that). The
 *   classes:
 *     IOT_EMALFORMED   FRAME_ERR_BAD_MAGIC (as soon as one of the first 4
 *                      bytes differs from the magic), FRAME_ERR_MALFORMED;
 *     IOT_ETOOLARGE    FRAME_ERR_TOO_LARGE, as soon as the 9-byte header
 *                      shows a length above max_payload;
 *     IOT_EUNSUPPORTED FRAME_ERR_UNKNOWN_TYPE (as soon as byte 4 is read),
 *                      FRAME_ERR_UNSUPPORTED_VERSION (HELLO version not 1;
 *                      f->u.hello.version holds the version asked for);
 *     IOT_EPROTO       FRAME_ERR_PROTOCOL, FRAME_ERR_BAD_DEVICE_ID,
 *                      FRAME_ERR_BAD_STREAM.
 *   Payload errors are reported only once the whole frame is in, so every
 *   strict prefix of a valid frame returns IOT_EAGAIN.
 *
 * Encode contract: frame_encode_size() tells the exact size, or 0 for a
 * frame that breaks a rule of the spec; frame_encode() writes exactly that
 * many bytes into a buffer the caller sized (it asserts). Whatever
 * frame_encode() writes, frame_decode() accepts (given a max_payload large
 * enough), and decodes to the same fields.
 */
#ifndef IOT_FRAME_H
#define IOT_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define FRAME_MAGIC 0xABCDEF99u
#define FRAME_HEADER_SIZE 9u          /* Magic, type, length (section 3). */
#define FRAME_VERSION 1u              /* HELLO version of this codec. */
#define FRAME_DEFAULT_MAX_PAYLOAD 65536u
/* Largest payload the codec handles whatever max_payload says: the frame
 * size must fit the int that frame_decode() returns (section 3). */
#define FRAME_PAYLOAD_LIMIT (0x7FFFFFFFu - FRAME_HEADER_SIZE)
#define FRAME_MIN_MAX_PAYLOAD 64u     /* Smallest DEVICE_MAX / SERVER_MAX. */

/* Field limits (section 7). */
#define FRAME_MAX_DEVICE_ID 64u
#define FRAME_MAX_STREAM_NAME 64u
#define FRAME_MAX_TOKEN 4096u
#define FRAME_MAX_PASSWORD 256u
#define FRAME_MAX_ERROR_TEXT 1024u

/* Message types (section 5). */
typedef enum frame_type {
    FRAME_HELLO = 0x01,
    FRAME_HELLO_ACK = 0x02,
    FRAME_DATA = 0x03,
    FRAME_DATA_ACK = 0x04,
    FRAME_PING = 0x05,
    FRAME_PONG = 0x06,
    FRAME_CMD = 0x07,
    FRAME_CMD_ACK = 0x08,
    FRAME_ERROR = 0x09,
    FRAME_BYE = 0x0A,
} frame_type_t;

/* ERROR codes, also the HELLO_ACK result of a refusal (section 13.1). */
enum frame_err {
    FRAME_ERR_MALFORMED = 0x01,
    FRAME_ERR_BAD_MAGIC = 0x02,
    FRAME_ERR_TOO_LARGE = 0x03,
    FRAME_ERR_UNKNOWN_TYPE = 0x04,
    FRAME_ERR_PROTOCOL = 0x05,
    FRAME_ERR_UNSUPPORTED_VERSION = 0x06,
    FRAME_ERR_BAD_DEVICE_ID = 0x07,
    FRAME_ERR_BAD_CREDENTIALS = 0x08,
    FRAME_ERR_NOT_AUTHORISED = 0x09,
    FRAME_ERR_BAD_STREAM = 0x0A,
    FRAME_ERR_UNKNOWN_STREAM = 0x0B,
    FRAME_ERR_HELLO_TIMEOUT = 0x0C,
    FRAME_ERR_KEEPALIVE_TIMEOUT = 0x0D,
    FRAME_ERR_LIMIT = 0x0E,
    FRAME_ERR_SERVER_UNAVAILABLE = 0x0F,
};

/* CMD_ACK results (section 10.2). */
enum frame_cmd_result {
    FRAME_CMD_OK = 0x00,
    FRAME_CMD_ACCEPTED = 0x01,
    FRAME_CMD_REJECTED = 0x02,
    FRAME_CMD_UNKNOWN_COMMAND = 0x03,
    FRAME_CMD_BAD_ARGUMENTS = 0x04,
    FRAME_CMD_BUSY = 0x05,
    FRAME_CMD_FAILED = 0x06,
    FRAME_CMD_TIMEOUT = 0x07,
    FRAME_CMD_TOO_LARGE = 0x08,   /* Set by the server only. */
    FRAME_CMD_APP_ERROR = 0x80,   /* 0x80-0xFF: application-defined. */
};

/* BYE reasons (section 6.9). */
enum frame_bye_reason {
    FRAME_BYE_NORMAL = 0x00,
    FRAME_BYE_SESSION_END = 0x01,
    FRAME_BYE_SHUTDOWN = 0x02,
    FRAME_BYE_TAKEN_OVER = 0x03,
    FRAME_BYE_ADMIN = 0x04,
};

/* Flag bits of the fixed fields; every other bit is reserved (MALFORMED). */
#define FRAME_HELLO_CLEAN 0x01u            /* HELLO flags. */
#define FRAME_HELLO_ACK_SESSION 0x01u      /* HELLO_ACK flags: session present. */
#define FRAME_CMD_DUP 0x01u                /* CMD flags. */

/* TLV types of version 1 (section 4.2). 0x80-0xFF are ignorable. */
enum frame_tlv {
    FRAME_TLV_TOKEN = 0x01,          /* HELLO, bytes 1..4096. */
    FRAME_TLV_PASSWORD = 0x02,       /* HELLO, bytes 1..256. */
    FRAME_TLV_SESSION_EXPIRY = 0x03, /* HELLO, u32 seconds. */
    FRAME_TLV_DEVICE_MAX = 0x04,     /* HELLO, u32 >= 64. */
    FRAME_TLV_SERVER_MAX = 0x10,     /* HELLO_ACK, u32 >= 64. */
    FRAME_TLV_ACK_SEQ = 0x11,        /* HELLO_ACK, u32. */
    FRAME_TLV_ACK_EVERY = 0x12,      /* HELLO_ACK, u16 >= 1. */
    FRAME_TLV_ACK_DELAY = 0x13,      /* HELLO_ACK, u16 milliseconds. */
    FRAME_TLV_STREAM_NAME = 0x20,    /* DATA, a stream name. */
    FRAME_TLV_STREAM_ID = 0x21,      /* DATA, u16 >= 1. */
    FRAME_TLV_TIMESTAMP = 0x22,      /* DATA, u64 ms since the epoch. */
    FRAME_TLV_IGNORABLE = 0x80,      /* Bit set: skipped when unknown. */
};

/* Bits of frame_t.present, one per optional TLV that is present. */
enum frame_has {
    FRAME_HAS_TOKEN = 1u << 0,
    FRAME_HAS_PASSWORD = 1u << 1,
    FRAME_HAS_SESSION_EXPIRY = 1u << 2,
    FRAME_HAS_DEVICE_MAX = 1u << 3,
    FRAME_HAS_SERVER_MAX = 1u << 4,
    FRAME_HAS_ACK_SEQ = 1u << 5,
    FRAME_HAS_ACK_EVERY = 1u << 6,
    FRAME_HAS_ACK_DELAY = 1u << 7,
    FRAME_HAS_STREAM_NAME = 1u << 8,
    FRAME_HAS_STREAM_ID = 1u << 9,
    FRAME_HAS_TIMESTAMP = 1u << 10,
};

/* A length-counted view of bytes; p points into the decoded input. */
typedef struct frame_str {
    const uint8_t *p;
    size_t len;
} frame_str_t;

typedef struct frame_hello {
    uint8_t version;          /* FRAME_VERSION (other values: IOT_EUNSUPPORTED). */
    uint8_t flags;            /* FRAME_HELLO_CLEAN. */
    uint16_t keepalive;       /* Seconds the device proposes; 0 = none. */
    frame_str_t device_id;    /* 1..64 bytes of [A-Za-z0-9-_.:]. */
    frame_str_t token;        /* FRAME_HAS_TOKEN. */
    frame_str_t password;     /* FRAME_HAS_PASSWORD. */
    uint32_t session_expiry;  /* FRAME_HAS_SESSION_EXPIRY; seconds. */
    uint32_t device_max;      /* FRAME_HAS_DEVICE_MAX; largest payload the device takes. */
} frame_hello_t;

typedef struct frame_hello_ack {
    uint8_t result;           /* 0 accepted, else a FRAME_ERR_* code. */
    uint8_t flags;            /* FRAME_HELLO_ACK_SESSION. */
    uint16_t keepalive;       /* Seconds in force; 0 = none. */
    uint32_t server_max;      /* FRAME_HAS_SERVER_MAX. */
    uint32_t ack_seq;         /* FRAME_HAS_ACK_SEQ; cumulative ack of the session. */
    uint16_t ack_every;       /* FRAME_HAS_ACK_EVERY; DATA frames per DATA_ACK. */
    uint16_t ack_delay;       /* FRAME_HAS_ACK_DELAY; milliseconds. */
} frame_hello_ack_t;

typedef struct frame_data {
    uint32_t seq;             /* Session-wide sequence number (section 9.1). */
    uint16_t stream_id;       /* FRAME_HAS_STREAM_ID; 1..65535. */
    frame_str_t stream_name;  /* FRAME_HAS_STREAM_NAME; a valid stream name. */
    uint64_t timestamp;       /* FRAME_HAS_TIMESTAMP; ms since the epoch. */
    frame_str_t payload;      /* The telemetry; may be empty. */
} frame_data_t;

typedef struct frame_data_ack {
    uint32_t ack_seq;         /* Every DATA up to and including this is acked. */
} frame_data_ack_t;

typedef struct frame_cmd {
    uint32_t id;              /* Not 0. */
    uint8_t flags;            /* FRAME_CMD_DUP. */
    frame_str_t payload;      /* The command; may be empty. */
} frame_cmd_t;

typedef struct frame_cmd_ack {
    uint32_t id;              /* The CMD's id; not 0. */
    uint8_t result;           /* enum frame_cmd_result, any value accepted. */
    frame_str_t body;         /* Optional result body; may be empty. */
} frame_cmd_ack_t;

typedef struct frame_error {
    uint8_t code;             /* A FRAME_ERR_* code; not 0. */
    frame_str_t text;         /* 0..1024 bytes, UTF-8 by contract (not checked). */
} frame_error_t;

typedef struct frame_bye {
    uint8_t reason;           /* enum frame_bye_reason, any value accepted. */
} frame_bye_t;

typedef struct frame {
    uint8_t type;             /* frame_type_t. */
    uint8_t error;            /* On decode error: the FRAME_ERR_* code to send. */
    uint16_t ignored;         /* Ignorable unknown TLVs skipped while decoding. */
    uint32_t present;         /* FRAME_HAS_* bits of the optional TLVs present. */
    uint32_t size;            /* Whole frame in bytes, header included. */
    union {
        frame_hello_t hello;
        frame_hello_ack_t hello_ack;
        frame_data_t data;
        frame_data_ack_t data_ack;
        frame_cmd_t cmd;
        frame_cmd_ack_t cmd_ack;
        frame_error_t error;
        frame_bye_t bye;
    } u;                      /* None for PING and PONG. */
} frame_t;

/*
 * Decodes one frame from buf (borrows buf; the frame's byte fields are valid
 * until buf changes). max_payload bounds the payload length field; 0 means
 * FRAME_DEFAULT_MAX_PAYLOAD and larger values are capped at
 * FRAME_PAYLOAD_LIMIT. Returns bytes consumed (> 0), IOT_EAGAIN, or a
 * negative IOT_E* with f->error set (see the top of this file). f is
 * cleared first; f->size is set once the header is complete and its length
 * is within max_payload.
 */
int frame_decode(const uint8_t *buf, size_t len, size_t max_payload, frame_t *f);

/*
 * Returns the encoded size of f, header included, or 0 when f cannot be
 * sent: unknown type, a field that breaks section 6 or 7 (bad device id or
 * stream name, zero ids, reserved flag bits, out-of-bounds TLV values,
 * TOKEN with PASSWORD, session present on a refusal, ERROR code 0 or text
 * too long), or a payload above FRAME_PAYLOAD_LIMIT. f->error, f->ignored
 * and f->size are ignored; the TLVs written are those whose FRAME_HAS_* bit
 * is set and that belong to f->type (others are left out), in type order.
 */
size_t frame_encode_size(const frame_t *f);

/*
 * Encodes f into out, which has room for cap bytes; asserts
 * cap >= frame_encode_size(f) > 0. Returns the bytes written, or 0 (writing
 * nothing) where an assert would fire in a debug build.
 */
size_t frame_encode(uint8_t *out, size_t cap, const frame_t *f);

/* Static names, never NULL: "HELLO" ... "BYE", else "UNKNOWN". */
const char *frame_type_name(uint8_t type);

/* Static text for an ERROR code, e.g. "bad magic"; "unknown error" if unnamed. */
const char *frame_strerror(uint8_t code);

/* The JSON result name of a CMD_ACK result (section 10.2), never NULL. */
const char *frame_cmd_result_name(uint8_t result);

/* Static name of a BYE reason, e.g. "normal"; "unknown" if unnamed. */
const char *frame_bye_reason_name(uint8_t reason);

/*
 * Section 7 validators, also for callers that build ids or names.
 * Each returns 1 if p[0..len) is valid.
 */
int frame_device_id_valid(const uint8_t *p, size_t len);
int frame_stream_name_valid(const uint8_t *p, size_t len);

/*
 * Serial comparison of sequence numbers (section 9.1): < 0 when a is
 * before b, 0 when equal, > 0 when a is after b. Exactly 2^31 apart counts
 * as after.
 */
static inline int frame_seq_cmp(uint32_t a, uint32_t b)
{
    uint32_t d = a - b;

    return d == 0 ? 0 : d <= 0x80000000u ? 1 : -1;
}

#endif
