/*
 * ws_handshake.c - validates a WebSocket upgrade request (RFC 6455 section
 * 4.2.1) and builds the 101 or error response. SHA-1 and base64 come from
 * OpenSSL.
 */
#include "proto/ws/ws_handshake.h"

#include <http_parser.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

void ws_accept_key(const char *key, size_t key_len, char out[29])
{
    unsigned char digest[SHA_DIGEST_LENGTH];
    char buf[128];
    if (key_len > sizeof buf - sizeof WS_GUID) key_len = sizeof buf - sizeof WS_GUID;
    memcpy(buf, key, key_len);
    memcpy(buf + key_len, WS_GUID, sizeof WS_GUID - 1);
    SHA1((const unsigned char *)buf, key_len + sizeof WS_GUID - 1, digest);
    EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
}

static int error_response(int status, const char *reason, const char *extra, char *out, size_t *out_len)
{
    int n = snprintf(out, WS_RESPONSE_MAX,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n%s\n",
                     status, reason, strlen(reason) + 1, extra, reason);
    *out_len = (size_t)n;
    return status;
}

int ws_handshake(const http_req_t *req, const char *path, const char *const *protocols,
                 char *out, size_t *out_len, const char **chosen)
{
    *chosen = NULL;
    if (req->method != HTTP_GET) return error_response(405, "Method Not Allowed", "Allow: GET\r\n", out, out_len);
    /* The target may carry a query; only the path is compared. */
    size_t plen = req->url.len;
    const char *q = memchr(req->url.p ? req->url.p : "", '?', plen);
    if (q) plen = (size_t)(q - req->url.p);
    if (plen != strlen(path) || memcmp(req->url.p, path, plen) != 0)
        return error_response(404, "Not Found", "", out, out_len);
    if (req->http_major != 1 || req->http_minor < 1 || !http_has_token(req->upgrade, "websocket") ||
        !http_has_token(req->connection, "upgrade") || req->ws_key.len == 0)
        return error_response(400, "Bad Request", "", out, out_len);
    if (req->ws_version.len != 2 || memcmp(req->ws_version.p, "13", 2) != 0)
        return error_response(426, "Upgrade Required", "Sec-WebSocket-Version: 13\r\n", out, out_len);
    /* The key is 16 random bytes in base64: 24 characters [RFC 6455 4.2.1]. */
    if (req->ws_key.len != 24) return error_response(400, "Bad Request", "", out, out_len);
    if (req->ws_protocol.len) {
        for (const char *const *p = protocols; *p; p++)
            if (http_has_token(req->ws_protocol, *p)) {
                *chosen = *p;
                break;
            }
        if (!*chosen) return error_response(400, "Bad Request", "", out, out_len);
    }
    char accept[29];
    ws_accept_key(req->ws_key.p, req->ws_key.len, accept);
    int n = snprintf(out, WS_RESPONSE_MAX,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
                     accept, *chosen ? "Sec-WebSocket-Protocol: " : "", *chosen ? *chosen : "", *chosen ? "\r\n" : "");
    *out_len = (size_t)n;
    return 101;
}
