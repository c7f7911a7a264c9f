-- 0001_init: Tablewright's own tables.
--
-- Names are unqualified: the migration runner (src/db/migrate.c) sets
-- search_path to the app schema (TW_APP_SCHEMA, default tablewright) and
-- wraps this file in one transaction with its schema_migrations row, so the
-- file holds no BEGIN/COMMIT. Once applied anywhere this file is never
-- edited again; later changes go into 0002_*.sql and up.

-- updated_at follows every UPDATE without each query having to set it.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	NEW.updated_at := now();
	RETURN NEW;
END;
$$;

CREATE TABLE users (
	id bigserial PRIMARY KEY,
	email text NOT NULL UNIQUE
		CHECK (email = lower(email) AND length(email) <= 254),
	password_hash text NOT NULL,
	role text NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
	disabled boolean NOT NULL DEFAULT false,
	token_version int NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE users IS
	'People who sign in. email is stored lower-cased; password_hash is '
	'bcrypt ($2b$). Users are disabled, not deleted, so their jobs keep '
	'their owner. Raising token_version revokes every token issued before.';

CREATE TRIGGER users_updated_at BEFORE UPDATE ON users
	FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE scripts (
	id bigserial PRIMARY KEY,
	user_id bigint NOT NULL REFERENCES users (id),
	name text NOT NULL CHECK (name <> ''),
	code_text text NOT NULL,
	current_version int NOT NULL DEFAULT 1 CHECK (current_version >= 1),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	deleted_at timestamptz NULL
);
COMMENT ON TABLE scripts IS
	'Saved transformation scripts. code_text is the latest version, a copy '
	'of script_versions (id, current_version). Deleting a script sets '
	'deleted_at: jobs keep pointing at the code they ran, and the name is '
	'free again for a new script.';

-- A name is unique per user among scripts that are not deleted.
CREATE UNIQUE INDEX scripts_user_name_key ON scripts (user_id, name)
	WHERE deleted_at IS NULL;

CREATE TRIGGER scripts_updated_at BEFORE UPDATE ON scripts
	FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE script_versions (
	script_id bigint NOT NULL REFERENCES scripts (id) ON DELETE CASCADE,
	version int NOT NULL CHECK (version >= 1),
	code_text text NOT NULL,
	author_id bigint REFERENCES users (id),
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (script_id, version)
);
COMMENT ON TABLE script_versions IS
	'One immutable row per save of a script, so a job records exactly which '
	'code ran. Rows are inserted, never updated.';

CREATE TABLE jobs (
	id bigserial PRIMARY KEY,
	user_id bigint NOT NULL REFERENCES users (id),
	script_id bigint NOT NULL REFERENCES scripts (id),
	script_version int NOT NULL,
	source_table text NOT NULL,
	destination_table text NOT NULL,
	mode text NOT NULL CHECK (mode IN ('create', 'replace', 'append')),
	status text NOT NULL DEFAULT 'queued' CHECK (status IN
		('queued', 'running', 'succeeded', 'failed', 'cancelled')),
	error_code text NULL,
	error_message text NULL,
	logs text NOT NULL DEFAULT '',
	logs_truncated boolean NOT NULL DEFAULT false,
	queued_at timestamptz NOT NULL DEFAULT now(),
	started_at timestamptz NULL,
	completed_at timestamptz NULL,
	attempt int NOT NULL DEFAULT 0 CHECK (attempt >= 0),
	max_attempts int NOT NULL DEFAULT 1 CHECK (max_attempts >= 1),
	worker_id text NULL,
	heartbeat_at timestamptz NULL,
	cancel_requested boolean NOT NULL DEFAULT false,
	rows_in bigint NULL,
	rows_out bigint NULL,
	peak_memory_bytes bigint NULL,
	cpu_seconds double precision NULL,
	duration_ms bigint NULL,
	FOREIGN KEY (script_id, script_version)
		REFERENCES script_versions (script_id, version)
);
COMMENT ON TABLE jobs IS
	'One run of a script over a source table, and the queue itself: '
	'workers claim queued rows with FOR UPDATE SKIP LOCKED, heartbeat while '
	'running, and record the outcome (status, error_code, metrics). logs is '
	'capped; logs_truncated says that lines were dropped.';

-- The queue: the oldest queued job first (the claim query's ORDER BY).
CREATE INDEX jobs_queue_idx ON jobs (queued_at, id) WHERE status = 'queued';
-- A user's job list, newest first.
CREATE INDEX jobs_user_idx ON jobs (user_id, id DESC);
-- A script's job history, newest first.
CREATE INDEX jobs_script_idx ON jobs (script_id, id DESC);
-- Recovery of running jobs whose worker stopped heartbeating.
CREATE INDEX jobs_running_heartbeat_idx ON jobs (heartbeat_at)
	WHERE status = 'running';

CREATE TABLE workers (
	id text PRIMARY KEY,
	hostname text NULL,
	pid int NULL,
	started_at timestamptz NOT NULL DEFAULT now(),
	heartbeat_at timestamptz NOT NULL DEFAULT now(),
	concurrency int NULL
);
COMMENT ON TABLE workers IS
	'Worker processes that announce themselves and heartbeat; /healthz '
	'counts the ones with a recent heartbeat_at.';

CREATE INDEX workers_heartbeat_idx ON workers (heartbeat_at);

CREATE TABLE login_attempts (
	id bigserial PRIMARY KEY,
	email text NOT NULL,
	client_addr text NULL,
	attempted_at timestamptz NOT NULL DEFAULT now(),
	succeeded boolean NOT NULL
);
COMMENT ON TABLE login_attempts IS
	'Sign-in attempts, for throttling by account and by client address. '
	'email is as typed (lower-cased), whether or not such a user exists. '
	'Old rows may be deleted at any time.';

CREATE INDEX login_attempts_email_idx ON login_attempts (email, attempted_at);
CREATE INDEX login_attempts_client_idx
	ON login_attempts (client_addr, attempted_at);
CREATE INDEX login_attempts_attempted_idx ON login_attempts (attempted_at);
