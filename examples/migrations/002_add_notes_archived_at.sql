-- A column and an index on the table 001 created (seed 003: one logical change per migration).
ALTER TABLE app.notes ADD COLUMN archived_at TIMESTAMPTZ;

CREATE INDEX notes_user_id_idx ON app.notes (user_id) WHERE archived_at IS NULL;
