-- 0005_table_versions: the versions of every table a job published, and
-- each publish's provenance (which job, script version, source and user),
-- so that a replaced table can be rolled back and GET /api/v1/tables/
-- {schema}/{name} can say where a table came from.
--
-- Written only by src/db/publish.c: by the worker's publishing step, in the
-- job's own transaction (so a failed job leaves no row), and by a rollback
-- (the API route and `tablewright rollback`).

-- One row per generation of a published table: a create makes version 1,
-- each replace the next number; an append adds rows to the current version
-- and makes none. The current version is the relation under the name; a
-- version that a replace swapped out is kept (TW_KEEP_VERSIONS of them) as
-- a table in the app schema named kept_name, until it is rolled back or
-- pushed out by newer ones.
CREATE TABLE table_versions (
	schema_name text NOT NULL,
	table_name text NOT NULL,
	version int NOT NULL CHECK (version >= 1),
	state text NOT NULL
		CHECK (state IN ('current', 'kept', 'dropped', 'rolled_back')),
	relid oid NULL,
	kept_name text NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (schema_name, table_name, version),
	CHECK ((state = 'kept') = (kept_name IS NOT NULL)),
	CHECK ((state IN ('current', 'kept')) = (relid IS NOT NULL))
);
COMMENT ON TABLE table_versions IS
	'Generations of the tables jobs published in the output schema. state: '
	'current (the table under the name now), kept (swapped out by a '
	'replace, kept for rollback as the app schema''s table kept_name), '
	'dropped (no longer kept: pushed out by TW_KEEP_VERSIONS, or the '
	'table was gone when a job created it again), rolled_back (the '
	'current version a rollback dropped). relid is the table''s pg_class '
	'oid while it exists: a table dropped and made again by hand under '
	'the same name is not the published one.';
COMMENT ON COLUMN table_versions.kept_name IS
	'While kept: the table''s name in the app schema, tw_kept_<oid>.';

-- At most one current version per table.
CREATE UNIQUE INDEX table_versions_current_idx
	ON table_versions (schema_name, table_name) WHERE state = 'current';

-- One row per publish: what wrote which version, from what.
CREATE TABLE table_publishes (
	id bigserial PRIMARY KEY,
	schema_name text NOT NULL,
	table_name text NOT NULL,
	version int NOT NULL,
	job_id bigint NULL REFERENCES jobs (id) ON DELETE SET NULL,
	script_id bigint NULL REFERENCES scripts (id) ON DELETE SET NULL,
	script_version int NULL,
	source_table text NOT NULL,
	user_id bigint NOT NULL REFERENCES users (id),
	mode text NOT NULL CHECK (mode IN ('create', 'replace', 'append')),
	rows bigint NOT NULL CHECK (rows >= 0),
	published_at timestamptz NOT NULL DEFAULT now(),
	FOREIGN KEY (schema_name, table_name, version)
		REFERENCES table_versions (schema_name, table_name, version)
		ON DELETE CASCADE
);
COMMENT ON TABLE table_publishes IS
	'Provenance: one row per job that published into a table version '
	'(its create or replace, then any appends). mode is the job''s mode; '
	'rows the rows it wrote (the job''s rows_out).';

CREATE INDEX table_publishes_table_idx
	ON table_publishes (schema_name, table_name, version, id);
