/* A fixed-size libpq connection pool with bounded waits everywhere: acquiring a slot, connecting
 * (PQconnectPoll under a poll() deadline) and running statements (PQsendQueryParams under a
 * poll() deadline, cancelled on timeout). Broken, timed-out and mid-transaction connections are
 * closed and their slot reconnects on next use. Not here: which pool a query goes to (db.c). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pg_internal.h"
#include "spoke/alloc.h"
#include "spoke/log.h"
#include "spoke/metrics.h"
#include "spoke/time.h"
#include "spoke/banned.h"

struct spk_pg_pool {
    const char *label;
    char *conninfo;
    int size;
    int acquire_timeout_ms;
    int connect_timeout_ms;
    int query_timeout_ms;

    pthread_mutex_t mu;
    pthread_cond_t freed; /* signalled when a slot is released */
    struct spk_pg_conn *slots;
    atomic_int active;
};

/* ---- SQLSTATE mapping ---- */

enum spk_errcode spk_pg_sqlstate_errcode(const char *sqlstate, int *discard)
{
    static const struct {
        const char *prefix; /* a full SQLSTATE or a two-character class */
        enum spk_errcode code;
        int discard;
    } table[] = {
        {"23505", SPK_E_EXISTS, 0},      /* unique_violation */
        {"25006", SPK_E_UNAVAILABLE, 1}, /* read_only_sql_transaction: we reached a standby */
        {"57P01", SPK_E_UNAVAILABLE, 1}, /* admin_shutdown */
        {"57P02", SPK_E_UNAVAILABLE, 1}, /* crash_shutdown */
        {"57P03", SPK_E_UNAVAILABLE, 1}, /* cannot_connect_now */
        {"57P04", SPK_E_UNAVAILABLE, 1}, /* database_dropped */
        {"57P05", SPK_E_UNAVAILABLE, 1}, /* idle_session_timeout */
        {"57014", SPK_E_UNAVAILABLE, 0}, /* query_canceled, e.g. statement_timeout */
        {"53300", SPK_E_UNAVAILABLE, 1}, /* too_many_connections */
        {"55P03", SPK_E_UNAVAILABLE, 0}, /* lock_not_available */
        {"40001", SPK_E_UNAVAILABLE, 0}, /* serialization_failure, also recovery conflicts */
        {"40P01", SPK_E_UNAVAILABLE, 0}, /* deadlock_detected */
        {"08", SPK_E_UNAVAILABLE, 1},    /* connection_exception */
        {"53", SPK_E_UNAVAILABLE, 0},    /* insufficient_resources */
        {"58", SPK_E_UNAVAILABLE, 0},    /* system_error (I/O) */
        {"22", SPK_E_INVALID, 0},        /* data_exception: a value Postgres cannot take */
    };
    *discard = 0;
    if (!sqlstate || strlen(sqlstate) != 5) {
        *discard = 1;
        return SPK_E_UNAVAILABLE;
    }
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        size_t n = strlen(table[i].prefix);
        if (strncmp(sqlstate, table[i].prefix, n) == 0) {
            *discard = table[i].discard;
            return table[i].code;
        }
    }
    return SPK_E_INTERNAL;
}

static const char *errcode_message(enum spk_errcode code)
{
    switch (code) {
    case SPK_E_EXISTS:
        return "already exists";
    case SPK_E_UNAVAILABLE:
        return "database unavailable";
    case SPK_E_INVALID:
        return "value rejected by the database";
    default:
        return "database error";
    }
}

/* ---- logging (libpq text only; never the conninfo) ---- */

static void log_pg_error(enum spk_log_level level, const char *label, const char *what,
                         const char *sqlstate, const char *pgmsg, const char *sql)
{
    if (!spk_log_enabled(level))
        return;
    json_t *f = json_object();
    json_object_set_new(f, "pool", json_string(label ? label : "?"));
    if (sqlstate)
        json_object_set_new(f, "sqlstate", json_string(sqlstate));
    if (pgmsg) {
        size_t n = strlen(pgmsg);
        while (n > 0 && (pgmsg[n - 1] == '\n' || pgmsg[n - 1] == ' '))
            n--;
        json_object_set_new(f, "error", json_stringn(pgmsg, n));
    }
    if (sql) /* parameterised text only: values are never part of it */
        json_object_set_new(f, "query", json_stringn(sql, strnlen(sql, 120)));
    spk_log_json(level, NULL, what, f);
}

/* ---- waiting on the socket ---- */

/* 1 when fd is ready, 0 at the deadline, -1 on a poll error. */
static int wait_fd(int fd, short events, int64_t deadline_us)
{
    for (;;) {
        int64_t left_us = deadline_us - spk_time_mono_us();
        if (left_us <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int ms = (int)((left_us + 999) / 1000);
        int r = poll(&p, 1, ms);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* Server notices (e.g. "relation already exists, skipping") would otherwise go to stderr
 * as plain text, between the JSON log lines. */
static void on_notice(void *arg, const char *message)
{
    log_pg_error(SPK_LOG_DEBUG, arg, "postgres notice", NULL, message, NULL);
}

PGconn *spk_pg_connect(const char *conninfo, int64_t deadline_us, const char *label,
                       enum spk_log_level level, struct spk_error *err)
{
    /* dbname is expanded as a full conninfo; the fallback name applies only if it sets none. */
    const char *const keys[] = {"fallback_application_name", "dbname", NULL};
    const char *const vals[] = {"spoke", conninfo, NULL};
    PGconn *pg = PQconnectStartParams(keys, vals, 1);
    if (!pg)
        abort(); /* libpq could not allocate */

    const char *why = NULL;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    if (PQstatus(pg) == CONNECTION_BAD)
        st = PGRES_POLLING_FAILED;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED) {
            why = PQerrorMessage(pg);
            break;
        }
        int r = wait_fd(PQsocket(pg), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline_us);
        if (r == 0) {
            why = "connect timed out";
            break;
        }
        if (r < 0) {
            why = "poll failed";
            break;
        }
        st = PQconnectPoll(pg);
    }
    if (why) {
        log_pg_error(level, label, "postgres connect failed", NULL, why, NULL);
        PQfinish(pg);
        spk_error_set(err, SPK_E_UNAVAILABLE, "database unavailable");
        return NULL;
    }
    PQsetNoticeProcessor(pg, on_notice, (void *)label);
    if (PQsetnonblocking(pg, 1) != 0) {
        log_pg_error(level, label, "postgres connect failed", NULL, PQerrorMessage(pg), NULL);
        PQfinish(pg);
        spk_error_set(err, SPK_E_UNAVAILABLE, "database unavailable");
        return NULL;
    }
    return pg;
}

/* PQcancel connects to the server synchronously and has no timeout of its own, so it runs on a
 * detached thread: a request never waits for an unreachable server. */
static void *on_cancel_thread(void *arg)
{
    PGcancel *cancel = arg;
    char buf[256];
    PQcancel(cancel, buf, sizeof(buf));
    PQfreeCancel(cancel);
    return NULL;
}

static void cancel_in_background(PGconn *pg)
{
    PGcancel *cancel = PQgetCancel(pg);
    if (!cancel)
        return;
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, on_cancel_thread, cancel) != 0)
        PQfreeCancel(cancel); /* the server notices the closed socket eventually */
    pthread_attr_destroy(&attr);
}

static int result_ok(const PGresult *r)
{
    ExecStatusType s = PQresultStatus(r);
    return s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK;
}

/* Flushes the outgoing query and collects its results. Returns the result to keep (the first
 * error, else the last result), NULL on timeout (*timed_out) or connection failure. */
static PGresult *collect(PGconn *pg, int64_t deadline_us, int *timed_out)
{
    *timed_out = 0;
    for (;;) {
        int f = PQflush(pg);
        if (f == 0)
            break;
        if (f < 0)
            return NULL;
        int r = wait_fd(PQsocket(pg), POLLOUT | POLLIN, deadline_us);
        if (r == 0)
            *timed_out = 1;
        if (r <= 0)
            return NULL;
        if (!PQconsumeInput(pg))
            return NULL;
    }

    PGresult *keep = NULL;
    for (;;) {
        while (!PQisBusy(pg)) {
            PGresult *r = PQgetResult(pg);
            if (!r)
                return keep;
            if (keep && !result_ok(keep)) {
                PQclear(r); /* an earlier error wins */
            } else {
                PQclear(keep);
                keep = r;
            }
        }
        int r = wait_fd(PQsocket(pg), POLLIN, deadline_us);
        if (r == 0)
            *timed_out = 1;
        if (r <= 0 || !PQconsumeInput(pg)) {
            PQclear(keep);
            return NULL;
        }
    }
}

PGresult *spk_pg_run(PGconn *pg, const char *sql, int nparams, const char *const *params,
                     int64_t deadline_us, const char *label, enum spk_log_level level, int *discard,
                     struct spk_error *err)
{
    *discard = 0;
    if (PQstatus(pg) != CONNECTION_OK) {
        *discard = 1;
        log_pg_error(level, label, "postgres connection lost", NULL, PQerrorMessage(pg), sql);
        spk_error_set(err, SPK_E_UNAVAILABLE, "database unavailable");
        return NULL;
    }
    if (!PQsendQueryParams(pg, sql, nparams, NULL, params, NULL, NULL, 0)) {
        *discard = 1;
        log_pg_error(level, label, "postgres send failed", NULL, PQerrorMessage(pg), sql);
        spk_error_set(err, SPK_E_UNAVAILABLE, "database unavailable");
        return NULL;
    }

    int timed_out;
    PGresult *res = collect(pg, deadline_us, &timed_out);
    if (!res) {
        *discard = 1;
        if (timed_out) {
            cancel_in_background(pg);
            log_pg_error(level, label, "postgres query timed out", NULL, NULL, sql);
            spk_error_set(err, SPK_E_UNAVAILABLE, "database query timed out");
        } else {
            log_pg_error(level, label, "postgres connection lost", NULL, PQerrorMessage(pg), sql);
            spk_error_set(err, SPK_E_UNAVAILABLE, "database unavailable");
        }
        return NULL;
    }

    if (result_ok(res))
        return res;

    const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    enum spk_errcode code = spk_pg_sqlstate_errcode(sqlstate, discard);
    if (PQstatus(pg) != CONNECTION_OK)
        *discard = 1;
    /* A unique violation is an expected outcome the caller translates; everything else is news. */
    log_pg_error(code == SPK_E_EXISTS ? SPK_LOG_DEBUG : level, label, "postgres query failed",
                 sqlstate, PQresultErrorMessage(res), sql);
    spk_error_set(err, code, "%s", errcode_message(code));
    PQclear(res);
    return NULL;
}

/* ---- the pool ---- */

struct spk_pg_pool *spk_pg_pool_create(const char *label, const char *conninfo, int size,
                                       int acquire_timeout_ms, int connect_timeout_ms,
                                       int query_timeout_ms)
{
    struct spk_pg_pool *pool = spk_calloc(1, sizeof(*pool));
    pool->label = label;
    pool->conninfo = spk_strdup(conninfo);
    pool->size = size > 0 ? size : 1;
    pool->acquire_timeout_ms = acquire_timeout_ms;
    pool->connect_timeout_ms = connect_timeout_ms;
    pool->query_timeout_ms = query_timeout_ms;
    pool->slots = spk_calloc((size_t)pool->size, sizeof(*pool->slots));
    for (int i = 0; i < pool->size; i++)
        pool->slots[i].pool = pool;
    atomic_init(&pool->active, 0);

    pthread_mutex_init(&pool->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pool->freed, &ca);
    pthread_condattr_destroy(&ca);
    return pool;
}

void spk_pg_pool_destroy(struct spk_pg_pool *pool)
{
    if (!pool)
        return;
    for (int i = 0; i < pool->size; i++) {
        if (pool->slots[i].pg)
            PQfinish(pool->slots[i].pg);
    }
    pthread_cond_destroy(&pool->freed);
    pthread_mutex_destroy(&pool->mu);
    free(pool->slots);
    free(pool->conninfo);
    free(pool);
}

/* An idle connection whose socket has become readable was almost always told by the server that
 * it is going away (a FATAL message before the close on shutdown, crash or idle timeout; libpq
 * reports such a message as a notice and keeps the status OK until it reads the EOF). Such a
 * connection is replaced; the rare harmless message (a reported parameter change) costs one
 * reconnect. Checking costs one poll() with no wait. */
static int idle_conn_usable(PGconn *pg)
{
    if (PQstatus(pg) != CONNECTION_OK)
        return 0;
    struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};
    if (p.fd < 0)
        return 0;
    return poll(&p, 1, 0) == 0;
}

static void timespec_at(int64_t mono_us, struct timespec *ts)
{
    ts->tv_sec = (time_t)(mono_us / 1000000);
    ts->tv_nsec = (long)(mono_us % 1000000) * 1000;
}

/* Picks a free slot, preferring one with an open connection. Caller holds pool->mu. */
static struct spk_pg_conn *take_slot(struct spk_pg_pool *pool)
{
    struct spk_pg_conn *empty = NULL;
    for (int i = 0; i < pool->size; i++) {
        struct spk_pg_conn *s = &pool->slots[i];
        if (s->in_use)
            continue;
        if (s->pg) {
            s->in_use = 1;
            return s;
        }
        if (!empty)
            empty = s;
    }
    if (empty)
        empty->in_use = 1;
    return empty;
}

static void give_back_slot(struct spk_pg_conn *c)
{
    struct spk_pg_pool *pool = c->pool;
    pthread_mutex_lock(&pool->mu);
    c->in_use = 0;
    c->discard = 0;
    atomic_fetch_sub(&pool->active, 1);
    pthread_cond_signal(&pool->freed);
    pthread_mutex_unlock(&pool->mu);
}

struct spk_pg_conn *spk_pg_pool_acquire_within(struct spk_pg_pool *pool, int acquire_timeout_ms,
                                               int connect_timeout_ms, int query_timeout_ms,
                                               struct spk_error *err)
{
    int64_t deadline = spk_time_mono_us() + (int64_t)acquire_timeout_ms * 1000;
    struct timespec ts;
    timespec_at(deadline, &ts);

    pthread_mutex_lock(&pool->mu);
    struct spk_pg_conn *c;
    int timed_out = 0;
    while (!(c = take_slot(pool)) && !timed_out)
        timed_out = pthread_cond_timedwait(&pool->freed, &pool->mu, &ts) == ETIMEDOUT;
    if (c)
        atomic_fetch_add(&pool->active, 1);
    pthread_mutex_unlock(&pool->mu);
    if (!c) {
        spk_logf(SPK_LOG_WARN, NULL, "postgres %s pool exhausted after %d ms", pool->label,
                 acquire_timeout_ms);
        spk_error_set(err, SPK_E_UNAVAILABLE, SPK_PG_EXHAUSTED_MSG);
        return NULL;
    }

    /* The slot is ours: connecting happens outside the lock. */
    if (c->pg && !idle_conn_usable(c->pg)) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    if (!c->pg) {
        int64_t cdeadline = spk_time_mono_us() + (int64_t)connect_timeout_ms * 1000;
        c->pg = spk_pg_connect(pool->conninfo, cdeadline, pool->label, SPK_LOG_WARN, err);
        if (!c->pg) {
            give_back_slot(c);
            return NULL;
        }
    }
    c->discard = 0;
    c->deadline_us = spk_time_mono_us() + (int64_t)query_timeout_ms * 1000;
    return c;
}

struct spk_pg_conn *spk_pg_pool_acquire(struct spk_pg_pool *pool, struct spk_error *err)
{
    return spk_pg_pool_acquire_within(pool, pool->acquire_timeout_ms, pool->connect_timeout_ms,
                                      pool->query_timeout_ms, err);
}

void spk_pg_pool_release(struct spk_pg_conn *c)
{
    if (!c)
        return;
    if (c->pg && (c->discard || PQstatus(c->pg) != CONNECTION_OK ||
                  PQtransactionStatus(c->pg) != PQTRANS_IDLE)) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    give_back_slot(c);
}

void spk_pg_pool_close_idle(struct spk_pg_pool *pool)
{
    PGconn **victims = spk_calloc((size_t)pool->size, sizeof(*victims));
    int n = 0;
    pthread_mutex_lock(&pool->mu);
    for (int i = 0; i < pool->size; i++) {
        struct spk_pg_conn *s = &pool->slots[i];
        if (!s->in_use && s->pg) {
            victims[n++] = s->pg;
            s->pg = NULL;
        }
    }
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; i < n; i++)
        PQfinish(victims[i]);
    free(victims);
}

int spk_pg_pool_active(const struct spk_pg_pool *pool)
{
    return atomic_load(&((struct spk_pg_pool *)pool)->active);
}

const char *spk_pg_pool_label(const struct spk_pg_pool *pool)
{
    return pool->label;
}

/* ---- statements on a checked-out connection ---- */

PGresult *spk_pg_query(struct spk_pg_conn *c, const char *sql, int nparams,
                       const char *const *params, struct spk_error *err)
{
    int discard = 0;
    int64_t t0 = spk_time_mono_us();
    PGresult *res = spk_pg_run(c->pg, sql, nparams, params, c->deadline_us, c->pool->label,
                               SPK_LOG_WARN, &discard, err);
    spk_metrics_db_query(c->pool->label, (double)(spk_time_mono_us() - t0) / 1e6);
    if (discard)
        c->discard = 1;
    return res;
}

int spk_pg_exec(struct spk_pg_conn *c, const char *sql, int nparams, const char *const *params,
                struct spk_error *err)
{
    PGresult *res = spk_pg_query(c, sql, nparams, params, err);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

const char *spk_pg_text(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return "";
    return PQgetvalue(res, row, col);
}

int64_t spk_pg_int64(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}
