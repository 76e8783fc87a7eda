/* Private to src/registry: the pieces push.c and evolution.c share. */
#ifndef SPOKE_REGISTRY_INTERNAL_H
#define SPOKE_REGISTRY_INTERNAL_H

#include "spoke/registry.h"

/* Compiles files against the closure of deps (contents loaded). See spk_registry_validate. */
int registry_compile(struct spk_app *app, const struct spk_proto_file *files, size_t nfiles,
                     char *const *deps, size_t ndeps, struct spk_proto_result *out,
                     struct spk_error *err);

/* What a push of sv must be compared with under policy, and the guard that keeps the answer true
 * until it commits. */
struct push_targets {
    enum spk_version_guard guard;
    char pred[SPK_SEMVER_MAX_LEN + 1]; /* NEIGHBORS: predecessor; LATEST: the latest version */
    char succ[SPK_SEMVER_MAX_LEN + 1]; /* NEIGHBORS: successor of a back-port */
};
int registry_push_targets(struct spk_app *app, const char *module, const struct spk_semver *sv,
                          const struct spk_policy *policy, struct push_targets *out,
                          struct spk_error *err);

/* The image of candidate files compiled into schema (their paths are the own files). */
int registry_candidate_image(const struct spk_push_request *req,
                             const struct spk_proto_result *schema, struct spk_evolve_image **out,
                             struct spk_error *err);
/* 1 when a push under policy with targets has anything to be compared with. */
int registry_targets_any(const struct spk_policy *policy, const struct push_targets *targets);
/* Checks the candidate's image against targets under policy, filling out. BREAKING when
 * something breaks. cand may be NULL only when registry_targets_any says there is nothing to
 * compare. */
int registry_check_candidate(struct spk_app *app, const char *module,
                             const struct spk_policy *policy, const struct push_targets *targets,
                             const struct spk_evolve_image *cand, struct spk_compat *out,
                             struct spk_error *err);

#endif
