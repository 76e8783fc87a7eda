/* Shared between the Redis client (redis.c: pool, breaker, commands) and its background thread
 * (redis_watch.c: master resolution, probes, subscriptions). Not for use outside src/cache.
 *
 * Locking: `lock` guards the master address, the pool and the breaker fields; `open` and
 * `sub_epoch` are also atomics so the request path can test them without the lock. The
 * background thread is the only writer of the master address and the only closer of the breaker. */
#ifndef SPOKE_REDIS_INTERNAL_H
#define SPOKE_REDIS_INTERNAL_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "spoke/redis.h"

#define REDIS_BACKOFF_FIRST_MS     50
#define REDIS_BACKOFF_MAX_MS       2000
#define REDIS_FLAP_WINDOW_MS       10000 /* a trip this soon after recovery keeps the longer backoff */
#define REDIS_WATCH_MIN_TIMEOUT_MS 250 /* sentinel queries and probes: off the request path */

struct spk_redis {
    /* configuration, immutable after create */
    int sentinel_mode;
    struct spk_redis_addr *sentinels;
    size_t nsentinels;
    char *master_name;
    struct spk_redis_addr direct; /* the URL's address in direct mode */
    char user[128];
    char password[512];
    int db;
    int timeout_ms;
    int pool_size;
    char *channel;
    void (*on_message)(void *arg, const char *payload, size_t len);
    void (*on_connect)(void *arg);
    void *arg;

    pthread_mutex_t lock;
    struct spk_redis_addr master;
    int master_known;
    uint64_t addr_epoch; /* bumped when the master moves or the breaker opens: connections
                          * (and the subscription) opened before are not reused */
    redisContext **idle;
    uint64_t *idle_epoch;
    size_t nidle;

    atomic_int open; /* breaker: 1 while commands must not touch the network */
    int backoff_ms;
    int64_t retry_at_us; /* next probe (monotonic) */
    int64_t opened_at_us;
    int64_t closed_at_us; /* last recovery, 0 = never */
    char reason[160];

    atomic_uint_fast64_t sub_epoch; /* 0 when not subscribed */
    uint64_t sub_counter;           /* background thread only */

    pthread_t thread;
    int thread_started;
    int wake[2]; /* self-pipe: request threads wake the background thread */
    atomic_int stopping;
};

/* Opens a connection to addr within timeout_ms: connect, AUTH, SELECT, and with want_master a
 * ROLE check. NULL on failure, with a reason (never containing the password) in why. */
redisContext *redis_connect(struct spk_redis *r, const struct spk_redis_addr *addr, int timeout_ms,
                            int want_master, char *why, size_t whysz);
/* "host:port", "[v6]:port" */
void redis_fmt_addr(const struct spk_redis_addr *a, char *out, size_t n);
/* Socket timeout for the following commands on c. */
void redis_set_timeout(redisContext *c, int timeout_ms);

/* Opens the breaker (no-op when already open) and wakes the background thread. */
void redis_breaker_trip(struct spk_redis *r, const char *why);
/* After a failed probe: waits longer before the next one. */
void redis_breaker_backoff(struct spk_redis *r, const char *why);
/* A master answers at addr: records it (a new address drops pooled connections), closes the
 * breaker and runs on_connect when something changed. Background thread only. */
void redis_master_ready(struct spk_redis *r, const struct spk_redis_addr *addr);
void redis_wake(struct spk_redis *r);

int redis_watch_start(struct spk_redis *r);
void redis_watch_stop(struct spk_redis *r);

#endif
