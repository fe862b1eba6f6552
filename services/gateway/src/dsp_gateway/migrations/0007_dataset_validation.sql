-- What the upload's validation rules found (a ValidationSummary: verdict, counts, each rule's result), from
-- dataset.ingested. NULL: no rule was given. A broken rule marks the dataset, it does not stop it.
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS validation jsonb;
