/* The in-process cache (L1): a bytes-bounded LRU of immutable values (rendered version JSON and
 * its ETag), keyed by strings such as "module@version".
 *
 * - Thread-safe: keys are spread over shards, each with its own lock, list and byte budget.
 * - O(1) get/put/delete: a chained hash table per shard plus an intrusive LRU list.
 * - Entries are reference-counted: a reader keeps an entry alive after eviction or replacement
 *   until it calls spk_l1_entry_release, so a value can be sent without copying.
 * - Entries put with a TTL (copies of mutable data) miss once it has passed.
 * - The byte budget counts value, key, ETag and per-entry overhead. A value larger than a
 *   shard's budget is not cached. */
#ifndef SPOKE_L1_H
#define SPOKE_L1_H

#include <stddef.h>
#include <stdint.h>

struct spk_l1;

struct spk_l1_entry {
    const char *data; /* the value, NUL-terminated after len */
    size_t len;
    const char *etag; /* may be "" */
};

struct spk_l1_stats {
    size_t bytes;
    size_t entries;
    uint64_t hits;
    uint64_t misses;
    uint64_t evictions;
};

/* max_bytes 0 disables the cache (every get misses, puts are dropped). Free with destroy. */
struct spk_l1 *spk_l1_create(size_t max_bytes);
void spk_l1_destroy(struct spk_l1 *c);

/* Copies key, value and etag; replaces an existing entry of the same key. */
void spk_l1_put(struct spk_l1 *c, const char *key, const void *data, size_t len, const char *etag);
/* Like spk_l1_put, for copies of mutable data: a get ttl_ms or more after the put misses (and
 * drops the entry). ttl_ms <= 0 stores nothing. */
void spk_l1_put_ttl(struct spk_l1 *c, const char *key, const void *data, size_t len,
                    const char *etag, int ttl_ms);
/* NULL on a miss; otherwise a referenced entry: release it with spk_l1_entry_release. */
const struct spk_l1_entry *spk_l1_get(struct spk_l1 *c, const char *key);
void spk_l1_entry_release(const struct spk_l1_entry *e);
void spk_l1_delete(struct spk_l1 *c, const char *key);
void spk_l1_stats(struct spk_l1 *c, struct spk_l1_stats *out);

#endif
