-- The hash of the model's file manifest, pinned at training time and checked at every load.
ALTER TABLE models ADD COLUMN IF NOT EXISTS manifest_sha256 text;
