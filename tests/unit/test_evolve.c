/* The evolution engine. buf's rules: every case in tests/fixtures/breaking/<case>/ (old/ and
 * new/ trees, expected.json recorded from buf 1.75.0 per category, plus "config" with
 * config.json) must report the same multiset of (rule, file, line, column) as buf. Confluent's
 * diff: hand-derived expectations from its rules, BACKWARD and FORWARD. The structured diff,
 * the rule table and the configuration checks. Compiles with the real protoc. */
#include <dirent.h>
#include <sys/stat.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/evolve_tree.h"
#include "spoke/alloc.h"
#include "spoke/error.h"
#include "spoke/evolve.h"
#include "spoke/proto.h"
#include "unit.h"

#define FIXTURES SPOKE_SOURCE_DIR "/tests/fixtures/breaking"

static struct spk_proto_toolchain tc;

/* ---- buf's corpus ---- */

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "rule|file|line|column" (line and column left out for entries without a file), sorted. */
static char **expected_keys(json_t *list, size_t *n)
{
    *n = json_array_size(list);
    char **keys = spk_calloc(*n + 1, sizeof(*keys));
    for (size_t i = 0; i < *n; i++) {
        json_t *e = json_array_get(list, i);
        const char *file = json_string_value(json_object_get(e, "file"));
        file = file ? file : "";
        keys[i] =
            file[0] ? spk_asprintf("%s|%s|%lld|%lld", json_string_value(json_object_get(e, "rule")),
                                   file, json_integer_value(json_object_get(e, "line")),
                                   json_integer_value(json_object_get(e, "column")))
                    : spk_asprintf("%s||", json_string_value(json_object_get(e, "rule")));
    }
    qsort(keys, *n, sizeof(*keys), cmp_keys);
    return keys;
}

static char **actual_keys(const struct spk_evolve_result *r, size_t *n)
{
    *n = r->n;
    char **keys = spk_calloc(*n + 1, sizeof(*keys));
    for (size_t i = 0; i < r->n; i++)
        keys[i] = r->v[i].file[0] ? spk_asprintf("%s|%s|%d|%d", r->v[i].rule, r->v[i].file,
                                                 r->v[i].line, r->v[i].column)
                                  : spk_asprintf("%s||", r->v[i].rule);
    qsort(keys, *n, sizeof(*keys), cmp_keys);
    return keys;
}

static void free_keys(char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

static int has_compile_error(json_t *list)
{
    for (size_t i = 0; i < json_array_size(list); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(list, i), "rule")),
                   "COMPILE") == 0)
            return 1;
    return 0;
}

static void compare(const char *name, const char *what, const struct spk_evolve_image *old,
                    const struct spk_evolve_image *new_, const struct spk_evolve_config *cfg,
                    json_t *expected)
{
    struct spk_evolve_result r = {0};
    struct spk_error err = {0};
    if (spk_evolve_check(old, new_, cfg, &r, &err)) {
        fprintf(stderr, "case %s (%s): %s\n", name, what, err.msg);
        unit_failures++;
        return;
    }
    size_t ne, na;
    char **e = expected_keys(expected, &ne), **a = actual_keys(&r, &na);
    int same = ne == na;
    for (size_t i = 0; same && i < ne; i++)
        same = strcmp(e[i], a[i]) == 0;
    if (!same) {
        fprintf(stderr, "case %s (%s): buf and the engine differ\n", name, what);
        for (size_t i = 0; i < ne; i++)
            fprintf(stderr, "  buf    %s\n", e[i]);
        for (size_t i = 0; i < r.n; i++)
            fprintf(stderr, "  engine %s|%s|%d|%d %s\n", r.v[i].rule, r.v[i].file, r.v[i].line,
                    r.v[i].column, r.v[i].message);
        unit_failures++;
    }
    free_keys(e, ne);
    free_keys(a, na);
    spk_evolve_result_release(&r);
}

static const char **strings_of(json_t *arr, size_t *n)
{
    *n = json_array_size(arr);
    const char **out = spk_calloc(*n + 1, sizeof(*out));
    for (size_t i = 0; i < *n; i++)
        out[i] = json_string_value(json_array_get(arr, i));
    return out;
}

static void run_case(const char *name)
{
    char path[1024];
    struct evtree trees[2] = {{0}, {0}};
    struct spk_evolve_image *img[2] = {NULL, NULL};
    json_error_t jerr;
    snprintf(path, sizeof(path), "%s/%s/expected.json", FIXTURES, name);
    json_t *expected = json_load_file(path, 0, &jerr);
    json_t *config = NULL;
    if (!expected) {
        fprintf(stderr, "case %s: %s\n", name, jerr.text);
        unit_failures++;
        return;
    }
    json_t *cats = json_object_get(expected, "categories");
    const char *cat;
    json_t *list;
    json_object_foreach(cats, cat, list)
    {
        if (has_compile_error(list)) {
            fprintf(stderr, "case %s: buf could not compile it; skipped\n", name);
            goto out;
        }
    }
    static const char *const sides[] = {"old", "new"};
    for (int s = 0; s < 2; s++) {
        snprintf(path, sizeof(path), "%s/%s/%s", FIXTURES, name, sides[s]);
        /* buf compares imports too: make every file of the set the image's own */
        if (evtree_collect(path, &trees[s]) || evtree_image(&tc, &trees[s], 1, &img[s], NULL)) {
            fprintf(stderr, "case %s: %s does not compile\n", name, sides[s]);
            unit_failures++;
            goto out;
        }
    }
    json_object_foreach(cats, cat, list)
    {
        const char *use[] = {cat};
        struct spk_evolve_config cfg = {use, 1, NULL, 0, NULL, 0, 0};
        compare(name, cat, img[0], img[1], &cfg, list);
    }
    json_t *want = json_object_get(expected, "config");
    if (want) {
        snprintf(path, sizeof(path), "%s/%s/config.json", FIXTURES, name);
        config = json_load_file(path, 0, &jerr);
        CHECK(config != NULL);
        if (config) {
            struct spk_evolve_config cfg = {0};
            const char **use = strings_of(json_object_get(config, "use"), &cfg.nuse);
            const char **except = strings_of(json_object_get(config, "except"), &cfg.nexcept);
            const char **ignore = strings_of(json_object_get(config, "ignore"), &cfg.nignore);
            cfg.use = use;
            cfg.except = except;
            cfg.ignore = ignore;
            cfg.ignore_unstable_packages =
                json_is_true(json_object_get(config, "ignore_unstable_packages"));
            compare(name, "config", img[0], img[1], &cfg, want);
            free(use);
            free(except);
            free(ignore);
        }
    }
out:
    for (int s = 0; s < 2; s++) {
        spk_evolve_image_destroy(img[s]);
        evtree_release(&trees[s]);
    }
    json_decref(config);
    json_decref(expected);
}

static void test_buf_corpus(void)
{
    DIR *d = opendir(FIXTURES);
    CHECK(d != NULL);
    if (!d)
        return;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *dir = spk_asprintf("%s/%s", FIXTURES, e->d_name);
        struct stat st;
        int is_case = e->d_name[0] != '.' && stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
        free(dir);
        if (!is_case) /* README.md, regen.py */
            continue;
        names = spk_realloc(names, (n + 1) * sizeof(*names));
        names[n++] = spk_strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_keys);
    CHECK(n > 0);
    for (size_t i = 0; i < n; i++) {
        run_case(names[i]);
        free(names[i]);
    }
    free(names);
    printf("buf corpus: %zu cases\n", n);
}

/* ---- inline schemas ---- */

/* Compiles one file a.proto (plus b.proto when given) into an image of own files only. */
static struct spk_evolve_image *image_of(const char *a, const char *b)
{
    struct evtree t = {0};
    t.files = spk_calloc(2, sizeof(*t.files));
    t.files[t.n++] = (struct spk_proto_file){spk_strdup("a.proto"), spk_strdup(a), strlen(a), NULL};
    if (b)
        t.files[t.n++] =
            (struct spk_proto_file){spk_strdup("b.proto"), spk_strdup(b), strlen(b), NULL};
    struct spk_evolve_image *img = NULL;
    if (evtree_image(&tc, &t, 0, &img, NULL))
        img = NULL;
    evtree_release(&t);
    return img;
}

/* The incompatible types of Confluent's diff(old, new), sorted and joined by ","; new string. */
static char *confluent_types(const char *old, const char *new_)
{
    struct spk_evolve_image *a = image_of(old, NULL), *b = image_of(new_, NULL);
    struct spk_evolve_result r = {0};
    struct spk_error err = {0};
    char *out = NULL;
    if (!a || !b || spk_evolve_confluent_diff(a, b, &r, &err)) {
        out = spk_strdup("(error)");
        goto done;
    }
    const char **types = spk_calloc(r.n + 1, sizeof(*types));
    size_t n = 0;
    for (size_t i = 0; i < r.n; i++) {
        int seen = 0;
        for (size_t k = 0; k < n && !seen; k++)
            seen = strcmp(types[k], r.v[i].rule) == 0;
        if (!seen)
            types[n++] = r.v[i].rule;
    }
    qsort(types, n, sizeof(*types), cmp_keys);
    struct spk_buf buf = SPK_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        spk_buf_printf(&buf, "%s%s", i ? "," : "", types[i]);
    if (!buf.data)
        spk_buf_puts(&buf, "");
    out = spk_buf_detach(&buf, NULL);
    free(types);
done:
    spk_evolve_result_release(&r);
    spk_evolve_image_destroy(a);
    spk_evolve_image_destroy(b);
    return out;
}

/* BACKWARD is diff(previous, candidate); FORWARD diff(candidate, previous). */
static void check_confluent(const char *previous, const char *candidate, const char *backward,
                            const char *forward, int line)
{
    char *bw = confluent_types(previous, candidate), *fw = confluent_types(candidate, previous);
    if (strcmp(bw, backward) != 0 || strcmp(fw, forward) != 0) {
        fprintf(stderr,
                "%s:%d: confluent BACKWARD \"%s\" (want \"%s\"), FORWARD \"%s\" (want \"%s\")\n",
                __FILE__, line, bw, backward, fw, forward);
        unit_failures++;
    }
    free(bw);
    free(fw);
}

#define P3                            "syntax = \"proto3\";\npackage acme.v1;\n"
#define P2                            "syntax = \"proto2\";\npackage acme.v1;\n"
#define CONFLUENT(prev, cand, bw, fw) check_confluent(prev, cand, bw, fw, __LINE__)

static void test_confluent(void)
{
    /* compatible: widening within a scalar group, renames, enum changes, new fields */
    CONFLUENT(P3 "message M { int32 a = 1; E e = 2; }\nenum E { E_0 = 0; E_1 = 1; }\n",
              P3 "message M { int64 renamed = 1; E e = 2; string added = 3; }\n"
                 "enum E { E_ZERO = 0; }\n",
              "", "");
    CONFLUENT(P3 "message M { int32 a = 1; }\n", P3 "message M { string a = 1; }\n",
              "FIELD_SCALAR_KIND_CHANGED", "FIELD_SCALAR_KIND_CHANGED");
    CONFLUENT(P3 "message M { E a = 1; }\nenum E { E_0 = 0; }\n",
              P3 "message M { uint64 a = 1; }\nenum E { E_0 = 0; }\n", "", "");
    CONFLUENT(P3 "message M { int32 a = 1; }\nmessage N {}\n",
              P3 "message M { N a = 1; }\nmessage N {}\n", "FIELD_KIND_CHANGED",
              "FIELD_KIND_CHANGED");
    CONFLUENT(P3 "message M { A a = 1; }\nmessage A {}\nmessage B {}\n",
              P3 "message M { B a = 1; }\nmessage A {}\nmessage B {}\n", "FIELD_NAMED_TYPE_CHANGED",
              "FIELD_NAMED_TYPE_CHANGED");
    /* removing a message breaks BACKWARD; adding one breaks FORWARD */
    CONFLUENT(P3 "message M {}\nmessage Gone {}\n", P3 "message M {}\n", "MESSAGE_REMOVED", "");
    CONFLUENT(P3 "message M { message Inner {} }\n", P3 "message M {}\n", "MESSAGE_REMOVED", "");
    CONFLUENT(P3 "message M {}\n", "syntax = \"proto3\";\npackage acme.v2;\nmessage M {}\n",
              "PACKAGE_CHANGED", "PACKAGE_CHANGED");
    /* labels: only when both sides carry one, and only for numbers */
    CONFLUENT(P2 "message M { optional int32 a = 1; }\n",
              P2 "message M { repeated int32 a = 1; }\n", "FIELD_NUMERIC_LABEL_CHANGED",
              "FIELD_NUMERIC_LABEL_CHANGED");
    CONFLUENT(P2 "message M { optional string a = 1; }\n",
              P2 "message M { repeated string a = 1; }\n", "", "");
    CONFLUENT(P3 "message M { int32 a = 1; }\n", P3 "message M { repeated int32 a = 1; }\n", "",
              "");
    CONFLUENT(P2 "message M { optional int32 a = 1; }\n",
              P2 "message M { optional int32 a = 1; required int32 b = 2; }\n",
              "REQUIRED_FIELD_ADDED", "REQUIRED_FIELD_REMOVED");
    /* map values compare like field types */
    CONFLUENT(P3 "message M { map<string, int32> m = 1; }\n",
              P3 "message M { map<string, string> m = 1; }\n", "FIELD_SCALAR_KIND_CHANGED",
              "FIELD_SCALAR_KIND_CHANGED");
    /* oneofs */
    CONFLUENT(P3 "message M { oneof k { int32 a = 1; } }\n",
              P3 "message M { oneof k { int32 a = 1; string b = 2; } }\n", "",
              "ONEOF_FIELD_REMOVED");
    CONFLUENT(P3 "message M { int32 a = 1; int32 b = 2; }\n",
              P3 "message M { oneof k { int32 a = 1; int32 b = 2; } }\n",
              "MULTIPLE_FIELDS_MOVED_TO_ONEOF", "");
    CONFLUENT(P3 "message M { int32 a = 1; oneof k { int32 b = 2; } }\n",
              P3 "message M { oneof j { int32 a = 1; int32 b = 2; } }\n",
              "FIELD_MOVED_TO_EXISTING_ONEOF", "");
    CONFLUENT(P3 "message M { oneof k { int32 a = 1; int32 b = 2; } }\n",
              P3 "message M { oneof k { int32 a = 1; } int32 b = 2; }\n", "",
              "FIELD_MOVED_TO_EXISTING_ONEOF");
    CONFLUENT(P3 "message M { oneof k { int32 a = 1; int32 b = 2; } }\n", P3 "message M { }\n", "",
              "");
    /* a type of the same name whose body changed incompatibly */
    CONFLUENT(P3 "message M { Inner i = 1; }\nmessage Inner { int32 x = 1; }\n",
              P3 "message M { Inner i = 1; }\nmessage Inner { string x = 1; }\n",
              "FIELD_NAMED_TYPE_CHANGED,FIELD_SCALAR_KIND_CHANGED",
              "FIELD_NAMED_TYPE_CHANGED,FIELD_SCALAR_KIND_CHANGED");
    /* recursive types terminate */
    CONFLUENT(P3 "message Node { repeated Node kids = 1; int32 v = 2; }\n",
              P3 "message Node { repeated Node kids = 1; int64 v = 2; }\n", "", "");

    CHECK_INT_EQ(spk_evolve_mode_parse("FULL_TRANSITIVE"), SPK_EVOLVE_MODE_FULL_TRANSITIVE);
    CHECK_INT_EQ(spk_evolve_mode_parse("full"), -1);
    CHECK_STR_EQ(spk_evolve_mode_name(SPK_EVOLVE_MODE_BACKWARD), "BACKWARD");
    CHECK(spk_evolve_mode_backward(SPK_EVOLVE_MODE_FULL) &&
          spk_evolve_mode_forward(SPK_EVOLVE_MODE_FULL));
    CHECK(!spk_evolve_mode_forward(SPK_EVOLVE_MODE_BACKWARD_TRANSITIVE));
    CHECK(spk_evolve_mode_transitive(SPK_EVOLVE_MODE_FORWARD_TRANSITIVE));
    CHECK(!spk_evolve_mode_backward(SPK_EVOLVE_MODE_NONE) &&
          !spk_evolve_mode_forward(SPK_EVOLVE_MODE_NONE));
}

/* ---- the structured diff ---- */

static const struct spk_evolve_change *find_change(const struct spk_evolve_diff *d,
                                                   const char *kind, const char *element,
                                                   const char *name)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(spk_evolve_change_kind_name(d->c[i].kind), kind) == 0 &&
            strcmp(d->c[i].element, element) == 0 && strcmp(d->c[i].name, name) == 0)
            return &d->c[i];
    return NULL;
}

static void test_diff(void)
{
    struct spk_evolve_image *a = image_of(
        P3 "option go_package = \"x/v1\";\nmessage M {\n  int32 amount = 3;\n  string gone = 4;\n"
           "  reserved 9;\n}\nenum E { E_0 = 0; E_1 = 1; }\n"
           "service S { rpc Get(M) returns (M); }\n",
        NULL);
    struct spk_evolve_image *b = image_of(
        P3 "option go_package = \"x/v2\";\nmessage M {\n  int64 amount = 3;\n  reserved 4, 9;\n"
           "  oneof k { string added = 5; }\n}\nmessage N {}\nenum E { E_0 = 0; E_ONE = 1; }\n"
           "service S { rpc Get(M) returns (stream M); }\n",
        NULL);
    struct spk_evolve_diff d = {0};
    struct spk_error err = {0};
    CHECK(a && b);
    if (!a || !b)
        goto out;
    CHECK_INT_EQ(spk_evolve_diff(a, b, &d, &err), 0);
    const struct spk_evolve_change *c = find_change(&d, "changed", "field", "acme.v1.M.amount");
    CHECK(c != NULL);
    if (c) {
        CHECK_STR_EQ(c->old_value, "int32 amount = 3");
        CHECK_STR_EQ(c->new_value, "int64 amount = 3");
        CHECK_STR_EQ(c->file, "a.proto");
        CHECK_INT_EQ(c->line, 5);
        CHECK_INT_EQ(c->column, 3);
    }
    c = find_change(&d, "removed", "field", "acme.v1.M.gone");
    CHECK(c != NULL && c->new_value == NULL);
    c = find_change(&d, "added", "field", "acme.v1.M.added");
    CHECK(c != NULL && c->old_value == NULL);
    CHECK(find_change(&d, "added", "oneof", "acme.v1.M.k") != NULL);
    CHECK(find_change(&d, "added", "message", "acme.v1.N") != NULL);
    c = find_change(&d, "changed", "enum_value", "acme.v1.E.E_ONE");
    CHECK(c != NULL);
    if (c) {
        CHECK_STR_EQ(c->old_value, "E_1 = 1");
        CHECK_STR_EQ(c->new_value, "E_ONE = 1");
    }
    c = find_change(&d, "changed", "option", "a.proto:go_package");
    CHECK(c != NULL);
    if (c)
        CHECK_STR_EQ(c->new_value, "\"x/v2\"");
    c = find_change(&d, "added", "reserved", "acme.v1.M");
    CHECK(c != NULL);
    if (c)
        CHECK_STR_EQ(c->new_value, "4");
    c = find_change(&d, "changed", "method", "acme.v1.S.Get");
    CHECK(c != NULL);
    if (c)
        CHECK_STR_EQ(c->new_value, "rpc Get(acme.v1.M) returns (stream acme.v1.M)");
    /* nothing reported for what did not change */
    CHECK(find_change(&d, "changed", "enum_value", "acme.v1.E.E_0") == NULL);
    for (size_t i = 1; i < d.n; i++)
        CHECK(strcmp(d.c[i - 1].file, d.c[i].file) < 0 ||
              (strcmp(d.c[i - 1].file, d.c[i].file) == 0 &&
               strcmp(d.c[i - 1].name, d.c[i].name) <= 0));
    spk_evolve_diff_release(&d);
    CHECK_INT_EQ(spk_evolve_diff(a, a, &d, &err), 0);
    CHECK_INT_EQ(d.n, 0);
out:
    spk_evolve_diff_release(&d);
    spk_evolve_diff_release(&d);
    spk_evolve_image_destroy(a);
    spk_evolve_image_destroy(b);
}

/* ---- the table, configurations, images ---- */

static void test_rules(void)
{
    size_t n;
    const struct spk_evolve_rule *r = spk_evolve_rules(&n);
    CHECK_INT_EQ(n, 65);
    size_t per[5] = {0}, deprecated = 0;
    static const unsigned bits[] = {SPK_EVOLVE_FILE, SPK_EVOLVE_PACKAGE, SPK_EVOLVE_WIRE_JSON,
                                    SPK_EVOLVE_WIRE, SPK_EVOLVE_CSR};
    for (size_t i = 0; i < n; i++) {
        if (i)
            CHECK(strcmp(r[i - 1].id, r[i].id) < 0);
        for (size_t k = 0; k < 5; k++)
            per[k] += (r[i].categories & bits[k]) != 0;
        deprecated += r[i].deprecated != 0;
        CHECK(spk_evolve_rule_find(r[i].id) == &r[i]);
        CHECK(r[i].purpose && r[i].purpose[0]);
    }
    CHECK_INT_EQ(per[0], 51);
    CHECK_INT_EQ(per[1], 51);
    CHECK_INT_EQ(per[2], 22);
    CHECK_INT_EQ(per[3], 15);
    CHECK_INT_EQ(per[4], 32);
    CHECK_INT_EQ(deprecated, 1);
    CHECK(spk_evolve_rule_find("NOPE") == NULL);
    CHECK_INT_EQ(spk_evolve_category_parse("WIRE_JSON"), SPK_EVOLVE_WIRE_JSON);
    CHECK_INT_EQ(spk_evolve_category_parse("wire"), 0);
    CHECK_STR_EQ(spk_evolve_category_name(SPK_EVOLVE_CSR), "CSR");
    CHECK(spk_evolve_category_name(3) == NULL);

    struct spk_error err = {0};
    const char *bad_use[] = {"FILE", "FIELD_NO_DELET"};
    struct spk_evolve_config cfg = {bad_use, 2, NULL, 0, NULL, 0, 0};
    CHECK_INT_EQ(spk_evolve_config_validate(&cfg, &err), -1);
    CHECK_INT_EQ(err.code, SPK_E_INVALID);
    CHECK(strstr(err.msg, "FIELD_NO_DELET") != NULL);
    const char *bad_paths[] = {"../x", "/abs", "a//b", "./a"};
    for (size_t i = 0; i < 4; i++) {
        struct spk_evolve_config c2 = {NULL, 0, NULL, 0, &bad_paths[i], 1, 0};
        CHECK_INT_EQ(spk_evolve_config_validate(&c2, &err), -1);
    }
    const char *good[] = {"WIRE", "ENUM_NO_DELETE"}, *paths[] = {"foo/", "foo/bar.proto"};
    struct spk_evolve_config ok = {good, 2, good, 1, paths, 2, 1};
    CHECK_INT_EQ(spk_evolve_config_validate(&ok, &err), 0);
    CHECK_INT_EQ(spk_evolve_config_validate(NULL, &err), 0);
}

static void test_images(void)
{
    struct spk_evolve_image *img = NULL;
    struct spk_error err = {0};
    const char *own[] = {"a.proto"};
    CHECK_INT_EQ(spk_evolve_image_create((const unsigned char *)"\xff\xff", 2, own, 1, &img, &err),
                 -1);
    CHECK(img == NULL);
    struct spk_evolve_image *a = image_of(P3 "message M { int32 a = 1; }\n", NULL);
    CHECK(a != NULL);
    if (a)
        CHECK_INT_EQ(spk_evolve_image_has_source_info(a), 1);
    /* a check with a bad configuration fails; an empty one means FILE */
    struct spk_evolve_image *b = image_of(P3 "message M { int64 a = 1; }\n", NULL);
    struct spk_evolve_result r = {0};
    const char *bad[] = {"NOT_A_RULE"};
    struct spk_evolve_config cfg = {bad, 1, NULL, 0, NULL, 0, 0};
    if (a && b) {
        CHECK_INT_EQ(spk_evolve_check(a, b, &cfg, &r, &err), -1);
        CHECK_INT_EQ(spk_evolve_check(a, b, NULL, &r, &err), 0);
        CHECK_INT_EQ(r.n, 1);
        if (r.n == 1) {
            CHECK_STR_EQ(r.v[0].rule, "FIELD_SAME_TYPE");
            CHECK_STR_EQ(r.v[0].old_value, "int32");
            CHECK_STR_EQ(r.v[0].new_value, "int64");
            CHECK_INT_EQ(r.v[0].line, 3);
            CHECK_INT_EQ(r.v[0].column, 13);
            CHECK(r.v[0].categories & SPK_EVOLVE_FILE);
        }
        spk_evolve_result_release(&r);
        spk_evolve_result_release(&r);
    }
    spk_evolve_image_destroy(a);
    spk_evolve_image_destroy(b);
    spk_evolve_image_destroy(NULL);
}

static void setup(void)
{
    struct spk_error err = {0};
    if (spk_proto_toolchain_create("/usr/bin/protoc", "/usr/include", &tc, &err)) {
        fprintf(stderr, "toolchain: %s\n", err.msg);
        unit_failures++;
    }
}

static void teardown(void)
{
    spk_proto_toolchain_release(&tc);
}

static const struct unit_test tests[] = {
    {"setup", setup},
    {"rules", test_rules},
    {"images", test_images},
    {"buf_corpus", test_buf_corpus},
    {"confluent", test_confluent},
    {"diff", test_diff},
    {"teardown", teardown},
};

UNIT_MAIN(tests)
