-- Comparisons of two datasets (POST /api/v1/compare): a job of kind 'comparison' names dataset A (the reference) in
-- dataset_id and dataset B in dataset_id_b, so that deleting either dataset erases the comparison with it.
ALTER TABLE jobs DROP CONSTRAINT IF EXISTS jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ('upload', 'analysis', 'dashboard', 'comparison'));
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS dataset_id_b uuid REFERENCES datasets (dataset_id);
CREATE INDEX IF NOT EXISTS jobs_dataset_b_idx ON jobs (dataset_id_b) WHERE dataset_id_b IS NOT NULL;
