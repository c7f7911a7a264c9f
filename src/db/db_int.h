/*
 * db_int.h - helpers shared by the files of the db module only (libpq's
 * libpq-int.h). Nothing outside src/db includes this header.
 */
#ifndef TW_DB_DB_INT_H
#define TW_DB_DB_INT_H

#include "core/buf.h"

/*
 * db__add_first_line() appends the first non-empty line of msg to out, with
 * white space trimmed at both ends; libpq's messages end with a newline and
 * often carry a second, indented hint line. msg NULL or empty appends
 * fallback instead.
 */
void db__add_first_line(struct buf *out, const char *msg, const char *fallback);

/*
 * db__redact() replaces every occurrence of secret in buf b (from offset
 * from on) with "***". A NULL or empty secret changes nothing. Used on
 * libpq messages, which may quote the connection string they failed to
 * parse.
 */
void db__redact(struct buf *b, size_t from, const char *secret);

#endif
