/* Push bodies (src/api/push_body.c): every rule a body must pass before anything is stored. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/api/api_internal.h"
#include "spoke/config.h"
#include "spoke/digest.h"
#include "spoke/error.h"
#include "unit.h"

static struct spk_config cfg = {.max_files = 3, .max_file_bytes = 64};

/* Parses text as a push of module "acme.pay"; returns the parser's result, err filled. The
 * request borrows strings from the body, which is gone on return: callers look at flags only. */
static int parse(const char *text, int with_version, struct spk_push_request *req, int *has_version,
                 struct spk_error *err)
{
    json_t *body = json_loads(text, JSON_ALLOW_NUL, NULL);
    CHECK(body != NULL);
    int rc = api_push_request_parse(body, "acme.pay", with_version, &cfg, req, has_version, err);
    json_decref(body);
    return rc;
}

static void expect_invalid(const char *text, enum spk_errcode code, const char *fragment)
{
    struct spk_push_request req;
    struct spk_error err = {0};
    int hv;
    json_t *body = json_loads(text, JSON_ALLOW_NUL, NULL);
    CHECK(body != NULL);
    CHECK_INT_EQ(api_push_request_parse(body, "acme.pay", 1, &cfg, &req, &hv, &err), -1);
    CHECK_INT_EQ(err.code, code);
    if (!strstr(err.msg, fragment)) {
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", err.msg, fragment);
        CHECK(0);
    }
    api_push_request_release(&req);
    json_decref(body);
}

static void test_valid_push(void)
{
    const char *text = "{\"version\": \"v1.2.0\", \"files\": ["
                       "{\"path\": \"b.proto\", \"content\": \"syntax = \\\"proto3\\\";\"},"
                       "{\"path\": \"a/a.proto\", \"content\": \"\"}],"
                       " \"dependencies\": [\"z.mod@2.0.0\", \"b.mod@v1.0.0\"],"
                       " \"source_info\": {\"repository\": \"r\", \"branch\": null}}";
    json_t *body = json_loads(text, 0, NULL);
    struct spk_push_request req;
    struct spk_error err = {0};
    int hv = 0;
    CHECK_INT_EQ(api_push_request_parse(body, "acme.pay", 1, &cfg, &req, &hv, &err), 0);
    CHECK(hv);
    CHECK_STR_EQ(req.semver.canonical, "1.2.0");
    CHECK_INT_EQ(req.nfiles, 2);
    CHECK_STR_EQ(req.files[0].path, "b.proto"); /* body order is kept */
    CHECK_STR_EQ(req.files[1].path, "a/a.proto");
    CHECK_STR_EQ(req.files[1].sha256,
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_INT_EQ(req.ndeps, 2);
    CHECK_STR_EQ(req.deps[0], "b.mod@1.0.0"); /* canonical and sorted */
    CHECK_STR_EQ(req.deps[1], "z.mod@2.0.0");
    CHECK_STR_EQ(req.repository, "r");
    CHECK(req.branch == NULL);
    CHECK_INT_EQ(strncmp(req.digest, "sha256:", 7), 0);
    CHECK_INT_EQ(strlen(req.digest), SPK_DIGEST_LEN);

    /* The digest depends on content, not on the order files and dependencies came in. */
    const char *reordered = "{\"version\": \"1.2.0\", \"files\": ["
                            "{\"path\": \"a/a.proto\", \"content\": \"\"},"
                            "{\"path\": \"b.proto\", \"content\": \"syntax = \\\"proto3\\\";\"}],"
                            " \"dependencies\": [\"b.mod@1.0.0\", \"z.mod@2.0.0\"]}";
    json_t *body2 = json_loads(reordered, 0, NULL);
    struct spk_push_request req2;
    CHECK_INT_EQ(api_push_request_parse(body2, "acme.pay", 1, &cfg, &req2, &hv, &err), 0);
    CHECK_STR_EQ(req2.digest, req.digest);
    api_push_request_release(&req2);
    json_decref(body2);
    api_push_request_release(&req);
    json_decref(body);
}

static void test_version_optional_for_checks(void)
{
    struct spk_push_request req;
    struct spk_error err = {0};
    int hv = 1;
    CHECK_INT_EQ(
        parse("{\"files\": [{\"path\": \"a.proto\", \"content\": \"x\"}]}", 0, &req, &hv, &err), 0);
    CHECK(!hv);
    api_push_request_release(&req);
    CHECK_INT_EQ(
        parse("{\"files\": [{\"path\": \"a.proto\", \"content\": \"x\"}]}", 1, &req, &hv, &err),
        -1);
    CHECK(strstr(err.msg, "version is required") != NULL);
    api_push_request_release(&req);
}

static void test_invalid_bodies(void)
{
    expect_invalid("{\"files\": []}", SPK_E_INVALID, "version is required");
    expect_invalid("{\"version\": 1, \"files\": []}", SPK_E_INVALID, "version is required");
    expect_invalid("{\"version\": \"1.0\", \"files\": []}", SPK_E_INVALID, "");
    expect_invalid("{\"version\": \"1.0.0\\u0000\", \"files\": []}", SPK_E_INVALID, "NUL");
    expect_invalid("{\"version\": \"1.0.0\"}", SPK_E_INVALID, "files is required");
    expect_invalid("{\"version\": \"1.0.0\", \"files\": []}", SPK_E_INVALID, "at least one");
    expect_invalid("{\"version\": \"1.0.0\", \"files\": [1]}", SPK_E_INVALID, "files[0]");
    expect_invalid("{\"version\": \"1.0.0\", \"files\": [{\"path\": \"../x.proto\", "
                   "\"content\": \"\"}]}",
                   SPK_E_INVALID, "");
    expect_invalid("{\"version\": \"1.0.0\", \"files\": [{\"path\": \"a.proto\", \"content\": "
                   "\"\"}, {\"path\": \"a.proto\", \"content\": \"\"}]}",
                   SPK_E_INVALID, "duplicate file path a.proto");
    expect_invalid("{\"version\": \"1.0.0\", \"files\": [{\"path\": \"a.proto\", \"content\": "
                   "\"\"}, {\"path\": \"b.proto\", \"content\": \"\"}, {\"path\": \"c.proto\", "
                   "\"content\": \"\"}, {\"path\": \"d.proto\", \"content\": \"\"}]}",
                   SPK_E_TOO_LARGE, "4 files exceed the limit of 3");
    char big[400];
    snprintf(big, sizeof(big),
             "{\"version\": \"1.0.0\", \"files\": [{\"path\": \"a.proto\", \"content\": "
             "\"%065d\"}]}",
             0);
    expect_invalid(big, SPK_E_TOO_LARGE, "65 bytes, over the limit of 64");
    const char *one = "{\"version\": \"1.0.0\", \"files\": [{\"path\": \"a.proto\", \"content\": "
                      "\"\"}], ";
    char text[512];
    snprintf(text, sizeof(text), "%s\"dependencies\": \"x@1.0.0\"}", one);
    expect_invalid(text, SPK_E_INVALID, "dependencies must be an array");
    snprintf(text, sizeof(text), "%s\"dependencies\": [\"x@latest\"]}", one);
    expect_invalid(text, SPK_E_INVALID, "pinned semantic version");
    snprintf(text, sizeof(text), "%s\"dependencies\": [\"acme.pay@1.0.0\"]}", one);
    expect_invalid(text, SPK_E_INVALID, "cannot depend on itself");
    snprintf(text, sizeof(text), "%s\"dependencies\": [\"x@1.0.0\", \"x@v1.0.0\"]}", one);
    expect_invalid(text, SPK_E_INVALID, "duplicate dependency x@1.0.0");
    snprintf(text, sizeof(text), "%s\"source_info\": []}", one);
    expect_invalid(text, SPK_E_INVALID, "source_info must be an object");
    snprintf(text, sizeof(text), "%s\"source_info\": {\"branch\": 3}}", one);
    expect_invalid(text, SPK_E_INVALID, "source_info.branch must be a string");
}

static const struct unit_test tests[] = {
    {"valid_push", test_valid_push},
    {"version_optional_for_checks", test_version_optional_for_checks},
    {"invalid_bodies", test_invalid_bodies},
};
UNIT_MAIN(tests)
