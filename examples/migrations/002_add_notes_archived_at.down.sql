-- Undoes 002_add_notes_archived_at.sql.
DROP INDEX app.notes_user_id_idx;
ALTER TABLE app.notes DROP COLUMN archived_at;
