-- Jobs cancelled by their user, as this service learned of them (job.cancel_requested): an event of one
-- that arrives later, here or at a replica started since, is dropped with job.cancelled.
CREATE TABLE IF NOT EXISTS cancelled_jobs (
    job_id        uuid        PRIMARY KEY,
    requested_at  timestamptz NOT NULL,
    reason        text        NOT NULL DEFAULT '',
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
