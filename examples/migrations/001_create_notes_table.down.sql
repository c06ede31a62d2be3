-- Undoes 001_create_notes_table.sql.
DROP TABLE app.notes;
DROP SCHEMA app;
