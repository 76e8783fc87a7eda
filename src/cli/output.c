/* What the CLI says: results on stdout (human text or --json), errors and notes on stderr, and
 * text from the server or the file system escaped before it reaches a terminal. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spoke/buf.h"
#include "spoke/cli.h"
#include "spoke/validate.h"
#include "spoke/banned.h"

static void vreport(const struct spk_cli *cli, const char *fmt, va_list ap)
{
    fflush(stdout);
    if (cli && cli->command)
        fprintf(stderr, "spoke %s: ", cli->command);
    else
        fputs("spoke: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int spk_cli_fail(const struct spk_cli *cli, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(cli, fmt, ap);
    va_end(ap);
    return status;
}

int spk_cli_usage_error(const struct spk_cli *cli, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(cli, fmt, ap);
    va_end(ap);
    if (cli && cli->command)
        fprintf(stderr, "Run 'spoke %s --help' for usage.\n", cli->command);
    else
        fputs("Run 'spoke --help' for usage.\n", stderr);
    return SPK_EXIT_USAGE;
}

void spk_cli_note(const struct spk_cli *cli, const char *fmt, ...)
{
    if (cli && cli->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void spk_cli_print_json(const json_t *j)
{
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    fflush(stdout);
}

void spk_cli_print_diagnostics(const json_t *body)
{
    size_t i;
    json_t *d;
    fflush(stdout);
    json_array_foreach(json_object_get(body, "details"), i, d)
    {
        const char *file = spk_cli_jstr(d, "file"), *msg = spk_cli_jstr(d, "message");
        char *f = spk_cli_printable(file, strlen(file)), *m = spk_cli_printable(msg, strlen(msg));
        long long line = json_integer_value(json_object_get(d, "line"));
        long long col = json_integer_value(json_object_get(d, "column"));
        if (line > 0 && col > 0)
            fprintf(stderr, "%s:%lld:%lld: %s\n", f[0] ? f : "-", line, col, m);
        else if (line > 0)
            fprintf(stderr, "%s:%lld: %s\n", f[0] ? f : "-", line, m);
        else
            fprintf(stderr, "%s: %s\n", f[0] ? f : "-", m);
        free(f);
        free(m);
    }
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when s does not start one. */
static size_t utf8_seq(const char *s, size_t left)
{
    unsigned char c = (unsigned char)s[0];
    size_t n = c < 0x80             ? 1
               : (c & 0xE0) == 0xC0 ? 2
               : (c & 0xF0) == 0xE0 ? 3
               : (c & 0xF8) == 0xF0 ? 4
                                    : 0;
    if (n == 0 || n > left)
        return 0;
    return spk_utf8_valid(s, n) ? n : 0;
}

char *spk_cli_printable(const char *s, size_t len)
{
    struct spk_buf b = SPK_BUF_INIT;
    spk_buf_append(&b, "", 0);
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = utf8_seq(s + i, len - i);
        if (n == 0 || c < 0x20 || c == 0x7F || c == '\\') {
            spk_buf_printf(&b, "\\x%02x", c);
            i++;
        } else {
            /* C1 controls (U+0080-U+009F, encoded C2 80-C2 9F) can drive terminals too. */
            if (n == 2 && c == 0xC2 && (unsigned char)s[i + 1] < 0xA0) {
                spk_buf_printf(&b, "\\x%02x\\x%02x", c, (unsigned char)s[i + 1]);
            } else {
                spk_buf_append(&b, s + i, n);
            }
            i += n;
        }
    }
    return spk_buf_detach(&b, NULL);
}
