/* The CLI's option tables, Link parsing, URL escaping and terminal-safe text (src/cli/args.c,
 * src/cli/http.c, src/cli/output.c). */
#include <stdlib.h>
#include <string.h>

#include "spoke/cli.h"
#include "unit.h"

struct parsed {
    const char *module, *dir;
    int flag;
    long n;
    struct spk_cli_strlist deps, pos;
};

static int parse(struct parsed *p, int stop, int *consumed, struct spk_error *err, int argc,
                 char **argv)
{
    const struct spk_cli_opt a[] = {
        {"module", 'm', SPK_CLI_OPT_STRING, &p->module, "NAME", "module"},
        {"dep", 0, SPK_CLI_OPT_LIST, &p->deps, "M@V", "dependency"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    const struct spk_cli_opt b[] = {
        {"dir", 'd', SPK_CLI_OPT_STRING, &p->dir, "DIR", "dir"},
        {"recursive", 'r', SPK_CLI_OPT_FLAG, &p->flag, NULL, "flag"},
        {"retries", 0, SPK_CLI_OPT_UINT, &p->n, "N", "count"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    const struct spk_cli_opt *tables[] = {a, b};
    return spk_cli_args_parse(argc, argv, tables, 2, stop, &p->pos, consumed, err);
}

static void release(struct parsed *p)
{
    spk_cli_strlist_release(&p->deps);
    spk_cli_strlist_release(&p->pos);
}

static void test_forms(void)
{
    char *argv[] = {"--module", "acme",    "pos1", "--dep=a@1.0.0", "-d", "out",
                    "--dep",    "b@2.0.0", "-r",   "--retries=3",   "--", "--not-an-option",
                    NULL};
    struct parsed p = {.n = -1};
    struct spk_error err = {0};
    CHECK_INT_EQ(parse(&p, 0, NULL, &err, 12, argv), 0);
    CHECK_STR_EQ(p.module, "acme");
    CHECK_STR_EQ(p.dir, "out");
    CHECK_INT_EQ(p.flag, 1);
    CHECK_INT_EQ(p.n, 3);
    CHECK_INT_EQ(p.deps.n, 2);
    if (p.deps.n == 2) {
        CHECK_STR_EQ(p.deps.v[0], "a@1.0.0");
        CHECK_STR_EQ(p.deps.v[1], "b@2.0.0");
    }
    CHECK_INT_EQ(p.pos.n, 2);
    if (p.pos.n == 2) {
        CHECK_STR_EQ(p.pos.v[0], "pos1");
        CHECK_STR_EQ(p.pos.v[1], "--not-an-option");
    }
    release(&p);

    /* The last occurrence wins; "-" is a positional. */
    char *argv2[] = {"-m", "a", "--module", "b", "-", NULL};
    struct parsed q = {0};
    CHECK_INT_EQ(parse(&q, 0, NULL, &err, 5, argv2), 0);
    CHECK_STR_EQ(q.module, "b");
    CHECK_INT_EQ(q.pos.n, 1);
    release(&q);
}

static void test_errors(void)
{
    static char *cases[][3] = {
        {"--nope", NULL, "unknown option --nope"},   {"-x", NULL, "unknown option -x"},
        {"-rd", NULL, "cannot be combined"},         {"--module", NULL, "needs a value"},
        {"--recursive=yes", NULL, "takes no value"}, {"--retries", "-1", "whole number"},
        {"--retries", "3x", "whole number"},         {"--retries", "", "whole number"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct parsed p = {0};
        struct spk_error err = {0};
        int argc = cases[i][1] ? 2 : 1;
        CHECK_INT_EQ(parse(&p, 0, NULL, &err, argc, cases[i]), -1);
        CHECK_INT_EQ(err.code, SPK_E_INVALID);
        if (!strstr(err.msg, cases[i][2]))
            fprintf(stderr, "case %zu: message \"%s\"\n", i, err.msg);
        CHECK(strstr(err.msg, cases[i][2]) != NULL);
        release(&p);
    }
}

static void test_stop_at_positional(void)
{
    char *argv[] = {"--retries", "2", "-r", "push", "--module", "m", NULL};
    struct parsed p = {0};
    struct spk_error err = {0};
    int consumed = -1;
    CHECK_INT_EQ(parse(&p, 1, &consumed, &err, 6, argv), 0);
    CHECK_INT_EQ(consumed, 3);
    CHECK_INT_EQ(p.n, 2);
    CHECK(p.module == NULL);
    CHECK_INT_EQ(p.pos.n, 0);
    release(&p);
}

static void test_link_next(void)
{
    static const char *const cases[][2] = {
        {"<http://h/modules?limit=2&offset=2>; rel=\"next\"", "http://h/modules?limit=2&offset=2"},
        {"<http://h/a?x=1>; rel=next", "http://h/a?x=1"},
        {"<http://h/p>; rel=\"prev\", <http://h/n?o=4>; rel=\"next\"", "http://h/n?o=4"},
        {"<http://h/n>; title=\"a, b\"; REL=\"Next\"", "http://h/n"},
        {"<http://h/n>; rel=\"next last\"", "http://h/n"},
        {"<http://h/l>; rel=\"last\"", NULL},
        {"<http://h/l>; rel=\"nextpage\"", NULL},
        {"garbage", NULL},
        {"<unterminated; rel=next", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = spk_cli_link_next(cases[i][0]);
        if (cases[i][1])
            CHECK_STR_EQ(got, cases[i][1]);
        else
            CHECK(got == NULL);
        free(got);
    }
    CHECK_STR_EQ(spk_cli_url_query("http://h/m?limit=2&offset=4"), "limit=2&offset=4");
    CHECK(spk_cli_url_query("http://h/m") == NULL);
}

static void test_escape(void)
{
    char *e = spk_cli_escape("acme.pay-ments_v1~");
    CHECK_STR_EQ(e, "acme.pay-ments_v1~");
    free(e);
    e = spk_cli_escape("../a b/1.0.0+build?#&=%\xc3\xa9");
    CHECK_STR_EQ(e, "..%2Fa%20b%2F1.0.0%2Bbuild%3F%23%26%3D%25%C3%A9");
    free(e);
}

static void test_printable(void)
{
    static const char *const cases[][2] = {
        {"plain text", "plain text"},
        {"caf\xc3\xa9 \xe6\x97\xa5", "caf\xc3\xa9 \xe6\x97\xa5"},
        {"bell\x07 esc\x1b[31m", "bell\\x07 esc\\x1b[31m"},
        {"latin1 \xe9!", "latin1 \\xe9!"},
        {"c1 \xc2\x9b", "c1 \\xc2\\x9b"},
        {"back\\slash", "back\\x5cslash"},
        {"truncated \xe6\x97", "truncated \\xe6\\x97"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *p = spk_cli_printable(cases[i][0], strlen(cases[i][0]));
        CHECK_STR_EQ(p, cases[i][1]);
        free(p);
    }
    char *p = spk_cli_printable("a\0b", 3);
    CHECK_STR_EQ(p, "a\\x00b");
    free(p);
}

static const struct unit_test tests[] = {
    {"forms", test_forms},
    {"errors", test_errors},
    {"stop_at_positional", test_stop_at_positional},
    {"link_next", test_link_next},
    {"escape", test_escape},
    {"printable", test_printable},
};
UNIT_MAIN(tests)
