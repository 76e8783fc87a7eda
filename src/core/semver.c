/* Semantic Versioning 2.0.0 parsing and precedence.
 *
 * pre_key encodes the pre-release so that byte order is SemVer precedence (for SQL ORDER BY with
 * COLLATE "C"): each identifier becomes
 *     numeric:      '0' + its digit count as three digits + the digits   ("7"     -> "0001" "7")
 *     alphanumeric: '1' + the identifier                                  ("alpha" -> "1alpha")
 * joined by ' ', which sorts below every identifier character. Numeric identifiers therefore sort
 * below alphanumeric ones and by value (no leading zeros), alphanumerics sort in ASCII order, and a
 * shorter list of equal identifiers sorts first, exactly as SemVer §11 requires. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spoke/error.h"
#include "spoke/semver.h"
#include "spoke/banned.h"

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_ident_char(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

/* Parses a numeric core component at *p; advances *p. */
static int parse_number(const char **p, int64_t *out)
{
    const char *s = *p;
    if (!is_digit(*s))
        return -1;
    if (s[0] == '0' && is_digit(s[1]))
        return -1; /* leading zero */
    int64_t v = 0;
    while (is_digit(*s)) {
        int d = *s - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return 0;
}

/* Validates dot-separated identifiers in [s, end); numeric ones may not have leading zeros when
 * strict_numeric. Appends the precedence encoding to key when key is not NULL. */
static int parse_idents(const char *s, const char *end, int strict_numeric, char *key, size_t keysz)
{
    size_t klen = 0;
    if (s == end)
        return -1;
    while (s <= end) {
        const char *dot = memchr(s, '.', (size_t)(end - s));
        const char *e = dot ? dot : end;
        size_t n = (size_t)(e - s);
        if (n == 0)
            return -1;
        int numeric = 1;
        for (const char *c = s; c < e; c++) {
            if (!is_ident_char(*c))
                return -1;
            if (!is_digit(*c))
                numeric = 0;
        }
        if (numeric && strict_numeric && n > 1 && s[0] == '0')
            return -1;
        if (key) {
            int w = numeric
                        ? snprintf(key + klen, keysz - klen, "%s0%03zu%.*s", klen ? " " : "", n,
                                   (int)n, s)
                        : snprintf(key + klen, keysz - klen, "%s1%.*s", klen ? " " : "", (int)n, s);
            if (w < 0 || (size_t)w >= keysz - klen)
                return -1;
            klen += (size_t)w;
        }
        if (!dot)
            break;
        s = dot + 1;
    }
    return 0;
}

int spk_semver_parse(const char *s, struct spk_semver *out, struct spk_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!s || !*s)
        return spk_error_set(err, SPK_E_INVALID, "version is required");
    const char *v = s[0] == 'v' ? s + 1 : s;
    size_t len = strlen(v);
    if (len > SPK_SEMVER_MAX_LEN)
        return spk_error_set(err, SPK_E_INVALID, "version is longer than %d characters",
                             SPK_SEMVER_MAX_LEN);

    const char *p = v;
    if (parse_number(&p, &out->major) || *p++ != '.' || parse_number(&p, &out->minor) ||
        *p++ != '.' || parse_number(&p, &out->patch))
        goto bad;

    const char *end = v + len;
    const char *plus = memchr(p, '+', (size_t)(end - p));
    const char *pre_end = plus ? plus : end;
    if (*p == '-') {
        if (parse_idents(p + 1, pre_end, 1, out->pre_key, sizeof(out->pre_key)))
            goto bad;
        memcpy(out->prerelease, p + 1, (size_t)(pre_end - p - 1));
    } else if (p != pre_end) {
        goto bad;
    }
    if (plus) {
        if (parse_idents(plus + 1, end, 0, NULL, 0))
            goto bad;
        memcpy(out->build, plus + 1, (size_t)(end - plus - 1));
    }
    memcpy(out->canonical, v, len);
    return 0;
bad:
    memset(out, 0, sizeof(*out));
    return spk_error_set(err, SPK_E_INVALID,
                         "invalid version \"%.*s\": expected a semantic version like 1.2.3, "
                         "1.2.3-rc.1 or v1.2.3",
                         64, s);
}

static int cmp_i64(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

int spk_semver_compare(const struct spk_semver *a, const struct spk_semver *b)
{
    int c;
    if ((c = cmp_i64(a->major, b->major)) || (c = cmp_i64(a->minor, b->minor)) ||
        (c = cmp_i64(a->patch, b->patch)))
        return c;
    int ra = spk_semver_is_release(a), rb = spk_semver_is_release(b);
    if (ra != rb)
        return ra - rb;
    c = strcmp(a->pre_key, b->pre_key);
    return (c > 0) - (c < 0);
}
