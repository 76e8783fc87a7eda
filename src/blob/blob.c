/* What every blob backend shares: the key layout and destruction. */
#include <stdio.h>

#include "spoke/blob.h"
#include "spoke/banned.h"

void spk_blob_key(const char *sha256, char *out, size_t outsz)
{
    snprintf(out, outsz, "proto-files/sha256/%.2s/%s", sha256, sha256 + 2);
}

void spk_blob_store_destroy(struct spk_blob_store *s)
{
    if (s)
        s->ops->destroy(s);
}
