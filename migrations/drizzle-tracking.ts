/**
 * Drizzle's own tracking table, written as drizzle-orm's PostgreSQL migrator writes it (the
 * migrator that `drizzle-kit migrate` runs): schema `drizzle`, table `__drizzle_migrations
 * (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`, one row per applied migration
 * with the file's hash and the journal's `when` as `created_at`.
 *
 * Drizzle decides what to apply from `created_at` alone: every journal entry whose `when` is after
 * the newest recorded `created_at` runs. So pgfleet pairs rows with migrations by `created_at` and
 * checks the hash, and records exactly `when`: then `drizzle-kit migrate` afterwards applies
 * nothing, and a migration drizzle-kit applied first is seen as applied here.
 */
import type { DrizzleMigration } from "./drizzle-folder";
import type { AppliedMigration, MigrationTracking, QueryClient } from "./tracking";
import { tableExists } from "./tracking";

export const DRIZZLE_SCHEMA = "drizzle";
export const DRIZZLE_TABLE = `${DRIZZLE_SCHEMA}.__drizzle_migrations`;

export const drizzleTracking: MigrationTracking<DrizzleMigration> & {
  record(client: QueryClient, migration: DrizzleMigration): Promise<void>;
} = {
  async ensureTable(client) {
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${DRIZZLE_SCHEMA}"`);
    await client.query(`CREATE TABLE IF NOT EXISTS "${DRIZZLE_SCHEMA}"."__drizzle_migrations" (
      id SERIAL PRIMARY KEY,
      hash text NOT NULL,
      created_at bigint
    )`);
  },

  async readApplied(client): Promise<AppliedMigration[]> {
    if (!(await tableExists(client, DRIZZLE_TABLE))) return [];
    const r = await client.query(`SELECT id, hash, created_at FROM ${DRIZZLE_TABLE} ORDER BY created_at, id`);
    return r.rows.map((row) => ({ key: String(row.created_at), checksum: String(row.hash), failed: false }));
  },

  keyOf: (migration) => String(migration.when),
  checksumMatches: (migration, hash) => migration.checksum === hash,

  /** Records `migration` as applied, with the hash and `created_at` drizzle writes. */
  async record(client, migration) {
    await client.query(`INSERT INTO ${DRIZZLE_TABLE} ("hash", "created_at") VALUES ($1, $2)`, [
      migration.checksum,
      migration.when,
    ]);
  },
};
