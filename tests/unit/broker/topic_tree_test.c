/*
 * topic_tree_test.c - unit tests for broker/topic_tree: the MQTT 4.7 matching
 * table, a random comparison against a naive matcher, replace on
 * re-subscribe, unsubscribe and pruning, many owners and children, share
 * groups (round robin, online preference), deep topics, odd input, and
 * concurrent matching while another thread subscribes.
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

#include "broker/topic_tree.h"

#define TOPIC_REF_RNG_SEED 0x9E3779B97F4A7C15ull
#include "topic_ref.h"

#define OWNER(i) ((void *)(uintptr_t)(i))
#define MAX_OWNERS 1024

/* What one topic_tree_match call reported. */
typedef struct hits {
    int total;                 /* Callbacks. */
    int shared;                /* Callbacks with shared = 1. */
    int per[MAX_OWNERS];       /* Callbacks per owner id (< MAX_OWNERS). */
    uint8_t opts;              /* Options of the last callback. */
    uint32_t sub_id;           /* Subscription id of the last callback. */
    const int *online;         /* Online flag per owner id, or NULL. */
} hits_t;

static void on_hit(void *ctx, void *owner, uint8_t opts, uint32_t sub_id, int shared)
{
    hits_t *h = ctx;
    uintptr_t id = (uintptr_t)owner;
    h->total++;
    h->shared += shared;
    if (id < MAX_OWNERS)
        h->per[id]++;
    h->opts = opts;
    h->sub_id = sub_id;
}

static int is_online(void *ctx, void *owner)
{
    hits_t *h = ctx;
    return h->online[(uintptr_t)owner];
}

static void match(topic_tree_t *t, const char *topic, hits_t *h)
{
    const int *online = h->online;
    memset(h, 0, sizeof *h);
    h->online = online;
    topic_tree_match(t, topic, strlen(topic), on_hit, online != NULL ? is_online : NULL, h);
}

static int sub(topic_tree_t *t, const char *f, uintptr_t owner, uint8_t opts, uint32_t id,
               int *existed)
{
    return topic_tree_subscribe(t, f, strlen(f), OWNER(owner), opts, id, existed);
}

static int unsub(topic_tree_t *t, const char *f, uintptr_t owner)
{
    return topic_tree_unsubscribe(t, f, strlen(f), OWNER(owner));
}

/* (filter, topic, match?) from MQTT 5.0 section 4.7 and edge cases. */
static const struct {
    const char *filter;
    const char *topic;
    int match;
} cases[] = {
    {"sport/tennis/player1/#", "sport/tennis/player1", 1},
    {"sport/tennis/player1/#", "sport/tennis/player1/ranking", 1},
    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", 1},
    {"sport/tennis/player1/#", "sport/tennis/player2", 0},
    {"sport/#", "sport", 1},
    {"sport/#", "sports", 0},
    {"#", "sport/tennis", 1},
    {"#", "/", 1},
    {"#", "a", 1},
    {"sport/tennis/+", "sport/tennis/player1", 1},
    {"sport/tennis/+", "sport/tennis/player2", 1},
    {"sport/tennis/+", "sport/tennis/player1/ranking", 0},
    {"sport/+", "sport", 0},
    {"sport/+", "sport/", 1},
    {"+/+", "/finance", 1},
    {"/+", "/finance", 1},
    {"+", "/finance", 0},
    {"+", "finance", 1},
    {"+/tennis/#", "sport/tennis/player1", 1},
    {"+/tennis/#", "sport/tennis", 1},
    {"+/tennis/#", "sport/golf", 0},
    {"sport/tennis", "sport/tennis/", 0},
    {"sport/tennis/", "sport/tennis/", 1},
    {"a//b", "a//b", 1},
    {"a/+/b", "a//b", 1},
    {"a/+/b", "a/b", 0},
    {"/", "/", 1},
    {"+/+", "/", 1},
    {"+", "/", 0},
    {"/#", "/", 1},
    {"/#", "/a/b", 1},
    {"/#", "a", 0},
    {"a/#", "b", 0},
    {"#", "$SYS/x", 0},
    {"#", "$SYS", 0},
    {"+/#", "$SYS/x", 0},
    {"+", "$SYS", 0},
    {"$SYS/#", "$SYS/x", 1},
    {"$SYS/#", "$SYS", 1},
    {"$SYS", "$SYS", 1},
    {"+/monitor/Clients", "$SYS/monitor/Clients", 0},
    {"$SYS/monitor/+", "$SYS/monitor/Clients", 1},
    {"a/$x/#", "a/$x/y", 1},
    {"a/+", "a/$x", 1},
    {"a/#", "a/$x", 1},
    {"$share/g/#", "$SYS/x", 0},
    {"$share/g/sport/+", "sport/tennis", 1},
    {"$share/g/+/+", "/finance", 1},
};

static void test_spec_table(void **state)
{
    (void)state;
    hits_t h = {0};

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        topic_tree_t *t = topic_tree_new();
        assert_non_null(t);
        assert_int_equal(sub(t, cases[i].filter, 1, 1, 0, NULL), IOT_OK);
        match(t, cases[i].topic, &h);
        if (h.total != cases[i].match)
            fail_msg("filter '%s' topic '%s': got %d, want %d", cases[i].filter,
                     cases[i].topic, h.total, cases[i].match);
        assert_int_equal(h.shared, strncmp(cases[i].filter, "$share/", 7) == 0 ? h.total : 0);
        assert_int_equal(unsub(t, cases[i].filter, 1), IOT_OK);
        assert_int_equal(topic_tree_count(t), 0);
        assert_int_equal(topic_tree_node_count(t), 1);
        topic_tree_free(t);
    }
}

static void random_name(char *buf, int filter)
{
    static const char *lv[] = {"a", "b", "", "$s", "+", "c"};
    int n = 1 + (int)(rng() % 4);
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        const char *l = lv[rng() % (filter ? 6 : 5)];
        if (!filter && l[0] == '+')
            l = "d";
        strcat(buf, l);
        if (i + 1 < n)
            strcat(buf, "/");
    }
    if (filter && rng() % 3 == 0)
        strcat(buf, rng() % 2 ? "/#" : "");
    if (filter && rng() % 10 == 0)
        strcpy(buf, "#");
}

static void test_random_vs_reference(void **state)
{
    (void)state;
    static char filters[300][64];
    hits_t h = {0};
    topic_tree_t *t = topic_tree_new();

    assert_non_null(t);
    for (int i = 0; i < 300; i++) {
        random_name(filters[i], 1);
        assert_int_equal(sub(t, filters[i], (uintptr_t)i + 1, 0, 0, NULL), IOT_OK);
    }
    for (int k = 0; k < 2000; k++) {
        char topic[64];
        random_name(topic, 0);
        match(t, topic, &h);
        for (int i = 0; i < 300; i++)
            if (h.per[i + 1] != ref_match(filters[i], topic))
                fail_msg("filter '%s' topic '%s': got %d", filters[i], topic, h.per[i + 1]);
    }
    for (int i = 0; i < 300; i++)
        assert_int_equal(unsub(t, filters[i], (uintptr_t)i + 1), IOT_OK);
    assert_int_equal(topic_tree_count(t), 0);
    assert_int_equal(topic_tree_node_count(t), 1);
    topic_tree_free(t);
}

static void test_resubscribe_replaces(void **state)
{
    (void)state;
    hits_t h = {0};
    int existed = -1;
    topic_tree_t *t = topic_tree_new();

    assert_int_equal(sub(t, "a/+", 7, 1, 10, &existed), IOT_OK);
    assert_int_equal(existed, 0);
    assert_int_equal(sub(t, "a/+", 7, 2, 20, &existed), IOT_OK);
    assert_int_equal(existed, 1);
    assert_int_equal(topic_tree_count(t), 1);
    match(t, "a/b", &h);
    assert_int_equal(h.total, 1);
    assert_int_equal(h.opts, 2);
    assert_int_equal(h.sub_id, 20);
    /* Same filter as a shared subscription is a separate one. */
    assert_int_equal(sub(t, "$share/g/a/+", 7, 3, 30, &existed), IOT_OK);
    assert_int_equal(existed, 0);
    assert_int_equal(sub(t, "$share/g/a/+", 7, 4, 40, &existed), IOT_OK);
    assert_int_equal(existed, 1);
    assert_int_equal(topic_tree_count(t), 2);
    match(t, "a/b", &h);
    assert_int_equal(h.total, 2);
    assert_int_equal(h.shared, 1);
    assert_int_equal(unsub(t, "a/+", 7), IOT_OK);
    match(t, "a/b", &h);
    assert_int_equal(h.total, 1);
    assert_int_equal(h.opts, 4);
    assert_int_equal(h.sub_id, 40);
    topic_tree_free(t);   /* Frees what is still subscribed. */
}

static void test_unsubscribe_prunes(void **state)
{
    (void)state;
    topic_tree_t *t = topic_tree_new();

    assert_int_equal(sub(t, "a/b/c", 1, 0, 0, NULL), IOT_OK);
    assert_int_equal(sub(t, "a/b", 1, 0, 0, NULL), IOT_OK);
    assert_int_equal(sub(t, "a/+/#", 2, 0, 0, NULL), IOT_OK);
    assert_int_equal(topic_tree_node_count(t), 6);   /* root a b c + # */
    assert_int_equal(unsub(t, "a/b", 2), IOT_ENOTFOUND);
    assert_int_equal(unsub(t, "a/x", 1), IOT_ENOTFOUND);
    assert_int_equal(unsub(t, "$share/g/a/b", 1), IOT_ENOTFOUND);
    assert_int_equal(unsub(t, "a/b/c", 1), IOT_OK);
    assert_int_equal(unsub(t, "a/b/c", 1), IOT_ENOTFOUND);
    assert_int_equal(topic_tree_node_count(t), 5);
    assert_int_equal(unsub(t, "a/b", 1), IOT_OK);
    assert_int_equal(topic_tree_node_count(t), 4);   /* root a + # */
    assert_int_equal(unsub(t, "a/+/#", 2), IOT_OK);
    assert_int_equal(topic_tree_node_count(t), 1);
    assert_int_equal(topic_tree_count(t), 0);
    topic_tree_free(t);
}

static void test_many_owners_and_children(void **state)
{
    (void)state;
    hits_t h = {0};
    char f[64];
    topic_tree_t *t = topic_tree_new();

    /* Many owners on one filter (exercises the owner table growing). */
    for (uintptr_t i = 1; i < MAX_OWNERS; i++)
        assert_int_equal(sub(t, "dev/+/cmd", i, 0, 0, NULL), IOT_OK);
    /* Many literal children of one node. */
    for (int i = 0; i < 100000; i++) {
        snprintf(f, sizeof f, "dev/%d/cmd", i);
        assert_int_equal(sub(t, f, (uintptr_t)(i % 7) + 1, 1, (uint32_t)i, NULL), IOT_OK);
    }
    assert_int_equal(topic_tree_count(t), MAX_OWNERS - 1 + 100000);
    match(t, "dev/4242/cmd", &h);
    assert_int_equal(h.total, MAX_OWNERS - 1 + 1);
    assert_int_equal(h.per[4242 % 7 + 1], 2);
    assert_int_equal(h.per[100], 1);
    match(t, "dev/100000/cmd", &h);
    assert_int_equal(h.total, MAX_OWNERS - 1);
    /* Remove half the owners (tables shrink), then all children. */
    for (uintptr_t i = 1; i < MAX_OWNERS; i += 2)
        assert_int_equal(unsub(t, "dev/+/cmd", i), IOT_OK);
    match(t, "dev/1/cmd", &h);
    assert_int_equal(h.total, (MAX_OWNERS - 1) / 2 + 1);
    for (int i = 0; i < 100000; i++) {
        snprintf(f, sizeof f, "dev/%d/cmd", i);
        assert_int_equal(unsub(t, f, (uintptr_t)(i % 7) + 1), IOT_OK);
    }
    assert_int_equal(topic_tree_node_count(t), 4);   /* root dev + cmd */
    for (uintptr_t i = 2; i < MAX_OWNERS; i += 2)
        assert_int_equal(unsub(t, "dev/+/cmd", i), IOT_OK);
    assert_int_equal(topic_tree_node_count(t), 1);
    /* Free a big tree without unsubscribing. */
    for (int i = 0; i < 20000; i++) {
        snprintf(f, sizeof f, "x/%d/+/#", i);
        assert_int_equal(sub(t, f, 1, 0, 0, NULL), IOT_OK);
    }
    topic_tree_free(t);
}

static void test_share_round_robin(void **state)
{
    (void)state;
    hits_t h = {0};
    int per[4] = {0};
    topic_tree_t *t = topic_tree_new();

    for (uintptr_t i = 1; i <= 3; i++)
        assert_int_equal(sub(t, "$share/workers/jobs/#", i, 1, 0, NULL), IOT_OK);
    assert_int_equal(sub(t, "$share/other/jobs/#", 9, 1, 0, NULL), IOT_OK);
    assert_int_equal(sub(t, "jobs/#", 8, 0, 0, NULL), IOT_OK);
    for (int k = 0; k < 300; k++) {
        match(t, "jobs/1", &h);
        assert_int_equal(h.total, 3);    /* One per group plus the plain one. */
        assert_int_equal(h.shared, 2);
        assert_int_equal(h.per[8] + h.per[9], 2);
        for (int i = 1; i <= 3; i++)
            per[i] += h.per[i];
    }
    for (int i = 1; i <= 3; i++)
        assert_int_equal(per[i], 100);
    /* Removing a member leaves an even split over the other two. */
    assert_int_equal(unsub(t, "$share/workers/jobs/#", 2), IOT_OK);
    memset(per, 0, sizeof per);
    for (int k = 0; k < 100; k++) {
        match(t, "jobs/x", &h);
        for (int i = 1; i <= 3; i++)
            per[i] += h.per[i];
    }
    assert_int_equal(per[1], 50);
    assert_int_equal(per[2], 0);
    assert_int_equal(per[3], 50);
    assert_int_equal(unsub(t, "$share/workers/jobs/#", 1), IOT_OK);
    assert_int_equal(unsub(t, "$share/workers/jobs/#", 3), IOT_OK);
    assert_int_equal(unsub(t, "$share/workers/jobs/#", 3), IOT_ENOTFOUND);
    assert_int_equal(unsub(t, "$share/other/jobs/#", 9), IOT_OK);
    assert_int_equal(unsub(t, "jobs/#", 8), IOT_OK);
    assert_int_equal(topic_tree_node_count(t), 1);
    topic_tree_free(t);
}

static void test_share_online_preference(void **state)
{
    (void)state;
    int online[MAX_OWNERS] = {0};
    hits_t h = {.online = online};
    int per[5] = {0};
    topic_tree_t *t = topic_tree_new();

    for (uintptr_t i = 1; i <= 4; i++)
        assert_int_equal(sub(t, "$share/g/s/+", i, 0, 0, NULL), IOT_OK);
    online[2] = online[4] = 1;
    for (int k = 0; k < 200; k++) {
        match(t, "s/1", &h);
        assert_int_equal(h.total, 1);
        for (int i = 1; i <= 4; i++)
            per[i] += h.per[i];
    }
    assert_int_equal(per[1] + per[3], 0);
    assert_int_equal(per[2], 100);
    assert_int_equal(per[4], 100);
    /* Nobody online: plain round robin over all. */
    online[2] = online[4] = 0;
    memset(per, 0, sizeof per);
    for (int k = 0; k < 400; k++) {
        match(t, "s/1", &h);
        for (int i = 1; i <= 4; i++)
            per[i] += h.per[i];
    }
    for (int i = 1; i <= 4; i++)
        assert_int_equal(per[i], 100);
    topic_tree_free(t);
}

static void test_odd_input(void **state)
{
    (void)state;
    hits_t h = {0};
    int existed;
    topic_tree_t *t = topic_tree_new();

    assert_int_equal(sub(t, "$share/g", 1, 0, 0, NULL), IOT_EINVAL);
    assert_int_equal(sub(t, "$share//a", 1, 0, 0, NULL), IOT_EINVAL);
    assert_int_equal(topic_tree_subscribe(t, "a", 1, NULL, 0, 0, &existed), IOT_EINVAL);
    assert_int_equal(sub(t, "#/a", 1, 0, 0, NULL), IOT_OK);     /* Invalid, must not crash. */
    assert_int_equal(sub(t, "a/#/+", 1, 0, 0, NULL), IOT_OK);
    assert_int_equal(sub(t, "$share/g/", 1, 0, 0, NULL), IOT_OK);
    assert_int_equal(sub(t, "", 2, 0, 0, NULL), IOT_OK);
    match(t, "", &h);
    assert_int_equal(h.total, 2);
    match(t, "a/+/#", &h);      /* Wildcards in a topic are plain text here. */
    assert_int_equal(h.total, 0);
    topic_tree_match(t, "x", 0, on_hit, NULL, &h);
    assert_int_equal(unsub(t, "#/a", 1), IOT_OK);
    assert_int_equal(unsub(t, "a/#/+", 1), IOT_OK);
    assert_int_equal(unsub(t, "$share/g/", 1), IOT_OK);
    assert_int_equal(unsub(t, "", 2), IOT_OK);
    assert_int_equal(unsub(t, "$share/g", 1), IOT_ENOTFOUND);
    assert_int_equal(topic_tree_node_count(t), 1);
    topic_tree_free(t);
}

static void test_deep_topic(void **state)
{
    (void)state;
    enum { LEVELS = 5000 };
    char *lit = malloc(LEVELS * 2), *plus = malloc(LEVELS * 2);
    hits_t h = {0};
    topic_tree_t *t = topic_tree_new();

    for (int i = 0; i < LEVELS; i++) {
        lit[2 * i] = 'a';
        plus[2 * i] = '+';
        lit[2 * i + 1] = plus[2 * i + 1] = i + 1 < LEVELS ? '/' : '\0';
    }
    assert_int_equal(sub(t, lit, 1, 0, 0, NULL), IOT_OK);
    assert_int_equal(sub(t, plus, 2, 0, 0, NULL), IOT_OK);
    lit[2 * 2000 - 1] = '\0';
    assert_int_equal(sub(t, lit, 3, 0, 0, NULL), IOT_OK);   /* a/.../a, 2000 levels */
    lit[2 * 2000 - 1] = '/';
    match(t, lit, &h);
    assert_int_equal(h.total, 2);
    assert_int_equal(h.per[1] + h.per[2], 2);
    topic_tree_free(t);

    /* Every node on the path also has a '+' leaf, so the walk's stack grows
     * one frame per level (past the on-stack frames, onto the heap). */
    t = topic_tree_new();
    for (int k = 0; k < 100; k++) {
        lit[2 * k] = '+';
        lit[2 * k + 1] = '\0';
        assert_int_equal(sub(t, lit, (uintptr_t)k + 1, 0, 0, NULL), IOT_OK);
        lit[2 * k] = 'a';
        lit[2 * k + 1] = '/';
    }
    lit[2 * 100 - 1] = '\0';
    match(t, lit, &h);
    assert_int_equal(h.total, 1);
    assert_int_equal(h.per[100], 1);
    topic_tree_free(t);
    free(lit);
    free(plus);
}

/* ---- concurrency: readers match while a writer churns ---- */

#define STRESS_PERM 10

typedef struct stress {
    topic_tree_t *t;        /* Shared tree. */
    atomic_int stop;        /* Set when the writer is done. */
    atomic_int bad;         /* Inconsistent matches seen by readers. */
    atomic_long matches;    /* Matches done by readers. */
} stress_t;

static void on_count(void *ctx, void *owner, uint8_t opts, uint32_t sub_id, int shared)
{
    (void)owner;
    (void)opts;
    (void)sub_id;
    (void)shared;
    (*(int *)ctx)++;
}

static void *stress_reader(void *arg)
{
    stress_t *s = arg;
    char topic[64];
    unsigned k = 0;

    while (!atomic_load(&s->stop)) {
        int n = 0;
        /* "perm/<k>" always has STRESS_PERM plain and one shared match. */
        snprintf(topic, sizeof topic, "perm/%u", k % 50);
        topic_tree_match(s->t, topic, strlen(topic), on_count, NULL, &n);
        if (n != STRESS_PERM + 1)
            atomic_fetch_add(&s->bad, 1);
        n = 0;
        snprintf(topic, sizeof topic, "churn/%u/x", k % 100);
        topic_tree_match(s->t, topic, strlen(topic), on_count, NULL, &n);
        k++;
        atomic_fetch_add(&s->matches, 2);
    }
    return NULL;
}

static void test_concurrent_stress(void **state)
{
    (void)state;
    stress_t s = {.t = topic_tree_new()};
    pthread_t rd[4];
    char f[64];

    for (uintptr_t i = 1; i <= STRESS_PERM; i++)
        assert_int_equal(sub(s.t, "perm/+", i, 0, 0, NULL), IOT_OK);
    assert_int_equal(sub(s.t, "$share/g/perm/#", 500, 0, 0, NULL), IOT_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&rd[i], NULL, stress_reader, &s), 0);
    size_t live = 0;
    for (int k = 0; k < 20000; k++) {
        uint64_t r = rng();
        snprintf(f, sizeof f, "%schurn/%u/%s", r % 5 == 0 ? "$share/g/" : "",
                 (unsigned)(r >> 8) % 100, r % 3 == 0 ? "#" : "+");
        uintptr_t owner = 100 + (r >> 20) % 50;
        int existed;
        if ((r >> 40) % 2 == 0) {
            assert_int_equal(topic_tree_subscribe(s.t, f, strlen(f), OWNER(owner), 0, 0,
                                                  &existed), IOT_OK);
            live += !existed;
        } else if (unsub(s.t, f, owner) == IOT_OK) {
            live--;
        }
    }
    atomic_store(&s.stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(rd[i], NULL);
    assert_int_equal(atomic_load(&s.bad), 0);
    assert_true(atomic_load(&s.matches) > 0);
    assert_int_equal(topic_tree_count(s.t), live + STRESS_PERM + 1);
    topic_tree_free(s.t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_table),
        cmocka_unit_test(test_random_vs_reference),
        cmocka_unit_test(test_resubscribe_replaces),
        cmocka_unit_test(test_unsubscribe_prunes),
        cmocka_unit_test(test_many_owners_and_children),
        cmocka_unit_test(test_share_round_robin),
        cmocka_unit_test(test_share_online_preference),
        cmocka_unit_test(test_odd_input),
        cmocka_unit_test(test_deep_topic),
        cmocka_unit_test(test_concurrent_stress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
