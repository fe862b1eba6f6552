-- Ownership: every dataset, job, dashboard and model of the read model carries its organisation and owner.
-- The gateway sets both from the caller when it creates a dataset or a job; dashboards and models take
-- them from the job that produced them. Every API query filters on organization_id, so another
-- organisation's object reads exactly like a missing one.
--
-- Rows written before accounts existed belong to nobody: they get the nil organisation and owner
-- (00000000-0000-0000-0000-000000000000), which no real organisation has, so no caller sees them.
-- An operator adopts them into an organisation with, e.g.:
--   UPDATE gateway.datasets SET organization_id = '<org>', owner_id = '<user>' WHERE organization_id = '00000000-0000-0000-0000-000000000000';
--   (and the same for jobs, dashboards and models)

ALTER TABLE datasets ADD COLUMN IF NOT EXISTS organization_id uuid;
ALTER TABLE datasets ADD COLUMN IF NOT EXISTS owner_id uuid;
UPDATE datasets SET organization_id = '00000000-0000-0000-0000-000000000000',
                    owner_id = '00000000-0000-0000-0000-000000000000'
 WHERE organization_id IS NULL OR owner_id IS NULL;
ALTER TABLE datasets ALTER COLUMN organization_id SET NOT NULL;
ALTER TABLE datasets ALTER COLUMN owner_id SET NOT NULL;
CREATE INDEX IF NOT EXISTS datasets_org_created_idx ON datasets (organization_id, created_at DESC, dataset_id);
CREATE INDEX IF NOT EXISTS datasets_owner_idx ON datasets (owner_id);

ALTER TABLE jobs ADD COLUMN IF NOT EXISTS organization_id uuid;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS owner_id uuid;
UPDATE jobs j SET organization_id = d.organization_id, owner_id = d.owner_id
  FROM datasets d WHERE j.dataset_id = d.dataset_id AND (j.organization_id IS NULL OR j.owner_id IS NULL);
ALTER TABLE jobs ALTER COLUMN organization_id SET NOT NULL;
ALTER TABLE jobs ALTER COLUMN owner_id SET NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_owner_idx ON jobs (owner_id);
-- the per-organisation AutoML quota counts the analyses still running
CREATE INDEX IF NOT EXISTS jobs_org_active_analyses_idx ON jobs (organization_id)
 WHERE kind = 'analysis' AND status IN ('queued', 'running');

ALTER TABLE dashboards ADD COLUMN IF NOT EXISTS organization_id uuid;
ALTER TABLE dashboards ADD COLUMN IF NOT EXISTS owner_id uuid;
UPDATE dashboards b SET organization_id = j.organization_id, owner_id = j.owner_id
  FROM jobs j WHERE b.job_id = j.job_id AND (b.organization_id IS NULL OR b.owner_id IS NULL);
UPDATE dashboards SET organization_id = '00000000-0000-0000-0000-000000000000',
                      owner_id = '00000000-0000-0000-0000-000000000000'
 WHERE organization_id IS NULL OR owner_id IS NULL;
ALTER TABLE dashboards ALTER COLUMN organization_id SET NOT NULL;
ALTER TABLE dashboards ALTER COLUMN owner_id SET NOT NULL;
CREATE INDEX IF NOT EXISTS dashboards_owner_idx ON dashboards (owner_id);
CREATE INDEX IF NOT EXISTS dashboards_dataset_idx ON dashboards (dataset_id);

-- The models the analyses registered (from analysis.completed.v1), so predict can refuse a foreign model
-- before it reaches ml.
CREATE TABLE IF NOT EXISTS models (
    model_id         uuid PRIMARY KEY,
    job_id           uuid        NOT NULL,
    dataset_id       uuid        NOT NULL,
    organization_id  uuid        NOT NULL,
    owner_id         uuid        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS models_dataset_idx ON models (dataset_id);
CREATE INDEX IF NOT EXISTS models_owner_idx ON models (owner_id);
INSERT INTO models (model_id, job_id, dataset_id, organization_id, owner_id)
SELECT (results->>'model_id')::uuid, job_id, dataset_id, organization_id, owner_id
  FROM jobs WHERE results ? 'model_id'
ON CONFLICT (model_id) DO NOTHING;
