/* Schema migrations: migrations/NNN_description.sql, compiled into the binary in file order.
 * Each runs in its own transaction and is recorded in schema_migrations (version, checksum,
 * applied_at); a session-level pg_advisory_lock serialises concurrent runners. A recorded
 * checksum that no longer matches the embedded file stops the run with a clear error. */
#ifndef SPOKE_MIGRATE_H
#define SPOKE_MIGRATE_H

#include <stddef.h>

struct spk_error;

struct spk_migration {
    const char *name; /* "001_core_schema" */
    const char *sql;
};

extern const struct spk_migration spk_migrations[];
extern const size_t spk_migrations_count;

/* Connects to conninfo (the primary) and applies what is missing. Returns the number of
 * migrations applied (0 when up to date) or -1. Safe to run from several processes at once. */
int spk_migrate_run(const char *conninfo, int connect_timeout_ms, struct spk_error *err);

#endif
