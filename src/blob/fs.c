/* The filesystem blob backend: the embedded default. Blobs are files at
 * <root>/proto-files/sha256/ab/cdef…, written to a temporary name in the same directory, fsynced
 * and renamed into place, so a reader sees either no blob or the whole blob. Not for sharing
 * between hosts unless the directory is a shared filesystem with atomic rename. Listing walks
 * the tree for the garbage collector; temporary files of writes in progress are skipped. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spoke/alloc.h"
#include "spoke/blob.h"
#include "spoke/buf.h"
#include "spoke/error.h"
#include "spoke/log.h"
#include "spoke/sha256.h"
#include "spoke/banned.h"

struct fs_store {
    char *root;
};

static char *blob_path(struct spk_blob_store *s, const char *sha256)
{
    struct fs_store *fs = s->impl;
    char key[128];
    spk_blob_key(sha256, key, sizeof(key));
    return spk_asprintf("%s/%s", fs->root, key);
}

/* mkdir -p for the parent directories of path. */
static int make_parents(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0755);
        *p = '/';
        if (rc && errno != EEXIST)
            return -1;
    }
    return 0;
}

static int fs_exists(struct spk_blob_store *s, const char *sha256, struct spk_error *err)
{
    char *path = blob_path(s, sha256);
    struct stat st;
    int rc = stat(path, &st);
    int saved = errno;
    free(path);
    if (rc == 0)
        return 1;
    if (saved == ENOENT)
        return 0;
    spk_logf(SPK_LOG_ERROR, NULL, "blob stat %s: %s", sha256, strerror(saved));
    return spk_error_set(err, SPK_E_UNAVAILABLE, "blob store unavailable");
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fs_put(struct spk_blob_store *s, const char *sha256, const void *data, size_t len,
                  struct spk_error *err)
{
    char *path = blob_path(s, sha256);
    unsigned long long nonce = 0;
    if (getrandom(&nonce, sizeof(nonce), 0) != sizeof(nonce))
        nonce = (unsigned long long)getpid();
    char *tmp = spk_asprintf("%s.tmp.%d.%llx", path, (int)getpid(), nonce);
    int fd = -1, rc = -1;

    if (make_parents(path))
        goto fail;
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || write_all(fd, data, len) || fsync(fd) || close(fd)) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path))
        goto fail;
    rc = 0;
    goto out;
fail:
    spk_logf(SPK_LOG_ERROR, NULL, "blob write %s: %s", sha256, strerror(errno));
    spk_error_set(err, SPK_E_UNAVAILABLE, "blob store unavailable");
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out:
    free(tmp);
    free(path);
    return rc;
}

static int fs_get(struct spk_blob_store *s, const char *sha256, size_t max_len, struct spk_buf *out,
                  struct spk_error *err)
{
    char *path = blob_path(s, sha256);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = -1;
    size_t start = out->len;
    struct stat st;

    if (fd < 0) {
        if (errno == ENOENT) {
            spk_logf(SPK_LOG_ERROR, NULL, "blob %s is referenced but missing", sha256);
            spk_error_set(err, SPK_E_NOT_FOUND, "blob %.12s not found", sha256);
        } else {
            spk_logf(SPK_LOG_ERROR, NULL, "blob open %s: %s", sha256, strerror(errno));
            spk_error_set(err, SPK_E_UNAVAILABLE, "blob store unavailable");
        }
        goto out;
    }
    if (fstat(fd, &st) || (size_t)st.st_size > max_len) {
        spk_logf(SPK_LOG_ERROR, NULL, "blob %s: size %lld over the limit", sha256,
                 (long long)st.st_size);
        spk_error_set(err, SPK_E_INTERNAL, "blob %.12s is corrupt", sha256);
        goto out;
    }
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            spk_logf(SPK_LOG_ERROR, NULL, "blob read %s: %s", sha256, strerror(errno));
            spk_error_set(err, SPK_E_UNAVAILABLE, "blob store unavailable");
            goto out;
        }
        if (n == 0)
            break;
        if (out->len - start + (size_t)n > max_len) {
            spk_error_set(err, SPK_E_INTERNAL, "blob %.12s is corrupt", sha256);
            goto out;
        }
        spk_buf_append(out, chunk, (size_t)n);
    }
    char actual[SPK_SHA256_HEX_LEN + 1];
    spk_sha256_hex(out->len > start ? out->data + start : "", out->len - start, actual);
    if (strcmp(actual, sha256) != 0) {
        spk_logf(SPK_LOG_ERROR, NULL, "blob %s: content digest %s does not match its key", sha256,
                 actual);
        spk_error_set(err, SPK_E_INTERNAL, "blob %.12s is corrupt", sha256);
        goto out;
    }
    rc = 0;
out:
    if (rc) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    if (fd >= 0)
        close(fd);
    free(path);
    return rc;
}

static int fs_check(struct spk_blob_store *s, struct spk_error *err)
{
    struct fs_store *fs = s->impl;
    if (access(fs->root, R_OK | W_OK | X_OK) == 0)
        return 0;
    return spk_error_set(err, SPK_E_UNAVAILABLE, "blob directory is not accessible");
}

/* Depth-first walk of dir (relative path rel under the root). Entries whose names mark a write
 * in progress (".tmp.") are skipped. Returns 1 when fn asked to stop, 0 when done, -1 on error. */
static int walk(const char *root, const char *rel, int depth, spk_blob_list_fn fn, void *ctx,
                struct spk_error *err)
{
    char *dir = spk_asprintf("%s/%s", root, rel);
    DIR *d = opendir(dir);
    int rc = 0;
    if (!d) {
        int missing = errno == ENOENT;
        if (!missing)
            spk_logf(SPK_LOG_ERROR, NULL, "blob list %s: %s", dir, strerror(errno));
        free(dir);
        return missing ? 0 : spk_error_set(err, SPK_E_UNAVAILABLE, "blob store unavailable");
    }
    struct dirent *e;
    while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp."))
            continue;
        char *key = spk_asprintf("%s/%s", rel, e->d_name);
        char *path = spk_asprintf("%s/%s", root, key);
        struct stat st;
        int found = lstat(path, &st) == 0; /* a file deleted meanwhile is simply not listed */
        if (found && S_ISDIR(st.st_mode)) {
            if (depth < 8)
                rc = walk(root, key, depth + 1, fn, ctx, err);
        } else if (found && S_ISREG(st.st_mode)) {
            char sha[65];
            struct spk_blob_info info = {
                .key = key,
                .sha256 = spk_blob_key_parse(key, sha) == 0 ? sha : NULL,
                .size = (uint64_t)st.st_size,
                .mtime = (int64_t)st.st_mtime,
            };
            rc = fn(&info, ctx) ? 1 : 0;
        }
        free(path);
        free(key);
    }
    if (rc == 0 && errno) {
        spk_logf(SPK_LOG_ERROR, NULL, "blob list %s: %s", dir, strerror(errno));
        rc = spk_error_set(err, SPK_E_UNAVAILABLE, "blob store unavailable");
    }
    closedir(d);
    free(dir);
    return rc;
}

static int fs_list(struct spk_blob_store *s, spk_blob_list_fn fn, void *ctx, struct spk_error *err)
{
    struct fs_store *fs = s->impl;
    return walk(fs->root, "proto-files", 0, fn, ctx, err) < 0 ? -1 : 0;
}

static int fs_remove(struct spk_blob_store *s, const char *sha256, struct spk_error *err)
{
    char *path = blob_path(s, sha256);
    int rc = 0;
    if (unlink(path) != 0 && errno != ENOENT) {
        spk_logf(SPK_LOG_ERROR, NULL, "blob delete %s: %s", sha256, strerror(errno));
        rc = spk_error_set(err, SPK_E_UNAVAILABLE, "blob store unavailable");
    }
    free(path);
    return rc;
}

static void fs_destroy(struct spk_blob_store *s)
{
    struct fs_store *fs = s->impl;
    free(fs->root);
    free(fs);
    free(s);
}

static const struct spk_blob_ops fs_ops = {
    .name = "filesystem",
    .exists = fs_exists,
    .put = fs_put,
    .get = fs_get,
    .check = fs_check,
    .list = fs_list,
    .remove = fs_remove,
    .destroy = fs_destroy,
};

struct spk_blob_store *spk_blob_fs_create(const char *root, struct spk_error *err)
{
    char *probe = spk_asprintf("%s/proto-files/sha256/", root);
    int rc = make_parents(probe);
    free(probe);
    if (rc) {
        spk_error_set(err, SPK_E_INVALID, "SPOKE_FILESYSTEM_ROOT %.200s: cannot create: %s", root,
                      strerror(errno));
        return NULL;
    }
    struct fs_store *fs = spk_calloc(1, sizeof(*fs));
    fs->root = spk_strdup(root);
    struct spk_blob_store *s = spk_calloc(1, sizeof(*s));
    s->ops = &fs_ops;
    s->impl = fs;
    return s;
}
