/* Route matching for the HTTP layer: a request path against a table of patterns such as
 * "/modules/{name}/versions/{version}/files/{path...}". Pure string work, no libmicrohttpd.
 *
 * Matching runs on the raw (still percent-encoded) path, segment by segment, so an encoded
 * slash ("%2F") inside a parameter never splits it. Only captured values are decoded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/http.h"

enum seg_kind { SEG_TAIL = 0, SEG_PARAM = 1, SEG_LITERAL = 2 }; /* ordered by specificity */

struct span {
    const char *p;
    size_t len;
};

/* What one pattern captured from the path, before decoding. */
struct capture {
    size_t n;
    struct span names[SPK_HTTP_MAX_PARAMS];
    struct span raw[SPK_HTTP_MAX_PARAMS];
};

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes the escape at s[0..2] ("%XY"); -1 when it is malformed, truncated or a NUL. */
static int escape_value(const char *s, size_t avail)
{
    if (avail < 3)
        return -1;
    int hi = hexval((unsigned char)s[1]), lo = hexval((unsigned char)s[2]);
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
        return -1;
    return hi * 16 + lo;
}

int spk_http_pct_decode(const char *src, size_t len, char **out)
{
    char *dst = spk_malloc(len + 1);
    size_t j = 0;

    for (size_t i = 0; i < len; j++) {
        if (src[i] == '%') {
            int v = escape_value(src + i, len - i);
            if (v < 0)
                goto fail;
            dst[j] = (char)v;
            i += 3;
        } else if (src[i] == '\0') {
            goto fail;
        } else {
            dst[j] = src[i++];
        }
    }
    dst[j] = '\0';
    *out = dst;
    return 0;
fail:
    free(dst);
    *out = NULL;
    return -1;
}

/* Every escape in the path must be well formed and non-NUL, whether or not a route uses it:
 * a malformed path is the client's error (400), not a missing resource. */
static int path_escapes_valid(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] == '%' && escape_value(p + i, len - i) < 0)
            return 0;
    return 1;
}

/* Compares a raw path segment, decoded on the fly, with a literal pattern segment. */
static int segment_equals(const char *raw, size_t rawlen, const char *lit, size_t litlen)
{
    size_t i = 0, j = 0;

    while (i < rawlen && j < litlen) {
        int c;
        if (raw[i] == '%') {
            c = escape_value(raw + i, rawlen - i);
            if (c < 0)
                return 0;
            i += 3;
        } else {
            c = (unsigned char)raw[i++];
        }
        if (c != (unsigned char)lit[j++])
            return 0;
    }
    return i == rawlen && j == litlen;
}

/* Splits off the segment starting at *p (up to '/' or end); *p moves to the separator. */
static struct span next_segment(const char **p, const char *end)
{
    struct span s = {*p, 0};
    const char *slash = memchr(*p, '/', (size_t)(end - *p));
    s.len = (size_t)((slash ? slash : end) - *p);
    *p += s.len;
    return s;
}

static enum seg_kind segment_kind(struct span seg, struct span *name)
{
    if (seg.len >= 2 && seg.p[0] == '{' && seg.p[seg.len - 1] == '}') {
        name->p = seg.p + 1;
        name->len = seg.len - 2;
        if (name->len > 3 && memcmp(name->p + name->len - 3, "...", 3) == 0) {
            name->len -= 3;
            return SEG_TAIL;
        }
        return SEG_PARAM;
    }
    *name = seg;
    return SEG_LITERAL;
}

/* Matches one pattern against path[0..len) (both start with '/'). Parameters never match an
 * empty segment; a tail parameter must be the pattern's last segment and captures a non-empty
 * rest of the path. */
static int pattern_match(const char *pattern, const char *path, size_t len, struct capture *cap)
{
    const char *pp = pattern + 1, *pend = pattern + strlen(pattern);
    const char *xp = path + 1, *xend = path + len;

    cap->n = 0;
    if (pattern[0] != '/')
        return 0;
    for (;;) {
        struct span pseg = next_segment(&pp, pend), name;
        enum seg_kind kind = segment_kind(pseg, &name);

        if (kind == SEG_TAIL) {
            if (pp != pend || xp == xend || cap->n == SPK_HTTP_MAX_PARAMS)
                return 0;
            cap->names[cap->n] = name;
            cap->raw[cap->n++] = (struct span){xp, (size_t)(xend - xp)};
            return 1;
        }
        struct span xseg = next_segment(&xp, xend);
        if (kind == SEG_PARAM) {
            if (xseg.len == 0 || cap->n == SPK_HTTP_MAX_PARAMS)
                return 0;
            cap->names[cap->n] = name;
            cap->raw[cap->n++] = xseg;
        } else if (!segment_equals(xseg.p, xseg.len, name.p, name.len)) {
            return 0;
        }
        if (pp == pend || xp == xend)
            return pp == pend && xp == xend;
        pp++; /* both sit on a '/' */
        xp++;
    }
}

/* > 0 when pattern a is more specific than b: the first segment where their kinds differ
 * decides, literal over parameter over tail. Both matched the same path, so equal kinds all
 * the way means equal shapes. */
static int pattern_cmp(const char *a, const char *b)
{
    const char *ap = a + 1, *aend = a + strlen(a);
    const char *bp = b + 1, *bend = b + strlen(b);

    while (ap <= aend && bp <= bend) {
        struct span an, bn;
        enum seg_kind ak = segment_kind(next_segment(&ap, aend), &an);
        enum seg_kind bk = segment_kind(next_segment(&bp, bend), &bn);
        if (ak != bk)
            return (int)ak - (int)bk;
        ap++;
        bp++;
    }
    return 0;
}

static int method_allows(const char *route_method, const char *method)
{
    return strcmp(route_method, method) == 0 ||
           (strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0);
}

static void allow_add(char *allow, size_t allowsz, const char *method)
{
    size_t used = strlen(allow), mlen = strlen(method);
    size_t need = mlen + (used ? 2 : 0);

    if (used + need + 1 > allowsz)
        return;
    if (used) {
        memcpy(allow + used, ", ", 2);
        used += 2;
    }
    memcpy(allow + used, method, mlen + 1);
}

/* Allow lists the methods of every route whose pattern matched, in a fixed order (the common
 * methods first, then any others in table order), with HEAD wherever GET is. */
static void build_allow(const struct spk_http_route *routes, const unsigned char *matched,
                        size_t nroutes, char *allow, size_t allowsz)
{
    static const char *const order[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    const size_t norder = sizeof(order) / sizeof(order[0]);

    for (size_t k = 0; k < norder; k++) {
        for (size_t i = 0; i < nroutes; i++) {
            if (matched[i] && method_allows(routes[i].method, order[k])) {
                allow_add(allow, allowsz, order[k]);
                break;
            }
        }
    }
    for (size_t i = 0; i < nroutes; i++) {
        if (!matched[i])
            continue;
        int known = 0, seen = 0;
        for (size_t k = 0; k < norder && !known; k++)
            known = strcmp(routes[i].method, order[k]) == 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = matched[j] && strcmp(routes[j].method, routes[i].method) == 0;
        if (!known && !seen)
            allow_add(allow, allowsz, routes[i].method);
    }
}

static int decode_captures(const struct capture *cap, struct spk_http_params *params)
{
    for (size_t i = 0; i < cap->n; i++) {
        char *v;
        if (spk_http_pct_decode(cap->raw[i].p, cap->raw[i].len, &v) != 0)
            return -1;
        params->names[i] = cap->names[i].p;
        params->name_lens[i] = cap->names[i].len;
        params->values[i] = v;
        params->n = i + 1;
    }
    return 0;
}

int spk_http_route_match(const struct spk_http_route *routes, size_t nroutes, const char *method,
                         const char *raw_path, struct spk_http_params *params, int *method_mismatch,
                         char *allow, size_t allowsz)
{
    size_t len = strcspn(raw_path, "?");
    unsigned char *matched = NULL;
    struct capture cap, best_cap = {0};
    int best = -1, best_exact = 0, any_path_match = 0;

    if (params)
        memset(params, 0, sizeof(*params));
    if (method_mismatch)
        *method_mismatch = 0;
    if (allow && allowsz)
        allow[0] = '\0';
    if (len == 0 || raw_path[0] != '/')
        return -1;
    if (!path_escapes_valid(raw_path, len))
        return -2;

    matched = spk_calloc(nroutes ? nroutes : 1, 1);
    for (size_t i = 0; i < nroutes; i++) {
        if (!pattern_match(routes[i].pattern, raw_path, len, &cap))
            continue;
        matched[i] = 1;
        any_path_match = 1;
        if (!method_allows(routes[i].method, method))
            continue;
        /* An exact method row beats GET answering HEAD for the same pattern. */
        int exact = strcmp(routes[i].method, method) == 0;
        int cmp = best < 0 ? 1 : pattern_cmp(routes[i].pattern, routes[best].pattern);
        if (cmp > 0 || (cmp == 0 && exact && !best_exact)) {
            best = (int)i;
            best_exact = exact;
            best_cap = cap;
        }
    }

    if (best < 0 && any_path_match) {
        if (method_mismatch)
            *method_mismatch = 1;
        if (allow && allowsz)
            build_allow(routes, matched, nroutes, allow, allowsz);
    }
    free(matched);

    if (best >= 0 && params && decode_captures(&best_cap, params) != 0) {
        spk_http_params_release(params);
        return -2;
    }
    return best;
}

void spk_http_params_release(struct spk_http_params *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->values[i]);
    memset(p, 0, sizeof(*p));
}
