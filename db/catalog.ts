/**
 * The backup part of pgfleet's catalog database (`pgfleet_catalog`, see core/naming.ts) on each
 * server: backup plans (written by the `BackupPlan` dynamic resource) and the history of runs
 * (written by the runner). It lives in the catalog, never in a template, or every clone would
 * copy it.
 *
 * Schema `pgfleet_backup`, migrated forward by {@link migrateCatalog} (ordered, recorded,
 * serialised by an advisory lock, so parallel runners and providers are safe):
 *
 * - `plans`: one row per plan (the declared plan, its owning stack, when it was created);
 * - `final_backup_destinations`: per stack, the final-backup folder its config named at its last `up`;
 * - `runs`: one row per dump attempt: plan, database, kind (`scheduled`, `manual`, `final`,
 *   `pre-migration`: taken by a schema-migration rollout before it migrates the database), the
 *   scheduled time it ran for, start, end, status (`running`, `succeeded`, `failed`), final file,
 *   size, sha256, verification mode and result, error, and `pruned_at` once retention removed
 *   its file. Only `succeeded` rows that are not pruned are backups; a row left `running` by a
 *   runner that died never counts, and the next run marks it `failed`.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import { CATALOG_DATABASE } from "../core/naming";
import type { BackupPlanSpec, VerifyMode } from "../core/backup-plan";
import type { Retention } from "../core/retention";
import { close, closing, inTransaction, type DbClient, type ServerConnection } from "./client";
import { hasSqlState, SQLSTATE } from "./errors";
import { connectMaintenance } from "./session";
import { errorText } from "../core/errors";

export { CATALOG_DATABASE };

/** The schema of the backup tables in the catalog database. */
export const BACKUP_SCHEMA = "pgfleet_backup";

/** Ordered, append-only: a released migration is never edited, a new one is added. */
const MIGRATIONS: ReadonlyArray<{ name: string; sql: string }> = [
  {
    name: "001_plans_and_runs",
    sql: `
      CREATE TABLE pgfleet_backup.plans (
        name              text PRIMARY KEY,
        databases         text[] NOT NULL,
        schedule          text NOT NULL,
        retention         jsonb NOT NULL,
        format            text NOT NULL DEFAULT 'custom',
        compression_level int NOT NULL,
        destination       text NOT NULL,
        verify            text NOT NULL,
        stack             text,
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE pgfleet_backup.runs (
        id                bigserial PRIMARY KEY,
        plan_name         text,
        database_name     text NOT NULL,
        kind              text NOT NULL CHECK (kind IN ('scheduled', 'manual', 'final')),
        scheduled_for     timestamptz,
        started_at        timestamptz NOT NULL,
        finished_at       timestamptz,
        status            text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
        file              text,
        temp_file         text,
        bytes             bigint,
        sha256            text,
        compression_level int,
        verification      text,
        verified          boolean,
        verified_at       timestamptz,
        error             text,
        pruned_at         timestamptz,
        host              text,
        pid               int,
        pg_dump_version   text,
        server_version    text
      );
      CREATE INDEX runs_plan_database ON pgfleet_backup.runs (plan_name, database_name, started_at DESC);
      CREATE INDEX runs_status ON pgfleet_backup.runs (status) WHERE status = 'running';
    `,
  },
  {
    // The pg_dump process of a running dump, so a sweep can stop one its runner left behind.
    name: "002_runs_dump_pid",
    sql: "ALTER TABLE pgfleet_backup.runs ADD COLUMN dump_pid int",
  },
  {
    // Each stack's current final-backup folder (backup-then-drop), written by the program at `up`,
    // so a project's delete uses today's config rather than the folder stored in its old state.
    name: "003_final_backup_destinations",
    sql: `
      CREATE TABLE pgfleet_backup.final_backup_destinations (
        stack       text PRIMARY KEY,
        destination text NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now()
      )
    `,
  },
  {
    // The dumps a schema-migration rollout takes before migrating a database (backupBefore).
    name: "004_runs_kind_pre_migration",
    sql: `
      ALTER TABLE pgfleet_backup.runs DROP CONSTRAINT runs_kind_check;
      ALTER TABLE pgfleet_backup.runs ADD CONSTRAINT runs_kind_check
        CHECK (kind IN ('scheduled', 'manual', 'final', 'pre-migration'))
    `,
  },
];

/** Whether the latest migration is recorded (one cheap query; false when the schema is missing). */
async function upToDate(client: DbClient): Promise<boolean> {
  try {
    const latest = MIGRATIONS[MIGRATIONS.length - 1].name;
    const r = await client.query(`SELECT 1 FROM ${BACKUP_SCHEMA}.migrations WHERE name = $1`, [latest]);
    return r.rows.length === 1;
  } catch (err) {
    if (hasSqlState(err, SQLSTATE.undefinedTable, SQLSTATE.invalidSchemaName)) return false; // not yet made
    throw err;
  }
}

/** Brings the backup schema of the catalog database up to date. */
export async function migrateCatalog(client: DbClient): Promise<void> {
  if (await upToDate(client)) return;
  await inTransaction(client, async () => {
    // One migrator at a time per server; the key is a constant of pgfleet's.
    await client.query("SELECT pg_advisory_xact_lock(hashtext('pgfleet_backup.migrate'))");
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${BACKUP_SCHEMA}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${BACKUP_SCHEMA}.migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = new Set(
      (await client.query<{ name: string }>(`SELECT name FROM ${BACKUP_SCHEMA}.migrations`)).rows.map(
        (r) => r.name,
      ),
    );
    for (const m of MIGRATIONS) {
      if (done.has(m.name)) continue;
      await client.query(m.sql);
      await client.query(`INSERT INTO ${BACKUP_SCHEMA}.migrations (name) VALUES ($1)`, [m.name]);
    }
  });
}

/**
 * Opens the catalog database of `server` (creating it when missing, from a database that is not
 * `avoid`) with the backup schema migrated.
 */
export async function openCatalog(server: ServerConnection, avoid?: string): Promise<DbClient> {
  const client = await connectMaintenance(server, avoid);
  try {
    await migrateCatalog(client);
  } catch (err) {
    await close(client);
    throw new Error(
      `cannot prepare pgfleet's catalog database "${CATALOG_DATABASE}" on ${server.host}:${server.port}: ${errorText(
        err,
      )}`,
    );
  }
  return client;
}

/** Runs `fn` with the catalog open, closing it afterwards. */
export async function withCatalog<T>(
  server: ServerConnection,
  fn: (c: DbClient) => Promise<T>,
  avoid?: string,
): Promise<T> {
  return closing(await openCatalog(server, avoid), fn);
}

// ---------------------------------------------------------------------------------------------
// Plans.

/** A plan as stored: the spec plus bookkeeping. */
export interface StoredPlan extends BackupPlanSpec {
  stack: string | null;
  createdAt: Date;
  updatedAt: Date;
}

interface PlanRow {
  name: string;
  databases: string[];
  schedule: string;
  retention: Retention;
  format: string;
  compression_level: number;
  destination: string;
  verify: string;
  stack: string | null;
  created_at: Date;
  updated_at: Date;
}

function planFromRow(r: PlanRow): StoredPlan {
  return {
    planName: r.name,
    databases: r.databases,
    schedule: r.schedule,
    retention: { daily: r.retention.daily, weekly: r.retention.weekly, monthly: r.retention.monthly },
    format: r.format as "custom",
    compressionLevel: r.compression_level,
    destination: r.destination,
    verify: r.verify as VerifyMode,
    stack: r.stack,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  };
}

/** Inserts or replaces a plan (created_at is kept on update). */
export async function upsertPlan(
  client: DbClient,
  plan: BackupPlanSpec,
  stack: string | null,
): Promise<StoredPlan> {
  const r = await client.query<PlanRow>(
    `INSERT INTO ${BACKUP_SCHEMA}.plans AS p
       (name, databases, schedule, retention, format, compression_level, destination, verify, stack)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (name) DO UPDATE SET
       databases = EXCLUDED.databases, schedule = EXCLUDED.schedule, retention = EXCLUDED.retention,
       format = EXCLUDED.format, compression_level = EXCLUDED.compression_level,
       destination = EXCLUDED.destination, verify = EXCLUDED.verify, stack = EXCLUDED.stack, updated_at = now()
     RETURNING *`,
    [
      plan.planName,
      plan.databases,
      plan.schedule,
      JSON.stringify(plan.retention),
      plan.format,
      plan.compressionLevel,
      plan.destination,
      plan.verify,
      stack,
    ],
  );
  return planFromRow(r.rows[0]);
}

export async function getPlan(client: DbClient, name: string): Promise<StoredPlan | undefined> {
  const r = await client.query<PlanRow>(`SELECT * FROM ${BACKUP_SCHEMA}.plans WHERE name = $1`, [name]);
  return r.rows[0] ? planFromRow(r.rows[0]) : undefined;
}

export async function listPlans(client: DbClient): Promise<StoredPlan[]> {
  const r = await client.query<PlanRow>(`SELECT * FROM ${BACKUP_SCHEMA}.plans ORDER BY name`);
  return r.rows.map(planFromRow);
}

/** Removes a plan. Its runs (history) and files are kept. */
export async function deletePlan(client: DbClient, name: string): Promise<boolean> {
  const r = await client.query(`DELETE FROM ${BACKUP_SCHEMA}.plans WHERE name = $1`, [name]);
  return (r.rowCount ?? 0) > 0;
}

// ---------------------------------------------------------------------------------------------
// Runs.

export type RunKind = "scheduled" | "manual" | "final" | "pre-migration";
export type RunStatus = "running" | "succeeded" | "failed";

/** One dump attempt. */
export interface BackupRun {
  id: string;
  planName: string | null;
  databaseName: string;
  kind: RunKind;
  scheduledFor: Date | null;
  startedAt: Date;
  finishedAt: Date | null;
  status: RunStatus;
  file: string | null;
  tempFile: string | null;
  bytes: number | null;
  sha256: string | null;
  compressionLevel: number | null;
  verification: VerifyMode | null;
  verified: boolean | null;
  verifiedAt: Date | null;
  error: string | null;
  prunedAt: Date | null;
  host: string | null;
  pid: number | null;
  dumpPid: number | null;
}

interface RunRow {
  id: string;
  plan_name: string | null;
  database_name: string;
  kind: RunKind;
  scheduled_for: Date | null;
  started_at: Date;
  finished_at: Date | null;
  status: RunStatus;
  file: string | null;
  temp_file: string | null;
  bytes: string | null;
  sha256: string | null;
  compression_level: number | null;
  verification: VerifyMode | null;
  verified: boolean | null;
  verified_at: Date | null;
  error: string | null;
  pruned_at: Date | null;
  host: string | null;
  pid: number | null;
  dump_pid: number | null;
}

const date = (d: Date | null) => (d ? new Date(d) : null);

function runFromRow(r: RunRow): BackupRun {
  return {
    id: String(r.id),
    planName: r.plan_name,
    databaseName: r.database_name,
    kind: r.kind,
    scheduledFor: date(r.scheduled_for),
    startedAt: new Date(r.started_at),
    finishedAt: date(r.finished_at),
    status: r.status,
    file: r.file,
    tempFile: r.temp_file,
    bytes: r.bytes === null ? null : Number(r.bytes),
    sha256: r.sha256,
    compressionLevel: r.compression_level,
    verification: r.verification,
    verified: r.verified,
    verifiedAt: date(r.verified_at),
    error: r.error,
    prunedAt: date(r.pruned_at),
    host: r.host,
    pid: r.pid,
    dumpPid: r.dump_pid,
  };
}

/**
 * This runner's host as runs record it: the host name plus the pid namespace, so runners that
 * share a host name (a container on the host's network) are told apart when abandoned runs are
 * swept.
 */
export function runnerHost(): string {
  let namespace = "";
  try {
    namespace = fs.readlinkSync("/proc/self/ns/pid").replace(/^pid:\[(\d+)\]$/, "$1");
  } catch {
    // not Linux: the host name alone
  }
  return namespace ? `${os.hostname()}#${namespace}` : os.hostname();
}

/** Records the start of a dump; returns the run id. */
export async function startRun(
  client: DbClient,
  run: {
    planName: string | null;
    databaseName: string;
    kind: RunKind;
    scheduledFor?: Date;
    startedAt: Date;
    tempFile: string;
    compressionLevel: number;
    pgDumpVersion?: string;
    serverVersion?: string;
  },
): Promise<string> {
  const r = await client.query<{ id: string }>(
    `INSERT INTO ${BACKUP_SCHEMA}.runs
       (plan_name, database_name, kind, scheduled_for, started_at, status, temp_file, compression_level, host, pid,
        pg_dump_version, server_version)
     VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $8, $9, $10, $11) RETURNING id`,
    [
      run.planName,
      run.databaseName,
      run.kind,
      run.scheduledFor ?? null,
      run.startedAt,
      run.tempFile,
      run.compressionLevel,
      runnerHost(),
      process.pid,
      run.pgDumpVersion ?? null,
      run.serverVersion ?? null,
    ],
  );
  return String(r.rows[0].id);
}

/** Records the pid of the run's pg_dump. */
export async function setDumpPid(client: DbClient, id: string, pid: number): Promise<void> {
  await client.query(`UPDATE ${BACKUP_SCHEMA}.runs SET dump_pid = $2 WHERE id = $1`, [id, pid]);
}

/** Records a verified dump. */
export async function finishRun(
  client: DbClient,
  id: string,
  result: { finishedAt: Date; file: string; bytes: number; sha256: string; verification: VerifyMode },
): Promise<void> {
  await client.query(
    `UPDATE ${BACKUP_SCHEMA}.runs SET status = 'succeeded', finished_at = $2, file = $3, temp_file = NULL, bytes = $4,
       sha256 = $5, verification = $6, verified = true, verified_at = $2, error = NULL WHERE id = $1`,
    [id, result.finishedAt, result.file, result.bytes, result.sha256, result.verification],
  );
}

/** Records a failed dump (nothing of it counts). */
export async function failRun(client: DbClient, id: string, finishedAt: Date, error: string): Promise<void> {
  await client.query(
    `UPDATE ${BACKUP_SCHEMA}.runs SET status = 'failed', finished_at = $2, error = $3, file = NULL WHERE id = $1`,
    [id, finishedAt, error],
  );
}

/** Records the result of a later `backup verify`. */
export async function recordVerification(
  client: DbClient,
  id: string,
  result: { verified: boolean; mode: VerifyMode; at: Date; error?: string },
): Promise<void> {
  await client.query(
    `UPDATE ${BACKUP_SCHEMA}.runs SET verified = $2, verification = $3, verified_at = $4, error = $5 WHERE id = $1`,
    [id, result.verified, result.mode, result.at, result.error ?? null],
  );
}

export async function markPruned(client: DbClient, ids: readonly string[], at: Date): Promise<void> {
  if (ids.length === 0) return;
  await client.query(`UPDATE ${BACKUP_SCHEMA}.runs SET pruned_at = $2 WHERE id = ANY($1::bigint[])`, [
    ids,
    at,
  ]);
}

export async function getRun(client: DbClient, id: string): Promise<BackupRun | undefined> {
  if (!/^\d+$/.test(id)) return undefined;
  const r = await client.query<RunRow>(`SELECT * FROM ${BACKUP_SCHEMA}.runs WHERE id = $1`, [id]);
  return r.rows[0] ? runFromRow(r.rows[0]) : undefined;
}

/** Filters of {@link listRuns}. */
export interface RunFilter {
  planName?: string;
  databaseName?: string;
  /** Only `succeeded`, not pruned (the backups that exist). @default false */
  backupsOnly?: boolean;
  status?: RunStatus;
}

/** Runs, newest first. */
export async function listRuns(client: DbClient, filter: RunFilter = {}): Promise<BackupRun[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    where.push(sql.replace("?", `$${params.length}`));
  };
  if (filter.planName !== undefined) add("plan_name = ?", filter.planName);
  if (filter.databaseName !== undefined) add("database_name = ?", filter.databaseName);
  if (filter.status !== undefined) add("status = ?", filter.status);
  if (filter.backupsOnly) where.push("status = 'succeeded' AND pruned_at IS NULL");
  const r = await client.query<RunRow>(
    `SELECT * FROM ${BACKUP_SCHEMA}.runs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY started_at DESC, id DESC`,
    params,
  );
  return r.rows.map(runFromRow);
}

/** When the latest backup of `database` finished (for `pgfleet status`), if it has one. */
export async function lastBackupAt(client: DbClient, database: string): Promise<Date | undefined> {
  const r = await client.query<{ t: Date | null }>(
    `SELECT max(finished_at) AS t FROM ${BACKUP_SCHEMA}.runs WHERE database_name = $1 AND status = 'succeeded'`,
    [database],
  );
  return r.rows[0]?.t ? new Date(r.rows[0].t) : undefined;
}

/** The scheduled time of the plan's latest run (any outcome), if it ever ran on schedule. */
export async function lastScheduledFor(client: DbClient, planName: string): Promise<Date | undefined> {
  const r = await client.query<{ t: Date | null }>(
    `SELECT max(scheduled_for) AS t FROM ${BACKUP_SCHEMA}.runs WHERE plan_name = $1 AND kind = 'scheduled'`,
    [planName],
  );
  return r.rows[0]?.t ? new Date(r.rows[0].t) : undefined;
}

/**
 * Takes a database's plan backups out of their plans (`plan_name` cleared), so retention never
 * prunes them: used when a `retain` project leaves its stack and its last backups must stay.
 *
 * @returns how many backups were kept.
 */
export async function detachBackupsOf(client: DbClient, database: string): Promise<number> {
  const r = await client.query(
    `UPDATE ${BACKUP_SCHEMA}.runs SET plan_name = NULL WHERE database_name = $1 AND plan_name IS NOT NULL`,
    [database],
  );
  return r.rowCount ?? 0;
}

// ---------------------------------------------------------------------------------------------
// Final-backup destinations.

/** Records the final-backup folder a stack's config names. */
export async function setFinalBackupDestination(
  client: DbClient,
  stack: string,
  destination: string,
): Promise<void> {
  await client.query(
    `INSERT INTO ${BACKUP_SCHEMA}.final_backup_destinations (stack, destination) VALUES ($1, $2)
     ON CONFLICT (stack) DO UPDATE SET destination = EXCLUDED.destination, updated_at = now()`,
    [stack, destination],
  );
}

/** The final-backup folder a stack's config named at its last `up`, if any. */
export async function finalBackupDestinationOf(client: DbClient, stack: string): Promise<string | undefined> {
  const r = await client.query<{ destination: string }>(
    `SELECT destination FROM ${BACKUP_SCHEMA}.final_backup_destinations WHERE stack = $1`,
    [stack],
  );
  return r.rows[0]?.destination;
}
