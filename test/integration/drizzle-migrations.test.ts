// pgfleet and the real Drizzle Kit agree on what a database has: `drizzle-kit generate` writes
// the folder, pgfleet reads it; what pgfleet records drizzle-kit migrate does not re-run, and
// what drizzle-kit migrate applied pgfleet sees as applied.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readDrizzleFolder, type DrizzleMigration } from "../../migrations/drizzle-folder";
import { DRIZZLE_TABLE, drizzleTracking } from "../../migrations/drizzle-tracking";
import type { MigrationSource } from "../../migrations/source";
import { compareApplied } from "../../migrations/tracking";
import { createDrizzleProject, drizzleKit } from "../support/drizzle-kit";
import { adminUrl, createScratchDatabase, dropDatabase, withAdmin } from "../support/postgres";

const SCHEMA_V1 = `import { integer, pgTable, serial, text } from "drizzle-orm/pg-core";
export const users = pgTable("users", { id: serial("id").primaryKey(), email: text("email").notNull() });
export const posts = pgTable("posts", {
  id: serial("id").primaryKey(),
  userId: integer("user_id").notNull().references(() => users.id),
});
`;
const SCHEMA_V2 = SCHEMA_V1.replace(
  'email: text("email").notNull() }',
  'email: text("email").notNull(), name: text("name") }',
);

let project: string;
let source: MigrationSource<DrizzleMigration>;
const databases: string[] = [];

/** Runs drizzle-kit in the project folder against `database` (as the admin). */
function kit(args: string[], database?: string) {
  return drizzleKit(project, args, database ? adminUrl(database) : "");
}

async function scratch(prefix: string): Promise<string> {
  const name = await createScratchDatabase(prefix);
  databases.push(name);
  return name;
}

async function drizzleRows(database: string): Promise<{ hash: string; created_at: string }[]> {
  return withAdmin(
    async (c) => (await c.query(`SELECT hash, created_at::text FROM ${DRIZZLE_TABLE} ORDER BY id`)).rows,
    database,
  ) as Promise<{ hash: string; created_at: string }[]>;
}

/** Applies the migrations' statements in one transaction, recording each as drizzle does when `record`. */
async function applyWithPgfleet(database: string, record: boolean): Promise<void> {
  await withAdmin(async (c) => {
    await c.query("BEGIN");
    if (record) await drizzleTracking.ensureTable(c);
    for (const migration of source.migrations) {
      for (const statement of migration.statements) await c.query(statement);
      if (record) await drizzleTracking.record(c, migration);
    }
    await c.query("COMMIT");
  }, database);
}

beforeAll(async () => {
  project = createDrizzleProject("drizzle");
  fs.writeFileSync(path.join(project, "schema.ts"), SCHEMA_V1);
  const first = await kit(["generate", "--name", "create_users"]);
  expect(first.code, first.output).toBe(0);
  fs.writeFileSync(path.join(project, "schema.ts"), SCHEMA_V2);
  const second = await kit(["generate", "--name", "add_user_name"]);
  expect(second.code, second.output).toBe(0);
  console.log(`drizzle-kit generate took ${first.ms} ms and ${second.ms} ms`);
  source = await readDrizzleFolder(path.join(project, "drizzle"));
});

afterAll(async () => {
  for (const name of databases) await dropDatabase(name);
  if (project) fs.rmSync(project, { recursive: true, force: true });
});

describe("Drizzle Kit folders", () => {
  it("reads what drizzle-kit generate wrote, in journal order", () => {
    expect(source.migrations.map((m) => m.name)).toEqual(["create_users", "add_user_name"]);
    expect(source.migrations[0].statements).toHaveLength(3);
    expect(source.migrations[1].statements).toEqual(['ALTER TABLE "users" ADD COLUMN "name" text;']);
    expect(source.migrations[0].when).toBeLessThan(source.migrations[1].when);
  });

  it("records so that drizzle-kit migrate afterwards applies nothing", async () => {
    const db = await scratch("drizzle_pgfleet_first");
    await applyWithPgfleet(db, true);
    const before = await drizzleRows(db);
    expect(before).toEqual(source.migrations.map((m) => ({ hash: m.checksum, created_at: String(m.when) })));

    const run = await kit(["migrate"], db);
    console.log(`drizzle-kit migrate took ${run.ms} ms`);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain("migrations applied successfully");
    expect(await drizzleRows(db)).toEqual(before);
  });

  it("without the record, drizzle-kit migrate re-runs the migrations and fails (so the check above can fail)", async () => {
    const db = await scratch("drizzle_unrecorded");
    await applyWithPgfleet(db, false);
    const run = await kit(["migrate"], db);
    expect(run.code).not.toBe(0);
    // drizzle-kit prints no error text here; its transaction rolled back, so it recorded nothing.
    expect(run.output).toMatch(/applying migrations/);
    expect(await drizzleRows(db)).toEqual([]);
  });

  it("sees what drizzle-kit migrate applied as applied", async () => {
    const db = await scratch("drizzle_kit_first");
    const empty = await withAdmin((c) => drizzleTracking.readApplied(c), db);
    expect(empty).toEqual([]);

    const run = await kit(["migrate"], db);
    expect(run.code, run.output).toBe(0);
    const rows = await withAdmin((c) => drizzleTracking.readApplied(c), db);
    const compared = compareApplied(source, drizzleTracking, rows);
    expect(compared.applied.map((m) => m.id)).toEqual(source.migrations.map((m) => m.id));
    expect([compared.pending, compared.changed, compared.failed, compared.unknown]).toEqual([[], [], [], []]);
  });

  it("tells a changed file from a pending one", async () => {
    const db = await scratch("drizzle_changed");
    const [first, second] = source.migrations;
    await withAdmin(async (c) => {
      await drizzleTracking.ensureTable(c);
      await drizzleTracking.record(c, { ...first, checksum: "0".repeat(64) });
    }, db);
    const rows = await withAdmin((c) => drizzleTracking.readApplied(c), db);
    const compared = compareApplied(source, drizzleTracking, rows);
    expect(compared.changed.map((c) => c.migration.id)).toEqual([first.id]);
    expect(compared.pending.map((m) => m.id)).toEqual([second.id]);
  });
});
