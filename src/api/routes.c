#include "core/compat.h"
#include "api/api_int.h"
#include "auth/auth.h"

/*
 * Every route of Tablewright's HTTP API. Keep it in step with
 * src/api/openapi.json: tests/integration/test_openapi.py fails when the two
 * differ.
 *
 * auth = true routes pass through api_authenticate() (authn.c) first; roles
 * is the mask of AUTH_ROLE_* allowed, 0 for every signed-in user.
 */
const struct http_route api_routes[] = {
	{ "GET", "/healthz", api_health_get, false, 0,
	  "Liveness and dependency health" },
	{ "GET", "/api/v1/openapi.json", api_openapi_get, false, 0,
	  "This API's OpenAPI 3 document" },

	{ "POST", "/api/v1/auth/login", api_auth_login, false, 0,
	  "Sign in with email and password; get a bearer token" },
	{ "GET", "/api/v1/auth/me", api_auth_me, true, 0,
	  "The signed-in user" },
	{ "POST", "/api/v1/auth/password", api_auth_password, true, 0,
	  "Change your own password" },

	{ "GET", "/api/v1/users", api_users_list, true, AUTH_ROLE_ADMIN,
	  "List users" },
	{ "POST", "/api/v1/users", api_users_create, true, AUTH_ROLE_ADMIN,
	  "Create a user" },
	{ "PATCH", "/api/v1/users/{id}", api_users_patch, true, AUTH_ROLE_ADMIN,
	  "Change a user's role, status or password" },

	{ NULL, NULL, NULL, false, 0, NULL },
};
