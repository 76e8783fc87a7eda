/* Writing pulled files under one directory, atomically and never outside it. Paths come from the
 * server, so they are checked against the registry's own path rules (no "..", no leading '/',
 * no backslashes or control characters) and then walked one directory at a time with openat and
 * O_NOFOLLOW: a symlink planted inside the directory cannot redirect a write either. Each file is
 * written to a temporary name next to its destination and renamed over it, so a reader sees the
 * old file or the new one, never half of one. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spoke/alloc.h"
#include "spoke/cli.h"
#include "spoke/validate.h"
#include "spoke/banned.h"

static int mkdir_parents(const char *dir, struct spk_error *err)
{
    char *p = spk_strdup(dir);
    int rc = 0;
    for (char *s = p + 1; rc == 0; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char saved = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            rc = spk_error_set(err, SPK_E_INVALID, "cannot create directory %.200s: %s", p,
                               strerror(errno));
        *s = saved;
        if (saved == '\0')
            break;
    }
    free(p);
    return rc;
}

int spk_cli_outdir_open(struct spk_cli_outdir *d, const char *dir, struct spk_error *err)
{
    memset(d, 0, sizeof(*d));
    d->fd = -1;
    if (!dir[0])
        dir = ".";
    if (mkdir_parents(dir, err))
        return -1;
    d->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->fd < 0)
        return spk_error_set(err, SPK_E_INVALID, "cannot open directory %.200s: %s", dir,
                             strerror(errno));
    d->path = spk_strdup(dir);
    return 0;
}

void spk_cli_outdir_close(struct spk_cli_outdir *d)
{
    if (d->fd >= 0)
        close(d->fd);
    free(d->path);
    d->fd = -1;
    d->path = NULL;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int spk_cli_outdir_write(struct spk_cli_outdir *d, const char *relpath, size_t relpath_len,
                         const void *data, size_t len, struct spk_error *err)
{
    struct spk_error why = {0};
    char *shown = spk_cli_printable(relpath, relpath_len);
    char *path = NULL, *tmp = NULL;
    int dirfd = d->fd, fd = -1, rc = -1;

    if (spk_validate_path(relpath, relpath_len, &why)) {
        spk_error_set(err, SPK_E_INVALID, "refusing to write \"%.150s\": %s", shown, why.msg);
        goto out;
    }
    path = spk_strndup(relpath, relpath_len);
    char *seg = path;
    for (char *slash; (slash = strchr(seg, '/')) != NULL; seg = slash + 1) {
        *slash = '\0';
        if (mkdirat(dirfd, seg, 0777) != 0 && errno != EEXIST) {
            spk_error_set(err, SPK_E_INVALID, "cannot create a directory for %.150s: %s", shown,
                          strerror(errno));
            goto out;
        }
        int next = openat(dirfd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            spk_error_set(err, SPK_E_INVALID, "cannot write %.150s: \"%.60s\" is %s", shown, seg,
                          errno == ELOOP || errno == ENOTDIR ? "a symlink or not a directory"
                                                             : strerror(errno));
            goto out;
        }
        if (dirfd != d->fd)
            close(dirfd);
        dirfd = next;
    }
    tmp = spk_asprintf(".spoke-%ld-%lu.tmp", (long)getpid(), ++d->seq);
    fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) {
        spk_error_set(err, SPK_E_INVALID, "cannot write %.150s: %s", shown, strerror(errno));
        goto out;
    }
    int failed = write_all(fd, data, len);
    int e = errno;
    if (close(fd) != 0 && !failed)
        failed = 1, e = errno;
    fd = -1;
    if (failed || renameat(dirfd, tmp, dirfd, seg) != 0) {
        if (!failed)
            e = errno;
        unlinkat(dirfd, tmp, 0);
        spk_error_set(err, SPK_E_INVALID, "cannot write %.150s: %s", shown, strerror(e));
        goto out;
    }
    rc = 0;
out:
    if (dirfd != d->fd)
        close(dirfd);
    free(tmp);
    free(path);
    free(shown);
    return rc;
}
