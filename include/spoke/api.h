/* The registry's HTTP resources: route tables for the API and health listeners. Handlers parse
 * requests and render replies; what a request means is decided by the registry layer
 * (include/spoke/registry.h), whose struct spk_app they are handed. They hold no state. */
#ifndef SPOKE_API_H
#define SPOKE_API_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "spoke/http.h"
#include "spoke/registry.h"

extern const struct spk_http_route spk_api_routes[];
extern const size_t spk_api_routes_count;
extern const struct spk_http_route spk_health_routes[];
extern const size_t spk_health_routes_count;

#endif
