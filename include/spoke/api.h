/* The registry's HTTP resources: route tables for the API and health listeners, and the state
 * their handlers share. Handlers translate between HTTP/JSON and the store and blob interfaces;
 * they hold no state of their own. */
#ifndef SPOKE_API_H
#define SPOKE_API_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "spoke/http.h"
#include "spoke/proto.h"

struct spk_config;
struct spk_db;
struct spk_blob_store;
struct spk_l1;
struct spk_cache;

struct spk_app {
    const struct spk_config *cfg;
    struct spk_db *db;
    struct spk_blob_store *blobs;
    struct spk_l1 *l1;       /* rendered concrete versions, keyed "module@version" */
    struct spk_cache *cache; /* L1 → Redis read-through, over l1 (include/spoke/cache.h) */
    struct spk_protoc_options
        protoc;          /* runs the private toolchain, see spk_proto_toolchain_create */
    atomic_int draining; /* set on SIGTERM: readiness answers 503 from then on */
};

extern const struct spk_http_route spk_api_routes[];
extern const size_t spk_api_routes_count;
extern const struct spk_http_route spk_health_routes[];
extern const size_t spk_health_routes_count;

#endif
