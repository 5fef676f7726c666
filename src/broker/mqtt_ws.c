/*
 * mqtt_ws.c - MQTT over WebSocket. The connection's input goes through:
 *
 *   ws_on_data -> (first) http_req_parse + ws_handshake -> 101 or an error
 *              -> wslay_frame_recv per frame chunk (wslay unmasks)
 *                   binary / continuation -> ws_to_mqtt -> client_on_data
 *                   ping -> pong, close -> close reply, text -> close 1003
 *
 * Output needs nothing here: after the upgrade the connection wraps what
 * the MQTT client writes in binary frames (iot_conn_set_ws_framing).
 * MQTT packets may span frames or share one [MQTT-6.0.0-2], so MQTT bytes
 * the client did not consume yet wait in mbuf.
 */
#include "broker/mqtt_ws.h"

#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "broker/broker.h"
#include "core/globals.h"
#include "proto/http/http_req.h"
#include "proto/ws/ws_handshake.h"

#define WS_PATH "/mqtt"

/* RFC 6455 close codes used here. */
enum { WS_CLOSE_PROTOCOL = 1002, WS_CLOSE_UNSUPPORTED = 1003, WS_CLOSE_TOO_BIG = 1009 };

struct mqtt_ws {
    wslay_frame_context_ptr fr;  /* Frame parser (owns a small input buffer). */
    iot_conn_t *conn;            /* The connection (for the send callback). */
    const uint8_t *in;           /* Input being handed to the parser. */
    size_t in_len, in_pos;       /* Its length and how much the parser took. */
    uint64_t frame_got;          /* Payload bytes of the current frame seen so far. */
    uint8_t upgraded;            /* The 101 response was sent. */
    uint8_t msg_open;            /* Inside a fragmented binary message. */
    uint8_t ctl_len;             /* Bytes in ctl. */
    uint8_t ctl[125];            /* Payload of the control frame being read. */
    uint8_t *mbuf;               /* MQTT bytes not yet used by the client. */
    size_t mlen, mcap;           /* Their length and the buffer's capacity. */
};

static const char *const ws_protocols[] = {"mqtt", "mqttv3.1", NULL};

static ssize_t ws_recv(uint8_t *buf, size_t len, int flags, void *user)
{
    struct mqtt_ws *ws = user;
    size_t n = ws->in_len - ws->in_pos;
    if (n == 0) return -1; /* Nothing more now: the parser reports WANT_READ. */
    if (n > len) n = len;
    memcpy(buf, ws->in + ws->in_pos, n);
    ws->in_pos += n;
    return (ssize_t)n;
}

static ssize_t ws_send(const uint8_t *data, size_t len, int flags, void *user)
{
    struct mqtt_ws *ws = user;
    memcpy(iot_conn_reserve_raw(ws->conn, len), data, len);
    return (ssize_t)len;
}

static int ws_genmask(uint8_t *buf, size_t len, void *user)
{
    memset(buf, 0, len); /* A server does not mask [RFC 6455 5.1]. */
    return 0;
}

static const struct wslay_frame_callbacks ws_callbacks = {ws_send, ws_recv, ws_genmask};

void mqtt_ws_free(struct mqtt_ws *ws)
{
    wslay_frame_context_free(ws->fr);
    free(ws->mbuf);
    free(ws);
}

static void ws_send_frame(struct mqtt_ws *ws, uint8_t opcode, const uint8_t *data, size_t len)
{
    struct wslay_frame_iocb iocb = {.fin = 1, .opcode = opcode, .payload_length = len, .data = data,
                                    .data_length = len};
    (void)wslay_frame_send(ws->fr, &iocb);
}

/* Ends the connection for a WebSocket-level error: close frame, log, count. */
static void ws_fail(client_t *c, uint16_t code, const char *why)
{
    uint8_t payload[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    METRIC_INC(errors_malformed);
    log_warn("%s: WebSocket: %s, closing (%u)", iot_conn_peer(c->conn), why, code);
    ws_send_frame(c->ws, WSLAY_CONNECTION_CLOSE, payload, sizeof payload);
    c->disconnecting = 1;
    iot_conn_close_after_flush(c->conn);
}

/* Hands MQTT bytes to the client; keeps what it cannot use yet. */
static void ws_to_mqtt(client_t *c, const uint8_t *p, size_t n)
{
    struct mqtt_ws *ws = c->ws;
    iot_conn_t *conn = c->conn;
    if (ws->mlen == 0 && n) {
        size_t used = client_on_data(conn, p, n);
        p += used;
        n -= used;
        if (n == 0 || conn->closed || c->disconnecting) return;
    }
    if (ws->mlen + n > ws->mcap || !ws->mbuf) {
        size_t cap = ws->mcap ? ws->mcap : 1024;
        while (cap < ws->mlen + n) cap *= 2;
        uint8_t *nb = realloc(ws->mbuf, cap);
        if (!nb) abort();
        ws->mbuf = nb;
        ws->mcap = cap;
    }
    if (n) memcpy(ws->mbuf + ws->mlen, p, n);
    ws->mlen += n;
    size_t used = client_on_data(conn, ws->mbuf, ws->mlen);
    if (conn->closed || c->disconnecting) return;
    memmove(ws->mbuf, ws->mbuf + used, ws->mlen - used);
    ws->mlen -= used;
    if (ws->mlen == 0) {
        free(ws->mbuf);
        ws->mbuf = NULL;
        ws->mcap = 0;
    }
}

/* Reads frames from ws->in (and the parser's own buffer) while the client
 * can take more. */
static void ws_frames(client_t *c)
{
    struct mqtt_ws *ws = c->ws;
    iot_conn_t *conn = c->conn;
    uint64_t max_frame = (uint64_t)iot_config()->max_packet_size + 16;
    while (client_can_read(c)) {
        struct wslay_frame_iocb f;
        ssize_t r = wslay_frame_recv(ws->fr, &f);
        if (r == WSLAY_ERR_WANT_READ) return;
        if (r < 0) return ws_fail(c, WS_CLOSE_PROTOCOL, "malformed frame");
        /* Client frames are masked [RFC 6455 5.1]; no extension was agreed. */
        if (!f.mask) return ws_fail(c, WS_CLOSE_PROTOCOL, "unmasked frame");
        if (f.rsv) return ws_fail(c, WS_CLOSE_PROTOCOL, "reserved bits set");
        if (f.payload_length > max_frame) return ws_fail(c, WS_CLOSE_TOO_BIG, "frame larger than max_packet_size");
        if (ws->frame_got == 0) {
            /* First chunk of a frame: check where it fits in a message. */
            if (f.opcode == WSLAY_BINARY_FRAME && ws->msg_open)
                return ws_fail(c, WS_CLOSE_PROTOCOL, "new message inside a fragmented one");
            if (f.opcode == WSLAY_CONTINUATION_FRAME && !ws->msg_open)
                return ws_fail(c, WS_CLOSE_PROTOCOL, "continuation without a message");
            if (f.opcode == WSLAY_TEXT_FRAME)
                return ws_fail(c, WS_CLOSE_UNSUPPORTED, "text frame (MQTT uses binary frames)");
            if (f.opcode == WSLAY_BINARY_FRAME) ws->msg_open = 1;
            ws->ctl_len = 0;
        }
        ws->frame_got += f.data_length;
        int frame_done = ws->frame_got >= f.payload_length;
        if (frame_done) ws->frame_got = 0;
        switch (f.opcode) {
        case WSLAY_BINARY_FRAME:
        case WSLAY_CONTINUATION_FRAME:
            if (frame_done && f.fin) ws->msg_open = 0;
            if (f.data_length) ws_to_mqtt(c, f.data, f.data_length);
            break;
        case WSLAY_PING:
        case WSLAY_CONNECTION_CLOSE:
            memcpy(ws->ctl + ws->ctl_len, f.data, f.data_length); /* <= 125 bytes, checked by wslay. */
            ws->ctl_len = (uint8_t)(ws->ctl_len + f.data_length);
            if (!frame_done) break;
            if (f.opcode == WSLAY_PING) {
                ws_send_frame(ws, WSLAY_PONG, ws->ctl, ws->ctl_len);
            } else {
                /* Echo the status code and close [RFC 6455 5.5.1]. */
                ws_send_frame(ws, WSLAY_CONNECTION_CLOSE, ws->ctl, ws->ctl_len >= 2 ? 2 : 0);
                log_debug("%s: WebSocket close received", iot_conn_peer(conn));
                c->disconnecting = 1;
                iot_conn_close_after_flush(conn);
            }
            break;
        case WSLAY_PONG:
            break;
        default:
            return ws_fail(c, WS_CLOSE_PROTOCOL, "unknown opcode");
        }
    }
}

static size_t ws_on_data(iot_conn_t *conn, const uint8_t *p, size_t n)
{
    client_t *c = conn->proto;
    struct mqtt_ws *ws = c->ws;
    size_t used = 0;
    if (!ws->upgraded) {
        http_req_t req;
        int rc = http_req_parse(p, n, &req);
        if (rc == IOT_EAGAIN) return 0;
        char out[WS_RESPONSE_MAX];
        size_t olen;
        const char *chosen = NULL;
        int status;
        if (rc < 0) {
            status = rc == IOT_ETOOLARGE ? 431 : 400;
            olen = (size_t)snprintf(out, sizeof out, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                                    status, status == 431 ? "Request Header Fields Too Large" : "Bad Request");
        } else {
            status = ws_handshake(&req, WS_PATH, ws_protocols, out, &olen, &chosen);
        }
        memcpy(iot_conn_reserve_raw(conn, olen), out, olen);
        if (status != 101) {
            METRIC_INC(errors_malformed);
            log_warn("%s: WebSocket upgrade refused with %d", iot_conn_peer(conn), status);
            c->disconnecting = 1;
            iot_conn_close_after_flush(conn);
            return n;
        }
        ws->upgraded = 1;
        iot_conn_set_ws_framing(conn);
        used = (size_t)rc;
    }
    ws->in = p + used;
    ws->in_len = n - used;
    ws->in_pos = 0;
    ws_frames(c);
    size_t taken = ws->in_pos;
    ws->in = NULL;
    ws->in_len = ws->in_pos = 0;
    if (conn->closed || c->disconnecting) return n;
    return used + taken;
}

/* Reading resumed (session arrived, throttle lifted): use what waits. */
static void ws_on_resume(iot_conn_t *conn)
{
    client_t *c = conn->proto;
    if (!c || !c->ws || !c->ws->upgraded) return;
    if (c->ws->mlen) ws_to_mqtt(c, NULL, 0);
    if (!conn->closed) ws_frames(c);
}

static const iot_conn_ops_t ws_ops = {ws_on_data, client_on_close, ws_on_resume};

void mqtt_ws_on_accept(iot_worker_t *w, iot_conn_t *conn)
{
    client_t *c = client_accept(w, conn);
    if (!c) return;
    struct mqtt_ws *ws = calloc(1, sizeof *ws);
    if (!ws || wslay_frame_context_init(&ws->fr, &ws_callbacks, ws) != 0) {
        free(ws);
        iot_conn_close(conn);
        return;
    }
    ws->conn = conn;
    c->ws = ws;
    conn->ops = &ws_ops;
}
