/* Private to src/registry: the pieces its files share. */
#ifndef SPOKE_REGISTRY_INTERNAL_H
#define SPOKE_REGISTRY_INTERNAL_H

#include "spoke/registry.h"

/* Compiles files against the closure of deps (contents loaded). See spk_registry_validate. */
int registry_compile(struct spk_app *app, const struct spk_proto_file *files, size_t nfiles,
                     char *const *deps, size_t ndeps, struct spk_proto_result *out,
                     struct spk_error *err);

#endif
