/**
 * Issue 17 acceptance 5 through the real Pulumi engine, the real server and the real pg_dump: the
 * repository's program with `pgfleet:migrations.backupBefore` over a template and two projects.
 * 1. nothing pending → no dump; a new migration → before it runs, each database (template
 *    included) gets one verified pre-migration dump, recorded in the catalog and listed by
 *    `pgfleet backup list` as kind `pre-migration`; restored, a dump holds the schema before the
 *    migration (the new table, then the new column, absent; the rows present);
 * 2. an unwritable dump folder (a path below a regular file: root writes through any mode bits) →
 *    preview and `up` fail naming the config key and the folder; no database gets the migration
 *    (tracking tables and columns checked in SQL) and no dump is recorded.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { restoreBackup } from "../../backup/restore";
import { listRuns, withCatalog, type BackupRun } from "../../db/catalog";
import { REPO_ROOT } from "../../scripts/lib/paths";
import { fleetConfig } from "../support/fleet";
import { columnsOf, trackedIds } from "../support/migrations";
import {
  adminServer,
  adminUrl,
  createScratchDatabase,
  dropDatabase,
  uniqueName,
  withAdmin,
} from "../support/postgres";
import { changedSteps, TestStack } from "../support/pulumi";
import { dropRestoredDatabase } from "../support/restores";

const M1 = "CREATE SCHEMA app;\nCREATE TABLE app.notes (id int PRIMARY KEY, body text);\n";
const M2 = "ALTER TABLE app.notes ADD COLUMN title text;\n";
const M3 = "ALTER TABLE app.notes ADD COLUMN tag text;\n";

let folder: string;
let destination: string;
let blocker: string;
let template: string;
let stack: TestStack;
const names = [uniqueName("migbk_a"), uniqueName("migbk_b")];
const entries = names.map((databaseName, i) => ({ name: `Backed ${i}`, key: `mb${i}`, databaseName }));
const restored: string[] = [];

const configWith = (backupDirectory: string) => ({
  ...fleetConfig(template, entries),
  "pgfleet:migrations": { source: folder, canary: 1, backupBefore: true, backupDirectory },
});

/** The pre-migration runs of `database` recorded in the catalog, newest first (any status). */
async function preMigrationRuns(database: string): Promise<BackupRun[]> {
  const runs = await withCatalog(adminServer(), (c) => listRuns(c, { databaseName: database }));
  return runs.filter((r) => r.kind === "pre-migration");
}

const columns = (database: string) => columnsOf(database, "app", "notes");

/** The tracking table's rows: id and when it was applied. */
async function tracked(database: string): Promise<{ id: string; appliedAt: Date }[]> {
  return withAdmin(async (c) => {
    const exists = await c.query(`SELECT to_regclass('pgfleet_migrations.applied') IS NOT NULL AS e`);
    if (!exists.rows[0]?.e) return [];
    const r = await c.query<{ id: string; applied_at: Date }>(
      `SELECT id, applied_at FROM pgfleet_migrations.applied ORDER BY id`,
    );
    return r.rows.map((row) => ({ id: row.id, appliedAt: new Date(row.applied_at) }));
  }, database);
}

const ids = trackedIds;

/** `pgfleet backup list --json --project <database>`. */
function listed(database: string): { id: string; kind: string; verified: string; file: string }[] {
  const r = spawnSync(
    process.execPath,
    [path.join(REPO_ROOT, "bin", "pgfleet.js"), "backup", "list", "--json", "--project", database],
    { env: { ...process.env, PGFLEET_ADMIN_URL: adminUrl() }, encoding: "utf8", timeout: 120_000 },
  );
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { id: string; kind: string; verified: string; file: string }[];
}

/** Restores backup `id` into a new database (as pgfleet does: an unprivileged role) and returns its name. */
async function restore(id: string): Promise<string> {
  const target = uniqueName("migbk_restored");
  restored.push(target);
  await restoreBackup(adminServer(), id, target, { progress: () => undefined });
  return target;
}

beforeAll(async () => {
  folder = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-migration-backups-"));
  destination = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-pre-migration-"));
  blocker = path.join(destination, "not-a-folder");
  fs.writeFileSync(blocker, "a file where a folder should be");
  template = await createScratchDatabase("migbk_tpl");
  stack = await TestStack.create({
    repoProgram: true,
    label: "migration-backups",
    config: configWith(destination),
  });
});

afterAll(async () => {
  await stack?.dispose();
  for (const db of restored) await dropRestoredDatabase(db);
  for (const db of names) await dropDatabase(db);
  if (template) await dropDatabase(template);
  for (const dir of [folder, destination]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("pgfleet:migrations.backupBefore", () => {
  it("dumps and verifies each database before its first pending migration, and only then; the dump holds the schema before it", async () => {
    // The fleet with an empty folder: nothing is pending, so nothing is dumped.
    await stack.up();
    const all = [template, ...names];
    for (const db of all) expect(await preMigrationRuns(db), db).toEqual([]);

    fs.writeFileSync(path.join(folder, "001_create_notes.sql"), M1);
    await stack.up();
    for (const db of all) {
      expect(await columns(db), db).toEqual(["id", "body"]);
      const runs = await preMigrationRuns(db);
      expect(
        runs.map((r) => [r.status, r.verification, r.verified]),
        db,
      ).toEqual([["succeeded", "restore", true]]);
      // Taken and verified before the migration ran.
      const [m1] = await tracked(db);
      expect(runs[0].finishedAt!.getTime(), db).toBeLessThanOrEqual(m1.appliedAt.getTime());
      expect(path.dirname(runs[0].file!)).toBe(path.join(destination, db));
    }
    // Before 001 the database had no schema "app".
    const before1 = await restore((await preMigrationRuns(names[0]))[0].id);
    expect(await columns(before1)).toEqual([]);

    // Rows, then a new column: the dump before it holds the rows and not the column.
    for (const [i, db] of names.entries())
      await withAdmin((c) => c.query(`INSERT INTO app.notes (id, body) VALUES (${i + 1}, 'kept')`), db);
    fs.writeFileSync(path.join(folder, "002_add_title.sql"), M2);
    await stack.up();
    for (const db of all) {
      expect(await columns(db), db).toEqual(["id", "body", "title"]);
      const runs = await preMigrationRuns(db);
      expect(
        runs.map((r) => r.status),
        db,
      ).toEqual(["succeeded", "succeeded"]);
      const m2 = (await tracked(db)).find((t) => t.id === "002")!;
      expect(runs[0].finishedAt!.getTime(), db).toBeLessThanOrEqual(m2.appliedAt.getTime());
      const rows = listed(db).filter((r) => r.id === runs[0].id);
      expect(
        rows.map((r) => [r.kind, r.verified, r.file]),
        db,
      ).toEqual([["pre-migration", "yes (restore)", runs[0].file]]);
    }
    for (const [i, db] of names.entries()) {
      const before2 = await restore((await preMigrationRuns(db))[0].id);
      expect(await columns(before2), db).toEqual(["id", "body"]);
      expect(await ids(before2), db).toEqual(["001"]);
      const rows = await withAdmin((c) => c.query(`SELECT id, body FROM app.notes`), before2);
      expect(rows.rows, db).toEqual([{ id: i + 1, body: "kept" }]);
    }
    // Nothing pending: no change planned, no dump taken.
    expect(changedSteps((await stack.preview()).json)).toEqual([]);
    await stack.up();
    for (const db of all) expect((await preMigrationRuns(db)).length, db).toBe(2);
  }, 600_000);

  it("an unwritable dump folder fails preview and up naming the config key and the folder; no database is migrated", async () => {
    const unwritable = path.join(blocker, "pre");
    stack.setConfig(configWith(unwritable));
    fs.writeFileSync(path.join(folder, "003_add_tag.sql"), M3);
    const dumpsBefore = await Promise.all(
      [template, ...names].map(async (db) => (await preMigrationRuns(db)).length),
    );

    const { result } = await stack.preview({ expectFailure: true, json: false });
    const preview = result.stdout + result.stderr;
    expect(preview).toContain("pgfleet:migrations.backupDirectory");
    expect(preview).toContain(`cannot write its pre-migration dumps into "${unwritable}"`);
    expect(preview).toContain(`"${blocker}" is not a folder`);

    const up = await stack.up({ expectFailure: true });
    expect(up.stdout + up.stderr).toContain(`cannot write its pre-migration dumps into "${unwritable}"`);
    for (const [i, db] of [template, ...names].entries()) {
      expect(await ids(db), db).toEqual(["001", "002"]);
      expect(await columns(db), db).toEqual(["id", "body", "title"]);
      expect((await preMigrationRuns(db)).length, db).toBe(dumpsBefore[i]);
    }
    expect(fs.statSync(blocker).isFile()).toBe(true);

    // The folder fixed, the migration goes out, each database dumped first.
    stack.setConfig(configWith(destination));
    await stack.up();
    for (const [i, db] of [template, ...names].entries()) {
      expect(await ids(db), db).toEqual(["001", "002", "003"]);
      expect((await preMigrationRuns(db)).length, db).toBe(dumpsBefore[i] + 1);
    }
  }, 450_000);
});
