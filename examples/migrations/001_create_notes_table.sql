-- The dev stack's example migrations (stacks/Pulumi.dev.yaml, pgfleet:migrations): the
-- application's own table, in a schema of its own. Run in a project database, it runs as the
-- project's role, which then owns both (that role may not create in `public`, the admin's).
CREATE SCHEMA IF NOT EXISTS app;

CREATE TABLE app.notes (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id UUID NOT NULL,
  body TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
