/* The in-process LRU: byte-bounded eviction in LRU order, replacement, references that outlive
 * eviction, and concurrent use (run under ASan/UBSan by tests/run.sh). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "spoke/l1.h"
#include "unit.h"

/* The cache splits its budget over 16 shards, so tests that need exact LRU behaviour use keys
 * that land in one shard: they find such keys by probing. */
static void same_shard_keys(struct spk_l1 *probe_unused, char keys[][32], int n)
{
    (void)probe_unused;
    /* With a budget that fits exactly one small entry per shard, two keys of one shard evict each
     * other; find n keys that all evict key 0. */
    int found = 0;
    snprintf(keys[found++], 32, "k0");
    for (int i = 1; found < n && i < 100000; i++) {
        struct spk_l1 *c = spk_l1_create(16 * 150); /* room for one entry per shard */
        char k[32];
        snprintf(k, sizeof(k), "k%d", i);
        spk_l1_put(c, keys[0], "x", 1, "");
        spk_l1_put(c, k, "x", 1, "");
        const struct spk_l1_entry *e = spk_l1_get(c, keys[0]);
        if (!e)
            snprintf(keys[found++], 32, "%s", k);
        spk_l1_entry_release(e);
        spk_l1_destroy(c);
    }
    CHECK_INT_EQ(found, n);
}

static void test_get_put_replace(void)
{
    struct spk_l1 *c = spk_l1_create(1 << 20);
    CHECK(spk_l1_get(c, "a@1.0.0") == NULL);
    spk_l1_put(c, "a@1.0.0", "{\"v\":1}", 7, "\"sha256:x\"");
    const struct spk_l1_entry *e = spk_l1_get(c, "a@1.0.0");
    CHECK(e != NULL);
    if (e) {
        CHECK_INT_EQ(e->len, 7);
        CHECK(memcmp(e->data, "{\"v\":1}", 7) == 0);
        CHECK_INT_EQ(e->data[7], '\0');
        CHECK_STR_EQ(e->etag, "\"sha256:x\"");
    }
    spk_l1_put(c, "a@1.0.0", "second", 6, NULL); /* replaces; e stays valid */
    const struct spk_l1_entry *f = spk_l1_get(c, "a@1.0.0");
    CHECK(f && f->len == 6 && strcmp(f->data, "second") == 0 && strcmp(f->etag, "") == 0);
    if (e)
        CHECK(memcmp(e->data, "{\"v\":1}", 7) == 0);
    spk_l1_entry_release(e);
    spk_l1_entry_release(f);
    struct spk_l1_stats st;
    spk_l1_stats(c, &st);
    CHECK_INT_EQ(st.entries, 1);
    CHECK_INT_EQ(st.hits, 2);
    CHECK_INT_EQ(st.misses, 1);
    spk_l1_delete(c, "a@1.0.0");
    CHECK(spk_l1_get(c, "a@1.0.0") == NULL);
    spk_l1_destroy(c);
}

static void test_eviction_is_lru_and_bounded(void)
{
    char keys[4][32];
    same_shard_keys(NULL, keys, 4);
    /* A shard budget of 3 entries of ~200 bytes each. */
    char val[100];
    memset(val, 'v', sizeof(val));
    size_t budget = 16 * 3 * (100 + 32 + 96 + 8);
    struct spk_l1 *c = spk_l1_create(budget);
    spk_l1_put(c, keys[0], val, sizeof(val), "");
    spk_l1_put(c, keys[1], val, sizeof(val), "");
    spk_l1_put(c, keys[2], val, sizeof(val), "");
    spk_l1_entry_release(spk_l1_get(c, keys[0])); /* keys[0] becomes most recent */
    spk_l1_put(c, keys[3], val, sizeof(val), ""); /* evicts keys[1], the least recent */
    const struct spk_l1_entry *e0 = spk_l1_get(c, keys[0]), *e1 = spk_l1_get(c, keys[1]),
                              *e2 = spk_l1_get(c, keys[2]), *e3 = spk_l1_get(c, keys[3]);
    CHECK(e0 != NULL);
    CHECK(e1 == NULL);
    CHECK(e2 != NULL);
    CHECK(e3 != NULL);
    spk_l1_entry_release(e0);
    spk_l1_entry_release(e2);
    spk_l1_entry_release(e3);
    struct spk_l1_stats st;
    spk_l1_stats(c, &st);
    CHECK(st.bytes <= budget);
    CHECK_INT_EQ(st.evictions, 1);
    spk_l1_destroy(c);
}

static void test_oversized_and_disabled(void)
{
    struct spk_l1 *c = spk_l1_create(16 * 1024);
    char big[2048];
    memset(big, 'b', sizeof(big));
    spk_l1_put(c, "big", big, sizeof(big), ""); /* larger than a 1 KiB shard */
    CHECK(spk_l1_get(c, "big") == NULL);
    spk_l1_destroy(c);
    c = spk_l1_create(0);
    spk_l1_put(c, "a", "x", 1, "");
    CHECK(spk_l1_get(c, "a") == NULL);
    spk_l1_destroy(c);
}

static void test_reference_outlives_eviction(void)
{
    struct spk_l1 *c = spk_l1_create(1 << 16);
    spk_l1_put(c, "m@1", "payload", 7, "e");
    const struct spk_l1_entry *e = spk_l1_get(c, "m@1");
    spk_l1_delete(c, "m@1");
    spk_l1_destroy(c);
    CHECK(e && strcmp(e->data, "payload") == 0); /* still readable: ASan would catch a UAF */
    spk_l1_entry_release(e);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Copies of mutable data expire: a get after the TTL misses and frees the entry. */
static void test_ttl(void)
{
    struct spk_l1 *c = spk_l1_create(1 << 20);
    spk_l1_put_ttl(c, "module|1|0|a|", "{}", 2, "1.0.0", 40);
    spk_l1_put_ttl(c, "never", "{}", 2, "", 0); /* ttl <= 0 stores nothing */
    spk_l1_put(c, "a@1.0.0", "{}", 2, "d");
    const struct spk_l1_entry *e = spk_l1_get(c, "module|1|0|a|");
    CHECK(e && strcmp(e->etag, "1.0.0") == 0);
    CHECK(spk_l1_get(c, "never") == NULL);
    sleep_ms(60);
    CHECK(spk_l1_get(c, "module|1|0|a|") == NULL);
    CHECK(e && e->len == 2); /* a reader's reference outlives the expiry */
    spk_l1_entry_release(e);
    const struct spk_l1_entry *f = spk_l1_get(c, "a@1.0.0"); /* no TTL: still there */
    CHECK(f != NULL);
    spk_l1_entry_release(f);
    struct spk_l1_stats st;
    spk_l1_stats(c, &st);
    CHECK_INT_EQ(st.entries, 1);
    spk_l1_destroy(c);
}

struct worker {
    struct spk_l1 *c;
    int id;
    int errors;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    char key[32], val[256];
    unsigned seed = (unsigned)w->id * 2654435761u;
    for (int i = 0; i < 40000; i++) {
        seed = seed * 1103515245u + 12345u;
        int k = (int)(seed >> 16) % 500;
        snprintf(key, sizeof(key), "mod%d@1.0.%d", k, k);
        int len = snprintf(val, sizeof(val), "value-of-%s", key);
        switch ((seed >> 8) % 4) {
        case 0:
        case 1: {
            const struct spk_l1_entry *e = spk_l1_get(w->c, key);
            if (e && (e->len != (size_t)len || memcmp(e->data, val, (size_t)len) != 0))
                w->errors++;
            spk_l1_entry_release(e);
            break;
        }
        case 2:
            spk_l1_put(w->c, key, val, (size_t)len, key);
            break;
        default:
            spk_l1_delete(w->c, key);
        }
    }
    return NULL;
}

static void test_concurrent(void)
{
    size_t budget = 16 * 2048;
    struct spk_l1 *c = spk_l1_create(budget);
    pthread_t t[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){c, i + 1, 0};
        pthread_create(&t[i], NULL, hammer, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_INT_EQ(w[i].errors, 0);
    }
    struct spk_l1_stats st;
    spk_l1_stats(c, &st);
    CHECK(st.bytes <= budget);
    CHECK(st.hits + st.misses > 0);
    spk_l1_destroy(c);
}

static const struct unit_test tests[] = {
    {"get_put_replace", test_get_put_replace},
    {"eviction_is_lru_and_bounded", test_eviction_is_lru_and_bounded},
    {"oversized_and_disabled", test_oversized_and_disabled},
    {"reference_outlives_eviction", test_reference_outlives_eviction},
    {"ttl", test_ttl},
    {"concurrent", test_concurrent},
};
UNIT_MAIN(tests)
