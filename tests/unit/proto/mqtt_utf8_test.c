/*
 * mqtt_utf8_test.c - tables for mqtt_utf8_valid(), mqtt_topic_name_valid()
 * and mqtt_topic_filter_valid() (src/proto/mqtt/mqtt_utf8.c). Each string
 * is also checked against a guard page, since the validators read to the
 * very last byte of their span.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec_test_util.h"
#include "proto/mqtt/mqtt.h"

typedef struct str_case {
    const char *s;
    size_t len;   /* Bytes of s (it may hold NUL). */
    int valid;
    const char *why;
} str_case_t;

#define T(lit, valid, why) { lit, sizeof(lit) - 1, valid, why }

static const str_case_t utf8_cases[] = {
    T("", 1, "empty string"),
    T("hello/world", 1, "ASCII"),
    T("\x7f", 1, "DEL is allowed (only SHOULD NOT) [MQTT-1.5.3-2 note]"),
    T("\xc2\x80", 1, "U+0080, first 2-byte"),
    T("\xdf\xbf", 1, "U+07FF, last 2-byte"),
    T("\xe0\xa0\x80", 1, "U+0800, first 3-byte"),
    T("\xed\x9f\xbf", 1, "U+D7FF, just below the surrogates"),
    T("\xee\x80\x80", 1, "U+E000, just above the surrogates"),
    T("\xef\xbb\xbf", 1, "U+FEFF BOM is kept, not skipped [MQTT-1.5.3-3]"),
    T("\xef\xbf\xbf", 1, "U+FFFF non-character is allowed"),
    T("\xf0\x90\x80\x80", 1, "U+10000, first 4-byte"),
    T("\xf4\x8f\xbf\xbf", 1, "U+10FFFF, last code point"),
    T("a\xc3\xa9z\xf0\x9f\x98\x80", 1, "mixed"),
    T("\x00", 0, "[MQTT-1.5.3-2] U+0000"),
    T("ab\x00", 0, "[MQTT-1.5.3-2] U+0000 at the end"),
    T("\xc0\x80", 0, "[MQTT-1.5.3-1] overlong U+0000"),
    T("\xc1\xbf", 0, "[MQTT-1.5.3-1] overlong 2-byte"),
    T("\xe0\x9f\xbf", 0, "[MQTT-1.5.3-1] overlong 3-byte"),
    T("\xf0\x8f\xbf\xbf", 0, "[MQTT-1.5.3-1] overlong 4-byte"),
    T("\xed\xa0\x80", 0, "[MQTT-1.5.3-1] U+D800 surrogate"),
    T("\xed\xbf\xbf", 0, "[MQTT-1.5.3-1] U+DFFF surrogate"),
    T("\xf4\x90\x80\x80", 0, "[MQTT-1.5.3-1] above U+10FFFF"),
    T("\xf5\x80\x80\x80", 0, "[MQTT-1.5.3-1] lead byte F5"),
    T("\xff", 0, "[MQTT-1.5.3-1] byte FF"),
    T("\x80", 0, "[MQTT-1.5.3-1] lone continuation byte"),
    T("a\xc3", 0, "[MQTT-1.5.3-1] truncated 2-byte at the end"),
    T("\xe2\x82", 0, "[MQTT-1.5.3-1] truncated 3-byte at the end"),
    T("\xf0\x9f\x98", 0, "[MQTT-1.5.3-1] truncated 4-byte at the end"),
    T("\xe2\x28\xa1", 0, "[MQTT-1.5.3-1] bad second byte"),
    T("\xe2\x82\x28", 0, "[MQTT-1.5.3-1] bad third byte"),
    T("\xf0\x9f\x98\x28", 0, "[MQTT-1.5.3-1] bad fourth byte"),
};

static const str_case_t name_cases[] = {
    T("a", 1, "one character"),
    T("/", 1, "one separator"),
    T("a//b/", 1, "empty levels are allowed"),
    T("$SYS/x", 1, "$ topics are names too"),
    T(" ", 1, "space"),
    T("", 0, "[MQTT-4.7.3-1] empty"),
    T("a/+", 0, "[MQTT-3.3.2-2] '+'"),
    T("#", 0, "[MQTT-3.3.2-2] '#'"),
    T("a#b", 0, "[MQTT-3.3.2-2] '#' inside a level"),
};

static const str_case_t filter_cases[] = {
    T("a", 1, "plain"),
    T("#", 1, "'#' alone"),
    T("+", 1, "'+' alone"),
    T("/", 1, "separator"),
    T("a/#", 1, "'#' last"),
    T("+/+/#", 1, "mixed wildcards"),
    T("/+", 1, "'+' after a leading separator"),
    T("+/", 1, "'+' before a trailing separator"),
    T("a//+//", 1, "empty levels"),
    T("$SYS/#", 1, "$SYS"),
    T("$share", 1, "'$share' without '/' is a plain filter"),
    T("$share/g/a/+", 1, "shared subscription"),
    T("$share/g/#", 1, "shared subscription on '#'"),
    T("$share/g//", 1, "shared subscription on '/'"),
    T("", 0, "[MQTT-4.7.3-1] empty"),
    T("a/#/b", 0, "[MQTT-4.7.1-2] '#' not last"),
    T("#/", 0, "[MQTT-4.7.1-2] '#' followed by '/'"),
    T("a#", 0, "[MQTT-4.7.1-2] '#' not alone in its level"),
    T("a/b#", 0, "[MQTT-4.7.1-2] '#' after text"),
    T("##", 0, "[MQTT-4.7.1-2] '##'"),
    T("a+", 0, "[MQTT-4.7.1-3] '+' after text"),
    T("+a", 0, "[MQTT-4.7.1-3] '+' before text"),
    T("a/++/b", 0, "[MQTT-4.7.1-3] '++'"),
    T("+#", 0, "[MQTT-4.7.1-3] '+#'"),
    T("$share/", 0, "[MQTT-4.8.2-1] no group"),
    T("$share//a", 0, "[MQTT-4.8.2-1] empty group"),
    T("$share/g", 0, "[MQTT-4.8.2-2] no filter"),
    T("$share/g/", 0, "[MQTT-4.8.2-2] empty filter"),
    T("$share/+/a", 0, "[MQTT-4.8.2-2] '+' in the group"),
    T("$share/g#/a", 0, "[MQTT-4.8.2-2] '#' in the group"),
    T("$share/g/a#", 0, "bad filter after the group"),
};

/* Checks fn on each case, from ordinary memory and ending at a guard page. */
static void run_cases(const str_case_t *cases, size_t n, int (*fn)(const uint8_t *, size_t))
{
    uint8_t *end = guard_page_new();
    size_t i;

    for (i = 0; i < n; i++) {
        uint8_t *at = end - cases[i].len;

        memcpy(at, cases[i].s, cases[i].len);
        if (fn(at, cases[i].len) != cases[i].valid)
            fail_msg("case %zu \"%s\" (%s): want %d", i, cases[i].s, cases[i].why,
                     cases[i].valid);
    }
    guard_page_free(end);
}

static void test_utf8(void **state)
{
    (void)state;
    run_cases(utf8_cases, sizeof utf8_cases / sizeof utf8_cases[0], mqtt_utf8_valid);
}

static void test_topic_name(void **state)
{
    (void)state;
    run_cases(name_cases, sizeof name_cases / sizeof name_cases[0], mqtt_topic_name_valid);
}

static void test_topic_filter(void **state)
{
    (void)state;
    run_cases(filter_cases, sizeof filter_cases / sizeof filter_cases[0],
              mqtt_topic_filter_valid);
}

/* Every code point encoded by hand is valid, except U+0000 and surrogates. */
static void test_utf8_all_code_points(void **state)
{
    uint8_t b[4];
    uint32_t cp;
    size_t n;
    int want;

    (void)state;
    for (cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp < 0x80) {
            b[0] = (uint8_t)cp;
            n = 1;
        } else if (cp < 0x800) {
            b[0] = (uint8_t)(0xC0 | cp >> 6);
            b[1] = (uint8_t)(0x80 | (cp & 0x3F));
            n = 2;
        } else if (cp < 0x10000) {
            b[0] = (uint8_t)(0xE0 | cp >> 12);
            b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
            b[2] = (uint8_t)(0x80 | (cp & 0x3F));
            n = 3;
        } else {
            b[0] = (uint8_t)(0xF0 | cp >> 18);
            b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
            b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
            b[3] = (uint8_t)(0x80 | (cp & 0x3F));
            n = 4;
        }
        want = cp != 0 && !(cp >= 0xD800 && cp <= 0xDFFF);
        if (mqtt_utf8_valid(b, n) != want)
            fail_msg("U+%04X: want %d", (unsigned)cp, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_topic_name),
        cmocka_unit_test(test_topic_filter),
        cmocka_unit_test(test_utf8_all_code_points),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
