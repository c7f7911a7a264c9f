/*
 * api.h - the HTTP API's resources, one file per resource (health.c,
 * openapi.c, ...). The route table in routes.c is the single list of every
 * route; the OpenAPI document (openapi.json, compiled in) must name exactly
 * the same routes, which a test checks through `tablewright routes`.
 */
#ifndef TW_API_API_H
#define TW_API_API_H

#include <stdint.h>

#include "config/config.h"
#include "db/db.h"
#include "http/http.h"

struct api_runners;

/* What every handler reaches through req->app. */
struct api_app {
	const struct cfg *cfg;
	struct db_pool *db;
	int64_t started_ms;
	struct api_runners *runners; /* previews; NULL: none */
};

/*
 * api_runners_start() makes the server ready to run sandbox runners for
 * previews and validation (src/api/runner_pool.c): it hardens the process
 * (plat_harden_process(), as a worker does, since the server now has
 * sandbox children) and keeps TW_PREVIEW_POOL runners started from now on.
 * A runner that cannot be found (no sandbox venv, a bad TW_SANDBOX_USER)
 * is logged and turns previews off (503), not the server. cfg must outlive
 * the pool. api_runners_stop() kills and removes every runner it holds and
 * frees it, once the HTTP server has stopped; NULL is fine.
 */
int api_runners_start(const struct cfg *cfg, struct api_runners **out,
		      struct buf *err);
void api_runners_stop(struct api_runners *p);

/*
 * api_authenticate() is the server's auth hook (src/api/authn.c): it
 * verifies the bearer token, loads the user (401 when the token is invalid,
 * expired, outdated or the user disabled), checks the route's roles (403),
 * and leaves the user in req->auth as a struct auth_user *.
 */
int api_authenticate(struct http_request *req, const struct http_route *route);

/* Every route of the API, terminated by an entry with a NULL method. */
extern const struct http_route api_routes[];

/* The OpenAPI 3 document, compiled in from src/api/openapi.json. */
extern const char api_openapi_json[];
extern const size_t api_openapi_json_len;

#endif
