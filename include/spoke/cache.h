/* The read-through cache in front of Postgres and the blob store (ARCHITECTURE §4): the
 * in-process L1 (spk_l1), then Redis when configured, then the caller loads from the source of
 * truth and puts the result back. A value is a body (rendered JSON, sent as is) and a short tag.
 *
 * - Concrete versions (tag = digest) are immutable: L1 "module@version", Redis
 *   version:{module}:{version} (long TTL). Never invalidated.
 * - Module documents are mutable: the GET /modules/{name} body (tag = latest version, "" when there
 *   is none), GET /modules/{name}/versions pages (tag "1" when a next page exists) and the module's
 *   evolution policy. Redis keeps them under module:{name}, the hash versions:{name} and
 *   policy:{name} (short TTL); L1 keeps them for
 *   SPOKE_CACHE_LOCAL_TTL_MS, and only while the invalidation subscription is up.
 *
 * Coherence of module documents:
 * - spk_cache_invalidate_module runs after a push, PATCH or policy PUT commits and before the
 *   reply: one script bumps gen:{name}, deletes module:{name}, versions:{name} and policy:{name},
 *   publishes "module:{name}" on spoke:invalidate; every instance (this one synchronously) then
 *   stops serving its in-process copies. Redis holds no stale copy once the writer has replied.
 * - A lookup that misses returns a ticket; the put must pass it back. Redis takes the fill only if
 *   gen:{name} has not moved since the lookup, and in-process copies are keyed by the generation
 *   and subscription they were read under: a fill that raced an invalidation is never served.
 * - ticket.primary asks the caller to load from the primary, so a lagging replica never seeds the
 *   cache with data older than the write that invalidated it.
 * - An invalidation Redis did not take is retried when Redis answers again; meanwhile stale copies
 *   are bounded by the TTLs.
 * Fail-open: every Redis failure is a miss and costs at most SPOKE_REDIS_TIMEOUT_MS. */
#ifndef SPOKE_CACHE_H
#define SPOKE_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct spk_config;
struct spk_error;
struct spk_l1;
struct spk_cache;

#define SPK_CACHE_CHANNEL "spoke:invalidate"

/* Which tier served a lookup, for the access log ("cache") and metrics. */
enum spk_cache_tier { SPK_CACHE_MISS, SPK_CACHE_L1, SPK_CACHE_REDIS };
const char *spk_cache_tier_name(enum spk_cache_tier t); /* "miss", "l1", "redis" */

enum spk_cache_doc { SPK_CACHE_MODULE, SPK_CACHE_VERSIONS, SPK_CACHE_POLICY };

/* A cached value; valid until spk_cache_value_release (or handed off with _give). */
struct spk_cache_value {
    const char *body; /* NUL-terminated after len */
    size_t len;
    const char *tag;
    void (*free_)(void *); /* private: releases the storage (an L1 entry or a Redis reply) */
    void *arg_;
};
void spk_cache_value_release(struct spk_cache_value *v);
/* For zero-copy replies: *release(*arg) frees the storage later; v is left empty. */
void spk_cache_value_give(struct spk_cache_value *v, void (**release)(void *), void **arg);

/* What a module-document lookup learned, for the put that follows a miss. */
struct spk_cache_ticket {
    int primary;        /* Redis answered: load from the primary, the put fills Redis */
    char redis_gen[24]; /* gen:{name} at lookup ("0" when unset) */
    uint64_t sub_epoch; /* nonzero: the put also fills L1 */
    uint32_t local_gen;
};

/* l1 is borrowed and must outlive the cache. Without SPOKE_REDIS_URL/SENTINELS only L1 is used
 * (and only for versions). Free with spk_cache_destroy. */
struct spk_cache *spk_cache_create(const struct spk_config *cfg, struct spk_l1 *l1,
                                   struct spk_error *err);
void spk_cache_destroy(struct spk_cache *c);

/* version is canonical. MISS leaves out empty. */
enum spk_cache_tier spk_cache_version_get(struct spk_cache *c, const char *module,
                                          const char *version, struct spk_cache_value *out);
/* After a load from the source of truth: fills L1 and Redis. */
void spk_cache_version_put(struct spk_cache *c, const char *module, const char *version,
                           const char *body, size_t len, const char *digest);

/* page is "" for SPK_CACHE_MODULE, "<limit>:<offset>" for SPK_CACHE_VERSIONS. */
enum spk_cache_tier spk_cache_doc_get(struct spk_cache *c, enum spk_cache_doc kind,
                                      const char *name, const char *page,
                                      struct spk_cache_value *out, struct spk_cache_ticket *t);
/* 1 when a put with this ticket would store anything. */
int spk_cache_doc_fillable(const struct spk_cache_ticket *t);
void spk_cache_doc_put(struct spk_cache *c, enum spk_cache_doc kind, const char *name,
                       const char *page, const char *body, size_t len, const char *tag,
                       const struct spk_cache_ticket *t);

/* GET /modules pages (page = "<limit>:<offset>:<prefix>", tag "1" when a next page exists):
 * in-process copies only, retired by every module invalidation here or on another instance,
 * and by SPOKE_CACHE_LOCAL_TTL_MS. Nothing is cached without the invalidation subscription. */
enum spk_cache_tier spk_cache_list_get(struct spk_cache *c, const char *page,
                                       struct spk_cache_value *out, struct spk_cache_ticket *t);
void spk_cache_list_put(struct spk_cache *c, const char *page, const char *body, size_t len,
                        const char *tag, const struct spk_cache_ticket *t);

/* After a write to module name committed (creation included: it changes the lists); before
 * replying. */
void spk_cache_invalidate_module(struct spk_cache *c, const char *name);

struct spk_cache_status {
    const char *status; /* "ok", "degraded" or "disabled" */
    double latency_ms;
    char detail[224];
};
void spk_cache_status(struct spk_cache *c, struct spk_cache_status *out);

/* "<prefix>:<name>" or, with version, "<prefix>:<name>:<version>" into buf. -1 when it does not
 * fit. Names and versions are validated before they get here and contain no ':'. */
int spk_cache_redis_key(char *buf, size_t n, const char *prefix, const char *name,
                        const char *version);

#endif
