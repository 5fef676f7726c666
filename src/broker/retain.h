/*
 * retain.h - the retained-message store shared by all worker threads.
 *
 * A level trie of topics (one node per topic level, literal children in a
 * per-node hash table); a node holds at most one retained message. A filter
 * walks only the branches it names: a literal level is one lookup, '+'
 * visits the children of one node, '#' the subtree below it.
 *
 * Messages are opaque and reference counted by the caller's ref/unref; the
 * store holds one reference per retained message.
 *
 * Memory: a retained message on a topic whose last level no other topic
 * uses costs one node (48 bytes + the level's length + malloc overhead) plus
 * about one 8-byte bucket slot in its parent; shared upper levels are paid
 * once.
 *
 * Thread safety: every function may be called from any thread; a pthread
 * rwlock (writer-preferring) guards the trie: retain_match() and
 * retain_count() read, retain_set() writes. ref and unref are never called
 * with the lock held.
 */
#ifndef IOT_RETAIN_H
#define IOT_RETAIN_H

#include <stddef.h>

#include "core/err.h"

typedef struct retain retain_t;

/* Returns owned (free with retain_free), or NULL on ENOMEM. ref and unref
 * take and drop one reference of a message; they must be thread-safe. */
retain_t *retain_new(void (*ref)(void *msg), void (*unref)(void *msg));

/* Unrefs every stored message and frees the store. */
void retain_free(retain_t *r);

/* Stores msg as the retained message of topic (taking a new reference with
 * ref), replacing and unref'ing the previous one; msg == NULL removes the
 * topic's retained message, if any (the empty-payload case). Borrows topic.
 * Returns IOT_OK or IOT_ENOMEM (then nothing changed). */
int retain_set(retain_t *r, const char *topic, size_t len, void *msg);

/* Calls cb(ctx, msg) for every retained message whose topic matches filter
 * ('+', '#', and the '$' rule [MQTT-4.7.2-1]). Runs under the read lock: cb
 * must not call back into the store, and must take its own reference if it
 * keeps msg. Borrows filter. */
void retain_match(retain_t *r, const char *filter, size_t len,
                  void (*cb)(void *ctx, void *msg), void *ctx);

/* Returns the number of retained messages. */
size_t retain_count(retain_t *r);

/* Returns the number of trie nodes, root included (memory metrics, tests). */
size_t retain_node_count(retain_t *r);

#endif
