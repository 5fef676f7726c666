/*
 * retain_test.c - unit tests for broker/retain: set, replace and clear with
 * balanced reference counts, wildcard matching (a table and a random
 * comparison against a naive matcher), the '$' rule, many children, deep
 * filters, and matching while another thread sets.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "broker/retain.h"

#define TOPIC_REF_RNG_SEED 0x2545F4914F6CDD1Dull
#include "topic_ref.h"

/* A counted message: the test holds one reference, the store the others. */
typedef struct msg {
    atomic_int refs;   /* References held. */
    int id;            /* Index in msgs[]. */
} msg_t;

#define NMSGS 400
static msg_t msgs[NMSGS];

static void msg_ref(void *m)
{
    atomic_fetch_add(&((msg_t *)m)->refs, 1);
}

static void msg_unref(void *m)
{
    int before = atomic_fetch_sub(&((msg_t *)m)->refs, 1);
    assert_true(before > 1);   /* The test's own reference never goes. */
}

static void msgs_reset(void)
{
    for (int i = 0; i < NMSGS; i++) {
        atomic_init(&msgs[i].refs, 1);
        msgs[i].id = i;
    }
}

static void msgs_balanced(void)
{
    for (int i = 0; i < NMSGS; i++)
        assert_int_equal(atomic_load(&msgs[i].refs), 1);
}

/* What one retain_match call reported. */
typedef struct seen {
    int total;          /* Callbacks. */
    int per[NMSGS];     /* Callbacks per message id. */
} seen_t;

static void on_msg(void *ctx, void *m)
{
    seen_t *s = ctx;
    s->total++;
    s->per[((msg_t *)m)->id]++;
}

static void match(retain_t *r, const char *filter, seen_t *s)
{
    memset(s, 0, sizeof *s);
    retain_match(r, filter, strlen(filter), on_msg, s);
}

static int set(retain_t *r, const char *topic, int id)
{
    return retain_set(r, topic, strlen(topic), id >= 0 ? &msgs[id] : NULL);
}

static void test_set_replace_clear(void **state)
{
    (void)state;
    seen_t s;
    retain_t *r = retain_new(msg_ref, msg_unref);

    msgs_reset();
    assert_non_null(r);
    assert_int_equal(set(r, "a/b", 0), IOT_OK);
    assert_int_equal(atomic_load(&msgs[0].refs), 2);
    assert_int_equal(retain_count(r), 1);
    assert_int_equal(set(r, "a/b", 1), IOT_OK);           /* Replace. */
    assert_int_equal(atomic_load(&msgs[0].refs), 1);
    assert_int_equal(atomic_load(&msgs[1].refs), 2);
    assert_int_equal(set(r, "a/b", 1), IOT_OK);           /* Same message again. */
    assert_int_equal(atomic_load(&msgs[1].refs), 2);
    assert_int_equal(retain_count(r), 1);
    match(r, "a/b", &s);
    assert_int_equal(s.total, 1);
    assert_int_equal(s.per[1], 1);
    assert_int_equal(set(r, "a", 2), IOT_OK);
    assert_int_equal(set(r, "a/b", -1), IOT_OK);          /* Clear. */
    assert_int_equal(set(r, "a/b", -1), IOT_OK);          /* Clearing nothing is fine. */
    assert_int_equal(set(r, "x/y/z", -1), IOT_OK);
    assert_int_equal(atomic_load(&msgs[1].refs), 1);
    assert_int_equal(retain_count(r), 1);
    assert_int_equal(retain_node_count(r), 2);            /* root, a */
    match(r, "a/b", &s);
    assert_int_equal(s.total, 0);
    assert_int_equal(set(r, "a", -1), IOT_OK);
    assert_int_equal(retain_node_count(r), 1);
    assert_int_equal(retain_count(r), 0);
    assert_int_equal(set(r, "keep/me", 3), IOT_OK);       /* Left for retain_free. */
    retain_free(r);
    msgs_balanced();
}

static const char *topics[] = {
    "sport/tennis/player1", "sport/tennis/player1/ranking", "sport/tennis/player2",
    "sport", "sport/", "/finance", "finance", "$SYS/monitor/Clients", "$SYS", "a//b",
    "/", "a/$x",
};
#define NTOPICS (sizeof topics / sizeof topics[0])

/* (filter, bitmask over topics[] expected to match). */
static const struct {
    const char *filter;
    unsigned mask;
} cases[] = {
    {"sport/tennis/player1/#", 0x3},
    {"sport/#", 0x1f},
    {"sport/tennis/+", 0x5},
    {"sport/+", 0x10},
    {"+", 0x48},
    {"+/+", 0xc30},     /* "sport/", "/finance", "/", "a/$x"; not "$SYS/..." */
    {"/+", 0x420},
    {"#", 0xe7f},       /* Everything but the two $SYS topics. */
    {"+/#", 0xe7f},
    {"$SYS/#", 0x180},
    {"$SYS/monitor/+", 0x80},
    {"+/monitor/Clients", 0x0},
    {"a/+/b", 0x200},
    {"a/+", 0x800},
    {"/#", 0x420},
    {"sport/tennis/player1", 0x1},
    {"nothing/+/#", 0x0},
};

static void test_wildcards_and_dollar(void **state)
{
    (void)state;
    seen_t s;
    retain_t *r = retain_new(msg_ref, msg_unref);

    msgs_reset();
    for (size_t i = 0; i < NTOPICS; i++)
        assert_int_equal(set(r, topics[i], (int)i), IOT_OK);
    assert_int_equal(retain_count(r), NTOPICS);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        match(r, cases[k].filter, &s);
        for (size_t i = 0; i < NTOPICS; i++)
            if (s.per[i] != (int)((cases[k].mask >> i) & 1))
                fail_msg("filter '%s' topic '%s': got %d", cases[k].filter, topics[i],
                         s.per[i]);
    }
    retain_free(r);
    msgs_balanced();
}

static void random_name(char *buf, int filter)
{
    static const char *lv[] = {"a", "b", "", "$s", "c", "+"};
    int n = 1 + (int)(rng() % 4);
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        strcat(buf, lv[rng() % (filter ? 6 : 5)]);
        if (i + 1 < n)
            strcat(buf, "/");
    }
    if (filter && rng() % 3 == 0)
        strcat(buf, "/#");
    if (filter && rng() % 10 == 0)
        strcpy(buf, "#");
}

static void test_random_vs_reference(void **state)
{
    (void)state;
    static char names[NMSGS][64];
    static int live[NMSGS];
    seen_t s;
    retain_t *r = retain_new(msg_ref, msg_unref);

    msgs_reset();
    /* Random topics, with repeats (replace) and clears. */
    for (int i = 0; i < NMSGS; i++) {
        random_name(names[i], 0);
        live[i] = 1;
        for (int j = 0; j < i; j++)
            if (live[j] && strcmp(names[j], names[i]) == 0)
                live[j] = 0;   /* Replaced by i. */
        assert_int_equal(set(r, names[i], i), IOT_OK);
        if (rng() % 4 == 0) {
            assert_int_equal(set(r, names[i], -1), IOT_OK);
            live[i] = 0;
        }
    }
    size_t nlive = 0;
    for (int i = 0; i < NMSGS; i++)
        nlive += (size_t)live[i];
    assert_int_equal(retain_count(r), nlive);
    for (int k = 0; k < 2000; k++) {
        char filter[64];
        random_name(filter, 1);
        match(r, filter, &s);
        for (int i = 0; i < NMSGS; i++)
            if (s.per[i] != (live[i] && ref_match(filter, names[i])))
                fail_msg("filter '%s' topic '%s': got %d", filter, names[i], s.per[i]);
    }
    for (int i = 0; i < NMSGS; i++)
        assert_int_equal(set(r, names[i], -1), IOT_OK);
    assert_int_equal(retain_node_count(r), 1);
    retain_free(r);
    msgs_balanced();
}

static void test_many_children(void **state)
{
    (void)state;
    seen_t s;
    char t[64];
    retain_t *r = retain_new(msg_ref, msg_unref);

    msgs_reset();
    for (int i = 0; i < 100000; i++) {
        snprintf(t, sizeof t, "dev/%d/state", i);
        assert_int_equal(set(r, t, i % NMSGS), IOT_OK);
    }
    assert_int_equal(retain_count(r), 100000);
    match(r, "dev/+/state", &s);
    assert_int_equal(s.total, 100000);
    match(r, "dev/#", &s);
    assert_int_equal(s.total, 100000);
    match(r, "dev/777/state", &s);
    assert_int_equal(s.total, 1);
    assert_int_equal(s.per[777 % NMSGS], 1);
    match(r, "dev/+/other", &s);
    assert_int_equal(s.total, 0);
    for (int i = 0; i < 100000; i += 2) {
        snprintf(t, sizeof t, "dev/%d/state", i);
        assert_int_equal(set(r, t, -1), IOT_OK);
    }
    match(r, "+/+/+", &s);
    assert_int_equal(s.total, 50000);
    retain_free(r);   /* Frees the other half. */
    msgs_balanced();
}

static void test_deep_filter(void **state)
{
    (void)state;
    enum { LEVELS = 100 };
    char topic[2 * LEVELS], filter[2 * LEVELS];
    seen_t s;
    retain_t *r = retain_new(msg_ref, msg_unref);

    msgs_reset();
    /* A retained message on every prefix a, a/a, ..., 100 levels deep. */
    for (int i = 0; i < LEVELS; i++) {
        topic[2 * i] = 'a';
        topic[2 * i + 1] = '\0';
        assert_int_equal(set(r, topic, i), IOT_OK);
        topic[2 * i + 1] = '/';
        filter[2 * i] = '+';
        filter[2 * i + 1] = i + 1 < LEVELS ? '/' : '\0';
    }
    match(r, filter, &s);   /* One '+' frame per level: past the on-stack frames. */
    assert_int_equal(s.total, 1);
    assert_int_equal(s.per[LEVELS - 1], 1);
    match(r, "#", &s);
    assert_int_equal(s.total, LEVELS);
    match(r, "a/a/#", &s);
    assert_int_equal(s.total, LEVELS - 1);
    retain_free(r);
    msgs_balanced();
}

/* ---- concurrency: readers match while a writer sets and clears ---- */

typedef struct stress {
    retain_t *r;            /* Shared store. */
    atomic_int stop;        /* Set when the writer is done. */
    atomic_int bad;         /* Inconsistent matches seen by readers. */
} stress_t;

static void on_count(void *ctx, void *m)
{
    (void)m;
    (*(int *)ctx)++;
}

static void *stress_reader(void *arg)
{
    stress_t *st = arg;
    while (!atomic_load(&st->stop)) {
        int n = 0;
        retain_match(st->r, "fixed/+", 7, on_count, &n);
        if (n != 10)
            atomic_fetch_add(&st->bad, 1);
        n = 0;
        retain_match(st->r, "churn/#", 7, on_count, &n);
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    stress_t st = {.r = retain_new(msg_ref, msg_unref)};
    pthread_t rd[3];
    char t[64];

    msgs_reset();
    for (int i = 0; i < 10; i++) {
        snprintf(t, sizeof t, "fixed/%d", i);
        assert_int_equal(set(st.r, t, i), IOT_OK);
    }
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&rd[i], NULL, stress_reader, &st), 0);
    for (int k = 0; k < 20000; k++) {
        uint64_t x = rng();
        snprintf(t, sizeof t, "churn/%u/%u", (unsigned)(x % 20), (unsigned)(x >> 8) % 5);
        assert_int_equal(set(st.r, t, (x >> 16) % 3 == 0 ? -1 : (int)((x >> 20) % NMSGS)),
                         IOT_OK);
    }
    atomic_store(&st.stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(rd[i], NULL);
    assert_int_equal(atomic_load(&st.bad), 0);
    retain_free(st.r);
    msgs_balanced();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_replace_clear),
        cmocka_unit_test(test_wildcards_and_dollar),
        cmocka_unit_test(test_random_vs_reference),
        cmocka_unit_test(test_many_children),
        cmocka_unit_test(test_deep_filter),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
