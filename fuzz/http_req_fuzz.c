/*
 * http_req_fuzz.c - libFuzzer target for the HTTP request-head parser and
 * the WebSocket handshake built on it: any bytes must give a head length,
 * EAGAIN or an error, and a parsed head must give a well-formed response.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "proto/http/http_req.h"
#include "proto/ws/ws_handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    http_req_t req;
    int rc = http_req_parse(data, size, &req);
    assert(rc == IOT_EAGAIN || rc == IOT_EMALFORMED || rc == IOT_ETOOLARGE || (rc > 0 && (size_t)rc <= size));
    if (rc > 0) {
        static const char *const protos[] = {"mqtt", "mqttv3.1", NULL};
        char out[WS_RESPONSE_MAX];
        size_t len;
        const char *chosen;
        int status = ws_handshake(&req, "/mqtt", protos, out, &len, &chosen);
        assert(len > 12 && len < WS_RESPONSE_MAX);
        assert(memcmp(out, "HTTP/1.1 ", 9) == 0);
        assert(status == 101 || (status >= 400 && status < 500));
    }
    return 0;
}
