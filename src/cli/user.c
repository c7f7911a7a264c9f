#include "core/compat.h"

#include <sodium.h>

#include "auth/auth.h"
#include "cli/cli.h"
#include "core/err.h"
#include "core/mem.h"
#include "log/log.h"
#include "platform/plat.h"

#define DEFAULT_ADMIN_EMAIL "admin@localhost"
/* 18 random bytes: 24 base64url characters, 144 bits. */
#define GENERATED_PASSWORD_BYTES 18
#define PASSWORD_CAP 1024

int cli_read_password(const struct cli *cli, const char *prompt, bool confirm,
		      struct buf *out, struct buf *err)
{
	struct buf again = BUF_INIT(PASSWORD_CAP);
	int rc;

	if (cli->password_stdin)
		return buf_getline(out, stdin, err);
	if (!plat_stdin_is_tty()) {
		buf_errf(err, "no password given: run this in a terminal, or "
			      "pass --password-stdin and write the password "
			      "to standard input");
		return TW_EINVAL;
	}
	rc = plat_read_secret(prompt, out, err);
	if (rc == 0 && confirm) {
		rc = plat_read_secret("Repeat it: ", &again, err);
		if (rc == 0 && (again.len != out->len ||
				sodium_memcmp(again.ptr, out->ptr, out->len))) {
			buf_errf(err, "the two passwords differ");
			rc = TW_EINVAL;
		}
	}
	buf_release_secret(&again);
	return rc;
}

/* Counts the administrators, disabled ones included. */
static int count_admins(PGconn *conn, long *n, struct buf *err)
{
	PGresult *res = NULL;
	int rc;

	rc = db_exec(conn, "SELECT count(*) FROM users WHERE role = 'admin'", 0,
		     NULL, &res, err);
	if (rc == 0)
		*n = (long)db_col_i64_or(res, 0, 0, 0);
	PQclear(res);
	return rc;
}

/* A fresh password for the first admin, printed once by the caller. */
static void generate_password(struct buf *out)
{
	unsigned char raw[GENERATED_PASSWORD_BYTES];
	char text[sodium_base64_ENCODED_LEN(
		GENERATED_PASSWORD_BYTES,
		sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(text, sizeof(text), raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	buf_adds(out, text);
	mem_wipe(raw, sizeof(raw));
	mem_wipe(text, sizeof(text));
}

int cli_ensure_admin(struct db_pool *pool, const struct cfg *cfg,
		     const struct cli *cli, bool *created, struct buf *err)
{
	const char *email = cfg->admin_email ? cfg->admin_email
					     : DEFAULT_ADMIN_EMAIL;
	struct buf password = BUF_INIT(PASSWORD_CAP);
	struct auth_user user;
	PGconn *conn = NULL;
	bool generated = false;
	long admins = 0;
	int rc;

	if (created)
		*created = false;
	if (sodium_init() < 0)
		TW_BUG("libsodium failed to initialise");
	rc = db_acquire(pool, 10000, &conn, err);
	if (rc < 0)
		goto out;
	rc = count_admins(conn, &admins, err);
	if (rc < 0 || admins > 0)
		goto out;
	if (cli->password_stdin) {
		rc = cli_read_password(cli, "", false, &password, err);
	} else if (cfg->admin_password) {
		rc = buf_adds(&password, cfg->admin_password);
	} else {
		generate_password(&password);
		generated = true;
	}
	if (rc < 0)
		goto out;
	rc = auth_user_create(conn, email, password.ptr, "admin",
			      (int)cfg->bcrypt_cost, &user, err);
	if (rc < 0)
		goto out;
	if (created)
		*created = true;
	log_info(LOG_APP, "created the first admin user %s (id %" PRId64 ")",
		 user.email, user.id);
	printf("tablewright: created the admin user %s\n", user.email);
	if (generated)
		printf("tablewright: its generated password is %s (shown only "
		       "this once; change it in the web UI or with "
		       "`tablewright "
		       "user set-password --email %s`)\n",
		       password.ptr, user.email);
	fflush(stdout);
out:
	if (conn)
		db_release(pool, conn, rc < 0);
	buf_release_secret(&password);
	return rc;
}

static int user_add(const struct cli *cli, PGconn *conn, const struct cfg *cfg,
		    struct buf *err)
{
	struct buf password = BUF_INIT(PASSWORD_CAP);
	struct auth_user user;
	int rc;

	if (!cli->role) {
		buf_errf(err, "user add needs --role admin|analyst|viewer");
		return CLI_EXIT_USAGE;
	}
	rc = cli_read_password(cli, "Password: ", true, &password, err);
	if (rc == 0)
		rc = auth_user_create(conn, cli->email, password.ptr, cli->role,
				      (int)cfg->bcrypt_cost, &user, err);
	if (rc == 0) {
		log_info(LOG_APP, "user add: %s (%s, id %" PRId64 ")",
			 user.email, user.role, user.id);
		printf("tablewright: added %s user %s (id %" PRId64 ")\n",
		       user.role, user.email, user.id);
	}
	buf_release_secret(&password);
	return rc;
}

static int user_set_password(const struct cli *cli, PGconn *conn,
			     const struct cfg *cfg, struct buf *err)
{
	struct buf password = BUF_INIT(PASSWORD_CAP);
	struct auth_user user;
	int rc;

	rc = auth_user_get_by_email(conn, cli->email, &user, err);
	if (rc == 0)
		rc = cli_read_password(cli, "New password: ", true, &password,
				       err);
	if (rc == 0)
		rc = auth_user_set_password(conn, user.id, password.ptr,
					    (int)cfg->bcrypt_cost, err);
	if (rc == 0) {
		log_info(LOG_APP, "user set-password: %s", user.email);
		printf("tablewright: changed the password of %s; their "
		       "sessions have ended\n",
		       user.email);
	}
	buf_release_secret(&password);
	return rc;
}

static int user_set_disabled(const struct cli *cli, PGconn *conn, bool disabled,
			     struct buf *err)
{
	struct auth_user user;
	int rc;

	rc = auth_user_get_by_email(conn, cli->email, &user, err);
	if (rc == 0)
		rc = auth_user_update(conn, user.id, NULL, disabled ? 1 : 0,
				      err);
	if (rc == 0) {
		log_info(LOG_APP, "user %s: %s",
			 disabled ? "disable" : "enable", user.email);
		printf("tablewright: %s %s\n",
		       disabled ? "disabled" : "enabled", user.email);
	}
	return rc;
}

static int user_list(PGconn *conn, struct buf *err)
{
	PGresult *res = NULL;
	int i;
	int rc;

	rc = db_exec(conn,
		     "SELECT id, email, role, disabled FROM users ORDER BY id",
		     0, NULL, &res, err);
	if (rc < 0)
		return rc;
	printf("%-6s %-40s %-8s %s\n", "id", "email", "role", "status");
	for (i = 0; i < PQntuples(res); i++)
		printf("%-6s %-40s %-8s %s\n", PQgetvalue(res, i, 0),
		       PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
		       PQgetvalue(res, i, 3)[0] == 't' ? "disabled" : "active");
	PQclear(res);
	return 0;
}

static int user_disable(const struct cli *cli, PGconn *conn,
			const struct cfg *cfg, struct buf *err)
{
	(void)cfg;
	return user_set_disabled(cli, conn, true, err);
}

static int user_enable(const struct cli *cli, PGconn *conn,
		       const struct cfg *cfg, struct buf *err)
{
	(void)cfg;
	return user_set_disabled(cli, conn, false, err);
}

static int user_list_cmd(const struct cli *cli, PGconn *conn,
			 const struct cfg *cfg, struct buf *err)
{
	(void)cli;
	(void)cfg;
	return user_list(conn, err);
}

/*
 * The `user` subcommands. A new one goes here, in the usage error of
 * cli_user() and in the `user` help line of main.c's command table.
 */
static const struct {
	const char *name;
	int (*fn)(const struct cli *cli, PGconn *conn, const struct cfg *cfg,
		  struct buf *err);
	bool needs_email; /* --email EMAIL names the user */
} user_cmds[] = {
	{ "add", user_add, true },
	{ "set-password", user_set_password, true },
	{ "disable", user_disable, true },
	{ "enable", user_enable, true },
	{ "list", user_list_cmd, false },
};

int cli_user(const struct cli *cli, struct cfg *cfg, struct buf *err)
{
	const char *sub = cli->subcommand ? cli->subcommand : "";
	struct cli_db db = { NULL, false };
	PGconn *conn = NULL;
	size_t i;
	int rc;

	for (i = 0; i < TW_ARRAY_SIZE(user_cmds); i++) {
		if (!strcmp(sub, user_cmds[i].name))
			break;
	}
	if (i == TW_ARRAY_SIZE(user_cmds)) {
		buf_errf(err, "user needs one of add, set-password, disable, "
			      "enable, list (see tablewright --help)");
		return CLI_EXIT_USAGE;
	}
	if (user_cmds[i].needs_email && !cli->email) {
		buf_errf(err, "user %s needs --email EMAIL", sub);
		return CLI_EXIT_USAGE;
	}
	if (sodium_init() < 0)
		TW_BUG("libsodium failed to initialise");
	rc = cli_db_open(cfg, cli->embedded, &db, err);
	if (rc == 0)
		rc = cli_check_schema(db.pool, err);
	if (rc == 0)
		rc = db_acquire(db.pool, 10000, &conn, err);
	if (rc < 0)
		goto out;
	rc = user_cmds[i].fn(cli, conn, cfg, err);
	if (rc == TW_ENOTFOUND && cli->email) {
		buf_reset(err);
		buf_errf(err, "there is no user with the email %s", cli->email);
	}
out:
	if (conn)
		db_release(db.pool, conn, rc == TW_EDB || rc == TW_EUNAVAIL);
	cli_db_close(cfg, &db);
	return rc;
}
