#include "core/compat.h"
#include "api/api_int.h"

/*
 * Every route of Tablewright's HTTP API. Keep it in step with
 * src/api/openapi.json: tests/integration/test_openapi.py fails when the two
 * differ.
 */
const struct http_route api_routes[] = {
	{ "GET", "/healthz", api_health_get, false, 0,
	  "Liveness and dependency health" },
	{ "GET", "/api/v1/openapi.json", api_openapi_get, false, 0,
	  "This API's OpenAPI 3 document" },
	{ NULL, NULL, NULL, false, 0, NULL },
};
