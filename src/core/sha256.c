/* SHA-256 through OpenSSL's EVP interface. */
#include <openssl/evp.h>
#include <stdlib.h>

#include "spoke/sha256.h"
#include "spoke/banned.h"

void spk_sha256_hex(const void *data, size_t len, char out[SPK_SHA256_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        abort(); /* only fails on allocation failure inside OpenSSL */
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

int spk_sha256_hex_valid(const char *s)
{
    for (int i = 0; i < 64; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return s[64] == '\0';
}
