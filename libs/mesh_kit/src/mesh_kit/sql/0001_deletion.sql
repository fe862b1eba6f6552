-- Datasets erased in this schema, by the SHA-256 of their id only: an event naming one is discarded,
-- so a job still running when its dataset is deleted cannot bring rows back.
CREATE TABLE IF NOT EXISTS deleted_datasets (
    dataset_sha256  text PRIMARY KEY,
    deleted_at      timestamptz NOT NULL DEFAULT now()
);
