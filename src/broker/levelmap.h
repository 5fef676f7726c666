/*
 * levelmap.h - an intrusive hash table of trie children keyed by topic level,
 * shared by the subscription trie (topic_tree.c) and the retained store
 * (retain.c).
 *
 * A node embeds one levelmap_entry_t (its own key: hash, length, link to the
 * next sibling in its bucket) and owns one levelmap_t for its children. The
 * level text is not stored in the entry: it is the node's `char level[]`,
 * which must follow the entry directly (LEVELMAP_LAYOUT checks this at
 * compile time). That keeps a node as small as it was before the tables
 * were shared (no pointer to its own text).
 *
 * The table is chained, with a power-of-two bucket count: it grows (x2, from
 * 4) when a child would exceed one per bucket, and shrinks (/2, never below
 * 4) when fewer than one bucket in eight is used; the last child's removal
 * frees the buckets. Lookups are O(1) whatever the fan-out.
 *
 * Not thread-safe: the owning tree's lock guards its maps.
 */
#ifndef IOT_LEVELMAP_H
#define IOT_LEVELMAP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"

/* The key and bucket link a node embeds; the level text follows it. */
typedef struct levelmap_entry {
    struct levelmap_entry *hnext;  /* Next entry in the same bucket. */
    uint32_t hashv;                /* levelmap_hash of the level, cached. */
    uint32_t len;                  /* Length of the level text. */
} levelmap_entry_t;

/* The children of one node; zero-initialise it (an empty map allocates nothing). */
typedef struct levelmap {
    levelmap_entry_t **buckets;  /* nbuckets chains; NULL when count == 0. */
    uint32_t nbuckets;           /* 0 or a power of two. */
    uint32_t count;              /* Entries in the map. */
} levelmap_t;

/* Checks at compile time that type's char array text directly follows its
 * levelmap_entry_t member entry (levelmap_level relies on it). */
#define LEVELMAP_LAYOUT(type, entry, text)                                       \
    _Static_assert(offsetof(type, text) ==                                      \
                       offsetof(type, entry) + sizeof(levelmap_entry_t),        \
                   #type "." #text " must directly follow " #type "." #entry)

/* Returns the level text of e (len bytes, not NUL-terminated); valid while
 * the node holding e lives. */
static inline const char *levelmap_level(const levelmap_entry_t *e)
{
    return (const char *)e + sizeof *e;
}

/* Returns the hash of a level (FNV-1a); entries cache it in hashv. */
static inline uint32_t levelmap_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

/* Returns the entry of m whose level is (s, len), or NULL; h must be
 * levelmap_hash(s, len). Inline: it runs once per level of every match. */
static inline levelmap_entry_t *levelmap_find(const levelmap_t *m, const char *s, size_t len,
                                              uint32_t h)
{
    if (m->count == 0)
        return NULL;
    for (levelmap_entry_t *e = m->buckets[h & (m->nbuckets - 1)]; e != NULL; e = e->hnext)
        if (e->hashv == h && e->len == len && memcmp(levelmap_level(e), s, len) == 0)
            return e;
    return NULL;
}

/* Adds e, whose hashv, len and text are set and whose level is not yet in m.
 * Borrows e (valid until removed). Returns IOT_OK, or IOT_ENOMEM (only when
 * m had no buckets; a full table that cannot grow takes longer chains). */
int levelmap_add(levelmap_t *m, levelmap_entry_t *e);

/* Unlinks e, which must be in m; may shrink or free the buckets. */
void levelmap_remove(levelmap_t *m, levelmap_entry_t *e);

/* Returns the entry after e in bucket order (the first if e is NULL), or
 * NULL after the last; with nodollar, skips levels starting with '$'.
 * m must not change between the calls of one iteration. */
levelmap_entry_t *levelmap_next(const levelmap_t *m, const levelmap_entry_t *e, int nodollar);

/* Unlinks and returns some entry, or NULL if m is empty: for freeing a tree
 * without recursion. The first call puts every entry into one chain, so each
 * call is O(1) (and a lookup in the map is slow until it grows again). */
levelmap_entry_t *levelmap_pop(levelmap_t *m);

/* Frees m's buckets and empties it; the entries themselves are not touched. */
void levelmap_free(levelmap_t *m);

#endif
