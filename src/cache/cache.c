/* The read-through cache (contract in include/spoke/cache.h): L1 and Redis lookups and fills,
 * the generation counters that keep module documents coherent, and the invalidation that a write
 * publishes. The Redis client itself is redis.c; this file only speaks commands and scripts. */
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/cache.h"
#include "spoke/config.h"
#include "spoke/error.h"
#include "spoke/l1.h"
#include "spoke/log.h"
#include "spoke/metrics.h"
#include "spoke/redis.h"
#include "spoke/semver.h"
#include "spoke/validate.h"
#include "spoke/banned.h"

#define GEN_SLOTS  1024       /* in-process generations, by hash of the module name */
#define GEN_TTL_MS "86400000" /* gen:{name} outlives every copy it guards */
/* Larger bodies stay out of Redis: one SET must fit in the timeout. */
#define REDIS_VALUE_MAX   (2u << 20)
#define PAGES_MAX         "64" /* version-list pages kept per module */
#define PENDING_MAX       1024 /* invalidations waiting for Redis to come back */
#define TAG_MAX           127
#define KEY_MAX           (32 + SPK_MODULE_NAME_MAX + SPK_SEMVER_MAX_LEN + 48)
#define INVALIDATE_PREFIX "module:"

/* Module page lookup: the page and the generation in one round trip. */
static const char PAGE_GET_LUA[] =
    "return {redis.call('hget', KEYS[1], ARGV[1]) or false, redis.call('get', KEYS[2]) or false}";
/* Fills refuse to store anything read before the last invalidation of the module. */
static const char MODULE_FILL_LUA[] =
    "if (redis.call('get', KEYS[2]) or '0') ~= ARGV[1] then return 0 end\n"
    "redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])\n"
    "return 1";
static const char PAGE_FILL_LUA[] =
    "if (redis.call('get', KEYS[2]) or '0') ~= ARGV[1] then return 0 end\n"
    "if redis.call('hlen', KEYS[1]) >= tonumber(ARGV[5]) then return 0 end\n"
    "redis.call('hset', KEYS[1], ARGV[4], ARGV[2])\n"
    "if redis.call('pttl', KEYS[1]) < 0 then redis.call('pexpire', KEYS[1], ARGV[3]) end\n"
    "return 1";
static const char INVALIDATE_LUA[] = "redis.call('incr', KEYS[1])\n"
                                     "redis.call('pexpire', KEYS[1], ARGV[1])\n"
                                     "redis.call('del', KEYS[2], KEYS[3], KEYS[4])\n"
                                     "return redis.call('publish', ARGV[2], ARGV[3])";

struct spk_cache {
    struct spk_l1 *l1;
    struct spk_redis *redis; /* NULL when not configured */
    char version_ttl_ms[24];
    char mutable_ttl_ms[24];
    int local_ttl_ms;
    struct spk_redis_script page_get, module_fill, page_fill, invalidate;
    atomic_uint gens[GEN_SLOTS];
    atomic_uint list_gen; /* moves with every module invalidation: retires all list pages */

    pthread_mutex_t pending_lock;
    char *pending[PENDING_MAX];
    size_t npending;
};

static const char *const tier_names[] = {"miss", "l1", "redis"};

const char *spk_cache_tier_name(enum spk_cache_tier t)
{
    return (unsigned)t < 3 ? tier_names[t] : "miss";
}

int spk_cache_redis_key(char *buf, size_t n, const char *prefix, const char *name,
                        const char *version)
{
    int w = version ? snprintf(buf, n, "%s:%s:%s", prefix, name, version)
                    : snprintf(buf, n, "%s:%s", prefix, name);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* ---- values ------------------------------------------------------------------------------ */

static void release_entry(void *e)
{
    spk_l1_entry_release(e);
}

static void release_reply(void *rep)
{
    freeReplyObject(rep);
}

void spk_cache_value_release(struct spk_cache_value *v)
{
    if (v && v->free_)
        v->free_(v->arg_);
    if (v)
        memset(v, 0, sizeof(*v));
}

void spk_cache_value_give(struct spk_cache_value *v, void (**release)(void *), void **arg)
{
    *release = v->free_;
    *arg = v->arg_;
    memset(v, 0, sizeof(*v));
}

static void value_from_entry(struct spk_cache_value *out, const struct spk_l1_entry *e)
{
    out->body = e->data;
    out->len = e->len;
    out->tag = e->etag;
    out->free_ = release_entry;
    out->arg_ = (void *)(uintptr_t)e;
}

/* A Redis string "<tag>\n<body>" becomes a value stored in the reply itself (the newline is
 * overwritten to end the tag). -1 when str is not that shape. */
static int value_from_reply(struct spk_cache_value *out, redisReply *holder, redisReply *str)
{
    if (!str || str->type != REDIS_REPLY_STRING)
        return -1;
    char *nl = memchr(str->str, '\n', str->len < TAG_MAX + 1 ? str->len : TAG_MAX + 1);
    if (!nl)
        return -1;
    *nl = '\0';
    out->tag = str->str;
    out->body = nl + 1;
    out->len = str->len - (size_t)(nl + 1 - str->str);
    out->free_ = release_reply;
    out->arg_ = holder;
    return 0;
}

/* "<tag>\n<body>" in a new buffer. */
static char *join_tag(const char *tag, const char *body, size_t len, size_t *outlen)
{
    size_t tlen = strlen(tag);
    char *buf = spk_malloc(tlen + 1 + len);
    memcpy(buf, tag, tlen);
    buf[tlen] = '\n';
    memcpy(buf + tlen + 1, body, len);
    *outlen = tlen + 1 + len;
    return buf;
}

/* ---- concrete versions ------------------------------------------------------------------- */

enum spk_cache_tier spk_cache_version_get(struct spk_cache *c, const char *module,
                                          const char *version, struct spk_cache_value *out)
{
    char key[KEY_MAX], rkey[KEY_MAX];
    redisReply *rep = NULL;

    memset(out, 0, sizeof(*out));
    snprintf(key, sizeof(key), "%s@%s", module, version);
    const struct spk_l1_entry *e = spk_l1_get(c->l1, key);
    if (e) {
        spk_metrics_cache_hit("l1");
        value_from_entry(out, e);
        return SPK_CACHE_L1;
    }
    spk_metrics_cache_miss("l1");
    if (!c->redis || spk_cache_redis_key(rkey, sizeof(rkey), "version", module, version))
        return SPK_CACHE_MISS;
    const char *argv[2] = {"GET", rkey};
    if (spk_redis_command(c->redis, 2, argv, NULL, &rep) || value_from_reply(out, rep, rep)) {
        spk_redis_reply_free(rep);
        memset(out, 0, sizeof(*out));
        spk_metrics_cache_miss("redis");
        return SPK_CACHE_MISS;
    }
    spk_metrics_cache_hit("redis");
    spk_l1_put(c->l1, key, out->body, out->len, out->tag);
    return SPK_CACHE_REDIS;
}

void spk_cache_version_put(struct spk_cache *c, const char *module, const char *version,
                           const char *body, size_t len, const char *digest)
{
    char key[KEY_MAX], rkey[KEY_MAX];
    snprintf(key, sizeof(key), "%s@%s", module, version);
    spk_l1_put(c->l1, key, body, len, digest);
    if (!c->redis || len + strlen(digest) + 1 > REDIS_VALUE_MAX ||
        spk_cache_redis_key(rkey, sizeof(rkey), "version", module, version))
        return;
    size_t vlen;
    char *value = join_tag(digest, body, len, &vlen);
    const char *argv[5] = {"SET", rkey, value, "PX", c->version_ttl_ms};
    size_t lens[5] = {3, strlen(rkey), vlen, 2, strlen(c->version_ttl_ms)};
    redisReply *rep = NULL;
    spk_redis_command(c->redis, 5, argv, lens, &rep);
    spk_redis_reply_free(rep);
    free(value);
}

/* ---- module documents -------------------------------------------------------------------- */

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static atomic_uint *gen_slot(struct spk_cache *c, const char *name)
{
    return &c->gens[hash_name(name) % GEN_SLOTS];
}

static const char *const doc_prefix[] = {"module", "versions", "policy"};

static void l1_doc_key(char *buf, size_t n, enum spk_cache_doc kind, const char *name,
                       const char *page, uint64_t epoch, unsigned gen)
{
    snprintf(buf, n, "%s|%llu|%u|%s|%s", doc_prefix[kind], (unsigned long long)epoch, gen, name,
             page);
}

int spk_cache_doc_fillable(const struct spk_cache_ticket *t)
{
    return t->primary || t->sub_epoch != 0;
}

/* Redis lookup of a document and of gen:{name}. 0 with *value_rep (the string reply or nil) and
 * gen filled; -1 when Redis did not answer. */
static int redis_doc_get(struct spk_cache *c, enum spk_cache_doc kind, const char *name,
                         const char *page, redisReply **holder, redisReply **value, char gen[24])
{
    char dkey[KEY_MAX], gkey[KEY_MAX];
    redisReply *rep = NULL;
    *holder = *value = NULL;
    if (spk_cache_redis_key(dkey, sizeof(dkey), doc_prefix[kind], name, NULL) ||
        spk_cache_redis_key(gkey, sizeof(gkey), "gen", name, NULL))
        return -1;
    int rc;
    if (kind != SPK_CACHE_VERSIONS) { /* one string per module */
        const char *argv[3] = {"MGET", dkey, gkey};
        rc = spk_redis_command(c->redis, 3, argv, NULL, &rep);
    } else {
        const char *argv[3] = {dkey, gkey, page}; /* KEYS: hash, generation; ARGV: page */
        rc = spk_redis_eval(c->redis, &c->page_get, 2, 3, argv, NULL, &rep);
    }
    if (rc || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
        spk_redis_reply_free(rep);
        return -1;
    }
    redisReply *g = rep->element[1];
    if (g->type == REDIS_REPLY_STRING && g->len < 24) {
        memcpy(gen, g->str, g->len);
        gen[g->len] = '\0';
    } else {
        snprintf(gen, 24, "0");
    }
    *holder = rep;
    *value = rep->element[0];
    return 0;
}

enum spk_cache_tier spk_cache_doc_get(struct spk_cache *c, enum spk_cache_doc kind,
                                      const char *name, const char *page,
                                      struct spk_cache_value *out, struct spk_cache_ticket *t)
{
    char key[KEY_MAX];
    redisReply *holder = NULL, *value = NULL;

    memset(out, 0, sizeof(*out));
    memset(t, 0, sizeof(*t));
    if (!c->redis)
        return SPK_CACHE_MISS; /* without invalidations nothing mutable is cached */
    uint64_t epoch = c->local_ttl_ms > 0 ? spk_redis_subscription_epoch(c->redis) : 0;
    unsigned gen = atomic_load(gen_slot(c, name));
    if (epoch) {
        l1_doc_key(key, sizeof(key), kind, name, page, epoch, gen);
        const struct spk_l1_entry *e = spk_l1_get(c->l1, key);
        if (e) {
            spk_metrics_cache_hit("l1");
            value_from_entry(out, e);
            return SPK_CACHE_L1;
        }
        spk_metrics_cache_miss("l1");
    }
    if (redis_doc_get(c, kind, name, page, &holder, &value, t->redis_gen)) {
        spk_metrics_cache_miss("redis");
        return SPK_CACHE_MISS; /* no fill: without Redis the read pool serves as usual */
    }
    t->sub_epoch = epoch;
    t->local_gen = gen;
    if (value->type == REDIS_REPLY_NIL || value_from_reply(out, holder, value)) {
        spk_redis_reply_free(holder);
        memset(out, 0, sizeof(*out));
        spk_metrics_cache_miss("redis");
        t->primary = 1;
        return SPK_CACHE_MISS;
    }
    spk_metrics_cache_hit("redis");
    if (epoch)
        spk_l1_put_ttl(c->l1, key, out->body, out->len, out->tag, c->local_ttl_ms);
    return SPK_CACHE_REDIS;
}

void spk_cache_doc_put(struct spk_cache *c, enum spk_cache_doc kind, const char *name,
                       const char *page, const char *body, size_t len, const char *tag,
                       const struct spk_cache_ticket *t)
{
    char key[KEY_MAX], dkey[KEY_MAX], gkey[KEY_MAX];
    if (t->sub_epoch) {
        l1_doc_key(key, sizeof(key), kind, name, page, t->sub_epoch, t->local_gen);
        spk_l1_put_ttl(c->l1, key, body, len, tag, c->local_ttl_ms);
    }
    if (!t->primary || len + strlen(tag) + 1 > REDIS_VALUE_MAX ||
        spk_cache_redis_key(dkey, sizeof(dkey), doc_prefix[kind], name, NULL) ||
        spk_cache_redis_key(gkey, sizeof(gkey), "gen", name, NULL))
        return;
    size_t vlen;
    char *v = join_tag(tag, body, len, &vlen);
    const char *argv[7] = {dkey, gkey, t->redis_gen, v, c->mutable_ttl_ms, page, PAGES_MAX};
    size_t lens[7] = {
        strlen(dkey), strlen(gkey),     strlen(t->redis_gen), vlen, strlen(c->mutable_ttl_ms),
        strlen(page), strlen(PAGES_MAX)};
    redisReply *rep = NULL;
    if (kind != SPK_CACHE_VERSIONS)
        spk_redis_eval(c->redis, &c->module_fill, 2, 5, argv, lens, &rep);
    else
        spk_redis_eval(c->redis, &c->page_fill, 2, 7, argv, lens, &rep);
    spk_redis_reply_free(rep);
    free(v);
}

/* ---- invalidation ------------------------------------------------------------------------ */

static int redis_invalidate(struct spk_cache *c, const char *name)
{
    char gkey[KEY_MAX], mkey[KEY_MAX], vkey[KEY_MAX], pkey[KEY_MAX], msg[KEY_MAX];
    if (spk_cache_redis_key(gkey, sizeof(gkey), "gen", name, NULL) ||
        spk_cache_redis_key(mkey, sizeof(mkey), "module", name, NULL) ||
        spk_cache_redis_key(vkey, sizeof(vkey), "versions", name, NULL) ||
        spk_cache_redis_key(pkey, sizeof(pkey), "policy", name, NULL))
        return 0;
    snprintf(msg, sizeof(msg), INVALIDATE_PREFIX "%s", name);
    const char *argv[7] = {gkey, mkey, vkey, pkey, GEN_TTL_MS, SPK_CACHE_CHANNEL, msg};
    redisReply *rep = NULL;
    int rc = spk_redis_eval(c->redis, &c->invalidate, 4, 7, argv, NULL, &rep);
    spk_redis_reply_free(rep);
    return rc;
}

static void pending_add(struct spk_cache *c, const char *name)
{
    int added = 0;
    pthread_mutex_lock(&c->pending_lock);
    size_t i = 0;
    while (i < c->npending && strcmp(c->pending[i], name) != 0)
        i++;
    if (i == c->npending && c->npending < PENDING_MAX) {
        c->pending[c->npending++] = spk_strdup(name);
        added = 1;
    }
    int full = i == PENDING_MAX;
    pthread_mutex_unlock(&c->pending_lock);
    if (added)
        spk_log_json(SPK_LOG_WARN, NULL, "cache invalidation deferred until redis answers",
                     json_pack("{s:s}", "module", name));
    else if (full)
        spk_log_json(SPK_LOG_WARN, NULL,
                     "cache invalidation dropped: too many pending; copies expire with their TTL",
                     json_pack("{s:s}", "module", name));
}

/* on_connect: Redis answers again (maybe a new master): replay the invalidations it missed. */
static void flush_pending(void *arg)
{
    struct spk_cache *c = arg;
    char *names[PENDING_MAX];
    size_t n;
    pthread_mutex_lock(&c->pending_lock);
    n = c->npending;
    memcpy(names, c->pending, n * sizeof(*names));
    c->npending = 0;
    pthread_mutex_unlock(&c->pending_lock);
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        if (redis_invalidate(c, names[i]) == 0)
            done++;
        else
            pending_add(c, names[i]);
        free(names[i]);
    }
    if (n)
        spk_log_json(
            SPK_LOG_INFO, NULL, "deferred cache invalidations replayed",
            json_pack("{s:i, s:i}", "replayed", (int)done, "still_pending", (int)(n - done)));
}

void spk_cache_invalidate_module(struct spk_cache *c, const char *name)
{
    /* Before: this instance stops serving its copies at once. After: a copy that a concurrent
     * request here read from Redis before the delete, and is putting into L1, is unreachable. */
    atomic_fetch_add(gen_slot(c, name), 1);
    atomic_fetch_add(&c->list_gen, 1);
    if (c->redis && redis_invalidate(c, name))
        pending_add(c, name);
    atomic_fetch_add(gen_slot(c, name), 1);
    atomic_fetch_add(&c->list_gen, 1);
}

/* List pages change with any module, so they live only in L1 (a Redis copy would need a global
 * generation every write contends on), for SPOKE_CACHE_LOCAL_TTL_MS and only while the
 * invalidation subscription is up, keyed by the list generation read at lookup. */
enum spk_cache_tier spk_cache_list_get(struct spk_cache *c, const char *page,
                                       struct spk_cache_value *out, struct spk_cache_ticket *t)
{
    char key[KEY_MAX];
    memset(out, 0, sizeof(*out));
    memset(t, 0, sizeof(*t));
    uint64_t epoch = c->redis && c->local_ttl_ms > 0 ? spk_redis_subscription_epoch(c->redis) : 0;
    if (!epoch)
        return SPK_CACHE_MISS;
    t->sub_epoch = epoch;
    t->local_gen = atomic_load(&c->list_gen);
    snprintf(key, sizeof(key), "list|%llu|%u|%s", (unsigned long long)epoch, t->local_gen, page);
    const struct spk_l1_entry *e = spk_l1_get(c->l1, key);
    if (!e) {
        spk_metrics_cache_miss("l1");
        return SPK_CACHE_MISS;
    }
    spk_metrics_cache_hit("l1");
    value_from_entry(out, e);
    return SPK_CACHE_L1;
}

void spk_cache_list_put(struct spk_cache *c, const char *page, const char *body, size_t len,
                        const char *tag, const struct spk_cache_ticket *t)
{
    char key[KEY_MAX];
    if (!t->sub_epoch)
        return;
    snprintf(key, sizeof(key), "list|%llu|%u|%s", (unsigned long long)t->sub_epoch, t->local_gen,
             page);
    spk_l1_put_ttl(c->l1, key, body, len, tag, c->local_ttl_ms);
}

/* on_message: another instance (or this one) changed a module. */
static void on_invalidation(void *arg, const char *payload, size_t len)
{
    struct spk_cache *c = arg;
    char name[SPK_MODULE_NAME_MAX + 1];
    size_t plen = sizeof(INVALIDATE_PREFIX) - 1;
    if (len <= plen || len - plen > SPK_MODULE_NAME_MAX ||
        memcmp(payload, INVALIDATE_PREFIX, plen) != 0)
        return;
    memcpy(name, payload + plen, len - plen);
    name[len - plen] = '\0';
    atomic_fetch_add(gen_slot(c, name), 1);
    atomic_fetch_add(&c->list_gen, 1);
}

/* ---- lifecycle --------------------------------------------------------------------------- */

struct spk_cache *spk_cache_create(const struct spk_config *cfg, struct spk_l1 *l1,
                                   struct spk_error *err)
{
    struct spk_cache *c = spk_calloc(1, sizeof(*c));
    c->l1 = l1;
    snprintf(c->version_ttl_ms, sizeof(c->version_ttl_ms), "%lld",
             (long long)cfg->cache_version_ttl_s * 1000);
    snprintf(c->mutable_ttl_ms, sizeof(c->mutable_ttl_ms), "%lld",
             (long long)cfg->cache_mutable_ttl_s * 1000);
    c->local_ttl_ms = cfg->cache_local_ttl_ms;
    for (size_t i = 0; i < GEN_SLOTS; i++)
        atomic_init(&c->gens[i], 0);
    atomic_init(&c->list_gen, 0);
    pthread_mutex_init(&c->pending_lock, NULL);
    spk_redis_script_init(&c->page_get, PAGE_GET_LUA);
    spk_redis_script_init(&c->module_fill, MODULE_FILL_LUA);
    spk_redis_script_init(&c->page_fill, PAGE_FILL_LUA);
    spk_redis_script_init(&c->invalidate, INVALIDATE_LUA);
    if (!cfg->redis_url && !cfg->redis_sentinels)
        return c;

    struct spk_redis_options o = {
        .url = cfg->redis_url,
        .sentinels = cfg->redis_sentinels,
        .master_name = cfg->redis_master_name,
        .password = cfg->redis_password,
        .timeout_ms = cfg->redis_timeout_ms,
        .pool_size = cfg->redis_pool_size,
        .channel = SPK_CACHE_CHANNEL,
        .on_message = on_invalidation,
        .on_connect = flush_pending,
        .arg = c,
    };
    c->redis = spk_redis_create(&o, err);
    if (!c->redis) {
        spk_cache_destroy(c);
        return NULL;
    }
    return c;
}

void spk_cache_destroy(struct spk_cache *c)
{
    if (!c)
        return;
    spk_redis_destroy(c->redis);
    for (size_t i = 0; i < c->npending; i++)
        free(c->pending[i]);
    pthread_mutex_destroy(&c->pending_lock);
    free(c);
}

void spk_cache_status(struct spk_cache *c, struct spk_cache_status *out)
{
    struct spk_redis_status st;
    memset(out, 0, sizeof(*out));
    if (!c->redis) {
        out->status = "disabled";
        snprintf(out->detail, sizeof(out->detail), "SPOKE_REDIS_URL/SENTINELS not set; L1 only");
        return;
    }
    spk_redis_status(c->redis, &st);
    out->latency_ms = st.latency_ms;
    if (!st.ok) {
        out->status = "degraded";
        snprintf(out->detail, sizeof(out->detail), "%s", st.detail);
    } else if (!spk_redis_subscription_epoch(c->redis)) {
        out->status = "degraded";
        snprintf(out->detail, sizeof(out->detail), "%.180s; not subscribed to " SPK_CACHE_CHANNEL,
                 st.detail);
    } else {
        out->status = "ok";
        snprintf(out->detail, sizeof(out->detail), "%s", st.detail);
    }
}
