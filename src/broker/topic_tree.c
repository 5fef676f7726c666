/*
 * topic_tree.c - the subscription trie shared by all worker threads (see
 * topic_tree.h for the layout, the memory figures and the locking).
 *
 * Literal children are kept in a levelmap (levelmap.h) keyed by level; a
 * node's '+' and '#' children are held aside in their own pointers.
 *
 * Matching walks the trie with an explicit stack of (node, offset) pairs
 * instead of recursion, so a topic of thousands of levels cannot exhaust a
 * worker's stack; each visited node pushes at most two successors (its
 * literal and '+' children), so the stack never exceeds levels + 1 entries.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#endif
#include "broker/topic_tree.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "broker/levelmap.h"

/* One subscription: an owner and its options (16 bytes on LP64). */
typedef struct topic_tree_sub {
    void *owner;      /* Opaque key (a session); NULL marks a free table slot. */
    uint32_t sub_id;  /* MQTT 5 subscription identifier, 0 if none. */
    uint8_t opts;     /* Subscription options byte (QoS, nl, rap, rh). */
} topic_tree_sub_t;

/* Open-addressing set of subscriptions keyed by owner (linear probing). */
typedef struct topic_tree_subs {
    topic_tree_sub_t *e;  /* cap entries, or NULL when cap == 0. */
    uint32_t n;           /* Entries in use. */
    uint32_t cap;         /* Table size, 0 or a power of two. */
} topic_tree_subs_t;

/* A share group "$share/<name>/..." on one filter node. */
typedef struct topic_tree_share {
    struct topic_tree_share *next;  /* Next group on the same node. */
    topic_tree_sub_t *m;            /* Members, dense (n used of cap). */
    uint32_t n;                     /* Members in use. */
    uint32_t cap;                   /* Members allocated. */
    atomic_uint rr;                 /* Round-robin position; bumped under the read lock. */
    uint32_t len;                   /* Length of name. */
    char name[];                    /* Group name (not NUL-terminated). */
} topic_tree_share_t;

/* One filter level (80 bytes + the level on LP64, as topic_tree.h says). */
typedef struct topic_tree_node {
    struct topic_tree_node *parent;  /* NULL for the root. */
    struct topic_tree_node *plus;    /* The '+' child, or NULL. */
    struct topic_tree_node *hash;    /* The '#' child, or NULL. */
    topic_tree_subs_t subs;          /* Non-shared subscriptions ending here. */
    topic_tree_share_t *shares;      /* Share groups ending here. */
    levelmap_t kids;                 /* Literal children by level. */
    levelmap_entry_t e;              /* Key, and bucket link in the parent's kids if literal. */
    char level[];                    /* The level text (not NUL-terminated). */
} topic_tree_node_t;

LEVELMAP_LAYOUT(topic_tree_node_t, e, level);

struct topic_tree {
    pthread_rwlock_t lock;    /* Readers: match, count; writers: (un)subscribe. */
    topic_tree_node_t *root;  /* Empty-named root; never pruned. */
    size_t count;             /* Subscriptions, shared members included. */
    size_t nodes;             /* Nodes, root included (for tests and metrics). */
};

/* One pending match step: node reached, offset of the next topic level. */
typedef struct topic_tree_frame {
    topic_tree_node_t *node;  /* Node whose levels so far match the topic. */
    size_t pos;               /* Offset of the next level; > len once all are used. */
} topic_tree_frame_t;

#define TOPIC_TREE_STACK 32   /* Frames on the C stack before the walk goes to the heap. */

static uint32_t topic_tree__ptr_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (uint32_t)x;
}

/* Returns the length of the level starting at pos and sets *next past it. */
static size_t topic_tree__level(const char *s, size_t len, size_t pos, size_t *next)
{
    const char *slash = memchr(s + pos, '/', len - pos);
    size_t end = slash != NULL ? (size_t)(slash - s) : len;
    *next = end + 1;   /* == len + 1 after the last level. */
    return end - pos;
}

/* Returns the node holding e, or NULL if e is NULL. */
static topic_tree_node_t *topic_tree__node(levelmap_entry_t *e)
{
    return e != NULL ? (topic_tree_node_t *)(void *)((char *)e - offsetof(topic_tree_node_t, e))
                     : NULL;
}

/* ---- subscriptions of a node: open addressing keyed by owner ---- */

static topic_tree_sub_t *topic_tree__subs_find(const topic_tree_subs_t *s, const void *owner)
{
    uint32_t mask = s->cap - 1, i = topic_tree__ptr_hash(owner) & mask;
    for (uint32_t k = 0; k < s->cap; k++, i = (i + 1) & mask) {
        if (s->e[i].owner == owner)
            return &s->e[i];
        if (s->e[i].owner == NULL)
            return NULL;
    }
    return NULL;
}

/* Puts e (owner not present) into a table known to have a free slot. */
static void topic_tree__subs_put(topic_tree_subs_t *s, const topic_tree_sub_t *e)
{
    uint32_t mask = s->cap - 1, i = topic_tree__ptr_hash(e->owner) & mask;
    while (s->e[i].owner != NULL)
        i = (i + 1) & mask;
    s->e[i] = *e;
    s->n++;
}

static int topic_tree__subs_resize(topic_tree_subs_t *s, uint32_t cap)
{
    topic_tree_subs_t ns = {.e = calloc(cap, sizeof *ns.e), .n = 0, .cap = cap};
    if (ns.e == NULL)
        return IOT_ENOMEM;
    for (uint32_t i = 0; i < s->cap; i++)
        if (s->e[i].owner != NULL)
            topic_tree__subs_put(&ns, &s->e[i]);
    free(s->e);
    *s = ns;
    return IOT_OK;
}

static int topic_tree__subs_add(topic_tree_subs_t *s, const topic_tree_sub_t *e)
{
    /* At most 3/4 full (a table of 1 or 2 may be full: probes are bounded). */
    if (s->n + 1 > s->cap - s->cap / 4) {
        int rc = topic_tree__subs_resize(s, s->cap != 0 ? s->cap * 2 : 1);
        if (rc != IOT_OK)
            return rc;
    }
    topic_tree__subs_put(s, e);
    return IOT_OK;
}

/* Removes the entry at e (backward-shift deletion keeps probe chains whole). */
static void topic_tree__subs_del(topic_tree_subs_t *s, topic_tree_sub_t *e)
{
    uint32_t mask = s->cap - 1, i = (uint32_t)(e - s->e), j = i;

    s->e[i].owner = NULL;
    for (;;) {
        j = (j + 1) & mask;
        if (s->e[j].owner == NULL)
            break;
        uint32_t k = topic_tree__ptr_hash(s->e[j].owner) & mask;
        /* Move j back to i unless its home k lies cyclically in (i, j]. */
        int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            s->e[i] = s->e[j];
            s->e[j].owner = NULL;
            i = j;
        }
    }
    if (--s->n == 0) {
        free(s->e);
        *s = (topic_tree_subs_t){0};
    } else if (s->cap > 4 && s->n < s->cap / 4) {
        (void)topic_tree__subs_resize(s, s->cap / 2);   /* On ENOMEM keep the bigger table. */
    }
}

/* ---- nodes ---- */

static int topic_tree__node_empty(const topic_tree_node_t *n)
{
    return n->subs.n == 0 && n->shares == NULL && n->kids.count == 0 &&
           n->plus == NULL && n->hash == NULL;
}

static void topic_tree__node_free(topic_tree_node_t *n)
{
    topic_tree_share_t *g, *next;
    for (g = n->shares; g != NULL; g = next) {
        next = g->next;
        free(g->m);
        free(g);
    }
    free(n->subs.e);
    levelmap_free(&n->kids);
    free(n);
}

/* Frees n and its empty ancestors (never the root). */
static void topic_tree__prune(topic_tree_t *t, topic_tree_node_t *n)
{
    while (n->parent != NULL && topic_tree__node_empty(n)) {
        topic_tree_node_t *p = n->parent;
        if (p->plus == n)
            p->plus = NULL;
        else if (p->hash == n)
            p->hash = NULL;
        else
            levelmap_remove(&p->kids, &n->e);
        topic_tree__node_free(n);
        t->nodes--;
        n = p;
    }
}

static topic_tree_node_t *topic_tree__node_new(topic_tree_node_t *parent, const char *s,
                                               size_t len, uint32_t h)
{
    topic_tree_node_t *n = calloc(1, sizeof *n + len);
    if (n == NULL)
        return NULL;
    n->parent = parent;
    n->e.hashv = h;
    n->e.len = (uint32_t)len;
    memcpy(n->level, s, len);
    return n;
}

/* Returns the child of n for one filter level, creating it if create is set;
 * NULL if absent (or on ENOMEM when creating). */
static topic_tree_node_t *topic_tree__step(topic_tree_t *t, topic_tree_node_t *n,
                                           const char *s, size_t len, int create)
{
    topic_tree_node_t **wild = NULL, *c;
    uint32_t h = levelmap_hash(s, len);

    if (len == 1 && s[0] == '+')
        wild = &n->plus;
    else if (len == 1 && s[0] == '#')
        wild = &n->hash;
    c = wild != NULL ? *wild : topic_tree__node(levelmap_find(&n->kids, s, len, h));
    if (c != NULL || !create)
        return c;
    c = topic_tree__node_new(n, s, len, h);
    if (c == NULL)
        return NULL;
    if (wild != NULL) {
        *wild = c;
    } else if (levelmap_add(&n->kids, &c->e) != IOT_OK) {
        free(c);
        return NULL;
    }
    t->nodes++;
    return c;
}

/* Splits "$share/<group>/<filter>" into group and filter; plain filters get
 * *glen = 0 and *group = NULL. Returns IOT_EINVAL for a malformed $share. */
static int topic_tree__split_share(const char **filter, size_t *len, const char **group,
                                   size_t *glen)
{
    *group = NULL;
    *glen = 0;
    if (*len < 7 || memcmp(*filter, "$share/", 7) != 0)
        return IOT_OK;
    const char *g = *filter + 7;
    const char *slash = memchr(g, '/', *len - 7);
    if (slash == NULL || slash == g)
        return IOT_EINVAL;
    *group = g;
    *glen = (size_t)(slash - g);
    *len -= 7 + *glen + 1;
    *filter = slash + 1;
    return IOT_OK;
}

/* Finds (or, with create, makes) the node of filter. */
static topic_tree_node_t *topic_tree__walk(topic_tree_t *t, const char *f, size_t len, int create)
{
    topic_tree_node_t *n = t->root;
    size_t pos = 0, next;

    while (pos <= len) {
        size_t l = topic_tree__level(f, len, pos, &next);
        topic_tree_node_t *c = topic_tree__step(t, n, f + pos, l, create);
        if (c == NULL) {
            if (create)
                topic_tree__prune(t, n);   /* Drop the levels made for this call. */
            return NULL;
        }
        n = c;
        pos = next;
    }
    return n;
}

topic_tree_t *topic_tree_new(void)
{
    topic_tree_t *t = calloc(1, sizeof *t);
    pthread_rwlockattr_t attr;

    if (t == NULL)
        return NULL;
    t->root = topic_tree__node_new(NULL, "", 0, levelmap_hash("", 0));
    if (t->root == NULL)
        goto fail;
    t->nodes = 1;
    if (pthread_rwlockattr_init(&attr) != 0)
        goto fail;
    /* Matches are constant; without writer preference a subscribe could wait forever. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(&t->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc != 0)
        goto fail;
    return t;
fail:
    free(t->root);
    free(t);
    return NULL;
}

void topic_tree_free(topic_tree_t *t)
{
    if (t == NULL)
        return;
    /* Post-order without recursion: descend to a leaf, free it, climb. */
    topic_tree_node_t *n = t->root;
    while (n != NULL) {
        topic_tree_node_t *c = NULL;
        if (n->plus != NULL) {
            c = n->plus;
            n->plus = NULL;
        } else if (n->hash != NULL) {
            c = n->hash;
            n->hash = NULL;
        } else {
            c = topic_tree__node(levelmap_pop(&n->kids));
        }
        if (c != NULL) {
            n = c;
            continue;
        }
        topic_tree_node_t *p = n->parent;
        topic_tree__node_free(n);
        n = p;
    }
    pthread_rwlock_destroy(&t->lock);
    free(t);
}

/* Adds or replaces owner in the share group name of node n. */
static int topic_tree__share_add(topic_tree_node_t *n, const char *name, size_t nlen,
                                 const topic_tree_sub_t *e, int *existed)
{
    topic_tree_share_t *g;

    for (g = n->shares; g != NULL; g = g->next)
        if (g->len == nlen && memcmp(g->name, name, nlen) == 0)
            break;
    if (g != NULL) {
        for (uint32_t i = 0; i < g->n; i++) {
            if (g->m[i].owner == e->owner) {
                g->m[i] = *e;
                *existed = 1;
                return IOT_OK;
            }
        }
    } else {
        g = calloc(1, sizeof *g + nlen);
        if (g == NULL)
            return IOT_ENOMEM;
        g->len = (uint32_t)nlen;
        memcpy(g->name, name, nlen);
        atomic_init(&g->rr, 0);
        g->next = n->shares;
        n->shares = g;
    }
    if (g->n == g->cap) {
        uint32_t cap = g->cap != 0 ? g->cap * 2 : 2;
        topic_tree_sub_t *m = realloc(g->m, cap * sizeof *m);
        if (m == NULL)
            return IOT_ENOMEM;   /* An empty new group is removed by the caller. */
        g->m = m;
        g->cap = cap;
    }
    g->m[g->n++] = *e;
    return IOT_OK;
}

/* Unlinks and frees empty share groups of n. */
static void topic_tree__share_gc(topic_tree_node_t *n)
{
    topic_tree_share_t **pp = &n->shares;
    while (*pp != NULL) {
        topic_tree_share_t *g = *pp;
        if (g->n == 0) {
            *pp = g->next;
            free(g->m);
            free(g);
        } else {
            pp = &g->next;
        }
    }
}

int topic_tree_subscribe(topic_tree_t *t, const char *filter, size_t len, void *owner,
                         uint8_t opts, uint32_t sub_id, int *existed)
{
    const char *group;
    size_t glen;
    int dummy, rc;
    topic_tree_sub_t e = {.owner = owner, .sub_id = sub_id, .opts = opts};

    if (existed == NULL)
        existed = &dummy;
    *existed = 0;
    if (owner == NULL || topic_tree__split_share(&filter, &len, &group, &glen) != IOT_OK)
        return IOT_EINVAL;
    pthread_rwlock_wrlock(&t->lock);
    topic_tree_node_t *n = topic_tree__walk(t, filter, len, 1);
    if (n == NULL) {
        rc = IOT_ENOMEM;
        goto out;
    }
    if (group != NULL) {
        rc = topic_tree__share_add(n, group, glen, &e, existed);
        topic_tree__share_gc(n);
    } else {
        topic_tree_sub_t *old = n->subs.cap != 0 ? topic_tree__subs_find(&n->subs, owner) : NULL;
        if (old != NULL) {
            *old = e;
            *existed = 1;
            rc = IOT_OK;
        } else {
            rc = topic_tree__subs_add(&n->subs, &e);
        }
    }
    if (rc == IOT_OK && !*existed)
        t->count++;
    if (rc != IOT_OK)
        topic_tree__prune(t, n);
out:
    pthread_rwlock_unlock(&t->lock);
    return rc;
}

int topic_tree_unsubscribe(topic_tree_t *t, const char *filter, size_t len, void *owner)
{
    const char *group;
    size_t glen;
    int rc = IOT_ENOTFOUND;

    if (owner == NULL || topic_tree__split_share(&filter, &len, &group, &glen) != IOT_OK)
        return IOT_ENOTFOUND;
    pthread_rwlock_wrlock(&t->lock);
    topic_tree_node_t *n = topic_tree__walk(t, filter, len, 0);
    if (n == NULL)
        goto out;
    if (group != NULL) {
        for (topic_tree_share_t *g = n->shares; g != NULL; g = g->next) {
            if (g->len != glen || memcmp(g->name, group, glen) != 0)
                continue;
            for (uint32_t i = 0; i < g->n; i++) {
                if (g->m[i].owner == owner) {
                    g->m[i] = g->m[--g->n];
                    rc = IOT_OK;
                    break;
                }
            }
            break;
        }
        topic_tree__share_gc(n);
    } else if (n->subs.cap != 0) {
        topic_tree_sub_t *e = topic_tree__subs_find(&n->subs, owner);
        if (e != NULL) {
            topic_tree__subs_del(&n->subs, e);
            rc = IOT_OK;
        }
    }
    if (rc == IOT_OK)
        t->count--;
    topic_tree__prune(t, n);
out:
    pthread_rwlock_unlock(&t->lock);
    return rc;
}

/* Reports every subscription of n: each plain one, one member per group. */
static void topic_tree__report(topic_tree_node_t *n, topic_match_cb cb, topic_online_cb online,
                               void *ctx)
{
    for (uint32_t i = 0; i < n->subs.cap; i++) {
        const topic_tree_sub_t *e = &n->subs.e[i];
        if (e->owner != NULL)
            cb(ctx, e->owner, e->opts, e->sub_id, 0);
    }
    for (topic_tree_share_t *g = n->shares; g != NULL; g = g->next) {
        if (g->n == 0)
            continue;
        unsigned r = atomic_fetch_add_explicit(&g->rr, 1, memory_order_relaxed);
        uint32_t start = r % g->n, pick = start;
        if (online != NULL) {
            for (uint32_t k = 0; k < g->n; k++) {
                uint32_t j = (start + k) % g->n;
                if (online(ctx, g->m[j].owner)) {
                    pick = j;
                    /* Skipped offline members: start the next turn after pick,
                     * so online members share evenly. A lost race only skews
                     * one turn. */
                    unsigned expect = r + 1;
                    if (k != 0)
                        atomic_compare_exchange_strong_explicit(&g->rr, &expect, r + 1 + k,
                                                                memory_order_relaxed,
                                                                memory_order_relaxed);
                    break;
                }
            }
        }
        const topic_tree_sub_t *e = &g->m[pick];
        cb(ctx, e->owner, e->opts, e->sub_id, 1);
    }
}

void topic_tree_match(topic_tree_t *t, const char *topic, size_t len,
                      topic_match_cb cb, topic_online_cb online, void *ctx)
{
    topic_tree_frame_t local[TOPIC_TREE_STACK], *stack = local;
    size_t top = 0, cap = TOPIC_TREE_STACK;
    int dollar = len > 0 && topic[0] == '$';

    pthread_rwlock_rdlock(&t->lock);
    stack[top++] = (topic_tree_frame_t){t->root, 0};
    while (top > 0) {
        topic_tree_frame_t f = stack[--top];
        topic_tree_node_t *n = f.node, *c[2];
        size_t next;

        if (f.pos > len) {
            /* All levels used: n's own filter and "n/#" ("sport/#" matches "sport"). */
            topic_tree__report(n, cb, online, ctx);
            if (n->hash != NULL)
                topic_tree__report(n->hash, cb, online, ctx);
            continue;
        }
        size_t l = topic_tree__level(topic, len, f.pos, &next);
        /* [MQTT-4.7.2-1]: no wildcard at the first level matches a '$' topic. */
        int wild = !(dollar && n == t->root);
        if (wild && n->hash != NULL)
            topic_tree__report(n->hash, cb, online, ctx);
        c[0] = wild ? n->plus : NULL;
        c[1] = n->kids.count != 0 ? topic_tree__node(levelmap_find(&n->kids, topic + f.pos, l,
                                                                   levelmap_hash(topic + f.pos, l)))
                                  : NULL;
        if (top + 2 > cap) {
            /* Deep topic: move the walk to the heap. On ENOMEM, stop early. */
            topic_tree_frame_t *s = malloc(2 * cap * sizeof *s);
            if (s == NULL)
                break;
            memcpy(s, stack, top * sizeof *s);
            if (stack != local)
                free(stack);
            stack = s;
            cap *= 2;
        }
        for (int i = 0; i < 2; i++)
            if (c[i] != NULL)
                stack[top++] = (topic_tree_frame_t){c[i], next};
    }
    pthread_rwlock_unlock(&t->lock);
    if (stack != local)
        free(stack);
}

size_t topic_tree_count(topic_tree_t *t)
{
    pthread_rwlock_rdlock(&t->lock);
    size_t n = t->count;
    pthread_rwlock_unlock(&t->lock);
    return n;
}

size_t topic_tree_node_count(topic_tree_t *t)
{
    pthread_rwlock_rdlock(&t->lock);
    size_t n = t->nodes;
    pthread_rwlock_unlock(&t->lock);
    return n;
}
