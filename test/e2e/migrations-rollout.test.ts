/**
 * Issue 17, acceptance point 1, through the real Pulumi engine and the real server: the
 * repository's program with `pgfleet:migrations` over a fleet of 20 projects and their template.
 * A migration added to the folder → preview lists 21 databases getting it (each
 * AppliedMigrations' `pending`, the template's included); `up` applies it everywhere; a second
 * preview plans nothing; a project added afterwards has the new column and its tracking row, and
 * the migration did not run on it: its tracking row is the template's to the microsecond, and the
 * row the migration writes (`current_database()`) names the template, not the new project.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fleetConfig, type ProjectEntry } from "../support/fleet";
import { createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";
import { plannedMigrations } from "../support/migrations";
import { changedSteps, TestStack } from "../support/pulumi";

const FLEET_SIZE = 20;

const M1 = "CREATE TABLE public.items (id int PRIMARY KEY, name text NOT NULL);\n";
// The second migration also records where it ran: a database that gets the row by cloning names
// the template.
const M2 =
  "ALTER TABLE public.items ADD COLUMN price numeric;\n" +
  "CREATE TABLE public.ran_in (db name NOT NULL);\n" +
  "INSERT INTO public.ran_in VALUES (current_database());\n";

interface TrackingRow {
  id: string;
  name: string;
  checksum: string;
  applied_at: string;
  execution_ms: number | null;
}

let folder: string;
let template: string;
let stack: TestStack;
const prefix = uniqueName("mig_roll");
const entries: ProjectEntry[] = Array.from({ length: FLEET_SIZE + 1 }, (_, i) => ({
  name: `Rollout ${i}`,
  key: `mr${i}`,
  databaseName: `${prefix}_${i}`,
}));
const fleet = entries.slice(0, FLEET_SIZE);
const late = entries[FLEET_SIZE];
const dbOf = (e: ProjectEntry) => e.databaseName!;

const configWith = (projects: ProjectEntry[]) => ({
  ...fleetConfig(template, projects),
  "pgfleet:migrations": { source: folder, canary: 2 },
});

async function columns(database: string): Promise<string[]> {
  return withAdmin(async (c) => {
    const r = await c.query<{ column_name: string }>(
      "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'items' ORDER BY ordinal_position",
    );
    return r.rows.map((row) => row.column_name);
  }, database);
}

/** The tracking rows, applied_at as the server's text (microseconds). */
async function trackingRows(database: string): Promise<TrackingRow[]> {
  return withAdmin(async (c) => {
    const r = await c.query<TrackingRow>(
      "SELECT id, name, checksum, applied_at::text AS applied_at, execution_ms FROM pgfleet_migrations.applied ORDER BY id",
    );
    return r.rows;
  }, database);
}

async function ranIn(database: string): Promise<string[]> {
  return withAdmin(
    async (c) => (await c.query<{ db: string }>("SELECT db FROM public.ran_in")).rows.map((r) => r.db),
    database,
  );
}

beforeAll(async () => {
  folder = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-rollout-"));
  fs.writeFileSync(path.join(folder, "001_create_items.sql"), M1);
  template = await createScratchDatabase("mig_roll_tpl");
  stack = await TestStack.create({
    repoProgram: true,
    label: "migrations-rollout",
    config: configWith(fleet),
  });
  // The fleet with its first migration; the one under test comes afterwards.
  await stack.up();
}, 600_000);

afterAll(async () => {
  await stack?.dispose();
  for (const e of entries) await dropDatabase(dbOf(e));
  if (template) await dropDatabase(template);
  if (folder) fs.rmSync(folder, { recursive: true, force: true });
}, 600_000);

describe(`a migration rolled out over ${FLEET_SIZE} projects and their template`, () => {
  it(
    `preview lists ${FLEET_SIZE + 1} databases getting it; up applies it; then nothing is planned`,
    { timeout: 600_000 },
    async () => {
      for (const db of [template, ...fleet.map(dbOf)]) {
        expect(await columns(db), db).toEqual(["id", "name"]);
        expect(
          (await trackingRows(db)).map((r) => r.id),
          db,
        ).toEqual(["001"]);
      }
      expect(changedSteps((await stack.preview()).json)).toEqual([]);

      fs.writeFileSync(path.join(folder, "002_add_price.sql"), M2);
      const planned = plannedMigrations((await stack.preview()).json);
      const names = [
        `fleet-migrations-template-local-${template}`,
        ...fleet.map((e) => `fleet-migrations-${e.key}`),
      ];
      expect(Object.keys(planned).sort()).toEqual(names.sort());
      expect(Object.keys(planned)).toHaveLength(FLEET_SIZE + 1);
      for (const [name, step] of Object.entries(planned))
        expect(step, name).toEqual({ op: "update", pending: ["002"], reverting: [] });

      await stack.up();
      for (const db of [template, ...fleet.map(dbOf)]) {
        expect(await columns(db), db).toEqual(["id", "name", "price"]);
        expect(
          (await trackingRows(db)).map((r) => r.id),
          db,
        ).toEqual(["001", "002"]);
        // Run in each database itself.
        expect(await ranIn(db), db).toEqual([db]);
      }
      expect(changedSteps((await stack.preview()).json)).toEqual([]);
    },
  );

  it(
    "a project added afterwards has the new column and its tracking row, without the migration running on it",
    { timeout: 600_000 },
    async () => {
      const before = await trackingRows(template);
      stack.setConfig(configWith(entries));
      await stack.up();
      const db = dbOf(late);
      expect(await columns(db)).toEqual(["id", "name", "price"]);
      // The template's rows, applied_at to the microsecond: a run here would have written its own.
      expect(await trackingRows(db)).toEqual(before);
      expect(await trackingRows(template)).toEqual(before);
      // What 002 wrote came with the clone: run here, it would name this database.
      expect(await ranIn(db)).toEqual([template]);
      expect(changedSteps((await stack.preview()).json)).toEqual([]);
      // It owns what it cloned, so its own next migration could alter it.
      const owner = await withAdmin(
        async (c) =>
          (
            await c.query<{ o: string }>(
              "SELECT relowner::regrole::text AS o FROM pg_class WHERE oid = 'public.items'::regclass",
            )
          ).rows[0]?.o,
        db,
      );
      expect(owner).toBe(`${db}_owner`);
    },
  );
});
