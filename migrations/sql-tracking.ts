/**
 * pgfleet's own tracking table for the plain SQL format: `pgfleet_migrations.applied`, one row per
 * applied migration (id = the number as written, name, checksum of the up file, when, how long).
 * Reverting a migration (its down file) deletes its row.
 */
import type { Migration } from "./source";
import type { AppliedMigration, MigrationTracking, QueryClient } from "./tracking";
import { asDate, tableExists } from "./tracking";

export const SQL_TRACKING_SCHEMA = "pgfleet_migrations";
export const SQL_TRACKING_TABLE = `${SQL_TRACKING_SCHEMA}.applied`;

const CREATE_STATEMENTS = [
  `CREATE SCHEMA IF NOT EXISTS ${SQL_TRACKING_SCHEMA}`,
  `CREATE TABLE IF NOT EXISTS ${SQL_TRACKING_TABLE} (
    id text PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    execution_ms integer
  )`,
];

export const sqlTracking: MigrationTracking<Migration> & {
  record(
    client: QueryClient,
    migration: Migration,
    timing?: { appliedAt?: Date; executionMs?: number },
  ): Promise<void>;
  forget(client: QueryClient, migration: Pick<Migration, "id">): Promise<void>;
} = {
  async ensureTable(client) {
    for (const sql of CREATE_STATEMENTS) await client.query(sql);
  },

  async readApplied(client): Promise<AppliedMigration[]> {
    if (!(await tableExists(client, SQL_TRACKING_TABLE))) return [];
    const r = await client.query(
      `SELECT id, name, checksum, applied_at FROM ${SQL_TRACKING_TABLE} ORDER BY applied_at, id`,
    );
    return r.rows.map((row) => ({
      key: String(row.id),
      checksum: String(row.checksum),
      name: String(row.name),
      appliedAt: asDate(row.applied_at),
      failed: false,
    }));
  },

  keyOf: (migration) => migration.id,
  checksumMatches: (migration, checksum) => migration.checksum === checksum,

  /** Records `migration` as applied (in the migration's own transaction when it has one). */
  async record(client, migration, timing = {}) {
    await client.query(
      `INSERT INTO ${SQL_TRACKING_TABLE} (id, name, checksum, applied_at, execution_ms) VALUES ($1, $2, $3, coalesce($4, now()), $5)`,
      [
        migration.id,
        migration.name,
        migration.checksum,
        timing.appliedAt ?? null,
        timing.executionMs ?? null,
      ],
    );
  },

  /** Removes the row of a reverted migration. */
  async forget(client, migration) {
    await client.query(`DELETE FROM ${SQL_TRACKING_TABLE} WHERE id = $1`, [migration.id]);
  },
};
