/* The error codes of the HTTP contract (ARCHITECTURE.md §2), written out independently of
 * src/core/error.c so that tests compare the implementation against the contract. */
#ifndef SPOKE_TESTS_EXPECTED_ERRORS_H
#define SPOKE_TESTS_EXPECTED_ERRORS_H

#include "spoke/error.h"

struct expected_error {
    enum spk_errcode code;
    int status;
    const char *name;
};

static const struct expected_error expected_errors[] = {
    {SPK_E_INVALID, 400, "invalid_argument"},  {SPK_E_NOT_FOUND, 404, "not_found"},
    {SPK_E_METHOD, 405, "method_not_allowed"}, {SPK_E_EXISTS, 409, "already_exists"},
    {SPK_E_CONFLICT, 409, "conflict"},         {SPK_E_BREAKING, 409, "breaking_change"},
    {SPK_E_TOO_LARGE, 413, "too_large"},       {SPK_E_INVALID_SCHEMA, 422, "invalid_schema"},
    {SPK_E_UNAVAILABLE, 503, "unavailable"},   {SPK_E_INTERNAL, 500, "internal"},
};
#define EXPECTED_ERRORS_COUNT (sizeof(expected_errors) / sizeof(expected_errors[0]))

#endif
