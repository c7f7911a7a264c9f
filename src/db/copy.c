#include "core/compat.h"

#include <float.h>
#include <math.h>

#include "core/err.h"
#include "core/mem.h"
#include "core/str.h"
#include "db/copy.h"
#include "db/db.h"
#include "db/db_int.h"

/*
 * COPY for the data path: the libpq wrappers, the catalog lookup of a
 * table's columns, and the codec between binary COPY and column batches.
 * docs/internals/db.md says what each type becomes and what is refused.
 */

/* --- types ------------------------------------------------------------------
 */

void db_columns_release(struct db_columns *cols)
{
	size_t i;

	for (i = 0; i < cols->n; i++) {
		free(cols->items[i].name);
		free(cols->items[i].type);
	}
	free(cols->items);
	cols->items = NULL;
	cols->n = 0;
}

enum db_pgtype db_pgtype_from_oid(unsigned oid)
{
	switch (oid) {
	case 16:
		return DB_PG_BOOL;
	case 21:
		return DB_PG_INT2;
	case 23:
		return DB_PG_INT4;
	case 20:
		return DB_PG_INT8;
	case 700:
		return DB_PG_FLOAT4;
	case 701:
		return DB_PG_FLOAT8;
	case 1700:
		return DB_PG_NUMERIC;
	case 25:   /* text */
	case 1043: /* varchar */
	case 1042: /* bpchar */
	case 19:   /* name */
		return DB_PG_TEXT;
	case 1082:
		return DB_PG_DATE;
	case 1114:
		return DB_PG_TIMESTAMP;
	case 1184:
		return DB_PG_TIMESTAMPTZ;
	case 2950:
		return DB_PG_UUID;
	case 114:
		return DB_PG_JSON;
	case 3802:
		return DB_PG_JSONB;
	default:
		return DB_PG_OTHER;
	}
}

enum col_kind db_pgtype_kind(enum db_pgtype t)
{
	switch (t) {
	case DB_PG_BOOL:
		return COL_BOOL;
	case DB_PG_INT2:
		return COL_INT16;
	case DB_PG_INT4:
		return COL_INT32;
	case DB_PG_INT8:
		return COL_INT64;
	case DB_PG_FLOAT4:
		return COL_FLOAT32;
	case DB_PG_FLOAT8:
		return COL_FLOAT64;
	case DB_PG_DATE:
		return COL_DATE;
	case DB_PG_TIMESTAMP:
		return COL_TIMESTAMP;
	case DB_PG_TIMESTAMPTZ:
		return COL_TIMESTAMPTZ;
	default:
		return COL_TEXT;
	}
}

const char *db_pgtype_name(enum db_pgtype t)
{
	static const char *const names[] = {
		[DB_PG_OTHER] = "other",
		[DB_PG_BOOL] = "bool",
		[DB_PG_INT2] = "int2",
		[DB_PG_INT4] = "int4",
		[DB_PG_INT8] = "int8",
		[DB_PG_FLOAT4] = "float4",
		[DB_PG_FLOAT8] = "float8",
		[DB_PG_NUMERIC] = "numeric",
		[DB_PG_TEXT] = "text",
		[DB_PG_DATE] = "date",
		[DB_PG_TIMESTAMP] = "timestamp",
		[DB_PG_TIMESTAMPTZ] = "timestamptz",
		[DB_PG_UUID] = "uuid",
		[DB_PG_JSON] = "json",
		[DB_PG_JSONB] = "jsonb",
	};

	return (unsigned)t < TW_ARRAY_SIZE(names) && names[t] ? names[t]
							      : "other";
}

int db_add_ident(struct buf *sql, PGconn *conn, const char *name,
		 struct buf *err)
{
	char *q = PQescapeIdentifier(conn, name, strlen(name));
	int rc;

	if (!q) {
		buf_errf(err, "could not quote \"%s\": %s", name,
			 PQerrorMessage(conn));
		return TW_EINTERNAL;
	}
	rc = buf_adds(sql, q);
	PQfreemem(q);
	if (rc < 0)
		buf_errf(err, "the statement is too long");
	return rc;
}

int db_copy_select(struct buf *sql, PGconn *conn, const struct db_columns *cols,
		   const char *schema, const char *name, struct buf *err)
{
	int rc = buf_adds(sql, "COPY (SELECT ");

	for (size_t i = 0; i < cols->n && rc == 0; i++) {
		if (i)
			buf_adds(sql, ", ");
		rc = db_add_ident(sql, conn, cols->items[i].name, err);
		if (rc == 0 && cols->items[i].pgtype == DB_PG_OTHER)
			rc = buf_adds(sql, "::text");
	}
	if (rc == 0)
		rc = buf_adds(sql, " FROM ");
	if (rc == 0)
		rc = db_add_ident(sql, conn, schema, err);
	if (rc == 0)
		rc = buf_addch(sql, '.');
	if (rc == 0)
		rc = db_add_ident(sql, conn, name, err);
	if (rc < 0 && !err->len)
		buf_errf(err, "the source's COPY statement is too long");
	return rc;
}

/* --- the catalog ------------------------------------------------------------
 */

int db_table_columns(PGconn *conn, const char *schema, const char *name,
		     struct db_columns *out, struct buf *err)
{
	/*
	 * One row per column; a relation without columns still gives one
	 * row, of NULLs, so that "no such table" is zero rows.
	 */
	static const char sql[] =
		"SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
		"a.atttypid, a.attnotnull "
		"FROM pg_catalog.pg_class c "
		"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
		"LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
		"AND a.attnum > 0 AND NOT a.attisdropped "
		"WHERE n.nspname = $1 AND c.relname = $2 "
		"AND c.relkind IN ('r', 'p', 'v', 'm') "
		"ORDER BY a.attnum";
	const char *params[2] = { schema, name };
	PGresult *res = NULL;
	int rc, nrows, i;

	out->items = NULL;
	out->n = 0;
	rc = db_exec(conn, sql, 2, params, &res, err);
	if (rc < 0)
		goto out;
	nrows = PQntuples(res);
	if (nrows == 0) {
		buf_errf(err, "table \"%s\".\"%s\" does not exist", schema,
			 name);
		rc = TW_ENOTFOUND;
		goto out;
	}
	if (PQgetisnull(res, 0, 0))
		goto out; /* no columns */
	out->items = xcalloc((size_t)nrows, sizeof(*out->items));
	for (i = 0; i < nrows; i++) {
		struct db_column *c = &out->items[i];
		unsigned long oid = strtoul(PQgetvalue(res, i, 2), NULL, 10);

		c->name = xstrdup(PQgetvalue(res, i, 0));
		c->type = xstrdup(PQgetvalue(res, i, 1));
		c->pgtype = db_pgtype_from_oid((unsigned)oid);
		c->nullable = strcmp(PQgetvalue(res, i, 3), "t") != 0;
		c->kind = db_pgtype_kind(c->pgtype);
		out->n++;
	}
out:
	PQclear(res);
	return rc;
}

/* Whether s is "(p)" or "(p,s)", as format_type() prints a numeric's. */
static bool numeric_typmod_ok(const char *s)
{
	long p, sc;
	char *end;

	if (*s == '\0')
		return true;
	if (*s != '(' || !isdigit((unsigned char)s[1]))
		return false;
	p = strtol(s + 1, &end, 10);
	if (p < 1 || p > 1000 || end - s > 5)
		return false;
	s = end;
	if (*s == ',') {
		const char *start = s + 1;

		if (!isdigit((unsigned char)*start) &&
		    !(*start == '-' && isdigit((unsigned char)start[1])))
			return false;
		sc = strtol(start, &end, 10);
		if (sc < -1000 || sc > 1000 || end - start > 5)
			return false;
		s = end;
	}
	return s[0] == ')' && s[1] == '\0';
}

int db_output_type(enum col_kind kind, const char *type, enum db_pgtype *pgtype,
		   struct buf *err)
{
	static const struct {
		enum col_kind kind;
		const char *type;
		enum db_pgtype pgtype;
	} pairs[] = {
		{ COL_BOOL, "boolean", DB_PG_BOOL },
		{ COL_INT16, "smallint", DB_PG_INT2 },
		{ COL_INT32, "integer", DB_PG_INT4 },
		{ COL_INT64, "bigint", DB_PG_INT8 },
		{ COL_FLOAT32, "real", DB_PG_FLOAT4 },
		{ COL_FLOAT64, "double precision", DB_PG_FLOAT8 },
		{ COL_DATE, "date", DB_PG_DATE },
		{ COL_TIMESTAMP, "timestamp without time zone",
		  DB_PG_TIMESTAMP },
		{ COL_TIMESTAMPTZ, "timestamp with time zone",
		  DB_PG_TIMESTAMPTZ },
		{ COL_TEXT, "text", DB_PG_TEXT },
		{ COL_TEXT, "uuid", DB_PG_UUID },
		{ COL_TEXT, "json", DB_PG_JSON },
		{ COL_TEXT, "jsonb", DB_PG_JSONB },
	};
	const char *kname = col_kind_name(kind);
	size_t i;

	if (!type)
		type = "";
	for (i = 0; i < TW_ARRAY_SIZE(pairs); i++) {
		if (pairs[i].kind == kind && !strcmp(pairs[i].type, type)) {
			*pgtype = pairs[i].pgtype;
			return 0;
		}
	}
	if ((kind == COL_FLOAT64 || kind == COL_TEXT) &&
	    !strncmp(type, "numeric", 7) && numeric_typmod_ok(type + 7)) {
		*pgtype = DB_PG_NUMERIC;
		return 0;
	}
	buf_errf(err, "a column of kind %s cannot be stored as \"%.64s\"",
		 kname ? kname : "unknown", type);
	return TW_EINVAL;
}

/* --- COPY wrappers -------------------------------------------------------- */

/* Appends libpq's message about conn, after what. */
static void conn_error(struct buf *err, PGconn *conn, const char *what)
{
	buf_errf(err, "%s: ", what);
	db__add_first_line(err, PQerrorMessage(conn),
			   "lost the connection to the database");
}

/* The code of a failure on conn that came without a result. */
static int conn_rc(PGconn *conn)
{
	return PQstatus(conn) == CONNECTION_OK ? TW_EDB : TW_EUNAVAIL;
}

static int finish(PGconn *conn, struct buf *err);

/* PQexec()s sql, which must start a COPY in the direction want. */
static int copy_begin(PGconn *conn, const char *sql, ExecStatusType want,
		      struct buf *err)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType got;
	int rc;

	if (!res) {
		conn_error(err, conn, "could not start the COPY");
		return conn_rc(conn);
	}
	rc = db_result_check(res, err);
	got = PQresultStatus(res);
	PQclear(res);
	if (rc < 0 && PQstatus(conn) != CONNECTION_OK)
		return TW_EUNAVAIL;
	if (rc < 0 || got == want)
		return rc;
	buf_errf(err, "the statement did not start a COPY %s",
		 want == PGRES_COPY_OUT ? "TO STDOUT" : "FROM STDIN");
	/* A COPY the other way is ended, so that the connection is idle. */
	if (got == PGRES_COPY_IN) {
		PQputCopyEnd(conn, "not the expected COPY");
		finish(conn, NULL);
	} else if (got == PGRES_COPY_OUT) {
		char *row = NULL;

		while (PQgetCopyData(conn, &row, 0) > 0) {
			PQfreemem(row);
			row = NULL;
		}
		finish(conn, NULL);
	}
	return TW_EINTERNAL;
}

/*
 * finish() reads the results that end a COPY until PQgetResult() says
 * NULL, as libpq's contract asks: the first failure is the answer.
 */
static int finish(PGconn *conn, struct buf *err)
{
	PGresult *res;
	int rc = 0;

	for (;;) {
		res = PQgetResult(conn);
		if (!res)
			break;
		if (rc == 0) {
			rc = db_result_check(res, err);
			if (rc == 0 &&
			    (PQresultStatus(res) == PGRES_COPY_IN ||
			     PQresultStatus(res) == PGRES_COPY_OUT)) {
				/* Still copying: never the case after the end.
				 */
				buf_errf(err, "the COPY did not end");
				rc = TW_EINTERNAL;
				PQclear(res);
				break;
			}
		}
		PQclear(res);
	}
	return rc;
}

int db_copy_out_begin(PGconn *conn, const char *sql, struct buf *err)
{
	return copy_begin(conn, sql, PGRES_COPY_OUT, err);
}

int db_copy_out_next(PGconn *conn, char **row, int *len, struct buf *err)
{
	int n;

	*row = NULL;
	*len = 0;
	n = PQgetCopyData(conn, row, 0);
	if (n > 0) {
		*len = n;
		return 1;
	}
	if (*row) {
		PQfreemem(*row);
		*row = NULL;
	}
	if (n == -1)
		return finish(conn, err);
	/* -2 (or 0, which a blocking call never returns). */
	conn_error(err, conn, "could not read the COPY's data");
	finish(conn, NULL);
	return conn_rc(conn);
}

int db_copy_in_begin(PGconn *conn, const char *sql, struct buf *err)
{
	return copy_begin(conn, sql, PGRES_COPY_IN, err);
}

int db_copy_in_put(PGconn *conn, const char *data, size_t len, struct buf *err)
{
	/* PQputCopyData() takes an int: at most 1 GiB per call. */
	const size_t step = (size_t)1 << 30;

	while (len > 0) {
		int n = (int)(len < step ? len : step);
		int rc = PQputCopyData(conn, data, n);

		if (rc != 1) {
			conn_error(err, conn, "could not send the COPY's data");
			return conn_rc(conn);
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int db_copy_in_end(PGconn *conn, const char *abort_msg, struct buf *err)
{
	int rc = PQputCopyEnd(conn, abort_msg);

	if (rc != 1) {
		conn_error(err, conn, "could not end the COPY");
		rc = conn_rc(conn);
		/* Whatever came back still has to be read. */
		finish(conn, NULL);
		return rc;
	}
	if (abort_msg) {
		/* The server answers an abort with an error: expected. */
		finish(conn, NULL);
		return PQstatus(conn) == CONNECTION_OK ? 0 : TW_EUNAVAIL;
	}
	return finish(conn, err);
}

/* --- byte order --------------------------------------------------------- */

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return __builtin_bswap32(v);
}

static inline uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return __builtin_bswap64(v);
}

static inline uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static inline uint8_t *put32(uint8_t *p, uint32_t v)
{
	v = __builtin_bswap32(v);
	memcpy(p, &v, 4);
	return p + 4;
}

static inline uint8_t *put64(uint8_t *p, uint64_t v)
{
	v = __builtin_bswap64(v);
	memcpy(p, &v, 8);
	return p + 8;
}

/* --- binary COPY: decoding ------------------------------------------------ */

static const char signature[11] = "PGCOPY\n\377\r\n";

/* PostgreSQL's epochs: 2000-01-01 against the data path's 1970-01-01. */
#define DAYS_1970_TO_2000 10957
#define USECS_1970_TO_2000 INT64_C(946684800000000)

/* numeric's sign word and base (src/backend/utils/adt/numeric.c). */
#define NUMERIC_POS 0x0000
#define NUMERIC_NEG 0x4000
#define NUMERIC_NAN 0xC000
#define NUMERIC_PINF 0xD000
#define NUMERIC_NINF 0xF000
#define NUMERIC_DSCALE_MAX 0x3FFF
#define NBASE 10000

void db_bin_reader_init(struct db_bin_reader *r, const enum db_pgtype *types,
			size_t ncols)
{
	memset(r, 0, sizeof(*r));
	r->types = types;
	r->ncols = ncols;
}

/*
 * numeric_text() writes a binary numeric's text exactly as PostgreSQL's
 * numeric_out() does (get_str_from_var(): the digits up to dscale, leading
 * zeros suppressed, "NaN", "Infinity", "-Infinity"), for the value
 * numeric_recv() would have made of the bytes (leading zero digits
 * dropped, digits past dscale cut, a zero without its sign): what
 * PostgreSQL sends is already so. Returns the length, or 0 for a
 * malformed value (what is set in *why).
 */
static size_t numeric_text(const uint8_t *p, size_t len, char **outp,
			   char *stack, size_t stack_size, const char **why)
{
	int ndigits, weight, dscale, d, i;
	unsigned sign;
	size_t size;
	char *str, *cp, *endcp;

	*outp = NULL;
	if (len < 8) {
		*why = "shorter than its header";
		return 0;
	}
	ndigits = (int16_t)get16(p);
	weight = (int16_t)get16(p + 2);
	sign = get16(p + 4);
	dscale = get16(p + 6);
	if (ndigits < 0 || len != 8 + 2 * (size_t)ndigits) {
		*why = "a length that does not match its digits";
		return 0;
	}
	if (dscale > NUMERIC_DSCALE_MAX) {
		*why = "a bad display scale";
		return 0;
	}
	for (i = 0; i < ndigits; i++) {
		if (get16(p + 8 + 2 * i) >= NBASE) {
			*why = "bad digits";
			return 0;
		}
	}
	switch (sign) {
	case NUMERIC_NAN:
		*outp = stack;
		memcpy(stack, "NaN", 3);
		return 3;
	case NUMERIC_PINF:
		*outp = stack;
		memcpy(stack, "Infinity", 8);
		return 8;
	case NUMERIC_NINF:
		*outp = stack;
		memcpy(stack, "-Infinity", 9);
		return 9;
	case NUMERIC_POS:
	case NUMERIC_NEG:
		break;
	default:
		*why = "a bad sign";
		return 0;
	}
	/* Leading zero digits go, as numeric_recv()'s make_result() does. */
	while (ndigits > 0 && get16(p + 8) == 0) {
		p += 2;
		ndigits--;
		weight--;
	}
	if (ndigits == 0) {
		weight = 0; /* strip_var(): a zero has weight 0, no sign */
		sign = NUMERIC_POS;
	}
	i = (weight + 1) * 4;
	if (i <= 0)
		i = 1;
	size = (size_t)i + (size_t)dscale + 4 + 2;
	str = size <= stack_size ? stack : xmalloc(size);
	cp = str;
	if (sign == NUMERIC_NEG)
		*cp++ = '-';
	if (weight < 0) {
		d = weight + 1;
		*cp++ = '0';
	} else {
		for (d = 0; d <= weight; d++) {
			int dig = d < ndigits ? get16(p + 8 + 2 * d) : 0;
			bool putit = d > 0;
			int d1;

			d1 = dig / 1000;
			dig -= d1 * 1000;
			putit |= d1 > 0;
			if (putit)
				*cp++ = (char)(d1 + '0');
			d1 = dig / 100;
			dig -= d1 * 100;
			putit |= d1 > 0;
			if (putit)
				*cp++ = (char)(d1 + '0');
			d1 = dig / 10;
			dig -= d1 * 10;
			putit |= d1 > 0;
			if (putit)
				*cp++ = (char)(d1 + '0');
			*cp++ = (char)(dig + '0');
		}
	}
	if (dscale > 0) {
		*cp++ = '.';
		endcp = cp + dscale;
		for (i = 0; i < dscale; d++, i += 4) {
			int dig = d >= 0 && d < ndigits ? get16(p + 8 + 2 * d)
							: 0;

			*cp++ = (char)(dig / 1000 + '0');
			*cp++ = (char)(dig / 100 % 10 + '0');
			*cp++ = (char)(dig / 10 % 10 + '0');
			*cp++ = (char)(dig % 10 + '0');
		}
		cp = endcp;
	}
	/*
	 * A negative value whose digits the scale hides all is zero:
	 * numeric_recv() would have truncated and normalised it to "0.00",
	 * without the sign (PostgreSQL never sends one).
	 */
	if (sign == NUMERIC_NEG) {
		char *q;

		for (q = str + 1; q < cp && (*q == '0' || *q == '.'); q++)
			;
		if (q == cp) {
			memmove(str, str + 1, (size_t)(cp - str - 1));
			cp--;
		}
	}
	*outp = str;
	return (size_t)(cp - str);
}

static void uuid_text(const uint8_t *p, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[p[i] >> 4];
		out[o++] = hex[p[i] & 15];
	}
}

/* Decodes one non-NULL field of column i into c. */
static int decode_field(struct db_bin_reader *r, size_t i, struct colbuf *c,
			size_t row, const uint8_t *p, size_t len,
			struct buf *err)
{
	enum db_pgtype t = r->types[i];
	size_t want = 0;
	union {
		uint8_t b;
		uint16_t u16;
		uint32_t u32;
		uint64_t u64;
	} v;
	const char *why = NULL;
	int rc;

	switch (t) {
	case DB_PG_BOOL:
		want = 1;
		break;
	case DB_PG_INT2:
		want = 2;
		break;
	case DB_PG_INT4:
	case DB_PG_FLOAT4:
	case DB_PG_DATE:
		want = 4;
		break;
	case DB_PG_INT8:
	case DB_PG_FLOAT8:
	case DB_PG_TIMESTAMP:
	case DB_PG_TIMESTAMPTZ:
		want = 8;
		break;
	case DB_PG_UUID:
		want = 16;
		break;
	default:
		break;
	}
	if (want && len != want) {
		buf_errf(err,
			 "column %zu (%s), row %" PRIu64
			 ": a field of %zu bytes, expected %zu",
			 i + 1, db_pgtype_name(t), r->rows + 1, len, want);
		return TW_EINVAL;
	}
	switch (t) {
	case DB_PG_BOOL:
		v.b = p[0] != 0;
		return colbuf_append_fixed(c, row, &v.b);
	case DB_PG_INT2:
		v.u16 = get16(p);
		return colbuf_append_fixed(c, row, &v.u16);
	case DB_PG_INT4:
	case DB_PG_FLOAT4:
		v.u32 = get32(p);
		return colbuf_append_fixed(c, row, &v.u32);
	case DB_PG_INT8:
	case DB_PG_FLOAT8:
		v.u64 = get64(p);
		return colbuf_append_fixed(c, row, &v.u64);
	case DB_PG_DATE: {
		int32_t days = (int32_t)get32(p);

		if (days == INT32_MIN || days == INT32_MAX) {
			why = days == INT32_MIN ? "-infinity" : "infinity";
			goto infinite;
		}
		/* PostgreSQL's dates end in 5874897 AD: no overflow. */
		if (days > INT32_MAX - DAYS_1970_TO_2000) {
			why = "a date out of range";
			goto bad;
		}
		v.u32 = (uint32_t)(days + DAYS_1970_TO_2000);
		return colbuf_append_fixed(c, row, &v.u32);
	}
	case DB_PG_TIMESTAMP:
	case DB_PG_TIMESTAMPTZ: {
		int64_t us = (int64_t)get64(p);

		if (us == INT64_MIN || us == INT64_MAX) {
			why = us == INT64_MIN ? "-infinity" : "infinity";
			goto infinite;
		}
		if (us > INT64_MAX - USECS_1970_TO_2000) {
			buf_errf(err,
				 "column %zu (%s), row %" PRIu64
				 ": a time after 294246 AD, past what 64-bit "
				 "microseconds since 1970 can hold",
				 i + 1, db_pgtype_name(t), r->rows + 1);
			return TW_EINVAL;
		}
		v.u64 = (uint64_t)(us + USECS_1970_TO_2000);
		return colbuf_append_fixed(c, row, &v.u64);
	}
	case DB_PG_NUMERIC: {
		char stack[256];
		char *s;
		size_t n = numeric_text(p, len, &s, stack, sizeof(stack), &why);

		if (!s)
			goto bad;
		rc = colbuf_append_text(c, row, s, n);
		if (s != stack)
			free(s);
		return rc;
	}
	case DB_PG_UUID: {
		char s[36];

		uuid_text(p, s);
		return colbuf_append_text(c, row, s, 36);
	}
	case DB_PG_JSONB:
		if (len < 1 || p[0] != 1) {
			why = len < 1 ? "an empty jsonb field"
				      : "a jsonb version other than 1";
			goto bad;
		}
		p++;
		len--;
		break;
	default:
		break;
	}
	/* text, json, jsonb and the types selected as text */
	if (!str_utf8_valid((const char *)p, len)) {
		buf_errf(err,
			 "column %zu (%s), row %" PRIu64
			 ": text that is not UTF-8 (is the connection's "
			 "client_encoding UTF8?)",
			 i + 1, db_pgtype_name(t), r->rows + 1);
		return TW_EINVAL;
	}
	return colbuf_append_text(c, row, (const char *)p, len);

infinite:
	buf_errf(err,
		 "column %zu (%s), row %" PRIu64
		 ": the value is %s, which a transform cannot read (filter "
		 "it out or cast the column to text)",
		 i + 1, db_pgtype_name(t), r->rows + 1, why);
	return TW_EINVAL;
bad:
	buf_errf(err, "column %zu (%s), row %" PRIu64 ": %s", i + 1,
		 db_pgtype_name(t), r->rows + 1, why);
	return TW_EINVAL;
}

/* Reads the header at the start of the first message; its size or <0. */
static int read_header(const uint8_t *p, size_t len, size_t *size,
		       struct buf *err)
{
	uint32_t flags, ext;

	if (len < 19 || memcmp(p, signature, 11) != 0) {
		buf_errf(err, "the COPY data does not start with the binary "
			      "COPY signature");
		return TW_EINVAL;
	}
	flags = get32(p + 11);
	/* Bits 16-31 are critical (16: OIDs), bits 0-15 may be ignored. */
	if (flags & 0xFFFF0000u) {
		buf_errf(err, "binary COPY flags 0x%08x that are not supported",
			 (unsigned)flags);
		return TW_EINVAL;
	}
	ext = get32(p + 15);
	if (ext > len - 19) {
		buf_errf(err, "a binary COPY header extension that runs past "
			      "its message");
		return TW_EINVAL;
	}
	*size = 19 + (size_t)ext;
	return 0;
}

int db_bin_decode_row(struct db_bin_reader *r, const char *msg, size_t len,
		      struct colbatch *b, struct buf *err)
{
	const uint8_t *p = (const uint8_t *)msg;
	const size_t row = b->nrows;
	size_t off = 0, i;
	int16_t nfields;
	int rc;

	if (r->trailer_seen) {
		buf_errf(err, "COPY data after the binary COPY trailer");
		return TW_EINVAL;
	}
	if (b->ncols != r->ncols)
		TW_BUG("a batch of %zu columns for a COPY of %zu", b->ncols,
		       r->ncols);
	if (!r->header_seen) {
		rc = read_header(p, len, &off, err);
		if (rc < 0)
			return rc;
	}
	if (len - off < 2) {
		buf_errf(err, "a COPY message without a row");
		return TW_EINVAL;
	}
	nfields = (int16_t)get16(p + off);
	off += 2;
	if (nfields == -1) {
		if (off != len) {
			buf_errf(err, "bytes after the binary COPY trailer");
			return TW_EINVAL;
		}
		r->header_seen = true;
		r->trailer_seen = true;
		return 0;
	}
	if (nfields < 0 || (size_t)nfields != r->ncols) {
		buf_errf(err, "a COPY row of %d fields, expected %zu",
			 (int)nfields, r->ncols);
		return TW_EINVAL;
	}
	for (i = 0; i < r->ncols; i++) {
		struct colbuf *c = &b->cols[i];
		int32_t flen;

		if (c->kind != db_pgtype_kind(r->types[i]))
			TW_BUG("column %zu of the batch is %s, not %s", i + 1,
			       col_kind_name(c->kind),
			       col_kind_name(db_pgtype_kind(r->types[i])));
		if (len - off < 4) {
			buf_errf(err,
				 "column %zu, row %" PRIu64
				 ": the row ends before the field",
				 i + 1, r->rows + 1);
			rc = TW_EINVAL;
			goto fail;
		}
		flen = (int32_t)get32(p + off);
		off += 4;
		if (flen == -1) {
			rc = colbuf_append_null(c, row);
		} else if (flen < 0 || (size_t)flen > len - off) {
			buf_errf(err,
				 "column %zu, row %" PRIu64
				 ": a field of %d bytes runs past the row",
				 i + 1, r->rows + 1, (int)flen);
			rc = TW_EINVAL;
		} else {
			rc = decode_field(r, i, c, row, p + off, (size_t)flen,
					  err);
			off += (size_t)flen;
		}
		if (rc < 0)
			goto fail;
	}
	if (off != len) {
		buf_errf(err, "row %" PRIu64 ": %zu bytes after its last field",
			 r->rows + 1, len - off);
		rc = TW_EINVAL;
		goto fail;
	}
	colbatch_end_row(b);
	r->header_seen = true;
	r->rows++;
	return 1;

fail:
	colbatch_truncate(b, row);
	return rc;
}

/* --- binary COPY: encoding ------------------------------------------------ */

int db_bin_encode_header(struct buf *out)
{
	static const char header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

	return buf_add(out, header, sizeof(header));
}

int db_bin_encode_trailer(struct buf *out)
{
	return buf_add(out, "\xff\xff", 2);
}

/* The largest binary numeric text of len bytes can become, with its
 * 8-byte header: every character a digit, plus alignment. */
static size_t numeric_bound(size_t len)
{
	return 8 + 2 * ((len + 6) / 4 + 2);
}

/* Whether the n bytes at s are t, ignoring ASCII case. */
static bool same_nocase(const char *s, const char *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (tolower((unsigned char)s[i]) !=
		    tolower((unsigned char)t[i]))
			return false;
	}
	return true;
}

/*
 * numeric_parse() turns text into binary numeric at out (which has room
 * for numeric_bound(len) bytes) as PostgreSQL's numeric_in() reads plain
 * decimals (set_var_from_str()): white space around, an optional sign,
 * digits with an optional point, an optional exponent; "NaN", "Infinity",
 * "inf" with optional signs, in any case. Returns the bytes written, or 0
 * with *why set.
 */
static size_t numeric_parse(const char *s, size_t len, uint8_t *out,
			    const char **why)
{
	static const struct {
		const char *text;
		unsigned sign;
	} special[] = {
		{ "NaN", NUMERIC_NAN },	       { "Infinity", NUMERIC_PINF },
		{ "+Infinity", NUMERIC_PINF }, { "-Infinity", NUMERIC_NINF },
		{ "inf", NUMERIC_PINF },       { "+inf", NUMERIC_PINF },
		{ "-inf", NUMERIC_NINF },
	};
	size_t i = 0, end = len, k, start, stop, ddigits = 0, nd, first, last;
	int64_t dweight = -1, dscale = 0, offset, weight;
	bool neg = false, have_dp = false;
	uint8_t *digits = out + 8;

	while (i < end && isspace((unsigned char)s[i]))
		i++;
	while (end > i && isspace((unsigned char)s[end - 1]))
		end--;
	/* Only a letter, or a sign and a letter, can start one of those. */
	k = i < end && (s[i] == '+' || s[i] == '-') ? i + 1 : i;
	if (k < end && isalpha((unsigned char)s[k]))
		k = 0;
	else
		k = TW_ARRAY_SIZE(special);
	for (; k < TW_ARRAY_SIZE(special); k++) {
		size_t n = strlen(special[k].text);

		if (end - i == n && same_nocase(s + i, special[k].text, n)) {
			put16(out, 0);
			put16(out + 2, 0);
			put16(out + 4, (uint16_t)special[k].sign);
			put16(out + 6, 0);
			return 8;
		}
	}
	if (i < end && (s[i] == '+' || s[i] == '-')) {
		neg = s[i] == '-';
		i++;
	}
	start = i;
	if (i < end && s[i] == '.') {
		have_dp = true;
		i++;
	}
	if (i >= end || !isdigit((unsigned char)s[i])) {
		*why = "is not a number";
		return 0;
	}
	for (; i < end; i++) {
		if (isdigit((unsigned char)s[i])) {
			ddigits++;
			if (have_dp)
				dscale++;
			else
				dweight++;
		} else if (s[i] == '.' && !have_dp) {
			have_dp = true;
		} else {
			break;
		}
	}
	stop = i;
	if (i < end && (s[i] == 'e' || s[i] == 'E')) {
		int64_t exponent = 0;
		bool eneg = false;

		i++;
		if (i < end && (s[i] == '+' || s[i] == '-')) {
			eneg = s[i] == '-';
			i++;
		}
		if (i >= end || !isdigit((unsigned char)s[i])) {
			*why = "is not a number";
			return 0;
		}
		for (; i < end && isdigit((unsigned char)s[i]); i++) {
			exponent = exponent * 10 + (s[i] - '0');
			if (exponent > 1000000) {
				*why = "is out of numeric's range";
				return 0;
			}
		}
		if (eneg)
			exponent = -exponent;
		dweight += exponent;
		dscale -= exponent;
		if (dscale < 0)
			dscale = 0;
	}
	if (i != end) {
		*why = "is not a number";
		return 0;
	}
	/* Into base 10000, as set_var_from_str() does. */
	if (dweight >= 0)
		weight = (dweight + 1 + 4 - 1) / 4 - 1;
	else
		weight = -((-dweight - 1) / 4 + 1);
	offset = (weight + 1) * 4 - (dweight + 1);
	nd = (ddigits + (size_t)offset + 4 - 1) / 4;
	memset(digits, 0, 2 * nd);
	k = (size_t)offset;
	for (i = start; i < stop; i++) {
		static const uint16_t scale[4] = { 1000, 100, 10, 1 };
		uint16_t dig;

		if (s[i] == '.')
			continue;
		memcpy(&dig, digits + 2 * (k / 4), 2);
		dig = (uint16_t)(dig + (s[i] - '0') * scale[k % 4]);
		memcpy(digits + 2 * (k / 4), &dig, 2);
		k++;
	}
	/* strip_var(): no leading or trailing zero digits. */
	first = 0;
	last = nd;
	for (;;) {
		uint16_t dig;

		if (first == last)
			break;
		memcpy(&dig, digits + 2 * first, 2);
		if (dig)
			break;
		first++;
		weight--;
	}
	for (;;) {
		uint16_t dig;

		if (first == last)
			break;
		memcpy(&dig, digits + 2 * (last - 1), 2);
		if (dig)
			break;
		last--;
	}
	nd = last - first;
	if (nd == 0) {
		neg = false;
		weight = 0;
	}
	if (weight > INT16_MAX || weight < INT16_MIN ||
	    dscale > NUMERIC_DSCALE_MAX || nd > INT16_MAX) {
		*why = "is out of numeric's range";
		return 0;
	}
	for (k = 0; k < nd; k++) {
		uint16_t dig;

		memcpy(&dig, digits + 2 * (first + k), 2);
		put16(digits + 2 * k, dig);
	}
	put16(out, (uint16_t)nd);
	put16(out + 2, (uint16_t)(int16_t)weight);
	put16(out + 4, neg ? NUMERIC_NEG : NUMERIC_POS);
	put16(out + 6, (uint16_t)dscale);
	return 8 + 2 * nd;
}

/* Room numeric_from_double() needs (17 digits and alignment). */
#define DOUBLE_NUMERIC_BOUND (8 + 2 * 8)

/*
 * shortest_fixed() finds, for a finite a > 0 between 2^-22 and 2^53, the
 * fewest fraction digits k for which the k-digit decimal nearest to a
 * (ties to even, as printf rounds) reads back as a: n / 10^k. It works on
 * the exact value a = m / 2^s in 128-bit integers: n / 10^k reads back as
 * a when it lies within half a unit in the last place of a (a quarter
 * below a power of two, whose lower neighbour is closer), the bounds
 * included when m is even (strtod() rounds ties to even). The nearest
 * k-digit decimal with the fewest digits that reads back is exactly what
 * %.15g, %.16g or %.17g prints first that reads back (the correctly
 * rounded decimal of each precision); false when a is out of range or
 * needs more than 22 fraction digits, for the printf() path.
 */
static bool shortest_fixed(double a, uint64_t *n_out, int *k_out)
{
#ifdef __SIZEOF_INT128__
	unsigned __int128 p = 1;
	uint64_t bits, m;
	int exp, s, k;

	memcpy(&bits, &a, 8);
	exp = (int)(bits >> 52 & 0x7FF);
	if (exp == 0 || exp == 0x7FF)
		return false; /* zero, subnormal, infinite, NaN */
	m = (bits & ((UINT64_C(1) << 52) - 1)) | UINT64_C(1) << 52;
	s = 1075 - exp; /* a = m / 2^s */
	if (s < 0 || s > 74)
		return false;
	if (s == 0) {
		*n_out = m;
		*k_out = 0;
		return true;
	}
	for (k = 0; k <= 22; k++, p *= 10) {
		unsigned __int128 x = (unsigned __int128)m * p; /* a 10^k 2^s */
		unsigned __int128 half = (unsigned __int128)1 << (s - 1);
		unsigned __int128 n = x >> s;
		unsigned __int128 below = x - (n << s); /* n under a 10^k */
		unsigned __int128 d;
		bool even = !(m & 1), ok;

		if (below > half || (below == half && (n & 1))) {
			n++;
			d = (n << s) - x;
			ok = even ? 2 * d <= p : 2 * d < p;
		} else {
			d = below;
			if (m == UINT64_C(1) << 52)
				ok = 4 * d <= p; /* m is even */
			else
				ok = even ? 2 * d <= p : 2 * d < p;
		}
		if (ok) {
			if (n > UINT64_MAX)
				return false;
			*n_out = (uint64_t)n;
			*k_out = k;
			return true;
		}
	}
#else
	(void)a;
	(void)n_out;
	(void)k_out;
#endif
	return false;
}

/*
 * numeric_from_double() writes the shortest decimal that reads back as d
 * (what %.15g, else %.16g, else %.17g prints first that strtod() turns
 * back into d; from %.1g for a subnormal) as binary numeric; infinities
 * become numeric's. shortest_fixed() finds it without printf() for the
 * doubles data holds; printf() takes the rest.
 */
static size_t numeric_from_double(double d, uint8_t *out)
{
	char text[64];
	const char *why;
	double a = fabs(d);
	size_t n = 0;
	uint64_t v;
	int k, prec;

	if (isnan(d))
		return numeric_parse("NaN", 3, out, &why);
	if (isinf(d))
		return numeric_parse(d > 0 ? "Infinity" : "-Infinity",
				     d > 0 ? 8 : 9, out, &why);
	if (a == 0)
		return numeric_parse("0", 1, out, &why);
	if (shortest_fixed(a, &v, &k)) {
		char digits[20];
		int nd = 0, j;

		do {
			digits[nd++] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		if (d < 0)
			text[n++] = '-';
		if (nd <= k) {
			text[n++] = '0';
			text[n++] = '.';
			for (j = 0; j < k - nd; j++)
				text[n++] = '0';
		}
		for (j = nd - 1; j >= 0; j--) {
			text[n++] = digits[j];
			if (j == k && k > 0 && nd > k)
				text[n++] = '.';
		}
		return numeric_parse(text, n, out, &why);
	}
	/* Below DBL_MIN doubles lose precision: 15 digits may be too many. */
	for (prec = a < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
		snprintf(text, sizeof(text), "%.*g", prec, d);
		if (strtod(text, NULL) == d)
			break;
	}
	/* A locale whose decimal point is not "." (never set here). */
	for (char *p = text; *p; p++) {
		if (*p == ',')
			*p = '.';
	}
	return numeric_parse(text, strlen(text), out, &why);
}

/* Whether c is a hexadecimal digit; its value in *v. */
static bool hexval(char c, unsigned *v)
{
	if (c >= '0' && c <= '9')
		*v = (unsigned)(c - '0');
	else if (c >= 'a' && c <= 'f')
		*v = (unsigned)(c - 'a' + 10);
	else if (c >= 'A' && c <= 'F')
		*v = (unsigned)(c - 'A' + 10);
	else
		return false;
	return true;
}

/*
 * uuid_parse() reads a uuid as PostgreSQL's uuid_in() does
 * (string_to_uuid()): 32 hexadecimal digits in either case, a hyphen
 * allowed after any group of four, the whole optionally in braces.
 */
static bool uuid_parse(const char *s, size_t len, uint8_t *out)
{
	size_t i = 0, b;
	bool braces = false;

	if (len > 0 && s[0] == '{') {
		braces = true;
		i++;
	}
	for (b = 0; b < 16; b++) {
		unsigned hi, lo;

		if (len - i < 2 || !hexval(s[i], &hi) || !hexval(s[i + 1], &lo))
			return false;
		out[b] = (uint8_t)(hi << 4 | lo);
		i += 2;
		if (i < len && s[i] == '-' && b % 2 == 1 && b < 15)
			i++;
	}
	if (braces) {
		if (i >= len || s[i] != '}')
			return false;
		i++;
	}
	return i == len;
}

/* The most bytes a non-NULL value of c at row takes, length included. */
static size_t value_bound(const struct colbuf *c, enum db_pgtype t, size_t row)
{
	size_t len;

	switch (t) {
	case DB_PG_NUMERIC:
		if (c->kind == COL_FLOAT64)
			return 4 + DOUBLE_NUMERIC_BOUND;
		colbuf_text(c, row, &len);
		return 4 + numeric_bound(len);
	case DB_PG_UUID:
		return 4 + 16;
	case DB_PG_TEXT:
	case DB_PG_JSON:
	case DB_PG_JSONB:
	case DB_PG_OTHER:
		colbuf_text(c, row, &len);
		return 5 + len;
	default:
		return 4 + col_kind_width(c->kind);
	}
}

/* Whether kind can go into a column of type t (db_output_type()'s pairs). */
static bool pair_ok(enum col_kind kind, enum db_pgtype t)
{
	switch (t) {
	case DB_PG_NUMERIC:
		return kind == COL_FLOAT64 || kind == COL_TEXT;
	case DB_PG_TEXT:
	case DB_PG_UUID:
	case DB_PG_JSON:
	case DB_PG_JSONB:
		return kind == COL_TEXT;
	case DB_PG_OTHER:
		return false;
	default:
		return kind == db_pgtype_kind(t);
	}
}

/* Writes one non-NULL value at p; returns the end, or NULL (err set). */
static uint8_t *encode_value(uint8_t *p, const struct colbuf *c,
			     enum db_pgtype t, size_t col, size_t row,
			     struct buf *err)
{
	const void *v;
	const char *s, *why = NULL;
	size_t len, n;

	if (c->kind == COL_TEXT) {
		s = colbuf_text(c, row, &len);
		switch (t) {
		case DB_PG_NUMERIC:
			n = numeric_parse(s, len, p + 4, &why);
			if (!n)
				goto bad_text;
			return put32(p, (uint32_t)n) + n;
		case DB_PG_UUID:
			if (!uuid_parse(s, len, p + 4)) {
				why = "is not a uuid";
				goto bad_text;
			}
			return put32(p, 16) + 16;
		default:
			break;
		}
		if (memchr(s, '\0', len)) {
			buf_errf(err,
				 "column %zu, row %zu: text with a NUL "
				 "character, which PostgreSQL cannot store",
				 col + 1, row + 1);
			return NULL;
		}
		if (t == DB_PG_JSONB) {
			p = put32(p, (uint32_t)len + 1);
			*p++ = 1;
		} else {
			p = put32(p, (uint32_t)len);
		}
		if (len)
			memcpy(p, s, len);
		return p + len;
	}
	v = colbuf_fixed(c, row);
	switch (c->kind) {
	case COL_BOOL:
		p = put32(p, 1);
		*p = *(const uint8_t *)v ? 1 : 0;
		return p + 1;
	case COL_INT16: {
		uint16_t x;

		memcpy(&x, v, 2);
		return put16(put32(p, 2), x);
	}
	case COL_INT32:
	case COL_FLOAT32: {
		uint32_t x;

		memcpy(&x, v, 4);
		return put32(put32(p, 4), x);
	}
	case COL_FLOAT64:
		if (t == DB_PG_NUMERIC) {
			double d;

			memcpy(&d, v, 8);
			n = numeric_from_double(d, p + 4);
			return put32(p, (uint32_t)n) + n;
		}
		/* fall through */
	case COL_INT64: {
		uint64_t x;

		memcpy(&x, v, 8);
		return put64(put32(p, 8), x);
	}
	case COL_DATE: {
		int32_t days;

		memcpy(&days, v, 4);
		/* The result must not be one of PostgreSQL's infinities. */
		if (days < INT32_MIN + DAYS_1970_TO_2000 + 1) {
			why = "a date out of range";
			goto bad;
		}
		return put32(put32(p, 4), (uint32_t)(days - DAYS_1970_TO_2000));
	}
	case COL_TIMESTAMP:
	case COL_TIMESTAMPTZ: {
		int64_t us;

		memcpy(&us, v, 8);
		if (us < INT64_MIN + USECS_1970_TO_2000 + 1) {
			why = "a time out of range";
			goto bad;
		}
		return put64(put32(p, 8), (uint64_t)(us - USECS_1970_TO_2000));
	}
	default:
		break;
	}
	TW_BUG("no encoder for kind %d", (int)c->kind);

bad_text:
	/* Row data stays out of messages, which end up in logs. */
	buf_errf(err, "column %zu, row %zu: the text %s", col + 1, row + 1,
		 why);
	return NULL;
bad:
	buf_errf(err, "column %zu, row %zu: %s", col + 1, row + 1, why);
	return NULL;
}

int db_bin_encode_rows(struct buf *out, const struct colbatch *b,
		       const enum db_pgtype *types, size_t from, size_t to,
		       struct buf *err)
{
	const size_t start = out->len;
	size_t fixed = 2, text = 0, i, row;
	bool presized;
	int rc = 0;

	if (from > to || to > b->nrows)
		TW_BUG("rows [%zu, %zu) of a batch of %zu", from, to, b->nrows);
	if (b->ncols > INT16_MAX) {
		buf_errf(err, "%zu columns, more than binary COPY allows",
			 b->ncols);
		return TW_EINVAL;
	}
	for (i = 0; i < b->ncols; i++) {
		const struct colbuf *c = &b->cols[i];

		if (!pair_ok(c->kind, types[i])) {
			buf_errf(err,
				 "column %zu: a column of kind %s cannot be "
				 "stored as %s",
				 i + 1, col_kind_name(c->kind),
				 db_pgtype_name(types[i]));
			return TW_EINVAL;
		}
		if (c->kind == COL_TEXT) {
			int32_t o0, o1;

			memcpy(&o0, c->offsets.ptr + from * 4, 4);
			memcpy(&o1, c->offsets.ptr + to * 4, 4);
			/* numeric_bound() is at most len + 20 */
			text += (size_t)(o1 - o0);
			fixed += 25;
		} else {
			fixed += value_bound(c, types[i], 0);
		}
	}
	/* One allocation for the whole range when the cap allows it. */
	presized = buf_grow(out, fixed * (to - from) + text) == 0;
	for (row = from; row < to; row++) {
		uint8_t *p;

		if (!presized) {
			size_t need = 2;

			for (i = 0; i < b->ncols; i++)
				need += colbuf_is_null(&b->cols[i], row)
						? 4
						: value_bound(&b->cols[i],
							      types[i], row);
			if (buf_grow(out, need) < 0) {
				rc = TW_ETOOBIG;
				goto fail;
			}
		}
		p = put16((uint8_t *)out->ptr + out->len, (uint16_t)b->ncols);
		for (i = 0; i < b->ncols; i++) {
			const struct colbuf *c = &b->cols[i];

			if (c->any_null && colbuf_is_null(c, row)) {
				p = put32(p, UINT32_MAX);
				continue;
			}
			p = encode_value(p, c, types[i], i, row, err);
			if (!p) {
				rc = TW_EINVAL;
				goto fail;
			}
		}
		out->len = (size_t)(p - (uint8_t *)out->ptr);
	}
	if (out->alloc)
		out->ptr[out->len] = '\0';
	return 0;

fail:
	buf_setlen(out, start);
	if (rc == TW_ETOOBIG)
		buf_errf(err, "no room for rows %zu to %zu in the COPY buffer",
			 from + 1, to);
	return rc;
}
