/*
 * retain.c - the retained-message store (see retain.h for the layout, the
 * memory figures and the locking).
 *
 * Children are kept in a levelmap (levelmap.h) keyed by level. Walks never
 * recurse: '#' enumerates a subtree with parent pointers and the bucket
 * position of each node, and each '+' level of a filter keeps one iterator
 * frame on an explicit stack, so no topic or filter depth can exhaust a
 * worker's stack.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#endif
#include "broker/retain.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/levelmap.h"

/* One topic level (48 bytes + the level on LP64, as retain.h says). */
typedef struct retain_node {
    struct retain_node *parent;  /* NULL for the root. */
    void *msg;                   /* Retained message (one reference), or NULL. */
    levelmap_t kids;             /* Children by level. */
    levelmap_entry_t e;          /* Key and bucket link in the parent's kids. */
    char level[];                /* The level text (not NUL-terminated). */
} retain_node_t;

LEVELMAP_LAYOUT(retain_node_t, e, level);

struct retain {
    pthread_rwlock_t lock;        /* Readers: match, count; writer: set. */
    retain_node_t *root;          /* Empty-named root; never holds a message. */
    size_t count;                 /* Retained messages. */
    size_t nodes;                 /* Nodes, root included. */
    void (*ref)(void *msg);       /* Takes a reference. */
    void (*unref)(void *msg);     /* Drops a reference. */
};

/* One '+' level being enumerated during retain_match. */
typedef struct retain_frame {
    retain_node_t *parent;  /* Node whose children the '+' stands for. */
    retain_node_t *child;   /* Child being visited; NULL before the first. */
    size_t pos;             /* Offset of the filter level after the '+'. */
} retain_frame_t;

#define RETAIN_STACK 16     /* Frames on the C stack before the walk goes to the heap. */

/* Returns the length of the level starting at pos and sets *next past it. */
static size_t retain__level(const char *s, size_t len, size_t pos, size_t *next)
{
    const char *slash = memchr(s + pos, '/', len - pos);
    size_t end = slash != NULL ? (size_t)(slash - s) : len;
    *next = end + 1;   /* == len + 1 after the last level. */
    return end - pos;
}

/* Returns the node holding e, or NULL if e is NULL. */
static retain_node_t *retain__node(levelmap_entry_t *e)
{
    return e != NULL ? (retain_node_t *)(void *)((char *)e - offsetof(retain_node_t, e)) : NULL;
}

static retain_node_t *retain__child(const retain_node_t *n, const char *s, size_t len)
{
    if (n->kids.count == 0)
        return NULL;   /* A leaf: skip hashing. */
    return retain__node(levelmap_find(&n->kids, s, len, levelmap_hash(s, len)));
}

/* Returns the child of n after c in bucket order (the first if c is NULL),
 * skipping children whose level starts with '$' if nodollar is set. */
static retain_node_t *retain__next(const retain_node_t *n, const retain_node_t *c, int nodollar)
{
    return retain__node(levelmap_next(&n->kids, c != NULL ? &c->e : NULL, nodollar));
}

/* Frees n and its empty ancestors (never the root). */
static void retain__prune(retain_t *r, retain_node_t *n)
{
    while (n->parent != NULL && n->msg == NULL && n->kids.count == 0) {
        retain_node_t *p = n->parent;
        levelmap_remove(&p->kids, &n->e);
        free(n);
        r->nodes--;
        n = p;
    }
}

static retain_node_t *retain__node_new(retain_node_t *parent, const char *s, size_t len)
{
    retain_node_t *n = calloc(1, sizeof *n + len);
    if (n == NULL)
        return NULL;
    n->parent = parent;
    n->e.hashv = levelmap_hash(s, len);
    n->e.len = (uint32_t)len;
    memcpy(n->level, s, len);
    return n;
}

/* Finds (or, with create, makes) the node of topic; NULL if absent or on ENOMEM. */
static retain_node_t *retain__walk(retain_t *r, const char *topic, size_t len, int create)
{
    retain_node_t *n = r->root;
    size_t pos = 0, next;

    while (pos <= len) {
        size_t l = retain__level(topic, len, pos, &next);
        retain_node_t *c = retain__child(n, topic + pos, l);
        if (c == NULL && create) {
            c = retain__node_new(n, topic + pos, l);
            if (c != NULL && levelmap_add(&n->kids, &c->e) != IOT_OK) {
                free(c);
                c = NULL;
            }
            if (c != NULL)
                r->nodes++;
        }
        if (c == NULL) {
            if (create)
                retain__prune(r, n);   /* Drop the levels made for this call. */
            return NULL;
        }
        n = c;
        pos = next;
    }
    return n;
}

retain_t *retain_new(void (*ref)(void *msg), void (*unref)(void *msg))
{
    retain_t *r = calloc(1, sizeof *r);
    pthread_rwlockattr_t attr;

    if (r == NULL)
        return NULL;
    r->ref = ref;
    r->unref = unref;
    r->root = retain__node_new(NULL, "", 0);
    if (r->root == NULL)
        goto fail;
    r->nodes = 1;
    if (pthread_rwlockattr_init(&attr) != 0)
        goto fail;
    /* Matches are constant; without writer preference a set could wait forever. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(&r->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc != 0)
        goto fail;
    return r;
fail:
    free(r->root);
    free(r);
    return NULL;
}

void retain_free(retain_t *r)
{
    if (r == NULL)
        return;
    /* Post-order without recursion: descend to a leaf, free it, climb. */
    retain_node_t *n = r->root;
    while (n != NULL) {
        retain_node_t *c = retain__node(levelmap_pop(&n->kids));
        if (c != NULL) {
            n = c;
            continue;
        }
        retain_node_t *p = n->parent;
        if (n->msg != NULL)
            r->unref(n->msg);
        levelmap_free(&n->kids);
        free(n);
        n = p;
    }
    pthread_rwlock_destroy(&r->lock);
    free(r);
}

int retain_set(retain_t *r, const char *topic, size_t len, void *msg)
{
    void *old = NULL;
    int rc = IOT_OK;

    if (msg != NULL)
        r->ref(msg);
    pthread_rwlock_wrlock(&r->lock);
    retain_node_t *n = retain__walk(r, topic, len, msg != NULL);
    if (n == NULL) {
        if (msg != NULL) {
            rc = IOT_ENOMEM;
            old = msg;   /* Give back the reference taken above. */
        }
        goto out;
    }
    old = n->msg;
    n->msg = msg;
    if (old == NULL && msg != NULL)
        r->count++;
    else if (old != NULL && msg == NULL)
        r->count--;
    if (msg == NULL)
        retain__prune(r, n);
out:
    pthread_rwlock_unlock(&r->lock);
    /* Outside the lock: the last unref may free the message. */
    if (old != NULL)
        r->unref(old);
    return rc;
}

/* Reports every message in the subtree of top, top included. With nodollar,
 * top's children starting with '$' are left out (top is the root). */
static void retain__subtree(retain_node_t *top, int nodollar,
                            void (*cb)(void *ctx, void *msg), void *ctx)
{
    retain_node_t *n = top;

    if (n->msg != NULL)
        cb(ctx, n->msg);
    for (;;) {
        retain_node_t *c = retain__next(n, NULL, nodollar && n == top);
        if (c == NULL) {
            /* Leaf: climb to the nearest ancestor with a next sibling. */
            for (;;) {
                if (n == top)
                    return;
                retain_node_t *p = n->parent;
                c = retain__next(p, n, nodollar && p == top);
                if (c != NULL)
                    break;
                n = p;
            }
        }
        n = c;
        if (n->msg != NULL)
            cb(ctx, n->msg);
    }
}

void retain_match(retain_t *r, const char *filter, size_t len,
                  void (*cb)(void *ctx, void *msg), void *ctx)
{
    retain_frame_t local[RETAIN_STACK], *stack = local;
    size_t top = 0, cap = RETAIN_STACK;
    retain_node_t *n;
    size_t pos = 0, next;

    pthread_rwlock_rdlock(&r->lock);
    n = r->root;
    while (n != NULL) {
        /* Descend along literal levels from (n, pos) as far as they go. */
        while (n != NULL) {
            if (pos > len) {
                if (n->msg != NULL)
                    cb(ctx, n->msg);
                break;
            }
            size_t l = retain__level(filter, len, pos, &next);
            if (l == 1 && filter[pos] == '#') {
                /* [MQTT-4.7.2-1]: a leading '#' does not match '$' topics. */
                retain__subtree(n, n == r->root, cb, ctx);
                break;
            }
            if (l == 1 && filter[pos] == '+') {
                if (top == cap) {
                    /* Deep filter: move the walk to the heap. On ENOMEM, stop early. */
                    retain_frame_t *s = malloc(2 * cap * sizeof *s);
                    if (s == NULL)
                        goto out;
                    memcpy(s, stack, top * sizeof *s);
                    if (stack != local)
                        free(stack);
                    stack = s;
                    cap *= 2;
                }
                stack[top++] = (retain_frame_t){n, NULL, next};
                break;
            }
            n = retain__child(n, filter + pos, l);
            pos = next;
        }
        /* Resume the innermost '+' level at its next child. */
        n = NULL;
        while (top > 0 && n == NULL) {
            retain_frame_t *f = &stack[top - 1];
            f->child = retain__next(f->parent, f->child, f->parent == r->root);
            if (f->child == NULL) {
                top--;
            } else {
                n = f->child;
                pos = f->pos;
            }
        }
    }
out:
    pthread_rwlock_unlock(&r->lock);
    if (stack != local)
        free(stack);
}

size_t retain_count(retain_t *r)
{
    pthread_rwlock_rdlock(&r->lock);
    size_t n = r->count;
    pthread_rwlock_unlock(&r->lock);
    return n;
}

size_t retain_node_count(retain_t *r)
{
    pthread_rwlock_rdlock(&r->lock);
    size_t n = r->nodes;
    pthread_rwlock_unlock(&r->lock);
    return n;
}
