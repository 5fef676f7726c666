/*
 * levelmap.c - the child tables of the trie nodes of topic_tree.c and
 * retain.c (see levelmap.h for the layout and the grow/shrink rules).
 *
 * Growing and shrinking both go through levelmap__rehash, which allocates
 * the new bucket array first: on ENOMEM the map is left as it was, still
 * correct, only with longer chains (or a larger array) than the rules ask.
 */
#include "broker/levelmap.h"

#include <stdlib.h>

#define LEVELMAP_MIN 4   /* Buckets of a non-empty map, at least. */

/* Moves every entry into a new array of nb buckets; IOT_ENOMEM leaves m as it was. */
static int levelmap__rehash(levelmap_t *m, uint32_t nb)
{
    levelmap_entry_t **b = calloc(nb, sizeof *b);
    if (b == NULL)
        return IOT_ENOMEM;
    for (uint32_t i = 0; i < m->nbuckets; i++) {
        levelmap_entry_t *e = m->buckets[i], *next;
        for (; e != NULL; e = next) {
            next = e->hnext;
            e->hnext = b[e->hashv & (nb - 1)];
            b[e->hashv & (nb - 1)] = e;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
    return IOT_OK;
}

int levelmap_add(levelmap_t *m, levelmap_entry_t *e)
{
    if (m->count + 1 > m->nbuckets) {
        int rc = levelmap__rehash(m, m->nbuckets != 0 ? m->nbuckets * 2 : LEVELMAP_MIN);
        if (rc != IOT_OK && m->nbuckets == 0)
            return rc;   /* A full table still works; only an absent one fails. */
    }
    uint32_t i = e->hashv & (m->nbuckets - 1);
    e->hnext = m->buckets[i];
    m->buckets[i] = e;
    m->count++;
    return IOT_OK;
}

void levelmap_remove(levelmap_t *m, levelmap_entry_t *e)
{
    levelmap_entry_t **pp = &m->buckets[e->hashv & (m->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    e->hnext = NULL;
    if (--m->count == 0)
        levelmap_free(m);
    else if (m->nbuckets > LEVELMAP_MIN && m->count < m->nbuckets / 8)
        (void)levelmap__rehash(m, m->nbuckets / 2);   /* On ENOMEM keep the bigger table. */
}

levelmap_entry_t *levelmap_next(const levelmap_t *m, const levelmap_entry_t *e, int nodollar)
{
    levelmap_entry_t *c;

    for (;; e = c) {
        if (e != NULL && e->hnext != NULL) {
            c = e->hnext;
        } else {
            /* Past the end of e's chain: the next non-empty bucket after it. */
            uint32_t b = e != NULL ? (e->hashv & (m->nbuckets - 1)) + 1 : 0;
            c = NULL;
            for (; b < m->nbuckets && c == NULL; b++)
                c = m->buckets[b];
            if (c == NULL)
                return NULL;
        }
        if (!nodollar || c->len == 0 || levelmap_level(c)[0] != '$')
            return c;
    }
}

levelmap_entry_t *levelmap_pop(levelmap_t *m)
{
    if (m->count == 0)
        return NULL;
    if (m->nbuckets > 1) {
        /* Chain every entry into bucket 0 once; with one bucket the map stays valid. */
        levelmap_entry_t *all = NULL;
        for (uint32_t i = 0; i < m->nbuckets; i++) {
            levelmap_entry_t *e = m->buckets[i], *next;
            for (; e != NULL; e = next) {
                next = e->hnext;
                e->hnext = all;
                all = e;
            }
        }
        m->buckets[0] = all;
        m->nbuckets = 1;
    }
    levelmap_entry_t *e = m->buckets[0];
    m->buckets[0] = e->hnext;
    e->hnext = NULL;
    if (--m->count == 0)
        levelmap_free(m);
    return e;
}

void levelmap_free(levelmap_t *m)
{
    free(m->buckets);
    *m = (levelmap_t){0};
}
