/**
 * What the tracking tables of all three formats share: the small client they take, the shape of
 * an applied row, and the comparison of a source with what a database has recorded.
 * Each format's table lives in its own module (sql-tracking, drizzle-tracking, prisma-tracking)
 * and is written exactly as the source tool writes it, so the tool and pgfleet agree.
 */
import type { Migration, MigrationSource } from "./source";

/** Any client with `query` (a `pg` client, pgfleet's DbClient). */
export interface QueryClient {
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

/** A migration a database's tracking table records. */
export interface AppliedMigration {
  /** The value pairing the row with a migration: the id (SQL, Prisma) or the journal time (Drizzle). */
  key: string;
  checksum: string;
  /** The migration's name, if the table records it (pgfleet's own table does): for messages. */
  name?: string;
  /** When it was applied, if the table records it. */
  appliedAt?: Date;
  /** Prisma records failed runs (started, never finished, not rolled back); the others only successes. */
  failed: boolean;
}

/** A format's tracking table. */
export interface MigrationTracking<M extends Migration = Migration> {
  /** Creates the schema and table if missing, as the source tool does. */
  ensureTable(client: QueryClient): Promise<void>;
  /** The rows recorded, oldest first; none when the table does not exist (reading creates nothing). */
  readApplied(client: QueryClient): Promise<AppliedMigration[]>;
  /** The key `readApplied` gives this migration's row. */
  keyOf(migration: M): string;
  /** Whether a recorded checksum is this migration's (Prisma also accepts other line endings). */
  checksumMatches(migration: M, checksum: string): boolean;
}

/** A source against a database's rows: what it has, what it lacks, and what disagrees. */
export interface AppliedComparison<M extends Migration = Migration> {
  applied: M[];
  pending: M[];
  /** Recorded with another checksum: the file changed after it was applied. */
  changed: { migration: M; recorded: AppliedMigration }[];
  /** Recorded as failed (Prisma): the tool refuses to go on until it is resolved. */
  failed: { migration: M; recorded: AppliedMigration }[];
  /** Rows no migration of the source matches (a file deleted or renamed). */
  unknown: AppliedMigration[];
}

export function compareApplied<M extends Migration>(
  source: MigrationSource<M>,
  tracking: MigrationTracking<M>,
  rows: readonly AppliedMigration[],
): AppliedComparison<M> {
  const result: AppliedComparison<M> = { applied: [], pending: [], changed: [], failed: [], unknown: [] };
  const byKey = new Map<string, AppliedMigration[]>();
  for (const row of rows) byKey.set(row.key, [...(byKey.get(row.key) ?? []), row]);
  const used = new Set<AppliedMigration>();
  for (const migration of source.migrations) {
    const candidates = byKey.get(tracking.keyOf(migration)) ?? [];
    candidates.forEach((row) => used.add(row));
    const good = candidates.find((row) => !row.failed && tracking.checksumMatches(migration, row.checksum));
    const failed = candidates.find((row) => row.failed);
    const other = candidates.find((row) => !row.failed);
    if (good) result.applied.push(migration);
    else if (other) result.changed.push({ migration, recorded: other });
    else if (failed) result.failed.push({ migration, recorded: failed });
    else result.pending.push(migration);
  }
  result.unknown = rows.filter((row) => !used.has(row));
  return result;
}

/** Whether `schema.table` exists (`to_regclass`, so a missing table is no error). */
export async function tableExists(client: QueryClient, qualifiedName: string): Promise<boolean> {
  const r = await client.query("SELECT to_regclass($1) IS NOT NULL AS present", [qualifiedName]);
  return r.rows[0]?.present === true;
}

/** A timestamp column as a Date (pg gives Dates; a string is parsed). */
export function asDate(value: unknown): Date | undefined {
  if (value === null || value === undefined) return undefined;
  return value instanceof Date ? value : new Date(String(value));
}
