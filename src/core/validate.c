/* Input rules of the HTTP contract: module names, file paths and dependency references. The
 * messages are shown to clients, so they say what is wrong and what is expected. */
#include <stdio.h>
#include <string.h>

#include "spoke/error.h"
#include "spoke/semver.h"
#include "spoke/validate.h"
#include "spoke/banned.h"

int spk_validate_module_name(const char *name, struct spk_error *err)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0)
        return spk_error_set(err, SPK_E_INVALID, "module name is required");
    if (n > SPK_MODULE_NAME_MAX)
        return spk_error_set(err, SPK_E_INVALID, "module name is longer than %d characters",
                             SPK_MODULE_NAME_MAX);
    int ok = name[0] >= 'a' && name[0] <= 'z';
    for (size_t i = 1; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    }
    if (!ok)
        return spk_error_set(err, SPK_E_INVALID,
                             "invalid module name: must match ^[a-z][a-z0-9._-]{0,127}$");
    return 0;
}

int spk_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        size_t n;
        unsigned min;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        if ((size_t)(end - p) <= n)
            return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            c = (c << 6) | (p[i] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
            return 0;
        p += n + 1;
    }
    return 1;
}

int spk_validate_path(const char *path, size_t len, struct spk_error *err)
{
    static const char ext[] = ".proto";
    if (!path || len == 0)
        return spk_error_set(err, SPK_E_INVALID, "file path is required");
    if (len > SPK_PATH_MAX)
        return spk_error_set(err, SPK_E_INVALID, "file path is longer than %d bytes", SPK_PATH_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '\0')
            return spk_error_set(err, SPK_E_INVALID, "file path contains a NUL byte");
        if (c == '\\')
            return spk_error_set(err, SPK_E_INVALID,
                                 "file path \"%.200s\" contains a backslash; use '/'", path);
        if (c < 0x20 || c == 0x7F)
            return spk_error_set(err, SPK_E_INVALID, "file path contains a control character");
    }
    if (!spk_utf8_valid(path, len))
        return spk_error_set(err, SPK_E_INVALID, "file path is not valid UTF-8");
    if (path[0] == '/')
        return spk_error_set(err, SPK_E_INVALID, "file path \"%.200s\" must be relative", path);
    if (len < sizeof(ext) || memcmp(path + len - (sizeof(ext) - 1), ext, sizeof(ext) - 1) != 0)
        return spk_error_set(err, SPK_E_INVALID, "file path \"%.200s\" must end in .proto", path);
    const char *seg = path, *end = path + len;
    while (seg <= end) {
        const char *slash = memchr(seg, '/', (size_t)(end - seg));
        const char *e = slash ? slash : end;
        size_t n = (size_t)(e - seg);
        if (n == 0)
            return spk_error_set(err, SPK_E_INVALID, "file path \"%.200s\" has an empty segment",
                                 path);
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return spk_error_set(err, SPK_E_INVALID,
                                 "file path \"%.200s\" may not contain '.' or '..' segments", path);
        if (!slash)
            break;
        seg = slash + 1;
    }
    return 0;
}

int spk_ref_parse(const char *ref, struct spk_ref *out, struct spk_error *err)
{
    const char *at = ref ? strrchr(ref, '@') : NULL;
    if (!at || at == ref)
        return spk_error_set(err, SPK_E_INVALID,
                             "invalid dependency \"%.200s\": expected module@version",
                             ref ? ref : "");
    size_t n = (size_t)(at - ref);
    if (n > SPK_MODULE_NAME_MAX)
        return spk_error_set(err, SPK_E_INVALID, "invalid dependency \"%.200s\": bad module name",
                             ref);
    struct spk_ref r;
    memcpy(r.module, ref, n);
    r.module[n] = '\0';
    struct spk_semver v;
    if (spk_validate_module_name(r.module, NULL) || spk_semver_parse(at + 1, &v, NULL))
        return spk_error_set(err, SPK_E_INVALID,
                             "invalid dependency \"%.200s\": expected module@version with a "
                             "pinned semantic version",
                             ref);
    memcpy(r.version, v.canonical, sizeof(r.version));
    snprintf(r.text, sizeof(r.text), "%s@%s", r.module, r.version);
    *out = r;
    return 0;
}
