/**
 * The backup runner: dump, verify, record, prune. Used by `pgfleet backup …` (cli/backup.ts), the
 * daemon, and the TemplateDatabase provider's `backup-then-drop` (backup/final-backup.ts).
 *
 * One dump, step by step:
 * 1. `pg_dump` and `pg_restore` are found on PATH and must be at least the server's major
 *    version (an older `pg_dump` cannot dump a newer server: clear error, nothing written);
 * 2. a run row is recorded as `running` in the catalog;
 * 3. `pg_dump -Fc -Z<level>` writes `<destination>/<database>/<name>.dump.partial` (mode 0600),
 *    reporting progress (bytes written) every few seconds;
 * 4. the file is fsynced, and at once its sha256 is computed and it is verified: `list` reads the
 *    archive's table of contents (`pg_restore --list`); `restore` restores it into a scratch
 *    database that is then dropped. Reading every entry right after writing would read the page
 *    cache, not the disk, so it proves little and costs a second pass: `pgfleet backup verify`
 *    does it later (sha256 against the recorded one, then `pg_restore -f /dev/null` over every
 *    entry), when it can catch what went wrong on disk;
 * 5. only then is it renamed to `<name>.dump` (and the folder fsynced) and the run recorded as
 *    `succeeded` with size, checksum and verification. Any failure removes the partial file and
 *    records the run as `failed`: a partial dump never counts as a backup.
 *
 * After a plan's dumps, GFS retention (core/retention.ts) prunes the plan's older backups.
 */
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { dueRunTime, validateBackupPlan, type BackupPlanSpec, type VerifyMode } from "../core/backup-plan";
import { selectRetained, type Retention, type RetentionKind } from "../core/retention";
import type { DbClient, ServerConnection } from "../provider/db-client";
import { connectMaintenance } from "../provider/server-session";
import { ident } from "../provider/sql";
import {
  failRun,
  finishRun,
  getRun,
  lastScheduledFor,
  listRuns,
  markPruned,
  openCatalog,
  recordVerification,
  runnerHost,
  setDumpPid,
  startRun,
  type BackupRun,
  type RunKind,
} from "./catalog";

// ---------------------------------------------------------------------------------------------
// Tools.

/** `pg_dump` / `pg_restore` as found on PATH. */
export interface PgTool {
  name: string;
  path: string;
  /** e.g. `15.18 (Debian 15.18-0+deb12u1)` */
  version: string;
  major: number;
}

export interface PgTools {
  pgDump: PgTool;
  pgRestore: PgTool;
}

/** The first executable file called `name` in the folders of `searchPath`. */
export function findOnPath(name: string, searchPath: string = process.env.PATH ?? ""): string | undefined {
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      if (fs.statSync(candidate).isFile()) {
        fs.accessSync(candidate, fs.constants.X_OK);
        return candidate;
      }
    } catch {
      // not here
    }
  }
  return undefined;
}

/** `pg_dump (PostgreSQL) 15.18 (Debian …)` → `{ version: "15.18 (Debian …)", major: 15 }`; 9.6 → major 9. */
export function parseToolVersion(output: string): { version: string; major: number } | undefined {
  const m = /\(PostgreSQL\)\s+((\d+)(?:\.(\d+))?\S*(?:\s.*)?)$/m.exec(output.trim());
  if (!m) return undefined;
  return { version: m[1].trim(), major: Number(m[2]) };
}

async function toolInfo(name: string, searchPath?: string): Promise<PgTool> {
  const found = findOnPath(name, searchPath);
  if (!found) {
    throw new Error(
      `${name} was not found on PATH (${searchPath ?? process.env.PATH ?? ""}): install the PostgreSQL client tools ` +
        "(Debian: postgresql-client-<major>) of the server's major version or newer, and put them on PATH",
    );
  }
  const r = await runTool(found, ["--version"], process.env);
  const parsed = parseToolVersion(r.stdout);
  if (r.code !== 0 || !parsed) {
    throw new Error(
      `${found} --version did not print a PostgreSQL version (exit ${r.code}): ${r.stdout}${r.stderr}`.trim(),
    );
  }
  return { name, path: found, ...parsed };
}

/** Finds `pg_dump` and `pg_restore` on PATH (or `searchPath`) with their versions. */
export async function locateTools(searchPath?: string): Promise<PgTools> {
  const [pgDump, pgRestore] = await Promise.all([
    toolInfo("pg_dump", searchPath),
    toolInfo("pg_restore", searchPath),
  ]);
  return { pgDump, pgRestore };
}

/** The server's version. */
export interface ServerVersion {
  num: number;
  major: number;
  text: string;
}

export async function serverVersion(client: DbClient): Promise<ServerVersion> {
  const r = await client.query<{ num: string; text: string }>(
    "SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS text",
  );
  const num = Number(r.rows[0].num);
  return { num, major: Math.floor(num / 10000), text: r.rows[0].text };
}

/** Throws when a tool is older than the server (pg_dump refuses, or worse, dumps incompletely). */
export function checkToolVersions(tools: PgTools, server: ServerVersion, where: string): void {
  for (const tool of [tools.pgDump, tools.pgRestore]) {
    if (tool.major < server.major) {
      throw new Error(
        `${tool.name} ${tool.version} (${tool.path}) is older than the server ${where} (PostgreSQL ${server.text}): ` +
          `${tool.name} must be of major version ${server.major} or newer; install postgresql-client-${server.major} ` +
          "and put it first on PATH",
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Processes.

interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  stdoutLines: number;
}

const KEEP_OUTPUT = 64 * 1024;

/** Runs a tool, keeping the tail of its output. `detached`: own process group (Ctrl-C in a terminal does not reach it). */
function runTool(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { detached?: boolean; signal?: AbortSignal; onSpawn?: (pid: number | undefined) => void } = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: opts.detached ?? false,
    });
    opts.onSpawn?.(child.pid);
    let stdout = "";
    let stderr = "";
    let stdoutLines = 0;
    child.stdout.on("data", (d: Buffer) => {
      const s = d.toString();
      for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 10) stdoutLines++;
      stdout = (stdout + s).slice(-KEEP_OUTPUT);
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-KEEP_OUTPUT);
    });
    const abort = () => child.kill("SIGTERM");
    opts.signal?.addEventListener("abort", abort, { once: true });
    child.on("error", (err) => {
      opts.signal?.removeEventListener("abort", abort);
      reject(err);
    });
    child.on("close", (code, signal) => {
      opts.signal?.removeEventListener("abort", abort);
      resolve({ code, signal, stdout, stderr, stdoutLines });
    });
  });
}

/** libpq environment for `server` and `database` (the password never goes on a command line). */
export function libpqEnv(server: ServerConnection, database: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of ["PGSERVICE", "PGSERVICEFILE", "PGOPTIONS", "PGHOSTADDR", "PGPASSFILE", "PGSSLMODE"])
    delete env[key];
  env.PGHOST = server.host;
  env.PGPORT = String(server.port);
  env.PGUSER = server.user;
  if (server.password !== undefined) env.PGPASSWORD = server.password;
  else delete env.PGPASSWORD;
  env.PGDATABASE = database;
  env.PGAPPNAME = "pgfleet-backup";
  env.PGCONNECT_TIMEOUT = env.PGCONNECT_TIMEOUT ?? "15";
  if (server.ssl) env.PGSSLMODE = "require";
  return env;
}

function tail(text: string, lines = 8): string {
  return text.trim().split("\n").slice(-lines).join("\n");
}

// ---------------------------------------------------------------------------------------------
// Files.

/** sha256 of a file, hex. */
export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash("sha256");
  await new Promise<void>((resolve, reject) => {
    fs.createReadStream(file)
      .on("data", (d) => hash.update(d))
      .on("error", reject)
      .on("end", () => resolve());
  });
  return hash.digest("hex");
}

function fsyncPath(p: string): void {
  const fd = fs.openSync(p, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** `20240309T020000Z` */
function stamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

/** Human-readable bytes: `512 B`, `1.5 KiB`, `12.3 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------
// Verification.

/** A verification that failed; the message names the file. */
export class BackupVerificationError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message);
    this.name = "BackupVerificationError";
  }
}

/**
 * Checks a dump file with `pg_restore` (see the file comment for the two modes). With `entries`
 * (the default), mode `list` also reads every entry, so a truncated or damaged data block fails.
 */
export async function verifyArchive(
  file: string,
  mode: VerifyMode,
  ctx: { server: ServerConnection; tools: PgTools },
  options: { entries?: boolean } = {},
): Promise<void> {
  const { pgRestore } = ctx.tools;
  const list = await runTool(pgRestore.path, ["--list", file], process.env);
  if (list.code !== 0 || !/^; Archive created at/m.test(list.stdout)) {
    throw new BackupVerificationError(
      file,
      `backup file ${file} is not a readable pg_dump archive: pg_restore --list failed (exit ${list.code}): ${tail(list.stderr) || "no table of contents"}`,
    );
  }
  if (mode === "list") {
    if (options.entries === false) return;
    // The table of contents sits at the start of the file; reading every entry catches a cut or damaged body.
    const read = await runTool(pgRestore.path, ["--file=/dev/null", file], process.env);
    if (read.code !== 0) {
      throw new BackupVerificationError(
        file,
        `backup file ${file} is damaged: reading its entries failed (pg_restore exit ${read.code}): ${tail(read.stderr)}`,
      );
    }
    return;
  }
  const scratch = `pgfleet_verify_${crypto.randomBytes(5).toString("hex")}`;
  const admin = await connectMaintenance(ctx.server);
  try {
    await admin.query(`CREATE DATABASE ${ident(scratch)} TEMPLATE template0`);
    try {
      const r = await runTool(
        pgRestore.path,
        [
          "--exit-on-error",
          "--no-owner",
          "--no-privileges",
          "--single-transaction",
          "--dbname",
          scratch,
          file,
        ],
        libpqEnv(ctx.server, scratch),
      );
      if (r.code !== 0) {
        throw new BackupVerificationError(
          file,
          `backup file ${file} did not restore into scratch database "${scratch}" (pg_restore exit ${r.code}): ${tail(r.stderr)}`,
        );
      }
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${ident(scratch)} WITH (FORCE)`);
    }
  } finally {
    await admin.end().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Dumping.

/** Options of one dump. */
export interface DumpOptions {
  /** The directory the plan writes to; the dump goes into `<destination>/<database>/`. */
  destination: string;
  /** `pg_dump -Z`. @default 6 */
  compressionLevel?: number;
  /** @default "list" */
  verify?: VerifyMode;
  /** @default "manual" */
  kind?: RunKind;
  planName?: string | null;
  /** The schedule time this run is for (scheduled runs). */
  scheduledFor?: Date;
  /** Record the run in the catalog. @default true */
  record?: boolean;
  /** The clock. @default () => new Date() */
  now?: () => Date;
  /** Where progress lines go. @default stderr */
  progress?: (line: string) => void;
  /** How often progress is reported while pg_dump runs. @default 5000 */
  progressIntervalMs?: number;
  /** Kills pg_dump (the run fails and its partial file is removed). */
  signal?: AbortSignal;
  /** Tools to use (found on PATH when omitted). */
  tools?: PgTools;
  /** Told the pid of pg_dump once it runs (tests interrupt it). */
  onDumpStarted?: (info: { pid: number | undefined; tempFile: string; runId?: string }) => void;
}

/** A verified dump on disk. */
export interface DumpResult {
  runId?: string;
  database: string;
  file: string;
  bytes: number;
  sha256: string;
  verification: VerifyMode;
  startedAt: Date;
  finishedAt: Date;
}

const defaultProgress = (line: string) => process.stderr.write(`${line}\n`);

/**
 * Dumps one database, verifies the dump and records it (see the file comment).
 *
 * @throws Error naming the database and the reason (destination not writable, pg_dump failed,
 *   tool too old, verification failed); nothing is left in the destination then.
 */
export async function dumpDatabase(
  server: ServerConnection,
  database: string,
  options: DumpOptions,
): Promise<DumpResult> {
  const now = options.now ?? (() => new Date());
  const progress = options.progress ?? defaultProgress;
  const level = options.compressionLevel ?? 6;
  const verify = options.verify ?? "list";
  const kind = options.kind ?? "manual";
  const record = options.record ?? true;
  const fail = (reason: string) => new Error(`cannot back up database "${database}": ${reason}`);

  if (!Number.isInteger(level) || level < 0 || level > 9)
    throw fail(`compression level must be 0..9, got ${level}`);
  if (!path.isAbsolute(options.destination))
    throw fail(`destination "${options.destination}" must be an absolute path`);

  let tools: PgTools;
  let catalog: DbClient | undefined;
  try {
    tools = options.tools ?? (await locateTools());
    catalog = record ? await openCatalog(server, database) : undefined;
  } catch (err) {
    throw fail(errorText(err));
  }
  let runId: string | undefined;
  let tempFile: string | undefined;
  try {
    // The server: reachable, the database present, and not newer than our tools.
    const probe = catalog ?? (await connectMaintenance(server, database));
    let version: ServerVersion;
    try {
      version = await serverVersion(probe);
      const exists = await probe.query("SELECT 1 FROM pg_database WHERE datname = $1", [database]);
      if (exists.rows.length === 0) throw fail(`it does not exist on ${server.host}:${server.port}`);
    } finally {
      if (!catalog) await probe.end().catch(() => undefined);
    }
    try {
      checkToolVersions(tools, version, `${server.host}:${server.port}`);
    } catch (err) {
      throw fail(errorText(err));
    }

    // The destination: created if missing, and writable (the partial file is created here, 0600).
    const dir = path.join(options.destination, database);
    const startedAt = now();
    const base = `${database}_${stamp(startedAt)}_${kind}_${crypto.randomBytes(3).toString("hex")}.dump`;
    const finalFile = path.join(dir, base);
    tempFile = `${finalFile}.partial`;
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      fs.closeSync(fs.openSync(tempFile, "wx", 0o600));
    } catch (err) {
      tempFile = undefined;
      throw fail(`destination "${options.destination}" is not writable (${errorText(err)})`);
    }

    if (catalog) {
      runId = await startRun(catalog, {
        planName: options.planName ?? null,
        databaseName: database,
        kind,
        scheduledFor: options.scheduledFor,
        startedAt,
        tempFile,
        compressionLevel: level,
        pgDumpVersion: tools.pgDump.version,
        serverVersion: version.text,
      });
    }

    // pg_dump, with progress.
    const t0 = Date.now();
    const interval = options.progressIntervalMs ?? 5000;
    const partial = tempFile;
    const timer = setInterval(() => {
      let size = 0;
      try {
        size = fs.statSync(partial).size;
      } catch {
        return;
      }
      progress(
        `pgfleet backup: ${database}: ${formatBytes(size)} written (${Math.round((Date.now() - t0) / 1000)} s)`,
      );
    }, interval);
    let dump: ToolResult;
    let pidRecorded: Promise<void> = Promise.resolve();
    try {
      dump = await runTool(
        tools.pgDump.path,
        ["--format=custom", `--compress=${level}`, `--file=${tempFile}`, "--no-password"],
        libpqEnv(server, database),
        {
          detached: true,
          signal: options.signal,
          onSpawn: (pid) => {
            if (catalog && runId && pid !== undefined)
              pidRecorded = setDumpPid(catalog, runId, pid).catch(() => undefined);
            options.onDumpStarted?.({ pid, tempFile: partial, runId });
          },
        },
      );
    } finally {
      clearInterval(timer);
      await pidRecorded;
    }
    if (dump.code !== 0) {
      const how = options.signal?.aborted
        ? "was stopped before it finished"
        : dump.signal
          ? `was killed by ${dump.signal}`
          : `exited with ${dump.code}`;
      throw fail(`pg_dump ${how}: ${tail(dump.stderr) || "no message"}`);
    }

    // Durable, checksummed, verified — then, and only then, under its real name.
    fsyncPath(tempFile);
    const bytes = fs.statSync(tempFile).size;
    const [sha256] = await Promise.all([
      sha256File(tempFile),
      verifyArchive(tempFile, verify, { server, tools }, { entries: false }).catch((err: unknown) => {
        throw fail(`verification (${verify}) of the new dump failed: ${errorText(err)}`);
      }),
    ]);
    fs.renameSync(tempFile, finalFile);
    tempFile = undefined;
    fsyncPath(dir);
    const finishedAt = now();
    if (catalog && runId) {
      await finishRun(catalog, runId, { finishedAt, file: finalFile, bytes, sha256, verification: verify });
    }
    progress(
      `pgfleet backup: ${database}: ${formatBytes(bytes)} in ${((Date.now() - t0) / 1000).toFixed(1)} s, verified (${verify}), sha256 ${sha256.slice(0, 12)}…, ${finalFile}`,
    );
    return { runId, database, file: finalFile, bytes, sha256, verification: verify, startedAt, finishedAt };
  } catch (err) {
    if (tempFile) fs.rmSync(tempFile, { force: true });
    if (catalog && runId) await failRun(catalog, runId, now(), errorText(err)).catch(() => undefined);
    throw err;
  } finally {
    await catalog?.end().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Plans: run, prune, sweep.

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
    await catalog.end().catch(() => undefined);
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
    await catalog.end().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Verify and restore recorded backups.

/**
 * Verifies a recorded backup: the file exists, has the recorded size and sha256, and passes
 * `pg_restore` (`mode`, default the one it was made with). Records the result in the catalog.
 *
 * @throws BackupVerificationError naming the file when anything is wrong.
 */
export async function verifyBackup(
  server: ServerConnection,
  runId: string,
  options: { mode?: VerifyMode; tools?: PgTools; now?: Date } = {},
): Promise<BackupRun> {
  const catalog = await openCatalog(server);
  try {
    const run = await getRun(catalog, runId);
    if (!run) throw new Error(`no backup with id ${runId}`);
    if (run.status !== "succeeded" || !run.file) {
      throw new Error(
        `backup ${runId} (database "${run.databaseName}") is not a backup: its run ${run.status}${run.error ? `: ${run.error}` : ""}`,
      );
    }
    if (run.prunedAt)
      throw new Error(
        `backup ${runId} (${run.file}) was pruned by retention on ${run.prunedAt.toISOString()}`,
      );
    const mode = options.mode ?? run.verification ?? "list";
    const file = run.file;
    try {
      await checkFile(run);
      const tools = options.tools ?? (await locateTools());
      await verifyArchive(file, mode, { server, tools });
    } catch (err) {
      const message =
        err instanceof BackupVerificationError ? err.message : `backup file ${file}: ${errorText(err)}`;
      await recordVerification(catalog, runId, {
        verified: false,
        mode,
        at: options.now ?? new Date(),
        error: message,
      });
      throw err instanceof BackupVerificationError ? err : new BackupVerificationError(file, message);
    }
    await recordVerification(catalog, runId, { verified: true, mode, at: options.now ?? new Date() });
    return (await getRun(catalog, runId))!;
  } finally {
    await catalog.end().catch(() => undefined);
  }
}

/** Size and checksum against the catalog. */
async function checkFile(run: BackupRun): Promise<void> {
  const file = run.file!;
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch (err) {
    throw new BackupVerificationError(
      file,
      `backup file ${file} is missing or unreadable (${errorText(err)})`,
    );
  }
  if (run.bytes !== null && size !== run.bytes) {
    throw new BackupVerificationError(
      file,
      `backup file ${file} is ${size} bytes, but ${run.bytes} bytes were recorded when it was made: it was ${size < run.bytes ? "truncated" : "changed"}`,
    );
  }
  const sha = await sha256File(file);
  if (run.sha256 && sha !== run.sha256) {
    throw new BackupVerificationError(
      file,
      `backup file ${file} is corrupted: its sha256 is ${sha}, but ${run.sha256} was recorded when it was made`,
    );
  }
}

/**
 * Restores a recorded backup into a new database `target` on the same server, after checking
 * the file's size and checksum. The target must not exist; on failure it is dropped again.
 */
export async function restoreBackup(
  server: ServerConnection,
  runId: string,
  target: string,
  options: {
    tools?: PgTools;
    progress?: (line: string) => void;
    /** Restore without owners and grants (`--no-owner --no-privileges`), e.g. when the project's role is gone. */
    noOwner?: boolean;
  } = {},
): Promise<{ database: string; file: string }> {
  const progress = options.progress ?? defaultProgress;
  const catalog = await openCatalog(server);
  let run: BackupRun | undefined;
  try {
    run = await getRun(catalog, runId);
  } finally {
    await catalog.end().catch(() => undefined);
  }
  if (!run) throw new Error(`no backup with id ${runId}`);
  if (run.status !== "succeeded" || !run.file || run.prunedAt) {
    throw new Error(
      `backup ${runId} (database "${run.databaseName}") cannot be restored: it is ${run.prunedAt ? "pruned" : run.status}`,
    );
  }
  await checkFile(run);
  const tools = options.tools ?? (await locateTools());
  const admin = await connectMaintenance(server);
  try {
    checkToolVersions(tools, await serverVersion(admin), `${server.host}:${server.port}`);
    const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [target]);
    if (exists.rows.length > 0) {
      throw new Error(
        `cannot restore backup ${runId} into "${target}": that database already exists (restore never overwrites; choose a new name)`,
      );
    }
    await admin.query(`CREATE DATABASE ${ident(target)} TEMPLATE template0`);
    progress(`pgfleet backup: restoring ${run.file} into "${target}"`);
    const ownership = options.noOwner ? ["--no-owner", "--no-privileges"] : [];
    const r = await runTool(
      tools.pgRestore.path,
      ["--exit-on-error", ...ownership, "--dbname", target, run.file],
      libpqEnv(server, target),
    );
    if (r.code !== 0) {
      await admin.query(`DROP DATABASE IF EXISTS ${ident(target)} WITH (FORCE)`).catch(() => undefined);
      const hint =
        !options.noOwner && /role .* does not exist/.test(r.stderr)
          ? " (a role of the dump is gone: try --no-owner)"
          : "";
      throw new Error(
        `restoring ${run.file} into "${target}" failed (pg_restore exit ${r.code}); "${target}" was dropped again${hint}: ${tail(r.stderr)}`,
      );
    }
    return { database: target, file: run.file };
  } finally {
    await admin.end().catch(() => undefined);
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
    await lock.end().catch(() => undefined);
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
      await catalog.end().catch(() => undefined);
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
