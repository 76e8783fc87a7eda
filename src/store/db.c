/* struct spk_db: the write pool on the primary, one read pool per replica, and the background
 * checker that decides which replicas may serve reads (they answer and replay within
 * SPOKE_POSTGRES_MAX_LAG_BYTES of the primary). Routing of one unit of work lives here; the
 * queries themselves live in the *_repo.c files. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg_internal.h"
#include "spoke/alloc.h"
#include "spoke/config.h"
#include "spoke/log.h"
#include "spoke/store.h"
#include "spoke/time.h"
#include "spoke/banned.h"

#define HEALTH_TIMEOUT_MS 1000

static const char PRIMARY_LABEL[] = "primary";
static const char REPLICA_LABEL[] = "replica";

/* A checker connection and whether its last probe answered: failures are logged in detail
 * once, when a server stops answering, not on every round of an outage. */
struct probe_conn {
    PGconn *pg;
    int failing;
};

struct replica {
    struct spk_pg_pool *pool;
    char *conninfo;
    atomic_int healthy;
    struct probe_conn probe; /* the checker's own connection; checker thread only */
};

struct spk_db {
    struct spk_pg_pool *primary;
    char *primary_conninfo;
    struct replica *replicas;
    size_t nreplicas;
    atomic_uint next_replica; /* round-robin cursor */

    int64_t max_lag_bytes;
    int check_interval_ms;
    int probe_timeout_ms;
    struct probe_conn primary_probe; /* checker thread only */

    pthread_t checker;
    int checker_running;
    pthread_mutex_t mu; /* guards stopping and replicas_latency_ms */
    pthread_cond_t wake;
    int stopping;
    double replicas_latency_ms;
};

static _Thread_local const char *last_pool;

const char *spk_store_last_pool(void)
{
    return last_pool;
}

/* ---- replica checker ---- */

/* Runs one statement on a checker connection, (re)connecting first if needed, all within the
 * probe timeout. The connection is dropped when it failed. */
static PGresult *probe(struct spk_db *db, struct probe_conn *pc, const char *conninfo,
                       const char *label, const char *sql, int nparams, const char *const *params)
{
    struct spk_error err = {0};
    enum spk_log_level level = pc->failing ? SPK_LOG_DEBUG : SPK_LOG_WARN;
    int64_t deadline = spk_time_mono_us() + (int64_t)db->probe_timeout_ms * 1000;
    PGresult *res = NULL;
    if (pc->pg || (pc->pg = spk_pg_connect(conninfo, deadline, label, level, &err))) {
        int discard = 0;
        res = spk_pg_run(pc->pg, sql, nparams, params, deadline, label, level, &discard, &err);
        if (!res && discard) {
            PQfinish(pc->pg);
            pc->pg = NULL;
        }
    }
    pc->failing = res == NULL;
    return res;
}

/* The primary's current WAL position as text, or "" when the primary cannot tell us. */
static void primary_lsn(struct spk_db *db, char *out, size_t outsz)
{
    out[0] = '\0';
    PGresult *r = probe(db, &db->primary_probe, db->primary_conninfo, "primary-check",
                        "SELECT pg_current_wal_lsn()::text", 0, NULL);
    if (r && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
        size_t n = strnlen(PQgetvalue(r, 0, 0), outsz - 1);
        memcpy(out, PQgetvalue(r, 0, 0), n);
        out[n] = '\0';
    }
    PQclear(r);
}

/* Replay lag in bytes, measured against the primary when it answered, else as the replica's own
 * received-but-not-replayed WAL. A server that is not in recovery (promoted) has no lag. */
static const char REPLICA_LAG_SQL[] =
    "SELECT pg_is_in_recovery(),"
    " pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn())::bigint,"
    " pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint";

/* Returns the lag in bytes, or -1 when the replica did not answer. */
static int64_t replica_lag(struct spk_db *db, struct replica *rep, const char *lsn)
{
    const char *params[1] = {lsn[0] ? lsn : NULL};
    PGresult *r =
        probe(db, &rep->probe, rep->conninfo, "replica-check", REPLICA_LAG_SQL, 1, params);
    int64_t lag = -1;
    if (r && PQntuples(r) == 1) {
        lag = 0;
        if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
            if (!PQgetisnull(r, 0, 1))
                lag = spk_pg_int64(r, 0, 1);
            else if (!PQgetisnull(r, 0, 2))
                lag = spk_pg_int64(r, 0, 2);
        }
        if (lag < 0) /* replayed past the position we read from the primary a moment ago */
            lag = 0;
    }
    PQclear(r);
    return lag;
}

static void check_replicas(struct spk_db *db)
{
    char lsn[64];
    primary_lsn(db, lsn, sizeof(lsn));

    double worst_ms = 0;
    for (size_t i = 0; i < db->nreplicas; i++) {
        struct replica *rep = &db->replicas[i];
        int64_t t0 = spk_time_mono_us();
        int64_t lag = replica_lag(db, rep, lsn);
        double ms = (double)(spk_time_mono_us() - t0) / 1000.0;
        if (ms > worst_ms)
            worst_ms = ms;

        int healthy = lag >= 0 && lag <= db->max_lag_bytes;
        int was = atomic_exchange(&rep->healthy, healthy);
        if (was != healthy) {
            json_t *f = json_pack("{s:i,s:I}", "replica", (int)i, "lag_bytes", (json_int_t)lag);
            spk_log_json(healthy ? SPK_LOG_INFO : SPK_LOG_WARN, NULL,
                         healthy ? "postgres replica healthy" : "postgres replica unhealthy", f);
        }
        if (!healthy) /* connections to a server that went away would fail on first use */
            spk_pg_pool_close_idle(rep->pool);
    }

    pthread_mutex_lock(&db->mu);
    db->replicas_latency_ms = worst_ms;
    pthread_mutex_unlock(&db->mu);
}

static void *on_checker_thread(void *arg)
{
    struct spk_db *db = arg;
    pthread_mutex_lock(&db->mu);
    while (!db->stopping) {
        pthread_mutex_unlock(&db->mu);
        check_replicas(db);
        pthread_mutex_lock(&db->mu);

        int64_t until = spk_time_mono_us() + (int64_t)db->check_interval_ms * 1000;
        struct timespec ts = {.tv_sec = (time_t)(until / 1000000),
                              .tv_nsec = (long)(until % 1000000) * 1000};
        while (!db->stopping && pthread_cond_timedwait(&db->wake, &db->mu, &ts) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&db->mu);
    return NULL;
}

/* ---- lifecycle ---- */

struct spk_db *spk_db_create(const struct spk_config *cfg, struct spk_error *err)
{
    if (!cfg->postgres_url || !cfg->postgres_url[0]) {
        spk_error_set(err, SPK_E_INVALID, "SPOKE_POSTGRES_URL is not set");
        return NULL;
    }
    struct spk_db *db = spk_calloc(1, sizeof(*db));
    db->primary_conninfo = spk_strdup(cfg->postgres_url);
    db->primary = spk_pg_pool_create(PRIMARY_LABEL, cfg->postgres_url, cfg->pg_max_conns,
                                     cfg->pg_acquire_timeout_ms, cfg->pg_connect_timeout_ms,
                                     cfg->pg_query_timeout_ms);
    db->nreplicas = cfg->nreplicas;
    db->replicas = spk_calloc(db->nreplicas ? db->nreplicas : 1, sizeof(*db->replicas));
    for (size_t i = 0; i < db->nreplicas; i++) {
        struct replica *rep = &db->replicas[i];
        rep->conninfo = spk_strdup(cfg->replica_urls[i]);
        rep->pool = spk_pg_pool_create(REPLICA_LABEL, cfg->replica_urls[i], cfg->pg_max_conns,
                                       cfg->pg_acquire_timeout_ms, cfg->pg_connect_timeout_ms,
                                       cfg->pg_query_timeout_ms);
        /* Optimistic until the first check: a read that fails here moves on at once. */
        atomic_init(&rep->healthy, 1);
    }
    atomic_init(&db->next_replica, 0);
    db->max_lag_bytes = cfg->pg_max_lag_bytes;
    db->check_interval_ms = cfg->pg_health_interval_ms > 0 ? cfg->pg_health_interval_ms : 1000;
    db->probe_timeout_ms = cfg->pg_connect_timeout_ms;
    if (db->probe_timeout_ms > HEALTH_TIMEOUT_MS || db->probe_timeout_ms <= 0)
        db->probe_timeout_ms = HEALTH_TIMEOUT_MS;

    pthread_mutex_init(&db->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&db->wake, &ca);
    pthread_condattr_destroy(&ca);

    if (db->nreplicas > 0) {
        if (pthread_create(&db->checker, NULL, on_checker_thread, db) != 0) {
            spk_db_destroy(db);
            spk_error_set(err, SPK_E_INTERNAL, "cannot start the replica checker");
            return NULL;
        }
        db->checker_running = 1;
    }
    return db;
}

void spk_db_destroy(struct spk_db *db)
{
    if (!db)
        return;
    if (db->checker_running) {
        pthread_mutex_lock(&db->mu);
        db->stopping = 1;
        pthread_cond_broadcast(&db->wake);
        pthread_mutex_unlock(&db->mu);
        pthread_join(db->checker, NULL);
    }
    for (size_t i = 0; i < db->nreplicas; i++) {
        struct replica *rep = &db->replicas[i];
        if (rep->probe.pg)
            PQfinish(rep->probe.pg);
        spk_pg_pool_destroy(rep->pool);
        free(rep->conninfo);
    }
    if (db->primary_probe.pg)
        PQfinish(db->primary_probe.pg);
    spk_pg_pool_destroy(db->primary);
    free(db->primary_conninfo);
    free(db->replicas);
    pthread_cond_destroy(&db->wake);
    pthread_mutex_destroy(&db->mu);
    free(db);
}

/* ---- routing ---- */

static int run_on(struct spk_pg_pool *pool, spk_db_fn fn, void *ctx, struct spk_error *err)
{
    struct spk_pg_conn *c = spk_pg_pool_acquire(pool, err);
    if (!c)
        return -1;
    int rc = fn(c, ctx, err);
    spk_pg_pool_release(c);
    return rc;
}

int spk_db_read(struct spk_db *db, int flags, spk_db_fn fn, void *ctx, struct spk_error *err)
{
    last_pool = NULL;
    if (!(flags & SPK_STORE_PRIMARY) && db->nreplicas > 0) {
        unsigned start = atomic_fetch_add(&db->next_replica, 1);
        for (size_t i = 0; i < db->nreplicas; i++) {
            size_t idx = (start + i) % db->nreplicas;
            struct replica *rep = &db->replicas[idx];
            if (!atomic_load(&rep->healthy))
                continue;
            struct spk_error rerr = {0};
            int rc = run_on(rep->pool, fn, ctx, &rerr);
            if (rc >= 0) {
                last_pool = REPLICA_LABEL;
                return rc;
            }
            if (rerr.code == SPK_E_NOT_FOUND)
                break; /* maybe not replayed yet: the primary decides */
            if (rerr.code != SPK_E_UNAVAILABLE) {
                last_pool = REPLICA_LABEL;
                if (err)
                    *err = rerr;
                return -1;
            }
            if (strcmp(rerr.msg, SPK_PG_EXHAUSTED_MSG) == 0)
                continue; /* busy, not broken: try the next server */
            if (atomic_exchange(&rep->healthy, 0))
                spk_log_json(SPK_LOG_WARN, NULL, "postgres replica unhealthy",
                             json_pack("{s:i,s:s}", "replica", (int)idx, "reason", rerr.msg));
        }
    }
    last_pool = PRIMARY_LABEL;
    return run_on(db->primary, fn, ctx, err);
}

int spk_db_write(struct spk_db *db, spk_db_fn fn, void *ctx, struct spk_error *err)
{
    last_pool = PRIMARY_LABEL;
    return run_on(db->primary, fn, ctx, err);
}

/* ---- health ---- */

void spk_db_health(struct spk_db *db, struct spk_db_health *out)
{
    memset(out, 0, sizeof(*out));
    struct spk_error err = {0};
    int64_t t0 = spk_time_mono_us();
    struct spk_pg_conn *c = spk_pg_pool_acquire_within(db->primary, HEALTH_TIMEOUT_MS,
                                                       HEALTH_TIMEOUT_MS, HEALTH_TIMEOUT_MS, &err);
    if (c) {
        out->primary_ok = spk_pg_exec(c, "SELECT 1", 0, NULL, &err) == 0;
        spk_pg_pool_release(c);
    }
    out->primary_latency_ms = (double)(spk_time_mono_us() - t0) / 1000.0;
    const char *detail = out->primary_ok ? "ok" : err.msg;
    size_t n = strnlen(detail, sizeof(out->primary_detail) - 1);
    memcpy(out->primary_detail, detail, n);
    out->primary_detail[n] = '\0';

    out->replicas_total = (int)db->nreplicas;
    for (size_t i = 0; i < db->nreplicas; i++)
        out->replicas_healthy += atomic_load(&db->replicas[i].healthy) ? 1 : 0;
    pthread_mutex_lock(&db->mu);
    out->replicas_latency_ms = db->replicas_latency_ms;
    pthread_mutex_unlock(&db->mu);
}

void spk_db_pool_stats(struct spk_db *db, struct spk_db_pool_stats *out)
{
    out->primary_active = spk_pg_pool_active(db->primary);
    out->replicas_active = 0;
    for (size_t i = 0; i < db->nreplicas; i++)
        out->replicas_active += spk_pg_pool_active(db->replicas[i].pool);
}
