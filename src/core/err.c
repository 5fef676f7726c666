/* err.c - names for the IOT_E* values of err.h. */
#include "core/err.h"

const char *iot_strerror(int err)
{
    switch (err) {
    case IOT_OK: return "ok";
    case IOT_EAGAIN: return "need more data";
    case IOT_EMALFORMED: return "malformed input";
    case IOT_ETOOLARGE: return "too large";
    case IOT_EUNSUPPORTED: return "unsupported";
    case IOT_EPROTO: return "protocol error";
    case IOT_ENOMEM: return "out of memory";
    case IOT_EIO: return "i/o error";
    case IOT_EINVAL: return "invalid argument";
    case IOT_ENOTFOUND: return "not found";
    case IOT_EEXIST: return "already exists";
    case IOT_ECLOSED: return "closed";
    case IOT_ELIMIT: return "limit reached";
    case IOT_EDENIED: return "not authorised";
    case IOT_EUTF8: return "invalid utf-8";
    case IOT_ETOPIC: return "invalid topic";
    default: return "unknown error";
    }
}
