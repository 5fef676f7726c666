/* ws_handshake_test.c - tests of http_req.c and ws_handshake.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/http/http_req.h"
#include "proto/ws/ws_handshake.h"

static const char *const protos[] = {"mqtt", "mqttv3.1", NULL};

#define UPGRADE(path, extra)                                                                        \
    "GET " path " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n" \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" extra "\r\n"

static int handshake(const char *text, char *out, const char **chosen)
{
    http_req_t req;
    size_t len;
    int rc = http_req_parse((const uint8_t *)text, strlen(text), &req);
    assert_int_equal(rc, (int)strlen(text));
    return ws_handshake(&req, "/mqtt", protos, out, &len, chosen);
}

/* RFC 6455 section 1.3: the sample key and its accept value. */
static void test_accept_key_rfc_example(void **state)
{
    char out[29];
    ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_upgrade_accepted_with_subprotocol(void **state)
{
    char out[WS_RESPONSE_MAX];
    const char *chosen;
    int st = handshake(UPGRADE("/mqtt", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, mqtt\r\n"), out, &chosen);
    assert_int_equal(st, 101);
    assert_string_equal(chosen, "mqtt");
    assert_non_null(strstr(out, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert_non_null(strstr(out, "Sec-WebSocket-Protocol: mqtt\r\n"));
}

static void test_refusals(void **state)
{
    char out[WS_RESPONSE_MAX];
    const char *chosen;
    assert_int_equal(handshake(UPGRADE("/other", "Sec-WebSocket-Version: 13\r\n"), out, &chosen), 404);
    assert_int_equal(handshake(UPGRADE("/mqtt", "Sec-WebSocket-Version: 8\r\n"), out, &chosen), 426);
    assert_non_null(strstr(out, "Sec-WebSocket-Version: 13\r\n"));
    assert_int_equal(handshake("GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n", out, &chosen), 400);
    assert_int_equal(handshake(UPGRADE("/mqtt", "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n"), out,
                               &chosen),
                     400);
}

/* Every prefix of a head is "need more"; the bytes after it are not taken. */
static void test_prefixes_and_trailing_bytes(void **state)
{
    const char *text = UPGRADE("/mqtt", "Sec-WebSocket-Version: 13\r\n");
    size_t n = strlen(text);
    http_req_t req;
    for (size_t i = 0; i < n; i++) assert_int_equal(http_req_parse((const uint8_t *)text, i, &req), IOT_EAGAIN);
    char buf[1024];
    memcpy(buf, text, n);
    memcpy(buf + n, "\x82\x02\xc0\x00", 4);
    assert_int_equal(http_req_parse((const uint8_t *)buf, n + 4, &req), (int)n);
}

static void test_malformed_and_too_large(void **state)
{
    http_req_t req;
    assert_int_equal(http_req_parse((const uint8_t *)"\x10\x0c\x00\x04MQTT", 8, &req), IOT_EMALFORMED);
    static char big[HTTP_REQ_MAX_HEAD + 100];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET /mqtt HTTP/1.1\r\nX: ", 23);
    assert_int_equal(http_req_parse((const uint8_t *)big, sizeof big, &req), IOT_ETOOLARGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key_rfc_example),
        cmocka_unit_test(test_upgrade_accepted_with_subprotocol),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_prefixes_and_trailing_bytes),
        cmocka_unit_test(test_malformed_and_too_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
