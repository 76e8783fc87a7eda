/* Allocation wrappers that abort on out-of-memory, so the error paths that remain are real. */
#ifndef SPOKE_ALLOC_H
#define SPOKE_ALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *spk_malloc(size_t n);
void *spk_calloc(size_t nmemb, size_t size);
void *spk_realloc(void *p, size_t n);
char *spk_strdup(const char *s);
char *spk_strndup(const char *s, size_t n);
/* Returns a new string; free with free(). */
char *spk_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *spk_vasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
