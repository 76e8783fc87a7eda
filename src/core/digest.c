/* The canonical version manifest and its digest (format in include/spoke/digest.h). */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/digest.h"
#include "spoke/banned.h"

static int cmp_files(const void *a, const void *b)
{
    const struct spk_digest_file *x = a, *y = b;
    return strcmp(x->path, y->path);
}

static int cmp_strs(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void update(EVP_MD_CTX *md, const char *s)
{
    EVP_DigestUpdate(md, s, strlen(s));
}

void spk_digest_compute(const struct spk_digest_file *files, size_t nfiles, const char *const *deps,
                        size_t ndeps, char out[SPK_DIGEST_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    struct spk_digest_file *f = spk_malloc(nfiles * sizeof(*f));
    const char **d = spk_malloc(ndeps * sizeof(*d));
    if (nfiles)
        memcpy(f, files, nfiles * sizeof(*f));
    if (ndeps)
        memcpy(d, deps, ndeps * sizeof(*d));
    qsort(f, nfiles, sizeof(*f), cmp_files);
    qsort(d, ndeps, sizeof(*d), cmp_strs);

    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
        abort();
    update(md, "spoke-manifest-v1\n");
    for (size_t i = 0; i < nfiles; i++) {
        update(md, "file ");
        update(md, f[i].sha256);
        update(md, " ");
        update(md, f[i].path);
        update(md, "\n");
    }
    for (size_t i = 0; i < ndeps; i++) {
        update(md, "dep ");
        update(md, d[i]);
        update(md, "\n");
    }
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned int rawlen = 0;
    EVP_DigestFinal_ex(md, raw, &rawlen);
    EVP_MD_CTX_free(md);
    free(f);
    free(d);

    memcpy(out, "sha256:", 7);
    for (unsigned i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[raw[i] >> 4];
        out[7 + 2 * i + 1] = hex[raw[i] & 15];
    }
    out[SPK_DIGEST_LEN] = '\0';
}
