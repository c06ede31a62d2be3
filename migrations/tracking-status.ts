/**
 * Where one database stands against a migrations folder, read from its own tables (for
 * `pgfleet migrate status`): the last migration applied, those pending, the one that failed, and
 * what disagrees with the folder (a file changed after it was applied, rows no file matches).
 */
import { readFailure } from "./failure-tracking";
import type { FormatHandle } from "./formats";
import type { MigrationSource } from "./source";
import { compareApplied, type QueryClient } from "./tracking";

/** A migration as the status names it. */
export interface MigrationRef {
  id: string;
  file: string;
}

export interface DatabaseMigrationStatus {
  /** The folder's migrations the tracking table records, in folder order. */
  applied: string[];
  /** The newest of them (in folder order), with when it was applied if the table says. */
  lastApplied?: MigrationRef & { appliedAt?: string };
  /** The folder's migrations not applied, in order (a failed SQL or Drizzle migration is among them: the next run retries it). */
  pending: string[];
  /**
   * The last failed run: Prisma's own failed row, else pgfleet's record of a failure
   * (failure-tracking.ts) whose migration is not applied since.
   */
  failed?: MigrationRef & { statement?: number; statements?: number; sqlstate?: string; failedAt?: string };
  /** Applied, but the file changed since (the recorded checksum differs). */
  changed: string[];
  /** Tracking rows no file of the folder matches: the database is ahead of the folder. */
  unknown: string[];
}

/** Reads the database `client` is connected to (reading creates nothing). */
export async function readMigrationStatus(
  client: QueryClient,
  handle: FormatHandle,
  source: MigrationSource,
): Promise<DatabaseMigrationStatus> {
  const rows = await handle.tracking.readApplied(client);
  const cmp = compareApplied(source, handle.tracking, rows);
  const order = source.migrations;
  const last = [...cmp.applied].sort((a, b) => order.indexOf(a) - order.indexOf(b)).at(-1);
  const lastRow = last && rows.find((r) => r.key === handle.tracking.keyOf(last) && !r.failed);
  const status: DatabaseMigrationStatus = {
    applied: order.filter((m) => cmp.applied.includes(m)).map((m) => m.id),
    lastApplied: last && { id: last.id, file: last.file, appliedAt: lastRow?.appliedAt?.toISOString() },
    pending: cmp.pending.map((m) => m.id),
    changed: cmp.changed.map((c) => c.migration.id),
    unknown: cmp.unknown.map((r) => r.key),
  };
  const prismaFailed = cmp.failed.at(-1);
  if (prismaFailed) {
    status.failed = { id: prismaFailed.migration.id, file: prismaFailed.migration.file };
    return status;
  }
  const recorded = await readFailure(client);
  if (recorded && !status.applied.includes(recorded.id))
    status.failed = {
      id: recorded.id,
      file: recorded.file,
      statement: recorded.statement,
      statements: recorded.statements,
      sqlstate: recorded.sqlstate,
      failedAt: recorded.failedAt?.toISOString(),
    };
  return status;
}
