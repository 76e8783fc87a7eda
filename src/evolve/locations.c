/* Source locations: each file's SourceCodeInfo is kept encoded and indexed by path the first
 * time a location of that file is asked for (under the image's lock, so shared images stay
 * safe), and looked up the way buf does: the first location recorded for an exact path, or for
 * options buf's closest-match search. Also the split of a serialized set into the descriptors
 * protobuf-c decodes and the source info decoded here, which is most of a set's bytes. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "evolve_internal.h"
#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/banned.h"

#define SET_FILE              1
#define FILE_SOURCE_CODE_INFO 9
#define SCI_LOCATION          1
#define LOC_PATH              1
#define LOC_SPAN              2
#define MAX_PATH              64

static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* Skips the value of a field of wire type wt; -1 when malformed. */
static int skip(const uint8_t **p, const uint8_t *end, unsigned wt)
{
    uint64_t v;
    switch (wt) {
    case 0:
        return varint(p, end, &v);
    case 1:
        if (end - *p < 8)
            return -1;
        *p += 8;
        return 0;
    case 2:
        if (varint(p, end, &v) || v > (uint64_t)(end - *p))
            return -1;
        *p += v;
        return 0;
    case 5:
        if (end - *p < 4)
            return -1;
        *p += 4;
        return 0;
    default:
        return -1;
    }
}

static void put_varint(struct spk_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    spk_buf_append(b, tmp, n);
}

int spk_evolve_set_split(const uint8_t *raw, size_t len, uint8_t **stripped, size_t *stripped_len,
                         const uint8_t ***sci, size_t **sci_len, size_t *nfiles)
{
    struct spk_buf out = SPK_BUF_INIT, file = SPK_BUF_INIT;
    const uint8_t *p = raw, *end = raw + len;
    size_t n = 0, cap = 0;
    *sci = NULL;
    *sci_len = NULL;
    while (p < end) {
        const uint8_t *field = p;
        uint64_t key, flen;
        if (varint(&p, end, &key))
            goto bad;
        if (key >> 3 != SET_FILE || (key & 7) != 2) {
            if (skip(&p, end, key & 7))
                goto bad;
            spk_buf_append(&out, field, (size_t)(p - field));
            continue;
        }
        if (varint(&p, end, &flen) || flen > (uint64_t)(end - p))
            goto bad;
        const uint8_t *q = p, *fend = p + flen;
        p = fend;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            *sci = spk_realloc(*sci, cap * sizeof(**sci));
            *sci_len = spk_realloc(*sci_len, cap * sizeof(**sci_len));
        }
        (*sci)[n] = NULL;
        (*sci_len)[n] = 0;
        spk_buf_reset(&file);
        while (q < fend) {
            const uint8_t *f = q;
            uint64_t k;
            if (varint(&q, fend, &k))
                goto bad;
            const uint8_t *value = q;
            if (skip(&q, fend, k & 7))
                goto bad;
            if (k >> 3 == FILE_SOURCE_CODE_INFO && (k & 7) == 2) {
                uint64_t l;
                const uint8_t *v = value;
                varint(&v, fend, &l);
                (*sci)[n] = v;
                (*sci_len)[n] = (size_t)l;
            } else {
                spk_buf_append(&file, f, (size_t)(q - f));
            }
        }
        n++;
        put_varint(&out, (SET_FILE << 3) | 2);
        put_varint(&out, file.len);
        if (file.len)
            spk_buf_append(&out, file.data, file.len);
    }
    spk_buf_release(&file);
    if (!out.data)
        spk_buf_puts(&out, "");
    *stripped = (uint8_t *)spk_buf_detach(&out, stripped_len);
    *nfiles = n;
    return 0;
bad:
    spk_buf_release(&file);
    spk_buf_release(&out);
    free(*sci);
    free(*sci_len);
    *sci = NULL;
    *sci_len = NULL;
    return -1;
}

/* Reads repeated int32 values (packed or not) into a growing array of the arena. */
static size_t read_ints(struct spk_evolve_arena *a, const uint8_t *v, size_t len, int packed,
                        int32_t **out, size_t have)
{
    int32_t tmp[MAX_PATH];
    size_t n = 0;
    const uint8_t *p = v, *end = v + len;
    if (packed) {
        while (p < end && n < MAX_PATH) {
            uint64_t x;
            if (varint(&p, end, &x))
                break;
            tmp[n++] = (int32_t)x;
        }
    } else {
        tmp[n++] = (int32_t)len; /* len carries the value itself for an unpacked varint */
    }
    int32_t *grown = spk_evolve_arena_alloc(a, (have + n) * sizeof(int32_t));
    if (have)
        memcpy(grown, *out, have * sizeof(int32_t));
    memcpy(grown + have, tmp, n * sizeof(int32_t));
    *out = grown;
    return have + n;
}

static void parse_location(struct spk_evolve_arena *a, const uint8_t *p, const uint8_t *end,
                           struct spk_evolve_loc *l)
{
    int32_t *span = NULL;
    size_t nspan = 0;
    while (p < end) {
        uint64_t k, v;
        if (varint(&p, end, &k))
            return;
        unsigned field = (unsigned)(k >> 3), wt = (unsigned)(k & 7);
        if ((field == LOC_PATH || field == LOC_SPAN) && (wt == 0 || wt == 2)) {
            if (varint(&p, end, &v))
                return;
            if (wt == 2 && v > (uint64_t)(end - p))
                return;
            const uint8_t *data = p;
            size_t len = wt == 2 ? (size_t)v : (size_t)v;
            if (wt == 2)
                p += v;
            if (field == LOC_PATH)
                l->n_path = read_ints(a, data, len, wt == 2, &l->path, l->n_path);
            else
                nspan = read_ints(a, data, len, wt == 2, &span, nspan);
        } else if (skip(&p, end, wt)) {
            return;
        }
    }
    l->n_span = nspan > 4 ? 4 : nspan;
    if (l->n_span)
        memcpy(l->span, span, l->n_span * sizeof(int32_t));
}

static void index_file(struct spk_evolve_file *f)
{
    struct spk_evolve_arena *a = &f->img->arena;
    const uint8_t *p = f->sci, *end = f->sci + f->sci_len;
    size_t cap = 0;
    while (p < end) {
        uint64_t k, len;
        if (varint(&p, end, &k))
            break;
        if (k >> 3 != SCI_LOCATION || (k & 7) != 2) {
            if (skip(&p, end, k & 7))
                break;
            continue;
        }
        if (varint(&p, end, &len) || len > (uint64_t)(end - p))
            break;
        if (f->nloc_list == cap) {
            cap = cap ? cap * 2 : 256;
            f->loc_list = spk_realloc(f->loc_list, cap * sizeof(*f->loc_list));
        }
        struct spk_evolve_loc *l = &f->loc_list[f->nloc_list++];
        *l = (struct spk_evolve_loc){0};
        parse_location(a, p, p + len, l);
        p += len;
    }
    for (size_t i = 0; i < f->nloc_list; i++) {
        struct spk_evolve_loc *l = &f->loc_list[i];
        spk_evolve_map_add(&f->locs, l->n_path ? (const void *)l->path : (const void *)"",
                           l->n_path * sizeof(int32_t), l);
    }
}

/* The index of f's locations, built on first use. */
static const struct spk_evolve_file *indexed(const struct spk_evolve_file *f)
{
    struct spk_evolve_file *m = (struct spk_evolve_file *)f;
    if (__atomic_load_n(&m->locs_ready, __ATOMIC_ACQUIRE))
        return f;
    pthread_mutex_lock(f->img->lock);
    if (!m->locs_ready) {
        index_file(m);
        __atomic_store_n(&m->locs_ready, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(f->img->lock);
    return f;
}

void spk_evolve_file_locs_release(struct spk_evolve_file *f)
{
    spk_evolve_map_release(&f->locs);
    free(f->loc_list);
    f->loc_list = NULL;
    f->nloc_list = 0;
}

const pb_location *spk_evolve_file_loc(const struct spk_evolve_file *f,
                                       const struct spk_evolve_path *base, size_t nsuffix,
                                       const int32_t *suffix)
{
    int32_t key[MAX_PATH];
    size_t n = base ? base->n : 0;
    if (!f || !f->has_source_info || n + nsuffix > MAX_PATH)
        return NULL;
    if (n)
        memcpy(key, base->p, n * sizeof(int32_t));
    if (nsuffix)
        memcpy(key + n, suffix, nsuffix * sizeof(int32_t));
    return spk_evolve_map_get(&indexed(f)->locs, key, (n + nsuffix) * sizeof(int32_t));
}

static int has_prefix(const int32_t *path, size_t n, const int32_t *prefix, size_t np)
{
    return n >= np && (np == 0 || memcmp(path, prefix, np * sizeof(int32_t)) == 0);
}

const pb_location *spk_evolve_file_option_loc(const struct spk_evolve_file *f,
                                              const struct spk_evolve_path *base, size_t nsuffix,
                                              const int32_t *suffix, size_t ext_len)
{
    const pb_location *exact = spk_evolve_file_loc(f, base, nsuffix, suffix);
    if (exact || !f || !f->has_source_info)
        return exact;
    int32_t path[MAX_PATH];
    size_t n = base->n;
    if (n + nsuffix > MAX_PATH)
        return NULL;
    memcpy(path, base->p, n * sizeof(int32_t));
    memcpy(path + n, suffix, nsuffix * sizeof(int32_t));
    n += nsuffix;
    const pb_location *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < f->nloc_list; i++) {
        const pb_location *l = &f->loc_list[i];
        if (l->n_path >= ext_len && has_prefix(path, n, l->path, l->n_path) &&
            l->n_path > best_len) {
            best = l;
            best_len = l->n_path;
        } else if (has_prefix(l->path, l->n_path, path, n)) {
            return l;
        }
    }
    return best;
}
