/*
 * levelmap_test.c - unit tests for broker/levelmap: add, find and remove,
 * iteration (every entry once, with and without the '$' skip), the exact
 * grow and shrink points, draining with pop, and 100k entries with short
 * chains. Every test frees what it made, so ASan's leak check covers it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "broker/levelmap.h"

/* A trie node as the trees lay it out: the level text follows the entry. */
typedef struct node {
    int id;             /* Index given by the test. */
    int seen;           /* Times an iteration reported this node. */
    levelmap_entry_t e; /* Key and bucket link. */
    char level[];       /* The level text (not NUL-terminated). */
} node_t;

LEVELMAP_LAYOUT(node_t, e, level);

static node_t *node_new(int id, const char *s)
{
    size_t len = strlen(s);
    node_t *n = calloc(1, sizeof *n + len);
    assert_non_null(n);
    n->id = id;
    n->e.hashv = levelmap_hash(s, len);
    n->e.len = (uint32_t)len;
    memcpy(n->level, s, len);
    return n;
}

static node_t *node_of(levelmap_entry_t *e)
{
    return e != NULL ? (node_t *)(void *)((char *)e - offsetof(node_t, e)) : NULL;
}

static node_t *find(const levelmap_t *m, const char *s)
{
    return node_of(levelmap_find(m, s, strlen(s), levelmap_hash(s, strlen(s))));
}

/* Counts the entries an iteration reports, marking each node seen. */
static uint32_t iterate(const levelmap_t *m, int nodollar)
{
    uint32_t k = 0;
    for (levelmap_entry_t *e = levelmap_next(m, NULL, nodollar); e != NULL;
         e = levelmap_next(m, e, nodollar)) {
        node_of(e)->seen++;
        k++;
    }
    return k;
}

static void test_add_find_remove(void **state)
{
    (void)state;
    levelmap_t m = {0};
    node_t *a = node_new(0, "a"), *b = node_new(1, "bb"), *empty = node_new(2, "");

    assert_null(find(&m, "a"));
    assert_null(levelmap_next(&m, NULL, 0));
    assert_int_equal(levelmap_add(&m, &a->e), IOT_OK);
    assert_int_equal(levelmap_add(&m, &b->e), IOT_OK);
    assert_int_equal(levelmap_add(&m, &empty->e), IOT_OK);
    assert_int_equal(m.count, 3);
    assert_ptr_equal(find(&m, "a"), a);
    assert_ptr_equal(find(&m, "bb"), b);
    assert_ptr_equal(find(&m, ""), empty);
    assert_memory_equal(levelmap_level(&b->e), "bb", 2);
    /* Prefixes, extensions and other lengths do not match. */
    assert_null(find(&m, "b"));
    assert_null(find(&m, "bbb"));
    assert_null(find(&m, "ab"));

    levelmap_remove(&m, &b->e);
    assert_null(find(&m, "bb"));
    assert_ptr_equal(find(&m, "a"), a);
    assert_ptr_equal(find(&m, ""), empty);
    levelmap_remove(&m, &a->e);
    levelmap_remove(&m, &empty->e);
    /* The last removal frees the buckets. */
    assert_int_equal(m.count, 0);
    assert_int_equal(m.nbuckets, 0);
    assert_null(m.buckets);
    assert_null(find(&m, ""));

    /* A removed entry can be added again. */
    assert_int_equal(levelmap_add(&m, &a->e), IOT_OK);
    assert_ptr_equal(find(&m, "a"), a);
    levelmap_free(&m);
    assert_null(m.buckets);
    assert_int_equal(m.count, 0);
    free(a);
    free(b);
    free(empty);
}

static void test_iterate_dollar(void **state)
{
    (void)state;
    static const char *const names[] = {"$SYS", "a", "", "$", "b$", "$share", "c", "x$y"};
    enum { N = sizeof names / sizeof names[0] };
    levelmap_t m = {0};
    node_t *n[N];

    for (int i = 0; i < N; i++) {
        n[i] = node_new(i, names[i]);
        assert_int_equal(levelmap_add(&m, &n[i]->e), IOT_OK);
    }
    /* Without the skip: every entry exactly once. */
    assert_int_equal(iterate(&m, 0), N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(n[i]->seen, 1);
        n[i]->seen = 0;
    }
    /* With it: only levels starting with '$' are left out ("" and "b$" stay). */
    assert_int_equal(iterate(&m, 1), N - 3);
    for (int i = 0; i < N; i++)
        assert_int_equal(n[i]->seen, names[i][0] == '$' ? 0 : 1);

    /* A map of '$' levels only yields nothing with the skip. */
    levelmap_t d = {0};
    for (int i = 0; i < N; i++) {
        levelmap_remove(&m, &n[i]->e);
        if (names[i][0] == '$')
            assert_int_equal(levelmap_add(&d, &n[i]->e), IOT_OK);
    }
    assert_null(levelmap_next(&d, NULL, 1));
    assert_non_null(levelmap_next(&d, NULL, 0));
    assert_int_equal(iterate(&d, 0), 3);
    while (levelmap_pop(&d) != NULL)
        ;
    assert_null(d.buckets);
    for (int i = 0; i < N; i++)
        free(n[i]);
}

static void test_grow_shrink(void **state)
{
    (void)state;
    enum { N = 64 };
    levelmap_t m = {0};
    node_t *n[N];
    char name[16];

    /* Grows x2 from 4 when an entry would exceed one per bucket. */
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "n%d", i);
        n[i] = node_new(i, name);
        assert_int_equal(levelmap_add(&m, &n[i]->e), IOT_OK);
        uint32_t want = 4;
        while (want < (uint32_t)i + 1)
            want *= 2;
        assert_int_equal(m.nbuckets, want);
        assert_int_equal(m.count, i + 1);
    }
    assert_int_equal(m.nbuckets, 64);

    /* Shrinks /2 (never below 4) when under one entry per eight buckets. */
    static const struct {
        uint32_t count, nbuckets;   /* After removing down to count. */
    } steps[] = {
        {8, 64}, {7, 32}, {4, 32}, {3, 16}, {2, 16}, {1, 8}, {0, 0},
    };
    int left = N;
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        while ((uint32_t)left > steps[s].count) {
            left--;
            levelmap_remove(&m, &n[left]->e);
        }
        assert_int_equal(m.count, steps[s].count);
        assert_int_equal(m.nbuckets, steps[s].nbuckets);
        for (int i = 0; i < left; i++) {
            snprintf(name, sizeof name, "n%d", i);
            assert_ptr_equal(find(&m, name), n[i]);
        }
    }
    assert_null(m.buckets);

    /* A map at its minimum does not shrink below 4 buckets. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(levelmap_add(&m, &n[i]->e), IOT_OK);
    assert_int_equal(m.nbuckets, 8);
    for (int i = 4; i >= 1; i--)
        levelmap_remove(&m, &n[i]->e);
    assert_int_equal(m.count, 1);
    assert_int_equal(m.nbuckets, 8);   /* 1 < 8 / 8 is false: no shrink yet. */
    levelmap_remove(&m, &n[0]->e);
    assert_null(m.buckets);
    for (int i = 0; i < N; i++)
        free(n[i]);
}

static void test_pop(void **state)
{
    (void)state;
    enum { N = 100 };
    levelmap_t m = {0};
    node_t *n[N];
    char name[16];

    assert_null(levelmap_pop(&m));
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "%c%d", i % 2 ? '$' : 'p', i);
        n[i] = node_new(i, name);
        assert_int_equal(levelmap_add(&m, &n[i]->e), IOT_OK);
    }
    /* After the first pop the map is one chain, still valid for lookups. */
    node_t *first = node_of(levelmap_pop(&m));
    assert_non_null(first);
    first->seen++;
    assert_int_equal(m.count, N - 1);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "%c%d", i % 2 ? '$' : 'p', i);
        assert_ptr_equal(find(&m, name), n[i] == first ? NULL : n[i]);
    }
    assert_int_equal(iterate(&m, 0), N - 1);
    assert_int_equal(iterate(&m, 1), N / 2 - (first->level[0] != '$'));
    /* A popped entry can go back in, and the map grows from its one bucket. */
    assert_int_equal(levelmap_add(&m, &first->e), IOT_OK);
    assert_int_equal(m.count, N);
    assert_true(m.nbuckets >= 2);
    for (int i = 0; i < N; i++)
        n[i]->seen = 0;
    node_t *p;
    while ((p = node_of(levelmap_pop(&m))) != NULL)
        p->seen++;
    for (int i = 0; i < N; i++)
        assert_int_equal(n[i]->seen, 1);
    assert_int_equal(m.count, 0);
    assert_null(m.buckets);   /* The last pop frees the buckets. */
    for (int i = 0; i < N; i++)
        free(n[i]);
}

static void test_many(void **state)
{
    (void)state;
    enum { N = 100000 };
    levelmap_t m = {0};
    node_t **n = calloc(N, sizeof *n);
    char name[32];

    assert_non_null(n);
    for (int i = 0; i < N; i++) {
        /* Device ids as in dev/<id>/...; every 7th a '$' level. */
        snprintf(name, sizeof name, i % 7 ? "dev-%08d" : "$dev-%08d", i);
        n[i] = node_new(i, name);
        assert_int_equal(levelmap_add(&m, &n[i]->e), IOT_OK);
    }
    assert_int_equal(m.count, N);
    assert_int_equal(m.nbuckets, 131072);
    /* O(1) lookups: no long chain. */
    uint32_t longest = 0;
    for (uint32_t b = 0; b < m.nbuckets; b++) {
        uint32_t k = 0;
        for (levelmap_entry_t *e = m.buckets[b]; e != NULL; e = e->hnext)
            k++;
        if (k > longest)
            longest = k;
    }
    assert_true(longest <= 12);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, i % 7 ? "dev-%08d" : "$dev-%08d", i);
        assert_ptr_equal(find(&m, name), n[i]);
    }
    assert_null(find(&m, "dev-99999999"));
    assert_int_equal(iterate(&m, 0), N);
    assert_int_equal(iterate(&m, 1), N - (N + 6) / 7);
    for (int i = 0; i < N; i++)
        assert_int_equal(n[i]->seen, i % 7 ? 2 : 1);

    /* Remove all but every 1000th: the table shrinks to at most 8 buckets an entry. */
    for (int i = 0; i < N; i++)
        if (i % 1000 != 0)
            levelmap_remove(&m, &n[i]->e);
    assert_int_equal(m.count, N / 1000);
    assert_true(m.nbuckets >= m.count && m.nbuckets <= 8 * m.count);
    for (int i = 0; i < N; i += 1000) {
        snprintf(name, sizeof name, i % 7 ? "dev-%08d" : "$dev-%08d", i);
        assert_ptr_equal(find(&m, name), n[i]);
    }
    levelmap_free(&m);
    for (int i = 0; i < N; i++)
        free(n[i]);
    free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_find_remove),
        cmocka_unit_test(test_iterate_dollar),
        cmocka_unit_test(test_grow_shrink),
        cmocka_unit_test(test_pop),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
