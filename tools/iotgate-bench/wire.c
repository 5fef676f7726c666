/*
 * wire.c - the MQTT packets iotgate-bench sends and reads.
 *
 * Packets sent once per connection (CONNECT, SUBSCRIBE) and the PUBLISH
 * templates are encoded with the project's codec (proto/mqtt). Incoming
 * packets are framed here and the per-message ones (PUBLISH, PUBACK, PUBREC,
 * PUBREL, PUBCOMP, PINGRESP) are read with a few fixed-offset loads instead
 * of mqtt_decode(): the generator must cost less per message than the
 * broker it measures, and it trusts nothing but the framing of those
 * packets. CONNACK, SUBACK and DISCONNECT go through mqtt_decode().
 *
 * Client state machine (the transitions made here, by wire__packet):
 *
 *   CS_CONNECT --CONNACK 0--> CS_READY          (publisher, idle)
 *   CS_CONNECT --CONNACK 0--> CS_SUBSCRIBE      (subscriber: sends SUBSCRIBE)
 *   CS_SUBSCRIBE --SUBACK < 0x80--> CS_READY
 *   any --CONNACK != 0, SUBACK >= 0x80, DISCONNECT, bad packet--> closed by the caller
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "proto/mqtt/mqtt.h"

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Payload fields are in host order: this same program wrote them. */
static inline uint32_t rd32h(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t rd64h(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return v;
}

int wire_subscribe(bench_t *b, const char *filter)
{
    uint8_t list[200];
    size_t flen = strlen(filter);
    mqtt_packet_t pkt;
    size_t n;

    if (flen + 3 > sizeof list)
        return -1;
    list[0] = (uint8_t)(flen >> 8);
    list[1] = (uint8_t)flen;
    memcpy(list + 2, filter, flen);
    list[2 + flen] = (uint8_t)b->o.qos;
    memset(&pkt, 0, sizeof pkt);
    pkt.type = MQTT_SUBSCRIBE;
    pkt.u.subscribe.packet_id = 1;
    pkt.u.subscribe.count = 1;
    pkt.u.subscribe.list.p = list;
    pkt.u.subscribe.list.len = flen + 3;
    n = mqtt_encode_size(b->o.version, &pkt);
    if (n == 0 || n > sizeof b->sub_pkt)
        return -1;
    b->sub_len = mqtt_encode(b->sub_pkt, sizeof b->sub_pkt, b->o.version, &pkt);
    return b->sub_len == n ? 0 : -1;
}

size_t wire_connect(const bench_t *b, const bconn_t *c, uint8_t *out, size_t cap)
{
    char id[64];
    mqtt_packet_t pkt;
    int idlen;
    size_t n;

    idlen = snprintf(id, sizeof id, "%s-%d-%u", b->o.id_prefix, (int)getpid(), c->gid);
    if (idlen <= 0 || (size_t)idlen >= sizeof id)
        return 0;
    memset(&pkt, 0, sizeof pkt);
    pkt.type = MQTT_CONNECT;
    pkt.u.connect.clean = 1;
    pkt.u.connect.keepalive = b->o.keepalive;
    pkt.u.connect.client_id.p = (const uint8_t *)id;
    pkt.u.connect.client_id.len = (size_t)idlen;
    if (b->o.version == MQTT_V5 && c->role == ROLE_SUB) {
        /* The broker's own in-flight limit then decides, as for 3.1.1. */
        pkt.u.connect.props.present = MQTT_P_RECEIVE_MAX;
        pkt.u.connect.props.receive_max = b->o.receive_max;
    }
    n = mqtt_encode_size(b->o.version, &pkt);
    if (n == 0 || n > cap)
        return 0;
    return mqtt_encode(out, cap, b->o.version, &pkt);
}

int wire_publish_tpl(const bench_t *b, bconn_t *c)
{
    char topic[128];
    mqtt_packet_t pkt;
    uint8_t *payload;
    int tlen;
    size_t n;

    tlen = snprintf(topic, sizeof topic, b->topic_fmt, c->idx);
    if (tlen <= 0 || (size_t)tlen >= sizeof topic)
        return -1;
    payload = calloc(1, b->o.payload);
    if (payload == NULL)
        return -1;
    /* Filler after the 16 header bytes, so the payload is not all zeros. */
    for (uint32_t i = PAYLOAD_MIN; i < b->o.payload; i++)
        payload[i] = (uint8_t)('a' + i % 26);
    memset(&pkt, 0, sizeof pkt);
    pkt.type = MQTT_PUBLISH;
    pkt.u.publish.qos = (uint8_t)b->o.qos;
    pkt.u.publish.packet_id = b->o.qos ? 1 : 0;
    pkt.u.publish.topic.p = (const uint8_t *)topic;
    pkt.u.publish.topic.len = (size_t)tlen;
    pkt.u.publish.payload.p = payload;
    pkt.u.publish.payload.len = b->o.payload;
    n = mqtt_encode_size(b->o.version, &pkt);
    c->tpl = n ? malloc(n) : NULL;
    if (c->tpl == NULL || mqtt_encode(c->tpl, n, b->o.version, &pkt) != n) {
        free(payload);
        return -1;
    }
    free(payload);
    c->tpl_len = (uint32_t)n;
    /* The payload ends the packet; v5 puts a 1-byte empty property length before it. */
    c->tpl_pay = (uint16_t)(n - b->o.payload);
    c->tpl_pid = (uint16_t)(c->tpl_pay - (b->o.version == MQTT_V5 ? 1 : 0) - 2);
    return 0;
}

/* A PUBLISH delivered to subscriber c: check, time and acknowledge it. */
static int wire__publish(bthread_t *t, bconn_t *c, uint8_t flags, const uint8_t *body,
                         size_t len, uint64_t now)
{
    bench_t *b = t->b;
    uint8_t qos = (flags >> 1) & 3;
    size_t p, plen = 0;
    uint16_t pid = 0;
    uint8_t ack[4];

    if (c->role != ROLE_SUB || len < 2 || qos == 3)
        return -1;
    p = 2 + (size_t)rd16(body);
    if (qos) {
        if (p + 2 > len)
            return -1;
        pid = rd16(body + p);
        p += 2;
    }
    if (b->o.version == MQTT_V5) {
        uint32_t pl = 0;

        for (int k = 0;; k++) { /* Property length: a variable byte integer. */
            uint8_t byte;

            if (p >= len || k == 4)
                return -1;
            byte = body[p++];
            pl |= (uint32_t)(byte & 0x7f) << (7 * k);
            if (!(byte & 0x80))
                break;
        }
        p += pl;
    }
    if (p > len)
        return -1;
    plen = len - p;
    t->st[ST_RECV]++;
    if (plen >= PAYLOAD_MIN) {
        const uint8_t *pay = body + p;
        uint64_t ts = rd64h(pay);
        uint32_t pi = rd32h(pay + 8), seq = rd32h(pay + 12);

        if (pi < b->o.pubs && ts <= now) {
            hist_add(t->lat, now - ts);
            if (seq >= c->next_seq[pi]) {
                uint32_t skipped = seq - c->next_seq[pi];

                t->st[ST_UNIQUE]++;
                t->st[ST_GAP] += skipped;
                c->next_seq[pi] = seq + 1;
                /* --e2e-window: a skipped message is settled too (lost), so a
                 * QoS 0 drop does not shrink the window. The publisher may be
                 * on another thread. */
                if (b->o.e2e_window) {
                    uint32_t g = b->o.subs + pi;

                    atomic_fetch_add_explicit(&b->conns[g].delivered, (uint64_t)skipped + 1,
                                              memory_order_relaxed);
                    t->wake_mask |= 1ull << (g % (uint32_t)b->o.threads);
                }
            } else {
                t->st[ST_DUP]++;
            }
        } else {
            t->st[ST_BAD]++;
        }
    } else {
        t->st[ST_BAD]++;
    }
    if (qos) {
        ack[0] = qos == 1 ? 0x40 : 0x50; /* PUBACK or PUBREC. */
        ack[1] = 2;
        ack[2] = (uint8_t)(pid >> 8);
        ack[3] = (uint8_t)pid;
        return conn_out(t, c, ack, 4);
    }
    return 0;
}

/* PUBACK, PUBREC or PUBCOMP for publisher c's packet id. */
static int wire__ack(bthread_t *t, bconn_t *c, int type, const uint8_t *body, size_t len)
{
    uint8_t reason, rel[4];
    uint16_t pid;
    uint64_t bit;

    if (c->role != ROLE_PUB || c->pidmap == NULL || len < 2)
        return -1;
    pid = rd16(body);
    reason = len >= 3 ? body[2] : 0;
    bit = 1ull << (pid & 63);
    if (!(c->pidmap[pid >> 6] & bit) ||
        (type == MQTT_PUBACK) != (t->b->o.qos == 1)) {
        t->st[ST_PROTO]++;
        return 0;
    }
    if (type == MQTT_PUBREC && reason < 0x80) {
        rel[0] = 0x62; /* PUBREL, flags 0010. */
        rel[1] = 2;
        rel[2] = (uint8_t)(pid >> 8);
        rel[3] = (uint8_t)pid;
        return conn_out(t, c, rel, 4);
    }
    c->pidmap[pid >> 6] &= ~bit;
    c->inflight--;
    t->st[ST_INFLIGHT]--;
    t->st[reason >= 0x80 ? ST_REFUSED : ST_ACKED]++;
    return 0;
}

/* A control packet, decoded with the project's codec. */
static int wire__control(bthread_t *t, bconn_t *c, const uint8_t *pkt, size_t len,
                         uint64_t now)
{
    bench_t *b = t->b;
    mqtt_packet_t m;

    if (mqtt_decode(pkt, len, b->o.version, 0, &m) != (int)len) {
        t->st[ST_PROTO]++;
        return -1;
    }
    switch (m.type) {
    case MQTT_CONNACK:
        if (c->state != CS_CONNECT || m.u.connack.reason != 0)
            return -1;
        t->opening--;
        t->st[ST_CONNECTED]++;
        t->st[ST_LAST_CONNACK] = now;
        if (b->o.mode == MODE_CONN)
            hist_add(t->lat, now - c->t0);
        if (b->o.keepalive)
            c->t_ping = now + (uint64_t)b->o.keepalive * 750000000ull;
        if (c->role == ROLE_SUB) {
            c->state = CS_SUBSCRIBE;
            return conn_out(t, c, b->sub_pkt, b->sub_len);
        }
        c->state = CS_READY;
        t->st[ST_READY]++;
        return 0;
    case MQTT_SUBACK:
        if (c->state != CS_SUBSCRIBE || m.u.suback.count < 1 || m.u.suback.codes[0] >= 0x80)
            return -1;
        c->state = CS_READY;
        t->st[ST_READY]++;
        return 0;
    case MQTT_DISCONNECT:
        note("%s: broker sent DISCONNECT 0x%02x to client %u", b->o.mode_name,
             m.u.disconnect.reason, c->gid);
        return -1;
    default:
        t->st[ST_PROTO]++;
        return -1;
    }
}

/* One whole packet: h is its first byte, body its len bytes after the length. */
static int wire__packet(bthread_t *t, bconn_t *c, const uint8_t *pkt, size_t size,
                        const uint8_t *body, size_t len, uint64_t now)
{
    uint8_t h = pkt[0];
    uint8_t out[4];

    switch (h >> 4) {
    case MQTT_PUBLISH:
        return wire__publish(t, c, h & 0x0f, body, len, now);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBCOMP:
        return wire__ack(t, c, h >> 4, body, len);
    case MQTT_PUBREL:
        if (c->role != ROLE_SUB || len < 2)
            return -1;
        out[0] = 0x70; /* PUBCOMP. */
        out[1] = 2;
        out[2] = body[0];
        out[3] = body[1];
        return conn_out(t, c, out, 4);
    case MQTT_PINGRESP:
        t->st[ST_PONGS]++;
        return 0;
    default:
        return wire__control(t, c, pkt, size, now);
    }
}

long wire_parse(bthread_t *t, bconn_t *c, const uint8_t *buf, size_t len, uint64_t now)
{
    size_t off = 0;

    while (len - off >= 2) {
        uint32_t rl = 0;
        size_t p = off + 1, size;
        int k = 0, whole = 0;

        for (; k < 4 && p < len; k++) {
            uint8_t byte = buf[p++];

            rl |= (uint32_t)(byte & 0x7f) << (7 * k);
            if (!(byte & 0x80)) {
                whole = 1;
                break;
            }
        }
        if (!whole) {
            if (k == 4) { /* Five length bytes: malformed. */
                t->st[ST_PROTO]++;
                return -1;
            }
            break;
        }
        size = (p - off) + rl;
        if (size > t->b->max_packet) {
            t->st[ST_PROTO]++;
            return -1;
        }
        if (len - off < size)
            break;
        if (wire__packet(t, c, buf + off, size, buf + p, rl, now) != 0)
            return -1;
        off += size;
    }
    return (long)off;
}
