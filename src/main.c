/*
 * main.c - the `tablewright` command line: init, migrate, serve, worker, run,
 * routes, and the commands later features add, each one row of commands[]
 * (docs/development.md, "Adding a command").
 *
 * Every command that needs settings loads them the same way (defaults, .env,
 * environment, flags; see config/config.h), stops with one clear line and a
 * non-zero exit on a bad setting, and opens the logs before doing work.
 */
#include "core/compat.h"

#include <sodium.h>

#include "api/api.h"
#include "cli/cli.h"
#include "config/config.h"
#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "db/db.h"
#include "http/http.h"
#include "log/log.h"
#include "platform/plat.h"
#include "worker/worker.h"

#define SECRET_KEY_BYTES 32

/*
 * The command table (git's commands[] in git.c). Each command says what
 * main() prepares before its handler runs:
 *
 *  - CMD_SETTINGS: load the settings (defaults, .env, environment, flags)
 *    and open the logs. Without it the handler gets cfg = NULL and runs
 *    before any of that, so `--help` works with a broken .env.
 *  - CMD_EMBEDDED: sets cli->embedded, so cli_db_open() uses the private
 *    cluster under TW_PG_DIR when TW_DATABASE_URL is not set; without it
 *    TW_DATABASE_URL must be set.
 *  - CMD_DROP_SECRETS: the signing key and the first admin's password are
 *    wiped and freed before the handler runs (a process that only runs jobs
 *    must not hold what mints tokens).
 *  - CMD_SUBCOMMAND: the first word after the command is its subcommand
 *    (`user add`).
 *
 * need is what cfg_require() checks before the handler runs (CFG_NEED_*);
 * `run` checks the key itself, after it has made one. help is the text
 * `--help` shows beside the name, one line per "\n"; NULL keeps the
 * command out of the list. `--help` lists the commands in this order.
 */
enum cmd_flags {
	CMD_SETTINGS = 1 << 0,
	CMD_EMBEDDED = 1 << 1,
	CMD_DROP_SECRETS = 1 << 2,
	CMD_SUBCOMMAND = 1 << 3,
};

struct command {
	const char *name;
	int (*fn)(const struct cli *cli, struct cfg *cfg, struct buf *err);
	unsigned flags; /* enum cmd_flags */
	unsigned need;	/* enum cfg_need */
	const char *help;
};

static int cmd_help(const struct cli *cli, struct cfg *cfg, struct buf *err);
static int cmd_version(const struct cli *cli, struct cfg *cfg, struct buf *err);
static int cmd_routes(const struct cli *cli, struct cfg *cfg, struct buf *err);
static int cmd_init(const struct cli *cli, struct cfg *cfg, struct buf *err);
static int cmd_migrate(const struct cli *cli, struct cfg *cfg, struct buf *err);
static int cmd_serve(const struct cli *cli, struct cfg *cfg, struct buf *err);
static int cmd_worker(const struct cli *cli, struct cfg *cfg, struct buf *err);
static int cmd_run(const struct cli *cli, struct cfg *cfg, struct buf *err);
static int cmd_seed_demo(const struct cli *cli, struct cfg *cfg,
			 struct buf *err);

static const struct command commands[] = {
	{ "init", cmd_init, CMD_SETTINGS | CMD_EMBEDDED, 0,
	  "create .env with a fresh signing key if it has none,\n"
	  "migrate the database and create the first admin user\n"
	  "[--admin-email EMAIL] [--admin-password-stdin]" },
	{ "migrate", cmd_migrate, CMD_SETTINGS | CMD_EMBEDDED, 0,
	  "apply the database migrations not yet applied" },
	{ "serve", cmd_serve, CMD_SETTINGS, CFG_NEED_SECRET,
	  "serve the HTTP API and the web UI [--bind HOST:PORT]" },
	{ "worker", cmd_worker, CMD_SETTINGS | CMD_DROP_SECRETS,
	  CFG_NEED_DATABASE, "run queued jobs [--concurrency N]" },
	{ "user", cli_user, CMD_SETTINGS | CMD_EMBEDDED | CMD_SUBCOMMAND, 0,
	  "manage user accounts:\n"
	  "  user add --email EMAIL --role admin|analyst|viewer\n"
	  "  user set-password --email EMAIL\n"
	  "  user disable --email EMAIL\n"
	  "  user enable --email EMAIL\n"
	  "  user list\n"
	  "passwords are asked for on the terminal, or read from one\n"
	  "line of standard input with --password-stdin" },
	{ "run", cmd_run, CMD_SETTINGS | CMD_EMBEDDED, 0,
	  "the single-box default: init, then server and worker\n"
	  "together; uses a private PostgreSQL cluster under\n"
	  "var/pg when TW_DATABASE_URL is not set" },
	{ "seed-demo", cmd_seed_demo, CMD_SETTINGS | CMD_EMBEDDED, 0,
	  "create the demo tables (orders, customers, events) that\n"
	  "do not exist yet and save the example scripts as the\n"
	  "admin's [--rows N, default 100000 orders]" },
	{ "rollback", cli_rollback,
	  CMD_SETTINGS | CMD_EMBEDDED | CMD_SUBCOMMAND, 0,
	  "put back the version of a table that a replace job swapped\n"
	  "out: rollback SCHEMA.TABLE (a table of the output schema)" },
	{ "routes", cmd_routes, 0, 0,
	  "print every HTTP route, one \"METHOD PATH\" per line" },
	{ "version", cmd_version, 0, 0, "print the version" },
	{ "help", cmd_help, 0, 0, NULL },
};

/* The command named name, or NULL. */
static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < TW_ARRAY_SIZE(commands); i++) {
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	}
	return NULL;
}

static const char usage_head[] =
	"usage: tablewright [--env-file PATH] <command> [options]\n"
	"\n"
	"Commands:\n";

static const char usage_tail[] =
	"\n"
	"Options for every command:\n"
	"  --env-file PATH     read settings from PATH instead of ./.env\n"
	"  --bind HOST:PORT    TW_BIND\n"
	"  --log-dir DIR       TW_LOG_DIR\n"
	"  --log-level LEVEL   TW_LOG_LEVEL (error, warn, info, debug)\n"
	"  --concurrency N     TW_WORKER_CONCURRENCY\n"
	"\n"
	"Settings are described in docs/configuration.md.\n";

/* `help`: the usage, with each command's help lines beside its name. */
static int cmd_help(const struct cli *cli, struct cfg *cfg, struct buf *err)
{
	size_t i;

	(void)cli;
	(void)cfg;
	(void)err;
	fputs(usage_head, stdout);
	for (i = 0; i < TW_ARRAY_SIZE(commands); i++) {
		const char *line = commands[i].help;
		bool first = true;

		while (line) {
			const char *nl = strchr(line, '\n');
			int len = nl ? (int)(nl - line) : (int)strlen(line);

			if (first)
				printf("  %-9s %.*s\n", commands[i].name, len,
				       line);
			else
				printf("            %.*s\n", len, line);
			first = false;
			line = nl ? nl + 1 : NULL;
		}
	}
	fputs(usage_tail, stdout);
	return 0;
}

static int cmd_version(const struct cli *cli, struct cfg *cfg, struct buf *err)
{
	(void)cli;
	(void)cfg;
	(void)err;
	printf("tablewright %s\n", TW_VERSION);
	return 0;
}

/* Flags every command accepts, each the same as one TW_ key. */
static const struct {
	const char *flag;
	const char *key;
} flag_keys[] = {
	{ "--bind", "TW_BIND" },
	{ "--log-dir", "TW_LOG_DIR" },
	{ "--log-level", "TW_LOG_LEVEL" },
	{ "--concurrency", "TW_WORKER_CONCURRENCY" },
	{ "--admin-email", "TW_ADMIN_EMAIL" },
};

static void die_line(const char *msg)
{
	fprintf(stderr, "tablewright: %s\n", msg);
}

/*
 * take_value() stores the value of a flag spelled name, if a is that flag:
 * returns true when it matched, with *rc set to a usage error when the value
 * is missing.
 */
static bool take_value(const char *a, size_t namelen, const char *name,
		       const char *val, const char **out, int *rc)
{
	if (namelen != strlen(name) || strncmp(a, name, namelen))
		return false;
	if (!val) {
		fprintf(stderr, "tablewright: %s needs a value\n", name);
		*rc = CLI_EXIT_USAGE;
		return true;
	}
	*out = val;
	return true;
}

/* Whether the command named name takes a subcommand word. */
static bool takes_subcommand(const char *name)
{
	const struct command *cmd = find_command(name);

	return cmd && (cmd->flags & CMD_SUBCOMMAND);
}

/*
 * parse_args() fills cli from argv. Returns 0, or CLI_EXIT_USAGE after printing
 * what was wrong.
 */
static int parse_args(int argc, char **argv, struct cli *cli)
{
	int i;
	size_t k;
	int rc = 0;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		const char *eq;
		size_t namelen;
		bool matched = false;

		if (!strcmp(a, "--help") || !strcmp(a, "-h") ||
		    !strcmp(a, "help")) {
			cli->command = "help";
			return 0;
		}
		if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
			cli->command = "version";
			return 0;
		}
		if (a[0] != '-') {
			if (cli->command && !cli->subcommand &&
			    takes_subcommand(cli->command)) {
				cli->subcommand = a;
				continue;
			}
			if (cli->command) {
				fprintf(stderr,
					"tablewright: unexpected argument "
					"\"%s\"\n",
					a);
				return CLI_EXIT_USAGE;
			}
			cli->command = a;
			continue;
		}
		if (!strcmp(a, "--admin-password-stdin") ||
		    !strcmp(a, "--password-stdin")) {
			cli->password_stdin = true;
			continue;
		}
		eq = strchr(a, '=');
		namelen = eq ? (size_t)(eq - a) : strlen(a);
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[i + 1];
		if (take_value(a, namelen, "--env-file", val, &cli->env_file,
			       &rc) ||
		    take_value(a, namelen, "--email", val, &cli->email, &rc) ||
		    take_value(a, namelen, "--role", val, &cli->role, &rc) ||
		    take_value(a, namelen, "--rows", val, &cli->rows, &rc)) {
			if (rc)
				return rc;
			if (!eq)
				i++;
			continue;
		}
		for (k = 0; k < TW_ARRAY_SIZE(flag_keys); k++) {
			if (strlen(flag_keys[k].flag) != namelen ||
			    strncmp(a, flag_keys[k].flag, namelen))
				continue;
			if (!val) {
				fprintf(stderr,
					"tablewright: %s needs a value\n",
					flag_keys[k].flag);
				return CLI_EXIT_USAGE;
			}
			if (cli->nflags == TW_ARRAY_SIZE(cli->flag_key)) {
				die_line("too many options");
				return CLI_EXIT_USAGE;
			}
			cli->flag_key[cli->nflags] = flag_keys[k].key;
			cli->flag_value[cli->nflags] = val;
			cli->flag_name[cli->nflags] = flag_keys[k].flag;
			cli->nflags++;
			if (!eq)
				i++;
			matched = true;
			break;
		}
		if (!matched) {
			fprintf(stderr,
				"tablewright: unknown option \"%s\" (see "
				"tablewright --help)\n",
				a);
			return CLI_EXIT_USAGE;
		}
	}
	if (!cli->command)
		cli->command = "help";
	return 0;
}

/* Loads defaults, .env, environment and flags into cfg. */
static int load_config(const struct cli *cli, struct cfg *cfg, struct buf *err)
{
	size_t i;
	int rc;

	cfg_init(cfg);
	rc = cfg_load(cfg, cli->env_file, err);
	for (i = 0; rc == 0 && i < cli->nflags; i++)
		rc = cfg_set(cfg, cli->flag_key[i], cli->flag_value[i],
			     cli->flag_name[i], err);
	return rc;
}

/* Opens the three log files, echoing to stderr when it is a terminal. */
static int open_logs(const struct cfg *cfg, struct buf *err)
{
	struct log_opts lo;
	enum log_level lvl = LOG_INFO;

	log_parse_level(cfg->log_level, &lvl);
	lo.dir = cfg->log_dir;
	lo.level = lvl;
	lo.max_bytes = (size_t)cfg->log_max_bytes;
	lo.max_files = (int)cfg->log_max_files;
	lo.to_stderr = plat_stderr_is_tty();
	return log_open(&lo, err);
}

/*
 * ensure_secret_key() makes sure the .env file holds a TW_SECRET_KEY:
 * creates the file with a fresh 256-bit key when it does not exist, appends
 * a key when the file has none, and never replaces an existing one. A key
 * that comes from the environment only is left alone too. *created says
 * whether a key was written; a written key is set in cfg as well, as a
 * reload of the settings would (cfg had no key from anywhere), which a
 * reload cannot do: cfg_load() took the secrets out of the environment.
 */
static int ensure_secret_key(const struct cli *cli, struct cfg *cfg,
			     bool *created, struct buf *err)
{
	const char *path = cli->env_file ? cli->env_file : ".env";
	unsigned char key[SECRET_KEY_BYTES];
	char hex[SECRET_KEY_BYTES * 2 + 1];
	struct buf content = BUF_INIT(1024 * 1024);
	struct buf rerr = BUF_INIT(BUF_SMALL_CAP);
	int rc = 0;

	*created = false;
	if (cfg->secret_key)
		goto out;
	if (sodium_init() < 0) {
		buf_adds(err, "could not initialise libsodium");
		rc = TW_EINTERNAL;
		goto out;
	}
	randombytes_buf(key, sizeof(key));
	sodium_bin2hex(hex, sizeof(hex), key, sizeof(key));
	mem_wipe(key, sizeof(key));

	if (plat_is_file(path)) {
		rc = plat_read_file(path, &content, &rerr);
		if (rc < 0) {
			buf_addf(err, "could not read \"%s\": %s", path,
				 rerr.ptr);
			goto out;
		}
		if (content.len && content.ptr[content.len - 1] != '\n')
			buf_addch(&content, '\n');
	} else {
		buf_adds(&content, "# Tablewright settings; see "
				   "docs/configuration.md.\n"
				   "# Keep this file private: it holds the key "
				   "that "
				   "signs every login token.\n");
	}
	buf_addf(&content, "TW_SECRET_KEY=%s\n", hex);
	rc = plat_write_file_private(path, content.ptr, content.len, false,
				     err);
	if (rc == 0)
		rc = cfg_set(cfg, "TW_SECRET_KEY", hex, path, err);
	mem_wipe(hex, sizeof(hex));
	if (rc == 0)
		*created = true;
out:
	buf_release_secret(&content);
	buf_release(&rerr);
	return rc;
}

static int start_server(struct cfg *cfg, struct api_app *app,
			struct http_server **srv, struct buf *err)
{
	struct http_server_opts so;
	int rc;

	memset(&so, 0, sizeof(so));
	so.host = cfg->bind_host;
	so.port = cfg->bind_port;
	so.threads = (int)cfg->http_threads;
	so.max_connections_per_addr = (int)cfg->http_max_connections_per_addr;
	so.head_timeout_s = (int)cfg->http_head_timeout_s;
	so.body_timeout_s = (int)cfg->http_body_timeout_s;
	so.static_dir = cfg->web_dir;
	so.routes = api_routes;
	so.app = app;
	so.auth_hook = api_authenticate;
	rc = http_server_start(srv, &so, err);
	if (rc < 0)
		return rc;
	/* Tests and scripts read this line to learn the port. */
	printf("tablewright: listening on http://%s:%d/\n", cfg->bind_host,
	       http_server_port(*srv));
	fflush(stdout);
	log_info(LOG_APP, "listening on http://%s:%d/", cfg->bind_host,
		 http_server_port(*srv));
	return 0;
}

static int start_worker(const struct cfg *cfg, struct worker **wk,
			struct buf *err)
{
	int rc = worker_start(cfg, (int)cfg->worker_concurrency, wk, err);

	if (rc < 0)
		return rc;
	/* Tests and scripts read this line to learn the worker's id. */
	printf("tablewright: worker %s running up to %d job%s at once\n",
	       worker_id(*wk), worker_concurrency(*wk),
	       worker_concurrency(*wk) == 1 ? "" : "s");
	fflush(stdout);
	return 0;
}

/*
 * serve_until_stopped() runs the HTTP server (and, for `run`, the embedded
 * cluster and the worker) until Ctrl-C or SIGTERM. The caller has checked
 * the signing key.
 */
static int serve_until_stopped(const struct cli *cli, struct cfg *cfg,
			       struct buf *err)
{
	bool embedded = cli->embedded;
	struct cli_db db = { NULL, false };
	struct http_server *srv = NULL;
	struct worker *wk = NULL;
	struct api_app app;
	bool fresh = false;
	int rc;

	memset(&app, 0, sizeof(app));
	rc = plat_shutdown_init(err);
	if (rc < 0)
		goto out;
	rc = cli_db_open(cfg, embedded, &db, err);
	if (rc < 0)
		goto out;
	if (embedded) {
		/* `run` is init and serve in one: schema, then first admin. */
		rc = cli_migrate(db.pool, cfg, err);
		if (rc == 0)
			rc = cli_ensure_admin(db.pool, cfg, cli, &fresh, err);
		/* A fresh installation gets the demo data to try things on. */
		if (rc == 0 && fresh)
			rc = cli_seed_demo(db.pool, cfg, CLI_DEMO_ROWS_DEFAULT,
					   err);
	} else {
		rc = cli_check_schema(db.pool, err);
	}
	if (rc < 0)
		goto out;
	memset(&app, 0, sizeof(app));
	app.cfg = cfg;
	app.db = db.pool;
	app.started_ms = plat_monotonic_ms();
	/* Previews run in sandbox runners the server keeps started. */
	rc = api_runners_start(cfg, &app.runners, err);
	if (rc < 0)
		goto out;
	rc = start_server(cfg, &app, &srv, err);
	if (rc < 0)
		goto out;
	/* `run` is the single box: the worker runs in the same process. */
	if (embedded) {
		rc = start_worker(cfg, &wk, err);
		if (rc < 0)
			goto out;
	}
	plat_shutdown_wait(-1);
	log_info(LOG_APP, "shutting down");
	http_server_stop(srv);
	srv = NULL;
	worker_stop(wk);
	wk = NULL;
out:
	if (srv)
		http_server_stop(srv);
	worker_stop(wk);
	api_runners_stop(app.runners);
	cli_db_close(cfg, &db);
	return rc;
}

/* `serve`: the HTTP server on TW_DATABASE_URL's database. */
static int cmd_serve(const struct cli *cli, struct cfg *cfg, struct buf *err)
{
	return serve_until_stopped(cli, cfg, err);
}

/* `run`: the signing key, then the server and the worker in one process. */
static int cmd_run(const struct cli *cli, struct cfg *cfg, struct buf *err)
{
	bool created = false;
	int rc;

	rc = ensure_secret_key(cli, cfg, &created, err);
	/* A key in .env or the environment may still be too weak. */
	if (rc == 0)
		rc = cfg_require(cfg, CFG_NEED_SECRET, err);
	if (rc == 0)
		rc = serve_until_stopped(cli, cfg, err);
	return rc;
}

/*
 * cmd_worker() runs jobs until Ctrl-C or SIGTERM, then stops gracefully
 * (TW_WORKER_STOP_S). It needs the database, not the signing key: the
 * command table drops the key (and the first admin's password) before it
 * runs, so nothing that reaches the memory of a process that only runs
 * jobs can mint tokens.
 */
static int cmd_worker(const struct cli *cli, struct cfg *cfg, struct buf *err)
{
	struct cli_db db = { NULL, false };
	struct worker *wk = NULL;
	int rc;

	rc = plat_shutdown_init(err);
	if (rc == 0)
		rc = cli_db_open(cfg, cli->embedded, &db, err);
	if (rc == 0)
		rc = cli_check_schema(db.pool, err);
	/* The worker opens its own pool: this one only checked the schema. */
	cli_db_close(cfg, &db);
	if (rc == 0)
		rc = start_worker(cfg, &wk, err);
	if (rc < 0)
		return rc;
	plat_shutdown_wait(-1);
	log_info(LOG_WORKER, "shutting down");
	worker_stop(wk);
	return 0;
}

static int cmd_migrate(const struct cli *cli, struct cfg *cfg, struct buf *err)
{
	struct cli_db db;
	int rc;

	rc = cli_db_open(cfg, cli->embedded, &db, err);
	if (rc == 0)
		rc = cli_migrate(db.pool, cfg, err);
	cli_db_close(cfg, &db);
	return rc;
}

/* `init`: the signing key, the schema and the first admin. */
static int cmd_init(const struct cli *cli, struct cfg *cfg, struct buf *err)
{
	struct cli_db db;
	bool created = false;
	int rc;

	rc = ensure_secret_key(cli, cfg, &created, err);
	if (rc < 0)
		return rc;
	if (created)
		printf("tablewright: wrote a fresh signing key to %s\n",
		       cli->env_file ? cli->env_file : ".env");
	rc = cli_db_open(cfg, cli->embedded, &db, err);
	if (rc == 0)
		rc = cli_migrate(db.pool, cfg, err);
	if (rc == 0)
		rc = cli_ensure_admin(db.pool, cfg, cli, NULL, err);
	cli_db_close(cfg, &db);
	if (rc == 0)
		printf("tablewright: initialised\n");
	return rc;
}

/* `seed-demo [--rows N]`. */
static int cmd_seed_demo(const struct cli *cli, struct cfg *cfg,
			 struct buf *err)
{
	struct cli_db db = { NULL, false };
	long rows = CLI_DEMO_ROWS_DEFAULT;
	int rc;

	if (cli->rows &&
	    str_to_long(cli->rows, 1, CLI_DEMO_ROWS_MAX, &rows) < 0) {
		buf_errf(err, "--rows needs a whole number from 1 to %d",
			 CLI_DEMO_ROWS_MAX);
		return CLI_EXIT_USAGE;
	}
	rc = cli_db_open(cfg, cli->embedded, &db, err);
	if (rc == 0)
		rc = cli_check_schema(db.pool, err);
	if (rc == 0)
		rc = cli_seed_demo(db.pool, cfg, rows, err);
	cli_db_close(cfg, &db);
	return rc;
}

static int cmd_routes(const struct cli *cli, struct cfg *cfg, struct buf *err)
{
	const struct http_route *r;

	(void)cli;
	(void)cfg;
	(void)err;
	for (r = api_routes; r->method; r++)
		printf("%s %s\n", r->method, r->pattern);
	return 0;
}

/* Wipes and frees a secret setting a command has no use for. */
static void forget_secret(char **secret)
{
	mem_free_secret(*secret);
	*secret = NULL;
}

int main(int argc, char **argv)
{
	const struct command *cmd;
	struct cli cli;
	struct cfg cfg;
	struct buf err = BUF_INIT(BUF_SMALL_CAP);
	bool logs_open = false;
	int rc;

	memset(&cli, 0, sizeof(cli));
	rc = parse_args(argc, argv, &cli);
	if (rc)
		return rc;
	cmd = find_command(cli.command);
	if (cmd && !(cmd->flags & CMD_SETTINGS))
		return cmd->fn(&cli, NULL, &err);

	/* An unknown command too: a broken setting is reported first. */
	rc = load_config(&cli, &cfg, &err);
	if (rc < 0)
		goto fail;
	if (!cmd) {
		buf_addf(&err,
			 "unknown command \"%s\" (see tablewright --help)",
			 cli.command);
		rc = CLI_EXIT_USAGE;
		goto fail_usage;
	}
	rc = open_logs(&cfg, &err);
	if (rc < 0)
		goto fail;
	logs_open = true;
	log_info(LOG_APP, "tablewright %s: %s (pid %ld)", TW_VERSION,
		 cli.command, plat_getpid());
	cli.embedded = cmd->flags & CMD_EMBEDDED;
	if (cmd->flags & CMD_DROP_SECRETS) {
		forget_secret(&cfg.secret_key);
		forget_secret(&cfg.admin_password);
	}
	if (cmd->need)
		rc = cfg_require(&cfg, cmd->need, &err);
	if (rc == 0)
		rc = cmd->fn(&cli, &cfg, &err);
	if (rc == CLI_EXIT_USAGE)
		goto fail_usage;
	if (rc < 0)
		goto fail;
	log_info(LOG_APP, "%s: done", cli.command);
	log_close();
	cfg_release(&cfg);
	buf_release(&err);
	return 0;

fail:
	/*
	 * One line on stderr. Once the logs are open the line goes to
	 * app.log too, and the log already echoes it when stderr is a
	 * terminal.
	 */
	if (logs_open)
		log_error(LOG_APP, "%s", err.len ? err.ptr : err_name(rc));
	if (!logs_open || !plat_stderr_is_tty())
		die_line(err.len ? err.ptr : err_name(rc));
	log_close();
	cfg_release(&cfg);
	buf_release(&err);
	return 1;
fail_usage:
	die_line(err.ptr);
	log_close();
	cfg_release(&cfg);
	buf_release(&err);
	return rc;
}
