/**
 * The backup runner against the real server with the real pg_dump / pg_restore (PATH):
 * dump + verify + restore into a new database with the same tables, row counts and content
 * checksums; a truncated or corrupted file fails verification naming the file; a dump killed
 * mid-way or a runner killed mid-way leaves no half file counted; the daemon runs two short
 * schedules on time and, on SIGTERM mid-dump, finishes the dump and exits cleanly; retention
 * prunes files and rows; finalBackup refuses an unwritable destination; an old pg_dump is a
 * clear error.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deletePlan, listRuns, upsertPlan, withCatalog, type BackupRun } from "../../db/catalog";
import { finalBackup } from "../../backup/final-backup";
import { dumpDatabase, verifyArchive, verifyBackup } from "../../backup/dump";
import { BackupVerificationError } from "../../backup/errors";
import { sha256File } from "../../backup/files";
import { locateTools } from "../../backup/pg-tools";
import { pruneBackups, runPlan, sweepAbandonedRuns } from "../../backup/plan-runs";
import { validateBackupPlan, type BackupPlanSpec } from "../../core/backup-plan";
import { scramSha256Verifier } from "../../core/scram";
import { connect } from "../../db/client";
import { ident, literal } from "../../core/sql";
import { REPO_ROOT } from "../../scripts/lib/paths";
import { filesUnder } from "../support/fleet";
import {
  adminServer,
  adminUrl,
  createScratchDatabase,
  databaseExists,
  roleExists,
  uniqueName,
  withAdmin,
} from "../support/postgres";
import { dropRestoredDatabase, escalatingTableSql, isSuperuser } from "../support/restores";

const SETUP = `
CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE NOT NULL, name text, created_at timestamptz DEFAULT now());
CREATE TABLE posts (id bigserial PRIMARY KEY, user_id int REFERENCES users(id), title text, body text, data jsonb, raw bytea);
CREATE INDEX idx_posts_user_id ON posts(user_id);
CREATE SCHEMA app;
CREATE TABLE app.settings (key text PRIMARY KEY, value text);
CREATE VIEW active_users AS SELECT * FROM users WHERE name IS NOT NULL;
INSERT INTO users (email, name) SELECT 'user' || g || '@example.com', CASE WHEN g % 7 = 0 THEN NULL ELSE 'Ünïcode ' || g END FROM generate_series(1, 500) g;
INSERT INTO posts (user_id, title, body, data, raw)
  SELECT 1 + g % 500, 'title ' || g, repeat('body ', g % 50), jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g)), decode(md5(g::text), 'hex')
  FROM generate_series(1, 3000) g;
INSERT INTO app.settings VALUES ('theme', 'dark'), ('quote', 'it''s "quoted"');
`;

/** Big enough that a dump takes a few seconds (≈ 90 MB of table, ≈ 35 MB of dump at -Z9). */
const BIG_SETUP = `
CREATE TABLE big AS
  SELECT g AS id, md5(g::text) AS a, md5((g * 7)::text) AS b, md5(random()::text) AS c, md5(random()::text) AS d
  FROM generate_series(1, 700000) g;
`;

interface TableFacts {
  table: string;
  rows: number;
  checksum: string;
}

/** Every user table: row count and an md5 of its whole content in a stable order. */
async function tableFacts(database: string): Promise<TableFacts[]> {
  return withAdmin(async (c) => {
    const tables = await c.query<{ t: string }>(
      "SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    );
    const out: TableFacts[] = [];
    for (const { t } of tables.rows) {
      const r = await c.query<{ n: number; sum: string | null }>(
        `SELECT count(*)::int AS n, md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) AS sum FROM ${t} x`,
      );
      out.push({ table: t, rows: r.rows[0].n, checksum: r.rows[0].sum ?? "" });
    }
    return out;
  }, database);
}

function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `pgfleet-${label}-`));
}

function planSpec(
  overrides: Partial<BackupPlanSpec> & Pick<BackupPlanSpec, "planName" | "databases" | "destination">,
): BackupPlanSpec {
  const r = validateBackupPlan(overrides);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.plan;
}

async function runsOf(filter: { planName?: string; databaseName?: string }): Promise<BackupRun[]> {
  return withCatalog(adminServer(), (c) => listRuns(c, filter));
}

/** `pgfleet backup …` as a user runs it (bin/pgfleet.js), against the test server. */
function cli(
  args: string[],
  env: Record<string, string> = {},
): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, "bin", "pgfleet.js"), "backup", ...args], {
    env: { ...process.env, PGFLEET_ADMIN_URL: adminUrl(), ...env },
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function startCli(args: string[]): {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, "bin", "pgfleet.js"), "backup", ...args], {
    env: { ...process.env, PGFLEET_ADMIN_URL: adminUrl() },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function waitFor<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const server = () => adminServer();

describe("backup runner on the real server", () => {
  let source: string;
  let big: string;
  const cleanup: string[] = [];
  const plans: string[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    source = await createScratchDatabase("bk_src", SETUP);
    big = await createScratchDatabase("bk_big", BIG_SETUP);
    cleanup.push(source, big);
  });

  afterAll(async () => {
    await withCatalog(server(), async (c) => {
      for (const p of plans) await deletePlan(c, p);
    });
    for (const db of cleanup) await dropRestoredDatabase(db);
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  async function newPlan(spec: Parameters<typeof planSpec>[0]): Promise<BackupPlanSpec> {
    const plan = planSpec(spec);
    await withCatalog(server(), (c) => upsertPlan(c, plan, "test/integration"));
    plans.push(plan.planName);
    return plan;
  }

  it("dumps, verifies and records; a restore into a new database has the same tables, rows and contents", async () => {
    const dest = tempDir("dump");
    dirs.push(dest);
    const plan = await newPlan({
      planName: uniqueName("it-plan"),
      databases: [source],
      destination: dest,
      compressionLevel: 9,
    });
    const result = await runPlan(server(), plan, { kind: "manual", progress: () => undefined });
    expect(result.outcomes).toHaveLength(1);
    const outcome = result.outcomes[0];
    if (!outcome.ok) throw new Error(outcome.error);

    // One file, under its final name, with the recorded size and checksum; no partial file.
    expect(filesUnder(dest)).toEqual([outcome.result.file]);
    expect(outcome.result.file.startsWith(path.join(dest, source) + path.sep)).toBe(true);
    expect(outcome.result.file.endsWith(".dump")).toBe(true);
    expect(fs.statSync(outcome.result.file).size).toBe(outcome.result.bytes);
    expect(await sha256File(outcome.result.file)).toBe(outcome.result.sha256);
    expect(fs.statSync(outcome.result.file).mode & 0o777).toBe(0o600);

    // The catalog row.
    const [run] = await runsOf({ planName: plan.planName });
    expect(run).toMatchObject({
      id: outcome.result.runId,
      databaseName: source,
      kind: "manual",
      status: "succeeded",
      file: outcome.result.file,
      bytes: outcome.result.bytes,
      sha256: outcome.result.sha256,
      compressionLevel: 9,
      verification: "list",
      verified: true,
      error: null,
      tempFile: null,
    });
    expect(run.finishedAt!.getTime()).toBeGreaterThanOrEqual(run.startedAt.getTime());

    // Restore through the CLI into a new database: same tables, row counts and content checksums.
    const target = uniqueName("bk_restored");
    cleanup.push(target);
    const restored = cli(["restore", run.id, "--to", target]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stdout).toContain(`restored into "${target}"`);
    const [before, after] = [await tableFacts(source), await tableFacts(target)];
    expect(before.map((t) => t.table)).toEqual(["app.settings", "public.posts", "public.users"]);
    expect(after).toEqual(before);
    expect(before.find((t) => t.table === "public.posts")!.rows).toBe(3000);

    // Restoring over an existing database is refused, and changes nothing.
    const again = cli(["restore", run.id, "--to", target]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists/);
    expect(await tableFacts(target)).toEqual(before);
  });

  it("verify mode `restore` test-restores into a scratch database that is dropped again", async () => {
    const dest = tempDir("verify-restore");
    dirs.push(dest);
    const result = await dumpDatabase(server(), source, {
      destination: dest,
      verify: "restore",
      progress: () => undefined,
    });
    expect(result.verification).toBe("restore");
    // Scoped to this dump (the scratch owner's comment names the file): other files verify at the same time.
    const scratch = await withAdmin((c) =>
      c.query(
        `SELECT datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba
          WHERE datname LIKE 'pgfleet\\_verify\\_%' AND shobj_description(r.oid, 'pg_authid') LIKE $1`,
        [`%${path.basename(result.file)}%`],
      ),
    );
    expect(scratch.rows).toEqual([]);
    const run = await verifyBackup(server(), result.runId!, { mode: "restore" });
    expect(run).toMatchObject({ verified: true, verification: "restore" });
  });

  it("a truncated or corrupted dump fails `backup verify`, which names the file", async () => {
    const dest = tempDir("damaged");
    dirs.push(dest);
    const good = await dumpDatabase(server(), source, { destination: dest, progress: () => undefined });
    const ok = cli(["verify", good.runId!]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(good.file);

    // Truncated on disk.
    const truncated = await dumpDatabase(server(), source, { destination: dest, progress: () => undefined });
    fs.truncateSync(truncated.file, Math.floor(truncated.bytes / 2));
    const t = cli(["verify", truncated.runId!]);
    expect(t.code).toBe(1);
    expect(t.stderr).toContain(truncated.file);
    expect(t.stderr).toMatch(/truncated/);

    // Corrupted in place (same size).
    const corrupted = await dumpDatabase(server(), source, { destination: dest, progress: () => undefined });
    const fd = fs.openSync(corrupted.file, "r+");
    fs.writeSync(fd, Buffer.alloc(64, 0xff), 0, 64, Math.floor(corrupted.bytes / 2));
    fs.closeSync(fd);
    const c = cli(["verify", corrupted.runId!]);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain(corrupted.file);
    expect(c.stderr).toMatch(/corrupted: its sha256/);

    // Deleted.
    const gone = await dumpDatabase(server(), source, { destination: dest, progress: () => undefined });
    fs.rmSync(gone.file);
    const g = cli(["verify", gone.runId!]);
    expect(g.code).toBe(1);
    expect(g.stderr).toContain(gone.file);

    // The failures are recorded, and `backup list` shows them.
    const runs = await runsOf({ databaseName: source });
    expect(runs.find((r) => r.id === truncated.runId)).toMatchObject({ verified: false });
    expect(runs.find((r) => r.id === corrupted.runId)).toMatchObject({ verified: false });
    expect(runs.find((r) => r.id === good.runId)).toMatchObject({ verified: true });

    // pg_restore itself (not only the checksum) rejects a cut archive, naming it.
    const copy = path.join(dest, "cut-copy.dump");
    fs.copyFileSync(good.file, copy);
    fs.truncateSync(copy, Math.floor(good.bytes * 0.7));
    const tools = await locateTools();
    const err = await verifyArchive(copy, "list", { server: server(), tools }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupVerificationError);
    expect((err as BackupVerificationError).file).toBe(copy);
    expect((err as Error).message).toContain(copy);
  });

  it("a pg_dump killed mid-dump leaves no file, and its run never counts as a backup", async () => {
    const dest = tempDir("killed");
    dirs.push(dest);
    const abort = new AbortController();
    const lines: string[] = [];
    const attempt = dumpDatabase(server(), big, {
      destination: dest,
      compressionLevel: 9,
      progress: (l) => lines.push(l),
      progressIntervalMs: 100,
      signal: abort.signal,
      onDumpStarted: ({ tempFile }) => {
        // Stop it once it has written something.
        const timer = setInterval(() => {
          if (fs.existsSync(tempFile) && fs.statSync(tempFile).size > 0) {
            clearInterval(timer);
            abort.abort();
          }
        }, 10);
      },
    });
    await expect(attempt).rejects.toThrow(
      new RegExp(`cannot back up database "${big}": pg_dump was stopped before it finished`),
    );
    expect(filesUnder(path.join(dest))).toEqual([]);
    const [run] = await runsOf({ databaseName: big });
    expect(run).toMatchObject({ status: "failed", file: null });
    expect(run.error).toMatch(/stopped before it finished/);
    const listed = JSON.parse(cli(["list", "--project", big, "--json"]).stdout) as unknown[];
    expect(listed).toEqual([]);
  });

  it("reports progress (bytes written) while a long dump runs", async () => {
    const dest = tempDir("progress");
    dirs.push(dest);
    const lines: string[] = [];
    const r = await dumpDatabase(server(), big, {
      destination: dest,
      compressionLevel: 9,
      progress: (l) => lines.push(l),
      progressIntervalMs: 200,
    });
    const written = lines.filter((l) => / written \(\d+ s\)$/.test(l));
    expect(written.length).toBeGreaterThan(0);
    expect(written[0]).toContain(`pgfleet backup: ${big}: `);
    expect(lines[lines.length - 1]).toContain(r.file);
  });

  it("a runner killed mid-dump (SIGKILL) leaves a run that never counts; the next run sweeps it", async () => {
    const dest = tempDir("sigkill");
    dirs.push(dest);
    const plan = await newPlan({
      planName: uniqueName("it-kill"),
      databases: [big],
      destination: dest,
      compressionLevel: 9,
    });
    const runner = startCli(["run", "--now", "--plan", plan.planName]);
    const started = await waitFor("the dump to start", async () => {
      const [r] = await runsOf({ planName: plan.planName });
      return r?.status === "running" && r.dumpPid !== null ? r : undefined;
    });
    const partial = started.tempFile!;
    expect(fs.existsSync(partial)).toBe(true);
    runner.child.kill("SIGKILL");
    await runner.exited;
    const [left] = await runsOf({ planName: plan.planName });
    expect(left.status).toBe("running");
    expect(left.tempFile).toBe(partial);
    // Not a backup: list shows nothing for it.
    expect(JSON.parse(cli(["list", "--plan", plan.planName, "--json"]).stdout)).toEqual([]);
    // The sweep marks it failed, stops its pg_dump and removes the partial file.
    const swept = await sweepAbandonedRuns(server());
    expect(swept).toContain(left.id);
    const [after] = await runsOf({ planName: plan.planName });
    expect(after).toMatchObject({ status: "failed", file: null });
    expect(after.error).toMatch(/abandoned/);
    expect(fs.existsSync(partial)).toBe(false);
    await waitFor(
      "pg_dump to stop",
      () => (left.dumpPid && fs.existsSync(`/proc/${left.dumpPid}`) ? undefined : true),
      10_000,
    );
    expect(filesUnder(dest).filter((f) => f.endsWith(".dump"))).toEqual([]);
  });

  it("the daemon runs two short schedules on time", async () => {
    const dest = tempDir("daemon");
    dirs.push(dest);
    const a = await newPlan({
      planName: uniqueName("it-every2"),
      databases: [source],
      destination: dest,
      schedule: "*/2 * * * * *",
      compressionLevel: 0,
    });
    const b = await newPlan({
      planName: uniqueName("it-every3"),
      databases: [source],
      destination: dest,
      schedule: "*/3 * * * * *",
      compressionLevel: 0,
    });
    const daemon = startCli(["daemon", "--plan", a.planName, "--plan", b.planName, "--poll-seconds", "1"]);
    const readyAt = await waitFor("the daemon to start", () =>
      /pgfleet backup daemon: started/.test(daemon.output()) ? Date.now() : undefined,
    );
    await waitFor(
      "three runs of each plan",
      async () => {
        const [ra, rb] = [await runsOf({ planName: a.planName }), await runsOf({ planName: b.planName })];
        return ra.filter((r) => r.status === "succeeded").length >= 3 &&
          rb.filter((r) => r.status === "succeeded").length >= 3
          ? true
          : undefined;
      },
      90_000,
    );
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    for (const [plan, every] of [
      [a, 2],
      [b, 3],
    ] as const) {
      const runs = (await runsOf({ planName: plan.planName })).filter((r) => r.status !== "running");
      expect(runs.length).toBeGreaterThanOrEqual(3);
      expect(runs.filter((r) => r.scheduledFor!.getTime() > readyAt).length).toBeGreaterThanOrEqual(2);
      const slots = runs.map((r) => r.scheduledFor!.getTime());
      expect(new Set(slots).size).toBe(slots.length); // never twice for one slot
      for (const r of runs) {
        expect(r).toMatchObject({ kind: "scheduled", status: "succeeded", verified: true });
        expect(r.scheduledFor!.getUTCMilliseconds()).toBe(0);
        expect(r.scheduledFor!.getUTCSeconds() % every).toBe(0);
        // On time: started within 1.5 s of its slot (the daemon sleeps until the next slot). A slot
        // that passed while the daemon was starting is caught up once, as soon as it is ready.
        const late = r.startedAt.getTime() - r.scheduledFor!.getTime();
        expect(late).toBeGreaterThanOrEqual(0);
        if (r.scheduledFor!.getTime() > readyAt) expect(late).toBeLessThan(1500);
        // Every run of the day but the newest was pruned by retention (one per day): file gone, row marked.
        expect(fs.existsSync(r.file!)).toBe(r.prunedAt === null);
      }
      expect(runs[0].prunedAt).toBeNull();
    }
    expect(daemon.output()).toMatch(/SIGTERM: finishing the running dump, then exiting/);
  });

  it("the daemon, sent SIGTERM mid-dump, finishes that dump, counts it whole, and exits 0", async () => {
    const dest = tempDir("daemon-term");
    dirs.push(dest);
    const plan = await newPlan({
      planName: uniqueName("it-term"),
      databases: [big, source],
      destination: dest,
      schedule: "* * * * * *",
      compressionLevel: 9,
    });
    const daemon = startCli(["daemon", "--plan", plan.planName]);
    const partial = await waitFor("the dump to start", () =>
      filesUnder(dest).find((f) => f.endsWith(".partial")),
    );
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    expect(daemon.output()).toMatch(/skipped .* \(stopping\)/); // the plan's second database is not started
    // The dump that was running was finished, verified, renamed and recorded; nothing partial is left.
    const files = filesUnder(dest);
    expect(files.filter((f) => f.endsWith(".partial"))).toEqual([]);
    expect(files).toEqual([partial.replace(/\.partial$/, "")]);
    const runs = await runsOf({ planName: plan.planName });
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ databaseName: big, status: "succeeded", verified: true, file: files[0] });
    expect(await sha256File(files[0])).toBe(runs[0].sha256);
    expect((await verifyBackup(server(), runs[0].id)).verified).toBe(true);
  });

  it("prunes by GFS retention: files removed, rows marked, list and prune --dry-run agree", async () => {
    const dest = tempDir("prune");
    dirs.push(dest);
    const plan = await newPlan({
      planName: uniqueName("it-prune"),
      databases: [source],
      destination: dest,
      retention: { daily: 2, weekly: 1, monthly: 1 },
    });
    // Ten real dumps, recorded as if taken on ten consecutive days (the catalog is the clock's record).
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await dumpDatabase(server(), source, {
        destination: dest,
        planName: plan.planName,
        kind: "scheduled",
        progress: () => undefined,
        compressionLevel: 0,
      });
      ids.push(r.runId!);
    }
    const base = Date.UTC(2024, 2, 1, 2); // 2024-03-01 .. 03-10 02:00 UTC
    await withCatalog(server(), async (c) => {
      for (let i = 0; i < 10; i++) {
        await c.query("UPDATE pgfleet_backup.runs SET started_at = $2 WHERE id = $1", [
          ids[i],
          new Date(base + i * 86_400_000),
        ]);
      }
    });
    const now = new Date(Date.UTC(2024, 2, 10, 12));
    const dry = await pruneBackups(server(), plan, { dryRun: true, now });
    // Kept: 03-10 and 03-09 (daily), 03-10 (week 10 newest), 03-10 (March newest) → prune the other 8.
    expect(dry.map((d) => d.runId).sort()).toEqual(ids.slice(0, 8).sort());
    for (const d of dry) expect(fs.existsSync(d.file!)).toBe(true);

    const cliDry = cli(["prune", "--dry-run", "--plan", plan.planName]);
    expect(cliDry.code, cliDry.stderr).toBe(0);
    expect(cliDry.stdout).toContain("8 backup(s) would be pruned");

    const done = await pruneBackups(server(), plan, { now });
    expect(done.map((d) => d.runId).sort()).toEqual(ids.slice(0, 8).sort());
    for (const d of done) expect(fs.existsSync(d.file!)).toBe(false);
    const left = filesUnder(dest).sort();
    const runs = await runsOf({ planName: plan.planName });
    expect(
      runs
        .filter((r) => !r.prunedAt)
        .map((r) => r.file)
        .sort(),
    ).toEqual(left);
    expect(left).toHaveLength(2);

    const listed = JSON.parse(cli(["list", "--plan", plan.planName, "--json"]).stdout) as Array<{
      id: string;
      kind: string;
      verified: string;
    }>;
    expect(listed.map((r) => r.id).sort()).toEqual(ids.slice(8).sort());
    expect(listed.find((r) => r.id === ids[9])!.kind).toBe("daily+weekly+monthly");
    expect(listed.find((r) => r.id === ids[8])!.kind).toBe("daily");
    expect(listed.every((r) => r.verified === "yes (list)")).toBe(true);
    const table = cli(["list", "--plan", plan.planName]);
    expect(table.stdout.split("\n")[0]).toMatch(
      /^ID\s+PROJECT\s+PLAN\s+TIME \(UTC\)\s+SIZE\s+KIND\s+VERIFIED\s+FILE$/,
    );
  });

  it("`backup run --now --project` dumps one verified file for that project only", async () => {
    const dest = tempDir("run-now");
    dirs.push(dest);
    const other = await createScratchDatabase(
      "bk_other",
      "CREATE TABLE t (id int); INSERT INTO t VALUES (1);",
    );
    cleanup.push(other);
    const plan = await newPlan({
      planName: uniqueName("it-now"),
      databases: [source, other],
      destination: dest,
    });
    const r = cli(["run", "--now", "--project", other, "--plan", plan.planName]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^ok\\s+${plan.planName}\\s+${other}\\s+.*verified \\(list\\)`, "m"));
    const runs = await runsOf({ planName: plan.planName });
    expect(runs.map((x) => [x.databaseName, x.status])).toEqual([[other, "succeeded"]]);
    expect(filesUnder(dest)).toEqual([runs[0].file]);
    const none = cli(["run", "--now", "--project", uniqueName("nope")]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no backup plan includes database/);
  });

  it("finalBackup writes a verified final dump that retention never prunes", async () => {
    const dest = tempDir("final");
    dirs.push(dest);
    const r = await finalBackup(server(), source, { destination: dest });
    expect(filesUnder(dest)).toEqual([r.file]);
    expect(await sha256File(r.file)).toBe(r.sha256);
    const run = (await runsOf({ databaseName: source })).find((x) => x.file === r.file)!;
    expect(run).toMatchObject({ kind: "final", planName: null, status: "succeeded", verified: true });
  });

  it("finalBackup to an unwritable destination throws naming the database and why, and writes nothing", async () => {
    const dir = tempDir("unwritable");
    dirs.push(dir);
    const blocker = path.join(dir, "not-a-directory");
    fs.writeFileSync(blocker, "a file where the destination folder should be");
    const err = await finalBackup(server(), source, { destination: path.join(blocker, "final") }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toMatch(
      new RegExp(
        `^final backup of database "${source}" failed: destination ".*not-a-directory/final" is not writable \\(ENOTDIR`,
      ),
    );
    expect(filesUnder(dir)).toEqual([blocker]);
    expect(await databaseExists(source)).toBe(true);
    // A missing database is named too.
    const missing = uniqueName("bk_missing");
    await expect(finalBackup(server(), missing, { destination: dir })).rejects.toThrow(
      new RegExp(`"${missing}" failed: it does not exist`),
    );
  });

  it("a pg_dump older than the server is a clear error, before anything is written", async () => {
    const bin = tempDir("oldbin");
    dirs.push(bin);
    for (const tool of ["pg_dump", "pg_restore"]) {
      const file = path.join(bin, tool);
      fs.writeFileSync(file, `#!/bin/sh\necho "${tool} (PostgreSQL) 12.22"\n`, { mode: 0o755 });
    }
    const tools = await locateTools(bin);
    expect(tools.pgDump).toMatchObject({ path: path.join(bin, "pg_dump"), major: 12 });
    const dest = tempDir("old");
    dirs.push(dest);
    await expect(dumpDatabase(server(), source, { destination: dest, tools })).rejects.toThrow(
      /pg_dump 12\.22 \(.*\/pg_dump\) is older than the server .* \(PostgreSQL 15\.[^)]*\): pg_dump must be of major version 15 or newer/,
    );
    expect(filesUnder(dest)).toEqual([]);
    const empty = tempDir("empty");
    dirs.push(empty);
    await expect(locateTools(empty)).rejects.toThrow(/pg_dump was not found on PATH/);
  });
});

/** Issue 15 point 1: the tenant's escalating CHECK function (test/support/tenant-attack.ts) and restores. */
describe("restores run the dump's code as an unprivileged role, never the admin", () => {
  const tenant = uniqueName("bk_tenant");
  const password = "tenant-" + uniqueName("pw");
  let evil: string;
  let benign: string;
  const cleanup: string[] = [];
  const plans: string[] = [];
  const dirs: string[] = [];

  const rolsuper = () => isSuperuser(tenant);
  /**
   * Roles and scratch databases a restore of this block's dumps makes for itself; none may stay
   * behind. Scoped by the role's comment, which names the dump file or the target (both start with
   * this block's unique database names): other test files restore at the same time.
   */
  const leftovers = () =>
    withAdmin(async (c) => {
      const r = await c.query<{ name: string }>(
        `WITH mine AS (
           SELECT oid, rolname, rolcanlogin FROM pg_roles
            WHERE rolname ~ '^pgfleet_(verify|restore)_'
              AND (shobj_description(oid, 'pg_authid') LIKE '%' || $1 || '%'
                OR shobj_description(oid, 'pg_authid') LIKE '%' || $2 || '%'))
         SELECT rolname AS name FROM mine WHERE rolcanlogin
         UNION ALL SELECT d.datname FROM pg_database d JOIN mine ON mine.oid = d.datdba
          WHERE d.datname LIKE 'pgfleet\\_verify\\_%'`,
        [evil, benign],
      );
      return r.rows.map((x) => x.name);
    });

  beforeAll(async () => {
    evil = await createScratchDatabase("bk_evil");
    benign = await createScratchDatabase("bk_benign", SETUP);
    cleanup.push(evil, benign);
    // Like a project: the tenant's LOGIN role may connect and create schemas, nothing more.
    await withAdmin((c) =>
      c.query(
        `CREATE ROLE ${ident(tenant)} LOGIN NOSUPERUSER PASSWORD ${literal(scramSha256Verifier(password))};
         REVOKE CONNECT, TEMPORARY ON DATABASE ${ident(evil)} FROM PUBLIC;
         GRANT CONNECT, CREATE ON DATABASE ${ident(evil)} TO ${ident(tenant)}`,
      ),
    );
    const c = await connect({ ...adminServer(), user: tenant, password }, evil);
    try {
      await c.query(escalatingTableSql(tenant, 10));
    } finally {
      await c.end();
    }
    expect(await rolsuper()).toBe(false);
  });

  afterAll(async () => {
    await withCatalog(server(), async (c) => {
      for (const p of plans) await deletePlan(c, p);
    });
    for (const db of cleanup) await dropRestoredDatabase(db);
    await withAdmin((c) => c.query(`DROP ROLE IF EXISTS ${ident(tenant)}`));
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it("verify: restore in a plan run, `backup verify --mode restore` and a final backup fail clearly; rolsuper stays false", async () => {
    const dest = tempDir("evil");
    dirs.push(dest);

    // The plan's own verification (restore) refuses the dump: no file, a failed run naming why.
    const plan = planSpec({
      planName: uniqueName("it-evil"),
      databases: [evil],
      destination: dest,
      verify: "restore",
    });
    await withCatalog(server(), (c) => upsertPlan(c, plan, "test/integration"));
    plans.push(plan.planName);
    const result = await runPlan(server(), plan, { progress: () => undefined });
    expect(await rolsuper()).toBe(false);
    const outcome = result.outcomes[0];
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.error).toMatch(
      /verification \(restore\) of the new dump failed: .*pg_restore ran as the unprivileged role "pgfleet_verify_[0-9a-f]+".*must be superuser/s,
    );
    expect(filesUnder(dest)).toEqual([]);

    // A dump made with `list`, test-restored later through the CLI.
    const listed = await dumpDatabase(server(), evil, { destination: dest, progress: () => undefined });
    const v = cli(["verify", listed.runId!, "--mode", "restore"]);
    expect(await rolsuper()).toBe(false);
    expect(v.code).toBe(1);
    expect(v.stderr).toContain(listed.file);
    expect(v.stderr).toMatch(/did not restore into scratch database .*unprivileged role.*must be superuser/s);
    const [run] = (await runsOf({ databaseName: evil })).filter((r) => r.id === listed.runId);
    expect(run).toMatchObject({ verified: false, verification: "restore" });

    // backup-then-drop's final dump, verified by a test restore, fails the same way.
    await expect(finalBackup(server(), evil, { destination: dest, verify: "restore" })).rejects.toThrow(
      new RegExp(
        `^final backup of database "${evil}" failed: verification \\(restore\\).*must be superuser`,
        "s",
      ),
    );
    expect(await rolsuper()).toBe(false);
    expect(await leftovers()).toEqual([]);
  });

  it("`backup restore --to` fails clearly, drops its target again, and rolsuper stays false", async () => {
    const dest = tempDir("evil-restore");
    dirs.push(dest);
    const dump = await dumpDatabase(server(), evil, { destination: dest, progress: () => undefined });
    const target = uniqueName("bk_evil_copy");
    cleanup.push(target);
    const r = cli(["restore", dump.runId!, "--to", target]);
    expect(await rolsuper()).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `restoring .* into "${target}" failed .*unprivileged role "pgfleet_restore_[0-9a-f]+".*"${target}" was dropped again.*must be superuser`,
        "s",
      ),
    );
    expect(await databaseExists(target)).toBe(false);
    const roles = await withAdmin((c) =>
      c.query(
        "SELECT 1 FROM pg_roles WHERE rolname LIKE 'pgfleet\\_restore\\_%' AND shobj_description(oid, 'pg_authid') LIKE $1",
        [`%"${target}"%`],
      ),
    );
    expect(roles.rows).toEqual([]);
    expect(await leftovers()).toEqual([]);
  });

  it("`backup restore --to` with an invalid name is refused with INVALID_DATABASE_NAME, creating nothing", async () => {
    const dest = tempDir("bad-name");
    dirs.push(dest);
    const dump = await dumpDatabase(server(), benign, { destination: dest, progress: () => undefined });
    const bad = ["Bad-Name", "1st_copy", "postgres", "x".repeat(64)];
    cleanup.push("Bad-Name", "1st_copy", "x".repeat(63)); // what the old code created
    for (const name of bad) {
      const r = cli(["restore", dump.runId!, "--to", name]);
      expect(r.code, name).toBe(1);
      expect(r.stderr).toMatch(/\[INVALID_DATABASE_NAME\] cannot restore backup \S+: --to "/);
      expect(r.stderr).toContain(JSON.stringify(name));
    }
    // No new database of those names (a 64-byte name would be cut to 63), no restore role for them.
    const created = await withAdmin((c) =>
      c.query(
        `SELECT datname AS name FROM pg_database WHERE datname = ANY($1)
         UNION ALL SELECT rolname FROM pg_roles
          WHERE rolname LIKE 'pgfleet\\_restore\\_%' AND shobj_description(oid, 'pg_authid') LIKE '%backup ' || $2 || ' %'`,
        [["Bad-Name", "1st_copy", "x".repeat(64), "x".repeat(63)], dump.runId],
      ),
    );
    expect(created.rows).toEqual([]);
  });

  it("a benign dump restores with its rows into a database closed to PUBLIC, owned by a role that cannot log in", async () => {
    const dest = tempDir("benign");
    dirs.push(dest);
    const dump = await dumpDatabase(server(), benign, {
      destination: dest,
      verify: "restore",
      progress: () => undefined,
    });
    const target = uniqueName("bk_benign_copy");
    cleanup.push(target);
    const r = cli(["restore", dump.runId!, "--to", target]);
    expect(r.code, r.stderr).toBe(0);
    expect(await tableFacts(target)).toEqual(await tableFacts(benign));
    const facts = await withAdmin((c) =>
      c.query<{ pub: boolean; owner: string; login: boolean; super: boolean; tables: string[] }>(
        `SELECT has_database_privilege('public', d.datname, 'CONNECT') OR has_database_privilege('public', d.datname, 'TEMPORARY') AS pub,
                r.rolname AS owner, r.rolcanlogin AS login, r.rolsuper AS super
           FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = $1`,
        [target],
      ),
    );
    expect(facts.rows[0]).toMatchObject({ pub: false, login: false, super: false });
    expect(facts.rows[0].owner).toMatch(/^pgfleet_restore_[0-9a-f]+$/);
    expect(r.stdout).toContain(`NOLOGIN role "${facts.rows[0].owner}"`);
    // What was restored belongs to that role too, not to the admin.
    const owners = await withAdmin(
      (c) =>
        c.query<{ owner: string }>(
          "SELECT DISTINCT tableowner AS owner FROM pg_tables WHERE schemaname IN ('public', 'app')",
        ),
      target,
    );
    expect(owners.rows).toEqual([{ owner: facts.rows[0].owner }]);
    // A plain login role (PUBLIC's rights only) is refused.
    const outsider = uniqueName("bk_outsider");
    await withAdmin((c) =>
      c.query(`CREATE ROLE ${ident(outsider)} LOGIN PASSWORD ${literal(scramSha256Verifier("outsider-pw"))}`),
    );
    try {
      await expect(
        connect({ ...adminServer(), user: outsider, password: "outsider-pw" }, target),
      ).rejects.toThrow(/permission denied for database/);
    } finally {
      await withAdmin((c) => c.query(`DROP ROLE ${ident(outsider)}`));
    }
    await dropRestoredDatabase(target);
    expect(await roleExists(facts.rows[0].owner)).toBe(false);
    expect(await leftovers()).toEqual([]);
  });
});
