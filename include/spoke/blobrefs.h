/* The metadata side of blob garbage collection: which blobs committed versions reference (their
 * files' and their FileDescriptorSets' digests), and the claims pushes take on blobs before they
 * touch the blob store. Implemented in src/store/blob_refs.c on the primary.
 *
 * The protocol that keeps the collector from deleting a blob a push is about to reference
 * (docs/design.md, "Blob garbage collection"):
 * - A push claims every blob it will write or reuse (spk_store_blob_claim) before its existence
 *   checks, in a short transaction holding the collector's advisory lock shared, and commits its
 *   version within SPK_BLOB_CLAIM_MAX_PUSH_S of the claim (spk_blob_claim_expired) or gives up.
 * - The collector deletes only inside spk_store_blob_sweep: one transaction holding that lock
 *   exclusively, re-checking that no version references the blob and no claim younger than
 *   SPK_BLOB_CLAIM_TTL_S protects it.
 * So a claim either commits before the sweep looks (and protects the blob), or waits until the
 * sweep has finished deleting (and the push then finds the blob absent and writes it again). */
#ifndef SPOKE_BLOBREFS_H
#define SPOKE_BLOBREFS_H

#include <stddef.h>
#include <stdint.h>

struct spk_db;
struct spk_error;

/* How long a claim protects a blob, and how long a push may take from its claim to its commit
 * (half of it, so a claim always outlives the push that took it). */
#define SPK_BLOB_CLAIM_TTL_S      3600
#define SPK_BLOB_CLAIM_MAX_PUSH_S (SPK_BLOB_CLAIM_TTL_S / 2)

/* Claims sha256[0..n) (duplicates allowed) for a push. UNAVAILABLE when the primary is down or
 * a sweep holds the lock for longer than the query timeout. */
int spk_store_blob_claim(struct spk_db *db, const char *const *sha256, size_t n,
                         struct spk_error *err);
/* The same, and in the same transaction sets known[i] = 1 for every sha256[i] that a committed
 * version references (0 otherwise). Such a blob is in the blob store (a version commits only
 * after its blobs are written; the collector deletes only unreferenced blobs, and the claim now
 * protects it), so the push can skip its existence check. */
int spk_store_blob_claim_known(struct spk_db *db, const char *const *sha256, size_t n,
                               unsigned char *known, struct spk_error *err);

/* Sets unref[i] = 1 for every sha256[i] that no committed version references and no claim
 * younger than claim_ttl_s protects, 0 otherwise. A snapshot without the lock: a hint for
 * choosing candidates and for dry runs; only a sweep decides. */
int spk_store_blob_unreferenced(struct spk_db *db, const char *const *sha256, size_t n,
                                int64_t claim_ttl_s, unsigned char *unref, struct spk_error *err);

/* Deletes one blob for a sweep: 0, or -1 with err set (the sweep then stops). */
typedef int (*spk_store_blob_delete_fn)(const char *sha256, void *ctx, struct spk_error *err);

/* In one transaction holding the collector lock exclusively, re-checks sha256[0..n) as
 * spk_store_blob_unreferenced does and calls fn, in order, for each one still unreferenced, until
 * done or until budget_ms (capped at half of what is left of the query deadline) has passed.
 * *done is how many leading candidates were settled (checked, and deleted when unreferenced);
 * call again with the rest. Returns the number of fn calls, or -1. */
int spk_store_blob_sweep(struct spk_db *db, const char *const *sha256, size_t n,
                         int64_t claim_ttl_s, int budget_ms, spk_store_blob_delete_fn fn, void *ctx,
                         size_t *done, struct spk_error *err);

/* Deletes claims older than claim_ttl_s (under the lock). Returns how many, or -1. */
int64_t spk_store_blob_claims_prune(struct spk_db *db, int64_t claim_ttl_s, struct spk_error *err);

#endif
