/**
 * `pgfleet:migrations.allowAdmin` through the real engine and server, on the repository's
 * program: two projects and their template have 001 (a table); then an admin migration
 * (CREATE EXTENSION citext) and one using it are added. Without `allowAdmin` the preview fails
 * naming the file, the switch and each project database, and nothing runs; with it, `up` puts the
 * extension into each project's admin-owned pgfleet_extensions (the template, the operator's,
 * runs it as the admin as before), the next migration uses it unqualified as the project's role,
 * and the next preview has no changes.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXTENSION_SCHEMA } from "../../core/naming";
import { fleetConfig, type ProjectEntry } from "../support/fleet";
import { adminServer, createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";
import { changedSteps, TestStack } from "../support/pulumi";

const FILES: Record<string, string> = {
  "001_create_contacts.sql": "CREATE TABLE public.contacts (id int PRIMARY KEY);\n",
  "002_citext.sql": "-- pgfleet: admin\nCREATE EXTENSION IF NOT EXISTS citext;\n",
  "003_contact_email.sql": "ALTER TABLE public.contacts ADD COLUMN email citext;\n",
};

async function stateOf(database: string) {
  return withAdmin(async (c) => {
    const ext = await c.query<{ schema: string; owner: string }>(
      "SELECT n.nspname AS schema, pg_get_userbyid(n.nspowner) AS owner FROM pg_extension e " +
        "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'citext'",
    );
    const column = await c.query<{ type: string }>(
      "SELECT udt_name AS type FROM information_schema.columns WHERE table_name = 'contacts' AND column_name = 'email'",
    );
    const tracked = await c.query<{ id: string }>("SELECT id FROM pgfleet_migrations.applied ORDER BY id");
    return { extension: ext.rows[0], email: column.rows[0]?.type, tracked: tracked.rows.map((r) => r.id) };
  }, database);
}

describe("admin migrations on project databases (allowAdmin)", () => {
  const prefix = uniqueName("adm");
  const projects: ProjectEntry[] = [
    { name: "Alpha", key: "alpha", databaseName: `${prefix}_alpha` },
    { name: "Beta", key: "beta", databaseName: `${prefix}_beta` },
  ];
  let template: string;
  let stack: TestStack;
  let folder: string;
  const config = (allowAdmin?: boolean) => ({
    ...fleetConfig(template, projects),
    "pgfleet:migrations": { source: folder, ...(allowAdmin === undefined ? {} : { allowAdmin }) },
  });
  const copy = (...files: string[]) => {
    for (const f of files) fs.writeFileSync(path.join(folder, f), FILES[f]);
  };

  beforeAll(async () => {
    template = await createScratchDatabase("admtpl");
    stack = await TestStack.create({ repoProgram: true, config: {}, label: "admin-migrations" });
    folder = path.join(stack.dir, "migrations");
    fs.mkdirSync(folder);
    stack.setConfig(config());
    await stack.up();
    copy("001_create_contacts.sql");
    await stack.up();
    copy("002_citext.sql", "003_contact_email.sql");
  });

  afterAll(async () => {
    await stack?.dispose();
    if (template) await dropDatabase(template);
  });

  it("without allowAdmin, preview fails naming the file, the switch and each project database; nothing runs", async () => {
    const { result } = await stack.preview({ expectFailure: true, json: false });
    const text = result.stdout + result.stderr;
    for (const p of projects)
      expect(text).toContain(
        `[INSUFFICIENT_PERMISSIONS] 002_citext.sql is marked "-- pgfleet: admin", but migrations run as the project's own role, ` +
          `never as the admin; to run its extension statements as the admin (in schema ${EXTENSION_SCHEMA}), ` +
          `set pgfleet:migrations.allowAdmin (database "${p.databaseName}" (project "${p.key}"))`,
      );
    // `up` as users run it, with its preview: refused there, before any database is touched.
    const up = await stack.run(["up", "--yes", "--non-interactive", "-s", stack.stack]);
    expect(up.code).not.toBe(0);
    for (const database of [...projects.map((p) => p.databaseName!), template])
      expect(await stateOf(database)).toMatchObject({ email: undefined, tracked: ["001"] });
  });

  it("with allowAdmin, up puts the extension into each project's admin-owned schema; the next migration uses it; then no changes", async () => {
    stack.setConfig(config(true));
    await stack.up();
    const admin = adminServer().user;
    for (const p of projects)
      expect(await stateOf(p.databaseName!)).toEqual({
        extension: { schema: EXTENSION_SCHEMA, owner: admin },
        email: "citext",
        tracked: ["001", "002", "003"],
      });
    // The template's migration ran as the admin in its own session, as template migrations do.
    expect(await stateOf(template)).toMatchObject({ email: "citext", tracked: ["001", "002", "003"] });
    const { json } = await stack.preview();
    expect(changedSteps(json)).toEqual([]);
  });
});
