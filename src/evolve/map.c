/* A hash map from byte strings to pointers for the evolution engine's indexes (names, source
 * paths): open addressing with linear probing, FNV-1a hashes, keys borrowed from their owner.
 * Entries are never removed; the first value added under a key stays. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evolve_internal.h"
#include "spoke/alloc.h"
#include "spoke/banned.h"

struct spk_evolve_slot {
    const void *key;
    size_t len;
    uint64_t hash;
    void *val;
};

static uint64_t hash_bytes(const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

void spk_evolve_map_release(struct spk_evolve_map *m)
{
    if (!m)
        return;
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

static struct spk_evolve_slot *find(const struct spk_evolve_map *m, const void *key, size_t len,
                                    uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct spk_evolve_slot *s = &m->slots[i];
        if (!s->key)
            return s;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
            return s;
    }
}

void *spk_evolve_map_get(const struct spk_evolve_map *m, const void *key, size_t len)
{
    if (!m->n)
        return NULL;
    struct spk_evolve_slot *s = find(m, key, len, hash_bytes(key, len));
    return s->key ? s->val : NULL;
}

void *spk_evolve_map_sget(const struct spk_evolve_map *m, const char *key)
{
    return spk_evolve_map_get(m, key, strlen(key));
}

static void grow(struct spk_evolve_map *m)
{
    struct spk_evolve_map bigger = {spk_calloc(m->cap ? m->cap * 2 : 16, sizeof(*m->slots)),
                                    m->cap ? m->cap * 2 : 16, m->n};
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            *find(&bigger, m->slots[i].key, m->slots[i].len, m->slots[i].hash) = m->slots[i];
    free(m->slots);
    *m = bigger;
}

void *spk_evolve_map_add(struct spk_evolve_map *m, const void *key, size_t len, void *val)
{
    if ((m->n + 1) * 4 > m->cap * 3)
        grow(m);
    uint64_t h = hash_bytes(key, len);
    struct spk_evolve_slot *s = find(m, key, len, h);
    if (s->key)
        return s->val;
    *s = (struct spk_evolve_slot){key, len, h, val};
    m->n++;
    return val;
}

void *spk_evolve_map_sadd(struct spk_evolve_map *m, const char *key, void *val)
{
    return spk_evolve_map_add(m, key, strlen(key), val);
}

int spk_evolve_map_next(const struct spk_evolve_map *m, size_t *i, const void **key, size_t *len,
                        void **val)
{
    for (; *i < m->cap; (*i)++) {
        const struct spk_evolve_slot *s = &m->slots[*i];
        if (s->key) {
            if (key)
                *key = s->key;
            if (len)
                *len = s->len;
            if (val)
                *val = s->val;
            (*i)++;
            return 1;
        }
    }
    return 0;
}
