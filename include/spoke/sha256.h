/* SHA-256 over byte strings, as raw bytes or lower-case hex. */
#ifndef SPOKE_SHA256_H
#define SPOKE_SHA256_H

#include <stddef.h>

#define SPK_SHA256_HEX_LEN 64

void spk_sha256_hex(const void *data, size_t len, char out[SPK_SHA256_HEX_LEN + 1]);
/* 1 if s is exactly 64 lower-case hex digits. */
int spk_sha256_hex_valid(const char *s);

#endif
