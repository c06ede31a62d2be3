/**
 * Helpers of the schema-migration tests: AppliedMigrations inputs for a folder, what a database
 * holds (a table's columns, the ids in pgfleet's SQL tracking table, read as the admin), and the
 * AppliedMigrations steps of a preview.
 */
import { migrationFormat } from "../../migrations/formats";
import type { MigrationFormat } from "../../migrations/source";
import { folderDigest } from "../../migrations/source";
import type { AppliedMigrationsInputs } from "../../provider/applied-migrations";
import { adminServer, withAdmin } from "./postgres";
import { changedSteps, type PreviewJson, type PreviewStep } from "./pulumi";

/** Inputs of a project "alpha" on the test server, for the folder `source` as read now. */
export async function appliedMigrationsInputs(
  source: string,
  format: MigrationFormat,
  over: Pick<AppliedMigrationsInputs, "database" | "login"> & Partial<AppliedMigrationsInputs>,
): Promise<AppliedMigrationsInputs> {
  const read = await migrationFormat(format).read(source);
  return {
    server: adminServer(),
    kind: "project",
    label: "alpha",
    format,
    source,
    folderDigest: folderDigest(read),
    lockTimeout: "5s",
    statementTimeout: "0",
    ...over,
  };
}

/** The columns of `schema.table` in `database`, in order (none when the table is missing). */
export async function columnsOf(database: string, schema: string, table: string): Promise<string[]> {
  return withAdmin(async (c) => {
    const r = await c.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
      [schema, table],
    );
    return r.rows.map((row) => row.column_name);
  }, database);
}

/** The ids in `pgfleet_migrations.applied` of `database` (none when the table is missing). */
export async function trackedIds(database: string): Promise<string[]> {
  return withAdmin(async (c) => {
    const exists = await c.query(`SELECT to_regclass('pgfleet_migrations.applied') IS NOT NULL AS e`);
    if (!exists.rows[0]?.e) return [];
    const r = await c.query<{ id: string }>(`SELECT id FROM pgfleet_migrations.applied ORDER BY id`);
    return r.rows.map((row) => row.id);
  }, database);
}

/** The engine type of an AppliedMigrations resource. */
export const APPLIED_MIGRATIONS_TYPE = "pulumi-nodejs:dynamic/pgfleet:AppliedMigrations";

/** The preview's AppliedMigrations steps: resource name → op and the ids it plans to apply and revert. */
export function plannedMigrations(
  json: PreviewJson,
): Record<string, { op: string; pending: unknown; reverting: unknown }> {
  const planned = (s: PreviewStep, key: string) => s.newState?.inputs?.[key] ?? s.newState?.outputs?.[key];
  return Object.fromEntries(
    changedSteps(json)
      .filter((s) => (s.newState?.type ?? s.type) === APPLIED_MIGRATIONS_TYPE)
      .map((s) => [
        s.urn.split("::").pop()!,
        { op: s.op, pending: planned(s, "pending"), reverting: planned(s, "reverting") },
      ]),
  );
}
