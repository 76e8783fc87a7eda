/* source_info for a push (src/cli/source.c): CI variable fallbacks, credential removal from
 * remote URLs, the bounded subprocess runner, and git in a real temporary repository. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/cli.h"
#include "spoke/time.h"
#include "unit.h"

static void test_github_env(void)
{
    const char *env[] = {"PATH=/bin",
                         "GITHUB_SERVER_URL=https://github.example.com",
                         "GITHUB_REPOSITORY=acme/protos",
                         "GITHUB_SHA=0123456789abcdef0123456789abcdef01234567",
                         "GITHUB_REF_NAME=v1.2.3",
                         "CI_PROJECT_URL=https://gitlab.example.com/acme/protos",
                         "CI_COMMIT_SHA=ffffffffffffffffffffffffffffffffffffffff",
                         "CI_COMMIT_REF_NAME=main",
                         NULL};
    struct spk_cli_source s = {0};
    spk_cli_source_from_env(env, &s);
    CHECK_STR_EQ(s.repository, "https://github.example.com/acme/protos");
    CHECK_STR_EQ(s.commit_sha, "0123456789abcdef0123456789abcdef01234567");
    CHECK_STR_EQ(s.branch, "v1.2.3");
    spk_cli_source_release(&s);

    /* GITHUB_SERVER_URL missing: github.com. */
    const char *env2[] = {"GITHUB_REPOSITORY=acme/protos", NULL};
    spk_cli_source_from_env(env2, &s);
    CHECK_STR_EQ(s.repository, "https://github.com/acme/protos");
    CHECK(s.commit_sha == NULL);
    CHECK(s.branch == NULL);
    spk_cli_source_release(&s);
}

static void test_gitlab_env(void)
{
    const char *env[] = {"CI_PROJECT_URL=https://gitlab.example.com/acme/protos",
                         "CI_COMMIT_SHA=ffffffffffffffffffffffffffffffffffffffff",
                         "CI_COMMIT_REF_NAME=feature/x",
                         "GITHUB_SHA=",
                         "GITHUB_REF_NAME=",
                         NULL};
    struct spk_cli_source s = {0};
    spk_cli_source_from_env(env, &s);
    CHECK_STR_EQ(s.repository, "https://gitlab.example.com/acme/protos");
    CHECK_STR_EQ(s.commit_sha,
                 "ffffffffffffffffffffffffffffffffffffffff"); /* empty GitHub ones skipped */
    CHECK_STR_EQ(s.branch, "feature/x");
    spk_cli_source_release(&s);
}

static void test_env_fills_only_missing(void)
{
    const char *env[] = {"GITHUB_REPOSITORY=acme/protos", "GITHUB_SHA=abc1234",
                         "GITHUB_REF_NAME=v2", NULL};
    struct spk_cli_source s = {.repository = spk_strdup("git@github.com:acme/protos.git"),
                               .commit_sha =
                                   spk_strdup("1111111111111111111111111111111111111111")};
    spk_cli_source_from_env(env, &s);
    CHECK_STR_EQ(s.repository, "git@github.com:acme/protos.git");
    CHECK_STR_EQ(s.commit_sha, "1111111111111111111111111111111111111111");
    CHECK_STR_EQ(s.branch, "v2"); /* a detached checkout has no branch of its own */
    spk_cli_source_release(&s);

    /* Control characters never reach the registry; credentials in a CI URL neither. */
    const char *env2[] = {"CI_COMMIT_REF_NAME=bad\nname",
                          "CI_PROJECT_URL=https://gitlab-ci-token:s3cr3t@gitlab.example.com/a/b",
                          NULL};
    spk_cli_source_from_env(env2, &s);
    CHECK(s.branch == NULL);
    CHECK_STR_EQ(s.repository, "https://gitlab.example.com/a/b");
    spk_cli_source_release(&s);
    spk_cli_source_from_env(NULL, &s);
    CHECK(s.repository == NULL && s.commit_sha == NULL && s.branch == NULL);
}

static void test_url_redact(void)
{
    static const char *const cases[][2] = {
        {"https://github.com/acme/protos.git", "https://github.com/acme/protos.git"},
        {"https://gitlab-ci-token:glpat-XYZ@gitlab.com/acme/protos.git",
         "https://gitlab.com/acme/protos.git"},
        {"https://x-access-token@github.com/acme/p", "https://github.com/acme/p"},
        {"http://u:p@host:8080/p?q=a@b", "http://host:8080/p?q=a@b"},
        {"ssh://git@github.com/acme/protos.git", "ssh://git@github.com/acme/protos.git"},
        {"ssh://git:pw@github.com/acme/protos.git", "ssh://git@github.com/acme/protos.git"},
        {"git@github.com:acme/protos.git", "git@github.com:acme/protos.git"},
        {"/srv/git/protos", "/srv/git/protos"},
        {"https://host/path@v1", "https://host/path@v1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *r = spk_cli_url_redact(cases[i][0]);
        CHECK_STR_EQ(r, cases[i][1]);
        free(r);
    }
}

static void test_run_capture(void)
{
    char out[64];
    const char *echo[] = {"printf", "hello\n\n", NULL};
    CHECK_INT_EQ(spk_cli_run_capture(echo, out, sizeof(out), 5000), 0);
    CHECK_STR_EQ(out, "hello");

    const char *fail[] = {"false", NULL};
    CHECK_INT_EQ(spk_cli_run_capture(fail, out, sizeof(out), 5000), 1);

    const char *missing[] = {"spoke-test-no-such-program", NULL};
    CHECK_INT_EQ(spk_cli_run_capture(missing, out, sizeof(out), 5000), -1);

    /* More output than the buffer: truncated, the child still finishes. */
    const char *big[] = {"seq", "1", "100000", NULL};
    CHECK_INT_EQ(spk_cli_run_capture(big, out, sizeof(out), 10000), 0);
    CHECK(strlen(out) >= sizeof(out) - 2); /* (a trailing newline is trimmed) */
    CHECK(strncmp(out, "1\n2\n3\n", 6) == 0);

    /* A child that hangs is killed at the deadline. */
    const char *hang[] = {"sleep", "30", NULL};
    int64_t t0 = spk_time_mono_us();
    CHECK_INT_EQ(spk_cli_run_capture(hang, out, sizeof(out), 300), -1);
    CHECK((spk_time_mono_us() - t0) < 5 * 1000000);
}

static int sh(const char *dir, const char *script)
{
    const char *argv[] = {"sh", "-c", script, "sh", dir, NULL};
    char out[256];
    return spk_cli_run_capture(argv, out, sizeof(out), 30000);
}

static void test_git(void)
{
    char tmpl[] = "/tmp/spoke-test-git-XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    struct spk_cli_source s = {0};

    /* Not a repository: nothing. */
    spk_cli_source_from_git(dir, &s);
    CHECK(s.repository == NULL && s.commit_sha == NULL && s.branch == NULL);

    CHECK_INT_EQ(sh(dir, "cd \"$1\" && git init -q -b trunk . && "
                         "git -c user.email=t@example.com -c user.name=t commit -q --allow-empty "
                         "-m one && git remote add origin "
                         "https://ci-token:s3cr3t@git.example.com/acme/protos.git"),
                 0);
    spk_cli_source_from_git(dir, &s);
    CHECK_STR_EQ(s.repository, "https://git.example.com/acme/protos.git");
    CHECK(s.commit_sha && strlen(s.commit_sha) == 40);
    CHECK_STR_EQ(s.branch, "trunk");
    char head[64] = "";
    if (s.commit_sha)
        snprintf(head, sizeof(head), "%s", s.commit_sha);
    spk_cli_source_release(&s);

    /* Detached HEAD (what CI checks out for tags): no branch, so the CI variable fills it. */
    CHECK_INT_EQ(sh(dir, "cd \"$1\" && git checkout -q --detach"), 0);
    spk_cli_source_from_git(dir, &s);
    CHECK_STR_EQ(s.commit_sha, head);
    CHECK(s.branch == NULL);
    const char *env[] = {"GITHUB_REF_NAME=v9.9.9", "GITHUB_SHA=0000000", NULL};
    spk_cli_source_from_env(env, &s);
    CHECK_STR_EQ(s.branch, "v9.9.9");
    CHECK_STR_EQ(s.commit_sha, head);
    spk_cli_source_release(&s);

    /* A subdirectory of the work tree is inside it too. */
    CHECK_INT_EQ(sh(dir, "mkdir -p \"$1/proto/sub\""), 0);
    char *sub = spk_asprintf("%s/proto/sub", dir);
    spk_cli_source_from_git(sub, &s);
    CHECK_STR_EQ(s.commit_sha, head);
    spk_cli_source_release(&s);
    free(sub);

    sh(dir, "rm -rf \"$1\"");
}

static const struct unit_test tests[] = {
    {"github_env", test_github_env},
    {"gitlab_env", test_gitlab_env},
    {"env_fills_only_missing", test_env_fills_only_missing},
    {"url_redact", test_url_redact},
    {"run_capture", test_run_capture},
    {"git", test_git},
};
UNIT_MAIN(tests)
