-- What GET /api/v1/jobs/{id}/events streams: every change of a job's status,
-- each batch of its log and a sample of its metrics, numbered per job so a
-- client that reconnects with Last-Event-ID gets exactly what it missed.
-- Rows are written by src/queue/queue.c (queue_event_add), always in the
-- same transaction as the change they describe.

ALTER TABLE jobs ADD COLUMN event_seq int NOT NULL DEFAULT 0;
COMMENT ON COLUMN jobs.event_seq IS
	'The seq of the job''s newest job_events row; bumped to number the next.';

CREATE TABLE job_events (
	job_id bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	seq int NOT NULL CHECK (seq >= 1),
	kind text NOT NULL CHECK (kind IN ('status', 'log', 'metrics')),
	data text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (job_id, seq)
);
COMMENT ON TABLE job_events IS
	'A job''s event stream: status (JSON {"status","error_code",'
	'"error_message"}), log (JSON {"text"}) and metrics (JSON {"wall_ms",'
	'"cpu_percent","cpu_seconds","rss_bytes","commit_bytes",'
	'"peak_rss_bytes"}). seq counts from 1 per job.';

-- Workers find jobs that are running under their name (heartbeat, cancel).
CREATE INDEX jobs_worker_idx ON jobs (worker_id) WHERE status = 'running';
