/* The structured diff: what was added, removed or changed between two versions, element by
 * element (files, messages, fields, oneofs, enums, enum values, services, methods, extensions,
 * options, reserved ranges and names), each with a short rendering of what it was and is and its
 * position. It judges nothing; the rules in breaking_*.c and confluent.c do. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evolve_internal.h"
#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/error.h"
#include "spoke/banned.h"

#define T(x) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_##x
#define L(x) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_##x

const char *spk_evolve_change_kind_name(enum spk_evolve_change_kind k)
{
    static const char *const names[] = {"added", "removed", "changed"};
    return (unsigned)k < 3 ? names[k] : "unknown";
}

struct differ {
    struct spk_evolve_diff *out;
    size_t cap;
};

/* Records a change; ov/nv are taken (freed here). */
static void change(struct differ *d, enum spk_evolve_change_kind kind, const char *element,
                   struct spk_evolve_where at, const char *name, char *ov, char *nv)
{
    if (kind == SPK_EVOLVE_CHANGED && ov && nv && strcmp(ov, nv) == 0) {
        free(ov);
        free(nv);
        return;
    }
    if (d->out->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 32;
        d->out->c = spk_realloc(d->out->c, d->cap * sizeof(*d->out->c));
    }
    struct spk_evolve_change *c = &d->out->c[d->out->n++];
    *c = (struct spk_evolve_change){
        kind, element, spk_strdup(at.file ? at.file->path : ""), spk_strdup(name), ov, nv, 0, 0};
    if (at.loc && at.loc->n_span >= 3) {
        c->line = at.loc->span[0] + 1;
        c->column = at.loc->span[1] + 1;
    }
}

static struct spk_evolve_where file_where(const struct spk_evolve_file *f)
{
    return (struct spk_evolve_where){f, NULL, 0, 0};
}

/* ---- renderings ---- */

static void put_type(struct spk_buf *b, const struct spk_evolve_field *f)
{
    if (f->label == L(REPEATED) && f->type_msg && f->type_msg->map_entry) {
        const struct spk_evolve_field *k = spk_evolve_message_field(f->type_msg, 1);
        const struct spk_evolve_field *v = spk_evolve_message_field(f->type_msg, 2);
        spk_buf_puts(b, "map<");
        if (k)
            put_type(b, k);
        spk_buf_puts(b, ", ");
        if (v)
            put_type(b, v);
        spk_buf_puts(b, ">");
        return;
    }
    spk_buf_puts(b, f->type_name[0] ? f->type_name : spk_evolve_type_name(f->type));
}

static char *render_field(const struct spk_evolve_field *f)
{
    struct spk_buf b = SPK_BUF_INIT;
    int is_map = f->label == L(REPEATED) && f->type_msg && f->type_msg->map_entry;
    if (f->label == L(REPEATED) && !is_map)
        spk_buf_puts(&b, "repeated ");
    else if (f->label == L(REQUIRED))
        spk_buf_puts(&b, "required ");
    else if (f->file->syntax == EV_PROTO2 || (f->d->has_proto3_optional && f->d->proto3_optional))
        spk_buf_puts(&b, "optional ");
    put_type(&b, f);
    spk_buf_printf(&b, " %s = %d", f->is_extension ? f->full_name : f->name, f->number);
    const char *sep = " [";
    if (f->d->default_value) {
        spk_buf_printf(&b, "%sdefault = %s", sep, f->d->default_value);
        sep = ", ";
    }
    if (f->d->json_name && !f->is_extension) {
        /* only an explicit-looking one: differs from the derived name */
        char *derived = spk_strdup(f->name);
        size_t w = 0;
        int up = 0;
        for (size_t i = 0; derived[i]; i++) {
            if (derived[i] == '_')
                up = 1;
            else {
                char ch = derived[i];
                derived[w++] = up && ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
                up = 0;
            }
        }
        derived[w] = '\0';
        if (strcmp(derived, f->json_name) != 0) {
            spk_buf_printf(&b, "%sjson_name = \"%s\"", sep, f->json_name);
            sep = ", ";
        }
        free(derived);
    }
    if (sep[0] == ',')
        spk_buf_puts(&b, "]");
    return spk_buf_detach(&b, NULL);
}

static char *render_method(const struct spk_evolve_method *m)
{
    return spk_asprintf("rpc %s(%s%s) returns (%s%s)", m->name,
                        m->d->client_streaming ? "stream " : "", m->input,
                        m->d->server_streaming ? "stream " : "", m->output);
}

/* ---- options, generically through protobuf-c's reflection ---- */

struct option_set {
    char **names, **values;
    size_t n;
};

static void option_add(struct option_set *s, char *name, char *value)
{
    s->names = spk_realloc(s->names, (s->n + 1) * sizeof(*s->names));
    s->values = spk_realloc(s->values, (s->n + 1) * sizeof(*s->values));
    s->names[s->n] = name;
    s->values[s->n++] = value;
}

static void option_set_release(struct option_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->names[i]);
        free(s->values[i]);
    }
    free(s->names);
    free(s->values);
}

static void collect_options(const ProtobufCMessage *m, struct option_set *s)
{
    if (!m)
        return;
    const ProtobufCMessageDescriptor *desc = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &desc->fields[i];
        if (fd->label == PROTOBUF_C_LABEL_REPEATED)
            continue; /* uninterpreted_option */
        const void *p = base + fd->offset;
        int present = 1;
        if (fd->type == PROTOBUF_C_TYPE_STRING || fd->type == PROTOBUF_C_TYPE_MESSAGE)
            present = *(const void *const *)p != NULL;
        else if (fd->quantifier_offset)
            present = *(const protobuf_c_boolean *)(base + fd->quantifier_offset);
        if (!present)
            continue;
        char *v = NULL;
        switch (fd->type) {
        case PROTOBUF_C_TYPE_BOOL:
            v = spk_strdup(*(const protobuf_c_boolean *)p ? "true" : "false");
            break;
        case PROTOBUF_C_TYPE_ENUM: {
            const ProtobufCEnumValue *ev =
                protobuf_c_enum_descriptor_get_value(fd->descriptor, *(const int *)p);
            v = ev ? spk_strdup(ev->name) : spk_asprintf("%d", *(const int *)p);
            break;
        }
        case PROTOBUF_C_TYPE_STRING:
            v = spk_evolve_quote(*(char *const *)p);
            break;
        case PROTOBUF_C_TYPE_INT32:
            v = spk_asprintf("%d", *(const int32_t *)p);
            break;
        default:
            v = spk_strdup("(set)");
            break;
        }
        option_add(s, spk_strdup(fd->name), v);
    }
    for (unsigned i = 0; i < m->n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *u = &m->unknown_fields[i];
        struct spk_buf b = SPK_BUF_INIT;
        for (size_t k = 0; k < u->len; k++)
            spk_buf_printf(&b, "%02x", u->data[k]);
        if (!b.data)
            spk_buf_puts(&b, "");
        option_add(s, spk_asprintf("(%u)", u->tag), spk_buf_detach(&b, NULL));
    }
}

static const char *option_find(const struct option_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return s->values[i];
    return NULL;
}

static void diff_options(struct differ *d, const ProtobufCMessage *om, const ProtobufCMessage *nm,
                         const char *owner, struct spk_evolve_where at)
{
    struct option_set a = {0}, b = {0};
    collect_options(om, &a);
    collect_options(nm, &b);
    for (size_t i = 0; i < a.n; i++) {
        char *name = spk_asprintf("%s:%s", owner, a.names[i]);
        const char *nv = option_find(&b, a.names[i]);
        if (!nv)
            change(d, SPK_EVOLVE_REMOVED, "option", at, name, spk_strdup(a.values[i]), NULL);
        else
            change(d, SPK_EVOLVE_CHANGED, "option", at, name, spk_strdup(a.values[i]),
                   spk_strdup(nv));
        free(name);
    }
    for (size_t i = 0; i < b.n; i++) {
        if (option_find(&a, b.names[i]))
            continue;
        char *name = spk_asprintf("%s:%s", owner, b.names[i]);
        change(d, SPK_EVOLVE_ADDED, "option", at, name, NULL, spk_strdup(b.values[i]));
        free(name);
    }
    option_set_release(&a);
    option_set_release(&b);
}

#define OPTS(x) ((const ProtobufCMessage *)(x))

/* ---- reserved ---- */

static char **reserved_items(const struct spk_evolve_message *m, const struct spk_evolve_enum *e,
                             size_t *n)
{
    size_t nr = m ? m->d->n_reserved_range : e->d->n_reserved_range;
    size_t nn = m ? m->d->n_reserved_name : e->d->n_reserved_name;
    char **items = spk_malloc((nr + nn + 1) * sizeof(*items));
    *n = 0;
    for (size_t i = 0; i < nr; i++) {
        int64_t start = m ? m->d->reserved_range[i]->start : e->d->reserved_range[i]->start;
        int64_t end = m ? (int64_t)m->d->reserved_range[i]->end - 1 : e->d->reserved_range[i]->end;
        items[(*n)++] = start == end
                            ? spk_asprintf("%lld", (long long)start)
                            : spk_asprintf("%lld to %lld", (long long)start, (long long)end);
    }
    for (size_t i = 0; i < nn; i++)
        items[(*n)++] = spk_evolve_quote(m ? m->d->reserved_name[i] : e->d->reserved_name[i]);
    return items;
}

static int in_items(char **items, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(items[i], s) == 0)
            return 1;
    return 0;
}

static void diff_reserved(struct differ *d, const struct spk_evolve_message *om,
                          const struct spk_evolve_enum *oe, const struct spk_evolve_message *nm,
                          const struct spk_evolve_enum *ne, const char *owner,
                          struct spk_evolve_where old_at, struct spk_evolve_where new_at)
{
    size_t na, nb;
    char **a = reserved_items(om, oe, &na), **b = reserved_items(nm, ne, &nb);
    for (size_t i = 0; i < na; i++)
        if (!in_items(b, nb, a[i]))
            change(d, SPK_EVOLVE_REMOVED, "reserved", old_at, owner, spk_strdup(a[i]), NULL);
    for (size_t i = 0; i < nb; i++)
        if (!in_items(a, na, b[i]))
            change(d, SPK_EVOLVE_ADDED, "reserved", new_at, owner, NULL, spk_strdup(b[i]));
    for (size_t i = 0; i < na; i++)
        free(a[i]);
    for (size_t i = 0; i < nb; i++)
        free(b[i]);
    free(a);
    free(b);
}

/* ---- elements ---- */

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* What render_field shows, compared without rendering (most fields did not change). */
static int same_field(const struct spk_evolve_field *a, const struct spk_evolve_field *b)
{
    return a->label == b->label && a->type == b->type && a->file->syntax == b->file->syntax &&
           strcmp(a->name, b->name) == 0 && strcmp(a->type_name, b->type_name) == 0 &&
           strcmp(a->json_name, b->json_name) == 0 &&
           same_str(a->d->default_value, b->d->default_value) &&
           (a->d->has_proto3_optional && a->d->proto3_optional) ==
               (b->d->has_proto3_optional && b->d->proto3_optional) &&
           (!a->is_extension || strcmp(a->full_name, b->full_name) == 0) &&
           !(a->type_msg && a->type_msg->map_entry) && !(b->type_msg && b->type_msg->map_entry);
}

static void diff_field(struct differ *d, const struct spk_evolve_field *of,
                       const struct spk_evolve_field *nf, const char *element)
{
    if (!nf) {
        change(d, SPK_EVOLVE_REMOVED, element, spk_evolve_field_where(of, -1), of->full_name,
               render_field(of), NULL);
        return;
    }
    if (!of) {
        change(d, SPK_EVOLVE_ADDED, element, spk_evolve_field_where(nf, -1), nf->full_name, NULL,
               render_field(nf));
        return;
    }
    if (!same_field(of, nf))
        change(d, SPK_EVOLVE_CHANGED, element, spk_evolve_field_where(nf, -1), nf->full_name,
               render_field(of), render_field(nf));
    const char *oo = of->oneof && !of->oneof->synthetic ? of->oneof->name : NULL;
    const char *no = nf->oneof && !nf->oneof->synthetic ? nf->oneof->name : NULL;
    if ((oo || no) && (!oo || !no || strcmp(oo, no) != 0)) {
        char *name = spk_asprintf("%s:oneof", nf->full_name);
        change(d, SPK_EVOLVE_CHANGED, "field", spk_evolve_field_where(nf, -1), name,
               spk_strdup(oo ? oo : "(none)"), spk_strdup(no ? no : "(none)"));
        free(name);
    }
    if (of->d->options || nf->d->options)
        diff_options(d, OPTS(of->d->options), OPTS(nf->d->options), nf->full_name,
                     spk_evolve_field_where(nf, -1));
}

static int oneof_named(const struct spk_evolve_message *m, const char *name)
{
    for (size_t i = 0; i < m->noneofs; i++)
        if (!m->oneofs[i].synthetic && strcmp(m->oneofs[i].name, name) == 0)
            return 1;
    return 0;
}

static void diff_message(struct differ *d, const struct spk_evolve_message *om,
                         const struct spk_evolve_message *nm)
{
    if (!nm || !om) {
        const struct spk_evolve_message *m = om ? om : nm;
        change(d, om ? SPK_EVOLVE_REMOVED : SPK_EVOLVE_ADDED, "message",
               spk_evolve_message_where(m), m->full_name,
               om ? spk_asprintf("message %s", m->name) : NULL,
               nm ? spk_asprintf("message %s", m->name) : NULL);
        return;
    }
    for (size_t i = 0; i < om->nfields; i++)
        diff_field(d, om->by_number[i], spk_evolve_message_field(nm, om->by_number[i]->number),
                   "field");
    for (size_t i = 0; i < nm->nfields; i++)
        if (!spk_evolve_message_field(om, nm->by_number[i]->number))
            diff_field(d, NULL, nm->by_number[i], "field");
    for (size_t i = 0; i < om->noneofs; i++) {
        const struct spk_evolve_oneof *o = &om->oneofs[i];
        if (!o->synthetic && !oneof_named(nm, o->name)) {
            char *name = spk_asprintf("%s.%s", om->full_name, o->name);
            change(d, SPK_EVOLVE_REMOVED, "oneof", spk_evolve_at(om->file, &o->path, 0, NULL), name,
                   spk_asprintf("oneof %s", o->name), NULL);
            free(name);
        }
    }
    for (size_t i = 0; i < nm->noneofs; i++) {
        const struct spk_evolve_oneof *o = &nm->oneofs[i];
        if (!o->synthetic && !oneof_named(om, o->name)) {
            char *name = spk_asprintf("%s.%s", nm->full_name, o->name);
            change(d, SPK_EVOLVE_ADDED, "oneof", spk_evolve_at(nm->file, &o->path, 0, NULL), name,
                   NULL, spk_asprintf("oneof %s", o->name));
            free(name);
        }
    }
    if (om->d->options || nm->d->options)
        diff_options(d, OPTS(om->d->options), OPTS(nm->d->options), nm->full_name,
                     spk_evolve_message_where(nm));
    if (om->d->n_reserved_range || om->d->n_reserved_name || nm->d->n_reserved_range ||
        nm->d->n_reserved_name)
        diff_reserved(d, om, NULL, nm, NULL, nm->full_name, spk_evolve_message_where(om),
                      spk_evolve_message_where(nm));
}

static const struct spk_evolve_value *value_numbered(const struct spk_evolve_enum *e, int32_t n)
{
    for (size_t i = 0; i < e->nvalues; i++)
        if (e->values[i].number == n)
            return &e->values[i];
    return NULL;
}

static void diff_enum(struct differ *d, const struct spk_evolve_enum *oe,
                      const struct spk_evolve_enum *ne)
{
    if (!oe || !ne) {
        const struct spk_evolve_enum *e = oe ? oe : ne;
        change(d, oe ? SPK_EVOLVE_REMOVED : SPK_EVOLVE_ADDED, "enum", spk_evolve_enum_where(e),
               e->full_name, oe ? spk_asprintf("enum %s", e->name) : NULL,
               ne ? spk_asprintf("enum %s", e->name) : NULL);
        return;
    }
    for (size_t i = 0; i < oe->nvalues; i++) {
        const struct spk_evolve_value *ov = &oe->values[i];
        if (value_numbered(oe, ov->number) != ov)
            continue; /* an alias; the first name of a number stands for it */
        const struct spk_evolve_value *nv = value_numbered(ne, ov->number);
        if (nv && strcmp(nv->name, ov->name) == 0)
            continue;
        char *name = spk_asprintf("%s.%s", oe->full_name, nv ? nv->name : ov->name);
        struct spk_evolve_where at =
            spk_evolve_at(nv ? ne->file : oe->file, nv ? &nv->path : &ov->path, 0, NULL);
        change(d, nv ? SPK_EVOLVE_CHANGED : SPK_EVOLVE_REMOVED, "enum_value", at, name,
               spk_asprintf("%s = %d", ov->name, ov->number),
               nv ? spk_asprintf("%s = %d", nv->name, nv->number) : NULL);
        free(name);
    }
    for (size_t i = 0; i < ne->nvalues; i++) {
        const struct spk_evolve_value *nv = &ne->values[i];
        if (value_numbered(ne, nv->number) != nv || value_numbered(oe, nv->number))
            continue;
        char *name = spk_asprintf("%s.%s", ne->full_name, nv->name);
        change(d, SPK_EVOLVE_ADDED, "enum_value", spk_evolve_at(ne->file, &nv->path, 0, NULL), name,
               NULL, spk_asprintf("%s = %d", nv->name, nv->number));
        free(name);
    }
    if (oe->d->options || ne->d->options)
        diff_options(d, OPTS(oe->d->options), OPTS(ne->d->options), ne->full_name,
                     spk_evolve_enum_where(ne));
    if (oe->d->n_reserved_range || oe->d->n_reserved_name || ne->d->n_reserved_range ||
        ne->d->n_reserved_name)
        diff_reserved(d, NULL, oe, NULL, ne, ne->full_name, spk_evolve_enum_where(oe),
                      spk_evolve_enum_where(ne));
}

static const struct spk_evolve_method *method_named(const struct spk_evolve_service *s,
                                                    const char *name)
{
    for (size_t i = 0; i < s->nmethods; i++)
        if (strcmp(s->methods[i].name, name) == 0)
            return &s->methods[i];
    return NULL;
}

static void diff_service(struct differ *d, const struct spk_evolve_service *os,
                         const struct spk_evolve_service *ns)
{
    if (!os || !ns) {
        const struct spk_evolve_service *s = os ? os : ns;
        change(d, os ? SPK_EVOLVE_REMOVED : SPK_EVOLVE_ADDED, "service",
               spk_evolve_at(s->file, &s->path, 0, NULL), s->full_name,
               os ? spk_asprintf("service %s", s->name) : NULL,
               ns ? spk_asprintf("service %s", s->name) : NULL);
        return;
    }
    for (size_t i = 0; i < os->nmethods; i++) {
        const struct spk_evolve_method *om = &os->methods[i];
        const struct spk_evolve_method *nm = method_named(ns, om->name);
        char *name = spk_asprintf("%s.%s", os->full_name, om->name);
        if (!nm || strcmp(om->input, nm->input) != 0 || strcmp(om->output, nm->output) != 0 ||
            !om->d->client_streaming != !nm->d->client_streaming ||
            !om->d->server_streaming != !nm->d->server_streaming)
            change(d, nm ? SPK_EVOLVE_CHANGED : SPK_EVOLVE_REMOVED, "method",
                   nm ? spk_evolve_at(ns->file, &nm->path, 0, NULL)
                      : spk_evolve_at(os->file, &om->path, 0, NULL),
                   name, render_method(om), nm ? render_method(nm) : NULL);
        if (nm && (om->d->options || nm->d->options))
            diff_options(d, OPTS(om->d->options), OPTS(nm->d->options), name,
                         spk_evolve_at(ns->file, &nm->path, 0, NULL));
        free(name);
    }
    for (size_t i = 0; i < ns->nmethods; i++) {
        const struct spk_evolve_method *nm = &ns->methods[i];
        if (method_named(os, nm->name))
            continue;
        char *name = spk_asprintf("%s.%s", ns->full_name, nm->name);
        change(d, SPK_EVOLVE_ADDED, "method", spk_evolve_at(ns->file, &nm->path, 0, NULL), name,
               NULL, render_method(nm));
        free(name);
    }
    diff_options(d, OPTS(os->d->options), OPTS(ns->d->options), ns->full_name,
                 spk_evolve_at(ns->file, &ns->path, 0, NULL));
}

static const struct spk_evolve_field *extension_like(const struct spk_evolve_image *img,
                                                     const struct spk_evolve_field *x)
{
    for (size_t i = 0; i < img->nfiles; i++) {
        const struct spk_evolve_file *f = &img->files[i];
        if (!f->own)
            continue;
        for (size_t k = 0; k < f->nextensions; k++)
            if (f->extensions[k]->number == x->number &&
                strcmp(f->extensions[k]->extendee, x->extendee) == 0)
                return f->extensions[k];
    }
    return NULL;
}

static char *render_file(const struct spk_evolve_file *f)
{
    return spk_asprintf("%s, package %s",
                        f->syntax == EV_PROTO3     ? "proto3"
                        : f->syntax == EV_EDITIONS ? "editions"
                                                   : "proto2",
                        f->package[0] ? f->package : "(none)");
}

static int cmp_change(const void *pa, const void *pb)
{
    const struct spk_evolve_change *a = pa, *b = pb;
    int c = strcmp(a->file, b->file);
    if (!c)
        c = strcmp(a->name, b->name);
    if (!c)
        c = strcmp(a->element, b->element);
    return c;
}

static void diff_side(struct differ *d, const struct spk_evolve_image *from,
                      const struct spk_evolve_image *to, int removed)
{
    for (size_t i = 0; i < from->nfiles; i++) {
        const struct spk_evolve_file *f = &from->files[i];
        if (!f->own)
            continue;
        const struct spk_evolve_file *g = spk_evolve_image_file(to, f->path);
        if (g && !g->own)
            g = NULL;
        if (!g) {
            change(d, removed ? SPK_EVOLVE_REMOVED : SPK_EVOLVE_ADDED, "file", file_where(f),
                   f->path, removed ? render_file(f) : NULL, removed ? NULL : render_file(f));
            continue;
        }
        for (size_t k = 0; k < f->nmessages; k++) {
            const struct spk_evolve_message *m = f->messages[k];
            if (m->map_entry || spk_evolve_image_message(to, m->full_name))
                continue;
            diff_message(d, removed ? m : NULL, removed ? NULL : m);
        }
        for (size_t k = 0; k < f->nenums; k++)
            if (!spk_evolve_image_enum(to, f->enums[k]->full_name))
                diff_enum(d, removed ? f->enums[k] : NULL, removed ? NULL : f->enums[k]);
        for (size_t k = 0; k < f->nservices; k++)
            if (!spk_evolve_map_sget(&to->service_by_name, f->services[k].full_name))
                diff_service(d, removed ? &f->services[k] : NULL, removed ? NULL : &f->services[k]);
        for (size_t k = 0; k < f->nextensions; k++)
            if (!extension_like(to, f->extensions[k]))
                diff_field(d, removed ? f->extensions[k] : NULL, removed ? NULL : f->extensions[k],
                           "extension");
    }
}

int spk_evolve_diff(const struct spk_evolve_image *old, const struct spk_evolve_image *new_,
                    struct spk_evolve_diff *out, struct spk_error *err)
{
    (void)err;
    *out = (struct spk_evolve_diff){NULL, 0};
    struct differ d = {out, 0};
    diff_side(&d, old, new_, 1);
    diff_side(&d, new_, old, 0);
    for (size_t i = 0; i < old->nfiles; i++) {
        const struct spk_evolve_file *of = &old->files[i];
        const struct spk_evolve_file *nf = spk_evolve_image_file(new_, of->path);
        if (!of->own || !nf || !nf->own)
            continue;
        change(&d, SPK_EVOLVE_CHANGED, "file", file_where(nf), nf->path, render_file(of),
               render_file(nf));
        diff_options(&d, OPTS(of->d->options), OPTS(nf->d->options), nf->path, file_where(nf));
        for (size_t k = 0; k < of->nmessages; k++) {
            const struct spk_evolve_message *om = of->messages[k];
            const struct spk_evolve_message *nm = spk_evolve_image_message(new_, om->full_name);
            if (!om->map_entry && nm && nm->file->own)
                diff_message(&d, om, nm);
        }
        for (size_t k = 0; k < of->nenums; k++) {
            const struct spk_evolve_enum *ne = spk_evolve_image_enum(new_, of->enums[k]->full_name);
            if (ne && ne->file->own)
                diff_enum(&d, of->enums[k], ne);
        }
        for (size_t k = 0; k < of->nservices; k++) {
            const struct spk_evolve_service *ns =
                spk_evolve_map_sget(&new_->service_by_name, of->services[k].full_name);
            if (ns && ns->file->own)
                diff_service(&d, &of->services[k], ns);
        }
        for (size_t k = 0; k < of->nextensions; k++) {
            const struct spk_evolve_field *nx = extension_like(new_, of->extensions[k]);
            if (nx)
                diff_field(&d, of->extensions[k], nx, "extension");
        }
    }
    if (out->n > 1)
        qsort(out->c, out->n, sizeof(*out->c), cmp_change);
    return 0;
}

void spk_evolve_diff_release(struct spk_evolve_diff *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->c[i].file);
        free(d->c[i].name);
        free(d->c[i].old_value);
        free(d->c[i].new_value);
    }
    free(d->c);
    d->c = NULL;
    d->n = 0;
}
