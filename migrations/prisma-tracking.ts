/**
 * Prisma Migrate's tracking table, `_prisma_migrations`, built from Prisma's documentation of it
 * (Prisma's CLI cannot run here to check against: it downloads its schema engine at first use):
 *
 *     id VARCHAR(36) PRIMARY KEY (a v4 UUID), checksum VARCHAR(64) (SHA-256 hex of migration.sql),
 *     finished_at TIMESTAMPTZ (set on success only), migration_name VARCHAR(255) (the folder name),
 *     logs TEXT (the error of a failed run), rolled_back_at TIMESTAMPTZ,
 *     started_at TIMESTAMPTZ NOT NULL DEFAULT now(), applied_steps_count INTEGER NOT NULL DEFAULT 0
 *
 * A migration script is one step, so a successful run records `applied_steps_count = 1`. A row
 * with `rolled_back_at` set does not count as applied; one neither finished nor rolled back is a
 * failed run, which Prisma refuses to go past. Prisma accepts a recorded checksum computed with
 * other line endings (LF / CRLF) and, from an old engine, without zero padding: so does
 * `checksumMatches`. The table lives in the schema of Prisma's connection (`public` unless the
 * URL says `?schema=`).
 */
import * as crypto from "node:crypto";
import type { PrismaMigration } from "./prisma-folder";
import type { AppliedMigration, MigrationTracking, QueryClient } from "./tracking";
import { asDate, tableExists } from "./tracking";

export const PRISMA_TABLE = "_prisma_migrations";

/** A schema name usable unquoted-equivalent in `"…"` (no quoting rules needed). */
function checkedSchema(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
    throw new Error(`Prisma schema "${schema}": must match ^[a-z_][a-z0-9_]*$ and be at most 63 bytes`);
  return schema;
}

/** The tracking table of Prisma Migrate in `schema` (default `public`). */
export function prismaTracking(schema = "public"): MigrationTracking<PrismaMigration> & {
  record(
    client: QueryClient,
    migration: PrismaMigration,
    timing: { startedAt: Date; finishedAt: Date },
  ): Promise<void>;
} {
  const table = `"${checkedSchema(schema)}"."${PRISMA_TABLE}"`;
  return {
    async ensureTable(client) {
      await client.query(`CREATE TABLE IF NOT EXISTS ${table} (
        "id"                  VARCHAR(36) PRIMARY KEY NOT NULL,
        "checksum"            VARCHAR(64) NOT NULL,
        "finished_at"         TIMESTAMPTZ,
        "migration_name"      VARCHAR(255) NOT NULL,
        "logs"                TEXT,
        "rolled_back_at"      TIMESTAMPTZ,
        "started_at"          TIMESTAMPTZ NOT NULL DEFAULT now(),
        "applied_steps_count" INTEGER NOT NULL DEFAULT 0
      )`);
    },

    async readApplied(client): Promise<AppliedMigration[]> {
      if (!(await tableExists(client, table))) return [];
      const r = await client.query(
        `SELECT migration_name, checksum, started_at, finished_at FROM ${table}
          WHERE rolled_back_at IS NULL ORDER BY started_at, migration_name`,
      );
      return r.rows.map((row) => ({
        key: String(row.migration_name),
        checksum: String(row.checksum),
        appliedAt: asDate(row.finished_at),
        failed: row.finished_at === null,
      }));
    },

    keyOf: (migration) => migration.id,
    checksumMatches: (migration, checksum) => prismaChecksumMatches(migration, checksum),

    /** Records a successful run as Prisma does: a new UUID, the checksum, both times, one step. */
    async record(client, migration, timing) {
      await client.query(
        `INSERT INTO ${table} (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)
         VALUES ($1, $2, $3, $4, NULL, NULL, $5, 1)`,
        [crypto.randomUUID(), migration.checksum, timing.finishedAt, migration.id, timing.startedAt],
      );
    },
  };
}

/**
 * Whether `recorded` is one of this migration's checksums as Prisma compares them (see
 * `PrismaMigration.checksums`); a recorded value shorter than 64 characters comes from an old
 * engine that wrote each byte in hex without its leading zero.
 */
export function prismaChecksumMatches(migration: PrismaMigration, recorded: string): boolean {
  return migration.checksums.some((hex) =>
    recorded.length === 64 ? hex === recorded : unpadded(hex) === recorded,
  );
}

/** A hex digest with each byte written without its leading zero (`0a` → `a`). */
function unpadded(hex: string): string {
  return (hex.match(/../g) ?? []).map((byte) => byte.replace(/^0/, "")).join("");
}
