/**
 * pgfleet's record of a database's last failed migration run, for every format:
 * `pgfleet_migration_status.last_failure`, at most one row (which migration, its file, the statement
 * that failed, the SQLSTATE, when). The SQL and Drizzle tables record successes only, so without
 * it a failure would leave no trace in the database; Prisma's table has its own failed rows,
 * which pgfleet does not write (it records a Prisma migration once it succeeded).
 *
 * The row holds no server message (it may quote row values) and nothing secret. It is written by
 * the run that failed, as the same login, in a transaction of its own after the migration's rolled
 * back; it is removed when a later run leaves nothing pending. Its schema is its own, not the SQL
 * tracking table's: a project cloned from a template holds the template's (the admin's) tracking
 * schema, where its role may write rows but not create a table. A reader ignores a row whose
 * migration the tracking table records as applied since (applied by another tool, say).
 */
import type { QueryClient } from "./tracking";
import { asDate, tableExists } from "./tracking";

export const FAILURE_SCHEMA = "pgfleet_migration_status";
export const FAILURE_TABLE = `${FAILURE_SCHEMA}.last_failure`;

/** A failed migration run as the database records it. */
export interface MigrationFailure {
  /** The migration's id (number, journal tag or folder name). */
  id: string;
  /** Its file, relative to the migrations folder. */
  file: string;
  /** The statement that failed (1-based), or none when recording the migration failed. */
  statement?: number;
  /** How many statements the migration has. */
  statements: number;
  /** The server's SQLSTATE, when the failure was a server error. */
  sqlstate?: string;
  failedAt?: Date;
}

const CREATE_STATEMENTS = [
  `CREATE SCHEMA IF NOT EXISTS ${FAILURE_SCHEMA}`,
  `CREATE TABLE IF NOT EXISTS ${FAILURE_TABLE} (
    id text PRIMARY KEY,
    file text NOT NULL,
    statement integer,
    statements integer NOT NULL,
    sqlstate text,
    failed_at timestamptz NOT NULL DEFAULT now()
  )`,
];

/** Replaces the record with `failure` (the caller runs it in a transaction of its own). */
export async function recordFailure(client: QueryClient, failure: MigrationFailure): Promise<void> {
  // Only when missing: CREATE … IF NOT EXISTS still needs the right to create in the schema.
  if (!(await tableExists(client, FAILURE_TABLE)))
    for (const sql of CREATE_STATEMENTS) await client.query(sql);
  await client.query(`DELETE FROM ${FAILURE_TABLE}`);
  await client.query(
    `INSERT INTO ${FAILURE_TABLE} (id, file, statement, statements, sqlstate) VALUES ($1, $2, $3, $4, $5)`,
    [failure.id, failure.file, failure.statement ?? null, failure.statements, failure.sqlstate ?? null],
  );
}

/**
 * Removes the record (a run left nothing pending): drops the table and its schema, so a database
 * that recovered differs in nothing from its template; only the row when the table is not this
 * login's to drop (cloned from a template). Run outside a transaction.
 */
export async function clearFailure(client: QueryClient): Promise<void> {
  if (!(await tableExists(client, FAILURE_TABLE))) return;
  try {
    await client.query(`DROP TABLE ${FAILURE_TABLE}`);
  } catch {
    await client.query(`DELETE FROM ${FAILURE_TABLE}`);
    return;
  }
  // Without CASCADE: a schema holding anything else stays.
  await client.query(`DROP SCHEMA IF EXISTS ${FAILURE_SCHEMA}`).catch(() => undefined);
}

/** The recorded failure, if any (reading creates nothing). */
export async function readFailure(client: QueryClient): Promise<MigrationFailure | undefined> {
  if (!(await tableExists(client, FAILURE_TABLE))) return undefined;
  const r = await client.query(
    `SELECT id, file, statement, statements, sqlstate, failed_at FROM ${FAILURE_TABLE} ORDER BY failed_at DESC LIMIT 1`,
  );
  const row = r.rows[0];
  if (!row) return undefined;
  return {
    id: String(row.id),
    file: String(row.file),
    statement: row.statement === null || row.statement === undefined ? undefined : Number(row.statement),
    statements: Number(row.statements),
    sqlstate: typeof row.sqlstate === "string" ? row.sqlstate : undefined,
    failedAt: asDate(row.failed_at),
  };
}
