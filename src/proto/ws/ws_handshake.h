/*
 * ws_handshake.h - the server side of the RFC 6455 opening handshake, as a
 * pure function: a parsed request head in, the response bytes out.
 */
#ifndef IOT_WS_HANDSHAKE_H
#define IOT_WS_HANDSHAKE_H

#include <stddef.h>

#include "proto/http/http_req.h"

/* Largest response ws_handshake writes. */
#define WS_RESPONSE_MAX 512

/* Writes the Sec-WebSocket-Accept value for key (RFC 6455 section 4.2.2)
 * into out, 29 bytes including the NUL. */
void ws_accept_key(const char *key, size_t key_len, char out[29]);

/*
 * Checks req as a WebSocket upgrade for path, offering one of the
 * subprotocols in protocols (NULL-terminated, in order of preference), and
 * writes the HTTP response to out (WS_RESPONSE_MAX bytes). Returns the HTTP
 * status: 101 when the upgrade is accepted (*chosen is the subprotocol or
 * NULL if the client offered none), or 400, 404, 405, 426 with an error
 * response. *out_len gets the response length.
 */
int ws_handshake(const http_req_t *req, const char *path, const char *const *protocols,
                 char *out, size_t *out_len, const char **chosen);

#endif
