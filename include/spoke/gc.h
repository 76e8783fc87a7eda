/* Blob garbage collection: deletes blobs that no committed version references, never one a
 * version references or a push in flight has claimed (the protocol is in blobrefs.h), and never
 * one modified within the minimum age. Run as `spoke-server gc --dry-run|--apply`. */
#ifndef SPOKE_GC_H
#define SPOKE_GC_H

#include <stdint.h>
#include <stdio.h>

struct spk_blob_store;
struct spk_config;
struct spk_db;
struct spk_error;

struct spk_gc_options {
    int apply;           /* 0: only report what would be deleted */
    int64_t min_age_s;   /* blobs modified more recently are kept */
    int64_t claim_ttl_s; /* SPK_BLOB_CLAIM_TTL_S */
    FILE *out;           /* "deleted|would delete <key> <n> bytes" per blob; NULL for none */
};

struct spk_gc_report {
    uint64_t scanned, scanned_bytes; /* every object under proto-files/ */
    uint64_t foreign;                /* objects that are not blob keys (never touched) */
    uint64_t young;                  /* kept: younger than min_age_s */
    uint64_t kept;                   /* kept: referenced or claimed */
    uint64_t deleted, deleted_bytes; /* deleted, or would be in a dry run */
    uint64_t claims_pruned;
};

/* One collection. On failure the report counts what was done before it. */
int spk_gc_run(struct spk_db *db, struct spk_blob_store *blobs, const struct spk_gc_options *o,
               struct spk_gc_report *r, struct spk_error *err);

/* `spoke-server gc` with the arguments after "gc": prints one line per blob and a summary to
 * stdout, errors to stderr. Returns the exit status (0, 1 on failure, 2 on bad usage). */
int spk_gc_command(const struct spk_config *cfg, int argc, char **argv);

#endif
