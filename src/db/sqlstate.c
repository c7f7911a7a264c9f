/*
 * sqlstate.c - the one table that maps a SQLSTATE to a Tablewright error
 * code (PostgreSQL's errcodes.txt, Appendix A of its manual).
 *
 * An entry is either a full five-character code or a two-character class
 * ("22" is every data exception). The longest matching entry wins, so a
 * full code can refine its class and the order of the table is free.
 * Anything not listed is TW_EDB.
 */
#include "core/compat.h"
#include "core/err.h"
#include "db/db.h"

static const struct {
	const char *code; /* five characters, or a two-character class */
	int err;
} sqlstate_map[] = {
	/* Class 23, integrity constraint violations. */
	{ "23505", TW_ECONFLICT },   /* unique_violation */
	{ "23P01", TW_ECONFLICT },   /* exclusion_violation */
	{ "23503", TW_EVALIDATION }, /* foreign_key_violation */
	{ "23502", TW_EVALIDATION }, /* not_null_violation */
	{ "23514", TW_EVALIDATION }, /* check_violation */
	/* Class 22, data exceptions: bad values, overflow, bad input. */
	{ "22", TW_EVALIDATION },
	/* Objects that do not exist. */
	{ "42P01", TW_ENOTFOUND }, /* undefined_table */
	{ "42703", TW_ENOTFOUND }, /* undefined_column */
	{ "3F000", TW_ENOTFOUND }, /* invalid_schema_name */
	/* Objects that already exist. */
	{ "42P07", TW_ECONFLICT }, /* duplicate_table */
	{ "42P06", TW_ECONFLICT }, /* duplicate_schema */
	{ "42P04", TW_ECONFLICT }, /* duplicate_database */
	/* Permissions. */
	{ "42501", TW_EFORBIDDEN }, /* insufficient_privilege */
	/* Time limits. */
	{ "57014", TW_ETIMEOUT }, /* query_canceled (statement_timeout) */
	{ "55P03", TW_ETIMEOUT }, /* lock_not_available (lock_timeout) */
	/* The server or the connection went away. */
	{ "08", TW_EUNAVAIL },	  /* connection exceptions */
	{ "57P01", TW_EUNAVAIL }, /* admin_shutdown */
	{ "57P02", TW_EUNAVAIL }, /* crash_shutdown */
	{ "57P03", TW_EUNAVAIL }, /* cannot_connect_now */
	{ "53", TW_EUNAVAIL },	  /* insufficient resources (disk, memory) */
};

int db_sqlstate_to_err(const char *sqlstate)
{
	size_t best_len = 0;
	int rc = TW_EDB;
	size_t i;

	if (!sqlstate || strlen(sqlstate) != 5)
		return TW_EDB;
	for (i = 0; i < TW_ARRAY_SIZE(sqlstate_map); i++) {
		size_t n = strlen(sqlstate_map[i].code);

		if (n > best_len &&
		    memcmp(sqlstate, sqlstate_map[i].code, n) == 0) {
			best_len = n;
			rc = sqlstate_map[i].err;
		}
	}
	return rc;
}
