/* Helpers shared by evolve-check, test_evolve and bench-evolve: reading a directory's .proto
 * files (paths relative to it, sorted) and compiling them with the project's protoc runner into
 * an evolution image. Header-only: each program includes it once. */
#ifndef SPOKE_TESTS_EVOLVE_TREE_H
#define SPOKE_TESTS_EVOLVE_TREE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/error.h"
#include "spoke/evolve.h"
#include "spoke/proto.h"

struct evtree {
    struct spk_proto_file *files;
    size_t n;
};

static char *evtree_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct spk_buf b = SPK_BUF_INIT;
    char chunk[4096];
    size_t n;
    if (!f)
        return NULL;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        spk_buf_append(&b, chunk, n);
    fclose(f);
    if (!b.data)
        spk_buf_puts(&b, "");
    return spk_buf_detach(&b, len);
}

static inline void evtree_walk(const char *root, const char *rel, struct evtree *t)
{
    char *dir = rel[0] ? spk_asprintf("%s/%s", root, rel) : spk_strdup(root);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *sub = rel[0] ? spk_asprintf("%s/%s", rel, e->d_name) : spk_strdup(e->d_name);
        char *full = spk_asprintf("%s/%s", root, sub);
        struct stat st;
        size_t len = strlen(sub);
        if (stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
            evtree_walk(root, sub, t);
        } else if (len > 6 && strcmp(sub + len - 6, ".proto") == 0) {
            size_t n = 0;
            char *content = evtree_slurp(full, &n);
            t->files = spk_realloc(t->files, (t->n + 1) * sizeof(*t->files));
            t->files[t->n++] = (struct spk_proto_file){spk_strdup(sub), content, n, NULL};
        }
        free(full);
        free(sub);
    }
    if (d)
        closedir(d);
    free(dir);
}

static inline int evtree_cmp(const void *a, const void *b)
{
    return strcmp(((const struct spk_proto_file *)a)->path,
                  ((const struct spk_proto_file *)b)->path);
}

/* Every *.proto below dir; 0 when there is at least one. */
static inline int evtree_collect(const char *dir, struct evtree *t)
{
    evtree_walk(dir, "", t);
    qsort(t->files, t->n, sizeof(*t->files), evtree_cmp);
    return t->n ? 0 : -1;
}

static inline void evtree_release(struct evtree *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free((char *)t->files[i].path);
        free((char *)t->files[i].content);
    }
    free(t->files);
    t->files = NULL;
    t->n = 0;
}

/* Reads a varint at *p (< end); -1 when malformed. */
static inline int evtree_varint(const unsigned char **p, const unsigned char *end,
                                unsigned long long *v)
{
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        unsigned char b = *(*p)++;
        *v |= (unsigned long long)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* The names of every file in a serialized FileDescriptorSet (field 1 of each `file`), read off
 * the wire so these helpers need no generated code. */
static char **evtree_set_names(const unsigned char *set, size_t len, size_t *n)
{
    char **names = NULL;
    const unsigned char *p = set, *end = set + len;
    *n = 0;
    while (p < end) {
        unsigned long long key, flen;
        if (evtree_varint(&p, end, &key) || (key & 7) != 2 || evtree_varint(&p, end, &flen) ||
            flen > (unsigned long long)(end - p))
            break;
        const unsigned char *q = p, *fend = p + flen;
        p = fend;
        if (key >> 3 != 1)
            continue;
        while (q < fend) {
            unsigned long long k, v;
            if (evtree_varint(&q, fend, &k))
                break;
            if ((k & 7) == 0) {
                if (evtree_varint(&q, fend, &v))
                    break;
                continue;
            }
            if ((k & 7) != 2 || evtree_varint(&q, fend, &v) || v > (unsigned long long)(fend - q))
                break;
            if (k >> 3 == 1) {
                names = spk_realloc(names, (*n + 1) * sizeof(*names));
                names[(*n)++] = spk_strndup((const char *)q, (size_t)v);
                break;
            }
            q += v;
        }
    }
    return names;
}

/* Compiles t and builds an image. with_imports: the image's own files are every file of the set
 * (imports included), which is what `buf breaking` compares by default. -1 after printing why. */
static inline int evtree_image(const struct spk_proto_toolchain *tc, const struct evtree *t,
                               int with_imports, struct spk_evolve_image **img, double *compile_ms)
{
    struct spk_protoc_options o = {tc->protoc, tc->include, 60000, 256u << 20};
    struct spk_proto_result r = {0};
    struct spk_error err = {0};
    int rc = -1;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (spk_proto_compile(&o, t->files, t->n, NULL, 0, &r, &err)) {
        fprintf(stderr, "protoc: %s\n", err.msg);
        goto out;
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    if (compile_ms)
        *compile_ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    if (!r.ok) {
        for (size_t i = 0; i < r.ndiags; i++)
            fprintf(stderr, "%s:%d:%d: %s\n", r.diags[i].file, r.diags[i].line, r.diags[i].column,
                    r.diags[i].message);
        goto out;
    }
    size_t nown = 0, nnames = 0;
    char **names =
        with_imports ? evtree_set_names(r.descriptor_set, r.descriptor_len, &nnames) : NULL;
    const char **own = spk_malloc((t->n + nnames + 1) * sizeof(*own));
    if (with_imports) {
        for (nown = 0; nown < nnames; nown++)
            own[nown] = names[nown];
    } else {
        for (size_t i = 0; i < t->n; i++)
            own[nown++] = t->files[i].path;
    }
    rc = spk_evolve_image_create(r.descriptor_set, r.descriptor_len, own, nown, img, &err);
    if (rc)
        fprintf(stderr, "image: %s\n", err.msg);
    if (names)
        for (size_t i = 0; i < nown; i++)
            free(names[i]);
    free(names);
    free(own);
out:
    spk_proto_result_release(&r);
    return rc;
}

#endif
