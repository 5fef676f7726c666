/*
 * http_req.c - request-head parsing on top of http-parser. The parser runs
 * over the whole buffer each time (a head is at most 8 KiB and arrives in
 * one or two reads), and pauses itself at the end of the headers, so the
 * bytes after the head (WebSocket frames) are left to the caller.
 */
#include "proto/http/http_req.h"

#include <ctype.h>
#include <http_parser.h>
#include <string.h>
#include <strings.h>

/* Parser state kept on the stack for one parse. */
typedef struct req_ctx {
    http_req_t *req;             /* Being filled. */
    http_view_t *field;          /* Header whose value comes next, or NULL. */
    int done;                    /* Headers complete. */
} req_ctx_t;

static int on_url(http_parser *p, const char *at, size_t len)
{
    req_ctx_t *c = p->data;
    if (!c->req->url.p) c->req->url.p = at;
    c->req->url.len += len;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    req_ctx_t *c = p->data;
    static const struct {
        const char *name;
        size_t off;
    } wanted[] = {
        {"upgrade", offsetof(http_req_t, upgrade)},
        {"connection", offsetof(http_req_t, connection)},
        {"sec-websocket-key", offsetof(http_req_t, ws_key)},
        {"sec-websocket-version", offsetof(http_req_t, ws_version)},
        {"sec-websocket-protocol", offsetof(http_req_t, ws_protocol)},
        {"host", offsetof(http_req_t, host)},
    };
    c->field = NULL;
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        if (strlen(wanted[i].name) == len && strncasecmp(wanted[i].name, at, len) == 0) {
            http_view_t *v = (http_view_t *)((char *)c->req + wanted[i].off);
            if (!v->p) c->field = v; /* The first occurrence wins. */
        }
    }
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    req_ctx_t *c = p->data;
    if (c->field) {
        if (!c->field->p) c->field->p = at;
        c->field->len = (size_t)(at + len - c->field->p);
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    req_ctx_t *c = p->data;
    c->done = 1;
    c->req->method = (int)p->method;
    c->req->http_major = p->http_major;
    c->req->http_minor = p->http_minor;
    http_parser_pause(p, 1); /* Stop here: what follows is not HTTP. */
    return 0;
}

int http_req_parse(const uint8_t *buf, size_t len, http_req_t *req)
{
    http_parser_settings settings;
    http_parser parser;
    req_ctx_t ctx = {.req = req};
    memset(req, 0, sizeof *req);
    memset(&settings, 0, sizeof settings);
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    http_parser_init(&parser, HTTP_REQUEST);
    parser.data = &ctx;
    size_t scan = len > HTTP_REQ_MAX_HEAD ? HTTP_REQ_MAX_HEAD : len;
    size_t n = http_parser_execute(&parser, &settings, (const char *)buf, scan);
    if (ctx.done) {
        /* Paused in on_headers_complete, the parser stops on the final LF
         * without counting it. */
        if (n < scan && buf[n] == '\n') n++;
        return (int)n;
    }
    if (HTTP_PARSER_ERRNO(&parser) != HPE_OK) return IOT_EMALFORMED;
    return len >= HTTP_REQ_MAX_HEAD ? IOT_ETOOLARGE : IOT_EAGAIN;
}

int http_has_token(http_view_t v, const char *token)
{
    size_t tl = strlen(token);
    const char *p = v.p, *end = v.p + v.len;
    while (p && p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) p++;
        const char *s = p;
        while (p < end && *p != ',') p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
        if ((size_t)(e - s) == tl && strncasecmp(s, token, tl) == 0) return 1;
    }
    return 0;
}
