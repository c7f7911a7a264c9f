#include "core/compat.h"

#include <setjmp.h>
#include <cmocka.h>

#include "core/arena.h"
#include "http/http.h"
#include "http/http_int.h"

/* Handlers are never called here; distinct functions tell routes apart. */
static int h_list(struct http_request *req)
{
	(void)req;
	return 0;
}

static int h_create(struct http_request *req)
{
	(void)req;
	return 0;
}

static int h_get(struct http_request *req)
{
	(void)req;
	return 0;
}

static int h_validate(struct http_request *req)
{
	(void)req;
	return 0;
}

static int h_rows(struct http_request *req)
{
	(void)req;
	return 0;
}

static int h_head(struct http_request *req)
{
	(void)req;
	return 0;
}

static const char *const list_query[] = { "limit", "cursor", NULL };

static const struct http_route routes[] = {
	{ "GET", "/healthz", h_list, false, 0, http_query_ignored, "" },
	{ "GET", "/api/v1/scripts", h_list, true, 0, list_query, "" },
	{ "POST", "/api/v1/scripts", h_create, true, 0, NULL, "" },
	{ "GET", "/api/v1/scripts/{id}", h_get, true, 0, NULL, "" },
	{ "DELETE", "/api/v1/scripts/{id}", h_get, true, 0, NULL, "" },
	{ "POST", "/api/v1/scripts/validate", h_validate, true, 0, NULL, "" },
	{ "GET", "/api/v1/tables/{schema}/{name}/rows", h_rows, true, 0, NULL,
	  "" },
	{ "GET", "/api/v1/{a}/{b}", h_rows, true, 0, NULL, "" },
	{ "GET", "/api/v1/x/y", h_get, true, 0, NULL, "" },
	{ "HEAD", "/api/v1/head", h_head, false, 0, NULL, "" },
	{ "GET", "/api/v1/head", h_get, false, 0, NULL, "" },
	{ NULL, NULL, NULL, false, 0, NULL, NULL },
};

static int setup(void **state)
{
	*state = arena_new();
	return 0;
}

static int teardown(void **state)
{
	arena_free(*state);
	return 0;
}

static enum http_match_kind match(void **state, const char *method,
				  const char *path, struct http_match *m)
{
	return http__route_match(routes, method, path, *state, m);
}

static void test_literal(void **state)
{
	struct http_match m;

	assert_int_equal(match(state, "GET", "/healthz", &m), HTTP_MATCH_FOUND);
	assert_ptr_equal(m.route, &routes[0]);
	assert_int_equal(m.nparams, 0);
	assert_int_equal(match(state, "GET", "/api/v1/scripts", &m),
			 HTTP_MATCH_FOUND);
	assert_ptr_equal(m.route->handler, h_list);
	assert_int_equal(match(state, "POST", "/api/v1/scripts", &m),
			 HTTP_MATCH_FOUND);
	assert_ptr_equal(m.route->handler, h_create);
}

static void test_params(void **state)
{
	struct http_match m;

	assert_int_equal(match(state, "GET", "/api/v1/scripts/42", &m),
			 HTTP_MATCH_FOUND);
	assert_ptr_equal(m.route, &routes[3]);
	assert_int_equal(m.nparams, 1);
	assert_string_equal(m.names[0], "id");
	assert_string_equal(m.values[0], "42");

	assert_int_equal(match(state, "GET",
			       "/api/v1/tables/public/orders/rows", &m),
			 HTTP_MATCH_FOUND);
	assert_ptr_equal(m.route->handler, h_rows);
	assert_int_equal(m.nparams, 2);
	assert_string_equal(m.names[0], "schema");
	assert_string_equal(m.values[0], "public");
	assert_string_equal(m.names[1], "name");
	assert_string_equal(m.values[1], "orders");
}

static void test_param_needs_one_nonempty_segment(void **state)
{
	struct http_match m;

	/* Empty segment. */
	assert_int_equal(match(state, "GET", "/api/v1/scripts//", &m),
			 HTTP_MATCH_NONE);
	assert_int_equal(match(state, "GET", "/api/v1/tables/public//rows", &m),
			 HTTP_MATCH_NONE);
	/* A parameter never spans a '/'. */
	assert_int_equal(match(state, "GET", "/api/v1/tables/a/b/c/rows", &m),
			 HTTP_MATCH_NONE);
	assert_int_equal(match(state, "GET", "/api/v1/scripts/1/2", &m),
			 HTTP_MATCH_NONE);
}

static void test_trailing_slash_differs(void **state)
{
	struct http_match m;

	assert_int_equal(match(state, "GET", "/healthz/", &m), HTTP_MATCH_NONE);
	assert_int_equal(match(state, "GET", "/api/v1/scripts/", &m),
			 HTTP_MATCH_NONE);
	assert_int_equal(match(state, "GET", "/api/v1/scripts/7/", &m),
			 HTTP_MATCH_NONE);
	assert_int_equal(match(state, "GET", "/api/v1/script", &m),
			 HTTP_MATCH_NONE);
	assert_int_equal(match(state, "GET", "/healthzz", &m), HTTP_MATCH_NONE);
	assert_int_equal(match(state, "GET", "", &m), HTTP_MATCH_NONE);
	assert_int_equal(match(state, "GET", "healthz", &m), HTTP_MATCH_NONE);
}

static void test_literal_beats_param(void **state)
{
	struct http_match m;

	/* Fewer parameters win, whatever the table order. */
	assert_int_equal(match(state, "POST", "/api/v1/scripts/validate", &m),
			 HTTP_MATCH_FOUND);
	assert_ptr_equal(m.route->handler, h_validate);
	assert_int_equal(match(state, "GET", "/api/v1/x/y", &m),
			 HTTP_MATCH_FOUND);
	assert_ptr_equal(m.route, &routes[8]);
	assert_int_equal(m.nparams, 0);
	assert_int_equal(match(state, "GET", "/api/v1/x/z", &m),
			 HTTP_MATCH_FOUND);
	assert_ptr_equal(m.route, &routes[7]);
	/* GET on the literal's path falls to the parameter route. */
	assert_int_equal(match(state, "GET", "/api/v1/scripts/validate", &m),
			 HTTP_MATCH_FOUND);
	assert_ptr_equal(m.route, &routes[3]);
	assert_string_equal(m.values[0], "validate");
}

static void test_wrong_method(void **state)
{
	struct http_match m;

	assert_int_equal(match(state, "POST", "/healthz", &m),
			 HTTP_MATCH_WRONG_METHOD);
	assert_null(m.route);
	assert_string_equal(m.allow, "GET, HEAD");
	assert_int_equal(match(state, "PUT", "/api/v1/scripts/3", &m),
			 HTTP_MATCH_WRONG_METHOD);
	assert_string_equal(m.allow, "GET, HEAD, DELETE");
	assert_int_equal(match(state, "DELETE", "/api/v1/scripts", &m),
			 HTTP_MATCH_WRONG_METHOD);
	assert_string_equal(m.allow, "GET, HEAD, POST");
	/* Methods are case-sensitive (RFC 9110). */
	assert_int_equal(match(state, "get", "/healthz", &m),
			 HTTP_MATCH_WRONG_METHOD);
	/* A path nothing matches is not a 405. */
	assert_int_equal(match(state, "POST", "/nowhere", &m), HTTP_MATCH_NONE);
	assert_string_equal(m.allow, "");
}

static void test_head(void **state)
{
	struct http_match m;

	assert_int_equal(match(state, "HEAD", "/healthz", &m),
			 HTTP_MATCH_FOUND);
	assert_ptr_equal(m.route, &routes[0]);
	assert_int_equal(match(state, "HEAD", "/api/v1/scripts/5", &m),
			 HTTP_MATCH_FOUND);
	assert_string_equal(m.values[0], "5");
	/* An explicit HEAD route wins over HEAD-via-GET. */
	assert_int_equal(match(state, "HEAD", "/api/v1/head", &m),
			 HTTP_MATCH_FOUND);
	assert_ptr_equal(m.route->handler, h_head);
	assert_string_equal(m.allow, "HEAD, GET");
}

static void test_api_space(void **state)
{
	(void)state;
	assert_true(http__is_api_path("/api"));
	assert_true(http__is_api_path("/api/"));
	assert_true(http__is_api_path("/api/v1/nope"));
	assert_true(http__is_api_path("/healthz"));
	assert_true(http__is_api_path("/healthz/"));
	assert_false(http__is_api_path("/"));
	assert_false(http__is_api_path("/apix"));
	assert_false(http__is_api_path("/healthzz"));
	assert_false(http__is_api_path("/jobs/12"));
	assert_false(http__is_api_path("/assets/api/x.js"));
}

static void test_static_paths(void **state)
{
	static const char *const good[] = {
		"/index.html",	    "/assets/app-3f2a.js",
		"/favicon.ico",	    "/jobs/12",
		"/a/b/c/d.css",	    "/fonts/x.woff2",
		"/conx/x.js",	    "/comx.js",
		"/nullable.js",	    "/a b/c.txt",
		"/caf\xc3\xa9.txt", "/COM0.txt",
		"/x.y.z",
	};
	static const char *const bad[] = {
		"/",
		"",
		"index.html",
		"/..",
		"/../etc/passwd",
		"/assets/../../etc/passwd",
		"/a..b",
		"/a/..",
		"/.env",
		"/.git/config",
		"/assets/.hidden",
		"/.",
		"/./index.html",
		"//etc/passwd",
		"/assets//app.js",
		"/assets/",
		"/..\\..\\windows",
		"/a\\b",
		"/C:/Windows/win.ini",
		"/index.html::$DATA",
		"/a\nb",
		"/a\x7f",
		"/a\tb",
		"/index.html.",
		"/index.html ",
		"/NUL",
		"/nul.js",
		"/con",
		"/assets/aux.css",
		"/COM1",
		"/lpt9.txt",
		"/prn.html",
		"/con.d/x.js",
	};
	char longp[1100];
	size_t i;

	(void)state;
	for (i = 0; i < TW_ARRAY_SIZE(good); i++) {
		if (!http__static_path_safe(good[i]))
			fail_msg("rejected safe path \"%s\"", good[i]);
	}
	for (i = 0; i < TW_ARRAY_SIZE(bad); i++) {
		if (http__static_path_safe(bad[i]))
			fail_msg("accepted unsafe path \"%s\"", bad[i]);
	}
	longp[0] = '/';
	memset(longp + 1, 'a', sizeof(longp) - 2);
	longp[sizeof(longp) - 1] = '\0';
	assert_false(http__static_path_safe(longp));
}

static void test_content_types(void **state)
{
	(void)state;
	assert_string_equal(http__content_type("/index.html"), "text/html; "
							       "charset=utf-8");
	assert_string_equal(http__content_type("/a/app.JS"), "text/javascript; "
							     "charset=utf-8");
	assert_string_equal(http__content_type("/m.mjs"), "text/javascript; "
							  "charset=utf-8");
	assert_string_equal(http__content_type("/s.css"), "text/css; "
							  "charset=utf-8");
	assert_string_equal(http__content_type("/x.json"), "application/json");
	assert_string_equal(http__content_type("/x.js.map"),
			    "application/json");
	assert_string_equal(http__content_type("/i.svg"), "image/svg+xml");
	assert_string_equal(http__content_type("/i.png"), "image/png");
	assert_string_equal(http__content_type("/favicon.ico"), "image/x-icon");
	assert_string_equal(http__content_type("/f.woff2"), "font/woff2");
	assert_string_equal(http__content_type("/r.txt"), "text/plain; "
							  "charset=utf-8");
	assert_string_equal(http__content_type("/x.exe"),
			    "application/octet-stream");
	assert_string_equal(http__content_type("/noext"),
			    "application/octet-stream");
	assert_string_equal(http__content_type("/dir.js/noext"),
			    "application/octet-stream");
}

static void test_json_content_type(void **state)
{
	static const char *const good[] = {
		"application/json",
		"Application/JSON",
		"application/json; charset=utf-8",
		"application/json;charset=UTF-8",
		"application/json; charset=\"utf-8\"",
		"application/json ; charset=utf8",
		"application/json;",
	};
	static const char *const bad[] = {
		"",
		"text/plain",
		"application/jsonx",
		"application/json-patch+json",
		"application/x-www-form-urlencoded",
		"application/json; charset=latin1",
		"application/json; charset=utf-16",
		"application/jso",
		"application/json junk",
		"application/json; junk",
	};
	size_t i;

	(void)state;
	assert_false(http__content_type_is_json(NULL));
	for (i = 0; i < TW_ARRAY_SIZE(good); i++) {
		if (!http__content_type_is_json(good[i]))
			fail_msg("rejected \"%s\"", good[i]);
	}
	for (i = 0; i < TW_ARRAY_SIZE(bad); i++) {
		if (http__content_type_is_json(bad[i]))
			fail_msg("accepted \"%s\"", bad[i]);
	}
}

/* The allow list travels with the matched route, HEAD-via-GET too. */
static void test_route_carries_its_query_list(void **state)
{
	struct http_match m;

	assert_int_equal(match(state, "GET", "/api/v1/scripts", &m),
			 HTTP_MATCH_FOUND);
	assert_ptr_equal(m.route->query, list_query);
	assert_int_equal(match(state, "HEAD", "/api/v1/scripts", &m),
			 HTTP_MATCH_FOUND);
	assert_ptr_equal(m.route->query, list_query);
	assert_int_equal(match(state, "POST", "/api/v1/scripts", &m),
			 HTTP_MATCH_FOUND);
	assert_null(m.route->query);
	assert_int_equal(match(state, "GET", "/healthz", &m), HTTP_MATCH_FOUND);
	assert_ptr_equal(m.route->query, http_query_ignored);
}

static void test_query_scan_accepts_allowed_names(void **state)
{
	struct http_query_scan qs;

	(void)state;
	http__query_scan_init(&qs, list_query);
	http__query_scan_add(&qs, "cursor", "17");
	http__query_scan_add(&qs, "limit", "");
	assert_null(qs.unknown);
	assert_null(qs.repeated);
	assert_null(qs.empty);
}

static void test_query_scan_finds_the_first_of_each_fault(void **state)
{
	struct http_query_scan qs;

	(void)state;
	http__query_scan_init(&qs, list_query);
	http__query_scan_add(&qs, "limit", "1");
	http__query_scan_add(&qs, "Limit", "1");
	http__query_scan_add(&qs, "sort", "id");
	http__query_scan_add(&qs, "cursor", NULL);
	http__query_scan_add(&qs, "limit", "2");
	http__query_scan_add(&qs, "cursor", "3");
	http__query_scan_add(&qs, "limit", NULL);
	/* Names are case-sensitive, as in every URL. */
	assert_string_equal(qs.unknown, "Limit");
	assert_string_equal(qs.repeated, "limit");
	assert_string_equal(qs.empty, "cursor");
}

/* An empty list, what a route with query NULL gets, allows no name. */
static void test_query_scan_empty_list_allows_nothing(void **state)
{
	static const char *const none[] = { NULL };
	struct http_query_scan qs;

	(void)state;
	http__query_scan_init(&qs, none);
	assert_null(qs.unknown);
	http__query_scan_add(&qs, "limit", "1");
	assert_string_equal(qs.unknown, "limit");
	http__query_scan_add(&qs, "x", NULL);
	assert_string_equal(qs.unknown, "limit");
	assert_null(qs.repeated);
	assert_null(qs.empty);
}

/* Every one of the most names a list may hold has its own bit. */
static void test_query_scan_longest_list(void **state)
{
	static const char *names[HTTP_QUERY_MAX_NAMES + 1];
	static char text[HTTP_QUERY_MAX_NAMES][8];
	struct http_query_scan qs;
	size_t i;

	(void)state;
	for (i = 0; i < HTTP_QUERY_MAX_NAMES; i++) {
		snprintf(text[i], sizeof(text[i]), "n%zu", i);
		names[i] = text[i];
	}
	names[HTTP_QUERY_MAX_NAMES] = NULL;
	http__query_scan_init(&qs, names);
	for (i = 0; i < HTTP_QUERY_MAX_NAMES; i++)
		http__query_scan_add(&qs, names[i], "v");
	assert_null(qs.unknown);
	assert_null(qs.repeated);
	http__query_scan_add(&qs, names[HTTP_QUERY_MAX_NAMES - 1], "v");
	assert_string_equal(qs.repeated, names[HTTP_QUERY_MAX_NAMES - 1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_literal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_params, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_param_needs_one_nonempty_segment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trailing_slash_differs,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_literal_beats_param, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wrong_method, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_head, setup, teardown),
		cmocka_unit_test(test_api_space),
		cmocka_unit_test(test_static_paths),
		cmocka_unit_test(test_content_types),
		cmocka_unit_test(test_json_content_type),
		cmocka_unit_test_setup_teardown(
			test_route_carries_its_query_list, setup, teardown),
		cmocka_unit_test(test_query_scan_accepts_allowed_names),
		cmocka_unit_test(test_query_scan_finds_the_first_of_each_fault),
		cmocka_unit_test(test_query_scan_empty_list_allows_nothing),
		cmocka_unit_test(test_query_scan_longest_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
