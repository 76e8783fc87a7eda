/* The Redis client's request path (contract in include/spoke/redis.h): a pool of connections to
 * the current master, commands bounded by the timeout, and the circuit breaker that turns a
 * failing Redis into immediate cache misses. Master resolution and probing live in
 * redis_watch.c. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "redis_internal.h"
#include "spoke/alloc.h"
#include "spoke/error.h"
#include "spoke/log.h"
#include "spoke/time.h"
#include "spoke/banned.h"

#define EVAL_ARGS_MAX 16

void redis_fmt_addr(const struct spk_redis_addr *a, char *out, size_t n)
{
    if (strchr(a->host, ':'))
        snprintf(out, n, "[%s]:%d", a->host, a->port);
    else
        snprintf(out, n, "%s:%d", a->host, a->port);
}

void redis_set_timeout(redisContext *c, int timeout_ms)
{
    if (timeout_ms < 1)
        timeout_ms = 1;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisSetTimeout(c, tv);
}

static int remaining_ms(int64_t deadline_us)
{
    int64_t left = (deadline_us - spk_time_mono_us()) / 1000;
    return left < 1 ? 1 : (int)left;
}

/* Runs one setup command; NULL with why set on failure or an error reply. */
static redisReply *setup_command(redisContext *c, const char *where, int argc, const char **argv,
                                 char *why, size_t whysz)
{
    redisReply *rep = redisCommandArgv(c, argc, argv, NULL);
    if (!rep) {
        snprintf(why, whysz, "%s on %s: %s", argv[0], where, c->errstr);
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        /* Server error text names the problem (WRONGPASS, NOPERM…), never the password. */
        snprintf(why, whysz, "%s rejected by %s: %.80s", argv[0], where, rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

redisContext *redis_connect(struct spk_redis *r, const struct spk_redis_addr *addr, int timeout_ms,
                            int want_master, char *why, size_t whysz)
{
    char where[SPK_REDIS_HOST_MAX + 8];
    int64_t deadline = spk_time_mono_us() + (int64_t)timeout_ms * 1000;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisReply *rep = NULL;

    redis_fmt_addr(addr, where, sizeof(where));
    redisContext *c = redisConnectWithTimeout(addr->host, addr->port, tv);
    if (!c || c->err) {
        snprintf(why, whysz, "connect %s: %s", where, c ? c->errstr : "out of memory");
        goto fail;
    }
    redisEnableKeepAlive(c);
    redis_set_timeout(c, remaining_ms(deadline));
    if (r->password[0]) {
        const char *auth[3] = {"AUTH", r->user, r->password};
        int argc = 3;
        if (!r->user[0]) {
            auth[1] = r->password;
            argc = 2;
        }
        if (!(rep = setup_command(c, where, argc, auth, why, whysz)))
            goto fail;
        freeReplyObject(rep);
    }
    if (r->db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", r->db);
        const char *sel[2] = {"SELECT", db};
        if (!(rep = setup_command(c, where, 2, sel, why, whysz)))
            goto fail;
        freeReplyObject(rep);
    }
    if (want_master) {
        const char *role[1] = {"ROLE"};
        if (!(rep = setup_command(c, where, 1, role, why, whysz)))
            goto fail;
        int is_master = spk_redis_parse_role(rep);
        freeReplyObject(rep);
        if (is_master != 1) {
            snprintf(why, whysz, "%s is not a master (ROLE %s)", where,
                     is_master == 0 ? "replica" : "unreadable");
            goto fail;
        }
    }
    redis_set_timeout(c, r->timeout_ms);
    return c;
fail:
    if (c)
        redisFree(c);
    return NULL;
}

void redis_wake(struct spk_redis *r)
{
    char b = 1;
    if (write(r->wake[1], &b, 1) < 0 && errno != EAGAIN) {
        /* a full pipe already wakes the thread */
    }
}

static void pool_clear_locked(struct spk_redis *r)
{
    while (r->nidle > 0)
        redisFree(r->idle[--r->nidle]);
}

void redis_breaker_trip(struct spk_redis *r, const char *why)
{
    int was_open;
    pthread_mutex_lock(&r->lock);
    was_open = atomic_exchange(&r->open, 1);
    if (!was_open) {
        int64_t now = spk_time_mono_us();
        /* Failing again soon after recovering (a flapping or overloaded Redis): keep backing off
         * instead of starting over, so trips stay rare. */
        int flapping = r->closed_at_us && now - r->closed_at_us < REDIS_FLAP_WINDOW_MS * 1000LL;
        r->backoff_ms = flapping ? r->backoff_ms * 2 : REDIS_BACKOFF_FIRST_MS;
        if (r->backoff_ms < REDIS_BACKOFF_FIRST_MS)
            r->backoff_ms = REDIS_BACKOFF_FIRST_MS;
        if (r->backoff_ms > REDIS_BACKOFF_MAX_MS)
            r->backoff_ms = REDIS_BACKOFF_MAX_MS;
        r->opened_at_us = now;
        r->retry_at_us = now + (int64_t)r->backoff_ms * 1000;
        snprintf(r->reason, sizeof(r->reason), "%s", why);
        /* Every connection open now is suspect: close the idle ones, retire the busy ones. */
        pool_clear_locked(r);
        r->addr_epoch++;
    }
    pthread_mutex_unlock(&r->lock);
    if (!was_open) {
        spk_log_json(SPK_LOG_WARN, NULL, "redis unavailable, serving without it",
                     json_pack("{s:s}", "reason", why));
        redis_wake(r);
    }
}

void redis_breaker_backoff(struct spk_redis *r, const char *why)
{
    int first;
    pthread_mutex_lock(&r->lock);
    int64_t now = spk_time_mono_us();
    first = r->opened_at_us == 0; /* never connected since start */
    if (first)
        r->opened_at_us = now;
    r->backoff_ms = r->backoff_ms * 2;
    if (r->backoff_ms < REDIS_BACKOFF_FIRST_MS)
        r->backoff_ms = REDIS_BACKOFF_FIRST_MS;
    if (r->backoff_ms > REDIS_BACKOFF_MAX_MS)
        r->backoff_ms = REDIS_BACKOFF_MAX_MS;
    /* ±20 % jitter, so instances that lost Redis together do not probe in lockstep */
    int jitter = (int)(((unsigned)now / 1000u) % 41u) - 20;
    r->retry_at_us = now + (int64_t)r->backoff_ms * (100 + jitter) * 10;
    snprintf(r->reason, sizeof(r->reason), "%s", why);
    pthread_mutex_unlock(&r->lock);
    if (first)
        spk_log_json(SPK_LOG_WARN, NULL, "redis unavailable, serving without it",
                     json_pack("{s:s}", "reason", why));
    else
        spk_log_json(SPK_LOG_DEBUG, NULL, "redis probe failed", json_pack("{s:s}", "reason", why));
}

void redis_master_ready(struct spk_redis *r, const struct spk_redis_addr *addr)
{
    char now_s[SPK_REDIS_HOST_MAX + 8], before[SPK_REDIS_HOST_MAX + 8] = "";
    pthread_mutex_lock(&r->lock);
    int changed =
        !r->master_known || strcmp(r->master.host, addr->host) != 0 || r->master.port != addr->port;
    if (changed) {
        if (r->master_known)
            redis_fmt_addr(&r->master, before, sizeof(before));
        r->master = *addr;
        r->master_known = 1;
        r->addr_epoch++;
        pool_clear_locked(r);
    }
    int was_open = atomic_exchange(&r->open, 0);
    double down_s =
        was_open && r->opened_at_us ? (double)(spk_time_mono_us() - r->opened_at_us) / 1e6 : 0.0;
    if (was_open)
        r->closed_at_us = spk_time_mono_us(); /* backoff_ms is kept: see redis_breaker_trip */
    r->opened_at_us = 0;
    r->reason[0] = '\0';
    pthread_mutex_unlock(&r->lock);

    redis_fmt_addr(addr, now_s, sizeof(now_s));
    if (changed)
        spk_log_json(SPK_LOG_INFO, NULL, "redis master",
                     json_pack("{s:s, s:s}", "master", now_s, "previous", before));
    if (was_open)
        spk_log_json(SPK_LOG_INFO, NULL, "redis available",
                     json_pack("{s:s, s:f}", "master", now_s, "unavailable_s", down_s));
    if ((changed || was_open) && r->on_connect)
        r->on_connect(r->arg);
}

/* Errors that say this connection (or this server) cannot serve us as a master. */
static int is_fatal_error(const char *msg)
{
    static const char *const prefixes[] = {"READONLY",  "LOADING", "MASTERDOWN", "NOAUTH",
                                           "WRONGPASS", "BUSY",    "NOPERM"};
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncmp(msg, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

static redisContext *pool_take(struct spk_redis *r, uint64_t *epoch, struct spk_redis_addr *addr)
{
    redisContext *c = NULL;
    pthread_mutex_lock(&r->lock);
    while (r->nidle > 0 && !c) {
        r->nidle--;
        if (r->idle_epoch[r->nidle] == r->addr_epoch)
            c = r->idle[r->nidle];
        else
            redisFree(r->idle[r->nidle]);
    }
    *epoch = r->addr_epoch;
    *addr = r->master;
    pthread_mutex_unlock(&r->lock);
    return c;
}

static void pool_give(struct spk_redis *r, redisContext *c, uint64_t epoch)
{
    pthread_mutex_lock(&r->lock);
    if (epoch == r->addr_epoch && r->nidle < (size_t)r->pool_size && !atomic_load(&r->open)) {
        r->idle[r->nidle] = c;
        r->idle_epoch[r->nidle] = epoch;
        r->nidle++;
        c = NULL;
    }
    pthread_mutex_unlock(&r->lock);
    if (c)
        redisFree(c);
}

/* One command within the timeout. With pass_errors, error replies come back as replies (the
 * EVALSHA fallback needs to see NOSCRIPT); fatal ones still fail and trip the breaker. */
static int run_command(struct spk_redis *r, int argc, const char **argv, const size_t *argvlen,
                       redisReply **out, int pass_errors)
{
    char why[192];
    uint64_t epoch;
    struct spk_redis_addr addr;
    int64_t deadline = spk_time_mono_us() + (int64_t)r->timeout_ms * 1000;

    *out = NULL;
    if (atomic_load(&r->open))
        return -1;
    redisContext *c = pool_take(r, &epoch, &addr);
    int fresh = c == NULL;
    if (fresh) {
        c = redis_connect(r, &addr, r->timeout_ms, r->sentinel_mode, why, sizeof(why));
        if (!c) {
            redis_breaker_trip(r, why);
            return -1;
        }
        redis_set_timeout(c, remaining_ms(deadline));
    }
    redisReply *rep = redisCommandArgv(c, argc, argv, argvlen);
    if (!rep) {
        char where[SPK_REDIS_HOST_MAX + 8];
        redis_fmt_addr(&addr, where, sizeof(where));
        snprintf(why, sizeof(why), "%.20s on %.80s: %.40s (timeout %d ms)", argv[0], where,
                 c->errstr, r->timeout_ms);
        redisFree(c);
        redis_breaker_trip(r, why);
        return -1;
    }
    if (fresh)
        redis_set_timeout(c, r->timeout_ms);
    if (rep->type == REDIS_REPLY_ERROR) {
        if (is_fatal_error(rep->str)) {
            snprintf(why, sizeof(why), "%s: %.100s", argv[0], rep->str);
            freeReplyObject(rep);
            redisFree(c);
            redis_breaker_trip(r, why);
            return -1;
        }
        if (!pass_errors) {
            spk_log_json(SPK_LOG_WARN, NULL, "redis command failed",
                         json_pack("{s:s, s:s#}", "command", argv[0], "error", rep->str,
                                   (int)(rep->len > 200 ? 200 : rep->len)));
            freeReplyObject(rep);
            pool_give(r, c, epoch);
            return -1;
        }
    }
    pool_give(r, c, epoch);
    *out = rep;
    return 0;
}

int spk_redis_command(struct spk_redis *r, int argc, const char **argv, const size_t *argvlen,
                      struct redisReply **out)
{
    return run_command(r, argc, argv, argvlen, out, 0);
}

void spk_redis_script_init(struct spk_redis_script *s, const char *body)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    s->body = body;
    EVP_Digest(body, strlen(body), md, &n, EVP_sha1(), NULL);
    for (unsigned i = 0; i < n && i < 20; i++)
        snprintf(s->sha1 + 2 * i, 3, "%02x", md[i]);
}

int spk_redis_eval(struct spk_redis *r, const struct spk_redis_script *s, int nkeys, int nargs,
                   const char **argv, const size_t *argvlen, struct redisReply **out)
{
    const char *a[EVAL_ARGS_MAX + 3];
    size_t l[EVAL_ARGS_MAX + 3];
    char nk[16];

    *out = NULL;
    if (nargs > EVAL_ARGS_MAX || nkeys > nargs)
        return -1;
    snprintf(nk, sizeof(nk), "%d", nkeys);
    a[0] = "EVALSHA";
    a[1] = s->sha1;
    a[2] = nk;
    for (int i = 0; i < nargs; i++) {
        a[3 + i] = argv[i];
        l[3 + i] = argvlen ? argvlen[i] : strlen(argv[i]);
    }
    for (int pass = 0; pass < 2; pass++) {
        l[0] = strlen(a[0]);
        l[1] = strlen(a[1]);
        l[2] = strlen(a[2]);
        redisReply *rep = NULL;
        if (run_command(r, nargs + 3, a, l, &rep, 1))
            return -1;
        if (rep->type != REDIS_REPLY_ERROR) {
            *out = rep;
            return 0;
        }
        int noscript = strncmp(rep->str, "NOSCRIPT", 8) == 0;
        if (!noscript || pass == 1)
            spk_log_json(SPK_LOG_WARN, NULL, "redis script failed",
                         json_pack("{s:s, s:s#}", "script", s->sha1, "error", rep->str,
                                   (int)(rep->len > 200 ? 200 : rep->len)));
        freeReplyObject(rep);
        if (!noscript)
            return -1;
        a[0] = "EVAL";
        a[1] = s->body;
    }
    return -1;
}

void spk_redis_reply_free(struct redisReply *reply)
{
    if (reply)
        freeReplyObject(reply);
}

uint64_t spk_redis_subscription_epoch(struct spk_redis *r)
{
    return atomic_load(&r->sub_epoch);
}

void spk_redis_status(struct spk_redis *r, struct spk_redis_status *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&r->lock);
    if (r->master_known)
        redis_fmt_addr(&r->master, out->master, sizeof(out->master));
    int open = atomic_load(&r->open);
    if (open) {
        int64_t now = spk_time_mono_us();
        double down_s = r->opened_at_us ? (double)(now - r->opened_at_us) / 1e6 : 0.0;
        char next[40] = "probing now";
        int64_t next_ms = (r->retry_at_us - now) / 1000;
        if (next_ms > 0)
            snprintf(next, sizeof(next), "next probe in %lld ms", (long long)next_ms);
        snprintf(out->detail, sizeof(out->detail), "unavailable for %.1f s (%.120s); %s", down_s,
                 r->reason[0] ? r->reason : "not connected yet", next);
    }
    pthread_mutex_unlock(&r->lock);
    if (open)
        return;

    const char *ping[1] = {"PING"};
    redisReply *rep = NULL;
    int64_t t0 = spk_time_mono_us();
    int rc = spk_redis_command(r, 1, ping, NULL, &rep);
    out->latency_ms = (double)(spk_time_mono_us() - t0) / 1000.0;
    out->ok = rc == 0 && rep->type == REDIS_REPLY_STATUS;
    spk_redis_reply_free(rep);
    if (out->ok)
        snprintf(out->detail, sizeof(out->detail), "master %.100s", out->master);
    else
        snprintf(out->detail, sizeof(out->detail), "PING to master %.100s failed",
                 out->master[0] ? out->master : "(unknown)");
}

static int copy_str(char *dst, size_t n, const char *src, const char *what, struct spk_error *err)
{
    if (strlen(src) >= n)
        return spk_error_set(err, SPK_E_INVALID, "%s is too long", what);
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

struct spk_redis *spk_redis_create(const struct spk_redis_options *o, struct spk_error *err)
{
    struct spk_redis *r = spk_calloc(1, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    r->wake[0] = r->wake[1] = -1;
    r->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 100;
    r->pool_size = o->pool_size > 0 ? o->pool_size : 1;
    r->idle = spk_calloc((size_t)r->pool_size, sizeof(*r->idle));
    r->idle_epoch = spk_calloc((size_t)r->pool_size, sizeof(*r->idle_epoch));
    r->channel = o->channel ? spk_strdup(o->channel) : NULL;
    r->on_message = o->on_message;
    r->on_connect = o->on_connect;
    r->arg = o->arg;
    if (o->password &&
        copy_str(r->password, sizeof(r->password), o->password, "SPOKE_REDIS_PASSWORD", err))
        goto fail;

    if (o->url) {
        struct spk_redis_url u;
        if (spk_redis_url_parse(o->url, &u, err))
            goto fail;
        r->direct = u.addr;
        r->db = u.db;
        memcpy(r->user, u.user, sizeof(r->user));
        if (u.password[0])
            memcpy(r->password, u.password, sizeof(r->password));
        explicit_bzero(u.password, sizeof(u.password));
    } else {
        if (spk_redis_hostports_parse(o->sentinels, &r->sentinels, &r->nsentinels, err))
            goto fail;
        if (!o->master_name || !*o->master_name) {
            spk_error_set(err, SPK_E_INVALID, "SPOKE_REDIS_MASTER_NAME must not be empty");
            goto fail;
        }
        r->sentinel_mode = 1;
        r->master_name = spk_strdup(o->master_name);
    }
    /* Closed only once the background thread has found (and in Sentinel mode confirmed) a
     * master; until then every lookup is a miss. */
    atomic_store(&r->open, 1);
    r->retry_at_us = spk_time_mono_us();
    if (pipe2(r->wake, O_NONBLOCK | O_CLOEXEC)) {
        spk_error_set(err, SPK_E_INTERNAL, "redis: pipe: %s", strerror(errno));
        goto fail;
    }
    if (redis_watch_start(r)) {
        spk_error_set(err, SPK_E_INTERNAL, "redis: could not start the background thread");
        goto fail;
    }
    return r;
fail:
    spk_redis_destroy(r);
    return NULL;
}

void spk_redis_destroy(struct spk_redis *r)
{
    if (!r)
        return;
    redis_watch_stop(r);
    pool_clear_locked(r);
    if (r->wake[0] >= 0)
        close(r->wake[0]);
    if (r->wake[1] >= 0)
        close(r->wake[1]);
    free(r->idle);
    free(r->idle_epoch);
    free(r->sentinels);
    free(r->master_name);
    free(r->channel);
    pthread_mutex_destroy(&r->lock);
    explicit_bzero(r->password, sizeof(r->password));
    free(r);
}
