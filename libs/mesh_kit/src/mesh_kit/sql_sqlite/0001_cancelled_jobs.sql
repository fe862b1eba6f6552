-- Jobs cancelled by their user, as this service learned of them (job.cancel_requested): an event of one
-- that arrives later is dropped with job.cancelled.
CREATE TABLE IF NOT EXISTS cancelled_jobs (
    job_id        TEXT PRIMARY KEY,
    requested_at  TEXT NOT NULL,
    reason        TEXT NOT NULL DEFAULT '',
    recorded_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
