-- 0004_published_tables: which output tables Tablewright made (so that
-- replace and append may only touch those), and fair claiming between users.

-- One row per table a job created in the output schema. A job in mode
-- replace or append may only name a table listed here (and, unless its user
-- is an admin, one its user owns): never the source, a table someone made by
-- hand, a view, or another analyst's result. The publisher (the worker's
-- last step, next to the job's final status) inserts the row when its job
-- creates the table and updates job_id and updated_at when a later job
-- replaces or appends to it; nothing else writes here.
CREATE TABLE published_tables (
	schema_name text NOT NULL,
	table_name text NOT NULL,
	user_id bigint NOT NULL REFERENCES users (id),
	job_id bigint NULL REFERENCES jobs (id) ON DELETE SET NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (schema_name, table_name)
);
COMMENT ON TABLE published_tables IS
	'Tables Tablewright created in the output schema. user_id owns the '
	'table (the user whose job first created it; it stays theirs when an '
	'admin''s job replaces it); job_id is the job that last wrote it. '
	'A row whose table no longer exists is ignored, and may be deleted.';

CREATE TRIGGER published_tables_updated_at BEFORE UPDATE ON published_tables
	FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A user's tables (the table explorer's produced_by, a rollback's owner).
CREATE INDEX published_tables_user_idx ON published_tables (user_id);

-- When each user last had a job claimed: queue_claim() takes the next job
-- from the user with the fewest running jobs and, among those, the one
-- served longest ago, so one user's long queue does not hold up everyone
-- else's jobs. Written by queue_claim() in its claiming statement.
CREATE TABLE queue_users (
	user_id bigint PRIMARY KEY REFERENCES users (id),
	last_claimed_at timestamptz NOT NULL
);
COMMENT ON TABLE queue_users IS
	'When a job of each user was last claimed by a worker: the round robin '
	'between users in queue_claim(). Rows may be deleted at any time (a '
	'user without one goes first).';

-- A user's queued jobs, oldest first: the per-user limit on queued jobs
-- (TW_MAX_QUEUED_PER_USER) counts them, and the claim lists the users with
-- queued jobs and takes each user's oldest.
CREATE INDEX jobs_user_queue_idx ON jobs (user_id, queued_at, id)
	WHERE status = 'queued';
