/*
 * err.h - the one error enum of iotgate.
 *
 * Every function that can fail returns an int: 0 (or a positive byte count
 * where documented) on success, a negative IOT_E* value on failure.
 * iot_strerror() names each value for log lines.
 */
#ifndef IOT_ERR_H
#define IOT_ERR_H

enum iot_err {
    IOT_OK = 0,
    IOT_EAGAIN = -1,      /* Need more input (decoders) or would block (I/O). */
    IOT_EMALFORMED = -2,  /* Input violates the wire format. */
    IOT_ETOOLARGE = -3,   /* Input exceeds a configured or protocol limit. */
    IOT_EUNSUPPORTED = -4,/* Well-formed but not supported (e.g. protocol version). */
    IOT_EPROTO = -5,      /* Well-formed but breaks a protocol rule. */
    IOT_ENOMEM = -6,      /* Allocation failed. */
    IOT_EIO = -7,         /* A system call failed; errno holds the detail. */
    IOT_EINVAL = -8,      /* Bad argument or bad configuration value. */
    IOT_ENOTFOUND = -9,   /* The named thing does not exist. */
    IOT_EEXIST = -10,     /* The named thing already exists. */
    IOT_ECLOSED = -11,    /* The peer or object is closed. */
    IOT_ELIMIT = -12,     /* A quota (connections, queue, inflight) is reached. */
    IOT_EDENIED = -13,    /* Not authorised. */
    IOT_EUTF8 = -14,      /* Invalid UTF-8 or a forbidden code point in a string. */
    IOT_ETOPIC = -15,     /* Invalid topic name or topic filter. */
};

/* Returns a static string naming err; never NULL. */
const char *iot_strerror(int err);

#endif
