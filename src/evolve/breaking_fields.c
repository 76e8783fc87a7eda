/* buf's field rules, run over every pair of fields (same message and number, or the same
 * extendee and number for extensions): type and cardinality changes under the strict, wire and
 * wire+JSON tables, names and JSON names, defaults, oneof membership, and the options and
 * features that change generated code (jstype, C++ string type, UTF-8 validation). */
#include <stdlib.h>
#include <string.h>

#include "evolve_internal.h"
#include "spoke/alloc.h"
#include "spoke/banned.h"

#define T(x) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_##x

typedef void (*field_pair_fn)(struct spk_evolve_check *c, const struct spk_evolve_field *of,
                              const struct spk_evolve_field *nf);

static void each_pair(struct spk_evolve_check *c, field_pair_fn fn)
{
    for (size_t i = 0; i < c->nfields; i++)
        fn(c, c->fields[i].old, c->fields[i].new_);
}

/* buf's fieldDescription: `Field "3" with name "amount" on message "Payment"`, extensions by
 * full name on their extendee. */
static char *describe(const struct spk_evolve_field *f, int with_name)
{
    char *name = with_name ? spk_evolve_quote(f->is_extension ? f->full_name : f->name) : NULL;
    char *on = spk_evolve_quote(f->is_extension ? f->extendee : f->msg ? f->msg->name : "");
    char *s = spk_asprintf("%s \"%d\"%s%s on message %s", f->is_extension ? "Extension" : "Field",
                           f->number, name ? " with name " : "", name ? name : "", on);
    free(name);
    free(on);
    return s;
}

static struct spk_evolve_where loc(const struct spk_evolve_field *f)
{
    return spk_evolve_field_where(f, -1);
}

/* An option of the field (path + suffix), else the field itself. */
static struct spk_evolve_where option_or_field(const struct spk_evolve_field *f, size_t n,
                                               const int32_t *suffix)
{
    return spk_evolve_or(spk_evolve_at(f->file, &f->path, n, suffix), loc(f));
}

/* A feature inside the field's options (8, 21, ...), found like buf's OptionLocation. */
static struct spk_evolve_where feature_at(const struct spk_evolve_field *f, size_t n,
                                          const int32_t *suffix)
{
    return (struct spk_evolve_where){
        f->file, spk_evolve_file_option_loc(f->file, &f->path, n, suffix, f->path.n + 2), 0, 0};
}

static int in_map_entries(const struct spk_evolve_field *of, const struct spk_evolve_field *nf)
{
    return !of->is_extension && !nf->is_extension && of->msg && nf->msg && of->msg->map_entry &&
           nf->msg->map_entry;
}

/* ---- cardinality ---- */

static const int wire_card_group[] = {0, 1, 1, 2, 3, 3};
static const int wire_json_card_group[] = {0, 1, 1, 2, 3, 4};

static void cardinality(struct spk_evolve_check *c, const struct spk_evolve_field *of,
                        const struct spk_evolve_field *nf, const int *groups)
{
    if (in_map_entries(of, nf))
        return;
    int a = spk_evolve_field_cardinality(of), b = spk_evolve_field_cardinality(nf);
    if (groups ? groups[a] == groups[b] : a == b)
        return;
    char *d = describe(nf, 1);
    spk_evolve_emit(c, loc(nf), nf->file, loc(of), spk_evolve_cardinality_name(a),
                    spk_evolve_cardinality_name(b), "%s changed cardinality from \"%s\" to \"%s\".",
                    d, spk_evolve_cardinality_name(a), spk_evolve_cardinality_name(b));
    free(d);
}

static void same_cardinality(struct spk_evolve_check *c, const struct spk_evolve_field *of,
                             const struct spk_evolve_field *nf)
{
    cardinality(c, of, nf, NULL);
}

static void wire_cardinality(struct spk_evolve_check *c, const struct spk_evolve_field *of,
                             const struct spk_evolve_field *nf)
{
    cardinality(c, of, nf, wire_card_group);
}

static void wire_json_cardinality(struct spk_evolve_check *c, const struct spk_evolve_field *of,
                                  const struct spk_evolve_field *nf)
{
    cardinality(c, of, nf, wire_json_card_group);
}

SPK_EVOLVE_RULE_FN(field_same_cardinality)
{
    each_pair(c, same_cardinality);
}

SPK_EVOLVE_RULE_FN(field_wire_compatible_cardinality)
{
    each_pair(c, wire_cardinality);
}

SPK_EVOLVE_RULE_FN(field_wire_json_compatible_cardinality)
{
    each_pair(c, wire_json_cardinality);
}

/* ---- types ---- */

/* Indexed by FieldDescriptorProto.Type. */
static const int wire_type_group[] = {0, 7, 8, 1, 1, 1, 6, 5, 1, 3, 9, 10, 4, 1, 11, 5, 6, 2, 2};
static const int wire_json_type_group[] = {0,  10, 11, 2, 2,  1, 4, 3, 5, 8,
                                           12, 13, 9,  1, 14, 3, 4, 6, 7};

static int is_named_kind(int kind)
{
    return kind == T(MESSAGE) || kind == T(ENUM) || kind == T(GROUP);
}

static const char *pretty_kind(const struct spk_evolve_field *f)
{
    int kind = spk_evolve_field_kind(f);
    if (kind == T(GROUP) && f->file->syntax != EV_PROTO2)
        return "message (delimited encoding)";
    return spk_evolve_type_name(kind);
}

static struct spk_evolve_where type_where(const struct spk_evolve_field *f)
{
    return spk_evolve_field_where(f, is_named_kind(spk_evolve_field_kind(f)) ? 6 : 5);
}

static void changed_kind(struct spk_evolve_check *c, const struct spk_evolve_field *of,
                         const struct spk_evolve_field *nf, const char *extra)
{
    char *d = describe(nf, 1);
    spk_evolve_emit(c, type_where(nf), nf->file, type_where(of), pretty_kind(of), pretty_kind(nf),
                    "%s changed type from \"%s\" to \"%s\".%s%s", d, pretty_kind(of),
                    pretty_kind(nf), extra ? " " : "", extra ? extra : "");
    free(d);
}

static void changed_type_name(struct spk_evolve_check *c, const struct spk_evolve_field *of,
                              const struct spk_evolve_field *nf)
{
    char *d = describe(nf, 1);
    char *qa = spk_evolve_quote(of->type_name), *qb = spk_evolve_quote(nf->type_name);
    spk_evolve_emit(c, spk_evolve_field_where(nf, 6), nf->file, spk_evolve_field_where(of, 6),
                    of->type_name, nf->type_name, "%s changed type from %s to %s.", d, qa, qb);
    free(d);
    free(qa);
    free(qb);
}

static int type_in_range(int t)
{
    return t >= 1 && t <= 18;
}

static void same_type(struct spk_evolve_check *c, const struct spk_evolve_field *of,
                      const struct spk_evolve_field *nf)
{
    if (spk_evolve_field_kind(of) != spk_evolve_field_kind(nf)) {
        changed_kind(c, of, nf, NULL);
        return;
    }
    if ((nf->type == T(ENUM) || nf->type == T(GROUP) || nf->type == T(MESSAGE)) &&
        strcmp(of->type_name, nf->type_name) != 0)
        changed_type_name(c, of, nf);
}

/* An enum swapped for another: fine when it has the same short name and keeps every old value
 * (name and number). */
static void enum_swap(struct spk_evolve_check *c, const struct spk_evolve_field *of,
                      const struct spk_evolve_field *nf)
{
    const struct spk_evolve_enum *oe = of->type_enum, *ne = nf->type_enum;
    if (!oe || !ne)
        return;
    int ok = strcmp(oe->name, ne->name) == 0;
    for (size_t i = 0; ok && i < oe->nvalues; i++) {
        int found = 0;
        for (size_t k = 0; k < ne->nvalues && !found; k++)
            found = strcmp(ne->values[k].name, oe->values[i].name) == 0 &&
                    ne->values[k].number == oe->values[i].number;
        ok = found;
    }
    if (!ok)
        changed_type_name(c, of, nf);
}

static const char wire_rules_note[] =
    "See https://developers.google.com/protocol-buffers/docs/proto3#updating for wire "
    "compatibility rules.";

static void wire_type(struct spk_evolve_check *c, const struct spk_evolve_field *of,
                      const struct spk_evolve_field *nf)
{
    int a = spk_evolve_field_kind(of), b = spk_evolve_field_kind(nf);
    if (!type_in_range(a) || !type_in_range(b))
        return;
    if (wire_type_group[a] != wire_type_group[b]) {
        if (a == T(STRING) && b == T(BYTES))
            return;
        if (a == T(BYTES) && b == T(STRING)) {
            char *extra = spk_asprintf(
                "%s Note that while string and bytes are compatible if the data is valid UTF-8, "
                "there is no way to enforce that a bytes field is UTF-8, so these fields may be "
                "incompatible.",
                wire_rules_note);
            changed_kind(c, of, nf, extra);
            free(extra);
            return;
        }
        changed_kind(c, of, nf, wire_rules_note);
        return;
    }
    if (strcmp(of->type_name, nf->type_name) == 0)
        return;
    if (nf->type == T(ENUM))
        enum_swap(c, of, nf);
    else if (nf->type == T(GROUP) || nf->type == T(MESSAGE))
        changed_type_name(c, of, nf);
}

static void wire_json_type(struct spk_evolve_check *c, const struct spk_evolve_field *of,
                           const struct spk_evolve_field *nf)
{
    int a = spk_evolve_field_kind(of), b = spk_evolve_field_kind(nf);
    if (!type_in_range(a) || !type_in_range(b))
        return;
    if (wire_json_type_group[a] != wire_json_type_group[b]) {
        changed_kind(c, of, nf,
                     "See https://developers.google.com/protocol-buffers/docs/proto3#updating for "
                     "wire compatibility rules and "
                     "https://developers.google.com/protocol-buffers/docs/proto3#json for JSON "
                     "compatibility rules.");
        return;
    }
    if (strcmp(of->type_name, nf->type_name) == 0)
        return;
    if (b == T(ENUM))
        enum_swap(c, of, nf);
    else if (b == T(GROUP) || b == T(MESSAGE))
        changed_type_name(c, of, nf);
}

SPK_EVOLVE_RULE_FN(field_same_type)
{
    each_pair(c, same_type);
}

SPK_EVOLVE_RULE_FN(field_wire_compatible_type)
{
    each_pair(c, wire_type);
}

SPK_EVOLVE_RULE_FN(field_wire_json_compatible_type)
{
    each_pair(c, wire_json_type);
}

/* ---- names ---- */

static void same_name(struct spk_evolve_check *c, const struct spk_evolve_field *of,
                      const struct spk_evolve_field *nf)
{
    const char *a = of->is_extension ? of->full_name : of->name;
    const char *b = of->is_extension ? nf->full_name : nf->name;
    if (strcmp(a, b) == 0)
        return;
    char *d = describe(nf, 0), *qa = spk_evolve_quote(a), *qb = spk_evolve_quote(b);
    spk_evolve_emit(c, spk_evolve_field_where(nf, 1), nf->file, spk_evolve_field_where(of, 1), a, b,
                    "%s changed name from %s to %s.", d, qa, qb);
    free(d);
    free(qa);
    free(qb);
}

SPK_EVOLVE_RULE_FN(field_same_name)
{
    each_pair(c, same_name);
}

static void same_json_name(struct spk_evolve_check *c, const struct spk_evolve_field *of,
                           const struct spk_evolve_field *nf)
{
    if (of->is_extension || strcmp(of->json_name, nf->json_name) == 0)
        return;
    static const int32_t path[] = {10};
    char *d = describe(nf, 1);
    char *qa = spk_evolve_quote(of->json_name), *qb = spk_evolve_quote(nf->json_name);
    spk_evolve_emit(c, option_or_field(nf, 1, path), nf->file, option_or_field(of, 1, path),
                    of->json_name, nf->json_name, "%s changed option \"json_name\" from %s to %s.",
                    d, qa, qb);
    free(d);
    free(qa);
    free(qb);
}

SPK_EVOLVE_RULE_FN(field_same_json_name)
{
    each_pair(c, same_json_name);
}

/* ---- options and features ---- */

static int is_64bit(int type)
{
    return type == T(INT64) || type == T(SINT64) || type == T(UINT64) || type == T(FIXED64) ||
           type == T(SFIXED64);
}

static const char *jstype(const struct spk_evolve_field *f)
{
    static const char *const names[] = {"JS_NORMAL", "JS_STRING", "JS_NUMBER"};
    const Google__Protobuf__FieldOptions *o = f->d->options;
    int v = o && o->has_jstype ? (int)o->jstype : 0;
    return v >= 0 && v <= 2 ? names[v] : "JS_NORMAL";
}

static void same_jstype(struct spk_evolve_check *c, const struct spk_evolve_field *of,
                        const struct spk_evolve_field *nf)
{
    if (!is_64bit(of->type) || !is_64bit(nf->type) || strcmp(jstype(of), jstype(nf)) == 0)
        return;
    static const int32_t path[] = {8, 6};
    char *d = describe(nf, 1);
    spk_evolve_emit(c, option_or_field(nf, 2, path), nf->file, option_or_field(of, 2, path),
                    jstype(of), jstype(nf), "%s changed option \"jstype\" from \"%s\" to \"%s\".",
                    d, jstype(of), jstype(nf));
    free(d);
}

SPK_EVOLVE_RULE_FN(field_same_jstype)
{
    each_pair(c, same_jstype);
}

static int is_string_kind(const struct spk_evolve_field *f)
{
    return spk_evolve_field_kind(f) == T(STRING);
}

/* The C++ string type: the ctype option (before edition 2024), else the pb.cpp feature.
 * piece: ctype STRING_PIECE, which buf tells apart from STRING. */
static int cpp_string_type(const struct spk_evolve_field *f, int *piece)
{
    const Google__Protobuf__FieldOptions *o = f->d->options;
    *piece = 0;
    if ((f->file->syntax != EV_EDITIONS || f->file->edition < 1001) && o && o->has_ctype) {
        switch (o->ctype) {
        case GOOGLE__PROTOBUF__FIELD_OPTIONS__CTYPE__CORD:
            return EV_CPP_CORD;
        case GOOGLE__PROTOBUF__FIELD_OPTIONS__CTYPE__STRING_PIECE:
            *piece = 1;
            return EV_CPP_STRING;
        default:
            return EV_CPP_STRING;
        }
    }
    return f->features.cpp_string_type;
}

static const char *cpp_name(int type, int piece)
{
    if (piece)
        return "STRING_PIECE";
    return type == EV_CPP_VIEW     ? "VIEW"
           : type == EV_CPP_CORD   ? "CORD"
           : type == EV_CPP_STRING ? "STRING"
                                   : "STRING_TYPE_UNKNOWN";
}

static struct spk_evolve_where cpp_where(const struct spk_evolve_field *f)
{
    static const int32_t ctype[] = {8, 1}, feature[] = {8, 21, 1000, 2};
    return spk_evolve_or(spk_evolve_at(f->file, &f->path, 2, ctype),
                         spk_evolve_or(feature_at(f, 4, feature), loc(f)));
}

static void same_cpp_string_type(struct spk_evolve_check *c, const struct spk_evolve_field *of,
                                 const struct spk_evolve_field *nf)
{
    int ka = spk_evolve_field_kind(of), kb = spk_evolve_field_kind(nf);
    if (in_map_entries(of, nf) || (ka != T(STRING) && ka != T(BYTES)) ||
        (kb != T(STRING) && kb != T(BYTES)))
        return;
    int pa, pb;
    int a = cpp_string_type(of, &pa), b = cpp_string_type(nf, &pb);
    if ((a == b && pa == pb) || (pa && b == EV_CPP_STRING))
        return; /* string_piece → string is allowed */
    char *d = describe(nf, 1);
    spk_evolve_emit(c, cpp_where(nf), nf->file, cpp_where(of), cpp_name(a, pa), cpp_name(b, pb),
                    "%s changed C++ string type from \"%s\" to \"%s\".", d, cpp_name(a, pa),
                    cpp_name(b, pb));
    free(d);
}

SPK_EVOLVE_RULE_FN(field_same_cpp_string_type)
{
    each_pair(c, same_cpp_string_type);
}

static int java_utf8(const struct spk_evolve_field *f)
{
    const Google__Protobuf__FileOptions *o = f->file->d->options;
    int has = o && o->has_java_string_check_utf8;
    if (f->file->syntax != EV_EDITIONS || has)
        return has && o->java_string_check_utf8 ? EV_UTF8_VERIFY : f->features.utf8_validation;
    return f->features.java_utf8_validation == EV_JAVA_UTF8_VERIFY ? EV_UTF8_VERIFY
                                                                   : f->features.utf8_validation;
}

static struct spk_evolve_where java_where(const struct spk_evolve_field *f)
{
    static const int32_t file_option[] = {8, 27}, feature[] = {8, 21, 1001, 2};
    struct spk_evolve_path root = {NULL, 0};
    return spk_evolve_or(spk_evolve_at(f->file, &root, 2, file_option),
                         spk_evolve_or(feature_at(f, 4, feature), loc(f)));
}

static void same_java_utf8(struct spk_evolve_check *c, const struct spk_evolve_field *of,
                           const struct spk_evolve_field *nf)
{
    if (!is_string_kind(of) || !is_string_kind(nf))
        return;
    int a = java_utf8(of), b = java_utf8(nf);
    if (a == b)
        return;
    char *d = describe(nf, 1);
    spk_evolve_emit(c, java_where(nf), nf->file, java_where(of), spk_evolve_utf8_name(a),
                    spk_evolve_utf8_name(b),
                    "%s changed Java string UTF8 validation from \"%s\" to \"%s\".", d,
                    spk_evolve_utf8_name(a), spk_evolve_utf8_name(b));
    free(d);
}

SPK_EVOLVE_RULE_FN(field_same_java_utf8_validation)
{
    each_pair(c, same_java_utf8);
}

static void same_utf8(struct spk_evolve_check *c, const struct spk_evolve_field *of,
                      const struct spk_evolve_field *nf)
{
    if (!is_string_kind(of) || !is_string_kind(nf))
        return;
    int a = of->features.utf8_validation, b = nf->features.utf8_validation;
    if (a == b)
        return;
    static const int32_t feature[] = {8, 21, 4};
    char *d = describe(nf, 1);
    spk_evolve_emit(c, spk_evolve_or(feature_at(nf, 3, feature), loc(nf)), nf->file,
                    spk_evolve_or(feature_at(of, 3, feature), loc(of)), spk_evolve_utf8_name(a),
                    spk_evolve_utf8_name(b), "%s changed UTF8 validation from %s to %s.", d,
                    spk_evolve_utf8_name(a), spk_evolve_utf8_name(b));
    free(d);
}

SPK_EVOLVE_RULE_FN(field_same_utf8_validation)
{
    each_pair(c, same_utf8);
}

/* ---- defaults and oneofs ---- */

/* buf's compiler spans an explicit default from the `default` keyword; protoc's starts at the
 * value. The descriptor keeps no text, so the usual `default = ` is assumed in between. */
static struct spk_evolve_where default_where(const struct spk_evolve_field *f)
{
    static const int32_t path[] = {7};
    struct spk_evolve_where w = spk_evolve_at(f->file, &f->path, 1, path);
    if (!w.loc)
        return loc(f);
    w.shift = (int)strlen("default = ");
    return w;
}

static void same_default(struct spk_evolve_check *c, const struct spk_evolve_field *of,
                         const struct spk_evolve_field *nf)
{
    if (!spk_evolve_field_can_have_default(of) || !spk_evolve_field_can_have_default(nf))
        return;
    struct spk_evolve_default a, b;
    spk_evolve_default_get(of, 0, &a);
    spk_evolve_default_get(nf, 0, &b);
    if (!(spk_evolve_default_is_zero(&a) && spk_evolve_default_is_zero(&b)) &&
        !spk_evolve_default_equal(&a, &b)) {
        spk_evolve_default_release(&a);
        spk_evolve_default_release(&b);
        spk_evolve_default_get(of, 1, &a);
        spk_evolve_default_get(nf, 1, &b);
        char *d = describe(nf, 1);
        spk_evolve_emit(c, default_where(nf), nf->file, default_where(of), a.printable, b.printable,
                        "%s changed default value from %s to %s.", d, a.printable, b.printable);
        free(d);
    }
    spk_evolve_default_release(&a);
    spk_evolve_default_release(&b);
}

SPK_EVOLVE_RULE_FN(field_same_default)
{
    each_pair(c, same_default);
}

static const struct spk_evolve_oneof *real_oneof(const struct spk_evolve_field *f)
{
    return f->oneof && !f->oneof->synthetic ? f->oneof : NULL;
}

static void same_oneof(struct spk_evolve_check *c, const struct spk_evolve_field *of,
                       const struct spk_evolve_field *nf)
{
    if (of->is_extension)
        return;
    const struct spk_evolve_oneof *a = real_oneof(of), *b = real_oneof(nf);
    if ((!a && !b) || (a && b && strcmp(a->name, b->name) == 0))
        return;
    char *d = describe(nf, 1);
    if (a && b) {
        if (strcmp(a->name, b->name) != 0) {
            char *qa = spk_evolve_quote(a->name), *qb = spk_evolve_quote(b->name);
            /* "%sq" is buf's own wording, kept so messages compare equal */
            spk_evolve_emit(c, loc(nf), nf->file, loc(of), a->name, b->name,
                            "%sq moved from oneof %s to oneof %s.", d, qa, qb);
            free(qa);
            free(qb);
        }
    } else {
        const char *was = a ? "inside" : "outside", *is = a ? "outside" : "inside";
        spk_evolve_emit(c, loc(nf), nf->file, loc(of), a ? a->name : NULL, b ? b->name : NULL,
                        "%s moved from %s to %s a oneof.", d, was, is);
    }
    free(d);
}

SPK_EVOLVE_RULE_FN(field_same_oneof)
{
    each_pair(c, same_oneof);
}
