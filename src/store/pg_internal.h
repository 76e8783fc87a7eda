/* Private to src/store: the libpq connection pool, deadline-bounded queries, and the read/write
 * routing of struct spk_db. Nothing outside src/store includes this file, so no PGresult or
 * PGconn leaves the directory.
 *
 * Every wait is bounded: connects by the connect timeout, acquires by the acquire timeout, and
 * the statements of one checkout by a deadline set when the connection is handed out. A
 * connection that timed out, broke, or is left inside a transaction never returns to a pool. */
#ifndef SPOKE_STORE_PG_INTERNAL_H
#define SPOKE_STORE_PG_INTERNAL_H

#include <stdint.h>

#include <libpq-fe.h>

#include "spoke/error.h"
#include "spoke/log.h"

struct spk_db;
struct spk_pg_pool;

/* SQLSTATE → domain error. *discard is set to 1 when the connection must not be reused (lost
 * connection, server shutting down, read-only standby). A NULL sqlstate means libpq produced the
 * error itself, i.e. the connection failed. Pure; unit-tested. */
enum spk_errcode spk_pg_sqlstate_errcode(const char *sqlstate, int *discard);

/* Opens a connection to conninfo (a URI or key=value string, multi-host allowed) without ever
 * blocking past deadline_us (CLOCK_MONOTONIC microseconds). label names the target in logs and
 * failures are logged at level; the conninfo itself is never logged. Returns NULL with
 * UNAVAILABLE on failure. */
PGconn *spk_pg_connect(const char *conninfo, int64_t deadline_us, const char *label,
                       enum spk_log_level level, struct spk_error *err);

/* Sends one parameterised statement (text parameters; a NULL entry is SQL NULL) and waits for its
 * result until deadline_us. On success returns a result in state TUPLES_OK or COMMAND_OK (free
 * with PQclear). On failure returns NULL with err set and *discard = 1 when pg must be closed;
 * on timeout the statement is cancelled in the background. */
PGresult *spk_pg_run(PGconn *pg, const char *sql, int nparams, const char *const *params,
                     int64_t deadline_us, const char *label, enum spk_log_level level, int *discard,
                     struct spk_error *err);

/* One checked-out pool connection. */
struct spk_pg_conn {
    struct spk_pg_pool *pool;
    PGconn *pg;          /* NULL while the slot is not connected */
    int64_t deadline_us; /* shared by all statements of the current checkout */
    int discard;         /* close instead of returning to the pool */
    int in_use;
};

/* A fixed number of lazily opened connections to conninfo (copied). label ("primary",
 * "replica") is used in logs and by spk_store_last_pool; it must outlive the pool. */
struct spk_pg_pool *spk_pg_pool_create(const char *label, const char *conninfo, int size,
                                       int acquire_timeout_ms, int connect_timeout_ms,
                                       int query_timeout_ms);
/* All connections must have been released. NULL-safe. */
void spk_pg_pool_destroy(struct spk_pg_pool *pool);

/* The message of the error spk_pg_pool_acquire sets when no slot freed up in time: a busy pool,
 * unlike a failed connection, says nothing about the health of the server behind it. */
#define SPK_PG_EXHAUSTED_MSG "database pool exhausted"

/* Waits up to the pool's acquire timeout for a free slot (SPK_PG_EXHAUSTED_MSG), connects
 * it if needed and starts the checkout's query deadline. NULL with UNAVAILABLE on failure. */
struct spk_pg_conn *spk_pg_pool_acquire(struct spk_pg_pool *pool, struct spk_error *err);
/* The same with explicit bounds, for probes that must answer quickly. */
struct spk_pg_conn *spk_pg_pool_acquire_within(struct spk_pg_pool *pool, int acquire_timeout_ms,
                                               int connect_timeout_ms, int query_timeout_ms,
                                               struct spk_error *err);
/* Returns the connection if it is healthy and idle (outside a transaction), else closes it.
 * NULL-safe. */
void spk_pg_pool_release(struct spk_pg_conn *c);
/* Closes the idle connections, e.g. after the server behind the pool was found down. */
void spk_pg_pool_close_idle(struct spk_pg_pool *pool);
/* Connections currently checked out. */
int spk_pg_pool_active(const struct spk_pg_pool *pool);
const char *spk_pg_pool_label(const struct spk_pg_pool *pool);

/* spk_pg_run on a checked-out connection with its checkout deadline; marks it for discarding
 * when needed. */
PGresult *spk_pg_query(struct spk_pg_conn *c, const char *sql, int nparams,
                       const char *const *params, struct spk_error *err);
/* The same for statements whose result is not needed. 0 or -1. */
int spk_pg_exec(struct spk_pg_conn *c, const char *sql, int nparams, const char *const *params,
                struct spk_error *err);

/* Row helpers: the text of a column, "" for SQL NULL; integer columns parsed as int64. */
const char *spk_pg_text(const PGresult *res, int row, int col);
int64_t spk_pg_int64(const PGresult *res, int row, int col);

/* Postgres array literals built as one text parameter: each element quoted and escaped, so any
 * text passes through unchanged. Add to an empty spk_buf, then finish: a new string ("{}" for
 * none), free with free(). */
struct spk_buf;
void spk_pg_array_add(struct spk_buf *b, const char *s);
char *spk_pg_array_finish(struct spk_buf *b);

/* A unit of work on one connection. Returns a value >= 0 on success, -1 with err set. It must
 * leave its outputs untouched or released on failure: a read may be retried on another server. */
typedef int (*spk_db_fn)(struct spk_pg_conn *c, void *ctx, struct spk_error *err);

/* Runs fn on a read connection: round-robin over healthy replicas (unless flags has
 * SPK_STORE_PRIMARY), moving on when a replica is unavailable and confirming NOT_FOUND on the
 * primary; the primary when no replica is healthy. Returns fn's result. */
int spk_db_read(struct spk_db *db, int flags, spk_db_fn fn, void *ctx, struct spk_error *err);
/* Runs fn on a primary connection. Returns fn's result. */
int spk_db_write(struct spk_db *db, spk_db_fn fn, void *ctx, struct spk_error *err);

#endif
