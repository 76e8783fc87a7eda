/* Where a pushed version came from (source_info): the git work tree first, then the variables
 * GitHub Actions and GitLab CI set, since CI checkouts are often detached or shallow. git runs as
 * a subprocess with an argument vector (no shell), bounded in time and output, and a remote URL
 * never carries credentials into the registry (CI runners embed tokens in clone URLs). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spoke/alloc.h"
#include "spoke/cli.h"
#include "spoke/time.h"
#include "spoke/banned.h"

#define GIT_TIMEOUT_MS 5000
#define GIT_OUT_MAX    2048

extern char **environ;

/* ---- subprocesses --------------------------------------------------------------------------- */

static void drain(int fd, char *out, size_t outsz, size_t *len, int64_t deadline_us, int *timed_out)
{
    char scratch[512];
    for (;;) {
        int64_t left_ms = (deadline_us - spk_time_mono_us()) / 1000;
        if (left_ms <= 0) {
            *timed_out = 1;
            return;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)left_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            *timed_out = pr == 0;
            return;
        }
        /* Past the buffer, keep reading (so the child never blocks on a full pipe) and drop it. */
        size_t room = *len + 1 < outsz ? outsz - 1 - *len : 0;
        ssize_t n = room ? read(fd, out + *len, room) : read(fd, scratch, sizeof(scratch));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        if (room)
            *len += (size_t)n;
    }
}

int spk_cli_run_capture(const char *const *argv, char *out, size_t outsz, long timeout_ms)
{
    int pipefd[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    pid_t pid = -1;
    size_t len = 0;
    int timed_out = 0, status = 0, rc = -1;

    if (outsz == 0)
        return -1;
    out[0] = '\0';
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int se = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (se != 0)
        goto out;
    drain(pipefd[0], out, outsz, &len, spk_time_mono_us() + timeout_ms * 1000, &timed_out);
    if (timed_out)
        kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    out[len] = '\0';
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
        out[--len] = '\0';
    if (!timed_out && WIFEXITED(status))
        rc = WEXITSTATUS(status);
out:
    close(pipefd[0]);
    return rc;
}

/* ---- git ------------------------------------------------------------------------------------ */

/* One line of printable text without control characters, else NULL. */
static char *clean_line(const char *s)
{
    if (!s[0])
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7F)
            return NULL;
    return spk_strdup(s);
}

static char *git_line(const char *dir, const char *a1, const char *a2, const char *a3,
                      const char *a4)
{
    const char *argv[] = {"git", "-C", dir, a1, a2, a3, a4, NULL};
    char out[GIT_OUT_MAX];
    if (spk_cli_run_capture(argv, out, sizeof(out), GIT_TIMEOUT_MS) != 0)
        return NULL;
    return clean_line(out);
}

static int is_hex(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");
    return n >= 7 && s[n] == '\0';
}

void spk_cli_source_from_git(const char *dir, struct spk_cli_source *s)
{
    char *inside = git_line(dir, "rev-parse", "--is-inside-work-tree", NULL, NULL);
    int ok = inside && strcmp(inside, "true") == 0;
    free(inside);
    if (!ok)
        return;
    if (!s->repository) {
        char *url = git_line(dir, "config", "--get", "remote.origin.url", NULL);
        if (url)
            s->repository = spk_cli_url_redact(url);
        free(url);
    }
    if (!s->commit_sha) {
        char *sha = git_line(dir, "rev-parse", "--verify", "-q", "HEAD");
        if (sha && is_hex(sha))
            s->commit_sha = sha;
        else
            free(sha);
    }
    if (!s->branch) /* fails on a detached HEAD, as CI checkouts of tags and merges are */
        s->branch = git_line(dir, "symbolic-ref", "--short", "-q", "HEAD");
}

/* ---- CI variables --------------------------------------------------------------------------- */

static const char *env_get(const char *const *envp, const char *key)
{
    size_t n = strlen(key);
    for (; envp && *envp; envp++)
        if (strncmp(*envp, key, n) == 0 && (*envp)[n] == '=')
            return (*envp)[n + 1] ? *envp + n + 1 : NULL;
    return NULL;
}

static void fill(char **field, const char *value, int is_url)
{
    if (*field || !value)
        return;
    char *v = clean_line(value);
    if (v && is_url) {
        *field = spk_cli_url_redact(v);
        free(v);
    } else {
        *field = v;
    }
}

void spk_cli_source_from_env(const char *const *envp, struct spk_cli_source *s)
{
    const char *gh_repo = env_get(envp, "GITHUB_REPOSITORY");
    if (!s->repository && gh_repo) {
        const char *server = env_get(envp, "GITHUB_SERVER_URL");
        char *url = spk_asprintf("%s/%s", server ? server : "https://github.com", gh_repo);
        fill(&s->repository, url, 1);
        free(url);
    }
    fill(&s->repository, env_get(envp, "CI_PROJECT_URL"), 1);
    fill(&s->commit_sha, env_get(envp, "GITHUB_SHA"), 0);
    fill(&s->commit_sha, env_get(envp, "CI_COMMIT_SHA"), 0);
    fill(&s->branch, env_get(envp, "GITHUB_REF_NAME"), 0);
    fill(&s->branch, env_get(envp, "CI_COMMIT_REF_NAME"), 0);
}

void spk_cli_source_release(struct spk_cli_source *s)
{
    if (!s)
        return;
    free(s->repository);
    free(s->commit_sha);
    free(s->branch);
    s->repository = s->commit_sha = s->branch = NULL;
}

/* ---- credentials in URLs -------------------------------------------------------------------- */

char *spk_cli_url_redact(const char *url)
{
    const char *sep = strstr(url, "://");
    if (!sep)
        return spk_strdup(url); /* scp-like "git@host:path" names a user, never a secret */
    const char *auth = sep + 3;
    const char *end = auth + strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    if (!at)
        return spk_strdup(url);
    size_t scheme_len = (size_t)(sep - url);
    int web = (scheme_len == 4 && strncmp(url, "http", 4) == 0) ||
              (scheme_len == 5 && strncmp(url, "https", 5) == 0);
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    if (!web && !colon)
        return spk_strdup(url); /* ssh://git@host/x: a user name only */
    /* Web URLs lose the whole user info (a bare token is a user name there); others keep the
     * user and lose the password. */
    size_t keep = web ? 0 : (size_t)(colon - auth);
    return spk_asprintf("%.*s%.*s%s%s", (int)(auth - url), url, (int)keep, auth, keep ? "@" : "",
                        at + 1);
}
