/* buf's enum rules: enums deleted from a file, enum values deleted (outright, or without their
 * number or name reserved), values renamed, reserved ranges and names dropped, and an enum's
 * open/closed semantics or JSON support changed. Enums pair by full name, values by number
 * (several names may share one with allow_alias). */
#include <stdlib.h>
#include <string.h>

#include "evolve_internal.h"
#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/banned.h"

#define ENUM_MAX 2147483647LL

typedef void (*enum_pair_fn)(struct spk_evolve_check *c, const struct spk_evolve_enum *oe,
                             const struct spk_evolve_enum *ne);

static void each_enum_pair(struct spk_evolve_check *c, enum_pair_fn fn)
{
    for (size_t i = 0; i < c->nenums; i++)
        fn(c, c->enums[i].old, c->enums[i].new_);
}

SPK_EVOLVE_RULE_FN(enum_no_delete)
{
    for (size_t i = 0; i < c->old.nfiles; i++) {
        const struct spk_evolve_file *of = c->old.files[i];
        const struct spk_evolve_file *nf = spk_evolve_map_sget(&c->new_.file_by_path, of->path);
        if (!nf)
            continue;
        for (size_t k = 0; k < of->nenums; k++) {
            const char *nested = of->enums[k]->nested_name;
            if (spk_evolve_map_sget(&nf->enum_by_nested, nested))
                continue;
            char *q = spk_evolve_quote(nested);
            spk_evolve_emit(c, spk_evolve_deleted_where(nf, nested), nf,
                            spk_evolve_enum_where(of->enums[k]), NULL, NULL,
                            "Previously present enum %s was deleted from file.", q);
            free(q);
        }
    }
}

static struct spk_evolve_where feature_where(const struct spk_evolve_enum *e, int32_t feature)
{
    const int32_t path[] = {3, 7, feature};
    struct spk_evolve_where w = {
        e->file, spk_evolve_file_option_loc(e->file, &e->path, 3, path, e->path.n + 2), 0, 0};
    return spk_evolve_or(w, spk_evolve_enum_where(e));
}

static void same_type_pair(struct spk_evolve_check *c, const struct spk_evolve_enum *oe,
                           const struct spk_evolve_enum *ne)
{
    int was = oe->features.enum_type == EV_ENUM_CLOSED,
        is = ne->features.enum_type == EV_ENUM_CLOSED;
    if (was == is)
        return;
    const char *a = was ? "closed" : "open", *b = is ? "closed" : "open";
    char *q = spk_evolve_quote(ne->name);
    spk_evolve_emit(c, feature_where(ne, 2), ne->file, feature_where(oe, 2), a, b,
                    "Enum %s changed from %s to %s.", q, a, b);
    free(q);
}

SPK_EVOLVE_RULE_FN(enum_same_type)
{
    each_enum_pair(c, same_type_pair);
}

static void json_format_pair(struct spk_evolve_check *c, const struct spk_evolve_enum *oe,
                             const struct spk_evolve_enum *ne)
{
    if (oe->features.json_format != EV_JSON_ALLOW || ne->features.json_format == EV_JSON_ALLOW)
        return;
    const char *a = spk_evolve_json_format_name(oe->features.json_format);
    const char *b = spk_evolve_json_format_name(ne->features.json_format);
    char *q = spk_evolve_quote(ne->name);
    spk_evolve_emit(c, feature_where(ne, 6), ne->file, feature_where(oe, 6), a, b,
                    "Enum %s JSON format support changed from %s to %s.", q, a, b);
    free(q);
}

SPK_EVOLVE_RULE_FN(enum_same_json_format)
{
    each_enum_pair(c, json_format_pair);
}

/* ---- values ---- */

static int has_number(const struct spk_evolve_enum *e, int32_t number)
{
    for (size_t i = 0; i < e->nvalues; i++)
        if (e->values[i].number == number)
            return 1;
    return 0;
}

static int first_with_number(const struct spk_evolve_enum *e, size_t i)
{
    for (size_t k = 0; k < i; k++)
        if (e->values[k].number == e->values[i].number)
            return 0;
    return 1;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names of e's values numbered number, sorted; returns how many. */
static size_t names_of(const struct spk_evolve_enum *e, int32_t number, const char ***out)
{
    size_t n = 0;
    *out = spk_malloc((e->nvalues ? e->nvalues : 1) * sizeof(**out));
    for (size_t i = 0; i < e->nvalues; i++)
        if (e->values[i].number == number)
            (*out)[n++] = e->values[i].name;
    qsort(*out, n, sizeof(**out), cmp_names);
    return n;
}

static char *quoted_list(const char **names, size_t n)
{
    struct spk_buf b = SPK_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        char *q = spk_evolve_quote(names[i]);
        spk_buf_printf(&b, "%s%s", i ? ", " : "", q);
        free(q);
    }
    if (!b.data)
        spk_buf_puts(&b, "");
    return spk_buf_detach(&b, NULL);
}

static int reserved_enum_number(const struct spk_evolve_enum *e, int32_t n)
{
    for (size_t i = 0; i < e->d->n_reserved_range; i++)
        if (n >= e->d->reserved_range[i]->start && n <= e->d->reserved_range[i]->end)
            return 1;
    return 0;
}

static int reserved_enum_name(const struct spk_evolve_enum *e, const char *name)
{
    for (size_t i = 0; i < e->d->n_reserved_name; i++)
        if (strcmp(e->d->reserved_name[i], name) == 0)
            return 1;
    return 0;
}

enum delete_mode { DELETE_NEVER, DELETE_UNLESS_NUMBER, DELETE_UNLESS_NAME };

static void value_deletes(struct spk_evolve_check *c, const struct spk_evolve_enum *oe,
                          const struct spk_evolve_enum *ne, enum delete_mode mode)
{
    for (size_t i = 0; i < oe->nvalues; i++) {
        int32_t number = oe->values[i].number;
        if (!first_with_number(oe, i) || has_number(ne, number))
            continue;
        const char **names;
        size_t n = names_of(oe, number, &names);
        int allowed = 0;
        if (mode == DELETE_UNLESS_NUMBER)
            allowed = reserved_enum_number(ne, number);
        if (mode == DELETE_UNLESS_NAME) {
            allowed = 1;
            for (size_t k = 0; k < n; k++)
                allowed = allowed && reserved_enum_name(ne, names[k]);
        }
        if (!allowed) {
            char *list = quoted_list(names, n);
            char *suffix =
                mode == DELETE_UNLESS_NUMBER
                    ? spk_asprintf(" without reserving the number \"%d\"", number)
                : mode == DELETE_UNLESS_NAME
                    ? spk_asprintf(" without reserving the name%s %s", n > 1 ? "s" : "", list)
                    : spk_strdup("");
            char *q = spk_evolve_quote(ne->name);
            spk_evolve_emit(c, spk_evolve_enum_where(ne), ne->file, spk_evolve_enum_where(oe), NULL,
                            NULL, "Previously present enum value \"%d\" on enum %s was deleted%s.",
                            number, q, suffix);
            free(q);
            free(suffix);
            free(list);
        }
        free(names);
    }
}

static void values_never(struct spk_evolve_check *c, const struct spk_evolve_enum *oe,
                         const struct spk_evolve_enum *ne)
{
    value_deletes(c, oe, ne, DELETE_NEVER);
}

static void values_unless_number(struct spk_evolve_check *c, const struct spk_evolve_enum *oe,
                                 const struct spk_evolve_enum *ne)
{
    value_deletes(c, oe, ne, DELETE_UNLESS_NUMBER);
}

static void values_unless_name(struct spk_evolve_check *c, const struct spk_evolve_enum *oe,
                               const struct spk_evolve_enum *ne)
{
    value_deletes(c, oe, ne, DELETE_UNLESS_NAME);
}

SPK_EVOLVE_RULE_FN(enum_value_no_delete)
{
    each_enum_pair(c, values_never);
}

SPK_EVOLVE_RULE_FN(enum_value_no_delete_unless_number_reserved)
{
    each_enum_pair(c, values_unless_number);
}

SPK_EVOLVE_RULE_FN(enum_value_no_delete_unless_name_reserved)
{
    each_enum_pair(c, values_unless_name);
}

static int contains(const char **names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

/* 1 when name is the one and only name of number in e. */
static int only_name(const struct spk_evolve_enum *e, int32_t number, const char *name)
{
    int seen = 0;
    for (size_t i = 0; i < e->nvalues; i++)
        if (e->values[i].number == number) {
            if (seen || strcmp(e->values[i].name, name) != 0)
                return 0;
            seen = 1;
        }
    return seen;
}

/* A number keeps all its names (it may gain aliases). */
static void same_name_pair(struct spk_evolve_check *c, const struct spk_evolve_enum *oe,
                           const struct spk_evolve_enum *ne)
{
    static const int32_t number_path[] = {2};
    for (size_t i = 0; i < oe->nvalues; i++) {
        int32_t number = oe->values[i].number;
        if (!first_with_number(oe, i) || !has_number(ne, number))
            continue;
        if (only_name(oe, number, oe->values[i].name) && only_name(ne, number, oe->values[i].name))
            continue; /* the common case: one name, unchanged */
        const char **was, **is;
        size_t nwas = names_of(oe, number, &was), nis = names_of(ne, number, &is);
        /* buf: every old name must still be there; new aliases may join */
        int subset = 1;
        for (size_t k = 0; k < nwas && subset; k++)
            subset = contains(is, nis, was[k]);
        if (!subset) {
            char *a = quoted_list(was, nwas), *b = quoted_list(is, nis);
            char *q = spk_evolve_quote(ne->name);
            for (size_t k = 0; k < ne->nvalues; k++) {
                const struct spk_evolve_value *v = &ne->values[k];
                if (v->number != number)
                    continue;
                struct spk_evolve_where against = spk_evolve_nowhere();
                for (size_t j = 0; j < oe->nvalues; j++)
                    if (oe->values[j].number == number && strcmp(oe->values[j].name, v->name) == 0)
                        against = spk_evolve_at(oe->file, &oe->values[j].path, 1, number_path);
                spk_evolve_emit(c, spk_evolve_at(ne->file, &v->path, 1, number_path), ne->file,
                                against, was[0], v->name,
                                "Enum value \"%d\" on enum %s changed name%s from %s to %s.",
                                number, q, nwas > 1 && nis > 1 ? "s" : "", a, b);
            }
            free(q);
            free(a);
            free(b);
        }
        free(was);
        free(is);
    }
}

SPK_EVOLVE_RULE_FN(enum_value_same_name)
{
    each_enum_pair(c, same_name_pair);
}

/* ---- reserved ---- */

static void reserved_pair(struct spk_evolve_check *c, const struct spk_evolve_enum *oe,
                          const struct spk_evolve_enum *ne)
{
    size_t nn = ne->d->n_reserved_range;
    struct spk_evolve_range *have = spk_malloc((nn ? nn : 1) * sizeof(*have));
    for (size_t i = 0; i < nn; i++)
        have[i] = (struct spk_evolve_range){ne->d->reserved_range[i]->start,
                                            ne->d->reserved_range[i]->end};
    char *qe = spk_evolve_quote(ne->name);
    for (size_t i = 0; i < oe->d->n_reserved_range; i++) {
        struct spk_evolve_range r = {oe->d->reserved_range[i]->start,
                                     oe->d->reserved_range[i]->end};
        char *missing = spk_evolve_range_missing(r, have, nn, ENUM_MAX);
        if (!missing)
            continue;
        char *was = spk_evolve_range_string(r, ENUM_MAX), *qw = spk_evolve_quote(was);
        spk_evolve_emit(c, spk_evolve_enum_where(ne), ne->file, spk_evolve_enum_where(oe), NULL,
                        NULL,
                        "Previously present reserved range %s on enum %s is missing values: %s "
                        "were removed.",
                        qw, qe, missing);
        free(qw);
        free(was);
        free(missing);
    }
    for (size_t i = 0; i < oe->d->n_reserved_name; i++) {
        const char *name = oe->d->reserved_name[i];
        int dup = 0;
        for (size_t k = 0; k < i && !dup; k++)
            dup = strcmp(oe->d->reserved_name[k], name) == 0;
        if (dup || reserved_enum_name(ne, name))
            continue;
        char *qn = spk_evolve_quote(name);
        spk_evolve_emit(c, spk_evolve_enum_where(ne), ne->file, spk_evolve_enum_where(oe), NULL,
                        NULL, "Previously present reserved name %s on enum %s was deleted.", qn,
                        qe);
        free(qn);
    }
    free(qe);
    free(have);
}

SPK_EVOLVE_RULE_FN(reserved_enum_no_delete)
{
    each_enum_pair(c, reserved_pair);
}
