#include "core/compat.h"

#include <unistd.h> /* close(); mingw-w64 ships it too */

#include <microhttpd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"
#include "http/http.h"
#include "http/http_int.h"
#include "log/log.h"
#include "platform/plat.h"

/*
 * Static files: the web UI's build folder, served for GET and HEAD on every
 * path outside the API. The rules are in docs/internals/http.md; in short,
 * a path is checked segment by segment (http__static_path_safe) before it
 * is joined to the folder, so no "..", hidden file, drive letter or device
 * name reaches plat_open_read() (which opens a UTF-8 path through the
 * wide-character API on Windows), and the opened file must be a regular
 * one.
 *
 * Symbolic links inside the folder are followed: the folder is the
 * program's own build output, and a link there needs write access to it.
 */

#define STATIC_PATH_MAX 1024

/* Shown for "/" when the web UI has not been built. */
static const char placeholder_html[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\">\n"
	"<head><meta charset=\"utf-8\"><title>Tablewright</title></head>\n"
	"<body>\n"
	"<h1>Tablewright</h1>\n"
	"<p>The web UI is not built yet. Build it with <code>npm run build</code> in <code>web/</code>, or point <code>TW_WEB_DIR</code> at a "
	"built copy.</p>\n"
	"<p>The server is running: see <a href=\"/healthz\">/healthz</a> and "
	"the API description at "
	"<a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p>\n"
	"</body>\n"
	"</html>\n";

static const struct {
	const char *ext;
	const char *type;
} content_types[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "htm", "text/html; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "json", "application/json" },
	{ "map", "application/json" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "webp", "image/webp" },
	{ "ico", "image/x-icon" },
	{ "woff", "font/woff" },
	{ "woff2", "font/woff2" },
	{ "wasm", "application/wasm" },
	{ "txt", "text/plain; charset=utf-8" },
};

const char *http__content_type(const char *name)
{
	const char *slash = strrchr(name, '/');
	const char *base = slash ? slash + 1 : name;
	const char *dot = strrchr(base, '.');
	size_t i;

	if (dot && dot != base) {
		for (i = 0; i < TW_ARRAY_SIZE(content_types); i++) {
			if (str_eq_nocase(dot + 1, content_types[i].ext))
				return content_types[i].type;
		}
	}
	return "application/octet-stream";
}

/*
 * Whether the n bytes at seg name a Windows device (CON, PRN, AUX, NUL,
 * COM1-9, LPT1-9), with or without an extension: opening "nul.js" on
 * Windows opens the device, and "com1" may block.
 */
static bool is_device_name(const char *seg, size_t n)
{
	static const char *const devices[] = { "con", "prn", "aux", "nul" };
	char base[5];
	size_t len = 0;
	size_t i;

	while (len < n && seg[len] != '.')
		len++;
	if (len < 3 || len > 4)
		return false;
	for (i = 0; i < len; i++)
		base[i] = (char)tolower((unsigned char)seg[i]);
	base[len] = '\0';
	if (len == 3) {
		for (i = 0; i < TW_ARRAY_SIZE(devices); i++) {
			if (strcmp(base, devices[i]) == 0)
				return true;
		}
		return false;
	}
	return (memcmp(base, "com", 3) == 0 || memcmp(base, "lpt", 3) == 0) &&
	       base[3] >= '1' && base[3] <= '9';
}

bool http__static_path_safe(const char *path)
{
	const char *p, *seg;

	if (path[0] != '/' || strlen(path) >= STATIC_PATH_MAX ||
	    strstr(path, ".."))
		return false;
	for (p = path; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7F || c == '\\' || c == ':')
			return false;
	}
	seg = path + 1;
	for (;;) {
		const char *end = strchr(seg, '/');
		size_t n = end ? (size_t)(end - seg) : strlen(seg);

		if (n == 0 || seg[0] == '.' || seg[n - 1] == '.' ||
		    seg[n - 1] == ' ' || is_device_name(seg, n))
			return false;
		if (!end)
			break;
		seg = end + 1;
	}
	return true;
}

/*
 * Opens dir + path (path safe, starting with '/') as a regular file, in
 * binary mode and not inherited by sandbox children. Returns 0 with *fd
 * and *size set, or TW_ENOTFOUND (missing, not a regular file,
 * unreadable).
 */
static int open_regular(const char *dir, const char *path, int *fd,
			uint64_t *size)
{
	struct buf full = BUF_INIT(STATIC_PATH_MAX * 4);
	int rc;

	rc = buf_addf(&full, "%s%s", dir, path);
	if (rc == 0)
		rc = plat_open_read(full.ptr, fd, size, NULL);
	if (rc < 0)
		rc = TW_ENOTFOUND;
	buf_release(&full);
	return rc;
}

/* Replies with the open file fd (taken over) of size bytes. */
static int reply_file(struct http_request *req, const char *name, int fd,
		      uint64_t size)
{
	struct MHD_Response *resp;
	int rc;

	/* libmicrohttpd owns fd from here on, also when this fails. */
	resp = MHD_create_response_from_fd(size, fd);
	if (!resp) {
		close(fd);
		rc = http_reply_error(req, TW_EINTERNAL,
				      "could not create a file response");
		goto out;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    http__content_type(name)) != MHD_YES) {
		MHD_destroy_response(resp);
		rc = http_reply_error(req, TW_EINTERNAL,
				      "could not add Content-Type");
		goto out;
	}
	/* No validators yet: let the browser revalidate every time. */
	http_add_header(req, "Cache-Control", "no-cache");
	rc = http__set_response(req, 200, resp);
out:
	return rc;
}

/* Whether the last segment of path has an extension ("/a/b.js"). */
static bool has_extension(const char *path)
{
	const char *base = strrchr(path, '/');

	return strchr(base ? base + 1 : path, '.') != NULL;
}

int http__serve_static(struct http_request *req, const char *static_dir)
{
	const char *path = req->path;
	int fd = -1;
	uint64_t size = 0;
	int rc;

	req->priv->is_static = true;
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	if (!http__static_path_safe(path)) {
		rc = http_reply_error(req, TW_ENOTFOUND, "no such file");
		goto out;
	}
	if (static_dir && !*static_dir)
		static_dir = NULL; /* "" + "/etc/passwd" is not under a folder
				    */
	rc = static_dir ? open_regular(static_dir, path, &fd, &size)
			: TW_ENOTFOUND;
	if (rc == 0) {
		rc = reply_file(req, path, fd, size);
		goto out;
	}
	/* Single-page app: client-side routes ("/jobs/12") get index.html. */
	if (!has_extension(path) && static_dir) {
		rc = open_regular(static_dir, "/index.html", &fd, &size);
		if (rc == 0) {
			rc = reply_file(req, "/index.html", fd, size);
			goto out;
		}
	}
	if (strcmp(path, "/index.html") == 0 && strcmp(req->path, "/") == 0) {
		rc = http_reply_data(req, 200, "text/html; charset=utf-8",
				     placeholder_html,
				     sizeof(placeholder_html) - 1);
		goto out;
	}
	rc = http_reply_error(req, TW_ENOTFOUND, "no such file");
out:
	return rc;
}
