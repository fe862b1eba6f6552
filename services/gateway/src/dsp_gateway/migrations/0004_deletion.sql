-- Deletions of datasets (DELETE /api/v1/datasets/{id} and DSP_RETENTION_DAYS), kept for the client to poll.
-- The dataset id is kept in clear only while the deletion is pending (with the artifact prefixes still to
-- sweep); once every service has acknowledged, only its SHA-256 remains.
CREATE TABLE IF NOT EXISTS deletions (
    deletion_id        uuid PRIMARY KEY,
    dataset_sha256     text        NOT NULL,
    dataset_id         uuid,
    reason             text        NOT NULL CHECK (reason IN ('requested', 'retention')),
    status             text        NOT NULL CHECK (status IN ('pending', 'completed')),
    services           jsonb       NOT NULL,
    acks               jsonb       NOT NULL DEFAULT '{}'::jsonb,
    artifact_prefixes  jsonb       NOT NULL DEFAULT '[]'::jsonb,
    requested_at       timestamptz NOT NULL,
    completed_at       timestamptz,
    CHECK (status = 'pending' OR (dataset_id IS NULL AND artifact_prefixes = '[]'::jsonb))
);
CREATE INDEX IF NOT EXISTS deletions_dataset_idx ON deletions (dataset_sha256);
