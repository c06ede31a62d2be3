/**
 * Plan runs: a plan's databases dumped one after another (backup/dump.ts), then GFS retention
 * (core/retention.ts) prunes the plan's older backups; scheduled runs when due, one runner per
 * plan at a time across hosts; runs left `running` by a runner that is gone, swept.
 */
import { errorText } from "../core/errors";
import * as fs from "node:fs";
import * as path from "node:path";
import { dueRunTime, validateBackupPlan, type BackupPlanSpec } from "../core/backup-plan";
import { selectRetained, type Retention, type RetentionKind } from "../core/retention";
import { close, type ServerConnection } from "../db/client";
import {
  failRun,
  lastScheduledFor,
  listRuns,
  markPruned,
  openCatalog,
  runnerHost,
  type BackupRun,
} from "../db/catalog";
import { dumpDatabase, type DumpResult } from "./dump";
import type { PgTools } from "./pg-tools";

/** What happened to one database of a plan run. */
export type DatabaseOutcome =
  { database: string; ok: true; result: DumpResult } | { database: string; ok: false; error: string };

export interface PlanRunResult {
  planName: string;
  outcomes: DatabaseOutcome[];
  pruned: PruneDecision[];
  /** Databases skipped because a stop was requested. */
  skipped: string[];
}

export interface RunPlanOptions {
  kind?: "scheduled" | "manual";
  scheduledFor?: Date;
  /** Only these databases of the plan. */
  only?: string[];
  now?: () => Date;
  progress?: (line: string) => void;
  progressIntervalMs?: number;
  /** Asked before each database: true → the rest of the plan is skipped (the running dump is finished). */
  shouldStop?: () => boolean;
  signal?: AbortSignal;
  tools?: PgTools;
}

/** Dumps every database of a plan (one after another; a failure does not stop the others), then prunes. */
export async function runPlan(
  server: ServerConnection,
  plan: BackupPlanSpec,
  options: RunPlanOptions = {},
): Promise<PlanRunResult> {
  const checked = validateBackupPlan(plan);
  if (!checked.ok)
    throw new Error(
      `backup plan "${plan.planName}" is not valid:\n${checked.problems.map((p) => `  ${p.message}`).join("\n")}`,
    );
  const outcomes: DatabaseOutcome[] = [];
  const skipped: string[] = [];
  const targets = plan.databases.filter((d) => !options.only || options.only.includes(d));
  for (const database of targets) {
    if (options.shouldStop?.()) {
      skipped.push(database);
      continue;
    }
    try {
      const result = await dumpDatabase(server, database, {
        destination: plan.destination,
        compressionLevel: plan.compressionLevel,
        verify: plan.verify,
        kind: options.kind ?? "manual",
        planName: plan.planName,
        scheduledFor: options.scheduledFor,
        now: options.now,
        progress: options.progress,
        progressIntervalMs: options.progressIntervalMs,
        signal: options.signal,
        tools: options.tools,
      });
      outcomes.push({ database, ok: true, result });
    } catch (err) {
      outcomes.push({ database, ok: false, error: errorText(err) });
    }
  }
  const pruned = await pruneBackups(server, plan, { now: options.now?.() });
  return { planName: plan.planName, outcomes, pruned, skipped };
}

/** One backup that retention removes (or would remove). */
export interface PruneDecision {
  runId: string;
  database: string;
  file: string | null;
  takenAt: Date;
}

/**
 * Applies GFS retention to the plan's backups, per database (every database that has backups
 * of this plan, listed in it or not any more). Final backups (`backup-then-drop`) belong to no
 * plan and are never pruned.
 */
export async function pruneBackups(
  server: ServerConnection,
  plan: Pick<BackupPlanSpec, "planName" | "retention">,
  options: { dryRun?: boolean; now?: Date } = {},
): Promise<PruneDecision[]> {
  const now = options.now ?? new Date();
  const catalog = await openCatalog(server);
  try {
    const runs = await listRuns(catalog, { planName: plan.planName, backupsOnly: true });
    const byDatabase = new Map<string, BackupRun[]>();
    for (const r of runs) byDatabase.set(r.databaseName, [...(byDatabase.get(r.databaseName) ?? []), r]);
    const decisions: PruneDecision[] = [];
    for (const [database, list] of byDatabase) {
      const { prune } = selectRetained(
        list.map((r) => ({ id: r.id, takenAt: r.startedAt })),
        plan.retention,
        now,
      );
      const byId = new Map(list.map((r) => [r.id, r]));
      for (const id of prune) {
        const r = byId.get(id)!;
        decisions.push({ runId: id, database, file: r.file, takenAt: r.startedAt });
      }
    }
    if (!options.dryRun) {
      const done: string[] = [];
      for (const d of decisions) {
        if (d.file) fs.rmSync(d.file, { force: true });
        done.push(d.runId);
      }
      await markPruned(catalog, done, now);
    }
    return decisions;
  } finally {
    await close(catalog);
  }
}

/** The retention kinds of each current backup of a plan (for `backup list`). */
export function retentionKinds(
  runs: readonly BackupRun[],
  retention: Retention,
  now: Date,
): Map<string, RetentionKind[]> {
  const out = new Map<string, RetentionKind[]>();
  const groups = new Map<string, BackupRun[]>();
  for (const r of runs) {
    const key = `${r.planName ?? ""}\u0000${r.databaseName}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  for (const list of groups.values()) {
    const { reasons } = selectRetained(
      list.map((r) => ({ id: r.id, takenAt: r.startedAt })),
      retention,
      now,
    );
    for (const [id, kinds] of reasons) out.set(id, kinds);
  }
  return out;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function isPgDump(pid: number): boolean {
  try {
    // pg_dump itself, or Debian's pg_wrapper (perl) just before it execs pg_dump.
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\u0000");
    return argv.slice(0, 2).some((a) => path.basename(a) === "pg_dump");
  } catch {
    return false;
  }
}

/**
 * Runs left `running` by a runner of this host that is gone (killed, crashed): marked `failed`,
 * their pg_dump stopped if it still runs, their partial files removed. Runs of other hosts are
 * left alone.
 */
export async function sweepAbandonedRuns(
  server: ServerConnection,
  now: Date = new Date(),
): Promise<string[]> {
  const catalog = await openCatalog(server);
  try {
    const running = await listRuns(catalog, { status: "running" });
    const swept: string[] = [];
    for (const run of running) {
      if (run.host !== runnerHost() || run.pid === null || processAlive(run.pid)) continue;
      if (run.dumpPid !== null && processAlive(run.dumpPid) && isPgDump(run.dumpPid)) {
        try {
          process.kill(run.dumpPid, "SIGTERM");
        } catch {
          // gone meanwhile
        }
      }
      if (run.tempFile) fs.rmSync(run.tempFile, { force: true });
      await failRun(
        catalog,
        run.id,
        now,
        `abandoned: the runner (pid ${run.pid} on ${run.host}) stopped before the dump finished`,
      );
      swept.push(run.id);
    }
    return swept;
  } finally {
    await close(catalog);
  }
}

// ---------------------------------------------------------------------------------------------
// One runner per plan at a time, across hosts.

/**
 * Runs `fn` holding the plan's advisory lock on the server (a session lock on a catalog
 * connection kept open meanwhile), so two runners (cron on two hosts, a daemon and a manual
 * `backup run`) never dump the same plan at once.
 *
 * @returns what `fn` returns, or undefined when another runner holds the lock.
 */
export async function withPlanLock<T>(
  server: ServerConnection,
  planName: string,
  fn: () => Promise<T>,
): Promise<T | undefined> {
  const lock = await openCatalog(server);
  try {
    const r = await lock.query<{ ok: boolean }>(
      "SELECT pg_try_advisory_lock(hashtext('pgfleet_backup.plan'), hashtext($1)) AS ok",
      [planName],
    );
    if (!r.rows[0].ok) return undefined;
    try {
      return await fn();
    } finally {
      await lock
        .query("SELECT pg_advisory_unlock(hashtext('pgfleet_backup.plan'), hashtext($1))", [planName])
        .catch(() => undefined);
    }
  } finally {
    await close(lock);
  }
}

/** What {@link runPlanIfDue} did. */
export type DueRunOutcome =
  { status: "not-due" } | { status: "busy" } | { status: "ran"; scheduledFor: Date; result: PlanRunResult };

/**
 * Runs a plan when a scheduled time has passed since its last scheduled run (or since it was
 * created), under the plan lock; the check is made again once the lock is held.
 */
export async function runPlanIfDue(
  server: ServerConnection,
  plan: BackupPlanSpec & { createdAt: Date },
  now: Date,
  options: Omit<RunPlanOptions, "kind" | "scheduledFor"> = {},
): Promise<DueRunOutcome> {
  const dueAt = async (): Promise<Date | undefined> => {
    const catalog = await openCatalog(server);
    try {
      const after = (await lastScheduledFor(catalog, plan.planName)) ?? plan.createdAt;
      return dueRunTime(plan.schedule, after, now);
    } finally {
      await close(catalog);
    }
  };
  if (!(await dueAt())) return { status: "not-due" };
  const outcome = await withPlanLock(server, plan.planName, async (): Promise<DueRunOutcome> => {
    const scheduledFor = await dueAt();
    if (!scheduledFor) return { status: "not-due" };
    const result = await runPlan(server, plan, { ...options, kind: "scheduled", scheduledFor });
    return { status: "ran", scheduledFor, result };
  });
  return outcome ?? { status: "busy" };
}
