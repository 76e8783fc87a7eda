/* Loading a version for the registry's own use: its metadata from the store, and on request the
 * bytes of its files and of its FileDescriptorSet from the blob store. Blobs are immutable and
 * addressed by their SHA-256, so with SPK_LOAD_KEEP their bytes are kept in the in-process cache
 * under "blob:<sha256>": a push that names dependencies reads them from memory, not from S3.
 * Other reads (a version's reply, which is cached rendered, or one file) leave L1 alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/blob.h"
#include "spoke/buf.h"
#include "spoke/config.h"
#include "spoke/error.h"
#include "spoke/l1.h"
#include "spoke/registry.h"
#include "spoke/banned.h"

void spk_loaded_release(struct spk_loaded *l)
{
    if (!l)
        return;
    for (size_t i = 0; l->contents && i < l->meta.nfiles; i++)
        free(l->contents[i]);
    free(l->contents);
    free(l->lens);
    free(l->descriptor);
    spk_version_release(&l->meta);
    memset(l, 0, sizeof(*l));
}

int spk_registry_version_param(const char *param, char out[SPK_SEMVER_MAX_LEN + 1],
                               struct spk_error *err)
{
    struct spk_semver sv;
    if (param && strcmp(param, "latest") == 0) {
        snprintf(out, SPK_SEMVER_MAX_LEN + 1, "latest");
        return 0;
    }
    if (spk_semver_parse(param ? param : "", &sv, err))
        return -1;
    memcpy(out, sv.canonical, SPK_SEMVER_MAX_LEN + 1);
    return 0;
}

/* One blob's bytes (NUL-terminated), from L1 or the blob store. A referenced blob that is missing
 * or corrupt is INTERNAL: the metadata promises it exists. */
static int read_blob(struct spk_app *app, const char *sha256, size_t max, int keep, char **data,
                     size_t *len, struct spk_error *err)
{
    char key[80];
    snprintf(key, sizeof(key), "blob:%s", sha256);
    const struct spk_l1_entry *e = keep ? spk_l1_get(app->l1, key) : NULL;
    if (e) {
        *data = spk_malloc(e->len + 1);
        memcpy(*data, e->data, e->len);
        (*data)[e->len] = '\0';
        *len = e->len;
        spk_l1_entry_release(e);
        return 0;
    }
    struct spk_buf b = SPK_BUF_INIT;
    if (spk_blob_get(app->blobs, sha256, max, &b, err)) {
        spk_buf_release(&b);
        if (err->code == SPK_E_NOT_FOUND)
            err->code = SPK_E_INTERNAL;
        return -1;
    }
    spk_buf_append(&b, "", 0);
    *data = spk_buf_detach(&b, len);
    if (!*data)
        *data = spk_strdup("");
    if (keep)
        spk_l1_put(app->l1, key, *data, *len, "");
    return 0;
}

int spk_registry_file_read(struct spk_app *app, const struct spk_version_file *f, char **data,
                           size_t *len, struct spk_error *err)
{
    return read_blob(app, f->sha256, app->cfg->max_file_bytes, 0, data, len, err);
}

int spk_registry_version_load(struct spk_app *app, const char *module, const char *version,
                              int flags, struct spk_loaded *out, struct spk_error *err)
{
    struct spk_loaded l = {0};
    int sflags = (flags & SPK_LOAD_PRIMARY) ? SPK_STORE_PRIMARY : 0;

    if (spk_store_version_get(app->db, module, version, sflags, &l.meta, err))
        return -1;
    snprintf(l.ref.module, sizeof(l.ref.module), "%s", l.meta.module_name);
    snprintf(l.ref.version, sizeof(l.ref.version), "%s", l.meta.version);
    snprintf(l.ref.text, sizeof(l.ref.text), "%s@%s", l.meta.module_name, l.meta.version);
    if (flags & SPK_LOAD_CONTENTS) {
        l.contents = spk_calloc(l.meta.nfiles ? l.meta.nfiles : 1, sizeof(*l.contents));
        l.lens = spk_calloc(l.meta.nfiles ? l.meta.nfiles : 1, sizeof(*l.lens));
        for (size_t i = 0; i < l.meta.nfiles; i++)
            if (read_blob(app, l.meta.files[i].sha256, app->cfg->max_file_bytes,
                          flags & SPK_LOAD_KEEP, &l.contents[i], &l.lens[i], err))
                goto fail;
    }
    if ((flags & SPK_LOAD_DESCRIPTOR) && l.meta.descriptor_sha256[0]) {
        char *d = NULL;
        if (read_blob(app, l.meta.descriptor_sha256, app->protoc.max_descriptor,
                      flags & SPK_LOAD_KEEP, &d, &l.descriptor_len, err))
            goto fail;
        l.descriptor = (unsigned char *)d;
    }
    *out = l;
    return 0;
fail:
    spk_loaded_release(&l);
    return -1;
}
