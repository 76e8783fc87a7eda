/* Comma-separated lists as configuration writes them: "a, b,,c " is a, b, c. */
#ifndef SPOKE_LIST_H
#define SPOKE_LIST_H

#include <stddef.h>

/* Finds the next item at or after *cursor, with surrounding blanks trimmed and empty items
 * skipped. Returns its start and sets *len, advancing *cursor past it; NULL at the end. The
 * item points into the list (not NUL-terminated). */
const char *spk_list_next(const char **cursor, size_t *len);

#endif
