/* A bump allocator: an image allocates its thousands of small model objects here and frees them
 * all at once. Allocations are zeroed and 16-byte aligned; there is no per-object free. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evolve_internal.h"
#include "spoke/alloc.h"
#include "spoke/banned.h"

#define CHUNK_SIZE (64 * 1024)

struct spk_evolve_chunk {
    struct spk_evolve_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *spk_evolve_arena_alloc(struct spk_evolve_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct spk_evolve_chunk *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK_SIZE ? n : CHUNK_SIZE;
        c = spk_malloc(sizeof(*c) + cap);
        c->used = 0;
        c->cap = cap;
        if (a->head && n > CHUNK_SIZE) { /* keep filling the current chunk afterwards */
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *spk_evolve_arena_strdup(struct spk_evolve_arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = spk_evolve_arena_alloc(a, n);
    memcpy(p, s, n);
    return p;
}

char *spk_evolve_arena_printf(struct spk_evolve_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = spk_evolve_arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void spk_evolve_arena_release(struct spk_evolve_arena *a)
{
    if (!a)
        return;
    while (a->head) {
        struct spk_evolve_chunk *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}
