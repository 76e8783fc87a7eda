/* The JSON-lines logger: lines built as text (spk_log_line, the access log's path) must be
 * byte-for-byte what spk_log_json writes through jansson for the same fields, including string
 * escapes, non-ASCII text, reals and lines longer than the inline buffer. */
#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spoke/log.h"
#include "unit.h"
#include "spoke/banned.h"

#define TS_PREFIX 35 /* {"ts":"2026-01-02T03:04:05.123456Z" differs between the two lines */

/* Runs fn with stderr sent to a temporary file; returns what it wrote (free it). */
static char *capture(void (*fn)(const void *), const void *arg)
{
    char path[] = "/tmp/spoke-log-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    fflush(stderr);
    dup2(fd, STDERR_FILENO);
    fn(arg);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t size = lseek(fd, 0, SEEK_END);
    char *out = calloc(1, (size_t)size + 1);
    if (pread(fd, out, (size_t)size, 0) != size)
        out[0] = '\0';
    close(fd);
    unlink(path);
    return out;
}

struct pair {
    const char *s;
    double d;
    long long i;
};

static void via_jansson(const void *arg)
{
    const struct pair *p = arg;
    json_t *f = json_object();
    json_object_set_new(f, "s", json_string(p->s));
    json_object_set_new(f, "i", json_integer(p->i));
    json_object_set_new(f, "d", json_real(p->d));
    spk_log_json(SPK_LOG_INFO, "rid-1", "request", f);
}

static void via_line(const void *arg)
{
    const struct pair *p = arg;
    struct spk_log_line l;
    spk_log_line_begin(&l, SPK_LOG_INFO, "rid-1", "request");
    spk_log_line_str(&l, "s", p->s);
    spk_log_line_int(&l, "i", p->i);
    spk_log_line_real(&l, "d", p->d);
    spk_log_line_end(&l);
}

static void check_same(const char *s, double d, long long i)
{
    struct pair p = {s, d, i};
    char *a = capture(via_jansson, &p), *b = capture(via_line, &p);
    CHECK(strlen(a) > TS_PREFIX && strlen(b) > TS_PREFIX);
    CHECK(strncmp(a, "{\"ts\":\"", 7) == 0 && strncmp(b, "{\"ts\":\"", 7) == 0);
    if (strlen(a) > TS_PREFIX && strlen(b) > TS_PREFIX && strcmp(a + TS_PREFIX, b + TS_PREFIX)) {
        fprintf(stderr, "jansson: %s\nline:    %s\n", a, b);
        CHECK(!"lines differ");
    }
    free(a);
    free(b);
}

static void test_same_as_jansson(void)
{
    static const char *const strings[] = {
        "",
        "plain /modules/{name}/versions/1.2.3",
        "quote \" backslash \\ slash /",
        "controls \b\f\n\r\t \x01\x1f \x7f",
        "latin \xc3\xa9t\xc3\xa9, euro \xe2\x82\xac, emoji \xf0\x9f\x98\x80, max \xf4\x8f\xbf\xbf",
    };
    static const double reals[] = {0.0,         0.123,       1.0,    0.5,    12.3456789,
                                   1e-7,        0.000123456, 100000, 1e6,    1e21,
                                   123456789.0, -2.5,        1e-300, DBL_MAX};
    static const long long ints[] = {0, -1, 42, LLONG_MAX, LLONG_MIN};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        check_same(strings[i], 1.5, 7);
    for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++)
        check_same("r", reals[i], 0);
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        check_same("i", 0.25, ints[i]);

    /* Longer than the inline buffer: the line spills to the heap and stays whole. */
    char *big = malloc(5000);
    for (size_t i = 0; i < 4999; i++)
        big[i] = i % 100 == 0 ? '"' : (char)('a' + i % 26);
    big[4999] = '\0';
    check_same(big, 3.25, 9);
    free(big);
}

static void invalid_and_json(const void *arg)
{
    (void)arg;
    struct spk_log_line l;
    json_t *obj = json_pack("{s:[i,i], s:s}", "a", 1, 2, "b", "x");
    json_t *nul = json_stringn("a\0b", 3);
    spk_log_line_begin(&l, SPK_LOG_WARN, NULL, "m");
    /* Not UTF-8: every byte >= 0x80 becomes '?', as the HTTP layer did for client headers. */
    spk_log_line_str(&l, "ua",
                     "a\xff"
                     "b\xc3\xa9 \xed\xa0\x80 \xc0\x80");
    spk_log_line_str(&l, "skipped", NULL);
    spk_log_line_json(&l, "obj", obj);
    spk_log_line_json(&l, "nul", nul);
    spk_log_line_real(&l, "nan", 0.0 / 0.0);
    spk_log_line_end(&l);
    json_decref(obj);
    json_decref(nul);
}

static void test_invalid_utf8_and_json_values(void)
{
    char *out = capture(invalid_and_json, NULL);
    const char *want = "\"level\":\"warn\",\"msg\":\"m\",\"ua\":\"a?b?? ??? ??\","
                       "\"obj\":{\"a\":[1,2],\"b\":\"x\"},\"nul\":\"a\\u0000b\"}\n";
    CHECK(strlen(out) > TS_PREFIX);
    if (strlen(out) > TS_PREFIX)
        CHECK_STR_EQ(out + TS_PREFIX + 1, want);
    json_t *j = json_loads(out, JSON_ALLOW_NUL, NULL);
    CHECK(j != NULL);
    json_decref(j);
    free(out);
}

static void disabled(const void *arg)
{
    (void)arg;
    struct spk_log_line l;
    spk_log_set_level(SPK_LOG_WARN);
    spk_log_line_begin(&l, SPK_LOG_INFO, "r", "request");
    spk_log_line_str(&l, "k", "v");
    spk_log_line_end(&l);
    spk_log_set_level(SPK_LOG_INFO);
}

static void test_level_filter(void)
{
    char *out = capture(disabled, NULL);
    CHECK_STR_EQ(out, "");
    free(out);
}

static const struct unit_test tests[] = {
    {"same_as_jansson", test_same_as_jansson},
    {"invalid_utf8_and_json_values", test_invalid_utf8_and_json_values},
    {"level_filter", test_level_filter},
};
UNIT_MAIN(tests)
