/* Running buf's breaking rules: which rules a configuration turns on, the two sides being
 * compared and the pairs of fields every field rule walks, recording a violation with buf's
 * location semantics, dropping what `ignore` and `ignore_unstable_packages` exclude, and
 * sorting and de-duplicating the result as buf does. The rules themselves live in
 * breaking_*.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evolve_internal.h"
#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/error.h"
#include "spoke/banned.h"

/* ---- which rules run ---- */

static void mark(unsigned char *on, const char *name, unsigned char value)
{
    size_t n;
    const struct spk_evolve_rule *rules = spk_evolve_rules(&n);
    unsigned cat = spk_evolve_category_parse(name);
    for (size_t i = 0; i < n; i++)
        if ((cat && (rules[i].categories & cat)) || (!cat && strcmp(rules[i].id, name) == 0))
            on[i] = value;
}

static void select_rules(const struct spk_evolve_config *cfg, unsigned char *on)
{
    if (!cfg || cfg->nuse == 0)
        mark(on, "FILE", 1);
    else
        for (size_t i = 0; i < cfg->nuse; i++)
            mark(on, cfg->use[i], 1);
    for (size_t i = 0; cfg && i < cfg->nexcept; i++)
        mark(on, cfg->except[i], 0);
}

/* ---- the sides ---- */

static void side_init(struct spk_evolve_side *s, const struct spk_evolve_image *img, int imports)
{
    s->img = img;
    s->files = spk_calloc(img->nfiles ? img->nfiles : 1, sizeof(*s->files));
    for (size_t i = 0; i < img->nfiles; i++) {
        struct spk_evolve_file *f = &img->files[i];
        if (!f->own && !imports)
            continue;
        s->files[s->nfiles++] = f;
        spk_evolve_map_sadd(&s->file_by_path, f->path, f);
        for (size_t k = 0; k < f->nmessages; k++)
            spk_evolve_map_sadd(&s->message_by_name, f->messages[k]->full_name, f->messages[k]);
        for (size_t k = 0; k < f->nenums; k++)
            spk_evolve_map_sadd(&s->enum_by_name, f->enums[k]->full_name, f->enums[k]);
        for (size_t k = 0; k < f->nservices; k++)
            spk_evolve_map_sadd(&s->service_by_name, f->services[k].full_name, &f->services[k]);
    }
}

static void side_release(struct spk_evolve_side *s)
{
    free(s->files);
    spk_evolve_map_release(&s->file_by_path);
    spk_evolve_map_release(&s->message_by_name);
    spk_evolve_map_release(&s->enum_by_name);
    spk_evolve_map_release(&s->service_by_name);
}

static void add_pair(struct spk_evolve_check *c, size_t *cap, const struct spk_evolve_field *o,
                     const struct spk_evolve_field *n)
{
    if (c->nfields == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        c->fields = spk_realloc(c->fields, *cap * sizeof(*c->fields));
    }
    c->fields[c->nfields++] = (struct spk_evolve_field_pair){o, n};
}

/* Enums and messages with the same full name; fields of paired messages by number; then
 * extensions of the same extendee, by number. */
static void pair_fields(struct spk_evolve_check *c)
{
    size_t cap = 0, mcap = 0, ecap = 0;
    for (size_t i = 0; i < c->old.nfiles; i++) {
        const struct spk_evolve_file *f = c->old.files[i];
        for (size_t k = 0; k < f->nenums; k++) {
            const struct spk_evolve_enum *ne =
                spk_evolve_map_sget(&c->new_.enum_by_name, f->enums[k]->full_name);
            if (!ne)
                continue;
            if (c->nenums == ecap) {
                ecap = ecap ? ecap * 2 : 64;
                c->enums = spk_realloc(c->enums, ecap * sizeof(*c->enums));
            }
            c->enums[c->nenums++] = (struct spk_evolve_enum_pair){f->enums[k], ne};
        }
        for (size_t k = 0; k < f->nmessages; k++) {
            const struct spk_evolve_message *om = f->messages[k];
            const struct spk_evolve_message *nm =
                spk_evolve_map_sget(&c->new_.message_by_name, om->full_name);
            if (!nm)
                continue;
            if (c->nmessages == mcap) {
                mcap = mcap ? mcap * 2 : 64;
                c->messages = spk_realloc(c->messages, mcap * sizeof(*c->messages));
            }
            c->messages[c->nmessages++] = (struct spk_evolve_message_pair){om, nm};
            for (size_t j = 0; j < om->nfields; j++) {
                const struct spk_evolve_field *nf =
                    spk_evolve_message_field(nm, om->by_number[j]->number);
                if (nf)
                    add_pair(c, &cap, om->by_number[j], nf);
            }
        }
    }
    struct spk_evolve_map ext = {0};
    struct spk_buf keys = SPK_BUF_INIT;
    char **owned = NULL;
    size_t nowned = 0;
    for (size_t i = 0; i < c->new_.nfiles; i++) {
        const struct spk_evolve_file *f = c->new_.files[i];
        for (size_t k = 0; k < f->nextensions; k++) {
            char *key = spk_asprintf("%s#%d", f->extensions[k]->extendee, f->extensions[k]->number);
            owned = spk_realloc(owned, (nowned + 1) * sizeof(*owned));
            owned[nowned++] = key;
            spk_evolve_map_sadd(&ext, key, f->extensions[k]);
        }
    }
    for (size_t i = 0; i < c->old.nfiles; i++) {
        const struct spk_evolve_file *f = c->old.files[i];
        for (size_t k = 0; k < f->nextensions; k++) {
            spk_buf_reset(&keys);
            spk_buf_printf(&keys, "%s#%d", f->extensions[k]->extendee, f->extensions[k]->number);
            const struct spk_evolve_field *nf = spk_evolve_map_sget(&ext, keys.data);
            if (nf)
                add_pair(c, &cap, f->extensions[k], nf);
        }
    }
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    free(owned);
    spk_buf_release(&keys);
    spk_evolve_map_release(&ext);
}

/* ---- ignores ---- */

/* buf's protoversion: is the last package component a version like v1alpha1, v2beta, v1test? */
static int number_ok(const char *s, size_t n, long min)
{
    if (n == 0)
        return 0;
    size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
    if (i == n || n - i > 10)
        return 0;
    long v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    if (s[0] == '-')
        v = -v;
    return v >= min && v <= 2147483647L;
}

static const char *find_in(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(s + i, needle, k) == 0)
            return s + i;
    return NULL;
}

static int is_unstable_package(const char *pkg)
{
    const char *dot = strrchr(pkg, '.');
    if (!dot)
        return 0;
    const char *c = dot + 1;
    size_t n = strlen(c);
    if (n < 2 || c[0] != 'v')
        return 0;
    const char *v = c + 1;
    size_t vn = n - 1;
    const char *t = find_in(v, vn, "test");
    if (t)
        return number_ok(v, (size_t)(t - v), 1);
    const char *al = find_in(v, vn, "alpha"), *be = find_in(v, vn, "beta");
    if ((al && be) || (!al && !be))
        return 0;
    const char *at = al ? al : be;
    size_t wlen = al ? 5 : 4;
    const char *minor = at + wlen;
    size_t mlen = vn - (size_t)(minor - v);
    if (mlen && !number_ok(minor, mlen, 1))
        return 0;
    size_t majlen = (size_t)(at - v);
    const char *p = memchr(v, 'p', majlen);
    if (p)
        return number_ok(v, (size_t)(p - v), 1) &&
               number_ok(p + 1, majlen - (size_t)(p - v) - 1, 1);
    return number_ok(v, majlen, 1);
}

static int path_covers(const char *ignore, const char *path)
{
    size_t n = strlen(ignore);
    while (n > 1 && ignore[n - 1] == '/')
        n--;
    return strncmp(ignore, path, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static int ignored_file(const struct spk_evolve_check *c, const struct spk_evolve_file *f)
{
    if (!f || !c->cfg)
        return 0;
    for (size_t i = 0; i < c->cfg->nignore; i++)
        if (path_covers(c->cfg->ignore[i], f->path))
            return 1;
    return c->cfg->ignore_unstable_packages && is_unstable_package(f->package);
}

/* ---- recording ---- */

void spk_evolve_emit(struct spk_evolve_check *c, struct spk_evolve_where at,
                     const struct spk_evolve_file *fallback, struct spk_evolve_where against,
                     const char *old_value, const char *new_value, const char *fmt, ...)
{
    const struct spk_evolve_file *file = at.loc ? at.file : fallback;
    if (ignored_file(c, file))
        return;
    if ((against.loc || against.named) && ignored_file(c, against.file))
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = spk_vasprintf(fmt, ap);
    va_end(ap);
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->v = spk_realloc(c->v, c->cap * sizeof(*c->v));
    }
    struct spk_evolve_violation *v = &c->v[c->n++];
    *v = (struct spk_evolve_violation){c->rule->id,
                                       c->rule->categories,
                                       spk_strdup(file ? file->path : ""),
                                       0,
                                       0,
                                       msg,
                                       old_value ? spk_strdup(old_value) : NULL,
                                       new_value ? spk_strdup(new_value) : NULL};
    if (at.loc && at.loc->n_span >= 3) {
        v->line = at.loc->span[0] + 1;
        v->column = at.loc->span[1] + 1 - (at.shift < at.loc->span[1] ? at.shift : 0);
    } else if (file && file->has_source_info) {
        v->line = v->column = 1; /* buf's position for an element with no location */
    }
}

struct spk_evolve_where spk_evolve_nowhere(void)
{
    return (struct spk_evolve_where){NULL, NULL, 0, 0};
}

struct spk_evolve_where spk_evolve_at(const struct spk_evolve_file *f,
                                      const struct spk_evolve_path *base, size_t nsuffix,
                                      const int32_t *suffix)
{
    return (struct spk_evolve_where){f, spk_evolve_file_loc(f, base, nsuffix, suffix), 0, 0};
}

struct spk_evolve_where spk_evolve_or(struct spk_evolve_where a, struct spk_evolve_where b)
{
    return a.loc ? a : b;
}

struct spk_evolve_where spk_evolve_message_where(const struct spk_evolve_message *m)
{
    struct spk_evolve_where w = spk_evolve_at(m->file, &m->path, 0, NULL);
    if (w.loc || !m->map_entry || !m->parent || !m->file->has_source_info)
        return w;
    /* A synthetic map entry is reported at the type of its map field. */
    for (size_t i = 0; i < m->parent->nfields; i++) {
        const struct spk_evolve_field *f = &m->parent->fields[i];
        if (strcmp(f->type_name, m->full_name) == 0)
            return spk_evolve_field_where(f, 6);
    }
    return w;
}

struct spk_evolve_where spk_evolve_field_where(const struct spk_evolve_field *f, int32_t suffix)
{
    /* buf's compiler puts a group's type name at the `group` keyword, where protoc records the
     * type (5) and puts the type name (6) at the group's name. */
    if (suffix == 6 && f->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_GROUP) {
        static const int32_t type_path[] = {5};
        struct spk_evolve_where g = spk_evolve_at(f->file, &f->path, 1, type_path);
        if (g.loc)
            return g;
    }
    struct spk_evolve_where w = suffix < 0 ? spk_evolve_at(f->file, &f->path, 0, NULL)
                                           : spk_evolve_at(f->file, &f->path, 1, &suffix);
    if (!w.loc && (suffix < 0 || suffix == 1 || suffix == 5 || suffix == 6) && f->msg &&
        f->msg->map_entry)
        return spk_evolve_message_where(f->msg);
    return w;
}

struct spk_evolve_where spk_evolve_enum_where(const struct spk_evolve_enum *e)
{
    return spk_evolve_at(e->file, &e->path, 0, NULL);
}

struct spk_evolve_where spk_evolve_deleted_where(const struct spk_evolve_file *f,
                                                 const char *nested)
{
    size_t len = strlen(nested);
    char *buf = spk_strndup(nested, len);
    struct spk_evolve_where w = {f, NULL, 0, 0};
    for (size_t i = len; i > 0; i--) {
        if (buf[i - 1] != '.')
            continue;
        buf[i - 1] = '\0';
        const struct spk_evolve_message *m = spk_evolve_map_sget(&f->message_by_nested, buf);
        if (m) {
            w = spk_evolve_message_where(m);
            break;
        }
    }
    free(buf);
    return w;
}

/* Go's strconv.Quote, near enough: printable ASCII and valid UTF-8 pass, the rest is escaped. */
char *spk_evolve_quote(const char *s)
{
    struct spk_buf b = SPK_BUF_INIT;
    spk_buf_puts(&b, "\"");
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned char ch = *p;
        static const char esc[] = "\a\b\f\n\r\t\v";
        static const char letters[] = "abfnrtv";
        const char *e = ch ? strchr(esc, ch) : NULL;
        if (ch == '"' || ch == '\\') {
            spk_buf_printf(&b, "\\%c", ch);
            p++;
        } else if (e) {
            spk_buf_printf(&b, "\\%c", letters[e - esc]);
            p++;
        } else if (ch < 0x20 || ch == 0x7f) {
            spk_buf_printf(&b, "\\x%02x", ch);
            p++;
        } else if (ch < 0x80) {
            spk_buf_append(&b, p, 1);
            p++;
        } else {
            size_t n = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : ch >= 0xc0 ? 2 : 0;
            size_t ok = n > 1;
            for (size_t i = 1; ok && i < n; i++)
                ok = (p[i] & 0xc0) == 0x80;
            if (ok) {
                spk_buf_append(&b, p, n);
                p += n;
            } else {
                spk_buf_printf(&b, "\\x%02x", ch);
                p++;
            }
        }
    }
    spk_buf_puts(&b, "\"");
    return spk_buf_detach(&b, NULL);
}

/* ---- results ---- */

static int cmp_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

static int cmp_violation(const void *pa, const void *pb)
{
    const struct spk_evolve_violation *a = pa, *b = pb;
    int c = cmp_str(a->file, b->file);
    if (c)
        return c;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->column != b->column)
        return a->column < b->column ? -1 : 1;
    if ((c = cmp_str(a->rule, b->rule)))
        return c;
    return cmp_str(a->message, b->message);
}

static void violation_release(struct spk_evolve_violation *v)
{
    free(v->file);
    free(v->message);
    free(v->old_value);
    free(v->new_value);
}

void spk_evolve_result_sort(struct spk_evolve_result *r)
{
    if (r->n > 1)
        qsort(r->v, r->n, sizeof(*r->v), cmp_violation);
    size_t w = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (w && cmp_violation(&r->v[w - 1], &r->v[i]) == 0) {
            violation_release(&r->v[i]);
            continue;
        }
        r->v[w++] = r->v[i];
    }
    r->n = w;
}

void spk_evolve_result_release(struct spk_evolve_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        violation_release(&r->v[i]);
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

int spk_evolve_check(const struct spk_evolve_image *old, const struct spk_evolve_image *new_,
                     const struct spk_evolve_config *cfg, struct spk_evolve_result *out,
                     struct spk_error *err)
{
    *out = (struct spk_evolve_result){NULL, 0};
    if (spk_evolve_config_validate(cfg, err))
        return -1;
    size_t nrules;
    const struct spk_evolve_rule *rules = spk_evolve_rules(&nrules);
    unsigned char on[128] = {0};
    select_rules(cfg, on);
    int imports = 0;
    struct spk_evolve_check c = {.cfg = cfg};
    side_init(&c.old, old, imports);
    side_init(&c.new_, new_, imports);
    pair_fields(&c);
    for (size_t i = 0; i < nrules; i++) {
        if (!on[i])
            continue;
        c.rule = &rules[i];
        spk_evolve_rule_impl(i)(&c);
    }
    out->v = c.v;
    out->n = c.n;
    spk_evolve_result_sort(out);
    free(c.fields);
    free(c.messages);
    free(c.enums);
    side_release(&c.old);
    side_release(&c.new_);
    return 0;
}
