/* Growable, NUL-terminated byte buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/buf.h"
#include "spoke/banned.h"

static void grow(struct spk_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = spk_realloc(b->data, cap);
    b->cap = cap;
}

void spk_buf_append(struct spk_buf *b, const void *data, size_t len)
{
    grow(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void spk_buf_puts(struct spk_buf *b, const char *s)
{
    spk_buf_append(b, s, strlen(s));
}

void spk_buf_printf(struct spk_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    grow(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void spk_buf_reset(struct spk_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *spk_buf_detach(struct spk_buf *b, size_t *len)
{
    if (!b->data)
        grow(b, 0), b->data[0] = '\0';
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void spk_buf_release(struct spk_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
