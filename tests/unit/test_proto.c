/* Schema validation against the real protoc: every case in tests/fixtures/validate/<case>/
 * (files/ = the version, deps/<module@version>/ = dependency files, expect.json = the outcome),
 * plus generated inputs (200 files), the limits (time, descriptor size), the sandbox directory
 * being removed, and diagnostics parsing. */
#include <dirent.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/error.h"
#include "spoke/proto.h"
#include "spoke/time.h"
#include "unit.h"

#define FIXTURES SPOKE_SOURCE_DIR "/tests/fixtures/validate"

static struct spk_proto_toolchain tc;

static struct spk_protoc_options options(int timeout_ms, size_t max_descriptor)
{
    return (struct spk_protoc_options){tc.protoc, tc.include, timeout_ms, max_descriptor};
}

struct fileset {
    struct spk_proto_file *files;
    size_t n;
    const char *origin;
    size_t root_len;
};

static struct fileset *collecting;

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct spk_buf b = SPK_BUF_INIT;
    char chunk[4096];
    size_t n;
    if (!f)
        return NULL;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        spk_buf_append(&b, chunk, n);
    fclose(f);
    return spk_buf_detach(&b, len);
}

static int on_file(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)ftw;
    if (type != FTW_F)
        return 0;
    struct fileset *s = collecting;
    size_t len = 0;
    char *content = slurp(path, &len);
    s->files = spk_realloc(s->files, (s->n + 1) * sizeof(*s->files));
    s->files[s->n++] = (struct spk_proto_file){spk_strdup(path + s->root_len), content, len,
                                               s->origin ? spk_strdup(s->origin) : NULL};
    return 0;
}

static void collect(const char *dir, const char *origin, struct fileset *s)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return;
    s->origin = origin;
    s->root_len = strlen(dir) + 1;
    collecting = s;
    nftw(dir, on_file, 16, FTW_PHYS);
}

static void fileset_release(struct fileset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free((char *)s->files[i].path);
        free((char *)s->files[i].content);
        free((char *)s->files[i].origin);
    }
    free(s->files);
}

static int has_symbol(const struct spk_proto_result *r, const char *want)
{
    for (size_t i = 0; i < r->nsymbols; i++) {
        char s[512];
        snprintf(s, sizeof(s), "%s %s", spk_proto_symbol_kind_name(r->symbols[i].kind),
                 r->symbols[i].full_name);
        if (strcmp(s, want) == 0)
            return 1;
    }
    return 0;
}

static int has_diag(const struct spk_proto_result *r, json_t *want)
{
    const char *file = json_string_value(json_object_get(want, "file"));
    json_t *line = json_object_get(want, "line");
    const char *contains = json_string_value(json_object_get(want, "contains"));
    for (size_t i = 0; i < r->ndiags; i++) {
        const struct spk_proto_diag *d = &r->diags[i];
        if ((!file || strcmp(file, d->file) == 0) &&
            (!line || json_integer_value(line) == d->line) &&
            (!contains || strstr(d->message, contains)))
            return 1;
    }
    return 0;
}

static void dump(const char *name, const struct spk_proto_result *r)
{
    fprintf(stderr, "case %s: ok=%d\n", name, r->ok);
    for (size_t i = 0; i < r->ndiags; i++)
        fprintf(stderr, "  diag %s:%d:%d: %s\n", r->diags[i].file, r->diags[i].line,
                r->diags[i].column, r->diags[i].message);
    for (size_t i = 0; i < r->nsymbols; i++)
        fprintf(stderr, "  symbol %s %s\n", spk_proto_symbol_kind_name(r->symbols[i].kind),
                r->symbols[i].full_name);
}

static void run_case(const char *name)
{
    char path[1024];
    struct fileset own = {0}, deps = {0};
    struct spk_proto_result r = {0};
    struct spk_error err = {0};

    snprintf(path, sizeof(path), "%s/%s/files", FIXTURES, name);
    collect(path, NULL, &own);
    snprintf(path, sizeof(path), "%s/%s/deps", FIXTURES, name);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char sub[sizeof(path) + 260];
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        collect(sub, e->d_name, &deps);
    }
    if (d)
        closedir(d);
    snprintf(path, sizeof(path), "%s/%s/expect.json", FIXTURES, name);
    json_t *expect = json_load_file(path, 0, NULL);
    CHECK(expect != NULL);
    CHECK(own.n > 0);

    struct spk_protoc_options o = options(20000, 64 << 20);
    int rc = spk_proto_compile(&o, own.files, own.n, deps.files, deps.n, &r, &err);
    CHECK_INT_EQ(rc, 0);
    int want_ok = json_is_true(json_object_get(expect, "ok"));
    int good = r.ok == want_ok;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(expect, "symbols"), i, v) good &=
        has_symbol(&r, json_string_value(v));
    if (json_object_get(expect, "symbols"))
        good &= json_array_size(json_object_get(expect, "symbols")) == r.nsymbols;
    json_array_foreach(json_object_get(expect, "diagnostics"), i, v) good &= has_diag(&r, v);
    if (!want_ok)
        good &= r.ndiags > 0 && r.descriptor_set == NULL;
    else
        good &= r.descriptor_len > 0;
    if (!good)
        dump(name, &r);
    CHECK(good);
    json_decref(expect);
    spk_proto_result_release(&r);
    fileset_release(&own);
    fileset_release(&deps);
}

static void test_fixture_cases(void)
{
    DIR *d = opendir(FIXTURES);
    struct dirent *e;
    int cases = 0;
    CHECK(d != NULL);
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        run_case(e->d_name);
        cases++;
    }
    if (d)
        closedir(d);
    CHECK(cases >= 15);
}

static struct spk_proto_file *generated(size_t n, size_t messages_each)
{
    struct spk_proto_file *f = spk_calloc(n, sizeof(*f));
    for (size_t i = 0; i < n; i++) {
        struct spk_buf b = SPK_BUF_INIT;
        spk_buf_printf(&b, "syntax = \"proto3\";\npackage gen.p%zu;\n", i);
        if (i > 0)
            spk_buf_printf(&b, "import \"gen/f%zu.proto\";\n", i - 1);
        for (size_t m = 0; m < messages_each; m++)
            spk_buf_printf(&b, "message M%zu { string a = 1; int64 b = 2; }\n", m);
        if (i > 0)
            spk_buf_printf(&b, "message Link { gen.p%zu.M0 prev = 1; }\n", i - 1);
        f[i].path = spk_asprintf("gen/f%zu.proto", i);
        f[i].content = spk_buf_detach(&b, &f[i].len);
    }
    return f;
}

static void free_generated(struct spk_proto_file *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)f[i].path);
        free((char *)f[i].content);
    }
    free(f);
}

static void test_two_hundred_files(void)
{
    struct spk_proto_file *f = generated(200, 2);
    struct spk_proto_result r = {0};
    struct spk_protoc_options o = options(30000, 64 << 20);
    CHECK_INT_EQ(spk_proto_compile(&o, f, 200, NULL, 0, &r, NULL), 0);
    CHECK(r.ok);
    CHECK_INT_EQ(r.nsymbols, 200 * 2 + 199);
    spk_proto_result_release(&r);
    free_generated(f, 200);
}

static void test_time_limit_stops_protoc(void)
{
    struct spk_proto_file *f = generated(300, 200);
    struct spk_proto_result r = {0};
    struct spk_protoc_options o = options(50, 64 << 20);
    int64_t t0 = spk_time_mono_us();
    CHECK_INT_EQ(spk_proto_compile(&o, f, 300, NULL, 0, &r, NULL), 0);
    int64_t took_ms = (spk_time_mono_us() - t0) / 1000;
    CHECK(!r.ok);
    CHECK(r.ndiags == 1 && strstr(r.diags[0].message, "time limit") != NULL);
    CHECK(took_ms < 5000); /* bounded: the process group was killed at the deadline */
    spk_proto_result_release(&r);
    free_generated(f, 300);
}

static void test_descriptor_size_limit(void)
{
    struct spk_proto_file *f = generated(3, 50);
    struct spk_proto_result r = {0};
    struct spk_protoc_options o = options(20000, 256);
    CHECK_INT_EQ(spk_proto_compile(&o, f, 3, NULL, 0, &r, NULL), 0);
    CHECK(!r.ok);
    CHECK(r.ndiags >= 1);
    spk_proto_result_release(&r);
    free_generated(f, 3);
}

static void test_missing_protoc_is_an_error_not_a_verdict(void)
{
    struct spk_proto_file f = {"a.proto", "syntax = \"proto3\";\n", 19, NULL};
    struct spk_proto_result r = {0};
    struct spk_error err = {0};
    struct spk_protoc_options o = {"/nonexistent/protoc", tc.include, 1000, 1 << 20};
    CHECK_INT_EQ(spk_proto_compile(&o, &f, 1, NULL, 0, &r, &err), -1);
    CHECK_INT_EQ(err.code, SPK_E_INTERNAL);
    spk_proto_result_release(&r);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void test_sandbox_is_removed(void)
{
    char tmp[] = "/tmp/spoke-test-proto-XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    setenv("TMPDIR", tmp, 1);
    struct spk_proto_file ok = {"a.proto", "syntax = \"proto3\";\nmessage A {}\n", 32, NULL};
    struct spk_proto_file bad = {"b.proto", "syntax = \"proto3\";\nmessage {}\n", 30, NULL};
    struct spk_proto_result r = {0};
    struct spk_protoc_options o = options(20000, 1 << 20);
    spk_proto_compile(&o, &ok, 1, NULL, 0, &r, NULL);
    CHECK(r.ok);
    spk_proto_result_release(&r);
    spk_proto_compile(&o, &bad, 1, NULL, 0, &r, NULL);
    CHECK(!r.ok);
    spk_proto_result_release(&r);
    CHECK_INT_EQ(count_entries(tmp), 0);
    unsetenv("TMPDIR");
    rmdir(tmp);
}

static void test_parse_diagnostics(void)
{
    const char text[] = "src/a/b.proto:12:7: \"X\" is not defined.\n"
                        "deps/lib/c.proto: File not found.\n"
                        "src/a.proto:1:1: warning: Import lib.proto is unused.\n"
                        "weird:name.proto:3:4: colon in the name\n"
                        "protoc: something global\n"
                        "\n";
    struct spk_proto_result r = {0};
    spk_proto_parse_diagnostics(text, strlen(text), 100, &r);
    CHECK_INT_EQ(r.ndiags, 4);
    CHECK(!r.ok);
    if (r.ndiags == 4) {
        CHECK_STR_EQ(r.diags[0].file, "a/b.proto");
        CHECK_INT_EQ(r.diags[0].line, 12);
        CHECK_INT_EQ(r.diags[0].column, 7);
        CHECK_STR_EQ(r.diags[0].message, "\"X\" is not defined.");
        CHECK_STR_EQ(r.diags[1].file, "lib/c.proto");
        CHECK_INT_EQ(r.diags[1].line, 0);
        CHECK_STR_EQ(r.diags[2].file, "weird:name.proto");
        CHECK_INT_EQ(r.diags[2].line, 3);
        CHECK_STR_EQ(r.diags[3].file, "");
        CHECK_STR_EQ(r.diags[3].message, "protoc: something global");
    }
    json_t *j = spk_proto_details_json(&r);
    CHECK_INT_EQ(json_array_size(json_object_get(j, "details")), 4);
    json_decref(j);
    spk_proto_result_release(&r);

    struct spk_proto_result capped = {0};
    spk_proto_parse_diagnostics(text, strlen(text), 2, &capped);
    CHECK_INT_EQ(capped.ndiags, 2);
    spk_proto_result_release(&capped);
}

static void test_toolchain_exposes_only_google_protobuf(void)
{
    struct spk_error err = {0};
    struct spk_proto_toolchain bad;
    CHECK_INT_EQ(spk_proto_toolchain_create("/usr/bin/protoc", "/nonexistent", &bad, &err), -1);
    CHECK(strstr(err.msg, "SPOKE_PROTOC_INCLUDE") != NULL);
    CHECK_INT_EQ(spk_proto_toolchain_create("/nonexistent/protoc", "/usr/include", &bad, &err), -1);
    CHECK(strstr(err.msg, "SPOKE_PROTOC") != NULL);
    CHECK_INT_EQ(count_entries(tc.include), 1);
    CHECK(access(tc.protoc, X_OK) == 0);
}

static const struct unit_test tests[] = {
    {"fixture_cases", test_fixture_cases},
    {"two_hundred_files", test_two_hundred_files},
    {"time_limit_stops_protoc", test_time_limit_stops_protoc},
    {"descriptor_size_limit", test_descriptor_size_limit},
    {"missing_protoc_is_an_error_not_a_verdict", test_missing_protoc_is_an_error_not_a_verdict},
    {"sandbox_is_removed", test_sandbox_is_removed},
    {"parse_diagnostics", test_parse_diagnostics},
    {"toolchain_exposes_only_google_protobuf", test_toolchain_exposes_only_google_protobuf},
};

int main(void)
{
    struct spk_error err = {0};
    if (spk_proto_toolchain_create("/usr/bin/protoc", "/usr/include", &tc, &err)) {
        fprintf(stderr, "cannot set up the protoc toolchain: %s\n", err.msg);
        return 1;
    }
    int rc = unit_run(tests, sizeof(tests) / sizeof(tests[0]));
    spk_proto_toolchain_release(&tc);
    return rc;
}
