/**
 * Issue 17, "RLS after migrations" (seed 001), through the repository's program and the real
 * engine: a fleet that exists, then one config change adds a migration creating `app.notes` and
 * an RLS set on `app.notes`. Preview plans both (the table does not exist yet, and that is no
 * error); one `up` runs the migration as each project's role and then applies the policies
 * (pg_policies, pg_class flags, the policies in force for the owning role); a second `up`
 * changes nothing. A set on a migration-created table without `force: true` is warned about at
 * preview, naming its config key.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { literal } from "../../core/sql";
import { connect, parseServerUrl } from "../../db/client";
import { fleetConfig } from "../support/fleet";
import { createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";
import { changedSteps, TestStack, type PreviewJson } from "../support/pulumi";

const RLS_TYPE = "pulumi-nodejs:dynamic/pgfleet:RlsTable";
const MIGRATIONS_TYPE = "pulumi-nodejs:dynamic/pgfleet:AppliedMigrations";
const CREATE_NOTES =
  "CREATE SCHEMA app;\nCREATE TABLE app.notes (id int PRIMARY KEY, user_id text NOT NULL, body text);\n";
const FORCE_KEY = 'pgfleet:rlsPolicySets.notes-owner.tables["app.notes"].force';

let folder: string;
let template: string;
let stack: TestStack;
const names = [uniqueName("rlsmig_a"), uniqueName("rlsmig_b")];
const projects = names.map((databaseName, i) => ({ name: `Notes ${i}`, key: `n${i}`, databaseName }));

/** The fleet with the migrations folder and an owner-only set on `app.notes`. */
function withNotes(force: boolean | undefined): Record<string, unknown> {
  return {
    ...fleetConfig(template, projects),
    "pgfleet:migrations": { source: folder },
    "pgfleet:rlsPolicySets": {
      "notes-owner": {
        tables: {
          "app.notes": {
            ...(force === undefined ? {} : { force }),
            policies: [{ builder: "ownRowsOnly", column: "user_id" }],
          },
        },
      },
    },
  };
}

/** What the server has of `app.notes` in a database: owner, RLS flags, policies. */
async function notes(database: string) {
  return withAdmin(async (c) => {
    const table = await c.query<{ owner: string; enabled: boolean; forced: boolean }>(
      `SELECT relowner::regrole::text AS owner, relrowsecurity AS enabled, relforcerowsecurity AS forced
         FROM pg_class WHERE oid = to_regclass('app.notes')`,
    );
    const policies = await c.query<{ policyname: string; cmd: string; qual: string; with_check: string }>(
      `SELECT policyname, cmd, qual, with_check FROM pg_policies
        WHERE schemaname = 'app' AND tablename = 'notes' ORDER BY policyname`,
    );
    return { table: table.rows[0], policies: policies.rows };
  }, database);
}

/** The steps a preview plans (no `same`): op, engine type and resource name. */
function planned(json: PreviewJson) {
  return changedSteps(json).map((s) => ({
    op: s.op,
    type: s.newState?.type ?? s.type,
    name: s.urn.split("::").pop(),
  }));
}

function warnings(json: PreviewJson): string {
  return (json.diagnostics ?? [])
    .filter((d) => d.severity === "warning")
    .map((d) => d.message)
    .join("\n");
}

beforeAll(async () => {
  folder = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-rls-migrations-"));
  fs.writeFileSync(path.join(folder, "001_create_notes.sql"), CREATE_NOTES);
  template = await createScratchDatabase("rlsmig_tpl");
  // The fleet first, without migrations or RLS: the next up adds the table and its policies.
  stack = await TestStack.create({
    repoProgram: true,
    label: "rls-after-migrations",
    config: fleetConfig(template, projects),
  });
  await stack.up();
});

afterAll(async () => {
  await stack?.dispose();
  for (const db of names) await dropDatabase(db);
  if (template) await dropDatabase(template);
  if (folder) fs.rmSync(folder, { recursive: true, force: true });
});

describe("RLS sets on a table a migration creates", () => {
  it("one up runs the migration, then applies the table's policies; a second up changes nothing", async () => {
    for (const db of names) expect((await notes(db)).table, db).toBeUndefined();
    stack.setConfig(withNotes(true));

    const { json } = await stack.preview();
    const steps = planned(json);
    // In name order: the engine plans independent steps in no fixed order.
    expect(
      steps.filter((s) => s.type === RLS_TYPE).sort((a, b) => String(a.name).localeCompare(String(b.name))),
    ).toEqual(
      projects
        .map((p) => ({ op: "create", type: RLS_TYPE, name: `fleet-${p.key}-notes-owner-app.notes` }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    );
    expect(
      steps
        .filter((s) => s.type === MIGRATIONS_TYPE)
        .map((s) => s.name)
        .sort(),
    ).toEqual(
      [
        "fleet-migrations-template-local-" + template,
        ...projects.map((p) => `fleet-migrations-${p.key}`),
      ].sort(),
    );
    expect(warnings(json)).not.toContain(FORCE_KEY);

    await stack.up();
    const connections = (await stack.outputs(true)).projects as Record<string, { connection_string: string }>;
    for (const p of projects) {
      const db = p.databaseName;
      const { table, policies } = await notes(db);
      // Created by the migration, as the project's role: the role owns it.
      expect(table, db).toEqual({ owner: `${db}_owner`, enabled: true, forced: true });
      expect(policies, db).toEqual([
        {
          policyname: "own_rows",
          cmd: "ALL",
          qual: "(user_id = current_setting('app.user_id'::text, true))",
          with_check: "(user_id = current_setting('app.user_id'::text, true))",
        },
      ]);
      // Forced, so the policies hold for the owner: the role the application logs in as.
      const client = await connect(parseServerUrl(connections[p.key].connection_string), db);
      try {
        await client.query(`SET app.user_id = ${literal("alice")}`);
        await client.query("INSERT INTO app.notes VALUES (1, 'alice', 'mine')");
        await expect(client.query("INSERT INTO app.notes VALUES (2, 'bob', 'forged')")).rejects.toThrow(
          /row-level security/,
        );
        await client.query(`SET app.user_id = ${literal("bob")}`);
        expect((await client.query("SELECT id FROM app.notes")).rows).toEqual([]);
      } finally {
        await client.end();
      }
    }

    expect(changedSteps((await stack.preview()).json)).toEqual([]);
    const again = await stack.up();
    expect(again.stdout).not.toMatch(/\b(created|updated|deleted|replaced)\b/);
    expect(again.stdout).toMatch(/\bunchanged\b/);
  });

  it("warns at preview, naming the config key, when such a table's RLS is not forced", async () => {
    stack.setConfig(withNotes(undefined));
    try {
      const { json } = await stack.preview();
      expect(warnings(json)).toContain(
        `${FORCE_KEY}: table "app.notes" is created by a migration, so the project role owns it`,
      );
    } finally {
      stack.setConfig(withNotes(true));
    }
    expect(changedSteps((await stack.preview()).json)).toEqual([]);
  });
});
