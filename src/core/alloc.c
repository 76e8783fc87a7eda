/* Allocation wrappers: out-of-memory aborts here, so callers never handle it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spoke/alloc.h"
#include "spoke/banned.h"

static void *check(void *p, size_t n)
{
    if (!p && n) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"out of memory\",\"bytes\":%zu}\n", n);
        abort();
    }
    return p;
}

void *spk_malloc(size_t n)
{
    return check(malloc(n ? n : 1), n ? n : 1);
}

void *spk_calloc(size_t nmemb, size_t size)
{
    return check(calloc(nmemb ? nmemb : 1, size ? size : 1), 1);
}

void *spk_realloc(void *p, size_t n)
{
    return check(realloc(p, n ? n : 1), n ? n : 1);
}

char *spk_strdup(const char *s)
{
    return spk_strndup(s, strlen(s));
}

char *spk_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = spk_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *spk_vasprintf(const char *fmt, va_list ap)
{
    char *p = NULL;
    if (vasprintf(&p, fmt, ap) < 0)
        check(NULL, 1);
    return p;
}

char *spk_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = spk_vasprintf(fmt, ap);
    va_end(ap);
    return p;
}
