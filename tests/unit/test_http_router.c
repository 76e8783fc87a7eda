/* Route matching: literals over parameters, tail parameters, percent-decoding and its
 * failures, empty segments, query strings, and 405 Allow lists. */
#include <stdlib.h>

#include "spoke/http.h"
#include "unit.h"

static void h(struct spk_http_ctx *ctx, void *app)
{
    (void)ctx;
    (void)app;
}

static const struct spk_http_route routes[] = {
    {"GET", "/modules", h},                                           /* 0 */
    {"POST", "/modules", h},                                          /* 1 */
    {"GET", "/modules/{name}", h},                                    /* 2 */
    {"PATCH", "/modules/{name}", h},                                  /* 3 */
    {"GET", "/modules/{name}/versions", h},                           /* 4 */
    {"POST", "/modules/{name}/versions", h},                          /* 5 */
    {"GET", "/modules/{name}/versions/{version}", h},                 /* 6 */
    {"GET", "/modules/{name}/versions/{version}/files/{path...}", h}, /* 7 */
    {"GET", "/modules/special", h},                                   /* 8 */
    {"GET", "/{a}/{b}/x", h},                                         /* 9 */
    {"GET", "/{a}/lit/{c}", h},                                       /* 10 */
    {"GET", "/", h},                                                  /* 11 */
    {"GET", "/raw/{rest...}", h},                                     /* 12 */
    {"GET", "/raw/fixed", h},                                         /* 13 */
    {"PURGE", "/modules/{name}", h},                                  /* 14 */
    {"HEAD", "/head-only", h},                                        /* 15 */
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

struct result {
    int idx;
    int mismatch;
    char allow[128];
    struct spk_http_params params;
};

static int match(const char *method, const char *path, struct result *r)
{
    r->idx = spk_http_route_match(routes, NROUTES, method, path, &r->params, &r->mismatch, r->allow,
                                  sizeof(r->allow));
    return r->idx;
}

static const char *param(const struct result *r, const char *name)
{
    for (size_t i = 0; i < r->params.n; i++)
        if (r->params.name_lens[i] == strlen(name) &&
            memcmp(r->params.names[i], name, r->params.name_lens[i]) == 0)
            return r->params.values[i];
    return NULL;
}

static void test_literals_and_params(void)
{
    struct result r;

    CHECK_INT_EQ(match("GET", "/modules", &r), 0);
    CHECK_INT_EQ(r.params.n, 0);
    spk_http_params_release(&r.params);

    CHECK_INT_EQ(match("POST", "/modules", &r), 1);
    spk_http_params_release(&r.params);

    CHECK_INT_EQ(match("GET", "/modules/acme.core", &r), 2);
    CHECK_INT_EQ(r.params.n, 1);
    CHECK_STR_EQ(param(&r, "name"), "acme.core");
    spk_http_params_release(&r.params);
    CHECK_INT_EQ(r.params.n, 0);

    CHECK_INT_EQ(match("GET", "/modules/acme/versions/v1.2.3-rc.1+build", &r), 6);
    CHECK_STR_EQ(param(&r, "name"), "acme");
    CHECK_STR_EQ(param(&r, "version"), "v1.2.3-rc.1+build");
    spk_http_params_release(&r.params);

    CHECK_INT_EQ(match("GET", "/", &r), 11);
    spk_http_params_release(&r.params);
}

static void test_literal_wins(void)
{
    struct result r;

    /* "/modules/special" is listed after "/modules/{name}" and still wins. */
    CHECK_INT_EQ(match("GET", "/modules/special", &r), 8);
    CHECK_INT_EQ(r.params.n, 0);
    spk_http_params_release(&r.params);

    /* The earliest differing segment decides: "/{a}/lit/{c}" beats "/{a}/{b}/x". */
    CHECK_INT_EQ(match("GET", "/q/lit/x", &r), 10);
    CHECK_STR_EQ(param(&r, "a"), "q");
    CHECK_STR_EQ(param(&r, "c"), "x");
    spk_http_params_release(&r.params);

    CHECK_INT_EQ(match("GET", "/q/other/x", &r), 9);
    CHECK_STR_EQ(param(&r, "b"), "other");
    spk_http_params_release(&r.params);

    /* A literal beats a tail parameter too. */
    CHECK_INT_EQ(match("GET", "/raw/fixed", &r), 13);
    spk_http_params_release(&r.params);
    CHECK_INT_EQ(match("GET", "/raw/fixed/more", &r), 12);
    CHECK_STR_EQ(param(&r, "rest"), "fixed/more");
    spk_http_params_release(&r.params);
}

static void test_tail(void)
{
    struct result r;

    CHECK_INT_EQ(match("GET", "/modules/acme/versions/1.0.0/files/google/api/http.proto", &r), 7);
    CHECK_INT_EQ(r.params.n, 3);
    CHECK_STR_EQ(param(&r, "path"), "google/api/http.proto");
    spk_http_params_release(&r.params);

    /* Decoded as a whole, slashes (raw and encoded) included. */
    CHECK_INT_EQ(match("GET", "/modules/acme/versions/1.0.0/files/a%20b/c%2Fd.proto", &r), 7);
    CHECK_STR_EQ(param(&r, "path"), "a b/c/d.proto");
    spk_http_params_release(&r.params);

    /* A tail never captures nothing. */
    CHECK_INT_EQ(match("GET", "/modules/acme/versions/1.0.0/files/", &r), -1);
    CHECK_INT_EQ(r.mismatch, 0);
    CHECK_INT_EQ(match("GET", "/modules/acme/versions/1.0.0/files", &r), -1);
}

static void test_decoding(void)
{
    struct result r;

    /* An encoded slash stays inside one segment. */
    CHECK_INT_EQ(match("GET", "/modules/a%2Fb", &r), 2);
    CHECK_STR_EQ(param(&r, "name"), "a/b");
    spk_http_params_release(&r.params);

    CHECK_INT_EQ(match("GET", "/modules/%41cme%c3%a9", &r), 2);
    CHECK_STR_EQ(param(&r, "name"), "Acme\xc3\xa9");
    spk_http_params_release(&r.params);

    /* '+' is a literal plus in a path. */
    CHECK_INT_EQ(match("GET", "/modules/a+b", &r), 2);
    CHECK_STR_EQ(param(&r, "name"), "a+b");
    spk_http_params_release(&r.params);

    /* Literal segments compare decoded. */
    CHECK_INT_EQ(match("GET", "/%6Dodules", &r), 0);
    spk_http_params_release(&r.params);
}

static void test_bad_escapes(void)
{
    struct result r;
    static const char *const bad[] = {
        "/modules/%00",
        "/modules/a%00b",
        "/modules/%zz",
        "/modules/%4",
        "/modules/%",
        "/modules/%g1",
        "/nowhere/%00",
        "/modules/acme/versions/1/files/a%0",
        "/modules/x/versions/%",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT_EQ(match("GET", bad[i], &r), -2);
        CHECK_INT_EQ(r.params.n, 0);
        spk_http_params_release(&r.params);
    }
    /* The query string is not the path: its escapes are not the router's business. */
    CHECK_INT_EQ(match("GET", "/modules/acme?x=%00", &r), 2);
    spk_http_params_release(&r.params);
}

static void test_pct_decode(void)
{
    char *out = NULL;

    CHECK_INT_EQ(spk_http_pct_decode("a%20b%2fc", 9, &out), 0);
    CHECK_STR_EQ(out, "a b/c");
    free(out);
    CHECK_INT_EQ(spk_http_pct_decode("abc", 2, &out), 0);
    CHECK_STR_EQ(out, "ab");
    free(out);
    CHECK_INT_EQ(spk_http_pct_decode("", 0, &out), 0);
    CHECK_STR_EQ(out, "");
    free(out);
    CHECK_INT_EQ(spk_http_pct_decode("%FF%fe", 6, &out), 0);
    CHECK_STR_EQ(out, "\xff\xfe");
    free(out);
    CHECK_INT_EQ(spk_http_pct_decode("a%00", 4, &out), -1);
    CHECK(out == NULL);
    CHECK_INT_EQ(spk_http_pct_decode("a%2", 3, &out), -1);
    CHECK_INT_EQ(spk_http_pct_decode("a%2x", 4, &out), -1);
    /* The escape is cut by len even though the string goes on. */
    CHECK_INT_EQ(spk_http_pct_decode("a%20", 3, &out), -1);
    CHECK_INT_EQ(spk_http_pct_decode("a\0b", 3, &out), -1);
}

static void test_empty_segments_and_slashes(void)
{
    struct result r;
    static const char *const none[] = {
        "/modules/",
        "/modules//versions",
        "//modules",
        "/modules/acme/",
        "/modules/acme//",
        "/modules/acme/versions/",
        "",
        "modules",
        "*",
    };
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        CHECK_INT_EQ(match("GET", none[i], &r), -1);
        CHECK_INT_EQ(r.mismatch, 0);
        CHECK_STR_EQ(r.allow, "");
        CHECK_INT_EQ(r.params.n, 0);
    }
}

static void test_query_stripped(void)
{
    struct result r;

    CHECK_INT_EQ(match("GET", "/modules?limit=10&offset=5", &r), 0);
    spk_http_params_release(&r.params);
    CHECK_INT_EQ(match("GET", "/modules/acme?x=/y", &r), 2);
    CHECK_STR_EQ(param(&r, "name"), "acme");
    spk_http_params_release(&r.params);
    CHECK_INT_EQ(match("GET", "/modules/acme/versions/1/files/a/b.proto?raw=1", &r), 7);
    CHECK_STR_EQ(param(&r, "path"), "a/b.proto");
    spk_http_params_release(&r.params);
    CHECK_INT_EQ(match("GET", "/modules/?q", &r), -1);
    CHECK_INT_EQ(match("GET", "?x", &r), -1);
}

static void test_methods(void)
{
    struct result r;

    /* GET answers HEAD. */
    CHECK_INT_EQ(match("HEAD", "/modules/acme", &r), 2);
    CHECK_INT_EQ(r.mismatch, 0);
    spk_http_params_release(&r.params);

    CHECK_INT_EQ(match("PATCH", "/modules/acme", &r), 3);
    spk_http_params_release(&r.params);

    /* DELETE matches no row: every pattern that matched contributes, in a fixed order. */
    CHECK_INT_EQ(match("DELETE", "/modules/acme", &r), -1);
    CHECK_INT_EQ(r.mismatch, 1);
    CHECK_STR_EQ(r.allow, "GET, HEAD, PATCH, PURGE");
    CHECK_INT_EQ(r.params.n, 0);

    /* "/modules/special" also matches "/modules/{name}": both rows' methods count. */
    CHECK_INT_EQ(match("POST", "/modules/special", &r), -1);
    CHECK_INT_EQ(r.mismatch, 1);
    CHECK_STR_EQ(r.allow, "GET, HEAD, PATCH, PURGE");

    /* A less specific pattern answers when the more specific one lacks the method. */
    CHECK_INT_EQ(match("PATCH", "/modules/special", &r), 3);
    CHECK_STR_EQ(param(&r, "name"), "special");
    spk_http_params_release(&r.params);

    CHECK_INT_EQ(match("DELETE", "/modules", &r), -1);
    CHECK_INT_EQ(r.mismatch, 1);
    CHECK_STR_EQ(r.allow, "GET, HEAD, POST");

    /* HEAD-only rows do not answer GET; no GET means no implied HEAD either. */
    CHECK_INT_EQ(match("GET", "/head-only", &r), -1);
    CHECK_INT_EQ(r.mismatch, 1);
    CHECK_STR_EQ(r.allow, "HEAD");
    CHECK_INT_EQ(match("HEAD", "/head-only", &r), 15);

    CHECK_INT_EQ(match("GET", "/modules/acme/versions", &r), 4);
    spk_http_params_release(&r.params);
    CHECK_INT_EQ(match("PUT", "/modules/acme/versions", &r), -1);
    CHECK_STR_EQ(r.allow, "GET, HEAD, POST");

    /* Methods are case-sensitive tokens. */
    CHECK_INT_EQ(match("get", "/modules", &r), -1);
    CHECK_INT_EQ(r.mismatch, 1);
}

static void test_small_allow_buffer(void)
{
    char allow[10];
    int mismatch = 0;
    CHECK_INT_EQ(spk_http_route_match(routes, NROUTES, "DELETE", "/modules/acme", NULL, &mismatch,
                                      allow, sizeof(allow)),
                 -1);
    CHECK_INT_EQ(mismatch, 1);
    CHECK_STR_EQ(allow, "GET, HEAD"); /* whole methods only */

    /* params, mismatch and allow are all optional. */
    CHECK_INT_EQ(spk_http_route_match(routes, NROUTES, "GET", "/modules/x", NULL, NULL, NULL, 0),
                 2);
    CHECK_INT_EQ(spk_http_route_match(NULL, 0, "GET", "/modules", NULL, NULL, NULL, 0), -1);
}

static void test_too_many_params(void)
{
    static const struct spk_http_route many[] = {
        {"GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", h},
        {"GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", h},
    };
    struct spk_http_params p;
    /* A pattern with more parameters than fit never matches rather than truncating. */
    CHECK_INT_EQ(spk_http_route_match(many, 2, "GET", "/1/2/3/4/5/6/7/8/9", &p, NULL, NULL, 0), -1);
    CHECK_INT_EQ(spk_http_route_match(many, 2, "GET", "/1/2/3/4/5/6/7/8", &p, NULL, NULL, 0), 1);
    CHECK_INT_EQ(p.n, 8);
    spk_http_params_release(&p);
}

static void test_etag_matches(void)
{
    const char *e = "\"sha256:ab\"";
    CHECK(!spk_http_etag_matches(NULL, e));
    CHECK(!spk_http_etag_matches("", e));
    CHECK(spk_http_etag_matches("\"sha256:ab\"", e));
    CHECK(spk_http_etag_matches("W/\"sha256:ab\"", e)); /* weak comparison */
    CHECK(spk_http_etag_matches("\"x\", \"sha256:ab\"  ", e));
    CHECK(spk_http_etag_matches("\"x\",\t\"sha256:ab\"", e));
    CHECK(spk_http_etag_matches("*", e));
    CHECK(!spk_http_etag_matches("\"sha256:a\"", e));
    CHECK(!spk_http_etag_matches("\"sha256:abc\"", e));
    CHECK(!spk_http_etag_matches("sha256:ab", e)); /* unquoted is another tag */
    CHECK(!spk_http_etag_matches(",,, ", e));
}

static const struct unit_test tests[] = {
    {"etag_matches", test_etag_matches},
    {"literals_and_params", test_literals_and_params},
    {"literal_wins", test_literal_wins},
    {"tail", test_tail},
    {"decoding", test_decoding},
    {"bad_escapes", test_bad_escapes},
    {"pct_decode", test_pct_decode},
    {"empty_segments_and_slashes", test_empty_segments_and_slashes},
    {"query_stripped", test_query_stripped},
    {"methods", test_methods},
    {"small_allow_buffer", test_small_allow_buffer},
    {"too_many_params", test_too_many_params},
};

UNIT_MAIN(tests)
