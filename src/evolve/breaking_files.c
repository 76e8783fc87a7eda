/* buf's file and package rules: files deleted, file options, package and syntax changed, and
 * packages (or the messages, enums, extensions and services of a package) deleted. Files pair
 * by path; packages by name across all compared files. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "evolve_internal.h"
#include "spoke/alloc.h"
#include "spoke/banned.h"

typedef Google__Protobuf__FileOptions pb_file_options;

SPK_EVOLVE_RULE_FN(file_no_delete)
{
    for (size_t i = 0; i < c->old.nfiles; i++) {
        const struct spk_evolve_file *f = c->old.files[i];
        if (spk_evolve_map_sget(&c->new_.file_by_path, f->path))
            continue;
        char *q = spk_evolve_quote(f->path);
        spk_evolve_emit(c, spk_evolve_nowhere(), NULL, (struct spk_evolve_where){f, NULL, 1, 0},
                        NULL, NULL, "Previously present file %s was deleted.", q);
        free(q);
    }
}

/* ---- file options: one row per rule ---- */

enum option_kind { OPT_STRING, OPT_BOOL, OPT_OPTIMIZE };

struct file_option {
    const char *name;
    int32_t number; /* in FileOptions */
    enum option_kind kind;
    size_t has, value; /* offsets in FileOptions */
    int def;           /* default of a bool */
};

#define STR_OPT(n, num, field)                                                                     \
    {                                                                                              \
        n, num, OPT_STRING, 0, offsetof(pb_file_options, field), 0                                 \
    }
#define BOOL_OPT(n, num, field, d)                                                                 \
    {                                                                                              \
        n, num, OPT_BOOL, offsetof(pb_file_options, has_##field),                                  \
            offsetof(pb_file_options, field), d                                                    \
    }

static const struct file_option opt_cc_enable_arenas =
    BOOL_OPT("cc_enable_arenas", 31, cc_enable_arenas, 1);
static const struct file_option opt_cc_generic_services =
    BOOL_OPT("cc_generic_services", 16, cc_generic_services, 0);
static const struct file_option opt_csharp_namespace =
    STR_OPT("csharp_namespace", 37, csharp_namespace);
static const struct file_option opt_go_package = STR_OPT("go_package", 11, go_package);
static const struct file_option opt_java_generic_services =
    BOOL_OPT("java_generic_services", 17, java_generic_services, 0);
static const struct file_option opt_java_multiple_files =
    BOOL_OPT("java_multiple_files", 10, java_multiple_files, 0);
static const struct file_option opt_java_outer_classname =
    STR_OPT("java_outer_classname", 8, java_outer_classname);
static const struct file_option opt_java_package = STR_OPT("java_package", 1, java_package);
static const struct file_option opt_objc_class_prefix =
    STR_OPT("objc_class_prefix", 36, objc_class_prefix);
static const struct file_option opt_optimize_for = {"optimize_for",
                                                    9,
                                                    OPT_OPTIMIZE,
                                                    offsetof(pb_file_options, has_optimize_for),
                                                    offsetof(pb_file_options, optimize_for),
                                                    1};
static const struct file_option opt_php_class_prefix =
    STR_OPT("php_class_prefix", 40, php_class_prefix);
static const struct file_option opt_php_metadata_namespace =
    STR_OPT("php_metadata_namespace", 44, php_metadata_namespace);
static const struct file_option opt_php_namespace = STR_OPT("php_namespace", 41, php_namespace);
static const struct file_option opt_py_generic_services =
    BOOL_OPT("py_generic_services", 18, py_generic_services, 0);
static const struct file_option opt_ruby_package = STR_OPT("ruby_package", 45, ruby_package);
static const struct file_option opt_swift_prefix = STR_OPT("swift_prefix", 39, swift_prefix);

static const char *option_value(const pb_file_options *o, const struct file_option *opt)
{
    static const char *const optimize[] = {"", "SPEED", "CODE_SIZE", "LITE_RUNTIME"};
    const char *base = (const char *)o;
    switch (opt->kind) {
    case OPT_STRING: {
        const char *s = o ? *(char *const *)(base + opt->value) : NULL;
        return s ? s : "";
    }
    case OPT_BOOL: {
        int has = o && *(const protobuf_c_boolean *)(base + opt->has);
        int v = has ? *(const protobuf_c_boolean *)(base + opt->value) : opt->def;
        return v ? "true" : "false";
    }
    case OPT_OPTIMIZE: {
        int has = o && *(const protobuf_c_boolean *)(base + opt->has);
        int v = has ? *(const int *)(base + opt->value) : 1;
        return v >= 1 && v <= 3 ? optimize[v] : "SPEED";
    }
    }
    return "";
}

/* buf's checkFileSameValue: reported at the value in the new file (or the file itself). */
static void same_value(struct spk_evolve_check *c, const struct spk_evolve_file *of,
                       const struct spk_evolve_file *nf, const char *ov, const char *nv,
                       const int32_t *path, size_t npath, const char *what)
{
    if (strcmp(ov, nv) == 0)
        return;
    struct spk_evolve_path root = {NULL, 0};
    char *qo = spk_evolve_quote(ov), *qn = spk_evolve_quote(nv);
    spk_evolve_emit(c, spk_evolve_at(nf, &root, npath, path), nf,
                    spk_evolve_at(of, &root, npath, path), ov, nv, "File %s changed from %s to %s.",
                    what, qo, qn);
    free(qo);
    free(qn);
}

static void check_option(struct spk_evolve_check *c, const struct file_option *opt)
{
    for (size_t i = 0; i < c->old.nfiles; i++) {
        const struct spk_evolve_file *of = c->old.files[i];
        const struct spk_evolve_file *nf = spk_evolve_map_sget(&c->new_.file_by_path, of->path);
        if (!nf)
            continue;
        int32_t path[2] = {8, opt->number};
        char *what = spk_asprintf("option \"%s\"", opt->name);
        same_value(c, of, nf, option_value(of->d->options, opt), option_value(nf->d->options, opt),
                   path, 2, what);
        free(what);
    }
}

#define OPTION_RULE(fn, opt)                                                                       \
    SPK_EVOLVE_RULE_FN(fn)                                                                         \
    {                                                                                              \
        check_option(c, &opt);                                                                     \
    }

OPTION_RULE(file_same_cc_enable_arenas, opt_cc_enable_arenas)
OPTION_RULE(file_same_cc_generic_services, opt_cc_generic_services)
OPTION_RULE(file_same_csharp_namespace, opt_csharp_namespace)
OPTION_RULE(file_same_go_package, opt_go_package)
OPTION_RULE(file_same_java_generic_services, opt_java_generic_services)
OPTION_RULE(file_same_java_multiple_files, opt_java_multiple_files)
OPTION_RULE(file_same_java_outer_classname, opt_java_outer_classname)
OPTION_RULE(file_same_java_package, opt_java_package)
OPTION_RULE(file_same_objc_class_prefix, opt_objc_class_prefix)
OPTION_RULE(file_same_optimize_for, opt_optimize_for)
OPTION_RULE(file_same_php_class_prefix, opt_php_class_prefix)
OPTION_RULE(file_same_php_metadata_namespace, opt_php_metadata_namespace)
OPTION_RULE(file_same_php_namespace, opt_php_namespace)
OPTION_RULE(file_same_py_generic_services, opt_py_generic_services)
OPTION_RULE(file_same_ruby_package, opt_ruby_package)
OPTION_RULE(file_same_swift_prefix, opt_swift_prefix)

static const char *syntax_name(const struct spk_evolve_file *f)
{
    return f->syntax == EV_PROTO3 ? "proto3" : f->syntax == EV_EDITIONS ? "editions" : "proto2";
}

SPK_EVOLVE_RULE_FN(file_same_syntax)
{
    for (size_t i = 0; i < c->old.nfiles; i++) {
        const struct spk_evolve_file *of = c->old.files[i];
        const struct spk_evolve_file *nf = spk_evolve_map_sget(&c->new_.file_by_path, of->path);
        int32_t path[1] = {12};
        if (nf)
            same_value(c, of, nf, syntax_name(of), syntax_name(nf), path, 1, "syntax");
    }
}

SPK_EVOLVE_RULE_FN(file_same_package)
{
    for (size_t i = 0; i < c->old.nfiles; i++) {
        const struct spk_evolve_file *of = c->old.files[i];
        const struct spk_evolve_file *nf = spk_evolve_map_sget(&c->new_.file_by_path, of->path);
        int32_t path[1] = {2};
        if (nf)
            same_value(c, of, nf, of->package, nf->package, path, 1, "package");
    }
}

/* ---- packages ---- */

SPK_EVOLVE_RULE_FN(package_no_delete)
{
    struct spk_evolve_map now = {0}, seen = {0};
    for (size_t i = 0; i < c->new_.nfiles; i++)
        spk_evolve_map_sadd(&now, c->new_.files[i]->package, c->new_.files[i]);
    for (size_t i = 0; i < c->old.nfiles; i++) {
        const struct spk_evolve_file *f = c->old.files[i];
        if (spk_evolve_map_sget(&now, f->package) || spk_evolve_map_sget(&seen, f->package))
            continue;
        spk_evolve_map_sadd(&seen, f->package, (void *)f);
        /* buf names the package's first file by path (it matters for ignores only) */
        const struct spk_evolve_file *first = f;
        for (size_t k = i + 1; k < c->old.nfiles; k++)
            if (strcmp(c->old.files[k]->package, f->package) == 0 &&
                strcmp(c->old.files[k]->path, first->path) < 0)
                first = c->old.files[k];
        char *q = spk_evolve_quote(f->package);
        spk_evolve_emit(c, spk_evolve_nowhere(), NULL, (struct spk_evolve_where){first, NULL, 1, 0},
                        NULL, NULL, "Previously present package %s was deleted.", q);
        free(q);
    }
    spk_evolve_map_release(&now);
    spk_evolve_map_release(&seen);
}

enum element_kind { EL_MESSAGE, EL_ENUM, EL_EXTENSION };

static size_t count_of(const struct spk_evolve_file *f, enum element_kind k)
{
    return k == EL_MESSAGE ? f->nmessages : k == EL_ENUM ? f->nenums : f->nextensions;
}

static const char *nested_of(const struct spk_evolve_file *f, enum element_kind k, size_t i)
{
    return k == EL_MESSAGE ? f->messages[i]->nested_name
           : k == EL_ENUM  ? f->enums[i]->nested_name
                           : f->extensions[i]->nested_name;
}

static struct spk_evolve_where where_of(const struct spk_evolve_file *f, enum element_kind k,
                                        size_t i)
{
    return k == EL_MESSAGE ? spk_evolve_message_where(f->messages[i])
           : k == EL_ENUM  ? spk_evolve_enum_where(f->enums[i])
                           : spk_evolve_field_where(f->extensions[i], -1);
}

static const char *full_of(const struct spk_evolve_file *f, enum element_kind k, size_t i)
{
    return k == EL_MESSAGE ? f->messages[i]->full_name
           : k == EL_ENUM  ? f->enums[i]->full_name
                           : f->extensions[i]->full_name;
}

/* An element gone from its package; nothing is said while the package has no element of that
 * kind left at all (buf only looks into packages that still have one). Elements are keyed by
 * full name, which is the package and the nested name. */
static void package_element_no_delete(struct spk_evolve_check *c, enum element_kind kind,
                                      const char *what)
{
    struct spk_evolve_map have = {0}, pkgs = {0};
    for (size_t i = 0; i < c->new_.nfiles; i++) {
        const struct spk_evolve_file *f = c->new_.files[i];
        for (size_t k = 0; k < count_of(f, kind); k++) {
            spk_evolve_map_sadd(&have, full_of(f, kind, k), (void *)f);
            spk_evolve_map_sadd(&pkgs, f->package, (void *)f);
        }
    }
    for (size_t i = 0; i < c->old.nfiles; i++) {
        const struct spk_evolve_file *of = c->old.files[i];
        if (!count_of(of, kind) || !spk_evolve_map_sget(&pkgs, of->package))
            continue;
        for (size_t k = 0; k < count_of(of, kind); k++) {
            if (spk_evolve_map_sget(&have, full_of(of, kind, k)))
                continue;
            const char *nested = nested_of(of, kind, k);
            const struct spk_evolve_file *nf = spk_evolve_map_sget(&c->new_.file_by_path, of->path);
            /* The parent is looked for by full name, as buf does: in a file whose package
             * changed it is not there, and the file itself (1:1) is named. */
            struct spk_evolve_where at = !nf ? spk_evolve_nowhere()
                                         : strcmp(nf->package, of->package) != 0
                                             ? (struct spk_evolve_where){nf, NULL, 0, 0}
                                             : spk_evolve_deleted_where(nf, nested);
            char *qn = spk_evolve_quote(nested), *qp = spk_evolve_quote(of->package);
            spk_evolve_emit(c, at, nf, where_of(of, kind, k), NULL, NULL,
                            "Previously present %s %s was deleted from package %s.", what, qn, qp);
            free(qn);
            free(qp);
        }
    }
    spk_evolve_map_release(&have);
    spk_evolve_map_release(&pkgs);
}

SPK_EVOLVE_RULE_FN(package_message_no_delete)
{
    package_element_no_delete(c, EL_MESSAGE, "message");
}

SPK_EVOLVE_RULE_FN(package_enum_no_delete)
{
    package_element_no_delete(c, EL_ENUM, "enum");
}

SPK_EVOLVE_RULE_FN(package_extension_no_delete)
{
    package_element_no_delete(c, EL_EXTENSION, "extension");
}

/* Services: any file of the package still present is enough for buf to look. */
SPK_EVOLVE_RULE_FN(package_service_no_delete)
{
    struct spk_evolve_map have = {0}, pkgs = {0};
    for (size_t i = 0; i < c->new_.nfiles; i++) {
        const struct spk_evolve_file *f = c->new_.files[i];
        spk_evolve_map_sadd(&pkgs, f->package, (void *)f);
        for (size_t k = 0; k < f->nservices; k++)
            spk_evolve_map_sadd(&have, f->services[k].full_name, (void *)f);
    }
    for (size_t i = 0; i < c->old.nfiles; i++) {
        const struct spk_evolve_file *of = c->old.files[i];
        if (!spk_evolve_map_sget(&pkgs, of->package))
            continue;
        for (size_t k = 0; k < of->nservices; k++) {
            const struct spk_evolve_service *s = &of->services[k];
            if (spk_evolve_map_sget(&have, s->full_name))
                continue;
            const struct spk_evolve_file *nf = spk_evolve_map_sget(&c->new_.file_by_path, of->path);
            char *qn = spk_evolve_quote(s->name), *qp = spk_evolve_quote(of->package);
            spk_evolve_emit(c, spk_evolve_nowhere(), nf, spk_evolve_at(of, &s->path, 0, NULL), NULL,
                            NULL, "Previously present service %s was deleted from package %s.", qn,
                            qp);
            free(qn);
            free(qp);
        }
    }
    spk_evolve_map_release(&have);
    spk_evolve_map_release(&pkgs);
}
