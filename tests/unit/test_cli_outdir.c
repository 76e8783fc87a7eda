/* Writing pulled files (src/cli/outdir.c): atomic, under the directory only, whatever the path
 * says and whatever symlinks were planted inside the directory. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spoke/alloc.h"
#include "spoke/cli.h"
#include "unit.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char buf[256];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return spk_strdup(buf);
}

static int count_entries(const char *dir)
{
    const char *argv[] = {"sh", "-c", "find \"$1\" -mindepth 1 | wc -l", "sh", dir, NULL};
    char out[32];
    if (spk_cli_run_capture(argv, out, sizeof(out), 10000) != 0)
        return -1;
    return atoi(out);
}

static void rmtree(const char *dir)
{
    const char *argv[] = {"rm", "-rf", dir, NULL};
    char out[8];
    spk_cli_run_capture(argv, out, sizeof(out), 10000);
}

static int write_str(struct spk_cli_outdir *d, const char *path, const char *content,
                     struct spk_error *err)
{
    return spk_cli_outdir_write(d, path, strlen(path), content, strlen(content), err);
}

static void test_writes_nested_and_replaces(void)
{
    char tmpl[] = "/tmp/spoke-test-out-XXXXXX";
    char *base = mkdtemp(tmpl);
    char *dir = spk_asprintf("%s/new/deeper", base); /* created with its parents */
    struct spk_cli_outdir d;
    struct spk_error err = {0};
    CHECK_INT_EQ(spk_cli_outdir_open(&d, dir, &err), 0);
    CHECK_INT_EQ(write_str(&d, "a/b/c.proto", "one", &err), 0);
    CHECK_INT_EQ(write_str(&d, "a/b/c.proto", "two", &err), 0); /* replaced */
    CHECK_INT_EQ(write_str(&d, "top.proto", "", &err), 0);
    char *p = spk_asprintf("%s/a/b/c.proto", dir);
    char *got = slurp(p);
    CHECK_STR_EQ(got, "two");
    free(got);
    free(p);
    CHECK_INT_EQ(count_entries(dir), 4); /* a, a/b, a/b/c.proto, top.proto: no temp files */
    /* Bytes are written as they are (NULs included). */
    CHECK_INT_EQ(spk_cli_outdir_write(&d, "bin.proto", 9, "x\0y", 3, &err), 0);
    p = spk_asprintf("%s/bin.proto", dir);
    struct stat st;
    CHECK_INT_EQ(stat(p, &st), 0);
    CHECK_INT_EQ(st.st_size, 3);
    free(p);
    spk_cli_outdir_close(&d);
    free(dir);
    rmtree(base);
}

static void test_hostile_paths(void)
{
    char tmpl[] = "/tmp/spoke-test-out-XXXXXX";
    char *base = mkdtemp(tmpl);
    char *dir = spk_asprintf("%s/out", base);
    struct spk_cli_outdir d;
    struct spk_error err = {0};
    CHECK_INT_EQ(spk_cli_outdir_open(&d, dir, &err), 0);
    static const char *const bad[] = {
        "../escape.proto", "a/../../escape.proto", "/tmp/abs.proto", "a//b.proto", "a/./b.proto",
        "a\\..\\x.proto",  "not-proto.txt",        "a/\x01.proto",   "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT_EQ(write_str(&d, bad[i], "x", &err), -1);
        CHECK(strstr(err.msg, "refusing to write") != NULL);
    }
    CHECK_INT_EQ(spk_cli_outdir_write(&d, "a\0/../../x.proto", 16, "x", 1, &err), -1);
    CHECK_INT_EQ(count_entries(base), 1); /* only out/ itself */
    spk_cli_outdir_close(&d);
    free(dir);
    rmtree(base);
}

static void test_planted_symlinks(void)
{
    char tmpl[] = "/tmp/spoke-test-out-XXXXXX";
    char *base = mkdtemp(tmpl);
    char *dir = spk_asprintf("%s/out", base);
    char *elsewhere = spk_asprintf("%s/elsewhere", base);
    mkdir(elsewhere, 0755);
    struct spk_cli_outdir d;
    struct spk_error err = {0};
    CHECK_INT_EQ(spk_cli_outdir_open(&d, dir, &err), 0);
    char *link = spk_asprintf("%s/sub", dir);
    CHECK_INT_EQ(symlink(elsewhere, link), 0);
    CHECK_INT_EQ(write_str(&d, "sub/x.proto", "x", &err), -1);
    CHECK(strstr(err.msg, "symlink") != NULL);
    CHECK_INT_EQ(count_entries(elsewhere), 0);

    /* A symlink at the file's own name is replaced, its target untouched. */
    char *target = spk_asprintf("%s/victim.proto", elsewhere);
    FILE *f = fopen(target, "w");
    fputs("original", f);
    fclose(f);
    char *flink = spk_asprintf("%s/f.proto", dir);
    CHECK_INT_EQ(symlink(target, flink), 0);
    CHECK_INT_EQ(write_str(&d, "f.proto", "new", &err), 0);
    char *got = slurp(target);
    CHECK_STR_EQ(got, "original");
    free(got);
    struct stat st;
    CHECK_INT_EQ(lstat(flink, &st), 0);
    CHECK(S_ISREG(st.st_mode));

    spk_cli_outdir_close(&d);
    free(flink);
    free(target);
    free(link);
    free(elsewhere);
    free(dir);
    rmtree(base);
}

static const struct unit_test tests[] = {
    {"writes_nested_and_replaces", test_writes_nested_and_replaces},
    {"hostile_paths", test_hostile_paths},
    {"planted_symlinks", test_planted_symlinks},
};
UNIT_MAIN(tests)
