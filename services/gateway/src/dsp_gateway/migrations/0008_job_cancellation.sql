-- A user may cancel a job (POST /api/v1/jobs/{id}/cancel): it ends at once as 'cancelled', and no later
-- event moves it again. cancellation: when, why, by whom, and each stage's job.cancelled acknowledgement
-- ({"requested_at", "reason", "requested_by", "stages": [{"stage", "step", "stopped_after_s", "at"}]}).
ALTER TABLE jobs DROP CONSTRAINT IF EXISTS jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled'));
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS cancellation jsonb;
