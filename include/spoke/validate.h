/* Input rules of the HTTP contract: module names, file paths, dependency references. */
#ifndef SPOKE_VALIDATE_H
#define SPOKE_VALIDATE_H

#include <stddef.h>

#include "spoke/semver.h"

struct spk_error;

#define SPK_MODULE_NAME_MAX 128
#define SPK_PATH_MAX        512

/* ^[a-z][a-z0-9._-]{0,127}$ */
int spk_validate_module_name(const char *name, struct spk_error *err);
/* Relative, '/'-separated, ends in ".proto", no "." or ".." or empty segments, no leading '/',
 * no backslash, NUL or control characters, valid UTF-8, at most 512 bytes. len is the byte
 * length (so an embedded NUL is caught). */
int spk_validate_path(const char *path, size_t len, struct spk_error *err);
/* A pinned version of a module, "module@version": the one way the tree splits and joins them. */
struct spk_ref {
    char module[SPK_MODULE_NAME_MAX + 1];
    char version[SPK_SEMVER_MAX_LEN + 1];                    /* canonical SemVer */
    char text[SPK_MODULE_NAME_MAX + SPK_SEMVER_MAX_LEN + 2]; /* "module@version", canonical */
};
/* Parses "module@version" (a valid name and a SemVer) into its canonical parts. INVALID
 * otherwise; out is untouched then. */
int spk_ref_parse(const char *ref, struct spk_ref *out, struct spk_error *err);
/* 1 if s[0..len) is well-formed UTF-8. */
int spk_utf8_valid(const char *s, size_t len);

#endif
