/* Confluent Schema Registry's Protobuf compatibility: its diff of one file against another
 * (messages by nested name, fields by number, oneofs by name, referenced message types compared
 * body to body) keeping only the 11 difference types Confluent treats as incompatible, and its
 * compatibility levels. Map entries are not messages here: a map field is a map<K, V> whose key
 * and value are compared like field types, as in Confluent's text-based model. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evolve_internal.h"
#include "spoke/alloc.h"
#include "spoke/error.h"
#include "spoke/banned.h"

#define T(x) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_##x
#define L(x) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_##x

/* ---- levels ---- */

static const struct {
    const char *name;
    int backward, forward, transitive;
} modes[] = {
    [SPK_EVOLVE_MODE_NONE] = {"NONE", 0, 0, 0},
    [SPK_EVOLVE_MODE_BACKWARD] = {"BACKWARD", 1, 0, 0},
    [SPK_EVOLVE_MODE_BACKWARD_TRANSITIVE] = {"BACKWARD_TRANSITIVE", 1, 0, 1},
    [SPK_EVOLVE_MODE_FORWARD] = {"FORWARD", 0, 1, 0},
    [SPK_EVOLVE_MODE_FORWARD_TRANSITIVE] = {"FORWARD_TRANSITIVE", 0, 1, 1},
    [SPK_EVOLVE_MODE_FULL] = {"FULL", 1, 1, 0},
    [SPK_EVOLVE_MODE_FULL_TRANSITIVE] = {"FULL_TRANSITIVE", 1, 1, 1},
};
#define NMODES (sizeof(modes) / sizeof(modes[0]))

int spk_evolve_mode_parse(const char *name)
{
    for (size_t i = 0; name && i < NMODES; i++)
        if (strcmp(modes[i].name, name) == 0)
            return (int)i;
    return -1;
}

const char *spk_evolve_mode_name(enum spk_evolve_mode m)
{
    return (unsigned)m < NMODES ? modes[m].name : NULL;
}

int spk_evolve_mode_transitive(enum spk_evolve_mode m)
{
    return (unsigned)m < NMODES && modes[m].transitive;
}

int spk_evolve_mode_backward(enum spk_evolve_mode m)
{
    return (unsigned)m < NMODES && modes[m].backward;
}

int spk_evolve_mode_forward(enum spk_evolve_mode m)
{
    return (unsigned)m < NMODES && modes[m].forward;
}

/* ---- the diff ---- */

struct diff {
    struct spk_evolve_result *out;
    size_t cap;
    size_t incompatible; /* differences recorded so far (all recorded ones are incompatible) */
    struct spk_evolve_map in_progress; /* old messages being compared, against recursion */
};

static void add(struct diff *d, const char *type, struct spk_evolve_where at, const char *ov,
                const char *nv, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void add(struct diff *d, const char *type, struct spk_evolve_where at, const char *ov,
                const char *nv, const char *fmt, ...)
{
    struct spk_evolve_result *r = d->out;
    if (r->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        r->v = spk_realloc(r->v, d->cap * sizeof(*r->v));
    }
    va_list ap;
    va_start(ap, fmt);
    char *msg = spk_vasprintf(fmt, ap);
    va_end(ap);
    struct spk_evolve_violation *v = &r->v[r->n++];
    *v = (struct spk_evolve_violation){type,
                                       0,
                                       spk_strdup(at.file ? at.file->path : ""),
                                       0,
                                       0,
                                       msg,
                                       ov ? spk_strdup(ov) : NULL,
                                       nv ? spk_strdup(nv) : NULL};
    if (at.loc && at.loc->n_span >= 3) {
        v->line = at.loc->span[0] + 1;
        v->column = at.loc->span[1] + 1;
    } else if (at.file && at.file->has_source_info) {
        v->line = v->column = 1;
    }
    d->incompatible++;
}

enum kind { K_SCALAR, K_MESSAGE, K_MAP };

static const struct spk_evolve_message *map_entry(const struct spk_evolve_field *f)
{
    return f->label == L(REPEATED) && f->type_msg && f->type_msg->map_entry ? f->type_msg : NULL;
}

static enum kind kind_of(const struct spk_evolve_field *f)
{
    if (map_entry(f))
        return K_MAP;
    return f->type == T(MESSAGE) || f->type == T(GROUP) ? K_MESSAGE : K_SCALAR;
}

static const char *kind_name(enum kind k)
{
    return k == K_SCALAR ? "scalar" : k == K_MESSAGE ? "message" : "map";
}

/* Confluent's scalar groups; changes inside a group are compatible. */
static int scalar_group(int type)
{
    switch (type) {
    case T(INT32):
    case T(INT64):
    case T(UINT32):
    case T(UINT64):
    case T(BOOL):
    case T(ENUM):
        return 1;
    case T(SINT32):
    case T(SINT64):
        return 2;
    case T(STRING):
    case T(BYTES):
        return 3;
    case T(FIXED32):
    case T(SFIXED32):
        return 4;
    case T(FIXED64):
    case T(SFIXED64):
        return 5;
    case T(FLOAT):
        return 6;
    case T(DOUBLE):
        return 7;
    default:
        return 0;
    }
}

static const char *type_text(const struct spk_evolve_field *f)
{
    return f->type_name[0] ? f->type_name : spk_evolve_type_name(f->type);
}

/* The label as Confluent reads it: proto3 fields without a keyword have none. */
static const char *label_of(const struct spk_evolve_field *f)
{
    if (f->label == L(REPEATED))
        return "repeated";
    if (f->label == L(REQUIRED))
        return "required";
    if (f->file->syntax == EV_PROTO2 || (f->d->has_proto3_optional && f->d->proto3_optional))
        return "optional";
    return NULL;
}

static const struct spk_evolve_oneof *oneof_of(const struct spk_evolve_field *f)
{
    return f->oneof && !f->oneof->synthetic ? f->oneof : NULL;
}

static char *field_text(const struct spk_evolve_field *f)
{
    return spk_asprintf("field %d \"%s\" on message \"%s\"", f->number, f->name,
                        f->msg ? f->msg->full_name : "");
}

static int compare_message(struct diff *d, const struct spk_evolve_message *om,
                           const struct spk_evolve_message *nm);

/* A field type against another: kinds, then scalar groups, names or map keys and values. */
static void compare_types(struct diff *d, const struct spk_evolve_field *of,
                          const struct spk_evolve_field *nf, const struct spk_evolve_field *owner)
{
    enum kind a = kind_of(of), b = kind_of(nf);
    struct spk_evolve_where at = spk_evolve_nowhere();
    char *what = NULL; /* only built when something may be reported */
    if (a != b || (a == K_SCALAR && scalar_group(of->type) != scalar_group(nf->type)) ||
        a == K_MESSAGE) {
        what = field_text(owner);
        at = spk_evolve_field_where(owner, -1);
    }
    if (a != b) {
        add(d, "FIELD_KIND_CHANGED", at, kind_name(a), kind_name(b),
            "%s changed kind from %s to %s", what, kind_name(a), kind_name(b));
    } else if (a == K_SCALAR) {
        if (scalar_group(of->type) != scalar_group(nf->type))
            add(d, "FIELD_SCALAR_KIND_CHANGED", at, type_text(of), type_text(nf),
                "%s changed type from \"%s\" to \"%s\"", what, type_text(of), type_text(nf));
    } else if (a == K_MAP) {
        const struct spk_evolve_message *oe = map_entry(of), *ne = map_entry(nf);
        for (int32_t n = 1; n <= 2; n++) {
            const struct spk_evolve_field *ok = spk_evolve_message_field(oe, n);
            const struct spk_evolve_field *nk = spk_evolve_message_field(ne, n);
            if (ok && nk)
                compare_types(d, ok, nk, owner);
        }
    } else {
        const struct spk_evolve_message *ot = of->type_msg, *nt = nf->type_msg;
        if (!ot || !nt) {
            if (strcmp(of->type_name, nf->type_name) != 0)
                add(d, "FIELD_NAMED_TYPE_CHANGED", at, of->type_name, nf->type_name,
                    "%s changed type from \"%s\" to \"%s\"", what, of->type_name, nf->type_name);
        } else if (strcmp(ot->nested_name, nt->nested_name) != 0) {
            add(d, "FIELD_NAMED_TYPE_CHANGED", at, ot->full_name, nt->full_name,
                "%s changed type from \"%s\" to \"%s\"", what, ot->full_name, nt->full_name);
        } else {
            if (compare_message(d, ot, nt))
                add(d, "FIELD_NAMED_TYPE_CHANGED", at, ot->full_name, nt->full_name,
                    "%s: its type \"%s\" (now \"%s\") changed incompatibly", what, ot->full_name,
                    nt->full_name);
        }
    }
    free(what);
}

static void compare_field(struct diff *d, const struct spk_evolve_field *of,
                          const struct spk_evolve_field *nf)
{
    const char *la = label_of(of), *lb = label_of(nf);
    if (la && lb && strcmp(la, lb) != 0 && kind_of(of) == K_SCALAR && kind_of(nf) == K_SCALAR &&
        of->type != T(STRING) && of->type != T(BYTES)) {
        char *what = field_text(nf);
        add(d, "FIELD_NUMERIC_LABEL_CHANGED", spk_evolve_field_where(nf, -1), la, lb,
            "%s changed label from \"%s\" to \"%s\"", what, la, lb);
        free(what);
    }
    compare_types(d, of, nf, nf);
}

static int is_top_level(const struct spk_evolve_field *f)
{
    return !oneof_of(f);
}

static void compare_fields(struct diff *d, const struct spk_evolve_message *om,
                           const struct spk_evolve_message *nm)
{
    /* old top-level fields that some new oneof took in are not "removed" */
    unsigned char *moved = spk_calloc(om->nfields ? om->nfields : 1, 1);
    for (size_t i = 0; i < nm->noneofs; i++) {
        const struct spk_evolve_oneof *o = &nm->oneofs[i];
        if (o->synthetic)
            continue;
        size_t nmoved = 0, nexisting = 0;
        for (size_t k = 0; k < nm->nfields; k++) {
            if (nm->fields[k].oneof != o)
                continue;
            const struct spk_evolve_field *was = spk_evolve_message_field(om, nm->fields[k].number);
            if (was && is_top_level(was)) {
                nmoved++;
                moved[was - om->fields] = 1;
            } else if (was) {
                nexisting++;
            }
        }
        char *q = spk_evolve_quote(o->name);
        if (nmoved > 1)
            add(d, "MULTIPLE_FIELDS_MOVED_TO_ONEOF", spk_evolve_at(nm->file, &o->path, 0, NULL),
                NULL, NULL,
                "oneof %s on message \"%s\" takes in %zu fields that were not in a oneof", q,
                nm->full_name, nmoved);
        else if (nmoved == 1 && nexisting > 0)
            add(d, "FIELD_MOVED_TO_EXISTING_ONEOF", spk_evolve_at(nm->file, &o->path, 0, NULL),
                NULL, NULL,
                "oneof %s on message \"%s\" takes in a field that was not in a oneof beside fields "
                "that were",
                q, nm->full_name);
        free(q);
    }
    /* members of a oneof kept by name */
    for (size_t i = 0; i < om->nfields; i++) {
        const struct spk_evolve_field *of = &om->fields[i];
        const struct spk_evolve_oneof *oo = oneof_of(of);
        if (!oo)
            continue;
        const struct spk_evolve_oneof *no = NULL;
        for (size_t k = 0; k < nm->noneofs && !no; k++)
            if (!nm->oneofs[k].synthetic && strcmp(nm->oneofs[k].name, oo->name) == 0)
                no = &nm->oneofs[k];
        if (!no)
            continue; /* ONEOF_REMOVED is compatible */
        const struct spk_evolve_field *nf = spk_evolve_message_field(nm, of->number);
        if (!nf) {
            char *what = field_text(of);
            add(d, "ONEOF_FIELD_REMOVED", spk_evolve_at(nm->file, &no->path, 0, NULL), NULL, NULL,
                "%s was removed from oneof \"%s\"", what, oo->name);
            free(what);
        }
    }
    /* every field present on both sides: same place, or moved in or out of a oneof */
    for (size_t i = 0; i < om->nfields; i++) {
        const struct spk_evolve_field *of = &om->fields[i];
        const struct spk_evolve_field *nf = spk_evolve_message_field(nm, of->number);
        if (nf) {
            compare_field(d, of, nf);
            continue;
        }
        if (!is_top_level(of) || moved[i])
            continue;
        char *what = field_text(of);
        if (of->label == L(REQUIRED))
            add(d, "REQUIRED_FIELD_REMOVED", spk_evolve_message_where(nm), NULL, NULL,
                "required %s was removed", what);
        free(what);
    }
    for (size_t i = 0; i < nm->nfields; i++) {
        const struct spk_evolve_field *nf = &nm->fields[i];
        if (spk_evolve_message_field(om, nf->number) || !is_top_level(nf) ||
            nf->label != L(REQUIRED))
            continue;
        char *what = field_text(nf);
        add(d, "REQUIRED_FIELD_ADDED", spk_evolve_field_where(nf, -1), NULL, NULL,
            "required %s was added", what);
        free(what);
    }
    free(moved);
}

/* The message called name directly inside parent (the file's top level when NULL) of f. */
static const struct spk_evolve_message *child_named(const struct spk_evolve_file *f,
                                                    const struct spk_evolve_message *parent,
                                                    const char *name)
{
    char *nested = parent ? spk_asprintf("%s.%s", parent->nested_name, name) : spk_strdup(name);
    const struct spk_evolve_message *m = spk_evolve_map_sget(&f->message_by_nested, nested);
    free(nested);
    return m && m->parent == parent && !m->map_entry ? m : NULL;
}

static void compare_one(struct diff *d, const struct spk_evolve_message *om,
                        const struct spk_evolve_file *nf, const struct spk_evolve_message *nparent)
{
    if (om->map_entry)
        return;
    const struct spk_evolve_message *nm = nf ? child_named(nf, nparent, om->name) : NULL;
    if (nm) {
        (void)compare_message(d, om, nm);
        return;
    }
    struct spk_evolve_where at = {nf, NULL, 0, 0};
    if (nparent)
        at = spk_evolve_message_where(nparent);
    add(d, "MESSAGE_REMOVED", at, om->full_name, NULL, "message \"%s\" was removed", om->full_name);
}

/* Messages of one scope (a file's top level, or a message's nested ones) by name. */
static void compare_scope(struct diff *d, const struct spk_evolve_file *of,
                          const struct spk_evolve_message *oparent,
                          const struct spk_evolve_file *nf,
                          const struct spk_evolve_message *nparent)
{
    if (oparent) {
        for (size_t i = 0; i < oparent->nnested; i++)
            compare_one(d, oparent->nested[i], nf, nparent);
        return;
    }
    for (size_t i = 0; i < of->nmessages; i++)
        if (!of->messages[i]->parent)
            compare_one(d, of->messages[i], nf, NULL);
}

/* Each pair of messages is compared once; a pair met again (a recursive type, or a type used
 * by many fields) reports whether its first comparison found anything. */
struct pair_state {
    const struct spk_evolve_message *om, *nm;
    int done, incompatible;
};

static int compare_message(struct diff *d, const struct spk_evolve_message *om,
                           const struct spk_evolve_message *nm)
{
    const struct spk_evolve_message *key[2] = {om, nm};
    struct pair_state *st = spk_evolve_map_get(&d->in_progress, key, sizeof(key));
    if (st)
        return st->done && st->incompatible;
    st = spk_calloc(1, sizeof(*st));
    st->om = om;
    st->nm = nm;
    spk_evolve_map_add(&d->in_progress, &st->om, 2 * sizeof(om), st);
    size_t before = d->incompatible;
    compare_fields(d, om, nm);
    compare_scope(d, om->file, om, nm->file, nm);
    st->done = 1;
    st->incompatible = d->incompatible != before;
    return st->incompatible;
}

int spk_evolve_confluent_diff(const struct spk_evolve_image *old,
                              const struct spk_evolve_image *new_, struct spk_evolve_result *out,
                              struct spk_error *err)
{
    (void)err;
    *out = (struct spk_evolve_result){NULL, 0};
    struct diff d = {out, 0, 0, {0}};
    for (size_t i = 0; i < old->nfiles; i++) {
        const struct spk_evolve_file *of = &old->files[i];
        if (!of->own)
            continue;
        const struct spk_evolve_file *nf = spk_evolve_image_file(new_, of->path);
        if (nf && !nf->own)
            nf = NULL;
        if (nf && strcmp(of->package, nf->package) != 0) {
            static const int32_t package_path[] = {2};
            struct spk_evolve_path root = {NULL, 0};
            add(&d, "PACKAGE_CHANGED", spk_evolve_at(nf, &root, 1, package_path), of->package,
                nf->package, "package changed from \"%s\" to \"%s\"", of->package, nf->package);
        }
        compare_scope(&d, of, NULL, nf, NULL);
    }
    size_t it = 0;
    void *val;
    while (spk_evolve_map_next(&d.in_progress, &it, NULL, NULL, &val))
        free(val);
    spk_evolve_map_release(&d.in_progress);
    spk_evolve_result_sort(out);
    return 0;
}
