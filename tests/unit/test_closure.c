/* Dependency closures (src/registry/closure.c) over a fake loader: each version once, in
 * topological order, with the caps and the missing-version error. */
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/error.h"
#include "spoke/registry.h"
#include "unit.h"

/* A graph as rows: "module@version" and its dependencies. */
struct node {
    const char *ref;
    const char *deps[4];
};

struct graph {
    const struct node *nodes;
    size_t n;
    int loads;
};

static int load(void *arg, const struct spk_ref *ref, struct spk_loaded *out, struct spk_error *err)
{
    struct graph *g = arg;
    g->loads++;
    for (size_t i = 0; i < g->n; i++) {
        if (strcmp(g->nodes[i].ref, ref->text) != 0)
            continue;
        memset(out, 0, sizeof(*out));
        out->ref = *ref;
        size_t nd = 0;
        while (nd < 4 && g->nodes[i].deps[nd])
            nd++;
        out->meta.deps = spk_calloc(nd ? nd : 1, sizeof(char *));
        for (size_t d = 0; d < nd; d++)
            out->meta.deps[d] = spk_strdup(g->nodes[i].deps[d]);
        out->meta.ndeps = nd;
        /* one file of 10 bytes each, for the byte cap */
        out->meta.nfiles = 1;
        out->meta.files = spk_calloc(1, sizeof(*out->meta.files));
        out->meta.files[0].path = spk_strdup("x.proto");
        out->contents = spk_calloc(1, sizeof(char *));
        out->contents[0] = spk_strdup("0123456789");
        out->lens = spk_calloc(1, sizeof(size_t));
        out->lens[0] = 10;
        return 0;
    }
    return spk_error_set(err, SPK_E_NOT_FOUND, "%s not found", ref->text);
}

static const struct node diamond[] = {
    {"app@1.0.0", {"left@1.0.0", "right@1.0.0"}},
    {"left@1.0.0", {"base@1.0.0"}},
    {"right@1.0.0", {"base@1.0.0", "leaf@2.0.0"}},
    {"base@1.0.0", {"leaf@2.0.0"}},
    {"leaf@2.0.0", {NULL}},
};

static size_t position(const struct spk_closure *c, const char *ref)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->v[i].ref.text, ref) == 0)
            return i;
    return (size_t)-1;
}

static void test_topological_once(void)
{
    struct graph g = {diamond, 5, 0};
    struct spk_closure c;
    struct spk_error err = {0};
    char *roots[] = {"app@1.0.0"};
    CHECK_INT_EQ(spk_closure_walk(roots, 1, load, &g, 256, 1 << 20, &c, &err), 0);
    CHECK_INT_EQ(c.n, 5);
    CHECK_INT_EQ(g.loads, 5); /* base and leaf are reached twice, loaded once */
    CHECK_INT_EQ(c.bytes, 50);
    /* every version after everything it depends on */
    for (size_t i = 0; i < 5; i++)
        for (size_t d = 0; diamond[i].deps[d]; d++)
            CHECK(position(&c, diamond[i].deps[d]) < position(&c, diamond[i].ref));
    CHECK_STR_EQ(c.v[c.n - 1].ref.text, "app@1.0.0");
    spk_closure_release(&c);
    spk_closure_release(&c); /* idempotent */
}

static void test_several_roots_and_none(void)
{
    struct graph g = {diamond, 5, 0};
    struct spk_closure c;
    struct spk_error err = {0};
    char *roots[] = {"left@1.0.0", "right@1.0.0"};
    CHECK_INT_EQ(spk_closure_walk(roots, 2, load, &g, 256, 1 << 20, &c, &err), 0);
    CHECK_INT_EQ(c.n, 4);
    spk_closure_release(&c);
    CHECK_INT_EQ(spk_closure_walk(NULL, 0, load, &g, 256, 1 << 20, &c, &err), 0);
    CHECK_INT_EQ(c.n, 0);
    spk_closure_release(&c);
}

static void test_caps_and_missing(void)
{
    struct graph g = {diamond, 5, 0};
    struct spk_closure c;
    struct spk_error err = {0};
    char *roots[] = {"app@1.0.0"};
    CHECK_INT_EQ(spk_closure_walk(roots, 1, load, &g, 3, 1 << 20, &c, &err), -1);
    CHECK_INT_EQ(err.code, SPK_E_INVALID_SCHEMA);
    CHECK(strstr(err.msg, "more than 3 versions") != NULL);
    CHECK_INT_EQ(c.n, 0);
    CHECK_INT_EQ(spk_closure_walk(roots, 1, load, &g, 256, 35, &c, &err), -1);
    CHECK(strstr(err.msg, "larger than") != NULL);

    static const struct node broken[] = {{"app@1.0.0", {"gone@1.0.0"}}};
    struct graph b = {broken, 1, 0};
    CHECK_INT_EQ(spk_closure_walk(roots, 1, load, &b, 256, 1 << 20, &c, &err), -1);
    CHECK_INT_EQ(err.code, SPK_E_NOT_FOUND);
    CHECK(strstr(err.msg, "gone@1.0.0") != NULL);

    /* A loop cannot occur in stored data, but must not hang the walk. */
    static const struct node loop[] = {{"a@1.0.0", {"b@1.0.0"}}, {"b@1.0.0", {"a@1.0.0"}}};
    struct graph l = {loop, 2, 0};
    char *lr[] = {"a@1.0.0"};
    CHECK_INT_EQ(spk_closure_walk(lr, 1, load, &l, 256, 1 << 20, &c, &err), 0);
    CHECK_INT_EQ(c.n, 2);
    spk_closure_release(&c);

    char *bad[] = {"not a ref"};
    CHECK_INT_EQ(spk_closure_walk(bad, 1, load, &g, 256, 1 << 20, &c, &err), -1);
}

static const struct unit_test tests[] = {
    {"topological_once", test_topological_once},
    {"several_roots_and_none", test_several_roots_and_none},
    {"caps_and_missing", test_caps_and_missing},
};
UNIT_MAIN(tests)
