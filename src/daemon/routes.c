/* The route table: every endpoint of docs/api.md. */
#include "daemon/daemon.h"

#define SB "/v1/sandboxgroups/{group}/sandboxes/{id}"

const struct api_route dm_routes[] = {
    {"GET", "/healthz", API_ROUTE_PUBLIC, dm_h_health},
    {"GET", "/metrics", API_ROUTE_ADMIN, dm_h_metrics},
    {"POST", "/v1/keys", API_ROUTE_ADMIN, dm_h_key_create},
    {"GET", "/v1/keys", API_ROUTE_ADMIN, dm_h_key_list},
    {"DELETE", "/v1/keys/{id}", API_ROUTE_ADMIN, dm_h_key_delete},
    {"GET", "/v1/sandboxgroups", 0, dm_h_group_list},
    {"PUT", "/v1/sandboxgroups/{group}", 0, dm_h_group_put},
    {"GET", "/v1/sandboxgroups/{group}", 0, dm_h_group_get},
    {"DELETE", "/v1/sandboxgroups/{group}", 0, dm_h_group_delete},
    {"POST", "/v1/sandboxgroups/{group}/sandboxes", 0, dm_h_sandbox_create},
    {"GET", "/v1/sandboxgroups/{group}/sandboxes", 0, dm_h_sandbox_list},
    {"GET", SB, 0, dm_h_sandbox_get},
    {"DELETE", SB, 0, dm_h_sandbox_delete},
    {"GET", SB "/stats", 0, dm_h_sandbox_stats},
    {"POST", SB "/exec", 0, dm_h_exec},
    {"PUT", SB "/files", API_ROUTE_UPLOAD, dm_h_file_put},
    {"GET", SB "/files", 0, dm_h_file_get},
    {"DELETE", SB "/files", 0, dm_h_file_delete},
    {"GET", SB "/files/list", 0, dm_h_file_list},
    {"GET", SB "/files/stat", 0, dm_h_file_stat},
    {"POST", SB "/files/mkdir", 0, dm_h_file_mkdir},
    {"POST", "/v1/images/pull", 0, dm_h_image_pull},
    {"POST", "/v1/images/import", API_ROUTE_UPLOAD, dm_h_image_import},
    {"GET", "/v1/images", 0, dm_h_image_list},
    {"DELETE", "/v1/images/{name...}", 0, dm_h_image_delete},
};

const size_t dm_n_routes = sizeof(dm_routes) / sizeof(dm_routes[0]);
