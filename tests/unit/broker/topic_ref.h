/*
 * topic_ref.h - shared helpers for the broker topic tests (retain_test.c,
 * topic_tree_test.c): a naive level-by-level reference matcher that the
 * random tests compare the real matchers against, and a xorshift64 random
 * source. Header-only, static functions; include it from one test file.
 *
 * Define TOPIC_REF_RNG_SEED (a uint64_t constant) before including it to
 * pick the starting state of rng().
 */
#ifndef IOTGATE_TESTS_TOPIC_REF_H
#define IOTGATE_TESTS_TOPIC_REF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifndef TOPIC_REF_RNG_SEED
#error "define TOPIC_REF_RNG_SEED before including topic_ref.h"
#endif

/* Splits s into at most 16 levels (empty ones kept); returns the count. */
static int split_levels(const char *s, const char **lv, size_t *ll)
{
    int n = 0;
    for (;;) {
        size_t l = strcspn(s, "/");
        lv[n] = s;
        ll[n++] = l;
        if (s[l] == '\0' || n == 16)
            return n;
        s += l + 1;
    }
}

/* Naive reference matcher: compare level by level. */
static int ref_match(const char *f, const char *t)
{
    const char *fl[16], *tl[16];
    size_t fn[16], tn[16];

    if (t[0] == '$' && (f[0] == '#' || f[0] == '+'))
        return 0;
    int nf = split_levels(f, fl, fn), nt = split_levels(t, tl, tn);
    for (int i = 0; i < nf; i++) {
        if (fn[i] == 1 && fl[i][0] == '#')
            return 1;
        if (i >= nt)
            return 0;
        if (!(fn[i] == 1 && fl[i][0] == '+') && (fn[i] != tn[i] || memcmp(fl[i], tl[i], fn[i]) != 0))
            return 0;
    }
    return nf == nt;
}

static uint64_t rng_state = TOPIC_REF_RNG_SEED;

/* xorshift64: the next value of the test's deterministic random sequence. */
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

#endif /* IOTGATE_TESTS_TOPIC_REF_H */
