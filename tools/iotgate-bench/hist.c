/*
 * hist.c - log-linear latency histogram (HDR-like), in nanoseconds.
 *
 * Recording is a count-leading-zeros, two shifts and an increment; there is
 * no sample array to sort. Quantiles come from a walk over the 3712 buckets.
 */
#include "bench.h"

/* Bucket of v: exact below HIST_SUB, else 128 buckets per power of two. */
static inline uint32_t hist_index(uint64_t v)
{
    unsigned e;

    if (v < HIST_SUB)
        return (uint32_t)v;
    e = 63u - (unsigned)__builtin_clzll(v);
    if (e > HIST_TOP_EXP) /* Past 2^35 ns: counted in the top bucket. */
        return HIST_BUCKETS - 1;
    return HIST_SUB + (e - HIST_SUB_BITS) * HIST_SUB +
           (uint32_t)((v >> (e - HIST_SUB_BITS)) - HIST_SUB);
}

/* Middle of bucket i, ns. */
static uint64_t hist_value(uint32_t i)
{
    unsigned e;
    uint64_t m;

    if (i < HIST_SUB)
        return i;
    e = (i - HIST_SUB) / HIST_SUB + HIST_SUB_BITS;
    m = (i - HIST_SUB) % HIST_SUB + HIST_SUB;
    return (m << (e - HIST_SUB_BITS)) + ((1ull << (e - HIST_SUB_BITS)) >> 1);
}

void hist_add(hist_t *h, uint64_t ns)
{
    h->b[hist_index(ns)]++;
    h->n++;
    h->sum += ns;
    if (ns > h->max)
        h->max = ns;
}

void hist_merge(hist_t *dst, const hist_t *src)
{
    for (uint32_t i = 0; i < HIST_BUCKETS; i++)
        dst->b[i] += src->b[i];
    dst->n += src->n;
    dst->sum += src->sum;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hist_quantile(const hist_t *h, double q)
{
    uint64_t want, seen = 0;
    uint64_t v;

    if (h->n == 0)
        return 0;
    want = (uint64_t)(q * (double)h->n + 0.5);
    if (want < 1)
        want = 1;
    if (want > h->n)
        want = h->n;
    for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= want) {
            v = hist_value(i);
            /* A bucket's middle can lie above every sample in it. */
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}
