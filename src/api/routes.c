#include "core/compat.h"
#include "api/api_int.h"
#include "auth/auth.h"

/*
 * Every route of Tablewright's HTTP API. Keep it in step with
 * src/api/openapi.json: tests/integration/test_openapi.py fails when the two
 * differ.
 *
 * auth = true routes pass through api_authenticate() (authn.c) first; roles
 * is the mask of AUTH_ROLE_* allowed, 0 for every signed-in user. query is
 * the route's allow list of query-string names, checked by the server after
 * authentication and before the handler: any other name, a name given twice
 * or one without a value is 422. NULL: the route takes none.
 * http_query_ignored: the route never reads its query string and lets one
 * through; only the health check, which monitors may call with a
 * cache-busting parameter. Every /api/v1 route refuses what it does not
 * read, the same way.
 */

static const char *const paging_query[] = { "limit", "cursor", NULL };
static const char *const scripts_list_query[] = { "limit", "cursor", "user_id",
						  NULL };
static const char *const tables_rows_query[] = { "limit", "offset", "order_by",
						 "desc", NULL };
static const char *const jobs_list_query[] = { "status", "limit", "cursor",
					       NULL };
static const char *const jobs_events_query[] = { "last_event_id", NULL };

const struct http_route api_routes[] = {
	{ "GET", "/healthz", api_health_get, false, 0, http_query_ignored,
	  "Liveness and dependency health" },
	{ "GET", "/api/v1/openapi.json", api_openapi_get, false, 0, NULL,
	  "This API's OpenAPI 3 document" },

	{ "POST", "/api/v1/auth/login", api_auth_login, false, 0, NULL,
	  "Sign in with email and password; get a bearer token" },
	{ "GET", "/api/v1/auth/me", api_auth_me, true, 0, NULL,
	  "The signed-in user" },
	{ "POST", "/api/v1/auth/password", api_auth_password, true, 0, NULL,
	  "Change your own password" },
	{ "POST", "/api/v1/auth/logout", api_auth_logout, true, 0, NULL,
	  "Sign out: revoke every token of the signed-in user" },

	{ "GET", "/api/v1/users", api_users_list, true, AUTH_ROLE_ADMIN,
	  paging_query, "List users" },
	{ "POST", "/api/v1/users", api_users_create, true, AUTH_ROLE_ADMIN,
	  NULL, "Create a user" },
	{ "PATCH", "/api/v1/users/{id}", api_users_patch, true, AUTH_ROLE_ADMIN,
	  NULL, "Change a user's role, status or password" },

	{ "GET", "/api/v1/tables", api_tables_list, true, 0, NULL,
	  "List the tables and views of the data schemas" },
	{ "GET", "/api/v1/tables/{schema}/{name}", api_tables_get, true, 0,
	  NULL, "A table's columns and size" },
	{ "GET", "/api/v1/tables/{schema}/{name}/rows", api_tables_rows, true,
	  0, tables_rows_query, "A page of a table's rows" },
	{ "POST", "/api/v1/tables/{schema}/{name}/rollback",
	  api_tables_rollback, true, AUTH_ROLE_ADMIN | AUTH_ROLE_ANALYST, NULL,
	  "Put back the version of a table that a replace swapped out" },

	{ "GET", "/api/v1/scripts", api_scripts_list, true, 0,
	  scripts_list_query,
	  "List scripts (your own; all for admins and viewers)" },
	{ "POST", "/api/v1/scripts", api_scripts_create, true,
	  AUTH_ROLE_ADMIN | AUTH_ROLE_ANALYST, NULL, "Save a new script" },
	{ "POST", "/api/v1/scripts/validate", api_scripts_validate, true,
	  AUTH_ROLE_ADMIN | AUTH_ROLE_ANALYST, NULL,
	  "Check a script's syntax and policy without running it" },
	{ "GET", "/api/v1/scripts/{id}", api_scripts_get, true, 0, NULL,
	  "A script with its current code" },
	{ "PUT", "/api/v1/scripts/{id}", api_scripts_update, true,
	  AUTH_ROLE_ADMIN | AUTH_ROLE_ANALYST, NULL,
	  "Rename a script or save new code (a new version)" },
	{ "DELETE", "/api/v1/scripts/{id}", api_scripts_delete, true,
	  AUTH_ROLE_ADMIN | AUTH_ROLE_ANALYST, NULL, "Delete a script" },
	{ "GET", "/api/v1/scripts/{id}/versions", api_scripts_versions, true, 0,
	  paging_query, "A script's saved versions, newest first" },
	{ "GET", "/api/v1/scripts/{id}/versions/{version}",
	  api_scripts_version_get, true, 0, NULL,
	  "One saved version of a script" },

	{ "POST", "/api/v1/preview", api_preview_create, true,
	  AUTH_ROLE_ADMIN | AUTH_ROLE_ANALYST, NULL,
	  "Run a script on a sample of a table in the sandbox; writes nothing" },

	{ "POST", "/api/v1/jobs", api_jobs_create, true,
	  AUTH_ROLE_ADMIN | AUTH_ROLE_ANALYST, NULL,
	  "Run a script over a table into the output schema (queued)" },
	{ "GET", "/api/v1/jobs", api_jobs_list, true, 0, jobs_list_query,
	  "List jobs (your own; all for admins and viewers)" },
	{ "GET", "/api/v1/jobs/{id}", api_jobs_get, true, 0, NULL,
	  "A job's status, outcome and resource use" },
	{ "GET", "/api/v1/jobs/{id}/logs", api_jobs_logs, true, 0, NULL,
	  "A job's log as plain text" },
	{ "GET", "/api/v1/jobs/{id}/events", api_jobs_events, true, 0,
	  jobs_events_query,
	  "A job's status, log and metrics events (server-sent events)" },
	{ "POST", "/api/v1/jobs/{id}/cancel", api_jobs_cancel, true,
	  AUTH_ROLE_ADMIN | AUTH_ROLE_ANALYST, NULL,
	  "Cancel a queued or running job" },

	{ NULL, NULL, NULL, false, 0, NULL, NULL },
};
