// The tracking tables of the plain SQL and Prisma formats on a real server, and the fixture
// migrations run for real: transactional ones in a transaction, no-transaction ones outside.
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readPrismaFolder } from "../../migrations/prisma-folder";
import { PRISMA_TABLE, prismaTracking } from "../../migrations/prisma-tracking";
import type { Migration, MigrationScript } from "../../migrations/source";
import { readSqlFolder } from "../../migrations/sql-folder";
import { SQL_TRACKING_TABLE, sqlTracking } from "../../migrations/sql-tracking";
import { compareApplied, type QueryClient } from "../../migrations/tracking";
import { createScratchDatabase, dropDatabase, withAdmin } from "../support/postgres";

const FIXTURES = path.join(__dirname, "../fixtures/migrations");
const databases: string[] = [];

async function scratch(prefix: string): Promise<string> {
  const name = await createScratchDatabase(prefix);
  databases.push(name);
  return name;
}

/** Runs a script as its directives say; `record` runs in the same transaction when there is one. */
async function run(c: QueryClient, script: MigrationScript, record: () => Promise<void>): Promise<void> {
  if (!script.transactional) {
    for (const statement of script.statements) await c.query(statement);
    await record();
    return;
  }
  await c.query("BEGIN");
  try {
    for (const statement of script.statements) await c.query(statement);
    await record();
    await c.query("COMMIT");
  } catch (err) {
    await c.query("ROLLBACK");
    throw err;
  }
}

afterAll(async () => {
  for (const name of databases) await dropDatabase(name);
});

describe("plain SQL tracking (pgfleet_migrations.applied)", () => {
  it("applies the fixture folder, records it, sees it applied, and reverts with the down files", async () => {
    const source = await readSqlFolder(path.join(FIXTURES, "sql/good"));
    const db = await scratch("sql_tracking");
    await withAdmin(async (c) => {
      expect(await sqlTracking.readApplied(c)).toEqual([]); // no table yet: reading creates none
      await sqlTracking.ensureTable(c);
      await sqlTracking.ensureTable(c); // idempotent
      for (const m of source.migrations) await run(c, m, () => sqlTracking.record(c, m, { executionMs: 5 }));

      const index = await c.query(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_posts_user_id'::regclass",
      );
      expect(index.rows).toEqual([{ indisvalid: true }]);
      expect(
        (await c.query("SELECT extname FROM pg_extension WHERE extname = 'pgcrypto'")).rows,
      ).toHaveLength(1);

      const rows = await sqlTracking.readApplied(c);
      expect(rows.map((r) => r.key).sort()).toEqual(["001", "002", "10", "9"]);
      expect(rows.every((r) => r.appliedAt instanceof Date)).toBe(true);
      const compared = compareApplied(source, sqlTracking, rows);
      expect(compared.applied).toHaveLength(4);
      expect([compared.pending, compared.changed, compared.unknown]).toEqual([[], [], []]);
      const stored = await c.query(
        `SELECT id, name, checksum, execution_ms FROM ${SQL_TRACKING_TABLE} WHERE id = '001'`,
      );
      expect(stored.rows).toEqual([
        { id: "001", name: "create_users_table", checksum: source.migrations[0].checksum, execution_ms: 5 },
      ]);

      // Revert the last one with its (no-transaction) down file.
      const last = source.migrations[3];
      await run(c, last.down!, () => sqlTracking.forget(c, last));
      expect((await c.query("SELECT to_regclass('idx_posts_user_id') AS r")).rows).toEqual([{ r: null }]);
      const after = compareApplied(source, sqlTracking, await sqlTracking.readApplied(c));
      expect(after.pending.map((m: Migration) => m.id)).toEqual(["10"]);
    }, db);
  });

  it("rolls back a failing migration together with its record", async () => {
    const source = await readSqlFolder(path.join(FIXTURES, "sql/good"));
    const db = await scratch("sql_tracking_fail");
    const posts = source.migrations[1]; // references users, which does not exist here
    await withAdmin(async (c) => {
      await sqlTracking.ensureTable(c);
      await expect(run(c, posts, () => sqlTracking.record(c, posts))).rejects.toThrow(
        /relation "users" does not exist/,
      );
      expect(await sqlTracking.readApplied(c)).toEqual([]);
    }, db);
  });
});

describe("Prisma tracking (_prisma_migrations, from Prisma's documented table)", () => {
  it("creates the documented columns", async () => {
    const db = await scratch("prisma_tracking_columns");
    const columns = await withAdmin(async (c) => {
      await prismaTracking().ensureTable(c);
      await prismaTracking().ensureTable(c);
      const r = await c.query(
        `SELECT column_name, data_type, character_maximum_length, is_nullable, column_default
           FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`,
        [PRISMA_TABLE],
      );
      return r.rows;
    }, db);
    expect(columns).toEqual([
      {
        column_name: "id",
        data_type: "character varying",
        character_maximum_length: 36,
        is_nullable: "NO",
        column_default: null,
      },
      {
        column_name: "checksum",
        data_type: "character varying",
        character_maximum_length: 64,
        is_nullable: "NO",
        column_default: null,
      },
      {
        column_name: "finished_at",
        data_type: "timestamp with time zone",
        character_maximum_length: null,
        is_nullable: "YES",
        column_default: null,
      },
      {
        column_name: "migration_name",
        data_type: "character varying",
        character_maximum_length: 255,
        is_nullable: "NO",
        column_default: null,
      },
      {
        column_name: "logs",
        data_type: "text",
        character_maximum_length: null,
        is_nullable: "YES",
        column_default: null,
      },
      {
        column_name: "rolled_back_at",
        data_type: "timestamp with time zone",
        character_maximum_length: null,
        is_nullable: "YES",
        column_default: null,
      },
      {
        column_name: "started_at",
        data_type: "timestamp with time zone",
        character_maximum_length: null,
        is_nullable: "NO",
        column_default: "now()",
      },
      {
        column_name: "applied_steps_count",
        data_type: "integer",
        character_maximum_length: null,
        is_nullable: "NO",
        column_default: "0",
      },
    ]);
  });

  it("records as Prisma does and reads rolled-back and failed rows as Prisma reads them", async () => {
    const source = await readPrismaFolder(path.join(FIXTURES, "prisma/good"));
    const tracking = prismaTracking();
    const db = await scratch("prisma_tracking");
    const [init, status] = source.migrations;
    await withAdmin(async (c) => {
      expect(await tracking.readApplied(c)).toEqual([]);
      await tracking.ensureTable(c);
      const startedAt = new Date("2024-01-15T10:00:00.000Z");
      const finishedAt = new Date("2024-01-15T10:00:01.250Z");
      await run(c, init, () => tracking.record(c, init, { startedAt, finishedAt }));
      const row = (await c.query(`SELECT * FROM ${PRISMA_TABLE}`)).rows[0];
      expect(row).toMatchObject({
        checksum: init.checksum,
        migration_name: "20240101000000_init",
        logs: null,
        rolled_back_at: null,
        started_at: startedAt,
        finished_at: finishedAt,
        applied_steps_count: 1,
      });
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

      // A failed run of `status` (never finished), and an older run of it rolled back.
      await c.query(
        `INSERT INTO ${PRISMA_TABLE} (id, checksum, migration_name, logs, started_at, rolled_back_at)
         VALUES (gen_random_uuid()::text, $1, $2, 'boom', now(), now()), (gen_random_uuid()::text, $1, $2, 'boom', now(), NULL)`,
        [status.checksum, status.id],
      );
      const compared = compareApplied(source, tracking, await tracking.readApplied(c));
      expect(compared.applied.map((m) => m.id)).toEqual([init.id]);
      expect(compared.failed.map((f) => f.migration.id)).toEqual([status.id]);
      expect(compared.pending).toEqual([]);
    }, db);
  });

  it("keeps its table in the schema it is given", async () => {
    const db = await scratch("prisma_tracking_schema");
    await withAdmin(async (c) => {
      await c.query("CREATE SCHEMA app");
      await prismaTracking("app").ensureTable(c);
      expect(
        (await c.query("SELECT to_regclass('app._prisma_migrations') IS NOT NULL AS there")).rows,
      ).toEqual([{ there: true }]);
      expect(await prismaTracking().readApplied(c)).toEqual([]);
    }, db);
  });
});
