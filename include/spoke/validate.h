/* Input rules of the HTTP contract: module names, file paths, dependency references. */
#ifndef SPOKE_VALIDATE_H
#define SPOKE_VALIDATE_H

#include <stddef.h>

struct spk_error;

#define SPK_MODULE_NAME_MAX 128
#define SPK_PATH_MAX        512

/* ^[a-z][a-z0-9._-]{0,127}$ */
int spk_validate_module_name(const char *name, struct spk_error *err);
/* Relative, '/'-separated, ends in ".proto", no "." or ".." or empty segments, no leading '/',
 * no backslash, NUL or control characters, valid UTF-8, at most 512 bytes. len is the byte
 * length (so an embedded NUL is caught). */
int spk_validate_path(const char *path, size_t len, struct spk_error *err);
/* "module@version" with a valid name and SemVer; writes the canonical form "name@canonical"
 * into out (size at least SPK_MODULE_NAME_MAX + SPK_SEMVER_MAX_LEN + 2). */
int spk_validate_dependency(const char *ref, char *out, size_t outsz, struct spk_error *err);
/* 1 if s[0..len) is well-formed UTF-8. */
int spk_utf8_valid(const char *s, size_t len);

#endif
