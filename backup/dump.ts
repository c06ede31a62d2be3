/**
 * The dump: one database to a verified file, recorded in the catalog. Used by plan runs
 * (backup/plan-runs.ts), `pgfleet backup …` (cli/backup.ts), the daemon, and the
 * TemplateDatabase provider's `backup-then-drop` (backup/final-backup.ts).
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
 *    ({@link verifyBackup}) does it later (sha256 against the recorded one, then
 *    `pg_restore -f /dev/null` over every entry), when it can catch what went wrong on disk;
 * 5. only then is it renamed to `<name>.dump` (and the folder fsynced) and the run recorded as
 *    `succeeded` with size, checksum and verification. Any failure removes the partial file and
 *    records the run as `failed`: a partial dump never counts as a backup.
 *
 * Loaded by the provider process with the TemplateDatabase provider: what it imports stays
 * light at load (no `pg`, no cron parser).
 */
import { errorText } from "../core/errors";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { formatBytes } from "../core/bytes";
import type { VerifyMode } from "../core/backup-plan";
import { close, type DbClient, type ServerConnection } from "../db/client";
import { connectMaintenance } from "../db/session";
import {
  failRun,
  finishRun,
  getRun,
  openCatalog,
  recordVerification,
  setDumpPid,
  startRun,
  type BackupRun,
  type RunKind,
} from "../db/catalog";
import { BackupError, BackupVerificationError } from "./errors";
import { checkFile, fsyncPath, sha256File } from "./files";
import {
  checkToolVersions,
  defaultProgress,
  libpqEnv,
  locateTools,
  runTool,
  serverVersion,
  tail,
  type PgTools,
  type ServerVersion,
  type ToolResult,
} from "./pg-tools";
import { testRestore } from "./restore";

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
  await testRestore(file, ctx);
}

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

/**
 * Dumps one database, verifies the dump and records it (see the file comment).
 *
 * @throws BackupError naming the database and the reason (destination not writable, pg_dump failed,
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

  if (!Number.isInteger(level) || level < 0 || level > 9)
    throw new BackupError(database, `compression level must be 0..9, got ${level}`);
  if (!path.isAbsolute(options.destination))
    throw new BackupError(database, `destination "${options.destination}" must be an absolute path`);

  let tools: PgTools;
  let catalog: DbClient | undefined;
  try {
    tools = options.tools ?? (await locateTools());
    catalog = record ? await openCatalog(server, database) : undefined;
  } catch (err) {
    throw new BackupError(database, errorText(err));
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
      if (exists.rows.length === 0)
        throw new BackupError(database, `it does not exist on ${server.host}:${server.port}`);
    } finally {
      if (!catalog) await close(probe);
    }
    try {
      checkToolVersions(tools, version, `${server.host}:${server.port}`);
    } catch (err) {
      throw new BackupError(database, errorText(err));
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
      throw new BackupError(
        database,
        `destination "${options.destination}" is not writable (${errorText(err)})`,
      );
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
      throw new BackupError(database, `pg_dump ${how}: ${tail(dump.stderr) || "no message"}`);
    }

    // Durable, checksummed, verified — then, and only then, under its real name.
    fsyncPath(tempFile);
    const bytes = fs.statSync(tempFile).size;
    const [sha256] = await Promise.all([
      sha256File(tempFile),
      verifyArchive(tempFile, verify, { server, tools }, { entries: false }).catch((err: unknown) => {
        throw new BackupError(database, `verification (${verify}) of the new dump failed: ${errorText(err)}`);
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
    await close(catalog);
  }
}

/** `20240309T020000Z` */
function stamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

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
    await close(catalog);
  }
}
