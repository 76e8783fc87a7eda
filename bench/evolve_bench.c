/* bench-evolve: how long comparing two versions of a large module takes, beside how long protoc
 * takes to compile that module once (the cost every push already pays).
 *
 *   bench-evolve [--messages N] [--iterations K]
 *
 * Generates a module of N messages (default 1000) in files of 100, each message with scalar,
 * enum, message, map, repeated and oneof fields, one enum per ten messages and a service with an
 * rpc per ten messages; then a changed copy (types changed, fields deleted and added, renames,
 * an enum value renamed, rpcs changed). Both are compiled with the project's protoc runner. Then,
 * K times each: spk_evolve_image_create for both versions + spk_evolve_check with every
 * category; spk_evolve_check alone; spk_evolve_diff; spk_evolve_confluent_diff. Prints median
 * and p99 per comparison, and a BENCH_JSON line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/tools/evolve_tree.h"
#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/error.h"
#include "spoke/evolve.h"
#include "spoke/proto.h"

#define PER_FILE 100

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(getenv("BENCH_CPU") ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* One file of the module: messages [first, first + count). changed: the second version. */
static char *gen_file(int file, int first, int count, int total, int changed)
{
    struct spk_buf b = SPK_BUF_INIT;
    spk_buf_printf(&b, "syntax = \"proto3\";\npackage bench.v1;\n");
    for (int f = 0; f < file; f++)
        spk_buf_printf(&b, "import \"bench/f%03d.proto\";\n", f);
    spk_buf_puts(&b, "\n");
    for (int i = first; i < first + count; i++) {
        int touched = changed && i % 20 == 7; /* 5% of the messages change */
        int ref = i > first ? i - 1 : first;  /* a message of this file, declared earlier */
        spk_buf_printf(&b, "// Message %d.\nmessage M%04d {\n", i, i);
        spk_buf_printf(&b, "  %s id = 1;\n", touched ? "int64" : "int32");
        spk_buf_printf(&b, "  string %s = 2;\n", touched ? "label" : "name");
        if (!touched)
            spk_buf_puts(&b, "  repeated double samples = 3;\n");
        else
            spk_buf_puts(&b, "  reserved 3;\n");
        spk_buf_printf(&b, "  E%04d state = 4;\n", (i / 10) * 10);
        spk_buf_printf(&b, "  M%04d parent = 5;\n", ref);
        spk_buf_puts(&b, "  map<string, int64> tags = 6;\n");
        spk_buf_puts(&b, "  oneof kind {\n    bytes raw = 7;\n    string text = 8;\n  }\n");
        spk_buf_printf(&b, "  optional bool flag = 9%s;\n", touched ? " [json_name = \"f\"]" : "");
        if (touched)
            spk_buf_puts(&b, "  uint64 added = 10;\n");
        spk_buf_puts(&b, "}\n\n");
        if (i % 10 == 0) {
            spk_buf_printf(&b,
                           "enum E%04d {\n  E%04d_UNSPECIFIED = 0;\n  E%04d_%s = 1;\n"
                           "  E%04d_DONE = 2;\n}\n\n",
                           i, i, i, changed && i % 100 == 0 ? "STARTED" : "RUNNING", i);
        }
    }
    if (first + count == total) {
        spk_buf_puts(&b, "service Bench {\n");
        for (int i = 0; i < total; i += 10)
            spk_buf_printf(&b, "  rpc Call%04d(M%04d) returns (%sM%04d);\n", i, i,
                           changed && i % 200 == 0 ? "stream " : "", i);
        spk_buf_puts(&b, "}\n");
    }
    (void)file;
    return spk_buf_detach(&b, NULL);
}

static void gen_module(int n, int changed, struct evtree *t)
{
    int files = (n + PER_FILE - 1) / PER_FILE;
    t->files = spk_calloc((size_t)files, sizeof(*t->files));
    for (int f = 0; f < files; f++) {
        int first = f * PER_FILE, count = n - first < PER_FILE ? n - first : PER_FILE;
        char *text = gen_file(f, first, count, n, changed);
        t->files[t->n++] =
            (struct spk_proto_file){spk_asprintf("bench/f%03d.proto", f), text, strlen(text), NULL};
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct stat_ms {
    double median, p99;
};

static struct stat_ms stats(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    int p = (int)((double)n * 0.99);
    return (struct stat_ms){v[n / 2], v[p < n ? p : n - 1]};
}

static int compile(const struct spk_proto_toolchain *tc, const struct evtree *t,
                   struct spk_proto_result *r)
{
    struct spk_protoc_options o = {tc->protoc, tc->include, 120000, 512u << 20};
    struct spk_error err = {0};
    if (spk_proto_compile(&o, t->files, t->n, NULL, 0, r, &err) || !r->ok) {
        fprintf(stderr, "bench-evolve: compile failed: %s %s\n", err.msg,
                r->ndiags ? r->diags[0].message : "");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int n = 1000, iterations = 200, compiles = 5, rc = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc)
            n = atoi(argv[++i]);
        else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
            iterations = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench-evolve [--messages N] [--iterations K]\n");
            return 2;
        }
    }
    if (n < 10 || iterations < 1)
        return 2;
    struct spk_proto_toolchain tc = {0};
    struct spk_error err = {0};
    struct evtree t[2] = {{0}, {0}};
    struct spk_proto_result r[2] = {{0}, {0}};
    double *times =
        spk_calloc((size_t)(iterations > compiles ? iterations : compiles), sizeof(double));
    if (spk_proto_toolchain_create("/usr/bin/protoc", "/usr/include", &tc, &err)) {
        fprintf(stderr, "bench-evolve: %s\n", err.msg);
        goto out;
    }
    gen_module(n, 0, &t[0]);
    gen_module(n, 1, &t[1]);

    for (int i = 0; i < compiles; i++) {
        struct spk_proto_result tmp = {0};
        double a = now_ms();
        int bad = compile(&tc, &t[0], &tmp);
        times[i] = now_ms() - a;
        spk_proto_result_release(&tmp);
        if (bad)
            goto out;
    }
    struct stat_ms protoc = stats(times, compiles);
    if (compile(&tc, &t[0], &r[0]) || compile(&tc, &t[1], &r[1]))
        goto out;
    const char **own = spk_calloc(t[0].n, sizeof(*own));
    for (size_t i = 0; i < t[0].n; i++)
        own[i] = t[0].files[i].path;

    static const char *const all[] = {"FILE", "PACKAGE", "WIRE_JSON", "WIRE", "CSR"};
    struct spk_evolve_config cfg = {all, 5, NULL, 0, NULL, 0, 0};
    size_t violations = 0, changes = 0, confluent = 0;
    struct stat_ms full, check, diff, conf;

    for (int i = 0; i < iterations; i++) {
        struct spk_evolve_image *a = NULL, *b = NULL;
        struct spk_evolve_result res = {0};
        double s = now_ms();
        if (spk_evolve_image_create(r[0].descriptor_set, r[0].descriptor_len, own, t[0].n, &a,
                                    &err) ||
            spk_evolve_image_create(r[1].descriptor_set, r[1].descriptor_len, own, t[1].n, &b,
                                    &err) ||
            spk_evolve_check(a, b, &cfg, &res, &err)) {
            fprintf(stderr, "bench-evolve: %s\n", err.msg);
            spk_evolve_image_destroy(a);
            spk_evolve_image_destroy(b);
            goto out_own;
        }
        times[i] = now_ms() - s;
        violations = res.n;
        spk_evolve_result_release(&res);
        spk_evolve_image_destroy(a);
        spk_evolve_image_destroy(b);
    }
    full = stats(times, iterations);

    struct spk_evolve_image *a = NULL, *b = NULL;
    if (spk_evolve_image_create(r[0].descriptor_set, r[0].descriptor_len, own, t[0].n, &a, &err) ||
        spk_evolve_image_create(r[1].descriptor_set, r[1].descriptor_len, own, t[1].n, &b, &err)) {
        fprintf(stderr, "bench-evolve: %s\n", err.msg);
        spk_evolve_image_destroy(a);
        goto out_own;
    }
    for (int i = 0; i < iterations; i++) {
        struct spk_evolve_result res = {0};
        double s = now_ms();
        spk_evolve_check(a, b, &cfg, &res, &err);
        times[i] = now_ms() - s;
        spk_evolve_result_release(&res);
    }
    check = stats(times, iterations);
    for (int i = 0; i < iterations; i++) {
        struct spk_evolve_diff d = {0};
        double s = now_ms();
        spk_evolve_diff(a, b, &d, &err);
        times[i] = now_ms() - s;
        changes = d.n;
        spk_evolve_diff_release(&d);
    }
    diff = stats(times, iterations);
    for (int i = 0; i < iterations; i++) {
        struct spk_evolve_result res = {0};
        double s = now_ms();
        spk_evolve_confluent_diff(a, b, &res, &err);
        times[i] = now_ms() - s;
        confluent = res.n;
        spk_evolve_result_release(&res);
    }
    conf = stats(times, iterations);
    spk_evolve_image_destroy(a);
    spk_evolve_image_destroy(b);

    printf("module: %d messages in %zu files, descriptor sets %zu / %zu bytes\n", n, t[0].n,
           r[0].descriptor_len, r[1].descriptor_len);
    printf("%-44s %10s %10s\n", "step", "median ms", "p99 ms");
    printf("%-44s %10.3f %10.3f\n", "protoc compile of one version (baseline)", protoc.median,
           protoc.p99);
    printf("%-44s %10.3f %10.3f\n", "2 x image_create + check (all categories)", full.median,
           full.p99);
    printf("%-44s %10.3f %10.3f\n", "check alone (all categories)", check.median, check.p99);
    printf("%-44s %10.3f %10.3f\n", "diff", diff.median, diff.p99);
    printf("%-44s %10.3f %10.3f\n", "confluent_diff", conf.median, conf.p99);
    printf("found: %zu violations, %zu changes, %zu Confluent differences (%d iterations)\n",
           violations, changes, confluent, iterations);
    printf(
        "BENCH_JSON {\"messages\": %d, \"iterations\": %d, \"protoc_ms\": %.3f, "
        "\"create_check_ms\": %.3f, \"create_check_p99_ms\": %.3f, \"check_ms\": %.3f, "
        "\"diff_ms\": %.3f, \"diff_p99_ms\": %.3f, \"confluent_ms\": %.3f, \"violations\": %zu}\n",
        n, iterations, protoc.median, full.median, full.p99, check.median, diff.median, diff.p99,
        conf.median, violations);
    rc = 0;
out_own:
    free(own);
out:
    for (int s = 0; s < 2; s++) {
        spk_proto_result_release(&r[s]);
        evtree_release(&t[s]);
    }
    free(times);
    spk_proto_toolchain_release(&tc);
    return rc;
}
