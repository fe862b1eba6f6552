-- A sample of each model's training features, the reference for drift on prediction inputs.
ALTER TABLE models ADD COLUMN IF NOT EXISTS reference_key text;
ALTER TABLE models ADD COLUMN IF NOT EXISTS reference_sha256 text;
ALTER TABLE models ADD COLUMN IF NOT EXISTS reference_size bigint;
