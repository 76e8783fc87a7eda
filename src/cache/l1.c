/* The in-process LRU (contract in include/spoke/l1.h). Each shard: a power-of-two bucket array of
 * chains, and a doubly-linked list with the most recently used entry at the head. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/l1.h"
#include "spoke/time.h"
#include "spoke/banned.h"

#define SHARDS         16
#define ENTRY_OVERHEAD 96 /* struct, allocator headers, bucket slot: a fair estimate */

struct node {
    struct spk_l1_entry pub; /* first, so a pub pointer is a node pointer */
    atomic_int refs;         /* one for the table while linked, one per reader */
    uint64_t hash;
    int64_t expires_us; /* monotonic; 0 = never */
    size_t cost;
    struct node *chain;       /* next in the bucket */
    struct node *prev, *next; /* LRU list */
    char *key;
};

struct shard {
    pthread_mutex_t lock;
    struct node **buckets;
    size_t nbuckets; /* power of two */
    size_t entries;
    size_t bytes;
    size_t budget;
    struct node *head, *tail;
    uint64_t hits, misses, evictions;
};

struct spk_l1 {
    struct shard shards[SHARDS];
};

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

static void node_unref(struct node *n)
{
    if (atomic_fetch_sub(&n->refs, 1) == 1) {
        free((void *)n->pub.data);
        free((void *)n->pub.etag);
        free(n->key);
        free(n);
    }
}

static void list_unlink(struct shard *s, struct node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        s->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        s->tail = n->prev;
    n->prev = n->next = NULL;
}

static void list_push_front(struct shard *s, struct node *n)
{
    n->prev = NULL;
    n->next = s->head;
    if (s->head)
        s->head->prev = n;
    s->head = n;
    if (!s->tail)
        s->tail = n;
}

static struct node **find_slot(struct shard *s, uint64_t hash, const char *key)
{
    struct node **p = &s->buckets[hash & (s->nbuckets - 1)];
    while (*p && ((*p)->hash != hash || strcmp((*p)->key, key) != 0))
        p = &(*p)->chain;
    return p;
}

/* Unlinks n from its chain and the list, and drops the table's reference. */
static void remove_node(struct shard *s, struct node *n)
{
    struct node **p = find_slot(s, n->hash, n->key);
    *p = n->chain;
    list_unlink(s, n);
    s->entries--;
    s->bytes -= n->cost;
    node_unref(n);
}

static void grow(struct shard *s)
{
    size_t nb = s->nbuckets * 2;
    struct node **b = spk_calloc(nb, sizeof(*b));
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct node *n = s->buckets[i];
        while (n) {
            struct node *next = n->chain;
            n->chain = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
            n = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
}

struct spk_l1 *spk_l1_create(size_t max_bytes)
{
    struct spk_l1 *c = spk_calloc(1, sizeof(*c));
    for (int i = 0; i < SHARDS; i++) {
        struct shard *s = &c->shards[i];
        pthread_mutex_init(&s->lock, NULL);
        s->nbuckets = 64;
        s->buckets = spk_calloc(s->nbuckets, sizeof(*s->buckets));
        s->budget = max_bytes / SHARDS;
    }
    return c;
}

void spk_l1_destroy(struct spk_l1 *c)
{
    if (!c)
        return;
    for (int i = 0; i < SHARDS; i++) {
        struct shard *s = &c->shards[i];
        while (s->head)
            remove_node(s, s->head);
        free(s->buckets);
        pthread_mutex_destroy(&s->lock);
    }
    free(c);
}

static struct shard *shard_of(struct spk_l1 *c, uint64_t hash)
{
    return &c->shards[(hash >> 56) % SHARDS];
}

static void put_entry(struct spk_l1 *c, const char *key, const void *data, size_t len,
                      const char *etag, int64_t expires_us)
{
    uint64_t h = hash_key(key);
    struct shard *s = shard_of(c, h);
    size_t klen = strlen(key), elen = etag ? strlen(etag) : 0;
    size_t cost = len + klen + elen + ENTRY_OVERHEAD;
    if (cost > s->budget)
        return;

    struct node *n = spk_calloc(1, sizeof(*n));
    char *copy = spk_malloc(len + 1);
    memcpy(copy, data, len);
    copy[len] = '\0';
    n->pub.data = copy;
    n->pub.len = len;
    n->pub.etag = spk_strdup(etag ? etag : "");
    n->key = spk_strndup(key, klen);
    n->hash = h;
    n->expires_us = expires_us;
    n->cost = cost;
    atomic_init(&n->refs, 1);

    pthread_mutex_lock(&s->lock);
    struct node *old = *find_slot(s, h, key);
    if (old)
        remove_node(s, old);
    while (s->bytes + cost > s->budget && s->tail) {
        remove_node(s, s->tail);
        s->evictions++;
    }
    if (s->entries + 1 > s->nbuckets)
        grow(s);
    struct node **slot = &s->buckets[h & (s->nbuckets - 1)];
    n->chain = *slot;
    *slot = n;
    list_push_front(s, n);
    s->entries++;
    s->bytes += cost;
    pthread_mutex_unlock(&s->lock);
}

void spk_l1_put(struct spk_l1 *c, const char *key, const void *data, size_t len, const char *etag)
{
    put_entry(c, key, data, len, etag, 0);
}

void spk_l1_put_ttl(struct spk_l1 *c, const char *key, const void *data, size_t len,
                    const char *etag, int ttl_ms)
{
    if (ttl_ms > 0)
        put_entry(c, key, data, len, etag, spk_time_mono_us() + (int64_t)ttl_ms * 1000);
}

const struct spk_l1_entry *spk_l1_get(struct spk_l1 *c, const char *key)
{
    uint64_t h = hash_key(key);
    struct shard *s = shard_of(c, h);
    pthread_mutex_lock(&s->lock);
    struct node *n = *find_slot(s, h, key);
    if (n && n->expires_us && spk_time_mono_us() >= n->expires_us) {
        remove_node(s, n);
        n = NULL;
    }
    if (n) {
        atomic_fetch_add(&n->refs, 1);
        list_unlink(s, n);
        list_push_front(s, n);
        s->hits++;
    } else {
        s->misses++;
    }
    pthread_mutex_unlock(&s->lock);
    return n ? &n->pub : NULL;
}

void spk_l1_entry_release(const struct spk_l1_entry *e)
{
    if (e)
        node_unref((struct node *)(uintptr_t)e);
}

void spk_l1_delete(struct spk_l1 *c, const char *key)
{
    uint64_t h = hash_key(key);
    struct shard *s = shard_of(c, h);
    pthread_mutex_lock(&s->lock);
    struct node *n = *find_slot(s, h, key);
    if (n)
        remove_node(s, n);
    pthread_mutex_unlock(&s->lock);
}

void spk_l1_stats(struct spk_l1 *c, struct spk_l1_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < SHARDS; i++) {
        struct shard *s = &c->shards[i];
        pthread_mutex_lock(&s->lock);
        out->bytes += s->bytes;
        out->entries += s->entries;
        out->hits += s->hits;
        out->misses += s->misses;
        out->evictions += s->evictions;
        pthread_mutex_unlock(&s->lock);
    }
}
