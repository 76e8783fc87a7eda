/* The route tables: adding a resource is adding a row. */
#include "api_internal.h"
#include "spoke/banned.h"

const struct spk_http_route spk_api_routes[] = {
    {"POST", "/modules", api_modules_create},
    {"GET", "/modules", api_modules_list},
    {"GET", "/modules/{name}", api_module_get},
    {"PATCH", "/modules/{name}", api_module_update},
    {"POST", "/modules/{name}/versions", api_versions_push},
    {"GET", "/modules/{name}/versions", api_versions_list},
    {"GET", "/modules/{name}/versions/{version}", api_version_get},
    {"GET", "/modules/{name}/versions/{version}/files/{path...}", api_file_get},
    {"GET", "/modules/{name}/versions/{version}/dependencies", api_version_dependencies},
    {"GET", "/modules/{name}/versions/{version}/dependents", api_version_dependents},
    {"GET", "/modules/{name}/policy", api_policy_get},
    {"PUT", "/modules/{name}/policy", api_policy_put},
    {"POST", "/modules/{name}/compatibility", api_compatibility},
    {"GET", "/modules/{name}/diff", api_diff},
    {"POST", "/validate", api_validate},
};
const size_t spk_api_routes_count = sizeof(spk_api_routes) / sizeof(spk_api_routes[0]);

const struct spk_http_route spk_health_routes[] = {
    {"GET", "/health/live", api_health_live},
    {"GET", "/health/ready", api_health_ready},
    {"GET", "/metrics", api_metrics_get},
};
const size_t spk_health_routes_count = sizeof(spk_health_routes) / sizeof(spk_health_routes[0]);
