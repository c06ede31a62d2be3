/**
 * The three folder formats behind one handle: each format's reader, its tracking table, and how
 * a successful run is recorded there. What applies migrations (provider/applied-migrations.ts)
 * and what reports on them work through this, never through a format's modules directly.
 */
import { readDrizzleFolder, type DrizzleMigration } from "./drizzle-folder";
import { DRIZZLE_TABLE, drizzleTracking } from "./drizzle-tracking";
import { readPrismaFolder, type PrismaMigration } from "./prisma-folder";
import { PRISMA_TABLE, prismaTracking } from "./prisma-tracking";
import type { Migration, MigrationFormat, MigrationSource } from "./source";
import { readSqlFolder } from "./sql-folder";
import { SQL_TRACKING_TABLE, sqlTracking } from "./sql-tracking";
import type { MigrationTracking, QueryClient } from "./tracking";

/** When a migration ran: the times Prisma records (the others record the time of the insert). */
export interface RunTiming {
  startedAt: Date;
  finishedAt: Date;
}

/** A format: read its folder, read and write its tracking table. */
export interface FormatHandle {
  format: MigrationFormat;
  read(folder: string): Promise<MigrationSource>;
  /** The tracking table, schema-qualified. */
  table: string;
  tracking: MigrationTracking<Migration>;
  /** Records `migration` as applied (inside the migration's transaction when it has one). */
  record(client: QueryClient, migration: Migration, timing: RunTiming): Promise<void>;
  /**
   * Removes the row of a reverted migration (inside its down script's transaction). Only the
   * formats whose folders keep down files of removed migrations (plain SQL) revert.
   */
  forget?(client: QueryClient, id: string): Promise<void>;
}

/** The handle of `format`. */
export function migrationFormat(format: MigrationFormat): FormatHandle {
  switch (format) {
    case "sql":
      return {
        format,
        read: readSqlFolder,
        table: SQL_TRACKING_TABLE,
        tracking: sqlTracking,
        record: (client, m, t) =>
          sqlTracking.record(client, m, {
            appliedAt: t.finishedAt,
            executionMs: t.finishedAt.getTime() - t.startedAt.getTime(),
          }),
        forget: (client, id) => sqlTracking.forget(client, { id }),
      };
    case "drizzle":
      return {
        format,
        read: readDrizzleFolder,
        table: DRIZZLE_TABLE,
        // Every migration of a Drizzle source is a DrizzleMigration (it carries `when`).
        tracking: drizzleTracking as unknown as MigrationTracking<Migration>,
        record: (client, m) => drizzleTracking.record(client, m as DrizzleMigration),
      };
    case "prisma": {
      const tracking = prismaTracking();
      return {
        format,
        read: readPrismaFolder,
        table: `"public"."${PRISMA_TABLE}"`,
        tracking: tracking as unknown as MigrationTracking<Migration>,
        record: (client, m, t) => tracking.record(client, m as PrismaMigration, t),
      };
    }
  }
}
