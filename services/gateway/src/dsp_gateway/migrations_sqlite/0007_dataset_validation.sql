-- What the upload's validation rules found (as migrations/0007): JSON text, NULL when no rule was given.
ALTER TABLE datasets ADD COLUMN validation TEXT;
