/**
 * Backups: pgfleet's runner (backup/dump.ts `dumpDatabase`: pg_dump -Fc to a partial file,
 * fsync, sha256 and `pg_restore --list` side by side, rename, catalog rows) against a plain
 * `pg_dump -Fc` of the same database; and GFS retention (`pruneBackups`, core/retention.ts) over
 * 1,000 recorded dumps.
 */
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { DEFAULT_RETENTION, selectRetained } from "../core/retention";
import { close, inTransaction } from "../db/client";
import { BACKUP_SCHEMA, finishRun, openCatalog, startRun, withCatalog } from "../db/catalog";
import { dumpDatabase, verifyArchive } from "../backup/dump";
import { sha256File } from "../backup/files";
import { libpqEnv, locateTools } from "../backup/pg-tools";
import { pruneBackups } from "../backup/plan-runs";
import { TMP_DIR } from "../scripts/lib/paths";
import { adminServer, withAdmin } from "../test/support/postgres";
import { ident } from "../core/sql";
import { settle } from "./machine";
import { nowMs, repeat, sample, timed, type Sample } from "./stats";
import { benchName, databaseBytes, dropBenchDatabase, type BenchTemplate } from "./templates";

function scratchDir(tag: string): string {
  const dir = path.join(TMP_DIR, `bench-${tag}-${crypto.randomBytes(3).toString("hex")}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** `pg_dump -Fc -f <file> <database>`, timed. */
async function plainDump(pgDump: string, database: string, file: string): Promise<number> {
  const t0 = nowMs();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(pgDump, ["-Fc", "-f", file, "--no-password"], {
      env: libpqEnv(adminServer(), database),
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`pg_dump exited with ${code}: ${stderr}`)),
    );
  });
  return nowMs() - t0;
}

export interface BackupComparison {
  database: string;
  databaseBytes: number;
  dumpBytes: number;
  plain: Sample;
  runner: Sample;
  /** The runner's extra steps, timed on their own against one of its dumps: `pg_restore --list`, */
  listToc: Sample;
  /** the sha256 of the file (the runner runs these two side by side), */
  sha256: Sample;
  /** and, not part of the runner, what `pgfleet backup verify` adds later: reading every entry. */
  readEntries: Sample;
}

/**
 * Clones `template` into a database of its size and dumps it `repeats` times each way (plain and
 * runner interleaved, so both see the same machine).
 */
export async function compareBackup(template: BenchTemplate, repeats: number): Promise<BackupComparison> {
  const database = benchName("backup");
  await withAdmin((c) => c.query(`CREATE DATABASE ${ident(database)} TEMPLATE ${ident(template.name)}`));
  const dir = scratchDir("backup");
  const server = adminServer();
  const tools = await locateTools();
  const plain: number[] = [];
  const runner: number[] = [];
  const list: number[] = [];
  const sha: number[] = [];
  const entries: number[] = [];
  let dumpBytes = 0;
  try {
    for (let i = 0; i < repeats; i++) {
      const file = path.join(dir, `plain-${i}.dump`);
      await settle();
      plain.push(await plainDump(tools.pgDump.path, database, file));
      fs.rmSync(file, { force: true });

      await settle();
      const run = await timed(() =>
        dumpDatabase(server, database, {
          destination: dir,
          verify: "list",
          kind: "manual",
          tools,
          progress: () => undefined,
        }),
      );
      runner.push(run.ms);
      dumpBytes = run.value.bytes;
      const dump = run.value.file;
      list.push((await timed(() => verifyArchive(dump, "list", { server, tools }, { entries: false }))).ms);
      sha.push((await timed(() => sha256File(dump))).ms);
      const full = (await timed(() => verifyArchive(dump, "list", { server, tools }))).ms;
      entries.push(full - list[list.length - 1]);
      fs.rmSync(run.value.file, { force: true });
    }
    return {
      database,
      databaseBytes: await databaseBytes(database),
      dumpBytes,
      plain: sample(plain),
      runner: sample(runner),
      listToc: sample(list),
      sha256: sample(sha),
      readEntries: sample(entries),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await withCatalog(server, (catalog) =>
      catalog.query(`DELETE FROM ${BACKUP_SCHEMA}.runs WHERE database_name = $1`, [database]),
    );
    await dropBenchDatabase(database);
  }
}

export interface PruneResult {
  dumps: number;
  /** `pruneBackups`: catalog read, GFS decision, file removal, catalog update. */
  prune: Sample;
  /** `selectRetained` alone over the same dumps (the pure decision). */
  decide: Sample;
  kept: number;
  pruned: number;
}

/**
 * Records `dumps` backups of one plan (one every 8 hours, each with a small file), then times
 * `pruneBackups` with the default retention (7 daily, 4 weekly, 12 monthly). Each repeat starts
 * from a fresh set.
 */
export async function benchPrune(dumps: number, repeats: number): Promise<PruneResult> {
  const server = adminServer();
  const now = new Date();
  const stepMs = 8 * 3600 * 1000;
  let kept = 0;
  let pruned = 0;
  const decide: number[] = [];
  const prune = await repeat(repeats, async () => {
    const planName = benchName("prune");
    const database = `${planName}_db`;
    const dir = scratchDir("prune");
    const catalog = await openCatalog(server);
    try {
      await inTransaction(catalog, async () => {
        for (let i = 0; i < dumps; i++) {
          const startedAt = new Date(now.getTime() - i * stepMs);
          const file = path.join(dir, `${database}_${i}.dump`);
          fs.writeFileSync(file, "pgfleet bench dump\n");
          const id = await startRun(catalog, {
            planName,
            databaseName: database,
            kind: "scheduled",
            scheduledFor: startedAt,
            startedAt,
            tempFile: `${file}.partial`,
            compressionLevel: 6,
          });
          await finishRun(catalog, id, {
            finishedAt: new Date(startedAt.getTime() + 1000),
            file,
            bytes: 19,
            sha256: "0".repeat(64),
            verification: "list",
          });
        }
      });
      const inputs = Array.from({ length: dumps }, (_, i) => ({
        id: String(i),
        takenAt: new Date(now.getTime() - i * stepMs),
      }));
      decide.push((await timed(async () => selectRetained(inputs, DEFAULT_RETENTION, now))).ms);
      const { ms, value } = await timed(() =>
        pruneBackups(server, { planName, retention: DEFAULT_RETENTION }, { now }),
      );
      pruned = value.length;
      kept = fs.readdirSync(dir).length;
      if (kept + pruned !== dumps)
        throw new Error(`prune left ${kept} of ${dumps} files after pruning ${pruned}`);
      return ms;
    } finally {
      await catalog
        .query(`DELETE FROM ${BACKUP_SCHEMA}.runs WHERE plan_name = $1`, [planName])
        .catch(() => undefined);
      await close(catalog);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  return { dumps, prune, decide: sample(decide), kept, pruned };
}
