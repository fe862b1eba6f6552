-- A deletion belongs to the organisation of its dataset: another organisation's deletion id answers 404.
ALTER TABLE deletions ADD COLUMN IF NOT EXISTS organization_id uuid NOT NULL
    DEFAULT '00000000-0000-0000-0000-000000000000';
ALTER TABLE deletions ALTER COLUMN organization_id DROP DEFAULT;
