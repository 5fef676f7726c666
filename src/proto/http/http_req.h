/*
 * http_req.h - the head of one HTTP/1.1 request (request line and headers),
 * parsed with http-parser. Sans-I/O: bytes in, a struct of views into those
 * bytes out. Used for the WebSocket upgrade.
 */
#ifndef IOT_HTTP_REQ_H
#define IOT_HTTP_REQ_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Largest request head accepted (request line plus headers). */
#define HTTP_REQ_MAX_HEAD 8192

typedef struct http_view {
    const char *p;               /* Points into the parsed input. */
    size_t len;
} http_view_t;

typedef struct http_req {
    int method;                  /* http-parser's enum http_method. */
    unsigned http_major, http_minor;
    http_view_t url;             /* Request target as sent. */
    http_view_t upgrade;         /* Upgrade header. */
    http_view_t connection;      /* Connection header. */
    http_view_t ws_key;          /* Sec-WebSocket-Key. */
    http_view_t ws_version;      /* Sec-WebSocket-Version. */
    http_view_t ws_protocol;     /* Sec-WebSocket-Protocol (offered subprotocols). */
    http_view_t host;            /* Host. */
} http_req_t;

/*
 * Parses the request head at the start of buf. Returns the head's length in
 * bytes (> 0) once the blank line after the headers has arrived,
 * IOT_EAGAIN if it has not (and len <= HTTP_REQ_MAX_HEAD), IOT_ETOOLARGE
 * past HTTP_REQ_MAX_HEAD, or IOT_EMALFORMED. A header split over several
 * lines or repeated keeps its first value.
 */
int http_req_parse(const uint8_t *buf, size_t len, http_req_t *req);

/* Case-insensitive: does the comma-separated list v contain token? */
int http_has_token(http_view_t v, const char *token);

#endif
