/* Applies the embedded migrations (spk_migrations[]) to the primary, each in its own transaction
 * and recorded with its checksum in schema_migrations. Concurrent runners queue on a
 * session-level advisory lock, so the second finds the work done. Migrations are trusted SQL
 * from the source tree and may take as long as they need: statements here run without a
 * deadline, only the connect is bounded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_internal.h"
#include "spoke/log.h"
#include "spoke/migrate.h"
#include "spoke/sha256.h"
#include "spoke/time.h"
#include "spoke/banned.h"

/* pg_advisory_lock key: the bytes of "spoke-mg" as a bigint. */
#define MIGRATION_LOCK_KEY "8318271018802965863"

static const char LABEL[] = "migrate";

/* Runs one statement (parameterised, or a multi-statement script when nparams < 0) and checks
 * it succeeded. The libpq text goes to the log; err gets what, without it. */
static PGresult *run(PGconn *pg, const char *sql, int nparams, const char *const *params,
                     const char *what, struct spk_error *err)
{
    PGresult *res =
        nparams < 0 ? PQexec(pg, sql) : PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (res && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK))
        return res;

    const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(pg);
    json_t *f = json_pack("{s:s,s:s}", "pool", LABEL, "step", what);
    if (sqlstate)
        json_object_set_new(f, "sqlstate", json_string(sqlstate));
    json_object_set_new(f, "error", json_stringn(msg, strcspn(msg, "\n")));
    spk_log_json(SPK_LOG_ERROR, NULL, "migration step failed", f);

    int discard;
    enum spk_errcode code = spk_pg_sqlstate_errcode(sqlstate, &discard);
    if (PQstatus(pg) != CONNECTION_OK)
        code = SPK_E_UNAVAILABLE;
    if (code != SPK_E_UNAVAILABLE)
        code = SPK_E_INTERNAL;
    spk_error_set(err, code, "%s failed (see log)", what);
    PQclear(res);
    return NULL;
}

static int exec_ok(PGconn *pg, const char *sql, int nparams, const char *const *params,
                   const char *what, struct spk_error *err)
{
    PGresult *res = run(pg, sql, nparams, params, what, err);
    PQclear(res);
    return res ? 0 : -1;
}

/* The checksum recorded for name, or NULL when it has not been applied. */
static const char *recorded_checksum(const PGresult *applied, const char *name)
{
    for (int i = 0; i < PQntuples(applied); i++) {
        if (strcmp(PQgetvalue(applied, i, 0), name) == 0)
            return PQgetvalue(applied, i, 1);
    }
    return NULL;
}

static int apply_one(PGconn *pg, const struct spk_migration *m, const char *checksum,
                     struct spk_error *err)
{
    char what[160];
    snprintf(what, sizeof(what), "migration %s", m->name);
    if (exec_ok(pg, "BEGIN", 0, NULL, what, err) < 0)
        return -1;
    const char *params[2] = {m->name, checksum};
    if (exec_ok(pg, m->sql, -1, NULL, what, err) < 0 ||
        exec_ok(pg, "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)", 2, params,
                what, err) < 0 ||
        exec_ok(pg, "COMMIT", 0, NULL, what, err) < 0) {
        PQclear(PQexec(pg, "ROLLBACK"));
        return -1;
    }
    spk_log_json(SPK_LOG_INFO, NULL, "migration applied", json_pack("{s:s}", "migration", m->name));
    return 0;
}

int spk_migrate_run(const char *conninfo, int connect_timeout_ms, struct spk_error *err)
{
    int64_t deadline = spk_time_mono_us() + (int64_t)connect_timeout_ms * 1000;
    PGconn *pg = spk_pg_connect(conninfo, deadline, LABEL, SPK_LOG_ERROR, err);
    if (!pg)
        return -1;
    PQsetnonblocking(pg, 0); /* the statements below may legitimately run long */

    int applied = 0, locked = 0;
    PGresult *done = NULL;
    if (exec_ok(pg, "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")", 0, NULL,
                "taking the migration lock", err) < 0)
        goto fail;
    locked = 1;
    if (exec_ok(pg,
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY,"
                " checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())",
                0, NULL, "creating schema_migrations", err) < 0)
        goto fail;
    done = run(pg, "SELECT version, checksum FROM schema_migrations", 0, NULL,
               "reading schema_migrations", err);
    if (!done)
        goto fail;

    for (size_t i = 0; i < spk_migrations_count; i++) {
        const struct spk_migration *m = &spk_migrations[i];
        char checksum[SPK_SHA256_HEX_LEN + 1];
        spk_sha256_hex(m->sql, strlen(m->sql), checksum);
        const char *have = recorded_checksum(done, m->name);
        if (have && strcmp(have, checksum) != 0) {
            spk_error_set(err, SPK_E_INTERNAL,
                          "migration %s was changed after it was applied (checksum %.12s..., "
                          "recorded %.12s...)",
                          m->name, checksum, have);
            goto fail;
        }
        if (have)
            continue;
        if (apply_one(pg, m, checksum, err) < 0)
            goto fail;
        applied++;
    }
    PQclear(done);
    struct spk_error ignored = {0};
    exec_ok(pg, "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")", 0, NULL,
            "releasing the migration lock", &ignored);
    PQfinish(pg);
    return applied;

fail:
    PQclear(done);
    if (locked && PQstatus(pg) == CONNECTION_OK) {
        struct spk_error unlock_err = {0};
        exec_ok(pg, "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY ")", 0, NULL,
                "releasing the migration lock", &unlock_err);
    }
    PQfinish(pg); /* also releases a session lock we could not release above */
    return -1;
}
