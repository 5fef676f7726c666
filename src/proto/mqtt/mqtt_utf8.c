/*
 * mqtt_utf8.c - string rules of MQTT: UTF-8 well-formedness, topic names
 * and topic filters. Pure functions over a span; the decoder calls them on
 * every string it reads and the broker on filters it builds itself.
 */
#include "proto/mqtt/mqtt_int.h"

/*
 * RFC 3629 well-formedness as the table in its section 4 states it: the
 * second byte's range depends on the lead byte, which is what rejects
 * overlong forms (C0, C1, E0 80..9F, F0 80..8F), surrogates (ED A0..BF)
 * and code points above U+10FFFF (F4 90.., F5..FF). MQTT adds that U+0000
 * is forbidden [MQTT-1.5.3-2] (MQTT 5.0 numbering; 3.1.1 has
 * [MQTT-1.5.3-1] and [MQTT-1.5.3-2] for the same two rules).
 */
int mqtt_utf8_valid(const uint8_t *p, size_t len)
{
    mqtt__rd_t r = mqtt__rd_span(p, len);
    const uint8_t *tail;
    uint8_t c, lo, hi;
    size_t n, k;

    while (mqtt__rd_u8(&r, &c) == 0) {
        if (c < 0x80) {
            if (c == 0)
                return 0;
            continue;
        }
        lo = 0x80;
        hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c == 0xE0) {
            n = 2;
            lo = 0xA0;
        } else if (c == 0xED) {
            n = 2;
            hi = 0x9F;
        } else if (c >= 0xE1 && c <= 0xEF) {
            n = 2;
        } else if (c == 0xF0) {
            n = 3;
            lo = 0x90;
        } else if (c >= 0xF1 && c <= 0xF3) {
            n = 3;
        } else if (c == 0xF4) {
            n = 3;
            hi = 0x8F;
        } else {
            return 0;
        }
        if (mqtt__rd_take(&r, n, &tail))
            return 0;
        if (tail[0] < lo || tail[0] > hi)
            return 0;
        for (k = 1; k < n; k++)
            if ((tail[k] & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

/*
 * A topic name is at least one character long [MQTT-4.7.3-1] and holds no
 * wildcard [MQTT-3.3.2-2] (3.1.1; [MQTT-3.3.2-2] in 5.0 as well). UTF-8 is
 * checked separately by the caller.
 */
int mqtt_topic_name_valid(const uint8_t *p, size_t len)
{
    mqtt__rd_t r = mqtt__rd_span(p, len);
    uint8_t c;

    if (len == 0 || len > UINT16_MAX)
        return 0;
    while (mqtt__rd_u8(&r, &c) == 0)
        if (c == '+' || c == '#')
            return 0;
    return 1;
}

/*
 * Checks the levels of a filter. prev starts as '/' so that the first level
 * begins like every other: a wildcard may only follow a '/', '+' must be
 * followed by '/' or the end [MQTT-4.7.1-3], and nothing may follow '#'
 * [MQTT-4.7.1-2].
 */
static int mqtt__filter_levels_valid(mqtt__rd_t r)
{
    uint8_t c, prev = '/';

    if (mqtt__rd_left(&r) == 0)
        return 0;
    while (mqtt__rd_u8(&r, &c) == 0) {
        if (prev == '#')
            return 0;
        if (prev == '+' && c != '/')
            return 0;
        if ((c == '+' || c == '#') && prev != '/')
            return 0;
        prev = c;
    }
    return 1;
}

/*
 * A filter is non-empty [MQTT-4.7.3-1] with wildcards placed as above. A
 * shared subscription "$share/{group}/{filter}" (MQTT 5.0 section 4.8.2,
 * also accepted on 3.1.1 connections) needs a non-empty group without '+'
 * or '#' [MQTT-4.8.2-1], [MQTT-4.8.2-2], then a valid non-empty filter.
 */
int mqtt_topic_filter_valid(const uint8_t *p, size_t len)
{
    mqtt__rd_t r = mqtt__rd_span(p, len);
    mqtt__rd_t peek = r;
    const uint8_t *head;
    uint8_t c;
    size_t glen = 0;

    if (len == 0 || len > UINT16_MAX)
        return 0;
    if (mqtt__rd_take(&peek, 7, &head) == 0 && memcmp(head, "$share/", 7) == 0) {
        r = peek;
        for (;;) {
            if (mqtt__rd_u8(&r, &c))
                return 0; /* No '/' after the group. */
            if (c == '/')
                break;
            if (c == '+' || c == '#')
                return 0;
            glen++;
        }
        if (glen == 0)
            return 0;
    }
    return mqtt__filter_levels_valid(r);
}
