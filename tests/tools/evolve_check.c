/* evolve-check: compares two directories of .proto files with the evolution engine and prints
 * one JSON object, for differential tests against `buf breaking` and for people.
 *
 *   evolve-check [--use X]... [--except X]... [--ignore PATH]... [--ignore-unstable-packages]
 *                [--exclude-imports] [--confluent] [--diff] OLD_DIR NEW_DIR
 *
 * Default: {"violations": [{"rule", "categories", "file", "line", "column", "message", "old",
 * "new"}]} under buf's rules; --confluent: the same shape for Confluent's incompatible
 * differences (BACKWARD: OLD_DIR is the previous version); --diff: {"changes": [...]}.
 * Like `buf breaking`, imports (the well-known types) are compared too unless
 * --exclude-imports. Exit 0 when nothing is reported, 1 when something is, 2 on error. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evolve_tree.h"
#include "spoke/alloc.h"
#include "spoke/error.h"
#include "spoke/evolve.h"
#include "spoke/proto.h"

static void usage(void)
{
    fprintf(stderr, "usage: evolve-check [--use X]... [--except X]... [--ignore PATH]... "
                    "[--ignore-unstable-packages] [--exclude-imports] [--confluent] [--diff] "
                    "OLD_DIR NEW_DIR\n");
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *violations_json(const struct spk_evolve_result *r)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < r->n; i++) {
        const struct spk_evolve_violation *v = &r->v[i];
        json_t *cats = json_array();
        static const unsigned bits[] = {SPK_EVOLVE_FILE, SPK_EVOLVE_PACKAGE, SPK_EVOLVE_WIRE_JSON,
                                        SPK_EVOLVE_WIRE, SPK_EVOLVE_CSR};
        for (size_t k = 0; k < sizeof(bits) / sizeof(bits[0]); k++)
            if (v->categories & bits[k])
                json_array_append_new(cats, json_string(spk_evolve_category_name(bits[k])));
        json_array_append_new(arr, json_pack("{s:s, s:o, s:s, s:i, s:i, s:s, s:o, s:o}", "rule",
                                             v->rule, "categories", cats, "file", v->file, "line",
                                             v->line, "column", v->column, "message", v->message,
                                             "old", str_or_null(v->old_value), "new",
                                             str_or_null(v->new_value)));
    }
    return json_pack("{s:o}", "violations", arr);
}

static json_t *changes_json(const struct spk_evolve_diff *d)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < d->n; i++) {
        const struct spk_evolve_change *c = &d->c[i];
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:i, s:i}", "kind",
                           spk_evolve_change_kind_name(c->kind), "element", c->element, "file",
                           c->file, "name", c->name, "old", str_or_null(c->old_value), "new",
                           str_or_null(c->new_value), "line", c->line, "column", c->column));
    }
    return json_pack("{s:o}", "changes", arr);
}

int main(int argc, char **argv)
{
    const char **use = spk_calloc((size_t)argc, sizeof(*use));
    const char **except = spk_calloc((size_t)argc, sizeof(*except));
    const char **ignore = spk_calloc((size_t)argc, sizeof(*ignore));
    struct spk_evolve_config cfg = {use, 0, except, 0, ignore, 0, 0};
    int confluent = 0, diff = 0, imports = 1, rc = 2;
    const char *dirs[2] = {NULL, NULL};
    size_t ndirs = 0;
    struct spk_proto_toolchain tc = {0};
    struct evtree trees[2] = {{0}, {0}};
    struct spk_evolve_image *img[2] = {NULL, NULL};
    struct spk_evolve_result res = {0};
    struct spk_evolve_diff changes = {0};
    struct spk_error err = {0};
    json_t *out = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--use") == 0 && i + 1 < argc)
            use[cfg.nuse++] = argv[++i];
        else if (strcmp(a, "--except") == 0 && i + 1 < argc)
            except[cfg.nexcept++] = argv[++i];
        else if (strcmp(a, "--ignore") == 0 && i + 1 < argc)
            ignore[cfg.nignore++] = argv[++i];
        else if (strcmp(a, "--ignore-unstable-packages") == 0)
            cfg.ignore_unstable_packages = 1;
        else if (strcmp(a, "--exclude-imports") == 0)
            imports = 0;
        else if (strcmp(a, "--confluent") == 0)
            confluent = 1;
        else if (strcmp(a, "--diff") == 0)
            diff = 1;
        else if (a[0] == '-' || ndirs == 2) {
            usage();
            goto out;
        } else
            dirs[ndirs++] = a;
    }
    if (ndirs != 2) {
        usage();
        goto out;
    }
    if (spk_evolve_config_validate(&cfg, &err)) {
        fprintf(stderr, "evolve-check: %s\n", err.msg);
        goto out;
    }
    if (spk_proto_toolchain_create("/usr/bin/protoc", "/usr/include", &tc, &err)) {
        fprintf(stderr, "evolve-check: %s\n", err.msg);
        goto out;
    }
    for (int s = 0; s < 2; s++) {
        if (evtree_collect(dirs[s], &trees[s])) {
            fprintf(stderr, "evolve-check: no .proto files under %s\n", dirs[s]);
            goto out;
        }
        /* Confluent's diff and the structured diff are about the module's own files. */
        if (evtree_image(&tc, &trees[s], imports && !confluent && !diff, &img[s], NULL))
            goto out;
    }
    size_t found;
    if (diff) {
        if (spk_evolve_diff(img[0], img[1], &changes, &err))
            goto fail;
        out = changes_json(&changes);
        found = changes.n;
    } else {
        if (confluent ? spk_evolve_confluent_diff(img[0], img[1], &res, &err)
                      : spk_evolve_check(img[0], img[1], &cfg, &res, &err))
            goto fail;
        out = violations_json(&res);
        found = res.n;
    }
    char *text = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    puts(text);
    free(text);
    rc = found ? 1 : 0;
    goto out;
fail:
    fprintf(stderr, "evolve-check: %s\n", err.msg);
out:
    json_decref(out);
    spk_evolve_result_release(&res);
    spk_evolve_diff_release(&changes);
    for (int s = 0; s < 2; s++) {
        spk_evolve_image_destroy(img[s]);
        evtree_release(&trees[s]);
    }
    spk_proto_toolchain_release(&tc);
    free(use);
    free(except);
    free(ignore);
    return rc;
}
