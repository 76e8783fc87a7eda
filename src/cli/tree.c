/* The directory walk behind `spoke push` and `spoke validate`: which files of a directory make up
 * a module version, under what relative paths, in what order. It decides nothing the registry
 * decides (path rules, limits); it only refuses what cannot be sent at all: names that are not
 * UTF-8 (JSON carries text) and files too large for the client to hold. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spoke/alloc.h"
#include "spoke/cli.h"
#include "spoke/validate.h"
#include "spoke/banned.h"

#define WALK_MAX_DEPTH   64
#define WALK_MAX_ENTRIES 1000000

struct walker {
    char *root_real; /* realpath of the root, for symlink containment */
    size_t root_len;
    struct spk_cli_tree *out;
    spk_cli_skip_fn on_skip;
    void *arg;
    size_t entries;
};

static int ends_with_proto(const char *name)
{
    size_t n = strlen(name);
    return n > 6 && strcmp(name + n - 6, ".proto") == 0;
}

static int cmp_files(const void *a, const void *b)
{
    return strcmp(((const struct spk_cli_file *)a)->path, ((const struct spk_cli_file *)b)->path);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void skip(struct walker *w, const char *rel, const char *why)
{
    if (w->on_skip)
        w->on_skip(rel, why, w->arg);
}

static int inside_root(const struct walker *w, const char *real)
{
    if (w->root_len == 1) /* the root is "/" */
        return real[0] == '/';
    return strncmp(real, w->root_real, w->root_len) == 0 && real[w->root_len] == '/';
}

static int add_file(struct walker *w, const char *rel, struct spk_error *err)
{
    if (!spk_utf8_valid(rel, strlen(rel))) {
        char *shown = spk_cli_printable(rel, strlen(rel));
        spk_error_set(err, SPK_E_INVALID,
                      "file name \"%.180s\" is not valid UTF-8; rename it (registry paths are "
                      "UTF-8 text)",
                      shown);
        free(shown);
        return -1;
    }
    struct spk_cli_tree *t = w->out;
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->files = spk_realloc(t->files, t->cap * sizeof(*t->files));
    }
    t->files[t->n++] = (struct spk_cli_file){.path = spk_strdup(rel)};
    return 0;
}

/* A symlink: followed when it names a regular .proto file inside the root. */
static int visit_link(struct walker *w, const char *abs, const char *rel, const char *name,
                      struct spk_error *err)
{
    struct stat st;
    if (stat(abs, &st) != 0) {
        if (ends_with_proto(name))
            skip(w, rel, "a symlink whose target does not exist");
        return 0;
    }
    if (S_ISDIR(st.st_mode)) {
        skip(w, rel, "a symlink to a directory (not followed)");
        return 0;
    }
    if (!S_ISREG(st.st_mode) || !ends_with_proto(name))
        return 0;
    char *real = realpath(abs, NULL);
    int inside = real && inside_root(w, real);
    free(real);
    if (!inside) {
        skip(w, rel, "a symlink that points outside the directory");
        return 0;
    }
    return add_file(w, rel, err);
}

static int walk_dir(struct walker *w, const char *abs, const char *rel, int depth,
                    struct spk_error *err)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;
    DIR *d = opendir(abs);
    if (!d) {
        int e = errno;
        char *shown = spk_cli_printable(rel[0] ? rel : abs, strlen(rel[0] ? rel : abs));
        spk_error_set(err, SPK_E_INVALID, "cannot read directory %.180s: %s", shown, strerror(e));
        free(shown);
        return -1;
    }
    /* Names first, then visit in sorted order: fewer open directories, stable skip notes. */
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') /* ".", ".." and hidden entries (.git, editor files) */
            continue;
        if (++w->entries > WALK_MAX_ENTRIES) {
            spk_error_set(err, SPK_E_TOO_LARGE, "more than %d entries under the directory",
                          WALK_MAX_ENTRIES);
            goto out;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            names = spk_realloc(names, cap * sizeof(*names));
        }
        names[n++] = spk_strdup(e->d_name);
    }
    if (n)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        char *cabs = spk_asprintf("%s/%s", abs, names[i]);
        char *crel = rel[0] ? spk_asprintf("%s/%s", rel, names[i]) : spk_strdup(names[i]);
        struct stat st;
        int r = 0;
        if (lstat(cabs, &st) != 0) {
            r = 0; /* vanished while we looked: not part of the tree */
        } else if (S_ISDIR(st.st_mode)) {
            if (depth + 1 > WALK_MAX_DEPTH)
                r = spk_error_set(err, SPK_E_INVALID, "directories nest deeper than %d levels",
                                  WALK_MAX_DEPTH);
            else
                r = walk_dir(w, cabs, crel, depth + 1, err);
        } else if (S_ISREG(st.st_mode)) {
            r = ends_with_proto(names[i]) ? add_file(w, crel, err) : 0;
        } else if (S_ISLNK(st.st_mode)) {
            r = visit_link(w, cabs, crel, names[i], err);
        }
        free(cabs);
        free(crel);
        if (r)
            goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

int spk_cli_tree_walk(const char *root, struct spk_cli_tree *out, spk_cli_skip_fn on_skip,
                      void *arg, struct spk_error *err)
{
    struct walker w = {.out = out, .on_skip = on_skip, .arg = arg};
    struct stat st;
    if (stat(root, &st) != 0)
        return spk_error_set(err, SPK_E_INVALID, "cannot read directory %.200s: %s", root,
                             strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return spk_error_set(err, SPK_E_INVALID, "%.200s is not a directory", root);
    w.root_real = realpath(root, NULL);
    if (!w.root_real)
        return spk_error_set(err, SPK_E_INVALID, "cannot resolve %.200s: %s", root,
                             strerror(errno));
    w.root_len = strlen(w.root_real);
    int rc = walk_dir(&w, root, "", 0, err);
    free(w.root_real);
    if (rc)
        return -1;
    /* Sorted by the whole path's bytes, the order the registry's digest uses. */
    if (out->n)
        qsort(out->files, out->n, sizeof(*out->files), cmp_files);
    return 0;
}

static int read_file(const char *root, struct spk_cli_file *f, struct spk_error *err)
{
    char *abs = spk_asprintf("%s/%s", root, f->path);
    char *data = NULL;
    size_t len = 0;
    int rc = -1;
    int fd = open(abs, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        spk_error_set(err, SPK_E_INVALID, "cannot read %.200s: %s", f->path,
                      fd < 0 ? strerror(errno) : "not a regular file");
        goto out;
    }
    if (st.st_size > SPK_CLI_MAX_FILE_BYTES) {
        spk_error_set(err, SPK_E_TOO_LARGE, "%.200s is larger than the client's limit of %ld MiB",
                      f->path, SPK_CLI_MAX_FILE_BYTES / (1024 * 1024));
        goto out;
    }
    size_t cap = (size_t)st.st_size + 1;
    data = spk_malloc(cap + 1);
    for (;;) {
        if (len == cap) { /* the file grew while we read it */
            cap *= 2;
            data = spk_realloc(data, cap + 1);
        }
        ssize_t n = read(fd, data + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            spk_error_set(err, SPK_E_INVALID, "cannot read %.200s: %s", f->path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > (size_t)SPK_CLI_MAX_FILE_BYTES) {
            spk_error_set(err, SPK_E_TOO_LARGE, "%.200s grew past the client's limit", f->path);
            goto out;
        }
    }
    data[len] = '\0';
    f->data = data;
    f->len = len;
    data = NULL;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(data);
    free(abs);
    return rc;
}

int spk_cli_tree_read(const char *root, struct spk_cli_tree *t, struct spk_error *err)
{
    for (size_t i = 0; i < t->n; i++)
        if (!t->files[i].data && read_file(root, &t->files[i], err))
            return -1;
    return 0;
}

void spk_cli_tree_release(struct spk_cli_tree *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->files[i].path);
        free(t->files[i].data);
    }
    free(t->files);
    t->files = NULL;
    t->n = t->cap = 0;
}
