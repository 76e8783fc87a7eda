/* Breaking-change violations in buf's text format (src/cli/violations.c): what `spoke breaking`
 * prints on stdout and `spoke push` on stderr, which editors and CI log viewers parse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spoke/cli.h"
#include "unit.h"

/* Formats the violation given as JSON text. */
static char *fmt(const char *json, int with_against)
{
    json_t *v = json_loads(json, 0, NULL);
    if (!v) {
        fprintf(stderr, "bad test JSON: %s\n", json);
        return NULL;
    }
    char *s = spk_cli_violation_format(v, with_against);
    json_decref(v);
    return s;
}

static void check_fmt(const char *json, int with_against, const char *want)
{
    char *got = fmt(json, with_against);
    CHECK_STR_EQ(got, want);
    free(got);
}

static void test_buf_format(void)
{
    check_fmt("{\"rule\": \"FIELD_SAME_TYPE\", \"categories\": [\"FILE\", \"PACKAGE\"],"
              " \"file\": \"acme/v1/payment.proto\", \"line\": 12, \"column\": 3,"
              " \"message\": \"field 3 \\\"amount\\\" on message \\\"acme.v1.Payment\\\" changed "
              "type from \\\"int32\\\" to \\\"int64\\\"\", \"old\": \"int32\", \"new\": \"int64\","
              " \"against\": \"1.0.0\"}",
              0,
              "acme/v1/payment.proto:12:3: FIELD_SAME_TYPE field 3 \"amount\" on message "
              "\"acme.v1.Payment\" changed type from \"int32\" to \"int64\"");
}

static void test_missing_positions(void)
{
    /* No line: the file alone, as buf does for a deleted file. */
    check_fmt("{\"rule\": \"FILE_NO_DELETE\", \"file\": \"a/b.proto\", \"line\": 0,"
              " \"column\": 0, \"message\": \"previously present file was deleted\"}",
              0, "a/b.proto: FILE_NO_DELETE previously present file was deleted");
    /* A line without a column. */
    check_fmt("{\"rule\": \"R\", \"file\": \"a.proto\", \"line\": 7, \"column\": 0,"
              " \"message\": \"m\"}",
              0, "a.proto:7: R m");
    /* No file at all. */
    check_fmt("{\"rule\": \"PACKAGE_NO_DELETE\", \"file\": \"\", \"line\": 3, \"column\": 1,"
              " \"message\": \"package deleted\"}",
              0, "<input>: PACKAGE_NO_DELETE package deleted");
    check_fmt("{\"rule\": \"R\", \"message\": \"m\"}", 0, "<input>: R m");
    /* Fields of the wrong type count as absent. */
    check_fmt("{\"rule\": \"R\", \"file\": \"a.proto\", \"line\": \"12\", \"column\": 3,"
              " \"message\": \"m\"}",
              0, "a.proto: R m");
    check_fmt("{\"rule\": 5, \"file\": \"a.proto\", \"line\": 1, \"column\": 2}", 0,
              "a.proto:1:2: BREAKING");
}

static void test_against(void)
{
    const char *v = "{\"rule\": \"R\", \"file\": \"a.proto\", \"line\": 1, \"column\": 2,"
                    " \"message\": \"m\", \"against\": \"1.0.0\"}";
    check_fmt(v, 0, "a.proto:1:2: R m");
    check_fmt(v, 1, "a.proto:1:2: R m (against 1.0.0)");
    check_fmt("{\"rule\": \"R\", \"file\": \"a.proto\", \"line\": 1, \"column\": 2,"
              " \"message\": \"m\"}",
              1, "a.proto:1:2: R m");
}

static void test_server_text_is_made_printable(void)
{
    /* An escape sequence or a newline from the server cannot drive the terminal or forge a
     * second line that a log viewer would link. */
    check_fmt("{\"rule\": \"R\\u001b[31m\", \"file\": \"a\\nb.proto:9:9: FAKE\", \"line\": 1,"
              " \"column\": 1, \"message\": \"x\\ry\"}",
              0, "a\\x0ab.proto:9:9: FAKE:1:1: R\\x1b[31m x\\x0dy");
}

/* spk_cli_violations_print's output as a string. */
static char *printed(const char *json, size_t *n)
{
    json_t *a = json_loads(json, 0, NULL);
    FILE *f = tmpfile();
    char *out = calloc(1, 4096);
    if (!a || !f || !out) {
        fprintf(stderr, "test setup failed\n");
        if (f)
            fclose(f);
        json_decref(a);
        return out;
    }
    *n = spk_cli_violations_print(f, a);
    rewind(f);
    size_t got = fread(out, 1, 4095, f);
    out[got] = '\0';
    fclose(f);
    json_decref(a);
    return out;
}

static void test_print_lines(void)
{
    size_t n = 99;
    char *s = printed("[{\"rule\": \"A\", \"file\": \"x.proto\", \"line\": 1, \"column\": 2,"
                      "  \"message\": \"first\", \"against\": \"1.0.0\"},"
                      " 17,"
                      " {\"rule\": \"B\", \"file\": \"\", \"message\": \"second\","
                      "  \"against\": \"1.0.0\"}]",
                      &n);
    CHECK_STR_EQ(s, "x.proto:1:2: A first\n<input>: B second\n");
    CHECK_INT_EQ(n, 2);
    free(s);

    /* Compared with two versions (a back-ported patch): each line says which. */
    s = printed("[{\"rule\": \"A\", \"file\": \"x.proto\", \"line\": 1, \"column\": 2,"
                "  \"message\": \"m\", \"against\": \"1.0.0\"},"
                " {\"rule\": \"A\", \"file\": \"x.proto\", \"line\": 1, \"column\": 2,"
                "  \"message\": \"m\", \"against\": \"1.2.0\"}]",
                &n);
    CHECK_STR_EQ(s, "x.proto:1:2: A m (against 1.0.0)\nx.proto:1:2: A m (against 1.2.0)\n");
    CHECK_INT_EQ(n, 2);
    free(s);

    s = printed("[]", &n);
    CHECK_STR_EQ(s, "");
    CHECK_INT_EQ(n, 0);
    free(s);
    /* Not an array: nothing. */
    s = printed("{\"rule\": \"A\"}", &n);
    CHECK_STR_EQ(s, "");
    CHECK_INT_EQ(n, 0);
    free(s);
}

static const struct unit_test tests[] = {
    {"buf_format", test_buf_format},
    {"missing_positions", test_missing_positions},
    {"against", test_against},
    {"server_text_is_made_printable", test_server_text_is_made_printable},
    {"print_lines", test_print_lines},
};
UNIT_MAIN(tests)
