/*
 * copy.h - COPY for the data path: thin wrappers that follow libpq's
 * contract, and the codec between PostgreSQL's binary COPY format and
 * column batches (src/core/colbatch.h).
 *
 * Wrappers (blocking connections):
 *	db_copy_out_begin()  PQexec of a COPY ... TO STDOUT (FORMAT binary)
 *	db_copy_out_next()   one row at a time (PQgetCopyData); at the end,
 *	                     PQgetResult until NULL, its error reported
 *	db_copy_in_begin()   PQexec of a COPY ... FROM STDIN (FORMAT binary)
 *	db_copy_in_put()     PQputCopyData (1 sent, 0 never happens on a
 *	                     blocking connection, -1 error)
 *	db_copy_in_end()     PQputCopyEnd (with an error message: abort the
 *	                     COPY), then PQgetResult until NULL
 *
 * Binary format: the 19-byte header (signature, flags, extension), then per
 * row an int16 field count and per field an int32 length (-1: NULL) and the
 * value in network order, then the int16 trailer -1.
 */
#ifndef TW_DB_COPY_H
#define TW_DB_COPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "core/buf.h"
#include "core/colbatch.h"

/* The PostgreSQL types the data path carries natively. */
enum db_pgtype {
	/* anything else: selected as col::text, sent as text */
	DB_PG_OTHER = 0,
	DB_PG_BOOL,
	DB_PG_INT2,
	DB_PG_INT4,
	DB_PG_INT8,
	DB_PG_FLOAT4,
	DB_PG_FLOAT8,
	DB_PG_NUMERIC,
	DB_PG_TEXT, /* text, varchar, bpchar, name */
	DB_PG_DATE,
	DB_PG_TIMESTAMP,
	DB_PG_TIMESTAMPTZ,
	DB_PG_UUID,
	DB_PG_JSON,
	DB_PG_JSONB,
};

/* A column of a source or destination table. */
struct db_column {
	char *name; /* as in the catalog */
	char *type; /* format_type(): "numeric(10,2)", "text" */
	enum db_pgtype pgtype;
	bool nullable;	    /* not attnotnull */
	enum col_kind kind; /* how it travels: db_pgtype_kind() */
};

struct db_columns {
	struct db_column *items;
	size_t n;
};

void db_columns_release(struct db_columns *cols);

/* The type of a catalog type oid; DB_PG_OTHER for the rest. */
enum db_pgtype db_pgtype_from_oid(unsigned oid);
/* How a type travels in a batch (DB_PG_OTHER, numeric, uuid, json: text). */
enum col_kind db_pgtype_kind(enum db_pgtype t);
/* Its name in a JOB frame's columns (protocol.md): "int8", ..., "other". */
const char *db_pgtype_name(enum db_pgtype t);

/* Appends name quoted by PQescapeIdentifier(). */
int db_add_ident(struct buf *sql, PGconn *conn, const char *name,
		 struct buf *err);

/*
 * db_copy_select() appends "COPY (SELECT <cols> FROM <schema>.<name>", every
 * identifier quoted and a DB_PG_OTHER column selected as col::text (how it
 * travels); the caller adds any clause, then ") TO STDOUT (FORMAT binary)".
 */
int db_copy_select(struct buf *sql, PGconn *conn, const struct db_columns *cols,
		   const char *schema, const char *name, struct buf *err);

/*
 * db_table_columns() reads the columns of schema.name (attnum order,
 * dropped columns left out): TW_ENOTFOUND when there is no such table.
 */
int db_table_columns(PGconn *conn, const char *schema, const char *name,
		     struct db_columns *out, struct buf *err);

/*
 * db_output_type() checks a destination type the runner asked for against
 * the kind it sends: bool->boolean, int16->smallint, int32->integer,
 * int64->bigint, float32->real, float64->"double precision" or numeric,
 * date->date, timestamp->"timestamp without time zone",
 * timestamptz->"timestamp with time zone", text->text, uuid, json, jsonb or
 * numeric; numeric may carry "(p,s)" or "(p)". Fills *pgtype; TW_EINVAL
 * with a message for any other pair.
 */
int db_output_type(enum col_kind kind, const char *type, enum db_pgtype *pgtype,
		   struct buf *err);

/* --- COPY wrappers -------------------------------------------------------- */

int db_copy_out_begin(PGconn *conn, const char *sql, struct buf *err);
/* 1: *row and *len is one row's bytes (PQfreemem() it); 0: the end (the
 * COPY's result was fine); <0 with err on failure. */
int db_copy_out_next(PGconn *conn, char **row, int *len, struct buf *err);
int db_copy_in_begin(PGconn *conn, const char *sql, struct buf *err);
int db_copy_in_put(PGconn *conn, const char *data, size_t len, struct buf *err);
/* abort_msg NULL ends the COPY; otherwise aborts it with that message. */
int db_copy_in_end(PGconn *conn, const char *abort_msg, struct buf *err);

/* --- binary COPY codec ---------------------------------------------------- */

/* The decoder's state: the types of the columns, whether the header and
 * the trailer have been seen. */
struct db_bin_reader {
	const enum db_pgtype *types;
	size_t ncols;
	bool header_seen;
	bool trailer_seen;
	uint64_t rows; /* rows decoded so far, for messages */
};

void db_bin_reader_init(struct db_bin_reader *r, const enum db_pgtype *types,
			size_t ncols);

/*
 * db_bin_decode_row() decodes one message of a COPY OUT stream (the first
 * one starts with the header) and appends its row to b (whose kinds are
 * db_pgtype_kind() of the types): 1 a row appended, 0 the trailer,
 * TW_ETOOBIG the batch is full (nothing appended: send it, reset it, call
 * again), TW_EINVAL with a message for anything malformed (a field of the
 * wrong length, a numeric with bad digits, a wrong field count).
 */
int db_bin_decode_row(struct db_bin_reader *r, const char *msg, size_t len,
		      struct colbatch *b, struct buf *err);

/* Appends the binary COPY header, or the trailer. */
int db_bin_encode_header(struct buf *out);
int db_bin_encode_trailer(struct buf *out);

/*
 * db_bin_encode_rows() appends rows [from, to) of b as binary COPY tuples
 * for columns of the given types (each pair allowed by db_output_type()).
 * TW_EINVAL with a message naming the column and row for a value the type
 * refuses (text that is not a uuid or a number), TW_ETOOBIG when out is
 * full. A float64 infinity becomes numeric's Infinity; NaN never arrives
 * (the runner sends pandas' missing values as NULL).
 */
int db_bin_encode_rows(struct buf *out, const struct colbatch *b,
		       const enum db_pgtype *types, size_t from, size_t to,
		       struct buf *err);

#endif
