/* The Redis client's background thread: finds the master (asking the sentinels, confirming with
 * ROLE), probes with backoff while the breaker is open, follows +switch-master on every sentinel
 * (the failover leader announces late, so one subscription is not enough), re-checks the
 * sentinels' answer every few seconds, and keeps the pub/sub subscription on the master whose
 * messages go to on_message. One poll(2) loop over all of these sockets and a wake-up pipe. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redis_internal.h"
#include "spoke/alloc.h"
#include "spoke/log.h"
#include "spoke/time.h"
#include "spoke/banned.h"

#define VERIFY_INTERVAL_MS 5000 /* ask a sentinel whether the master moved */
#define PING_INTERVAL_MS   1000 /* on the subscription, to notice a silent master */
#define SILENCE_LIMIT_MS   3500 /* no reply for this long: the subscription is dead */
#define SENTINEL_RETRY_MS  1000 /* reconnecting a lost sentinel subscription */
#define SWITCH_CHANNEL     "+switch-master"

struct sentinel_sub {
    redisContext *c;
    int64_t retry_at_us;
};

struct watch {
    struct spk_redis *r;
    int timeout_ms; /* for the thread's own connections and queries */
    redisContext *pubsub;
    uint64_t pubsub_addr_epoch;
    int64_t last_rx_us, ping_at_us;
    struct sentinel_sub *subs;
    int64_t verify_at_us;
};

static int64_t ms_from_now(int ms)
{
    return spk_time_mono_us() + (int64_t)ms * 1000;
}

/* ---- master resolution ------------------------------------------------------------------- */

/* Asks sentinel i where the master is. */
static int ask_sentinel(struct watch *w, size_t i, struct spk_redis_addr *out, char *why,
                        size_t whysz)
{
    struct spk_redis *r = w->r;
    struct timeval tv = {w->timeout_ms / 1000, (w->timeout_ms % 1000) * 1000};
    char where[SPK_REDIS_HOST_MAX + 8];
    int rc = -1;

    redis_fmt_addr(&r->sentinels[i], where, sizeof(where));
    redisContext *c = redisConnectWithTimeout(r->sentinels[i].host, r->sentinels[i].port, tv);
    if (!c || c->err) {
        snprintf(why, whysz, "sentinel %.80s: %.80s", where, c ? c->errstr : "out of memory");
        goto out;
    }
    redis_set_timeout(c, w->timeout_ms);
    const char *argv[3] = {"SENTINEL", "get-master-addr-by-name", r->master_name};
    redisReply *rep = redisCommandArgv(c, 3, argv, NULL);
    if (!rep) {
        snprintf(why, whysz, "sentinel %.80s: %.80s", where, c->errstr);
        goto out;
    }
    rc = spk_redis_parse_master_addr(rep, out);
    if (rc)
        snprintf(why, whysz, "sentinel %.80s does not know master \"%.64s\"", where,
                 r->master_name);
    freeReplyObject(rep);
out:
    if (c)
        redisFree(c);
    return rc;
}

/* The master the sentinels name, confirmed with ROLE. Answers are tried in sentinel order; during
 * a failover some sentinels still name the old master, which fails the ROLE check. */
static int resolve_master(struct watch *w, struct spk_redis_addr *out, char *why, size_t whysz)
{
    struct spk_redis *r = w->r;
    struct spk_redis_addr tried[8];
    size_t ntried = 0;
    for (size_t i = 0; i < r->nsentinels; i++) {
        struct spk_redis_addr a;
        if (ask_sentinel(w, i, &a, why, whysz))
            continue;
        int seen = 0;
        for (size_t j = 0; j < ntried; j++)
            seen |= strcmp(tried[j].host, a.host) == 0 && tried[j].port == a.port;
        if (seen)
            continue;
        if (ntried < sizeof(tried) / sizeof(tried[0]))
            tried[ntried++] = a;
        redisContext *c = redis_connect(r, &a, w->timeout_ms, 1, why, whysz);
        if (c) {
            redisFree(c);
            *out = a;
            return 0;
        }
    }
    char last[160];
    snprintf(last, sizeof(last), "%s", why);
    snprintf(why, whysz, "no sentinel named a master that answers (last error: %.120s)", last);
    return -1;
}

/* While the breaker is open: find a master that answers, then close the breaker. */
static void probe(struct watch *w)
{
    struct spk_redis *r = w->r;
    struct spk_redis_addr a;
    char why[192] = "";
    if (r->sentinel_mode) {
        if (resolve_master(w, &a, why, sizeof(why)) == 0) {
            redis_master_ready(r, &a);
            return;
        }
    } else {
        a = r->direct;
        /* A URL that names a replica would fail every write with -READONLY: not "available". */
        redisContext *c = redis_connect(r, &a, w->timeout_ms, 1, why, sizeof(why));
        if (c) {
            const char *ping[1] = {"PING"};
            redisReply *rep = redisCommandArgv(c, 1, ping, NULL);
            int ok = rep && rep->type == REDIS_REPLY_STATUS;
            if (!ok)
                snprintf(why, sizeof(why), "PING failed: %s",
                         rep && rep->type == REDIS_REPLY_ERROR ? rep->str : c->errstr);
            if (rep)
                freeReplyObject(rep);
            redisFree(c);
            if (ok) {
                redis_master_ready(r, &a);
                return;
            }
        }
    }
    redis_breaker_backoff(r, why);
}

/* Breaker closed, Sentinel mode: has the master moved without us hearing +switch-master? */
static void verify(struct watch *w)
{
    struct spk_redis *r = w->r;
    struct spk_redis_addr a, cur;
    char why[192];
    pthread_mutex_lock(&r->lock);
    cur = r->master;
    pthread_mutex_unlock(&r->lock);
    for (size_t i = 0; i < r->nsentinels; i++) {
        if (ask_sentinel(w, i, &a, why, sizeof(why)))
            continue;
        if (strcmp(a.host, cur.host) == 0 && a.port == cur.port)
            return;
        redisContext *c = redis_connect(r, &a, w->timeout_ms, 1, why, sizeof(why));
        if (c) {
            redisFree(c);
            redis_master_ready(r, &a);
        }
        return;
    }
}

static void on_switch_master(struct watch *w, const char *payload, size_t len)
{
    struct spk_redis *r = w->r;
    struct spk_redis_addr a;
    char why[192], where[SPK_REDIS_HOST_MAX + 8];
    if (spk_redis_parse_switch_master(payload, len, r->master_name, &a))
        return;
    redis_fmt_addr(&a, where, sizeof(where));
    spk_log_json(SPK_LOG_INFO, NULL, "redis sentinel announced a new master",
                 json_pack("{s:s}", "master", where));
    redisContext *c = redis_connect(r, &a, w->timeout_ms, 1, why, sizeof(why));
    if (c) {
        redisFree(c);
        redis_master_ready(r, &a);
    } else {
        redis_breaker_trip(r, why);
    }
}

/* ---- subscriptions ----------------------------------------------------------------------- */

/* Sends SUBSCRIBE channel on c and waits (bounded) for the confirmation. */
static int subscribe(redisContext *c, const char *channel, char *why, size_t whysz)
{
    const char *argv[2] = {"SUBSCRIBE", channel};
    redisReply *rep = redisCommandArgv(c, 2, argv, NULL);
    int ok = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
             rep->element[0]->type == REDIS_REPLY_STRING &&
             strcmp(rep->element[0]->str, "subscribe") == 0;
    if (!ok)
        snprintf(why, whysz, "SUBSCRIBE %s: %s", channel,
                 !rep                             ? c->errstr
                 : rep->type == REDIS_REPLY_ERROR ? rep->str
                                                  : "unexpected reply");
    if (rep)
        freeReplyObject(rep);
    return ok ? 0 : -1;
}

typedef void (*reply_fn)(struct watch *w, redisReply *rep);
static void on_pubsub_reply(struct watch *w, redisReply *rep);
static int drain_buffered(struct watch *w, redisContext *c, reply_fn fn);

static void pubsub_close(struct watch *w, const char *why)
{
    if (!w->pubsub)
        return;
    redisFree(w->pubsub);
    w->pubsub = NULL;
    atomic_store(&w->r->sub_epoch, 0);
    if (why)
        spk_log_json(SPK_LOG_WARN, NULL, "redis subscription lost",
                     json_pack("{s:s, s:s}", "channel", w->r->channel, "reason", why));
}

static void pubsub_open(struct watch *w)
{
    struct spk_redis *r = w->r;
    struct spk_redis_addr a;
    uint64_t epoch;
    char why[192];
    pthread_mutex_lock(&r->lock);
    a = r->master;
    epoch = r->addr_epoch;
    pthread_mutex_unlock(&r->lock);

    redisContext *c = redis_connect(r, &a, w->timeout_ms, r->sentinel_mode, why, sizeof(why));
    if (!c || subscribe(c, r->channel, why, sizeof(why))) {
        if (c)
            redisFree(c);
        redis_breaker_trip(r, why);
        return;
    }
    w->pubsub = c;
    w->pubsub_addr_epoch = epoch;
    drain_buffered(w, c, on_pubsub_reply);
    w->last_rx_us = spk_time_mono_us();
    w->ping_at_us = ms_from_now(PING_INTERVAL_MS);
    /* A new number: anything cached under the previous subscription may have missed messages. */
    atomic_store(&r->sub_epoch, ++r->sub_counter);
}

static int send_ping(redisContext *c)
{
    int done = 0;
    if (redisAppendCommand(c, "PING") != REDIS_OK)
        return -1;
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK)
            return -1;
    return 0;
}

/* Hands every complete reply already read into c's buffer to fn. */
static int drain_buffered(struct watch *w, redisContext *c, reply_fn fn)
{
    for (;;) {
        void *rep = NULL;
        if (redisGetReplyFromReader(c, &rep) != REDIS_OK)
            return -1;
        if (!rep)
            return 0;
        fn(w, rep);
        freeReplyObject(rep);
    }
}

/* Reads what poll said is there and hands every complete reply to fn. -1 when the connection
 * failed or closed. */
static int drain(redisContext *c, reply_fn fn, struct watch *w)
{
    if (redisBufferRead(c) != REDIS_OK)
        return -1;
    return drain_buffered(w, c, fn);
}

/* ["message", channel, payload] */
static int message_payload(const redisReply *rep, const char **payload, size_t *len)
{
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
        rep->element[0]->type != REDIS_REPLY_STRING || strcmp(rep->element[0]->str, "message") ||
        rep->element[2]->type != REDIS_REPLY_STRING)
        return -1;
    *payload = rep->element[2]->str;
    *len = rep->element[2]->len;
    return 0;
}

static void on_pubsub_reply(struct watch *w, redisReply *rep)
{
    const char *payload;
    size_t len;
    w->last_rx_us = spk_time_mono_us();
    if (message_payload(rep, &payload, &len) == 0 && w->r->on_message)
        w->r->on_message(w->r->arg, payload, len);
}

static void on_sentinel_reply(struct watch *w, redisReply *rep)
{
    const char *payload;
    size_t len;
    if (message_payload(rep, &payload, &len) == 0)
        on_switch_master(w, payload, len);
}

static void sentinel_sub_open(struct watch *w, size_t i)
{
    struct spk_redis *r = w->r;
    struct timeval tv = {w->timeout_ms / 1000, (w->timeout_ms % 1000) * 1000};
    char why[192];
    redisContext *c = redisConnectWithTimeout(r->sentinels[i].host, r->sentinels[i].port, tv);
    if (c && !c->err) {
        redis_set_timeout(c, w->timeout_ms);
        if (subscribe(c, SWITCH_CHANNEL, why, sizeof(why)) == 0) {
            w->subs[i].c = c;
            return;
        }
    }
    if (c)
        redisFree(c);
    w->subs[i].retry_at_us = ms_from_now(SENTINEL_RETRY_MS);
}

static void sentinel_sub_close(struct watch *w, size_t i)
{
    redisFree(w->subs[i].c);
    w->subs[i].c = NULL;
    w->subs[i].retry_at_us = ms_from_now(SENTINEL_RETRY_MS);
}

/* ---- the loop ---------------------------------------------------------------------------- */

static int until_ms(int64_t at_us, int64_t now_us)
{
    int64_t ms = (at_us - now_us + 999) / 1000;
    return ms < 0 ? 0 : ms > 1000 ? 1000 : (int)ms;
}

/* The scheduled work that is due; returns the poll timeout until the next. */
static int run_due(struct watch *w)
{
    struct spk_redis *r = w->r;
    int64_t now = spk_time_mono_us();
    int timeout = 1000;

    pthread_mutex_lock(&r->lock);
    int open = atomic_load(&r->open);
    int64_t retry_at = r->retry_at_us;
    uint64_t addr_epoch = r->addr_epoch;
    pthread_mutex_unlock(&r->lock);

    if (open) {
        if (now >= retry_at) {
            probe(w);
            return 0; /* re-read the state */
        }
        timeout = until_ms(retry_at, now);
    } else if (r->sentinel_mode && now >= w->verify_at_us) {
        verify(w);
        w->verify_at_us = ms_from_now(VERIFY_INTERVAL_MS);
    }

    if (w->pubsub && (open || w->pubsub_addr_epoch != addr_epoch))
        pubsub_close(w, open ? NULL : "the master moved");
    if (!open && r->channel && !w->pubsub)
        pubsub_open(w);
    if (w->pubsub) {
        if (now - w->last_rx_us > (int64_t)SILENCE_LIMIT_MS * 1000) {
            pubsub_close(w, "no reply to PING");
            redis_breaker_trip(r, "the master stopped answering on the subscription");
        } else if (now >= w->ping_at_us) {
            if (send_ping(w->pubsub))
                pubsub_close(w, "PING could not be sent");
            w->ping_at_us = ms_from_now(PING_INTERVAL_MS);
        }
        if (w->pubsub) {
            int t = until_ms(w->ping_at_us, now);
            timeout = t < timeout ? t : timeout;
        }
    }
    for (size_t i = 0; i < r->nsentinels; i++) {
        if (w->subs[i].c)
            continue;
        if (now >= w->subs[i].retry_at_us)
            sentinel_sub_open(w, i);
        if (!w->subs[i].c) {
            int t = until_ms(w->subs[i].retry_at_us, now);
            timeout = t < timeout ? t : timeout;
        }
    }
    return timeout;
}

static void *watch_main(void *arg)
{
    struct watch w = {.r = arg};
    struct spk_redis *r = w.r;
    size_t nfds = 2 + r->nsentinels;
    struct pollfd *fds = spk_calloc(nfds, sizeof(*fds));
    w.timeout_ms =
        r->timeout_ms > REDIS_WATCH_MIN_TIMEOUT_MS ? r->timeout_ms : REDIS_WATCH_MIN_TIMEOUT_MS;
    w.subs = spk_calloc(r->nsentinels ? r->nsentinels : 1, sizeof(*w.subs));
    w.verify_at_us = ms_from_now(VERIFY_INTERVAL_MS);

    while (!atomic_load(&r->stopping)) {
        int timeout = run_due(&w);
        if (atomic_load(&r->stopping))
            break;
        fds[0] = (struct pollfd){.fd = r->wake[0], .events = POLLIN};
        fds[1] = (struct pollfd){.fd = w.pubsub ? w.pubsub->fd : -1, .events = POLLIN};
        for (size_t i = 0; i < r->nsentinels; i++)
            fds[2 + i] =
                (struct pollfd){.fd = w.subs[i].c ? w.subs[i].c->fd : -1, .events = POLLIN};
        int n = poll(fds, nfds, timeout);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        if (fds[0].revents) {
            char buf[64];
            while (read(r->wake[0], buf, sizeof(buf)) > 0)
                ;
        }
        if (fds[1].revents && w.pubsub && drain(w.pubsub, on_pubsub_reply, &w)) {
            char why[192];
            snprintf(why, sizeof(why), "subscription connection: %s",
                     w.pubsub->err ? w.pubsub->errstr : "closed by the server");
            pubsub_close(&w, why);
            redis_breaker_trip(r, why);
        }
        for (size_t i = 0; i < r->nsentinels; i++)
            if (fds[2 + i].revents && w.subs[i].c && drain(w.subs[i].c, on_sentinel_reply, &w))
                sentinel_sub_close(&w, i);
    }
    pubsub_close(&w, NULL);
    for (size_t i = 0; i < r->nsentinels; i++)
        if (w.subs[i].c)
            redisFree(w.subs[i].c);
    free(w.subs);
    free(fds);
    return NULL;
}

int redis_watch_start(struct spk_redis *r)
{
    if (pthread_create(&r->thread, NULL, watch_main, r))
        return -1;
    r->thread_started = 1;
    return 0;
}

void redis_watch_stop(struct spk_redis *r)
{
    if (!r->thread_started)
        return;
    atomic_store(&r->stopping, 1);
    redis_wake(r);
    pthread_join(r->thread, NULL);
    r->thread_started = 0;
}
