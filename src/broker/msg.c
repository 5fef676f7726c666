/*
 * msg.c - application messages: one allocation holding the header, topic,
 * payload and the v5 properties that travel with the message. Immutable
 * once built, so any thread may read it; the reference count decides when
 * it is freed.
 */
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"

/* Properties a PUBLISH carries from publisher to subscribers [MQTT-3.3.2-*]. */
#define MSG_FORWARDED (MQTT_P_PAYLOAD_FORMAT | MQTT_P_MESSAGE_EXPIRY | MQTT_P_CONTENT_TYPE | \
                       MQTT_P_RESPONSE_TOPIC | MQTT_P_CORRELATION_DATA | MQTT_P_USER_PROPERTY)

static void put(uint8_t **dst, mqtt_str_t *field, const uint8_t *src, size_t len)
{
    field->p = *dst;
    field->len = len;
    if (len) memcpy(*dst, src, len);
    *dst += len;
}

msg_t *msg_new(mqtt_str_t topic, mqtt_str_t payload, uint8_t qos, uint8_t retain,
               const mqtt_props_t *props, uint64_t now_ms)
{
    size_t ulen = 0;
    uint32_t present = props ? props->present & MSG_FORWARDED : 0;
    if (present & MQTT_P_USER_PROPERTY) ulen = mqtt_user_props_records(props, NULL, 0);
    size_t size = sizeof(msg_t) + topic.len + 1 + payload.len + ulen;
    if (props) {
        if (present & MQTT_P_CONTENT_TYPE) size += props->content_type.len;
        if (present & MQTT_P_RESPONSE_TOPIC) size += props->response_topic.len;
        if (present & MQTT_P_CORRELATION_DATA) size += props->correlation_data.len;
    }
    msg_t *m = malloc(size);
    if (!m) return NULL;
    memset(m, 0, sizeof *m);
    atomic_init(&m->refs, 1);
    m->qos = qos;
    m->retain = retain;
    m->props = present;
    uint8_t *d = m->data;
    put(&d, &m->topic, topic.p, topic.len);
    *d++ = 0; /* The topic is also a C string (trie and logs). */
    put(&d, &m->payload, payload.p, payload.len);
    if (props) {
        m->payload_format = props->payload_format;
        /* An interval of 0 is treated as "no expiry", as absent. */
        if ((present & MQTT_P_MESSAGE_EXPIRY) && props->message_expiry)
            m->expiry_at = now_ms + (uint64_t)props->message_expiry * 1000u;
        else
            m->props &= ~(uint32_t)MQTT_P_MESSAGE_EXPIRY;
        if (present & MQTT_P_CONTENT_TYPE) put(&d, &m->content_type, props->content_type.p, props->content_type.len);
        if (present & MQTT_P_RESPONSE_TOPIC) put(&d, &m->response_topic, props->response_topic.p, props->response_topic.len);
        if (present & MQTT_P_CORRELATION_DATA)
            put(&d, &m->correlation_data, props->correlation_data.p, props->correlation_data.len);
        if (ulen) {
            m->user_raw.p = d;
            m->user_raw.len = mqtt_user_props_records(props, d, ulen);
            d += ulen;
        }
    }
    return m;
}

void msg_ref(msg_t *m) { atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed); }

void msg_unref(msg_t *m)
{
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
        free(atomic_load_explicit(&m->enc[0], memory_order_relaxed));
        free(atomic_load_explicit(&m->enc[1], memory_order_relaxed));
        free(m);
    }
}

uint32_t msg_ttl(const msg_t *m, uint64_t now_ms)
{
    if (!(m->props & MQTT_P_MESSAGE_EXPIRY)) return UINT32_MAX;
    if (m->expiry_at <= now_ms) return 0;
    return (uint32_t)((m->expiry_at - now_ms + 999) / 1000);
}
