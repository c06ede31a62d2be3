/**
 * The AppliedMigrations provider's operations against the real server, as an unprivileged LOGIN
 * role: check's refusals and its `pending`; a no-transaction migration; the advisory lock (a run
 * waits for another); `statement_timeout` applies; a hand-written Drizzle folder recorded as
 * drizzle records it; refresh reads the tracking table; reverting removed migrations with their
 * down files (newest first, as the role, each with its row), a failing down script, and the
 * refusal of a database ahead of the folder without a down file.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ident, literal } from "../../core/sql";
import { connect } from "../../db/client";
import { operations, type AppliedMigrationsInputs } from "../../provider/applied-migrations";
import type { MigrationFormat } from "../../migrations/source";
import { appliedMigrationsInputs } from "../support/migrations";
import { adminServer, createScratchDatabase, dropDatabase, uniqueName, withAdmin } from "../support/postgres";

const LOCK_KEY = 0x70676d67;

/** The folder the tests on the shared database grow: a table, then a no-transaction index. */
const ITEMS = {
  "001_items.sql": "CREATE SCHEMA app;\nCREATE TABLE app.items (id int PRIMARY KEY, name text);\n",
  "002_index.sql": "-- pgfleet: no-transaction\nCREATE INDEX CONCURRENTLY items_name ON app.items (name);\n",
};
const MORE = "ALTER TABLE app.items ADD COLUMN more text;\n";

let database: string;
let role: string;
const password = "migrations-test-password";
const folders: string[] = [];

function folderWith(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgfleet-applied-"));
  folders.push(dir);
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  }
  return dir;
}

async function inputsFor(
  source: string,
  format: MigrationFormat = "sql",
  overrides: Partial<AppliedMigrationsInputs> = {},
): Promise<AppliedMigrationsInputs> {
  return appliedMigrationsInputs(source, format, { database, login: { user: role, password }, ...overrides });
}

/** The operations' results have optional parts; these tests need them. */
function must<T>(value: T | undefined): T {
  if (value === undefined) throw new Error("expected a value");
  return value;
}

/** create, with its outputs required. */
async function create(inputs: AppliedMigrationsInputs) {
  const r = await operations.create(inputs);
  return { id: r.id, outs: must(r.outs) };
}

/** check, with its inputs required. */
async function check(inputs: AppliedMigrationsInputs) {
  const r = await operations.check({}, inputs);
  return { inputs: must(r.inputs), failures: r.failures ?? [] };
}

beforeAll(async () => {
  database = await createScratchDatabase("applied_it");
  role = uniqueName("applied_it_role");
  await withAdmin(async (c) => {
    await c.query(`CREATE ROLE ${ident(role)} LOGIN PASSWORD ${literal(password)}`);
    await c.query(`GRANT CONNECT, CREATE ON DATABASE ${ident(database)} TO ${ident(role)}`);
  });
});

afterAll(async () => {
  await dropDatabase(database);
  await withAdmin((c) => c.query(`DROP ROLE IF EXISTS ${ident(role)}`));
  for (const dir of folders) fs.rmSync(dir, { recursive: true, force: true });
});

describe("AppliedMigrations operations", () => {
  it("check refuses the admin as a project's login and an admin-only pending migration, naming them", async () => {
    const source = folderWith({
      "001_ext.sql": "-- pgfleet: admin\nCREATE EXTENSION IF NOT EXISTS pgcrypto;\n",
    });
    const admin = adminServer();
    const asAdmin = await operations.check(
      {},
      await inputsFor(source, "sql", { login: { user: admin.user, password: admin.password ?? "" } }),
    );
    expect(asAdmin.failures?.map((f) => f.property)).toContain("login");
    const asRole = await operations.check({}, await inputsFor(source));
    expect(asRole.failures?.map((f) => f.reason).join("\n")).toContain(
      `[INSUFFICIENT_PERMISSIONS] 001_ext.sql is marked "-- pgfleet: admin"`,
    );
    const bad = await operations.check({}, await inputsFor(source, "sql", { lockTimeout: "soon" }));
    expect(bad.failures?.map((f) => f.property)).toContain("lockTimeout");
  });

  it("applies a no-transaction migration after a transactional one, as the role; pending comes from the database", async () => {
    const source = folderWith(ITEMS);
    const inputs = await inputsFor(source);
    const checked = await check(inputs);
    expect(checked.failures).toEqual([]);
    expect(checked.inputs.pending).toEqual(["001", "002"]);

    const created = await create(checked.inputs);
    expect(created.outs.applied.map((a) => a.id)).toEqual(["001", "002"]);
    const rows = await withAdmin(
      async (c) =>
        (
          await c.query<{ id: string; idx: string }>(
            `SELECT a.id, (SELECT indexname FROM pg_indexes WHERE indexname = 'items_name') AS idx
               FROM pgfleet_migrations.applied a ORDER BY id`,
          )
        ).rows,
      database,
    );
    expect(rows).toEqual([
      { id: "001", idx: "items_name" },
      { id: "002", idx: "items_name" },
    ]);
    expect((await check(inputs)).inputs.pending).toEqual([]);
    const diff = await operations.diff(created.id, created.outs, (await check(inputs)).inputs);
    expect(diff.changes).toBe(false);

    // Refresh reads the table: a row deleted by hand is no longer applied.
    await withAdmin((c) => c.query(`DELETE FROM pgfleet_migrations.applied WHERE id = '002'`), database);
    const read = await operations.read(created.id, created.outs);
    expect(read.props?.applied.map((a) => a.id)).toEqual(["001"]);
    await withAdmin((c) => c.query(`DROP INDEX app.items_name`), database);
    await operations.update(created.id, must(read.props), inputs);
  });

  it("waits for another run's advisory lock, then applies", async () => {
    const source = folderWith({ ...ITEMS, "003_more.sql": MORE });
    const holder = await connect(adminServer(), database);
    try {
      await holder.query("SELECT pg_advisory_lock($1)", [LOCK_KEY]);
      const started = Date.now();
      const run = create(await inputsFor(source));
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await holder.query("SELECT pg_advisory_unlock($1)", [LOCK_KEY]);
      const done = await run;
      expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
      expect(done.outs.applied.map((a) => a.id)).toEqual(["001", "002", "003"]);
    } finally {
      await holder.end();
    }
  });

  it("sets statement_timeout: a slow statement fails naming file and statement; the database stays where it was", async () => {
    const source = folderWith({
      ...ITEMS,
      "003_more.sql": MORE,
      "004_slow.sql": "ALTER TABLE app.items ADD COLUMN slow text;\nSELECT pg_sleep(3);\n",
    });
    const inputs = await inputsFor(source, "sql", { statementTimeout: "300ms" });
    await expect(operations.create(inputs)).rejects.toThrow(
      /project "alpha": cannot apply 004_slow\.sql, statement 2 of 2 \(SELECT pg_sleep\(3\)\), to database "applied_it_[0-9a-f]+": canceling statement due to statement timeout \[SQLSTATE 57014\]; it stays at migration 003/,
    );
    const columns = await withAdmin(
      async (c) =>
        (
          await c.query<{ column_name: string }>(
            `SELECT column_name FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 'items' ORDER BY 1`,
          )
        ).rows.map((r) => r.column_name),
      database,
    );
    expect(columns).toEqual(["id", "more", "name"]);
  });

  it("records a Drizzle folder in drizzle's own table with the journal time", async () => {
    const other = await createScratchDatabase("applied_it_drizzle");
    try {
      await withAdmin((c) => c.query(`GRANT CONNECT, CREATE ON DATABASE ${ident(other)} TO ${ident(role)}`));
      const when = 1_700_000_000_000;
      const source = folderWith({
        "meta/_journal.json": JSON.stringify({
          version: "7",
          dialect: "postgresql",
          entries: [{ idx: 0, version: "7", when, tag: "0000_first", breakpoints: true }],
        }),
        "0000_first.sql":
          'CREATE SCHEMA "app";\n--> statement-breakpoint\nCREATE TABLE "app"."things" ("id" serial PRIMARY KEY);\n',
      });
      const inputs = await inputsFor(source, "drizzle", { database: other });
      const created = await create(inputs);
      expect(created.outs.applied.map((a) => a.id)).toEqual(["0000_first"]);
      const rows = await withAdmin(
        async (c) =>
          (await c.query<{ created_at: string }>(`SELECT created_at FROM drizzle.__drizzle_migrations`)).rows,
        other,
      );
      expect(rows.map((r) => Number(r.created_at))).toEqual([when]);
      expect((await check(inputs)).inputs.pending).toEqual([]);
      // The migration removed from the journal: a database ahead, refused; Drizzle has no down files.
      const emptied = folderWith({
        "meta/_journal.json": JSON.stringify({ version: "7", dialect: "postgresql", entries: [] }),
      });
      const ahead = await check(await inputsFor(emptied, "drizzle", { database: other }));
      expect(ahead.failures.map((f) => f.reason).join("\n")).toMatch(
        /is ahead of the folder .*records 1700000000000, which no file matches; pgfleet never reverts silently: restore the migration files \(pgfleet reverts only plain SQL migrations, from the down file kept for a removed one; drizzle folders have no such files\)/,
      );
    } finally {
      await dropDatabase(other);
    }
  });

  describe("revert with down files", () => {
    const UPS = {
      "001_base.sql": "CREATE SCHEMA app;\nCREATE TABLE app.who (cur text, sess text);\n",
      "002_b.sql": "CREATE TABLE app.b (id int);\n",
      "003_c.sql": "CREATE TABLE app.c (id int);\n",
    };
    let db: string;
    const tables = () =>
      withAdmin(
        async (c) =>
          (
            await c.query<{ t: string }>(
              `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'app' ORDER BY 1`,
            )
          ).rows.map((r) => r.t),
        db,
      );
    const rows = () =>
      withAdmin(
        async (c) =>
          (await c.query<{ id: string }>(`SELECT id FROM pgfleet_migrations.applied ORDER BY id`)).rows.map(
            (r) => r.id,
          ),
        db,
      );
    /** The three migrations applied to a fresh database; returns the created resource. */
    async function appliedThree() {
      db = await createScratchDatabase("applied_it_revert");
      await withAdmin((c) => c.query(`GRANT CONNECT, CREATE ON DATABASE ${ident(db)} TO ${ident(role)}`));
      const created = await create(await inputsFor(folderWith(UPS), "sql", { database: db }));
      expect(await rows()).toEqual(["001", "002", "003"]);
      return created;
    }
    afterAll(async () => {
      if (db) await dropDatabase(db);
    });

    it("plans the removed migrations with down files newest first; update reverts them as the role, each with its row", async () => {
      const created = await appliedThree();
      const source = folderWith({
        "001_base.sql": UPS["001_base.sql"],
        "002_b.down.sql": "DROP TABLE app.b;\n",
        "003_c.down.sql": "DROP TABLE app.c;\nINSERT INTO app.who SELECT current_user, session_user;\n",
      });
      const inputs = await inputsFor(source, "sql", { database: db });
      const checked = await check(inputs);
      expect(checked.failures).toEqual([]);
      expect([checked.inputs.pending, checked.inputs.reverting]).toEqual([[], ["003", "002"]]);
      const diff = await operations.diff(created.id, created.outs, checked.inputs);
      expect(diff.changes).toBe(true);

      const updated = must((await operations.update(created.id, created.outs, checked.inputs)).outs);
      expect(updated.applied.map((a) => a.id)).toEqual(["001"]);
      // The outputs do not repeat the inputs' plan.
      expect(updated).not.toHaveProperty("reverting");
      expect(await tables()).toEqual(["who"]);
      expect(await rows()).toEqual(["001"]);
      // The down script ran as the login itself, not as the admin with SET ROLE.
      const who = await withAdmin(async (c) => (await c.query(`SELECT cur, sess FROM app.who`)).rows, db);
      expect(who).toEqual([{ cur: role, sess: role }]);

      const again = await check(inputs);
      expect([again.failures, again.inputs.pending, again.inputs.reverting]).toEqual([[], [], []]);
      expect((await operations.diff(created.id, updated, again.inputs)).changes).toBe(false);
      await dropDatabase(db);
    });

    it("a failing down script names file, statement and message; the database stays at the last migration not reverted", async () => {
      const created = await appliedThree();
      const source = folderWith({
        "001_base.sql": UPS["001_base.sql"],
        "002_b.down.sql": "DROP TABLE app.b;\nSELECT 1 / 0;\n",
        "003_c.down.sql": "DROP TABLE app.c;\n",
      });
      const checked = await check(await inputsFor(source, "sql", { database: db }));
      await expect(operations.update(created.id, created.outs, checked.inputs)).rejects.toThrow(
        /project "alpha": cannot revert 002 with 002_b\.down\.sql, statement 2 of 2 \(SELECT 1 \/ 0\), to database "applied_it_revert_[0-9a-f]+": division by zero \[SQLSTATE 22012\]; it stays at migration 002/,
      );
      expect(await tables()).toEqual(["b", "who"]); // 003 reverted; 002's DROP rolled back with its failure
      expect(await rows()).toEqual(["001", "002"]);
      await dropDatabase(db);
    });

    it("check refuses a database ahead of the folder without a down file, naming id, file, database and what to do", async () => {
      await appliedThree();
      const source = folderWith({ "001_base.sql": UPS["001_base.sql"], "002_b.sql": UPS["002_b.sql"] });
      const inputs = await inputsFor(source, "sql", { database: db });
      const checked = await check(inputs);
      const reasons = checked.failures.map((f) => f.reason).join("\n");
      expect(reasons).toContain(
        `database "${db}" (project "alpha") is ahead of the folder ${source}: its tracking table records 003 (003_c.sql), which no file matches; ` +
          `pgfleet never reverts silently: restore the migration files, or, to revert them, keep their up files removed and add their down files (003_c.down.sql)`,
      );
      await expect(operations.update("x", { ...inputs, applied: [] }, inputs)).rejects.toThrow(
        /is ahead of the folder/,
      );
      expect(await tables()).toEqual(["b", "c", "who"]);
      expect(await rows()).toEqual(["001", "002", "003"]);

      // A project's down script marked admin is refused at check, as a pending one is.
      const admin = folderWith({
        "001_base.sql": UPS["001_base.sql"],
        "002_b.sql": UPS["002_b.sql"],
        "003_c.down.sql": "-- pgfleet: admin\nDROP TABLE app.c;\n",
      });
      const refused = await check(await inputsFor(admin, "sql", { database: db }));
      expect(refused.failures.map((f) => f.reason).join("\n")).toContain(
        `[INSUFFICIENT_PERMISSIONS] 003_c.down.sql is marked "-- pgfleet: admin"`,
      );

      // With collectProblems the same findings are returned as `problems` for the caller to report
      // over every database; check does not fail, diff plans an update, and the update refuses them.
      const collected = await check({ ...inputs, collectProblems: true });
      expect(collected.failures).toEqual([]);
      expect(collected.inputs.problems).toEqual([reasons]);
      const outs = { ...inputs, applied: [] };
      expect((await operations.diff("x", outs, collected.inputs)).changes).toBe(true);
      await expect(operations.update("x", outs, collected.inputs)).rejects.toThrow(/is ahead of the folder/);
      expect(await rows()).toEqual(["001", "002", "003"]);
    });
  });
});
