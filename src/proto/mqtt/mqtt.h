/*
 * mqtt.h - sans-I/O codec for MQTT 3.1.1 (protocol level 4) and 5.0 (level 5).
 *
 * Bytes in, structs out; structs in, bytes out. No sockets, no clock, no
 * global state, no logging, no allocation. Decoded strings and binary fields
 * point into the input buffer and are valid until that buffer changes.
 *
 * Decode contract (STYLE rule 4):
 *   mqtt_decode() returns the number of bytes of one whole packet (> 0),
 *   IOT_EAGAIN when the buffer holds only part of a packet, or a negative
 *   IOT_E* error. On error, pkt->reason holds the MQTT 5 reason code that a
 *   broker should send (CONNACK or DISCONNECT): 0x81 malformed, 0x82 protocol
 *   error, 0x95 packet too large, 0x90 topic name invalid, 0x84 unsupported
 *   protocol version, 0x85 client identifier not valid.
 *   The decoder maps its errors to reasons this way: IOT_EMALFORMED and
 *   IOT_EUTF8 -> 0x81, IOT_EPROTO -> 0x82, IOT_ETOOLARGE -> 0x95,
 *   IOT_EUNSUPPORTED -> 0x84, IOT_ETOPIC -> 0x90 (PUBLISH topic name, will
 *   topic), IOT_ELIMIT -> 0x83 (valid but past what the structs can hold:
 *   more than MQTT_MAX_SUB_IDS subscription ids, more than 65535 user
 *   properties, filters or reason codes), IOT_EINVAL -> 0x83 (version
 *   argument not 0, 4 or 5). 0x85 is the broker's to send: the decoder
 *   checks a client id only for UTF-8.
 *
 * Encode contract: mqtt_encode_size() tells the exact size; mqtt_encode()
 * writes exactly that many bytes into a buffer the caller sized (it asserts).
 */
#ifndef IOT_MQTT_H
#define IOT_MQTT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define MQTT_V31  3 /* Protocol level of MQTT 3.1 ("MQIsdp"): rejected as unsupported. */
#define MQTT_V311 4
#define MQTT_V5   5

/* Largest remaining length the 4-byte variable integer can express. */
#define MQTT_MAX_REMAINING 268435455u

typedef enum mqtt_type {
    MQTT_CONNECT = 1,
    MQTT_CONNACK = 2,
    MQTT_PUBLISH = 3,
    MQTT_PUBACK = 4,
    MQTT_PUBREC = 5,
    MQTT_PUBREL = 6,
    MQTT_PUBCOMP = 7,
    MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9,
    MQTT_UNSUBSCRIBE = 10,
    MQTT_UNSUBACK = 11,
    MQTT_PINGREQ = 12,
    MQTT_PINGRESP = 13,
    MQTT_DISCONNECT = 14,
    MQTT_AUTH = 15,
} mqtt_type_t;

/* MQTT 5 reason codes used by the broker (OASIS MQTT 5.0 section 2.4). */
enum mqtt_rc {
    MQTT_RC_SUCCESS = 0x00,
    MQTT_RC_GRANTED_QOS1 = 0x01,
    MQTT_RC_GRANTED_QOS2 = 0x02,
    MQTT_RC_DISCONNECT_WITH_WILL = 0x04,
    MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
    MQTT_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
    MQTT_RC_CONTINUE_AUTH = 0x18,
    MQTT_RC_REAUTHENTICATE = 0x19,
    MQTT_RC_UNSPECIFIED = 0x80,
    MQTT_RC_MALFORMED = 0x81,
    MQTT_RC_PROTOCOL_ERROR = 0x82,
    MQTT_RC_IMPL_SPECIFIC = 0x83,
    MQTT_RC_UNSUPPORTED_VERSION = 0x84,
    MQTT_RC_CLIENT_ID_INVALID = 0x85,
    MQTT_RC_BAD_USER_PASS = 0x86,
    MQTT_RC_NOT_AUTHORIZED = 0x87,
    MQTT_RC_SERVER_UNAVAILABLE = 0x88,
    MQTT_RC_SERVER_BUSY = 0x89,
    MQTT_RC_BANNED = 0x8A,
    MQTT_RC_SERVER_SHUTTING_DOWN = 0x8B,
    MQTT_RC_BAD_AUTH_METHOD = 0x8C,
    MQTT_RC_KEEPALIVE_TIMEOUT = 0x8D,
    MQTT_RC_SESSION_TAKEN_OVER = 0x8E,
    MQTT_RC_TOPIC_FILTER_INVALID = 0x8F,
    MQTT_RC_TOPIC_NAME_INVALID = 0x90,
    MQTT_RC_PACKET_ID_IN_USE = 0x91,
    MQTT_RC_PACKET_ID_NOT_FOUND = 0x92,
    MQTT_RC_RECEIVE_MAX_EXCEEDED = 0x93,
    MQTT_RC_TOPIC_ALIAS_INVALID = 0x94,
    MQTT_RC_PACKET_TOO_LARGE = 0x95,
    MQTT_RC_MESSAGE_RATE_TOO_HIGH = 0x96,
    MQTT_RC_QUOTA_EXCEEDED = 0x97,
    MQTT_RC_ADMIN_ACTION = 0x98,
    MQTT_RC_PAYLOAD_FORMAT_INVALID = 0x99,
    MQTT_RC_RETAIN_NOT_SUPPORTED = 0x9A,
    MQTT_RC_QOS_NOT_SUPPORTED = 0x9B,
    MQTT_RC_USE_ANOTHER_SERVER = 0x9C,
    MQTT_RC_SERVER_MOVED = 0x9D,
    MQTT_RC_SHARED_SUB_NOT_SUPPORTED = 0x9E,
    MQTT_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
    MQTT_RC_MAX_CONNECT_TIME = 0xA0,
    MQTT_RC_SUB_ID_NOT_SUPPORTED = 0xA1,
    MQTT_RC_WILDCARD_SUB_NOT_SUPPORTED = 0xA2,
};

/* MQTT 3.1.1 CONNACK return codes. */
enum mqtt_v3_connack {
    MQTT_V3_ACCEPTED = 0,
    MQTT_V3_BAD_VERSION = 1,
    MQTT_V3_ID_REJECTED = 2,
    MQTT_V3_SERVER_UNAVAILABLE = 3,
    MQTT_V3_BAD_USER_PASS = 4,
    MQTT_V3_NOT_AUTHORIZED = 5,
};

/* A length-counted view of bytes; p points into the decoded input. */
typedef struct mqtt_str {
    const uint8_t *p;
    size_t len;
} mqtt_str_t;

/* Bits of mqtt_props_t.present, one per property that was present. */
enum mqtt_prop_bit {
    MQTT_P_PAYLOAD_FORMAT = 1u << 0,    /* 0x01 byte */
    MQTT_P_MESSAGE_EXPIRY = 1u << 1,    /* 0x02 u32 */
    MQTT_P_CONTENT_TYPE = 1u << 2,      /* 0x03 utf8 */
    MQTT_P_RESPONSE_TOPIC = 1u << 3,    /* 0x08 utf8 */
    MQTT_P_CORRELATION_DATA = 1u << 4,  /* 0x09 binary */
    MQTT_P_SUB_ID = 1u << 5,            /* 0x0B varint (may repeat in PUBLISH to a client) */
    MQTT_P_SESSION_EXPIRY = 1u << 6,    /* 0x11 u32 */
    MQTT_P_ASSIGNED_CLIENT_ID = 1u << 7,/* 0x12 utf8 */
    MQTT_P_SERVER_KEEPALIVE = 1u << 8,  /* 0x13 u16 */
    MQTT_P_AUTH_METHOD = 1u << 9,       /* 0x15 utf8 */
    MQTT_P_AUTH_DATA = 1u << 10,        /* 0x16 binary */
    MQTT_P_REQ_PROBLEM_INFO = 1u << 11, /* 0x17 byte */
    MQTT_P_WILL_DELAY = 1u << 12,       /* 0x18 u32 */
    MQTT_P_REQ_RESPONSE_INFO = 1u << 13,/* 0x19 byte */
    MQTT_P_RESPONSE_INFO = 1u << 14,    /* 0x1A utf8 */
    MQTT_P_SERVER_REFERENCE = 1u << 15, /* 0x1C utf8 */
    MQTT_P_REASON_STRING = 1u << 16,    /* 0x1F utf8 */
    MQTT_P_RECEIVE_MAX = 1u << 17,      /* 0x21 u16 */
    MQTT_P_TOPIC_ALIAS_MAX = 1u << 18,  /* 0x22 u16 */
    MQTT_P_TOPIC_ALIAS = 1u << 19,      /* 0x23 u16 */
    MQTT_P_MAX_QOS = 1u << 20,          /* 0x24 byte */
    MQTT_P_RETAIN_AVAILABLE = 1u << 21, /* 0x25 byte */
    MQTT_P_USER_PROPERTY = 1u << 22,    /* 0x26 utf8 pair (may repeat) */
    MQTT_P_MAX_PACKET_SIZE = 1u << 23,  /* 0x27 u32 */
    MQTT_P_WILDCARD_SUB_AVAIL = 1u << 24, /* 0x28 byte */
    MQTT_P_SUB_ID_AVAIL = 1u << 25,     /* 0x29 byte */
    MQTT_P_SHARED_SUB_AVAIL = 1u << 26, /* 0x2A byte */
};

/* Most subscription identifiers one outgoing PUBLISH can carry. */
#define MQTT_MAX_SUB_IDS 32

/*
 * MQTT 5 properties of one packet (or of the will in CONNECT). Only fields
 * whose bit is set in present are meaningful. Decoding checks that each
 * property is allowed in the packet type and appears at most once (except
 * user property, and subscription identifier in PUBLISH). Value rules are
 * checked too: payload format, request flags, max QoS and the *_AVAIL bytes
 * are 0 or 1; receive maximum, max packet size, topic alias and
 * subscription identifier are non-zero.
 * The decoder does not know the direction, so it accepts subscription
 * identifiers in any PUBLISH: a broker must itself refuse them in a
 * PUBLISH from a client [MQTT-3.3.4-6] (sub_id_count != 0).
 * Encoding writes, in identifier order, the properties whose bit is set
 * and that the packet type allows (others are silently left out); user
 * properties only when MQTT_P_USER_PROPERTY is set; in SUBSCRIBE only
 * sub_ids[0].
 */
typedef struct mqtt_props {
    uint32_t present;            /* MQTT_P_* bits of the properties present. */
    uint8_t payload_format;      /* 0 = bytes, 1 = UTF-8. */
    uint8_t req_problem_info;    /* Request problem information (CONNECT). */
    uint8_t req_response_info;   /* Request response information (CONNECT). */
    uint8_t max_qos;             /* Maximum QoS (CONNACK). */
    uint8_t retain_available;    /* Retain available (CONNACK). */
    uint8_t wildcard_sub_avail;  /* Wildcard subscription available (CONNACK). */
    uint8_t sub_id_avail;        /* Subscription identifiers available (CONNACK). */
    uint8_t shared_sub_avail;    /* Shared subscription available (CONNACK). */
    uint16_t server_keepalive;   /* Server keep alive (CONNACK). */
    uint16_t receive_max;        /* Receive maximum (CONNECT, CONNACK). */
    uint16_t topic_alias_max;    /* Topic alias maximum (CONNECT, CONNACK). */
    uint16_t topic_alias;        /* Topic alias (PUBLISH). */
    uint32_t message_expiry;     /* Message expiry interval, seconds. */
    uint32_t session_expiry;     /* Session expiry interval, seconds. */
    uint32_t will_delay;         /* Will delay interval, seconds. */
    uint32_t max_packet_size;    /* Maximum packet size (CONNECT, CONNACK). */
    mqtt_str_t content_type;
    mqtt_str_t response_topic;
    mqtt_str_t correlation_data;
    mqtt_str_t assigned_client_id;
    mqtt_str_t auth_method;
    mqtt_str_t auth_data;
    mqtt_str_t response_info;
    mqtt_str_t server_reference;
    mqtt_str_t reason_string;
    /*
     * User properties, kept as encoded bytes. user_raw is a span of encoded
     * properties of which only the 0x26 records (<0x26><u16 len><key><u16
     * len><value>) count: decoding points it at the packet's whole property
     * block; encoding copies just its 0x26 records, in order. So a decoded
     * PUBLISH's props can be handed to the encoder as they are, and user
     * properties are forwarded in order [MQTT-3.3.2-18]. To keep them past
     * the input buffer's life, copy them with mqtt_user_props_records().
     */
    mqtt_str_t user_raw;
    uint16_t user_count;         /* Number of user property records. */
    /* Subscription identifiers: one in SUBSCRIBE, up to MQTT_MAX_SUB_IDS in PUBLISH. */
    uint32_t sub_ids[MQTT_MAX_SUB_IDS];
    uint8_t sub_id_count;
} mqtt_props_t;

/*
 * Iterates user properties of decoded props. *pos starts at 0. Returns 1 and
 * fills key/val for the next record, 0 at the end.
 */
int mqtt_user_props_next(const mqtt_props_t *props, size_t *pos,
                         mqtt_str_t *key, mqtt_str_t *val);

/*
 * Copies the user property records of props as encoded 0x26 records into
 * out (capacity cap) and returns the number of bytes written, or the number
 * needed when out is NULL. The result is a valid user_raw span. Only whole
 * records are copied: when cap is short, the copy stops before the first
 * record that does not fit.
 */
size_t mqtt_user_props_records(const mqtt_props_t *props, uint8_t *out, size_t cap);

typedef struct mqtt_connect {
    uint8_t proto_level;    /* 4 or 5 (3 is reported as IOT_EUNSUPPORTED). */
    uint8_t clean;          /* Clean session (3.1.1) / clean start (5.0). */
    uint8_t will_flag;
    uint8_t will_qos;
    uint8_t will_retain;
    uint8_t has_username;
    uint8_t has_password;
    uint16_t keepalive;     /* Seconds; 0 disables. */
    mqtt_str_t client_id;   /* May be empty. */
    mqtt_str_t will_topic;
    mqtt_str_t will_payload;
    mqtt_str_t username;
    mqtt_str_t password;
    mqtt_props_t props;      /* CONNECT properties (v5). */
    mqtt_props_t will_props; /* Will properties (v5). */
} mqtt_connect_t;

typedef struct mqtt_connack {
    uint8_t session_present;
    uint8_t reason;         /* v5 reason code or v3 return code. */
    mqtt_props_t props;
} mqtt_connack_t;

typedef struct mqtt_publish {
    uint8_t dup;
    uint8_t qos;
    uint8_t retain;
    uint16_t packet_id;     /* 0 for QoS 0. */
    mqtt_str_t topic;       /* May be empty in v5 when a topic alias is set. */
    mqtt_str_t payload;
    mqtt_props_t props;
} mqtt_publish_t;

/* PUBACK, PUBREC, PUBREL, PUBCOMP. */
typedef struct mqtt_ack {
    uint16_t packet_id;
    uint8_t reason;         /* 0 when absent. */
    mqtt_props_t props;
} mqtt_ack_t;

/* Subscription options byte (v5 layout; v3 uses only the QoS bits). */
#define MQTT_SUBOPT_QOS_MASK 0x03
#define MQTT_SUBOPT_NO_LOCAL 0x04
#define MQTT_SUBOPT_RAP 0x08            /* Retain as published. */
#define MQTT_SUBOPT_RH_SHIFT 4          /* Retain handling, 2 bits. */

/* SUBSCRIBE and UNSUBSCRIBE: the topic list is iterated, not copied. */
typedef struct mqtt_subscribe {
    uint16_t packet_id;
    uint16_t count;         /* Number of filters (>= 1). */
    mqtt_str_t list;        /* Raw topic list: (<u16 len><filter>[<opts>])*. */
    mqtt_props_t props;
} mqtt_subscribe_t;

/*
 * Iterates a decoded SUBSCRIBE (with_opts = 1) or UNSUBSCRIBE (with_opts =
 * 0) list. *pos starts at 0. Returns 1 and fills filter (and opts), 0 at the
 * end. The list was validated by mqtt_decode (UTF-8, option reserved bits).
 */
int mqtt_sub_next(const mqtt_subscribe_t *s, int with_opts, size_t *pos,
                  mqtt_str_t *filter, uint8_t *opts);

/* SUBACK and UNSUBACK. */
typedef struct mqtt_suback {
    uint16_t packet_id;
    uint16_t count;
    const uint8_t *codes;   /* count reason codes (v3 UNSUBACK has none). */
    mqtt_props_t props;
} mqtt_suback_t;

/* DISCONNECT and AUTH. */
typedef struct mqtt_disconnect {
    uint8_t reason;
    mqtt_props_t props;
} mqtt_disconnect_t;

typedef struct mqtt_packet {
    uint8_t type;           /* mqtt_type_t. */
    uint8_t flags;          /* Low 4 bits of the fixed header. */
    uint8_t reason;         /* On decode error: reason code to send (v5). */
    uint32_t size;          /* Whole packet size in bytes, fixed header included. */
    union {
        mqtt_connect_t connect;
        mqtt_connack_t connack;
        mqtt_publish_t publish;
        mqtt_ack_t ack;
        mqtt_subscribe_t subscribe;   /* Also UNSUBSCRIBE. */
        mqtt_suback_t suback;         /* Also UNSUBACK. */
        mqtt_disconnect_t disconnect; /* Also AUTH. */
    } u;
} mqtt_packet_t;

/*
 * Decodes one packet from buf. version is the connection's protocol level
 * (MQTT_V311 or MQTT_V5), or 0 before CONNECT, when only CONNECT is
 * accepted. max_size bounds the whole packet (0 = protocol maximum); a
 * larger packet returns IOT_ETOOLARGE as soon as its fixed header is read,
 * without waiting for the rest. Returns bytes consumed (> 0), IOT_EAGAIN,
 * or a negative error with pkt->reason set. On IOT_EUNSUPPORTED for a
 * CONNECT, pkt->u.connect.proto_level holds the requested level so that
 * the right CONNACK can be sent. Only the union member of pkt->type is
 * cleared and filled (none for PINGREQ/PINGRESP); after an error, only
 * type, flags and reason are meaningful (and that proto_level).
 */
int mqtt_decode(const uint8_t *buf, size_t len, int version, size_t max_size,
                mqtt_packet_t *pkt);

/*
 * Returns the encoded size of pkt for version, or 0 when the packet cannot
 * be encoded: remaining length above MQTT_MAX_REMAINING, a string or binary
 * field longer than 65535 bytes, a subscription id of 0 or above
 * MQTT_MAX_REMAINING, AUTH for 3.1.1, an unknown type, or a version other
 * than MQTT_V311 / MQTT_V5. pkt->flags is ignored: the first byte comes
 * from the type and, for PUBLISH, from dup/qos/retain.
 */
size_t mqtt_encode_size(int version, const mqtt_packet_t *pkt);

/*
 * Encodes pkt for version into out, which has room for cap bytes; asserts
 * cap >= mqtt_encode_size(). Returns the bytes written (0, writing
 * nothing, where an assert would fire in a debug build). For v3 the
 * properties and v5-only fields are left out (ack and DISCONNECT reason
 * codes, UNSUBACK codes, subscription option bits above QoS); v3 SUBACK
 * codes are copied as they are. For v5, PUBACK/PUBREC/PUBREL/PUBCOMP with
 * reason 0 and no properties take the short form (remaining length 2), a
 * reason without properties omits the property length, and DISCONNECT or
 * AUTH with reason 0 and no properties have remaining length 0. CONNECT is
 * written with protocol level version (connect.proto_level is ignored).
 */
size_t mqtt_encode(uint8_t *out, size_t cap, int version, const mqtt_packet_t *pkt);

/*
 * Validation helpers, also used by the broker for filters it builds.
 * mqtt_utf8_valid: well-formed UTF-8, no U+0000, no surrogates
 *   [MQTT-1.5.3-1], [MQTT-1.5.3-2]. Returns 1 if valid.
 * mqtt_topic_name_valid: non-empty, no '+' or '#' [MQTT-3.3.2-2].
 * mqtt_topic_filter_valid: '#' last and alone in its level, '+' alone in
 *   its level [MQTT-4.7.1-2], [MQTT-4.7.1-3]; $share/{group}/{filter}
 *   needs a non-empty group without wildcards and a non-empty filter.
 */
int mqtt_utf8_valid(const uint8_t *p, size_t len);
int mqtt_topic_name_valid(const uint8_t *p, size_t len);
int mqtt_topic_filter_valid(const uint8_t *p, size_t len);

#endif
