/*
 * topic_tree.h - the subscription trie shared by all worker threads.
 *
 * One node per filter level; a node keeps its literal children in a hash
 * table and its '+' and '#' children aside, so matching a topic visits at
 * most (literal, '+', '#') children per level whatever the fan-out (a node
 * may have 100k children: dev/<id>/...). Subscriptions of a node are an
 * open-addressing set keyed by owner; shared subscriptions
 * ("$share/<group>/<filter>") hang off the filter's node as one group per
 * name, each with its members and an atomic round-robin counter.
 *
 * Memory: one subscription is a 16-byte entry in its node's table, which is
 * kept 25-75% full (16 bytes for a single subscriber, 21-64 in general); a
 * shared-group member is a 16-byte entry in a dense array. A filter level no
 * other filter uses costs one node (80 bytes + the level's length + malloc
 * overhead) plus about one 8-byte bucket slot in its parent.
 *
 * Thread safety: every function may be called from any thread. A pthread
 * rwlock (writer-preferring, so a steady stream of matches cannot starve
 * subscribers) guards the tree: topic_tree_match() and topic_tree_count()
 * take it shared, subscribe/unsubscribe exclusively.
 *
 * Filters and topics are (pointer, length), not NUL-terminated, and are
 * validated by the caller; odd but valid input ("a//b", "/", "#", "+")
 * works, and invalid input does not crash.
 */
#ifndef IOT_TOPIC_TREE_H
#define IOT_TOPIC_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct topic_tree topic_tree_t;

/* Returns owned (free with topic_tree_free), or NULL on ENOMEM. */
topic_tree_t *topic_tree_new(void);

/* Frees the tree and every subscription in it; owners are not touched. */
void topic_tree_free(topic_tree_t *t);

/* Adds owner's subscription to filter (which may be "$share/<group>/<filter>";
 * it then joins that share group), or replaces its opts and sub_id if owner
 * already has it; *existed is set to 1 then, else 0 (existed may be NULL).
 * Borrows filter; owner is an opaque non-NULL key the tree never dereferences.
 * Returns IOT_OK, IOT_ENOMEM, or IOT_EINVAL (NULL owner, bad $share form). */
int topic_tree_subscribe(topic_tree_t *t, const char *filter, size_t len, void *owner,
                         uint8_t opts, uint32_t sub_id, int *existed);

/* Removes owner's subscription to filter (the same string, $share prefix
 * included) and prunes nodes left empty. Returns IOT_OK or IOT_ENOTFOUND. */
int topic_tree_unsubscribe(topic_tree_t *t, const char *filter, size_t len, void *owner);

/* Match callback: once per matching non-shared subscription (shared = 0) and
 * once per matching share group with the one member chosen (shared = 1). */
typedef void (*topic_match_cb)(void *ctx, void *owner, uint8_t opts, uint32_t sub_id, int shared);
/* Returns non-zero if owner can take a message now (connected). */
typedef int (*topic_online_cb)(void *ctx, void *owner);

/* Calls cb for every subscription matching topic (see topic_match_cb). In a
 * share group, members are taken round robin, skipping those for which
 * online(ctx, owner) returns 0 unless none is online (online may be NULL).
 * Topics starting with '$' are not matched by filters starting with '#' or
 * '+' [MQTT-4.7.2-1]. Runs under the read lock: cb and online must not call
 * back into the tree. Borrows topic. */
void topic_tree_match(topic_tree_t *t, const char *topic, size_t len,
                      topic_match_cb cb, topic_online_cb online, void *ctx);

/* Returns the number of subscriptions (shared members included). */
size_t topic_tree_count(topic_tree_t *t);

/* Returns the number of trie nodes, root included (memory metrics, tests). */
size_t topic_tree_node_count(topic_tree_t *t);

#endif
