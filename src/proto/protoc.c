/* Running protoc on a version's files in a private, bounded sandbox (contract in
 * include/spoke/proto.h). Not a parser of .proto files: protoc is the authority on what compiles.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/error.h"
#include "spoke/log.h"
#include "spoke/proto.h"
#include "spoke/time.h"
#include "spoke/banned.h"

#define STDERR_MAX (64 * 1024)
#define DIAGS_MAX  100
#define AS_LIMIT   ((rlim_t)1 << 30) /* 1 GiB of address space */
#define WKT_DIR    "google/protobuf/"

static void add_diag(struct spk_proto_result *r, const char *file, int line, int column,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void add_diag(struct spk_proto_result *r, const char *file, int line, int column,
                     const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->diags = spk_realloc(r->diags, (r->ndiags + 1) * sizeof(*r->diags));
    r->diags[r->ndiags++] =
        (struct spk_proto_diag){spk_strdup(file ? file : ""), line, column, spk_strdup(msg)};
    r->ok = 0;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)ftw;
    if (type == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void remove_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Creates root/rel (and its parent directories) exclusively, without following symlinks. */
static int write_file(const char *root, const char *rel, const char *data, size_t len)
{
    char *path = spk_asprintf("%s/%s", root, rel);
    int rc = -1, fd = -1;
    for (char *p = path + strlen(root) + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int m = mkdir(path, 0700);
        *p = '/';
        if (m && errno != EEXIST)
            goto out;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        goto out;
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto out;
        data += n;
        len -= (size_t)n;
    }
    rc = 0;
out:
    if (fd >= 0 && close(fd) != 0)
        rc = -1;
    free(path);
    return rc;
}

static int cmp_dep(const void *a, const void *b)
{
    return strcmp(((const struct spk_proto_file *)a)->path,
                  ((const struct spk_proto_file *)b)->path);
}

static const struct spk_proto_file *find_path(const struct spk_proto_file *sorted, size_t n,
                                              const char *path)
{
    struct spk_proto_file key = {.path = path};
    return bsearch(&key, sorted, n, sizeof(key), cmp_dep);
}

/* Writes the inputs; problems that are the push's fault become diagnostics (returns 1), host
 * problems become err (returns -1). */
static int stage_inputs(const char *dir, const struct spk_proto_file *files, size_t nfiles,
                        const struct spk_proto_file *deps, size_t ndeps,
                        struct spk_proto_result *out, struct spk_error *err)
{
    char *src = spk_asprintf("%s/src", dir), *dep = spk_asprintf("%s/deps", dir);
    struct spk_proto_file *sorted = spk_malloc((ndeps ? ndeps : 1) * sizeof(*sorted));
    int rc = -1;

    if (mkdir(src, 0700) || mkdir(dep, 0700)) {
        spk_error_set(err, SPK_E_INTERNAL, "cannot create the protoc work directory");
        goto out;
    }
    if (ndeps)
        memcpy(sorted, deps, ndeps * sizeof(*sorted));
    qsort(sorted, ndeps, sizeof(*sorted), cmp_dep);
    for (size_t i = 1; i < ndeps; i++) {
        const struct spk_proto_file *a = &sorted[i - 1], *b = &sorted[i];
        if (strcmp(a->path, b->path) == 0 &&
            (a->len != b->len || memcmp(a->content, b->content, a->len) != 0))
            add_diag(out, b->path, 0, 0, "provided with different contents by %s and %s",
                     a->origin ? a->origin : "?", b->origin ? b->origin : "?");
    }
    for (size_t i = 0; i < nfiles; i++) {
        const struct spk_proto_file *d = find_path(sorted, ndeps, files[i].path);
        if (strncmp(files[i].path, WKT_DIR, sizeof(WKT_DIR) - 1) == 0)
            add_diag(out, files[i].path, 0, 0,
                     "google/protobuf/ is reserved for the well-known types shipped with protoc");
        else if (d)
            add_diag(out, files[i].path, 0, 0, "also provided by dependency %s",
                     d->origin ? d->origin : "?");
    }
    if (out->ndiags) {
        rc = 1;
        goto out;
    }
    for (size_t i = 0; i < nfiles; i++)
        if (write_file(src, files[i].path, files[i].content, files[i].len))
            goto io_fail;
    for (size_t i = 0; i < ndeps; i++)
        if ((i == 0 || strcmp(sorted[i - 1].path, sorted[i].path) != 0) &&
            write_file(dep, sorted[i].path, sorted[i].content, sorted[i].len))
            goto io_fail;
    rc = 0;
    goto out;
io_fail:
    spk_logf(SPK_LOG_ERROR, NULL, "protoc staging: %s", strerror(errno));
    spk_error_set(err, SPK_E_INTERNAL, "cannot stage files for validation");
out:
    free(sorted);
    free(src);
    free(dep);
    return rc;
}

/* protoc reads one argument per line from @file; paths cannot contain newlines. */
static int write_args(const char *dir, const struct spk_protoc_options *o,
                      const struct spk_proto_file *files, size_t nfiles)
{
    struct spk_buf b = SPK_BUF_INIT;
    spk_buf_printf(&b, "--proto_path=src\n--proto_path=deps\n--proto_path=%s\n", o->wkt_root);
    spk_buf_puts(&b, "--error_format=gcc\n--include_imports\n--include_source_info\n--descriptor_"
                     "set_out=out.pb\n");
    for (size_t i = 0; i < nfiles; i++)
        spk_buf_printf(&b, "src/%s\n", files[i].path);
    int rc = write_file(dir, "args", b.data, b.len);
    spk_buf_release(&b);
    return rc;
}

static void limit_child(pid_t pid, const struct spk_protoc_options *o)
{
    rlim_t cpu = (rlim_t)(o->timeout_ms / 1000 + 1);
    struct rlimit as = {AS_LIMIT, AS_LIMIT}, cpul = {cpu, cpu + 1},
                  fsize = {o->max_descriptor + 4096, o->max_descriptor + 4096};
    prlimit(pid, RLIMIT_AS, &as, NULL);
    prlimit(pid, RLIMIT_CPU, &cpul, NULL);
    prlimit(pid, RLIMIT_FSIZE, &fsize, NULL);
}

struct run {
    int status; /* waitpid status */
    int timed_out;
    struct spk_buf stderr_text;
};

/* Spawns protoc in dir and collects its stderr until it exits or the deadline passes. */
static int run_protoc(const char *dir, const struct spk_protoc_options *o, struct run *r,
                      struct spk_error *err)
{
    int pipefd[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, dfl;
    pid_t pid = -1;
    char *argv[] = {(char *)o->protoc, "@args", NULL};
    char *envp[] = {NULL};

    if (pipe2(pipefd, O_CLOEXEC))
        return spk_error_set(err, SPK_E_INTERNAL, "cannot create a pipe for protoc");
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addchdir_np(&fa, dir);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    sigfillset(&dfl);
    posix_spawnattr_setsigmask(&attr, &none); /* the server blocks SIGTERM; protoc must not */
    posix_spawnattr_setsigdefault(&attr, &dfl);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETPGROUP);
    int rc = posix_spawn(&pid, o->protoc, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        spk_logf(SPK_LOG_ERROR, NULL, "cannot run %s: %s", o->protoc, strerror(rc));
        return spk_error_set(err, SPK_E_INTERNAL, "schema validation is not available");
    }
    limit_child(pid, o);

    int64_t deadline = spk_time_mono_us() + (int64_t)o->timeout_ms * 1000;
    char chunk[4096];
    int open_pipe = 1;
    for (;;) {
        int64_t left_ms = (deadline - spk_time_mono_us()) / 1000;
        if (left_ms <= 0) {
            r->timed_out = 1;
            break;
        }
        if (!open_pipe) {
            pid_t w = waitpid(pid, &r->status, WNOHANG);
            if (w == pid) {
                pid = -1;
                break;
            }
            struct timespec ts = {0, 2 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        struct pollfd pfd = {pipefd[0], POLLIN, 0};
        int n = poll(&pfd, 1, (int)(left_ms > 100 ? 100 : left_ms));
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        ssize_t got = read(pipefd[0], chunk, sizeof(chunk));
        if (got <= 0) {
            open_pipe = 0;
            continue;
        }
        if (r->stderr_text.len < STDERR_MAX)
            spk_buf_append(&r->stderr_text, chunk,
                           (size_t)got < STDERR_MAX - r->stderr_text.len
                               ? (size_t)got
                               : STDERR_MAX - r->stderr_text.len);
    }
    close(pipefd[0]);
    if (pid > 0) { /* deadline: the whole process group goes */
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        while (waitpid(pid, &r->status, 0) < 0 && errno == EINTR)
            ;
    }
    return 0;
}

static int read_descriptor(const char *dir, size_t max, struct spk_proto_result *out)
{
    char *path = spk_asprintf("%s/out.pb", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    int rc = -1;
    free(path);
    if (fd < 0 || fstat(fd, &st) || (size_t)st.st_size > max)
        goto out;
    out->descriptor_set = spk_malloc((size_t)st.st_size + 1);
    size_t have = 0;
    while (have < (size_t)st.st_size) {
        ssize_t n = read(fd, out->descriptor_set + have, (size_t)st.st_size - have);
        if (n <= 0)
            goto out;
        have += (size_t)n;
    }
    out->descriptor_len = have;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Where each compilation's work directory goes: $TMPDIR when set, else /dev/shm (tmpfs) when
 * usable, else /tmp. Every push creates and deletes a directory of files; on ext4, allocating
 * inodes next to recently deleted ones was a quarter of an instance's CPU under a push load,
 * and tmpfs has no such cost. A small /dev/shm (a container's 64 MB) calls for TMPDIR. */
static const char *scratch_root(void)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp && *tmp)
        return tmp;
    return access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
}

int spk_proto_compile(const struct spk_protoc_options *opts, const struct spk_proto_file *files,
                      size_t nfiles, const struct spk_proto_file *deps, size_t ndeps,
                      struct spk_proto_result *out, struct spk_error *err)
{
    char *dir = spk_asprintf("%s/spoke-protoc-XXXXXX", scratch_root());
    struct run r = {.stderr_text = SPK_BUF_INIT};
    int rc = -1;

    memset(out, 0, sizeof(*out));
    out->ok = 1;
    if (!mkdtemp(dir)) {
        spk_logf(SPK_LOG_ERROR, NULL, "protoc work directory: %s", strerror(errno));
        spk_error_set(err, SPK_E_INTERNAL, "cannot create the protoc work directory");
        free(dir);
        return -1;
    }
    int staged = stage_inputs(dir, files, nfiles, deps, ndeps, out, err);
    if (staged != 0) {
        rc = staged > 0 ? 0 : -1;
        goto out;
    }
    if (write_args(dir, opts, files, nfiles)) {
        spk_error_set(err, SPK_E_INTERNAL, "cannot stage files for validation");
        goto out;
    }
    if (run_protoc(dir, opts, &r, err))
        goto out;
    rc = 0;
    if (r.timed_out) {
        add_diag(out, NULL, 0, 0, "compilation exceeded the time limit of %d ms", opts->timeout_ms);
    } else if (WIFSIGNALED(r.status)) {
        add_diag(out, NULL, 0, 0, "compilation exceeded its resource limits (signal %d)",
                 WTERMSIG(r.status));
    } else if (WEXITSTATUS(r.status) != 0) {
        spk_proto_parse_diagnostics(r.stderr_text.data ? r.stderr_text.data : "", r.stderr_text.len,
                                    DIAGS_MAX, out);
        if (out->ndiags == 0)
            add_diag(out, NULL, 0, 0, "protoc failed without a diagnostic (exit %d)",
                     WEXITSTATUS(r.status));
        out->ok = 0;
    } else if (read_descriptor(dir, opts->max_descriptor, out)) {
        add_diag(out, NULL, 0, 0, "the compiled descriptor set is larger than %zu bytes",
                 opts->max_descriptor);
    } else {
        const char **own = spk_malloc((nfiles ? nfiles : 1) * sizeof(*own));
        for (size_t i = 0; i < nfiles; i++)
            own[i] = files[i].path;
        if (spk_proto_symbols(out->descriptor_set, out->descriptor_len, own, nfiles, out)) {
            spk_error_set(err, SPK_E_INTERNAL, "protoc produced an unreadable descriptor set");
            rc = -1;
        }
        free(own);
    }
out:
    spk_buf_release(&r.stderr_text);
    remove_tree(dir);
    free(dir);
    return rc;
}

static int copy_executable(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
    char buf[65536];
    if (in < 0)
        return -1;
    out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
    if (out < 0)
        goto done;
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto done;
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w <= 0)
                goto done;
            off += w;
        }
    }
    rc = 0;
done:
    if (out >= 0 && close(out) != 0)
        rc = -1;
    close(in);
    return rc;
}

int spk_proto_toolchain_create(const char *protoc, const char *include_dir,
                               struct spk_proto_toolchain *out, struct spk_error *err)
{
    const char *tmp = getenv("TMPDIR");
    char *probe = spk_asprintf("%s/google/protobuf/descriptor.proto", include_dir);
    char *target = spk_asprintf("%s/google/protobuf", include_dir);
    char *google = NULL, *link = NULL, *bin = NULL;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (access(probe, R_OK) != 0) {
        spk_error_set(err, SPK_E_INVALID,
                      "SPOKE_PROTOC_INCLUDE %.200s: no google/protobuf/descriptor.proto there "
                      "(install libprotobuf-dev)",
                      include_dir);
        goto done;
    }
    if (access(protoc, X_OK) != 0) {
        spk_error_set(err, SPK_E_INVALID, "SPOKE_PROTOC %.200s is not an executable", protoc);
        goto done;
    }
    out->root = spk_asprintf("%s/spoke-protoc-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(out->root)) {
        free(out->root);
        out->root = NULL;
        spk_error_set(err, SPK_E_INTERNAL, "cannot create the protoc toolchain directory");
        goto done;
    }
    out->include = spk_asprintf("%s/include", out->root);
    out->protoc = spk_asprintf("%s/bin/protoc", out->root);
    google = spk_asprintf("%s/google", out->include);
    link = spk_asprintf("%s/protobuf", google);
    bin = spk_asprintf("%s/bin", out->root);
    if (mkdir(out->include, 0700) || mkdir(google, 0700) || symlink(target, link) ||
        mkdir(bin, 0700) || copy_executable(protoc, out->protoc)) {
        spk_logf(SPK_LOG_ERROR, NULL, "protoc toolchain in %s: %s", out->root, strerror(errno));
        spk_error_set(err, SPK_E_INTERNAL, "cannot set up the protoc toolchain directory");
        spk_proto_toolchain_release(out);
        goto done;
    }
    rc = 0;
done:
    free(probe);
    free(target);
    free(google);
    free(link);
    free(bin);
    return rc;
}

void spk_proto_toolchain_release(struct spk_proto_toolchain *t)
{
    if (!t)
        return;
    if (t->root)
        remove_tree(t->root);
    free(t->root);
    free(t->protoc);
    free(t->include);
    memset(t, 0, sizeof(*t));
}

void spk_proto_result_release(struct spk_proto_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ndiags; i++) {
        free(r->diags[i].file);
        free(r->diags[i].message);
    }
    free(r->diags);
    for (size_t i = 0; i < r->nsymbols; i++) {
        free(r->symbols[i].full_name);
        free(r->symbols[i].file);
    }
    free(r->symbols);
    free(r->descriptor_set);
    memset(r, 0, sizeof(*r));
}
