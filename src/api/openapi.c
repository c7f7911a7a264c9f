#include "core/compat.h"
#include "api/api_int.h"

/*
 * GET /api/v1/openapi.json: the OpenAPI 3 document compiled in from
 * src/api/openapi.json (cmake/embed.cmake), so a release needs no file
 * beside the binary.
 */
int api_openapi_get(struct http_request *req)
{
	return http_reply_data(req, 200, "application/json", api_openapi_json,
			       api_openapi_json_len);
}
