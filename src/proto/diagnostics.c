/* protoc's gcc-style diagnostics → structured {file, line, column, message} entries, and their
 * JSON form for 422 replies. */
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/proto.h"
#include "spoke/banned.h"

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Parses ":<digits>" at p; returns the position after the digits or NULL. */
static const char *colon_number(const char *p, const char *end, int *out)
{
    if (p >= end || *p != ':' || p + 1 >= end || !is_digit(p[1]))
        return NULL;
    long v = 0;
    for (p++; p < end && is_digit(*p); p++)
        v = v < 100000000 ? v * 10 + (*p - '0') : v;
    *out = (int)v;
    return p;
}

/* Staged inputs live under src/ (the version) and deps/ (its dependencies): report the paths
 * the push used. */
static char *virtual_path(const char *s, size_t n)
{
    if (n > 4 && memcmp(s, "src/", 4) == 0)
        s += 4, n -= 4;
    else if (n > 5 && memcmp(s, "deps/", 5) == 0)
        s += 5, n -= 5;
    return spk_strndup(s, n);
}

static void add(struct spk_proto_result *out, char *file, int line, int col, const char *msg,
                size_t mlen)
{
    while (mlen && (msg[mlen - 1] == '\r' || msg[mlen - 1] == ' '))
        mlen--;
    out->diags = spk_realloc(out->diags, (out->ndiags + 1) * sizeof(*out->diags));
    out->diags[out->ndiags++] = (struct spk_proto_diag){file, line, col, spk_strndup(msg, mlen)};
}

static int looks_like_path(const char *s, const char *end)
{
    int pathy = 0;
    for (const char *p = s; p < end; p++) {
        if (*p == ' ' || *p == '\t')
            return 0;
        pathy |= *p == '.' || *p == '/';
    }
    return pathy && end > s;
}

static void parse_line(const char *s, const char *end, struct spk_proto_result *out)
{
    /* "file:line:col: message": the first ":<n>:<n>: " after a non-empty file name. */
    for (const char *p = s + 1; p < end; p++) {
        int line = 0, col = 0;
        const char *q = colon_number(p, end, &line);
        const char *r = q ? colon_number(q, end, &col) : NULL;
        if (r && r + 1 < end && r[0] == ':' && r[1] == ' ') {
            const char *msg = r + 2;
            if ((size_t)(end - msg) >= 9 && memcmp(msg, "warning: ", 9) == 0)
                return;
            add(out, virtual_path(s, (size_t)(p - s)), line, col, msg, (size_t)(end - msg));
            return;
        }
    }
    /* "path: message", where path looks like one (has a '.' or '/', no blanks) */
    const char *sep = memchr(s, ':', (size_t)(end - s));
    if (sep && sep + 1 < end && sep[1] == ' ' && looks_like_path(s, sep)) {
        add(out, virtual_path(s, (size_t)(sep - s)), 0, 0, sep + 2, (size_t)(end - sep - 2));
        return;
    }
    if (((size_t)(end - s) >= 9 && memcmp(s, "warning: ", 9) == 0) ||
        ((size_t)(end - s) >= 21 && memcmp(s, "[libprotobuf WARNING ", 21) == 0))
        return;
    add(out, spk_strdup(""), 0, 0, s, (size_t)(end - s));
}

void spk_proto_parse_diagnostics(const char *text, size_t len, size_t max,
                                 struct spk_proto_result *out)
{
    const char *p = text, *end = text + len;
    while (p < end && out->ndiags < max) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (e > p && !(e - p == 1 && *p == '\r'))
            parse_line(p, e, out);
        p = nl ? nl + 1 : end;
    }
    if (out->ndiags)
        out->ok = 0;
}

json_t *spk_proto_details_json(const struct spk_proto_result *r)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < r->ndiags; i++) {
        const struct spk_proto_diag *d = &r->diags[i];
        json_t *o = json_object();
        json_object_set_new(o, "file", json_string(d->file));
        json_object_set_new(o, "line", json_integer(d->line));
        json_object_set_new(o, "column", json_integer(d->column));
        /* protoc quotes the input; invalid UTF-8 cannot reach here (JSON bodies are UTF-8). */
        json_t *m = json_string(d->message);
        json_object_set_new(o, "message", m ? m : json_string("(unprintable message)"));
        json_array_append_new(arr, o);
    }
    return json_pack("{s:o}", "details", arr);
}
