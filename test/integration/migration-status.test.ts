// What `pgfleet migrate status` reads of one database (migrations/tracking-status.ts) on the real
// server: Prisma's own failed row, pgfleet's failure record (ignored once its migration is
// applied), changed and unknown rows; and the record removed with its schema when a run recovers.
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clearFailure, FAILURE_TABLE, readFailure, recordFailure } from "../../migrations/failure-tracking";
import { migrationFormat } from "../../migrations/formats";
import { readMigrationStatus } from "../../migrations/tracking-status";
import { createScratchDatabase, dropDatabase, withAdmin } from "../support/postgres";

const FIXTURES = path.join(__dirname, "../fixtures/migrations");
const dbs = { prisma: "", sql: "", clear: "" };

beforeAll(async () => {
  for (const key of Object.keys(dbs) as (keyof typeof dbs)[])
    dbs[key] = await createScratchDatabase(`mstat_${key}`);
});

afterAll(async () => {
  for (const name of Object.values(dbs)) if (name) await dropDatabase(name);
});

describe("the migration status of one database", () => {
  it("Prisma: a started, unfinished run is the failed migration and stays pending", async () => {
    const handle = migrationFormat("prisma");
    const source = await handle.read(path.join(FIXTURES, "prisma/good"));
    const [init, second] = source.migrations;
    const db = dbs.prisma;
    const status = await withAdmin(async (c) => {
      await handle.tracking.ensureTable(c);
      await handle.record(c, init, { startedAt: new Date(), finishedAt: new Date() });
      await c.query(
        `INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at) VALUES ('b0c1d2e3-0000-4000-8000-000000000000', $1, $2, now())`,
        [second.checksum, second.id],
      );
      return readMigrationStatus(c, handle, source);
    }, db);
    expect(status).toMatchObject({
      applied: [init.id],
      lastApplied: { id: init.id, file: init.file },
      pending: [],
      failed: { id: second.id, file: second.file },
      changed: [],
      unknown: [],
    });
  });

  it("SQL: pgfleet's failure record is the failed migration until it is applied; changed and unknown rows", async () => {
    const handle = migrationFormat("sql");
    const source = await handle.read(path.join(FIXTURES, "sql/good"));
    const [first, second, third] = source.migrations;
    const db = dbs.sql;
    await withAdmin(async (c) => {
      await handle.tracking.ensureTable(c);
      await handle.record(c, first, { startedAt: new Date(), finishedAt: new Date() });
      await recordFailure(c, {
        id: second.id,
        file: second.file,
        statement: 1,
        statements: 2,
        sqlstate: "42P07",
      });
    }, db);
    const failed = await withAdmin((c) => readMigrationStatus(c, handle, source), db);
    expect(failed.failed).toMatchObject({
      id: second.id,
      file: second.file,
      statement: 1,
      sqlstate: "42P07",
    });
    expect(failed.pending).toEqual(source.migrations.slice(1).map((m) => m.id));

    // Applied since (by another tool, say): the record is stale and not reported.
    const later = await withAdmin(async (c) => {
      await handle.record(c, second, { startedAt: new Date(), finishedAt: new Date() });
      await c.query(`UPDATE pgfleet_migrations.applied SET checksum = 'edited' WHERE id = $1`, [first.id]);
      await c.query(
        `INSERT INTO pgfleet_migrations.applied (id, name, checksum) VALUES ('999', 'gone', 'x')`,
      );
      return readMigrationStatus(c, handle, source);
    }, db);
    expect(later.failed).toBeUndefined();
    expect(later).toMatchObject({
      applied: [second.id],
      lastApplied: { id: second.id },
      changed: [first.id],
      unknown: ["999"],
    });
    expect(later.pending).toContain(third.id);
  });

  it("clearing the record drops its table and schema; reading a database without one creates nothing", async () => {
    const db = dbs.clear;
    const after = await withAdmin(async (c) => {
      expect(await readFailure(c)).toBeUndefined();
      await recordFailure(c, { id: "001", file: "001_x.sql", statements: 1 });
      await recordFailure(c, { id: "002", file: "002_y.sql", statement: 1, statements: 1 });
      const recorded = await readFailure(c);
      await clearFailure(c);
      const left = await c.query(
        `SELECT to_regclass($1) AS t, to_regnamespace('pgfleet_migration_status') AS s`,
        [FAILURE_TABLE],
      );
      return { recorded, left: left.rows[0] };
    }, db);
    // One row: the last failure replaces the one before.
    expect(after.recorded).toMatchObject({ id: "002", file: "002_y.sql", statement: 1, statements: 1 });
    expect(after.left).toEqual({ t: null, s: null });
  });
});
