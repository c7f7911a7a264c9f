/*
 * cluster.c - the embedded PostgreSQL cluster of `tablewright run` when no
 * TW_DATABASE_URL is configured.
 *
 * Layout under dir (default var/pg):
 *	dir/data/          the cluster (initdb), owner-only as initdb makes it
 *	dir/password       the "tablewright" role's password, owner-only
 *	dir/port           the port of the last start, reused when free
 *	dir/postgres.log   the server's log (pg_ctl -l)
 *
 * The cluster listens on 127.0.0.1 only, over TCP only (no Unix socket),
 * and accepts SCRAM-SHA-256 passwords only. The password is 24 random bytes
 * (libsodium) in hex; it reaches initdb through a private file that is
 * deleted right after, never through a command line or the environment.
 *
 * As root (our Linux machines; initdb and postgres refuse to run as root),
 * every PostgreSQL program runs as the "postgres" system user and dir is
 * given to that user; plat_run() and plat_chown_to_user() do nothing of the
 * kind elsewhere. No platform conditionals here: the candidate binary
 * directories of every platform are simply tried, and the ones that do not
 * exist cost a failed stat() each.
 */
#include "core/compat.h"

#include <sodium.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "db/db.h"
#include "db/db_int.h"
#include "platform/plat.h"

#define PG_USER "postgres"	  /* the system user, when we are root */
#define PG_ROLE "tablewright"	  /* the superuser role initdb creates */
#define PG_DATABASE "tablewright" /* the database Tablewright uses */
#define PW_BYTES 24		  /* random bytes of the password */
#define TAIL_LINES 20		  /* log lines quoted in an error */
#define LOG_ROTATE_BYTES ((size_t)8 * 1024 * 1024)
#define PG_NEWEST 18
#define PG_OLDEST 12
#define START_ATTEMPTS 3
#define CONF_MARKER "# Added by Tablewright"

/* Paths and programs of one cluster. */
struct cluster {
	struct buf data;     /* dir/data */
	struct buf log;	     /* dir/postgres.log */
	struct buf pwpath;   /* dir/password */
	struct buf portpath; /* dir/port */
	struct buf pg_ctl;
	struct buf initdb;
};

static void path_join(struct buf *out, const char *dir, const char *name)
{
	buf_addf(out, "%s%c%s", dir, TW_PATH_SEP, name);
}

static void cluster_init(struct cluster *c, const char *dir)
{
	buf_init(&c->data, 8192);
	buf_init(&c->log, 8192);
	buf_init(&c->pwpath, 8192);
	buf_init(&c->portpath, 8192);
	buf_init(&c->pg_ctl, 8192);
	buf_init(&c->initdb, 8192);
	path_join(&c->data, dir, "data");
	path_join(&c->log, dir, "postgres.log");
	path_join(&c->pwpath, dir, "password");
	path_join(&c->portpath, dir, "port");
}

static void cluster_release(struct cluster *c)
{
	buf_release(&c->data);
	buf_release(&c->log);
	buf_release(&c->pwpath);
	buf_release(&c->portpath);
	buf_release(&c->pg_ctl);
	buf_release(&c->initdb);
}

/* --- finding the binaries ------------------------------------------------ */

static void strv_push(char ***v, size_t *n, char *s)
{
	*v = xrealloc(*v, (*n + 2) * sizeof(**v));
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

static void strv_free(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* The usual bin directories of PostgreSQL major version n, every platform. */
static void push_version_dirs(char ***v, size_t *n, int major)
{
	struct buf b = BUF_INIT(256);

	buf_addf(&b, "/usr/lib/postgresql/%d/bin", major); /* Debian */
	strv_push(v, n, buf_detach(&b, NULL));
	buf_addf(&b, "/usr/pgsql-%d/bin", major); /* PGDG RPMs */
	strv_push(v, n, buf_detach(&b, NULL));
	buf_addf(&b, "C:\\Program Files\\PostgreSQL\\%d\\bin", major);
	strv_push(v, n, buf_detach(&b, NULL)); /* EDB installer */
}

/*
 * pg_bin_candidates() lists the directories searched after PATH, newest
 * version first, NULL-terminated; free with strv_free(). With major > 0
 * (the version of an existing data directory) only that version's
 * directories are listed.
 */
static char **pg_bin_candidates(int major)
{
	char **v = NULL;
	size_t n = 0;
	int m;

	if (major > 0) {
		push_version_dirs(&v, &n, major);
		return v;
	}
	for (m = PG_NEWEST; m >= PG_OLDEST; m--)
		push_version_dirs(&v, &n, m);
	strv_push(&v, &n, xstrdup("/usr/local/pgsql/bin")); /* source build */
	return v;
}

/*
 * find_in_dir() looks for pg_ctl (or pg_ctl.exe) in exactly dir. Returns 0
 * with the path in out, or TW_ENOTFOUND.
 */
static int find_in_dir(const char *dir, struct buf *out)
{
	static const char *const names[] = { "pg_ctl", "pg_ctl.exe" };
	struct buf cand = BUF_INIT(8192);
	int rc = TW_ENOTFOUND;
	size_t i;

	for (i = 0; i < TW_ARRAY_SIZE(names) && rc < 0; i++) {
		buf_reset(&cand);
		path_join(&cand, dir, names[i]);
		rc = plat_find_program(cand.ptr, NULL, out);
	}
	buf_release(&cand);
	return rc;
}

/* The major version of an existing data directory (PG_VERSION), or 0. */
static int data_major(const struct cluster *c)
{
	struct buf path = BUF_INIT(8192);
	struct buf ver = BUF_INIT(64);
	long v = 0;

	path_join(&path, c->data.ptr, "PG_VERSION");
	if (plat_read_file(path.ptr, &ver, NULL) == 0) {
		buf_trim(&ver);
		if (str_to_long(ver.ptr, 1, 1000, &v) < 0)
			v = 0;
	}
	buf_release(&path);
	buf_release(&ver);
	return (int)v;
}

/*
 * find_tools() finds pg_ctl, then takes initdb from the same directory so
 * the two always belong to one installation: pg_bin (TW_PG_BIN) when given,
 * else for an existing cluster its own version's directories, else PATH and
 * then pg_bin_candidates().
 */
static int find_tools(struct cluster *c, const char *pg_bin, struct buf *err)
{
	char **dirs = NULL;
	size_t dirlen;
	const char *tail;
	const char *suffix;
	int major;
	int i;
	int rc = TW_ENOTFOUND;

	if (pg_bin && *pg_bin) {
		rc = find_in_dir(pg_bin, &c->pg_ctl);
		if (rc < 0) {
			buf_errf(err,
				 "TW_PG_BIN is \"%s\" but there is no pg_ctl "
				 "program in that directory",
				 pg_bin);
			rc = TW_ECONFIG;
			goto out;
		}
	}
	major = data_major(c);
	if (rc < 0 && major > 0) {
		dirs = pg_bin_candidates(major);
		for (i = 0; dirs[i] && rc < 0; i++)
			rc = find_in_dir(dirs[i], &c->pg_ctl);
		strv_free(dirs);
	}
	if (rc < 0) {
		dirs = pg_bin_candidates(0);
		rc = plat_find_program("pg_ctl", (const char *const *)dirs,
				       &c->pg_ctl);
		strv_free(dirs);
	}
	if (rc < 0) {
		buf_errf(err,
			 "could not find PostgreSQL's pg_ctl in PATH or the "
			 "usual install locations: install PostgreSQL %d or "
			 "later, or set TW_PG_BIN to the directory that holds "
			 "initdb and pg_ctl",
			 PG_OLDEST);
		rc = TW_ECONFIG;
		goto out;
	}
	/* initdb next to pg_ctl, with the same extension (".exe"). */
	dirlen = c->pg_ctl.len;
	while (dirlen > 0 && c->pg_ctl.ptr[dirlen - 1] != '/' &&
	       c->pg_ctl.ptr[dirlen - 1] != TW_PATH_SEP)
		dirlen--;
	tail = c->pg_ctl.len >= 4 ? c->pg_ctl.ptr + c->pg_ctl.len - 4 : "";
	suffix = str_eq_nocase(tail, ".exe") ? ".exe" : "";
	buf_add(&c->initdb, c->pg_ctl.ptr, dirlen);
	buf_addf(&c->initdb, "initdb%s", suffix);
	if (!plat_is_file(c->initdb.ptr)) {
		buf_errf(err, "found \"%s\" but no initdb next to it",
			 c->pg_ctl.ptr);
		rc = TW_ECONFIG;
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/* --- running the programs ------------------------------------------------ */

/*
 * add_tail() appends the last TAIL_LINES lines of text to err, each on its
 * own line after a newline.
 */
static void add_tail(struct buf *err, const char *text, size_t len)
{
	size_t start = len;
	int lines = 0;

	while (start > 0 && text[start - 1] == '\n')
		start--;
	len = start;
	while (start > 0) {
		if (text[start - 1] == '\n' && ++lines == TAIL_LINES)
			break;
		start--;
	}
	if (len > start)
		buf_errf(err, "\n%.*s", (int)(len - start), text + start);
}

/* Appends the tail of the server log to err. */
static void add_log_tail(const struct cluster *c, struct buf *err)
{
	struct buf text = BUF_INIT(LOG_ROTATE_BYTES * 2);

	if (plat_read_file(c->log.ptr, &text, NULL) == 0 && text.len) {
		buf_errf(err, "\nlast lines of \"%s\":", c->log.ptr);
		add_tail(err, text.ptr, text.len);
	}
	buf_release(&text);
}

/*
 * run_pg() runs one PostgreSQL program as the postgres user when we are
 * root, with a time limit. *status gets its exit status; its output goes to
 * out (may be NULL).
 */
static int run_pg(const char *const *argv, int64_t timeout_ms, int *status,
		  struct buf *out, struct buf *err)
{
	struct plat_run_opts ro;

	memset(&ro, 0, sizeof(ro));
	ro.argv = argv;
	ro.run_as_user = PG_USER;
	ro.output = out;
	ro.timeout_ms = timeout_ms;
	return plat_run(&ro, status, err);
}

/* --- first use: initdb --------------------------------------------------- */

/*
 * What ensure_conf() appends to postgresql.conf. The port is not here: it
 * is given on pg_ctl's command line at every start.
 */
static const char conf_block[] = "\n" CONF_MARKER " (src/db/cluster.c).\n"
				 "# Loopback TCP only, no socket, SCRAM.\n"
				 "listen_addresses = '127.0.0.1'\n"
				 "unix_socket_directories = ''\n"
				 "password_encryption = 'scram-sha-256'\n"
				 "max_connections = 100\n"
				 "shared_buffers = 128MB\n";

/* Appends the settings Tablewright needs unless they are there already. */
static int ensure_conf(const struct cluster *c, struct buf *err)
{
	struct buf path = BUF_INIT(8192);
	struct buf conf = BUF_INIT(LOG_ROTATE_BYTES);
	int rc;

	path_join(&path, c->data.ptr, "postgresql.conf");
	rc = plat_read_file(path.ptr, &conf, err);
	if (rc < 0)
		goto out;
	if (strstr(conf.ptr, CONF_MARKER))
		goto out;
	rc = buf_adds(&conf, conf_block);
	if (rc < 0) {
		buf_errf(err, "\"%s\" is too large", path.ptr);
		goto out;
	}
	rc = plat_write_file_private(path.ptr, conf.ptr, conf.len, false, err);
	if (rc < 0)
		goto out;
	/* Written by root (0600): hand it back to the server's user. */
	rc = plat_chown_to_user(path.ptr, PG_USER, err);
out:
	buf_release(&path);
	buf_release(&conf);
	return rc;
}

/*
 * init_cluster() creates the cluster: a fresh password in dir/password, and
 * initdb with the "tablewright" superuser, SCRAM authentication, UTF-8 and
 * the C locale (sorting and comparisons do not depend on the machine).
 */
static int init_cluster(const char *dir, const struct cluster *c,
			struct buf *err)
{
	unsigned char raw[PW_BYTES];
	char hex[PW_BYTES * 2 + 1];
	struct buf pwfile = BUF_INIT(8192);
	struct buf out = BUF_INIT(BUF_SMALL_CAP);
	const char *argv[] = { c->initdb.ptr, "-D",    c->data.ptr,
			       "-U",	      PG_ROLE, "--pwfile",
			       NULL,	      "-A",    "scram-sha-256",
			       "-E",	      "UTF8",  "--no-locale",
			       NULL };
	bool pwfile_written = false;
	int status = -1;
	int rc;

	if (sodium_init() < 0) {
		buf_errf(err, "could not initialize libsodium");
		rc = TW_EINTERNAL;
		goto out;
	}
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
	rc = plat_write_file_private(c->pwpath.ptr, hex, strlen(hex), false,
				     err);
	if (rc < 0)
		goto out;
	path_join(&pwfile, dir, "initdb.pw");
	pwfile_written = true;
	rc = plat_write_file_private(pwfile.ptr, hex, strlen(hex), false, err);
	if (rc < 0)
		goto out;
	/* initdb runs as postgres and must read it. */
	rc = plat_chown_to_user(pwfile.ptr, PG_USER, err);
	if (rc < 0)
		goto out;
	argv[6] = pwfile.ptr;
	rc = run_pg(argv, 300000, &status, &out, err);
	if (rc < 0)
		goto out;
	if (status != 0) {
		buf_errf(err,
			 "could not create the PostgreSQL cluster in \"%s\": "
			 "initdb exited with status %d; its last lines:",
			 c->data.ptr, status);
		add_tail(err, out.ptr, out.len);
		rc = TW_EIO;
		goto out;
	}
	rc = 0;
out:
	if (pwfile_written)
		plat_unlink(pwfile.ptr);
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(hex, sizeof(hex));
	buf_release(&pwfile);
	buf_release(&out);
	return rc;
}

/* --- start --------------------------------------------------------------- */

/*
 * is_running() asks pg_ctl whether the cluster runs: a server left over
 * from an earlier run, or started by hand (pg_ctl status exits with 0).
 */
static int is_running(const struct cluster *c, bool *running, struct buf *err)
{
	const char *argv[] = { c->pg_ctl.ptr, "-D", c->data.ptr, "status",
			       NULL };
	int status = -1;
	int rc;

	*running = false;
	rc = run_pg(argv, 60000, &status, NULL, err);
	if (rc == 0)
		*running = status == 0;
	return rc;
}

/*
 * running_port() gives the port of a running cluster, from line 4 of
 * postmaster.pid, in *port; 0 when the cluster does not run.
 */
static int running_port(const struct cluster *c, int *port, struct buf *err)
{
	struct buf path = BUF_INIT(8192);
	struct buf pid = BUF_INIT(64 * 1024);
	const char *p;
	const char *eol;
	bool running = false;
	long v = 0;
	int line;
	int rc;

	*port = 0;
	rc = is_running(c, &running, err);
	if (rc < 0 || !running)
		goto out;
	path_join(&path, c->data.ptr, "postmaster.pid");
	rc = plat_read_file(path.ptr, &pid, err);
	if (rc < 0)
		goto out;
	p = pid.ptr;
	for (line = 1; line < 4 && p; line++) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	eol = p ? strchr(p, '\n') : NULL;
	if (eol)
		pid.ptr[eol - pid.ptr] = '\0';
	if (!p || str_to_long(p, 1, 65535, &v) < 0) {
		buf_errf(err,
			 "a PostgreSQL server runs in \"%s\" but its port "
			 "could not be read from \"%s\"",
			 c->data.ptr, path.ptr);
		rc = TW_EIO;
		goto out;
	}
	*port = (int)v;
out:
	buf_release(&path);
	buf_release(&pid);
	return rc;
}

/* The port of the last start (dir/port), or 0. */
static int saved_port(const struct cluster *c)
{
	struct buf text = BUF_INIT(64);
	long v = 0;

	if (plat_read_file(c->portpath.ptr, &text, NULL) == 0) {
		buf_trim(&text);
		if (str_to_long(text.ptr, 1024, 65535, &v) < 0)
			v = 0;
	}
	buf_release(&text);
	return (int)v;
}

/*
 * rotate_log() moves a server log that grew past LOG_ROTATE_BYTES to
 * postgres.log.1 at start, so the log stays small enough to quote from.
 */
static void rotate_log(const struct cluster *c)
{
	struct buf text = BUF_INIT(LOG_ROTATE_BYTES);
	struct buf old = BUF_INIT(8192);

	if (plat_read_file(c->log.ptr, &text, NULL) == TW_ETOOBIG) {
		buf_addf(&old, "%s.1", c->log.ptr);
		plat_rename(c->log.ptr, old.ptr, NULL);
	}
	buf_release(&text);
	buf_release(&old);
}

/* The length of the server log now (0 when there is none). */
static size_t log_length(const struct cluster *c)
{
	struct buf text = BUF_INIT(LOG_ROTATE_BYTES * 2);
	size_t n = 0;

	if (plat_read_file(c->log.ptr, &text, NULL) == 0)
		n = text.len;
	buf_release(&text);
	return n;
}

/*
 * port_was_taken() says whether the server log, from offset from on, shows
 * a start that failed because the port was in use: only then is another
 * port worth a try.
 */
static bool port_was_taken(const struct cluster *c, size_t from)
{
	struct buf text = BUF_INIT(LOG_ROTATE_BYTES * 2);
	bool taken = false;

	if (plat_read_file(c->log.ptr, &text, NULL) == 0 && text.len > from)
		taken = strstr(text.ptr + from, "could not create any TCP/IP "
						"sockets") != NULL;
	buf_release(&text);
	return taken;
}

/*
 * start_server() starts the cluster with pg_ctl and waits until it accepts
 * connections. It tries the port of the last start first (so the URL stays
 * the same across restarts), then a free port; a port found free can be
 * taken by another program before the server binds it, so a start that
 * failed for that reason is retried on another one.
 */
static int start_server(const struct cluster *c, int *port, struct buf *err)
{
	struct buf opt = BUF_INIT(64);
	struct buf out = BUF_INIT(BUF_SMALL_CAP);
	struct buf text = BUF_INIT(64);
	const char *argv[] = { c->pg_ctl.ptr, "-D", c->data.ptr, "-l",
			       c->log.ptr,    "-w", "-t",	 "60",
			       "-o",	      NULL, "start",	 NULL };
	size_t log_mark;
	int status = -1;
	int attempt;
	int p = 0;
	int rc = 0;

	rotate_log(c);
	for (attempt = 0; attempt < START_ATTEMPTS; attempt++) {
		p = attempt == 0 ? saved_port(c) : 0;
		if (p == 0) {
			rc = plat_free_tcp_port(&p, err);
			if (rc < 0)
				goto out;
		}
		buf_reset(&opt);
		buf_addf(&opt, "-p %d", p);
		argv[9] = opt.ptr;
		buf_reset(&out);
		log_mark = log_length(c);
		rc = run_pg(argv, 90000, &status, &out, err);
		if (rc < 0)
			goto out;
		if (status == 0 || !port_was_taken(c, log_mark))
			break;
	}
	if (status != 0) {
		buf_errf(err,
			 "could not start the PostgreSQL cluster in \"%s\" "
			 "(pg_ctl exited with status %d)",
			 c->data.ptr, status);
		add_tail(err, out.ptr, out.len);
		add_log_tail(c, err);
		rc = TW_EIO;
		goto out;
	}
	*port = p;
	buf_addf(&text, "%d\n", p);
	/* Only a convenience for the next start: failure is harmless. */
	plat_write_file_private(c->portpath.ptr, text.ptr, text.len, false,
				NULL);
	rc = 0;
out:
	buf_release(&opt);
	buf_release(&out);
	buf_release(&text);
	return rc;
}

/*
 * ensure_database() connects to the "postgres" database as tablewright
 * and creates the "tablewright" database when it is missing. A server that
 * is still starting ("the database system is starting up") gets a few
 * seconds.
 */
static int ensure_database(int port, const char *password, struct buf *err)
{
	char portstr[16];
	const char *keys[] = { "host",
			       "port",
			       "user",
			       "password",
			       "dbname",
			       "connect_timeout",
			       "application_name",
			       NULL };
	const char *vals[] = { "127.0.0.1", portstr, PG_ROLE,	    password,
			       "postgres",  "10",    "tablewright", NULL };
	const char *params[1] = { PG_DATABASE };
	struct buf detail = BUF_INIT(BUF_SMALL_CAP);
	PGconn *conn = NULL;
	PGresult *res = NULL;
	int tries;
	int rc;

	snprintf(portstr, sizeof(portstr), "%d", port);
	for (tries = 0;; tries++) {
		conn = PQconnectdbParams(keys, vals, 0);
		if (PQstatus(conn) == CONNECTION_OK)
			break;
		if (tries == 20) {
			buf_errf(err, "could not connect to the embedded "
				      "PostgreSQL cluster: ");
			db__add_first_line(err, PQerrorMessage(conn),
					   "unknown error");
			db__redact(err, 0, password);
			rc = TW_EUNAVAIL;
			goto out;
		}
		PQfinish(conn);
		conn = NULL;
		plat_sleep_ms(250);
	}
	rc = db_exec(conn,
		     "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1",
		     1, params, &res, &detail);
	if (rc == 0 && PQntuples(res) == 0)
		rc = db_exec(conn, "CREATE DATABASE " PG_DATABASE, 0, NULL,
			     NULL, &detail);
	/* Another process created it meanwhile: that is what we want. */
	if (rc == TW_ECONFLICT)
		rc = 0;
	if (rc < 0)
		buf_errf(err, "could not create database \"%s\": %s",
			 PG_DATABASE, detail.ptr);
out:
	PQclear(res);
	PQfinish(conn);
	buf_release(&detail);
	return rc;
}

int db_cluster_start_bin(const char *dir, const char *pg_bin,
			 struct buf *url_out, bool *started, struct buf *err)
{
	struct cluster c;
	struct buf pw = BUF_INIT(1024);
	struct buf version = BUF_INIT(8192);
	int port = 0;
	int rc;

	if (started)
		*started = false;
	cluster_init(&c, dir);
	rc = find_tools(&c, pg_bin, err);
	if (rc < 0)
		goto out;
	rc = plat_mkdir_p(dir, err);
	if (rc < 0)
		goto out;
	/* As root: initdb and the server run as postgres and write here. */
	rc = plat_chown_to_user(dir, PG_USER, err);
	if (rc < 0)
		goto out;
	path_join(&version, c.data.ptr, "PG_VERSION");
	if (!plat_is_file(version.ptr)) {
		rc = init_cluster(dir, &c, err);
		if (rc < 0)
			goto out;
	}
	rc = ensure_conf(&c, err);
	if (rc < 0)
		goto out;
	rc = plat_read_file(c.pwpath.ptr, &pw, err);
	if (rc < 0)
		goto out;
	buf_trim(&pw);
	if (pw.len == 0) {
		buf_errf(err, "the password file \"%s\" is empty",
			 c.pwpath.ptr);
		rc = TW_ECONFIG;
		goto out;
	}
	rc = running_port(&c, &port, err);
	if (rc < 0)
		goto out;
	if (port == 0) {
		rc = start_server(&c, &port, err);
		if (rc < 0)
			goto out;
		if (started)
			*started = true;
	}
	rc = ensure_database(port, pw.ptr, err);
	if (rc < 0) {
		add_log_tail(&c, err);
		goto out;
	}
	/* The password is hex: nothing in it needs URL escaping. */
	rc = buf_addf(url_out, "postgresql://%s:%s@127.0.0.1:%d/%s", PG_ROLE,
		      pw.ptr, port, PG_DATABASE);
out:
	buf_release_secret(&pw);
	buf_release(&version);
	cluster_release(&c);
	return rc;
}

int db_cluster_start(const char *dir, struct buf *url_out, struct buf *err)
{
	return db_cluster_start_bin(dir, getenv("TW_PG_BIN"), url_out, NULL,
				    err);
}

/* --- stop ---------------------------------------------------------------- */

/* pg_ctl stop -m fast: sessions are ended, the server shuts down cleanly. */
static int stop_server(const struct cluster *c, struct buf *err)
{
	const char *argv[] = { c->pg_ctl.ptr, "-D", c->data.ptr, "-m",	 "fast",
			       "-w",	      "-t", "60",	 "stop", NULL };
	struct buf out = BUF_INIT(BUF_SMALL_CAP);
	int status = -1;
	int rc;

	rc = run_pg(argv, 90000, &status, &out, err);
	if (rc == 0 && status != 0) {
		buf_errf(err,
			 "could not stop the PostgreSQL cluster in \"%s\" "
			 "(pg_ctl exited with status %d)",
			 c->data.ptr, status);
		add_tail(err, out.ptr, out.len);
		rc = TW_EIO;
	}
	buf_release(&out);
	return rc;
}

int db_cluster_stop_bin(const char *dir, const char *pg_bin, struct buf *err)
{
	struct cluster c;
	struct buf version = BUF_INIT(8192);
	bool running = false;
	int rc = 0;

	cluster_init(&c, dir);
	path_join(&version, c.data.ptr, "PG_VERSION");
	/* No cluster, nothing to stop. */
	if (!plat_is_file(version.ptr))
		goto out;
	rc = find_tools(&c, pg_bin, err);
	if (rc < 0)
		goto out;
	rc = is_running(&c, &running, err);
	if (rc < 0 || !running)
		goto out;
	rc = stop_server(&c, err);
out:
	buf_release(&version);
	cluster_release(&c);
	return rc;
}

int db_cluster_stop(const char *dir, struct buf *err)
{
	return db_cluster_stop_bin(dir, getenv("TW_PG_BIN"), err);
}
