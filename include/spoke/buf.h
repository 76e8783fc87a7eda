/* A growable byte buffer, always NUL-terminated after len (like git's strbuf). */
#ifndef SPOKE_BUF_H
#define SPOKE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct spk_buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
};

#define SPK_BUF_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void spk_buf_append(struct spk_buf *b, const void *data, size_t len);
void spk_buf_puts(struct spk_buf *b, const char *s);
void spk_buf_printf(struct spk_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void spk_buf_reset(struct spk_buf *b);
/* Hands the bytes to the caller (free with free()); the buffer is left empty. */
char *spk_buf_detach(struct spk_buf *b, size_t *len);
void spk_buf_release(struct spk_buf *b);

#endif
