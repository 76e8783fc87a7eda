/* buf's message rules: messages, extensions, oneofs and fields deleted, reserved and extension
 * ranges shrunk, required fields added or removed, and message options that change generated
 * code or JSON. Messages pair by full name, fields by number, oneofs by name; per-file deletes
 * compare the nested names of one file on both sides. */
#include <stdlib.h>
#include <string.h>

#include "evolve_internal.h"
#include "spoke/alloc.h"
#include "spoke/banned.h"

#define MESSAGE_MAX     536870911LL  /* 2^29 - 1 */
#define MESSAGE_SET_MAX 2147483646LL /* message_set_wire_format */

typedef void (*message_pair_fn)(struct spk_evolve_check *c, const struct spk_evolve_message *om,
                                const struct spk_evolve_message *nm);

static void each_message_pair(struct spk_evolve_check *c, message_pair_fn fn)
{
    for (size_t i = 0; i < c->nmessages; i++)
        fn(c, c->messages[i].old, c->messages[i].new_);
}

static struct spk_evolve_where in_message(const struct spk_evolve_message *m)
{
    return spk_evolve_message_where(m);
}

/* ---- deleted from a file ---- */

SPK_EVOLVE_RULE_FN(message_no_delete)
{
    for (size_t i = 0; i < c->old.nfiles; i++) {
        const struct spk_evolve_file *of = c->old.files[i];
        const struct spk_evolve_file *nf = spk_evolve_map_sget(&c->new_.file_by_path, of->path);
        if (!nf)
            continue;
        for (size_t k = 0; k < of->nmessages; k++) {
            const char *nested = of->messages[k]->nested_name;
            if (spk_evolve_map_sget(&nf->message_by_nested, nested))
                continue;
            char *q = spk_evolve_quote(nested);
            spk_evolve_emit(c, spk_evolve_deleted_where(nf, nested), nf,
                            in_message(of->messages[k]), NULL, NULL,
                            "Previously present message %s was deleted from file.", q);
            free(q);
        }
    }
}

SPK_EVOLVE_RULE_FN(extension_no_delete)
{
    for (size_t i = 0; i < c->old.nfiles; i++) {
        const struct spk_evolve_file *of = c->old.files[i];
        const struct spk_evolve_file *nf = spk_evolve_map_sget(&c->new_.file_by_path, of->path);
        if (!nf)
            continue;
        for (size_t k = 0; k < of->nextensions; k++) {
            const char *nested = of->extensions[k]->nested_name;
            if (spk_evolve_map_sget(&nf->extension_by_nested, nested))
                continue;
            char *q = spk_evolve_quote(nested);
            spk_evolve_emit(c, spk_evolve_deleted_where(nf, nested), nf,
                            spk_evolve_field_where(of->extensions[k], -1), NULL, NULL,
                            "Previously present extension %s was deleted from file.", q);
            free(q);
        }
    }
}

/* ---- oneofs and fields ---- */

static void oneof_pair(struct spk_evolve_check *c, const struct spk_evolve_message *om,
                       const struct spk_evolve_message *nm)
{
    for (size_t i = 0; i < om->noneofs; i++) {
        const struct spk_evolve_oneof *o = &om->oneofs[i];
        if (o->synthetic)
            continue; /* proto3 `optional`; presence changes are FIELD_SAME_CARDINALITY's */
        int found = 0;
        for (size_t k = 0; k < nm->noneofs && !found; k++)
            found = strcmp(nm->oneofs[k].name, o->name) == 0;
        if (found)
            continue;
        char *qo = spk_evolve_quote(o->name), *qm = spk_evolve_quote(nm->name);
        spk_evolve_emit(c, in_message(nm), nm->file, in_message(om), NULL, NULL,
                        "Previously present oneof %s on message %s was deleted.", qo, qm);
        free(qo);
        free(qm);
    }
}

SPK_EVOLVE_RULE_FN(oneof_no_delete)
{
    each_message_pair(c, oneof_pair);
}

static int reserved_number(const struct spk_evolve_message *m, int32_t number)
{
    for (size_t i = 0; i < m->d->n_reserved_range; i++) {
        const Google__Protobuf__DescriptorProto__ReservedRange *r = m->d->reserved_range[i];
        if (number >= r->start && (int64_t)number <= (int64_t)r->end - 1)
            return 1;
    }
    return 0;
}

static int reserved_name(size_t n, char *const *names, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

enum delete_mode { DELETE_NEVER, DELETE_UNLESS_NUMBER, DELETE_UNLESS_NAME };

static void field_deletes(struct spk_evolve_check *c, const struct spk_evolve_message *om,
                          const struct spk_evolve_message *nm, enum delete_mode mode)
{
    for (size_t i = 0; i < om->nfields; i++) {
        const struct spk_evolve_field *f = om->by_number[i];
        if (spk_evolve_message_field(nm, f->number))
            continue;
        if (mode == DELETE_UNLESS_NUMBER && reserved_number(nm, f->number))
            continue;
        if (mode == DELETE_UNLESS_NAME &&
            reserved_name(nm->d->n_reserved_name, nm->d->reserved_name, f->name))
            continue;
        char *qn = spk_evolve_quote(f->name), *qm = spk_evolve_quote(om->name);
        char *suffix = mode == DELETE_UNLESS_NUMBER
                           ? spk_asprintf(" without reserving the number \"%d\"", f->number)
                       : mode == DELETE_UNLESS_NAME
                           ? spk_asprintf(" without reserving the name %s", qn)
                           : spk_strdup("");
        spk_evolve_emit(c, in_message(nm), nm->file, in_message(om), NULL, NULL,
                        "Previously present field \"%d\" with name %s on message %s was deleted%s.",
                        f->number, qn, qm, suffix);
        free(qn);
        free(qm);
        free(suffix);
    }
}

static void fields_never(struct spk_evolve_check *c, const struct spk_evolve_message *om,
                         const struct spk_evolve_message *nm)
{
    field_deletes(c, om, nm, DELETE_NEVER);
}

static void fields_unless_number(struct spk_evolve_check *c, const struct spk_evolve_message *om,
                                 const struct spk_evolve_message *nm)
{
    field_deletes(c, om, nm, DELETE_UNLESS_NUMBER);
}

static void fields_unless_name(struct spk_evolve_check *c, const struct spk_evolve_message *om,
                               const struct spk_evolve_message *nm)
{
    field_deletes(c, om, nm, DELETE_UNLESS_NAME);
}

SPK_EVOLVE_RULE_FN(field_no_delete)
{
    each_message_pair(c, fields_never);
}

SPK_EVOLVE_RULE_FN(field_no_delete_unless_number_reserved)
{
    each_message_pair(c, fields_unless_number);
}

SPK_EVOLVE_RULE_FN(field_no_delete_unless_name_reserved)
{
    each_message_pair(c, fields_unless_name);
}

/* ---- ranges ---- */

static int64_t message_max(const struct spk_evolve_message *m)
{
    const Google__Protobuf__MessageOptions *o = m->d->options;
    return o && o->has_message_set_wire_format && o->message_set_wire_format ? MESSAGE_SET_MAX
                                                                             : MESSAGE_MAX;
}

static struct spk_evolve_range *message_ranges(const struct spk_evolve_message *m, int extension,
                                               size_t *n)
{
    *n = extension ? m->d->n_extension_range : m->d->n_reserved_range;
    struct spk_evolve_range *r = spk_malloc((*n ? *n : 1) * sizeof(*r));
    for (size_t i = 0; i < *n; i++) {
        if (extension)
            r[i] = (struct spk_evolve_range){m->d->extension_range[i]->start,
                                             (int64_t)m->d->extension_range[i]->end - 1};
        else
            r[i] = (struct spk_evolve_range){m->d->reserved_range[i]->start,
                                             (int64_t)m->d->reserved_range[i]->end - 1};
    }
    return r;
}

static void check_message_ranges(struct spk_evolve_check *c, const struct spk_evolve_message *om,
                                 const struct spk_evolve_message *nm, int extension)
{
    if (!(extension ? om->d->n_extension_range : om->d->n_reserved_range))
        return;
    size_t no, nn;
    struct spk_evolve_range *o = message_ranges(om, extension, &no);
    struct spk_evolve_range *n = message_ranges(nm, extension, &nn);
    for (size_t i = 0; i < no; i++) {
        char *missing = spk_evolve_range_missing(o[i], n, nn, message_max(nm));
        if (!missing)
            continue;
        char *was = spk_evolve_range_string(o[i], message_max(om));
        char *qw = spk_evolve_quote(was), *qm = spk_evolve_quote(nm->name);
        spk_evolve_emit(c, in_message(nm), nm->file, in_message(om), NULL, NULL,
                        "Previously present %s range %s on message %s is missing values: %s were "
                        "removed.",
                        extension ? "extension" : "reserved", qw, qm, missing);
        free(qw);
        free(qm);
        free(was);
        free(missing);
    }
    free(o);
    free(n);
}

static void extension_ranges_pair(struct spk_evolve_check *c, const struct spk_evolve_message *om,
                                  const struct spk_evolve_message *nm)
{
    check_message_ranges(c, om, nm, 1);
}

SPK_EVOLVE_RULE_FN(extension_message_no_delete)
{
    each_message_pair(c, extension_ranges_pair);
}

static void reserved_pair(struct spk_evolve_check *c, const struct spk_evolve_message *om,
                          const struct spk_evolve_message *nm)
{
    check_message_ranges(c, om, nm, 0);
    for (size_t i = 0; i < om->d->n_reserved_name; i++) {
        const char *name = om->d->reserved_name[i];
        if (reserved_name(nm->d->n_reserved_name, nm->d->reserved_name, name) ||
            reserved_name(i, om->d->reserved_name, name))
            continue;
        char *qn = spk_evolve_quote(name), *qm = spk_evolve_quote(nm->name);
        spk_evolve_emit(c, in_message(nm), nm->file, in_message(om), NULL, NULL,
                        "Previously present reserved name %s on message %s was deleted.", qn, qm);
        free(qn);
        free(qm);
    }
}

SPK_EVOLVE_RULE_FN(reserved_message_no_delete)
{
    each_message_pair(c, reserved_pair);
}

/* ---- required fields and options ---- */

static int required(const struct spk_evolve_field *f)
{
    return f && f->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REQUIRED;
}

static void required_pair(struct spk_evolve_check *c, const struct spk_evolve_message *om,
                          const struct spk_evolve_message *nm)
{
    static const char why[] = "Required fields must always be sent, so if one side does not know "
                              "about the required field, this will result in a breakage.";
    for (size_t i = 0; i < om->nfields; i++) {
        const struct spk_evolve_field *f = om->by_number[i];
        if (!required(f) || required(spk_evolve_message_field(nm, f->number)))
            continue;
        char *q = spk_evolve_quote(om->name);
        spk_evolve_emit(c, in_message(nm), nm->file, in_message(om), NULL, NULL,
                        "Message %s had required field \"%d\" deleted. %s", q, f->number, why);
        free(q);
    }
    for (size_t i = 0; i < nm->nfields; i++) {
        const struct spk_evolve_field *f = nm->by_number[i];
        if (!required(f) || required(spk_evolve_message_field(om, f->number)))
            continue;
        char *q = spk_evolve_quote(nm->name);
        spk_evolve_emit(c, spk_evolve_field_where(f, -1), f->file, spk_evolve_nowhere(), NULL, NULL,
                        "Message %s had required field \"%d\" added. %s", q, f->number, why);
        free(q);
    }
}

SPK_EVOLVE_RULE_FN(message_same_required_fields)
{
    each_message_pair(c, required_pair);
}

static int no_accessor(const struct spk_evolve_message *m)
{
    const Google__Protobuf__MessageOptions *o = m->d->options;
    return o && o->has_no_standard_descriptor_accessor && o->no_standard_descriptor_accessor;
}

static void accessor_pair(struct spk_evolve_check *c, const struct spk_evolve_message *om,
                          const struct spk_evolve_message *nm)
{
    if (no_accessor(om) || !no_accessor(nm))
        return;
    static const int32_t path[] = {7, 2};
    spk_evolve_emit(c, spk_evolve_at(nm->file, &nm->path, 2, path), nm->file,
                    spk_evolve_at(om->file, &om->path, 2, path), "false", "true",
                    "Message option \"no_standard_descriptor_accessor\" changed from \"false\" to "
                    "\"true\".");
}

SPK_EVOLVE_RULE_FN(message_no_remove_standard_descriptor_accessor)
{
    each_message_pair(c, accessor_pair);
}

static struct spk_evolve_where json_format_where(const struct spk_evolve_message *m)
{
    static const int32_t path[] = {7, 12, 6};
    struct spk_evolve_where w = {
        m->file, spk_evolve_file_option_loc(m->file, &m->path, 3, path, m->path.n + 2), 0, 0};
    return spk_evolve_or(w, in_message(m));
}

static void json_format_pair(struct spk_evolve_check *c, const struct spk_evolve_message *om,
                             const struct spk_evolve_message *nm)
{
    if (om->features.json_format != EV_JSON_ALLOW || nm->features.json_format == EV_JSON_ALLOW)
        return;
    const char *was = spk_evolve_json_format_name(om->features.json_format);
    const char *is = spk_evolve_json_format_name(nm->features.json_format);
    char *q = spk_evolve_quote(nm->name);
    spk_evolve_emit(c, json_format_where(nm), nm->file, json_format_where(om), was, is,
                    "Message %s JSON format support changed from %s to %s.", q, was, is);
    free(q);
}

SPK_EVOLVE_RULE_FN(message_same_json_format)
{
    each_message_pair(c, json_format_pair);
}

/* Deprecated in buf and a no-op there since protobuf-go stopped exposing message sets; kept so
 * configurations naming it validate and behave exactly as buf's. */
SPK_EVOLVE_RULE_FN(message_same_message_set_wire_format)
{
    (void)c;
}
