/* Field default values as protoreflect reports them (explicit defaults, else the zero value,
 * else for enums the first value), compared and printed the way buf's FIELD_SAME_DEFAULT does:
 * strings and bytes by content, every numeric kind (bools and enums included) by exact value,
 * float against double at float precision, and Go's %v for the message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evolve_internal.h"
#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/banned.h"

#define T(x) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_##x

int spk_evolve_field_can_have_default(const struct spk_evolve_field *f)
{
    int kind = spk_evolve_field_kind(f);
    return !spk_evolve_field_is_list(f) && !spk_evolve_field_is_map(f) && kind != T(MESSAGE) &&
           kind != T(GROUP);
}

/* protoc writes bytes defaults C-escaped. */
static char *unescape(const char *s, size_t *len)
{
    struct spk_buf b = SPK_BUF_INIT;
    for (const char *p = s; *p;) {
        if (*p != '\\' || !p[1]) {
            spk_buf_append(&b, p++, 1);
            continue;
        }
        p++;
        char ch = *p;
        static const char from[] = "abfnrtv\\'\"?", to[] = "\a\b\f\n\r\t\v\\'\"?";
        const char *e = strchr(from, ch);
        if (ch >= '0' && ch <= '7') {
            int v = 0;
            for (int i = 0; i < 3 && *p >= '0' && *p <= '7'; i++)
                v = v * 8 + (*p++ - '0');
            char out = (char)v;
            spk_buf_append(&b, &out, 1);
        } else if (ch == 'x' || ch == 'X') {
            p++;
            int v = 0;
            for (int i = 0; i < 2 && strchr("0123456789abcdefABCDEF", *p) && *p; i++, p++)
                v = v * 16 + (*p <= '9' ? *p - '0' : (*p | 0x20) - 'a' + 10);
            char out = (char)v;
            spk_buf_append(&b, &out, 1);
        } else {
            spk_buf_append(&b, e ? &to[e - from] : p, 1);
            p++;
        }
    }
    if (!b.data)
        spk_buf_puts(&b, "");
    return spk_buf_detach(&b, len);
}

/* Go's strconv.FormatFloat(v, 'g', -1, bits): the shortest digits that read back as v, in %e
 * form when the exponent is < -4 or >= 6 (shortest %v uses 6 for that decision). */
static char *go_float(double v, int bits)
{
    if (isnan(v))
        return spk_strdup("NaN");
    if (isinf(v))
        return spk_strdup(v > 0 ? "+Inf" : "-Inf");
    char e[64];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof(e), "%.*e", p - 1, v);
        double back = strtod(e, NULL);
        if (bits == 32 ? (float)back == (float)v : back == v)
            break;
    }
    /* e = [-]d[.ddd]e±XX */
    int neg = e[0] == '-';
    char digits[32];
    size_t nd = 0;
    const char *p = e + neg;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && nd < sizeof(digits) - 1)
            digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    struct spk_buf b = SPK_BUF_INIT;
    if (neg)
        spk_buf_puts(&b, "-");
    if (v == 0) {
        spk_buf_puts(&b, "0");
    } else if (exp < -4 || exp >= 6) {
        spk_buf_append(&b, digits, 1);
        if (nd > 1) {
            spk_buf_puts(&b, ".");
            spk_buf_puts(&b, digits + 1);
        }
        spk_buf_printf(&b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        spk_buf_puts(&b, "0.");
        for (int i = -1; i > exp; i--)
            spk_buf_puts(&b, "0");
        spk_buf_puts(&b, digits);
    } else {
        for (int i = 0; i <= exp; i++)
            spk_buf_append(&b, (size_t)i < nd ? &digits[i] : "0", 1);
        if ((size_t)exp + 1 < nd) {
            spk_buf_puts(&b, ".");
            spk_buf_puts(&b, digits + exp + 1);
        }
    }
    return spk_buf_detach(&b, NULL);
}

static const struct spk_evolve_value *value_numbered(const struct spk_evolve_enum *e, int32_t n)
{
    for (size_t i = 0; i < e->nvalues; i++)
        if (e->values[i].number == n)
            return &e->values[i];
    return NULL;
}

void spk_evolve_default_get(const struct spk_evolve_field *f, int printable,
                            struct spk_evolve_default *out)
{
    *out = (struct spk_evolve_default){0};
    const char *text = f->d->default_value;
    int kind = spk_evolve_field_kind(f);
    switch (kind) {
    case T(STRING):
    case T(BYTES): {
        out->kind = 's';
        if (!text && !printable) {
            out->bytes = NULL; /* empty; nothing to own */
            return;
        }
        if (kind == T(STRING)) {
            out->bytes = spk_strdup(text ? text : "");
            out->len = strlen(out->bytes);
            out->printable = printable ? spk_evolve_quote(out->bytes) : NULL;
        } else {
            out->bytes = unescape(text ? text : "", &out->len);
            if (!printable)
                return;
            struct spk_buf b = SPK_BUF_INIT;
            spk_buf_puts(&b, "[");
            for (size_t i = 0; i < out->len; i++)
                spk_buf_printf(&b, "%s0x%X", i ? "," : "", (unsigned char)out->bytes[i]);
            spk_buf_puts(&b, "]");
            out->printable = spk_buf_detach(&b, NULL);
        }
        return;
    }
    case T(ENUM): {
        out->kind = 'n';
        const struct spk_evolve_enum *e = f->type_enum;
        const struct spk_evolve_value *v = NULL;
        if (e && text) {
            for (size_t i = 0; i < e->nvalues && !v; i++)
                if (strcmp(e->values[i].name, text) == 0)
                    v = &e->values[i];
        } else if (e && e->nvalues) {
            v = &e->values[0];
        }
        out->i = v ? v->number : 0;
        if (!printable)
            return;
        const struct spk_evolve_value *named = e ? value_numbered(e, (int32_t)out->i) : NULL;
        out->printable = named ? spk_asprintf("%s.%s", e->name, named->name)
                               : spk_asprintf("%s.%lld(?)", e ? e->name : "", (long long)out->i);
        return;
    }
    case T(FLOAT):
    case T(DOUBLE):
        out->kind = 'n';
        out->is_float = kind == T(FLOAT);
        out->is_double = kind == T(DOUBLE);
        out->d = text ? (out->is_float ? (double)strtof(text, NULL) : strtod(text, NULL)) : 0.0;
        out->is_nan = isnan(out->d);
        out->printable = printable ? go_float(out->d, out->is_float ? 32 : 64) : NULL;
        return;
    case T(BOOL):
        out->kind = 'n';
        out->i = text && strcmp(text, "true") == 0;
        out->printable = printable ? spk_strdup(out->i ? "true" : "false") : NULL;
        return;
    case T(UINT32):
    case T(UINT64):
    case T(FIXED32):
    case T(FIXED64):
        out->kind = 'n';
        out->is_unsigned = 1;
        out->u = text ? strtoull(text, NULL, 0) : 0;
        out->printable = printable ? spk_asprintf("%llu", (unsigned long long)out->u) : NULL;
        return;
    default:
        out->kind = 'n';
        out->i = text ? strtoll(text, NULL, 0) : 0;
        out->printable = printable ? spk_asprintf("%lld", (long long)out->i) : NULL;
        return;
    }
}

int spk_evolve_default_is_zero(const struct spk_evolve_default *d)
{
    if (d->kind == 's')
        return d->len == 0;
    if (d->is_float || d->is_double)
        return d->d == 0 && !signbit(d->d);
    return d->is_unsigned ? d->u == 0 : d->i == 0;
}

static long double as_number(const struct spk_evolve_default *d)
{
    if (d->is_float || d->is_double)
        return (long double)d->d;
    return d->is_unsigned ? (long double)d->u : (long double)d->i;
}

int spk_evolve_default_equal(const struct spk_evolve_default *a, const struct spk_evolve_default *b)
{
    if (a->kind == 's' || b->kind == 's')
        return a->kind == b->kind && a->len == b->len &&
               (a->len == 0 || memcmp(a->bytes, b->bytes, a->len) == 0);
    if ((a->is_float && b->is_double) || (a->is_double && b->is_float))
        return (a->is_nan && b->is_nan) || (float)a->d == (float)b->d;
    if (a->is_nan || b->is_nan)
        return a->is_nan && b->is_nan;
    if (!a->is_float && !a->is_double && !b->is_float && !b->is_double) {
        __int128 x = a->is_unsigned ? (__int128)a->u : (__int128)a->i;
        __int128 y = b->is_unsigned ? (__int128)b->u : (__int128)b->i;
        return x == y;
    }
    return as_number(a) == as_number(b);
}

void spk_evolve_default_release(struct spk_evolve_default *d)
{
    if (!d)
        return;
    free(d->bytes);
    free(d->printable);
    d->bytes = d->printable = NULL;
}
