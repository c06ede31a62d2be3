/**
 * The schema-migration cases of issue 17, through the real engine and the real server, with the
 * repository's program (index.ts) and `pgfleet:migrations`:
 *
 * 1. rollout: one migration (add a column, add an index) over N projects. pgfleet's `up` (the
 *    template and N projects, each as its own role, waves in parallel) against the raw loop: the
 *    same SQL applied to N databases of the same shape, one after another over one connection at
 *    a time. A PostgreSQL connection is bound to one database, so "one connection" is psql's `\c`
 *    per database: connect (as the database's project role, SCRAM, as pgfleet connects), run the
 *    migration in a transaction, disconnect, next database. Connecting is part of the loop, so it
 *    is timed; the SQL alone is reported beside it. Each repeat rolls out a new migration of the
 *    same shape (column and index `c<k>`), raw and pgfleet taking turns at going first;
 * 2. no-op `preview` of N projects with 20 applied migrations each, against the same preview of N
 *    projects without `pgfleet:migrations` (no SchemaMigrations at all). Both fleets exist at
 *    once and their previews alternate, so a burst of other work on the machine hits both alike.
 *
 * The raw loop works on the databases of the fleet without migrations (pgfleet projects too, the
 * first migration run in each as its role, untracked: that fleet's preview does not look inside
 * them), so the benchmark clones 2·N databases, not 3·N.
 *
 * The 1-minute load average is recorded with every sample: other work on the machine skews them.
 * Everything is created under the benchmark's prefix and removed at the end.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { close, connect, inTransaction, type DbClient } from "../db/client";
import { TMP_DIR } from "../scripts/lib/paths";
import { fleetConfig } from "../test/support/fleet";
import { adminServer, withAdmin } from "../test/support/postgres";
import { destroy, noopPreview, remove, stateText, up } from "./commands";
import { withCpuSplit, type CpuSplit } from "./cpu";
import { loadAverage, settle } from "./machine";
import { fleetStack, projectsOf, type FleetStack } from "./pgfleet";
import { formatMs, nowMs, sample, timed, type Sample } from "./stats";
import { createTemplate, dropBenchDatabase, type BenchTemplate } from "./templates";

export interface MigrationPlan {
  /** Projects per fleet (200 in a full run). */
  projects: number;
  /** Rollouts measured (one new migration each). */
  repeats: number;
  /** No-op previews per fleet. */
  previews: number;
  /** Migrations applied to every database before the no-op previews. */
  appliedForPreview: number;
}

/** A measurement with the 1-minute load average taken right after each sample. */
export interface LoadedSample extends Sample {
  loads: number[];
}

export interface MigrationResults {
  projects: number;
  template: BenchTemplate;
  rollout: {
    /** pgfleet `up` of one new migration over the template and every project. */
    up: LoadedSample;
    /** The raw loop, connections included. */
    raw: LoadedSample;
    /** Of the raw loop: connecting and disconnecting only. */
    rawConnect: Sample;
    /** Of the raw loop: the migration's statements and its transaction only. */
    rawSql: Sample;
    /** The migration rolled out in each repeat. */
    sql: string;
    /** CPU per process role during one more rollout (not in the medians). */
    split: CpuSplit;
    splitMs: number;
    /** One more rollout with PULUMI_SKIP_CHECKPOINTS=false (not in the medians): the engine rewrites the state around every step. */
    upWithCheckpoints: number;
  };
  preview: {
    /** Migrations applied to every database (template included). */
    applied: number;
    withMigrations: LoadedSample;
    without: LoadedSample;
    /** The state files' sizes (bytes) during the previews. */
    stateBytes: { withMigrations: number; without: number };
    /** CPU per process role during one more no-op preview with migrations (not in the medians). */
    split: CpuSplit;
    splitMs: number;
  };
  /** Untimed set-up, for scale: creating the fleets and applying the first migration. */
  setup: { fleetUp: number; firstMigrationUp: number; plainFleetUp: number };
}

const FIRST_MIGRATION =
  "CREATE SCHEMA app;\n" +
  "CREATE TABLE app.items (id bigint PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());\n" +
  "INSERT INTO app.items (id, name) SELECT g, 'item ' || g FROM generate_series(1, 1000) AS g;\n";

/** The k-th measured migration: add a column, add an index on it. */
function rolloutStatements(k: number): string[] {
  return [`ALTER TABLE app.items ADD COLUMN c${k} text`, `CREATE INDEX items_c${k}_idx ON app.items (c${k})`];
}

function rolloutFile(k: number): string {
  return `${rolloutStatements(k).join(";\n")};\n`;
}

/** A migration that only adds to the count of applied ones (a small table each). */
function fillerFile(k: number): string {
  return `CREATE TABLE app.filler_${k} (id int PRIMARY KEY, note text);\n`;
}

/** `002_add_c1.sql`: plain SQL folder names, numbered in order. */
function fileName(n: number, tag: string): string {
  return `${String(n).padStart(3, "0")}_${tag}.sql`;
}

function loaded(samples: number[], loads: number[]): LoadedSample {
  return { ...sample(samples), loads };
}

/** A database and its project role, migrated by the raw loop. */
interface RawTarget {
  database: string;
  role: string;
  password: string;
}

/** The databases of `fleet` with their roles' logins (its `projects` output), the first migration run in each as its role. */
async function rawTargetsOf(fleet: FleetStack): Promise<RawTarget[]> {
  const projects = (await fleet.stack.outputs(true)).projects as Record<
    string,
    { connection_string: string }
  >;
  const targets = Object.values(projects).map((p): RawTarget => {
    const url = new URL(p.connection_string);
    return {
      database: decodeURIComponent(url.pathname.slice(1)),
      role: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
    };
  });
  if (targets.length !== fleet.n)
    throw new Error(`expected ${fleet.n} projects in the stack output, found ${targets.length}`);
  for (const t of targets) {
    const c = await connectAsOwner(t);
    try {
      await c.query(FIRST_MIGRATION);
    } finally {
      await close(c);
    }
  }
  return targets;
}

function connectAsOwner(t: RawTarget): Promise<DbClient> {
  return connect({ ...adminServer(), user: t.role, password: t.password }, t.database);
}

/** The raw loop: per database, connect as its owner, the statements in one transaction, disconnect. */
async function rawRollout(
  targets: RawTarget[],
  statements: string[],
): Promise<{ ms: number; connectMs: number; sqlMs: number }> {
  await settle();
  let connectMs = 0;
  let sqlMs = 0;
  const t0 = nowMs();
  for (const t of targets) {
    const a = nowMs();
    const c = await connectAsOwner(t);
    const b = nowMs();
    await inTransaction(c, async (tx) => {
      for (const sql of statements) await tx.query(sql);
    });
    const d = nowMs();
    await close(c);
    connectMs += b - a + (nowMs() - d);
    sqlMs += d - b;
  }
  return { ms: nowMs() - t0, connectMs, sqlMs };
}

/**
 * Fails unless every database has column `c<k>` and its index, and (for pgfleet's) the tracking
 * row of migration `id`: a figure counts only when the work was done.
 */
async function assertRolledOut(databases: string[], k: number, trackedId?: string): Promise<void> {
  const missing: string[] = [];
  for (const db of databases) {
    const ok = await withAdmin(async (c) => {
      const r = await c.query<{ col: boolean; idx: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 'items' AND column_name = $1) AS col, ` +
          `to_regclass($2) IS NOT NULL AS idx`,
        [`c${k}`, `app.items_c${k}_idx`],
      );
      if (!r.rows[0]?.col || !r.rows[0]?.idx) return false;
      if (!trackedId) return true;
      const t = await c.query("SELECT 1 FROM pgfleet_migrations.applied WHERE id = $1", [trackedId]);
      return t.rows.length === 1;
    }, db);
    if (!ok) missing.push(db);
  }
  if (missing.length > 0)
    throw new Error(
      `migration c${k} is missing from ${missing.length} database(s): ${missing.slice(0, 5).join(", ")}…`,
    );
}

/** The stack config of a fleet of `fleet.n` projects, with `pgfleet:migrations` over `folder` when given. */
function configOf(template: BenchTemplate, fleet: FleetStack, folder?: string): Record<string, unknown> {
  const base = fleetConfig(template.name, projectsOf(fleet.prefix, fleet.n), {
    strategy: "auto",
    deletionPolicy: "drop",
  });
  return folder ? { ...base, "pgfleet:migrations": { source: folder } } : base;
}

/** Runs both cases; `log` reports progress, `measured` gets the results before the fleets are destroyed. */
export async function benchMigrations(
  plan: MigrationPlan,
  log: (line: string) => void,
  measured?: (results: MigrationResults) => void,
): Promise<MigrationResults> {
  const n = plan.projects;
  fs.mkdirSync(TMP_DIR, { recursive: true });
  const folder = fs.mkdtempSync(path.join(TMP_DIR, "bench-migrations-"));
  const template = await createTemplate("8 MB", 8 * 1024 * 1024);
  const stacks: FleetStack[] = [];
  try {
    // The fleet without migrations first (cloned before pgfleet migrates the template); the raw loop works on its databases.
    const plain = await fleetStack(template, n, "auto");
    stacks.push(plain);
    const plainFleetUp = await up(plain);
    const raw = await rawTargetsOf(plain);
    log(
      `migrations: fleet of ${n} without migrations up ${formatMs(plainFleetUp)}; migration 001 run in each as its role`,
    );

    // pgfleet's fleet: created without migrations, then the first migration rolled out, so each
    // project's schema is its own role's (as a fleet that adopts migrations has it).
    const fleet = await fleetStack(template, n, "auto");
    stacks.push(fleet);
    const fleetUp = await up(fleet);
    fs.writeFileSync(path.join(folder, fileName(1, "create_items")), FIRST_MIGRATION);
    fleet.stack.setConfig(configOf(template, fleet, folder));
    const firstMigrationUp = await up(fleet);
    log(`migrations: fleet of ${n} up ${formatMs(fleetUp)}, migration 001 up ${formatMs(firstMigrationUp)}`);
    const pgfleetDatabases = [template.name, ...projectsOf(fleet.prefix, n).map((p) => p.databaseName!)];

    // 1. Rollouts.
    const upSamples: number[] = [];
    const upLoads: number[] = [];
    const rawSamples: number[] = [];
    const rawLoads: number[] = [];
    const rawConnect: number[] = [];
    const rawSql: number[] = [];
    let number = 1;
    for (let k = 1; k <= plan.repeats; k++) {
      number++;
      const id = String(number).padStart(3, "0");
      const runRaw = async () => {
        const r = await rawRollout(raw, rolloutStatements(k));
        rawSamples.push(r.ms);
        rawLoads.push(loadAverage());
        rawConnect.push(r.connectMs);
        rawSql.push(r.sqlMs);
        log(
          `[${k}/${plan.repeats}] migrations: raw loop ${formatMs(r.ms)} (connect ${formatMs(r.connectMs)}, SQL ${formatMs(r.sqlMs)}), load ${loadAverage().toFixed(1)}`,
        );
      };
      const runPgfleet = async () => {
        fs.writeFileSync(path.join(folder, fileName(number, `add_c${k}`)), rolloutFile(k));
        const ms = await up(fleet);
        upSamples.push(ms);
        upLoads.push(loadAverage());
        log(
          `[${k}/${plan.repeats}] migrations: pgfleet up ${formatMs(ms)}, load ${loadAverage().toFixed(1)}`,
        );
      };
      if (k % 2 === 1) {
        await runRaw();
        await runPgfleet();
      } else {
        await runPgfleet();
        await runRaw();
      }
      await assertRolledOut(
        raw.map((t) => t.database),
        k,
      );
      await assertRolledOut(pgfleetDatabases, k, id);
    }
    // One more rollout with the CPU of every process sampled (not in the medians).
    const k = plan.repeats + 1;
    number++;
    fs.writeFileSync(path.join(folder, fileName(number, `add_c${k}`)), rolloutFile(k));
    const rolloutSplit = await withCpuSplit(() => up(fleet));
    await assertRolledOut(pgfleetDatabases, k, String(number).padStart(3, "0"));
    // And one with the engine's intermediate checkpoints, which pgfleet's own program skips, to size them.
    number++;
    fs.writeFileSync(path.join(folder, fileName(number, `add_c${k + 1}`)), rolloutFile(k + 1));
    await settle();
    const checkpointed = await timed(() => fleet.stack.up({ env: { PULUMI_SKIP_CHECKPOINTS: "false" } }));
    await assertRolledOut(pgfleetDatabases, k + 1, String(number).padStart(3, "0"));
    log(
      `migrations: rollout up ${formatMs(rolloutSplit.value)} (CPU sampled), with the engine's checkpoints ${formatMs(checkpointed.ms)}`,
    );

    // 2. No-op previews: fill up to the applied count, then a fleet of the same size without migrations.
    for (number++; number <= plan.appliedForPreview; number++)
      fs.writeFileSync(path.join(folder, fileName(number, `filler_${number}`)), fillerFile(number));
    const applied = number - 1;
    await up(fleet);
    const tracked = await withAdmin(
      async (c) =>
        (await c.query<{ n: string }>("SELECT count(*)::text AS n FROM pgfleet_migrations.applied")).rows[0]
          .n,
      pgfleetDatabases.at(-1),
    );
    if (Number(tracked) !== applied)
      throw new Error(
        `expected ${applied} applied migrations in ${pgfleetDatabases.at(-1)}, found ${tracked}`,
      );
    log(`migrations: ${applied} migrations applied to the template and ${n} projects`);

    const withSamples: number[] = [];
    const withLoads: number[] = [];
    const withoutSamples: number[] = [];
    const withoutLoads: number[] = [];
    for (let i = 0; i < plan.previews; i++) {
      withSamples.push(await noopPreview(fleet));
      withLoads.push(loadAverage());
      withoutSamples.push(await noopPreview(plain));
      withoutLoads.push(loadAverage());
      log(
        `[${i + 1}/${plan.previews}] migrations: no-op preview with ${applied} migrations ${formatMs(withSamples[i])}, ` +
          `without ${formatMs(withoutSamples[i])}, load ${loadAverage().toFixed(1)}`,
      );
    }
    const previewSplit = await withCpuSplit(() => noopPreview(fleet));
    const stateBytes = {
      withMigrations: Buffer.byteLength(stateText(fleet)),
      without: Buffer.byteLength(stateText(plain)),
    };

    const results: MigrationResults = {
      projects: n,
      template,
      rollout: {
        up: loaded(upSamples, upLoads),
        raw: loaded(rawSamples, rawLoads),
        rawConnect: sample(rawConnect),
        rawSql: sample(rawSql),
        sql: rolloutFile(1).trim(),
        split: rolloutSplit.split,
        splitMs: rolloutSplit.value,
        upWithCheckpoints: checkpointed.ms,
      },
      preview: {
        applied,
        withMigrations: loaded(withSamples, withLoads),
        without: loaded(withoutSamples, withoutLoads),
        split: previewSplit.split,
        splitMs: previewSplit.value,
        stateBytes,
      },
      setup: { fleetUp, firstMigrationUp, plainFleetUp },
    };
    // The figures are kept before the clean-up: dropping 2·N databases (a checkpoint each) takes a while.
    measured?.(results);
    for (const s of [...stacks]) {
      await destroy(s);
      stacks.splice(stacks.indexOf(s), 1);
    }
    return results;
  } finally {
    for (const s of stacks) await remove(s, true).catch(() => undefined);
    await dropBenchDatabase(template.name).catch(() => undefined);
    fs.rmSync(folder, { recursive: true, force: true });
  }
}
