/**
 * Issue 17, acceptance 7, through the real engine against the real server: `kill -9` of the Pulumi
 * CLI and its whole process tree (language host, dynamic provider) in the middle of a migration
 * rollout over 30 projects and their template (repository program, `pgfleet:migrations`), then the
 * README's recovery ("Recovering an interrupted migration rollout").
 *
 * Each migration has several statements and records its own run in `app.runs`, so the test can
 * tell in SQL, per database, that a migration ran exactly once (one `app.runs` row, one tracking
 * row) and that none is half-applied (every statement's effect present, or none). One project's
 * migration sleeps for a minute (a per-database setting read by the migration), so the kill lands
 * while its transaction is in flight: the server must end that session (rolling it back and
 * releasing its advisory lock) right after the client dies, not when the statement finishes,
 * so the next run does not wait for the lock.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ident } from "../../core/sql";
import { fleetConfig } from "../support/fleet";
import { createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";
import { killSession, STACK, TestStack } from "../support/pulumi";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const PROJECTS = 30;
/** The project whose second migration is in flight (in its long sleep) when the CLI is killed. */
const SLOW = 7;
/** How long the slow project's statement would run: far beyond the provider's 60 s lock wait. */
const SLOW_SECONDS = 90;
/** The per-database setting the migrations read their sleep from (seconds). */
const SLEEP_SETTING = "pgfleet_test.migration_sleep";
const sleepStatement = (fallback: number) =>
  `SELECT pg_sleep(coalesce(nullif(current_setting('${SLEEP_SETTING}', true), '')::float8, ${fallback}));`;

const MIGRATIONS: Record<string, string> = {
  "001_items.sql": [
    "CREATE SCHEMA app;",
    "CREATE TABLE app.runs (migration text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());",
    "CREATE TABLE app.items (id int PRIMARY KEY);",
    "SELECT pg_sleep(0.2);",
    "INSERT INTO app.runs (migration) VALUES ('001');",
    "",
  ].join("\n"),
  "002_item_labels.sql": [
    "ALTER TABLE app.items ADD COLUMN label text;",
    sleepStatement(0.5),
    "CREATE INDEX items_label ON app.items (label);",
    "INSERT INTO app.runs (migration) VALUES ('002');",
    "",
  ].join("\n"),
};

/** What one database holds of the two migrations, read in SQL as the admin. */
interface Snapshot {
  tracked: string[];
  /** `app.runs` rows: one per run of a migration's last statement. */
  runs: string[];
  schema: boolean;
  items: boolean;
  label: boolean;
  index: boolean;
}

async function snapshot(database: string): Promise<Snapshot> {
  return withAdmin(async (c) => {
    const one = async (sql: string) => (await c.query<{ v: boolean }>(sql)).rows[0]?.v ?? false;
    const hasTracking = await one(`SELECT to_regclass('pgfleet_migrations.applied') IS NOT NULL AS v`);
    const tracked = hasTracking
      ? (await c.query<{ id: string }>(`SELECT id FROM pgfleet_migrations.applied ORDER BY id`)).rows.map(
          (r) => r.id,
        )
      : [];
    const runsTable = await one(`SELECT to_regclass('app.runs') IS NOT NULL AS v`);
    const runs = runsTable
      ? (await c.query<{ m: string }>(`SELECT migration AS m FROM app.runs ORDER BY migration`)).rows.map(
          (r) => r.m,
        )
      : [];
    return {
      tracked,
      runs,
      schema: await one(`SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'app') AS v`),
      items: await one(`SELECT to_regclass('app.items') IS NOT NULL AS v`),
      label: await one(
        `SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 'items' AND column_name = 'label') AS v`,
      ),
      index: await one(`SELECT to_regclass('app.items_label') IS NOT NULL AS v`),
    };
  }, database);
}

/**
 * Each migration the tracking table records ran exactly once and in full; each it does not record
 * left nothing behind.
 */
function expectConsistent(database: string, s: Snapshot): void {
  expect(s.tracked, database).toEqual(["001", "002"].slice(0, s.tracked.length));
  expect(s.runs, `${database}: app.runs`).toEqual(s.tracked);
  const m1 = s.tracked.includes("001");
  const m2 = s.tracked.includes("002");
  expect({ schema: s.schema, items: s.items }, `${database}: 001`).toEqual({ schema: m1, items: m1 });
  expect({ label: s.label, index: s.index }, `${database}: 002`).toEqual({ label: m2, index: m2 });
}

/** Sessions of the fleet's project roles, and advisory locks held in the fleet's databases. */
async function leftovers(prefix: string): Promise<{ sessions: string[]; locks: string[] }> {
  return withAdmin(async (c) => {
    const sessions = await c.query<{ s: string }>(
      `SELECT datname || ' ' || state || ': ' || left(query, 80) AS s FROM pg_stat_activity WHERE usename LIKE $1`,
      [`${prefix}%_owner`],
    );
    const locks = await c.query<{ d: string }>(
      `SELECT d.datname AS d FROM pg_locks l JOIN pg_database d ON d.oid = l.database
        WHERE l.locktype = 'advisory' AND d.datname LIKE $1`,
      [`${prefix}%`],
    );
    return { sessions: sessions.rows.map((r) => r.s), locks: locks.rows.map((r) => r.d) };
  });
}

describe("kill -9 during a migration rollout over 30 projects", () => {
  const prefix = uniqueName("migcrash");
  const projects = Array.from({ length: PROJECTS }, (_, i) => ({
    name: `Crash ${i}`,
    key: `mc${i}`,
    databaseName: `${prefix}_${i}`,
  }));
  const databases = projects.map((p) => p.databaseName);
  let folder: string;
  let template: string;
  let stack: TestStack;

  beforeAll(async () => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-migration-crash-"));
    template = await createScratchDatabase("migcrash_tpl");
    stack = await TestStack.create({
      repoProgram: true,
      label: "migration-crash",
      config: {
        ...fleetConfig(template, projects),
        "pgfleet:migrations": { source: folder, maxParallel: 3, lockTimeout: "5s" },
      },
    });
    await stack.up(); // 30 projects, nothing to migrate yet
  });

  afterAll(async () => {
    await stack?.dispose();
    await Promise.all([...databases, template].filter(Boolean).map((db) => dropDatabase(db)));
    fs.rmSync(folder, { recursive: true, force: true });
  });

  it("the README's recovery converges: every migration applied exactly once, none half-applied", async () => {
    const slow = databases[SLOW];
    await withAdmin((c) => c.query(`ALTER DATABASE ${ident(slow)} SET ${SLEEP_SETTING} = '${SLOW_SECONDS}'`));
    for (const [file, sql] of Object.entries(MIGRATIONS)) fs.writeFileSync(path.join(folder, file), sql);

    const run = stack.start(["up", "--yes", "--skip-preview", "--non-interactive", "-s", STACK]);
    const closed = new Promise((r) => run.child.once("close", r));
    // Kill once the slow project sits in its sleep (its transaction open, its lock held) and
    // several databases, but far from all, record both migrations.
    const deadline = Date.now() + 180_000;
    let done: string[] = [];
    for (;;) {
      if (Date.now() > deadline || run.child.exitCode !== null)
        throw new Error(`the rollout never reached the moment to kill it:\n${run.output()}`);
      const inSleep = await withAdmin(
        async (c) =>
          (
            await c.query(
              `SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE '%pg_sleep%'`,
              [slow],
            )
          ).rows.length > 0,
      );
      if (inSleep) {
        done = [];
        for (const db of databases) if ((await snapshot(db)).tracked.length === 2) done.push(db);
        if (done.length >= 8) break;
      }
      await sleep(200);
    }
    // The CLI leads a session of its own, with its plugins in it: kill the whole tree at once.
    expect(killSession(run.child.pid!)).toBeGreaterThanOrEqual(3);
    const killedAt = Date.now();
    await closed;

    // The server ends the dead client's sessions at once: the slow project's transaction rolls
    // back and its advisory lock goes with its session, long before its statement would end.
    let left = await leftovers(prefix);
    while ((left.sessions.length > 0 || left.locks.length > 0) && Date.now() - killedAt < 20_000) {
      await sleep(200);
      left = await leftovers(prefix);
    }
    expect(left).toEqual({ sessions: [], locks: [] });
    expect(Date.now() - killedAt).toBeLessThan(10_000);

    // Right after the kill: some databases done, some not, every one consistent.
    const after = await Promise.all(databases.map(async (db) => [db, await snapshot(db)] as const));
    for (const [db, s] of after) expectConsistent(db, s);
    expectConsistent(template, await snapshot(template));
    const complete = after.filter(([, s]) => s.tracked.length === 2).map(([db]) => db);
    expect(complete.length).toBeGreaterThanOrEqual(done.length);
    expect(complete.length).toBeLessThan(PROJECTS);
    // The migration in flight left nothing: its first statement (the column) rolled back too.
    expect(after[SLOW][1]).toMatchObject({ tracked: ["001"], runs: ["001"], label: false });

    // The recovery run gets the ordinary sleep again (the migration file is unchanged).
    await withAdmin((c) => c.query(`ALTER DATABASE ${ident(slow)} RESET ${SLEEP_SETTING}`));

    // The README's steps, exactly as written there.
    await stack.recoverInterrupted();
    const up = await stack.up();
    expect(up.stdout + up.stderr).not.toContain("held its lock");

    for (const db of [template, ...databases]) {
      const s = await snapshot(db);
      expectConsistent(db, s);
      expect(s.tracked, db).toEqual(["001", "002"]);
    }
    const again = await stack.run(["preview", "--expect-no-changes", "--non-interactive", "-s", STACK]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
  }, 400_000);
});
