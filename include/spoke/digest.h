/* The version digest: "sha256:<hex>" over a canonical manifest, so the same tree pushed in any
 * file or dependency order has the same digest. The manifest is
 *     "spoke-manifest-v1\n"
 *     for each file, sorted by path bytes:   "file " sha256hex " " path "\n"
 *     for each dependency, sorted by bytes:  "dep " module "@" version "\n"
 * Paths cannot contain control characters, so the lines are unambiguous. */
#ifndef SPOKE_DIGEST_H
#define SPOKE_DIGEST_H

#include <stddef.h>

#define SPK_DIGEST_LEN (7 + 64) /* "sha256:" + hex */

struct spk_digest_file {
    const char *path;
    const char *sha256; /* 64 hex */
};

void spk_digest_compute(const struct spk_digest_file *files, size_t nfiles, const char *const *deps,
                        size_t ndeps, char out[SPK_DIGEST_LEN + 1]);

#endif
