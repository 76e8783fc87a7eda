/* The push walk (src/cli/tree.c): which files, in what order, what is skipped and why. Each
 * test builds a small tree in a fresh temporary directory. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spoke/alloc.h"
#include "spoke/cli.h"
#include "unit.h"

static char *mktree(void)
{
    char tmpl[] = "/tmp/spoke-test-tree-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? spk_strdup(d) : NULL;
}

static void put(const char *root, const char *rel, const char *content)
{
    char *p = spk_asprintf("%s/%s", root, rel);
    /* parents */
    for (char *s = p + strlen(root) + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    }
    FILE *f = fopen(p, "wb");
    if (f) {
        fputs(content, f);
        fclose(f);
    }
    free(p);
}

static void link_at(const char *root, const char *target, const char *rel)
{
    char *p = spk_asprintf("%s/%s", root, rel);
    CHECK_INT_EQ(symlink(target, p), 0);
    free(p);
}

static void rmtree(const char *root)
{
    const char *argv[] = {"rm", "-rf", root, NULL};
    char out[16];
    spk_cli_run_capture(argv, out, sizeof(out), 10000);
}

struct skips {
    char text[1024];
    int n;
};

static void on_skip(const char *rel, const char *why, void *arg)
{
    struct skips *s = arg;
    size_t len = strlen(s->text);
    snprintf(s->text + len, sizeof(s->text) - len, "%s: %s\n", rel, why);
    s->n++;
}

static void test_order_and_filters(void)
{
    char *root = mktree();
    CHECK(root != NULL);
    put(root, "a_b.proto", "1");
    put(root, "a.proto", "2");
    put(root, "a/b.proto", "3");
    put(root, "z/y/x/deep.proto", "4");
    put(root, "B.proto", "5");
    put(root, "readme.md", "not sent");
    put(root, "a/notes.txt", "not sent");
    put(root, "a/b.proto.bak", "not sent");
    put(root, ".hidden.proto", "hidden file");
    put(root, ".git/config.proto", "hidden dir");
    put(root, "a/.cache/c.proto", "hidden nested dir");
    char *empty = spk_asprintf("%s/empty", root);
    mkdir(empty, 0755);
    free(empty);

    struct spk_cli_tree t = {0};
    struct skips s = {{0}, 0};
    struct spk_error err = {0};
    CHECK_INT_EQ(spk_cli_tree_walk(root, &t, on_skip, &s, &err), 0);
    /* Byte order of whole paths: 'B' < 'a', '.' (0x2e) < '/' (0x2f) < '_' (0x5f). */
    static const char *const want[] = {"B.proto", "a.proto", "a/b.proto", "a_b.proto",
                                       "z/y/x/deep.proto"};
    CHECK_INT_EQ(t.n, 5);
    for (size_t i = 0; i < t.n && i < 5; i++)
        CHECK_STR_EQ(t.files[i].path, want[i]);
    CHECK_INT_EQ(s.n, 0);
    CHECK(t.n == 0 || t.files[0].data == NULL); /* the walk reads nothing */

    CHECK_INT_EQ(spk_cli_tree_read(root, &t, &err), 0);
    CHECK_INT_EQ(t.files[0].len, 1);
    CHECK_STR_EQ(t.files[0].data, "5");
    CHECK_STR_EQ(t.files[4].data, "4");
    spk_cli_tree_release(&t);
    rmtree(root);
    free(root);
}

static void test_symlinks(void)
{
    char *root = mktree();
    char *outside = mktree();
    put(outside, "secret.proto", "outside");
    put(root, "real/inner.proto", "inner");
    char *out_target = spk_asprintf("%s/secret.proto", outside);
    link_at(root, out_target, "leak.proto");          /* leaves the tree: skipped */
    link_at(root, "real/inner.proto", "alias.proto"); /* stays inside: followed */
    link_at(root, "real", "dirlink");                 /* a directory: not followed */
    link_at(root, "missing.proto", "dangling.proto"); /* no target: skipped */
    link_at(root, "..", "up");                        /* a loop would start here */

    struct spk_cli_tree t = {0};
    struct skips s = {{0}, 0};
    struct spk_error err = {0};
    CHECK_INT_EQ(spk_cli_tree_walk(root, &t, on_skip, &s, &err), 0);
    CHECK_INT_EQ(t.n, 2);
    if (t.n == 2) {
        CHECK_STR_EQ(t.files[0].path, "alias.proto");
        CHECK_STR_EQ(t.files[1].path, "real/inner.proto");
    }
    CHECK(strstr(s.text, "leak.proto: a symlink that points outside the directory") != NULL);
    CHECK(strstr(s.text, "dirlink: a symlink to a directory") != NULL);
    CHECK(strstr(s.text, "dangling.proto: a symlink whose target does not exist") != NULL);
    CHECK(strstr(s.text, "up: a symlink to a directory") != NULL);
    CHECK_INT_EQ(spk_cli_tree_read(root, &t, &err), 0);
    if (t.n == 2)
        CHECK_STR_EQ(t.files[0].data, "inner");
    spk_cli_tree_release(&t);

    /* A root given through a symlink still contains its own links. */
    char *via = spk_asprintf("%s-via", root);
    CHECK_INT_EQ(symlink(root, via), 0);
    CHECK_INT_EQ(spk_cli_tree_walk(via, &t, NULL, NULL, &err), 0);
    CHECK_INT_EQ(t.n, 2);
    spk_cli_tree_release(&t);
    unlink(via);
    free(via);

    free(out_target);
    rmtree(root);
    rmtree(outside);
    free(root);
    free(outside);
}

static void test_non_utf8_names(void)
{
    char *root = mktree();
    put(root, "ok.proto", "x");
    put(root, "sub/caf\xe9.proto", "latin-1 name");
    struct spk_cli_tree t = {0};
    struct spk_error err = {0};
    CHECK_INT_EQ(spk_cli_tree_walk(root, &t, NULL, NULL, &err), -1);
    CHECK_INT_EQ(err.code, SPK_E_INVALID);
    CHECK(strstr(err.msg, "sub/caf\\xe9.proto") != NULL);
    CHECK(strstr(err.msg, "not valid UTF-8") != NULL);
    spk_cli_tree_release(&t);

    /* Only files that would be sent count: a non-UTF-8 name of another file is fine, and so is
     * valid UTF-8 beyond ASCII. */
    rmtree(root);
    free(root);
    root = mktree();
    put(root, "notes-\xff.txt", "ignored");
    put(root, "d\xc3\xa9j\xc3\xa0/\xe6\x97\xa5\xe6\x9c\xac.proto", "utf-8 path");
    CHECK_INT_EQ(spk_cli_tree_walk(root, &t, NULL, NULL, &err), 0);
    CHECK_INT_EQ(t.n, 1);
    if (t.n == 1)
        CHECK_STR_EQ(t.files[0].path, "d\xc3\xa9j\xc3\xa0/\xe6\x97\xa5\xe6\x9c\xac.proto");
    spk_cli_tree_release(&t);
    rmtree(root);
    free(root);
}

static void test_bad_roots(void)
{
    struct spk_cli_tree t = {0};
    struct spk_error err = {0};
    CHECK_INT_EQ(spk_cli_tree_walk("/nonexistent/spoke-test", &t, NULL, NULL, &err), -1);
    CHECK(strstr(err.msg, "/nonexistent/spoke-test") != NULL);
    char *root = mktree();
    put(root, "file.proto", "x");
    char *file = spk_asprintf("%s/file.proto", root);
    CHECK_INT_EQ(spk_cli_tree_walk(file, &t, NULL, NULL, &err), -1);
    CHECK(strstr(err.msg, "is not a directory") != NULL);
    free(file);
    /* An empty tree is not the walk's business: the registry answers for it. */
    rmtree(root);
    free(root);
    root = mktree();
    CHECK_INT_EQ(spk_cli_tree_walk(root, &t, NULL, NULL, &err), 0);
    CHECK_INT_EQ(t.n, 0);
    spk_cli_tree_release(&t);
    rmtree(root);
    free(root);
}

static const struct unit_test tests[] = {
    {"order_and_filters", test_order_and_filters},
    {"symlinks", test_symlinks},
    {"non_utf8_names", test_non_utf8_names},
    {"bad_roots", test_bad_roots},
};
UNIT_MAIN(tests)
