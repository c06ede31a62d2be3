/**
 * Issue 17, acceptance 3, through the real engine and the real Drizzle Kit (from node_modules):
 * the repository's program with `pgfleet:migrations` in the drizzle format over a template and
 * three projects. A Drizzle schema changes, `drizzle-kit generate` writes the migration, pgfleet
 * rolls it out (the template first, each project as its own role); `drizzle-kit migrate` on a
 * project afterwards applies nothing; a migration `drizzle-kit migrate` applied first on one
 * project is not run there again by pgfleet. `pgfleet migrate status` agrees.
 *
 * The Drizzle schema lives in a pg schema of its own (`app`): project roles have no CREATE on
 * `public` (PostgreSQL 15 and later), but may create schemas in their database.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run as migrate } from "../../cli/migrate";
import { DRIZZLE_TABLE } from "../../migrations/drizzle-tracking";
import { readDrizzleFolder } from "../../migrations/drizzle-folder";
import { capture, useStackBackend } from "../support/cli";
import { createDrizzleProject, drizzleKit } from "../support/drizzle-kit";
import { fleetConfig } from "../support/fleet";
import { createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";
import { changedSteps, STACK, TestStack } from "../support/pulumi";

const TYPE = "pulumi-nodejs:dynamic/pgfleet:AppliedMigrations";

const SCHEMA_V1 = `import { pgSchema, serial, text } from "drizzle-orm/pg-core";
export const app = pgSchema("app");
export const users = app.table("users", { id: serial("id").primaryKey(), email: text("email").notNull() });
`;
const SCHEMA_V2 = SCHEMA_V1.replace(
  'email: text("email").notNull() }',
  'email: text("email").notNull(), name: text("name") }',
);

describe("a Drizzle Kit folder rolled out over the fleet", () => {
  const keys = ["dz0", "dz1", "dz2"];
  const names = keys.map((k) => uniqueName(`drz_${k}`));
  const db = (key: string) => names[keys.indexOf(key)];
  let project: string;
  let template: string;
  let stack: TestStack;
  let urls: Record<string, string>;
  let restoreBackend: (() => void) | undefined;
  const config = (migrations: boolean) => ({
    ...fleetConfig(
      template,
      keys.map((key) => ({ name: key.toUpperCase(), key, databaseName: db(key) })),
    ),
    ...(migrations
      ? { "pgfleet:migrations": { source: path.join(project, "drizzle"), format: "drizzle", canary: 1 } }
      : {}),
  });

  /** drizzle's tracking rows and the columns of app.users, read in SQL. */
  async function inSql(
    database: string,
  ): Promise<{ rows: { hash: string; created_at: string }[]; columns: string[] }> {
    return withAdmin(async (c) => {
      const rows = (
        await c.query<{ hash: string; created_at: string }>(
          `SELECT hash, created_at::text FROM ${DRIZZLE_TABLE} ORDER BY id`,
        )
      ).rows;
      const columns = (
        await c.query<{ column_name: string }>(
          `SELECT column_name FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 'users' ORDER BY ordinal_position`,
        )
      ).rows.map((r) => r.column_name);
      return { rows, columns };
    }, database);
  }

  /** What the folder says drizzle records: one row per journal entry. */
  async function journalRows(): Promise<{ hash: string; created_at: string }[]> {
    const source = await readDrizzleFolder(path.join(project, "drizzle"));
    return source.migrations.map((m) => ({ hash: m.checksum, created_at: String(m.when) }));
  }

  /** The preview's AppliedMigrations updates: resource name → the ids it plans. */
  async function planned(): Promise<Record<string, unknown>> {
    const { json } = await stack.preview();
    return Object.fromEntries(
      changedSteps(json)
        .filter((s) => (s.newState?.type ?? s.type) === TYPE)
        .map((s) => [s.urn.split("::").pop()!, s.newState?.inputs?.pending]),
    );
  }

  beforeAll(async () => {
    project = createDrizzleProject("drizzle-rollout");
    template = await createScratchDatabase("drz_tpl");
    // The projects first, without migrations: the rollout then goes to existing projects.
    stack = await TestStack.create({ repoProgram: true, label: "drizzle-rollout", config: config(false) });
    await stack.up();
    const projects = (await stack.outputs(true)).projects as Record<string, { connection_string: string }>;
    urls = Object.fromEntries(keys.map((k) => [k, projects[k].connection_string]));
    restoreBackend = useStackBackend(stack);
  });

  afterAll(async () => {
    restoreBackend?.();
    await stack?.dispose();
    for (const name of [...names, template]) if (name) await dropDatabase(name);
    if (project) fs.rmSync(project, { recursive: true, force: true });
  });

  it("generate → pgfleet rolls it out → drizzle-kit migrate applies nothing", async () => {
    fs.writeFileSync(path.join(project, "schema.ts"), SCHEMA_V1);
    const generated = await drizzleKit(project, ["generate", "--name", "create_users"]);
    expect(generated.code, generated.output).toBe(0);
    const [tag] = (await readDrizzleFolder(path.join(project, "drizzle"))).migrations.map((m) => m.id);
    expect(tag).toMatch(/^0000_create_users$/);

    stack.setConfig(config(true));
    expect(await planned()).toEqual({
      [`fleet-migrations-template-local-${template}`]: [tag],
      ...Object.fromEntries(keys.map((k) => [`fleet-migrations-${k}`, [tag]])),
    });
    await stack.up();
    const rows = await journalRows();
    for (const d of [template, ...names])
      expect(await inSql(d), d).toEqual({ rows, columns: ["id", "email"] });
    // Run in each project as its own role.
    for (const k of keys) {
      const owner = await withAdmin(
        async (c) =>
          (
            await c.query<{ o: string }>(
              `SELECT nspowner::regrole::text AS o FROM pg_namespace WHERE nspname = 'app'`,
            )
          ).rows[0].o,
        db(k),
      );
      expect(owner, k).toBe(`${db(k)}_owner`);
    }

    // The real drizzle-kit, as the project's role, finds nothing to apply.
    const run = await drizzleKit(project, ["migrate"], urls.dz0);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain("migrations applied successfully");
    expect(await inSql(db("dz0"))).toEqual({ rows, columns: ["id", "email"] });
    expect(changedSteps((await stack.preview()).json)).toEqual([]);
  });

  it("a migration drizzle-kit migrate applied first on one project: status and preview see it applied there", async () => {
    fs.writeFileSync(path.join(project, "schema.ts"), SCHEMA_V2);
    const generated = await drizzleKit(project, ["generate", "--name", "add_user_name"]);
    expect(generated.code, generated.output).toBe(0);
    const tags = (await readDrizzleFolder(path.join(project, "drizzle"))).migrations.map((m) => m.id);
    expect(tags).toHaveLength(2);
    const rows = await journalRows();

    // dz1's tenant runs drizzle-kit itself first.
    const first = await drizzleKit(project, ["migrate"], urls.dz1);
    expect(first.code, first.output).toBe(0);
    expect(await inSql(db("dz1"))).toEqual({ rows, columns: ["id", "email", "name"] });

    const status = await capture(() => migrate(["status", "--stack", STACK, "--json"]));
    const doc = JSON.parse(status.out) as { databases: { name: string; state: string; pending: string[] }[] };
    expect(Object.fromEntries(doc.databases.map((d) => [d.name, [d.state, d.pending]]))).toEqual({
      [`local-${template}`]: ["pending", [tags[1]]],
      dz0: ["pending", [tags[1]]],
      dz1: ["up-to-date", []],
      dz2: ["pending", [tags[1]]],
    });
    expect(status.code).toBe(1);

    // The preview plans the new migration everywhere but dz1 (its program inputs change, nothing pending).
    const plan = await planned();
    for (const name of [
      `fleet-migrations-template-local-${template}`,
      "fleet-migrations-dz0",
      "fleet-migrations-dz2",
    ])
      expect(plan[name], name).toEqual([tags[1]]);
    expect(plan["fleet-migrations-dz1"] ?? []).toEqual([]);
  });

  it("… and pgfleet's rollout does not run it there again", async () => {
    const rows = await journalRows();

    // `ALTER TABLE … ADD COLUMN "name"` run twice would fail: up succeeding is the proof, with the rows.
    await stack.up();
    for (const d of [template, ...names])
      expect(await inSql(d), d).toEqual({ rows, columns: ["id", "email", "name"] });
    const again = await drizzleKit(project, ["migrate"], urls.dz2);
    expect(again.code, again.output).toBe(0);
    expect(await inSql(db("dz2"))).toEqual({ rows, columns: ["id", "email", "name"] });

    const done = await capture(() => migrate(["status", "--stack", STACK]));
    expect(done.code, done.out).toBe(0);
    expect(changedSteps((await stack.preview()).json)).toEqual([]);
  });
});
