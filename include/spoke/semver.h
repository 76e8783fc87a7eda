/* Semantic Versioning 2.0: parsing, precedence and a byte-ordered key for SQL.
 * A leading "v" is accepted and dropped: "v1.2.3" and "1.2.3" are the same version. */
#ifndef SPOKE_SEMVER_H
#define SPOKE_SEMVER_H

#include <stddef.h>
#include <stdint.h>

#define SPK_SEMVER_MAX_LEN 128

struct spk_semver {
    int64_t major, minor, patch;             /* each fits a Postgres bigint */
    char canonical[SPK_SEMVER_MAX_LEN + 1];  /* without the "v" */
    char prerelease[SPK_SEMVER_MAX_LEN + 1]; /* "" for a release */
    char build[SPK_SEMVER_MAX_LEN + 1];      /* "" when absent */
    /* Byte-ordered encoding of the pre-release identifiers: comparing two keys with memcmp/C
     * collation gives SemVer precedence among versions with equal major.minor.patch. */
    char pre_key[4 * SPK_SEMVER_MAX_LEN + 1];
};

/* 0 on success; -1 with err set to SPK_E_INVALID. */
struct spk_error;
int spk_semver_parse(const char *s, struct spk_semver *out, struct spk_error *err);
/* <0, 0, >0 by SemVer precedence (build metadata ignored). */
int spk_semver_compare(const struct spk_semver *a, const struct spk_semver *b);
static inline int spk_semver_is_release(const struct spk_semver *v)
{
    return v->prerelease[0] == '\0';
}

#endif
