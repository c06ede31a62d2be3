/**
 * `npm run bench [-- --quick] [-- --repeats <n>] [-- --only migrations|scale|clones]`: the benchmark of
 * issues 8, 17 and 19. Not part of `npm test`. Writes bench/results.md (`--only migrations`, `--only
 * scale`, `--only clones`: that section alone, the rest of the file kept; a full run: everything
 * but the scale and clones sections, which it keeps).
 *
 * Against the embedded PostgreSQL server (started when it is not running, and then stopped at
 * the end; or the server of PGFLEET_ADMIN_URL), with templates of about 8 MB and 100 MB:
 *  1. for each template, strategy (auto, WAL_LOG, FILE_COPY) and N: the raw loop (sequential and
 *     parallel, bench/raw.ts) and pgfleet `up` + `destroy` on a fresh stack (bench/pgfleet.ts),
 *     interleaved per repeat so both see the same machine, the strategies' order rotating per
 *     repeat; no-op `preview` and `up` on the `auto` fleets; the state file of the first `auto`
 *     fleet of the target N (bench/state.ts);
 *  2. the no-op `preview` slope between a small and a large fleet;
 *  3. the backup runner against plain `pg_dump -Fc`, and a GFS prune of 1,000 dumps (bench/backup.ts);
 *  4. schema migrations (bench/migrations.ts): one migration rolled out over 200 projects against a
 *     raw loop, and the no-op `preview` of 200 projects with 20 applied migrations against one without;
 *  5. fleet scale (bench/scale.ts), only with `--only scale` (it grows fleets to 1,000 projects
 *     under two state backends, well over an hour on 2 cores): adding 100 projects to fleets of
 *     100, 500 and 1,000 against the raw loop, no-op `preview` and state per project at each size;
 *  6. clones of big templates (bench/clones.ts), only with `--only clones` (as root, on a
 *     PostgreSQL 18 server on a loop-mounted XFS image): `up` of 50 projects from a 1 GB template
 *     with clone against the same from 8 MB and against PostgreSQL 15's FILE_COPY raw loop.
 * Pulumi's own floor (bench/floor.ts: the same shape of program with a dynamic provider that does
 * no I/O) runs beside pgfleet: a fresh-stack `up` + `destroy` per N right after pgfleet's cycles
 * on the 8 MB template, and its no-op `preview` in the slope, alternating with pgfleet's.
 * A full run takes about 16 minutes on 2 cores without the migrations, which add two fleets of 200
 * projects and their rollouts; `--quick` (N = 5, one repeat; 20 projects for the migrations) a few
 * minutes.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { CLONE_STRATEGIES, resolveStrategy } from "../core/project-spec";
import * as embedded from "../scripts/lib/embedded-postgres";
import { PULUMI_HOME, REPO_ROOT, TMP_DIR } from "../scripts/lib/paths";
import { findOnPath } from "../backup/pg-tools";
import { formatBytes } from "../core/bytes";
import { ensureToolchain, type Toolchain } from "../scripts/lib/toolchain";
import { benchPrune, compareBackup } from "./backup";
import { dynamicResourcesPerProject, floorCycle, floorStack } from "./floor";
import { describeMachine, loadAverage } from "./machine";
import { destroy, noopPreview, remove, stateText, up, type BenchStack } from "./commands";
import { cycle, diagnosePreview, diagnoseUp, fleetStack, type FleetStack, type UpDiagnosis } from "./pgfleet";
import type { CpuSplit } from "./cpu";
import { rawCreate, type RawMode } from "./raw";
import { renderReport, type BenchResults, type Cell, type FloorRow, type NoopRow } from "./report";
import { analyseState } from "./state";
import { benchMigrations, type MigrationPlan } from "./migrations";
import { MIGRATIONS_HEADING, renderMigrations } from "./migrations-report";
import { benchScale, type ScalePlan, type ScaleResults } from "./scale";
import { SCALE_HEADING, renderScale } from "./scale-report";
import { benchClones, type ClonePlan } from "./clones";
import { CLONES_HEADING, renderClones } from "./clones-report";
import { sectionOf, spliceSection, type SectionRun } from "./sections";
import { formatMs, nowMs, sample, timed, type Sample } from "./stats";
import { createTemplate, dropBenchDatabase, dropLeftovers, type BenchTemplate } from "./templates";

interface Plan {
  mode: "full" | "quick";
  repeats: number;
  ns: number[];
  targetN: number;
  slope: { small: number; large: number; previews: number };
  backupRepeats: number;
  pruneDumps: number;
  migrations: MigrationPlan;
  /** Only the schema-migration cases (part 4). */
  onlyMigrations: boolean;
  scale: ScalePlan;
  /** Only the fleet-scale cases (part 5). */
  onlyScale: boolean;
  clones: ClonePlan;
  /** Only the clones of big templates (part 6). */
  onlyClones: boolean;
}

const STRATEGIES = CLONE_STRATEGIES;
const MB = 1024 * 1024;
const RESULTS = path.join(REPO_ROOT, "bench", "results.md");

function planFrom(argv: string[]): Plan {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean" },
      repeats: { type: "string" },
      only: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      "usage: npm run bench [-- --quick] [-- --repeats <n>] [-- --only migrations|scale|clones]   (writes bench/results.md)",
    );
    process.exit(0);
  }
  if (values.only !== undefined && !["migrations", "scale", "clones"].includes(values.only))
    throw new Error(`--only must be "migrations", "scale" or "clones", got ${values.only}`);
  const quick = !!values.quick;
  const plan: Plan = quick
    ? {
        mode: "quick",
        repeats: 1,
        ns: [5],
        targetN: 5,
        slope: { small: 5, large: 20, previews: 1 },
        backupRepeats: 1,
        pruneDumps: 1000,
        migrations: { projects: 20, repeats: 1, previews: 1, appliedForPreview: 20 },
        onlyMigrations: false,
        scale: { sizes: [10, 20], add: 10, backends: ["file", "postgres"] },
        onlyScale: false,
        clones: { projects: 5, bigBytes: 100 * MB },
        onlyClones: false,
      }
    : {
        mode: "full",
        repeats: 3,
        ns: [10, 50],
        targetN: 50,
        slope: { small: 20, large: 200, previews: 5 },
        backupRepeats: 3,
        pruneDumps: 1000,
        migrations: { projects: 200, repeats: 3, previews: 5, appliedForPreview: 20 },
        onlyMigrations: false,
        scale: { sizes: [100, 500, 1000], add: 100, backends: ["file", "postgres"] },
        onlyScale: false,
        clones: { projects: 50, bigBytes: 1024 * MB },
        onlyClones: false,
      };
  plan.onlyMigrations = values.only === "migrations";
  plan.onlyScale = values.only === "scale";
  plan.onlyClones = values.only === "clones";
  if (values.repeats !== undefined) {
    const n = Number(values.repeats);
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`--repeats must be a positive integer, got ${values.repeats}`);
    plan.repeats = n;
    plan.backupRepeats = n;
    plan.slope.previews = n;
    plan.migrations.repeats = n;
    plan.migrations.previews = n;
  }
  return plan;
}

const log = (line: string) => console.error(`[bench] ${line}`);

/**
 * `items` starting from its `by`-th element (wrapping round): the strategies take turns at
 * running first in a repeat, so none always follows the same heavy run (the raw parallel loop
 * writes 5 GB for the 100 MB template) and pays for it alone.
 */
function rotated<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** Why the @pulumi/postgresql comparison has no figures. */
function postgresqlPluginReason(toolchain: Toolchain): string {
  const onPath = findOnPath(
    "pulumi-resource-postgresql",
    [...toolchain.path, process.env.PATH ?? ""].join(":"),
  );
  const plugins = path.join(PULUMI_HOME, "plugins");
  const installed =
    fs.existsSync(plugins) && fs.readdirSync(plugins).some((d) => d.startsWith("resource-postgresql"));
  if (onPath || installed) {
    return "a pulumi-resource-postgresql plugin is present, but this benchmark has no @pulumi/postgresql program; not measured";
  }
  return (
    "the pulumi-resource-postgresql plugin cannot be built on this machine — the Go module proxy " +
    "available to this project serves no version of github.com/pulumi/pulumi-postgresql/provider/v3 nor of its upstream " +
    "github.com/cyrilgdn/terraform-provider-postgresql — and without the plugin @pulumi/postgresql resources cannot run"
  );
}

async function main(): Promise<void> {
  const plan = planFrom(process.argv.slice(2));
  const started = new Date();
  const t0 = nowMs();
  log(
    plan.onlyMigrations
      ? `${plan.mode} run of the migrations only: ${plan.migrations.projects} projects, ${plan.migrations.repeats} rollout(s), ${plan.migrations.previews} preview pair(s)`
      : plan.onlyClones
        ? `${plan.mode} run of the clones of big templates only: ${plan.clones.projects} projects, ${formatBytes(plan.clones.bigBytes)} template`
        : plan.onlyScale
          ? `${plan.mode} run of the fleet scale only: sizes ${plan.scale.sizes.join(", ")}, +${plan.scale.add} each, backends ${plan.scale.backends.join(", ")}`
          : `${plan.mode} run: N = ${plan.ns.join(", ")}, ${plan.repeats} repeat(s)`,
  );

  // The server and the toolchain, as the test suite's global setup does.
  let startedServer = false;
  const embeddedServer = !process.env.PGFLEET_ADMIN_URL;
  if (embeddedServer) {
    startedServer = !(await embedded.runningUrl());
    const info = await embedded.start(log);
    process.env.PGFLEET_ADMIN_URL = embedded.urlFor(info);
  }
  const toolchain = ensureToolchain(log);
  process.env.PGFLEET_TOOLCHAIN_PATH = toolchain.path.join(":");

  const load = { start: loadAverage(), end: 0, max: loadAverage() };
  const loadTimer = setInterval(() => (load.max = Math.max(load.max, loadAverage())), 5000);
  const templates: BenchTemplate[] = [];
  try {
    const left = await dropLeftovers();
    if (left.databases + left.roles > 0)
      log(`dropped ${left.databases} database(s), ${left.roles} role(s) left by an earlier run`);
    if (fs.existsSync(TMP_DIR)) {
      for (const d of fs.readdirSync(TMP_DIR)) {
        if (d.startsWith("bench-")) fs.rmSync(path.join(TMP_DIR, d), { recursive: true, force: true });
      }
    }
    const machine = await describeMachine(toolchain, embeddedServer);
    /** Writes one section of the results file as a `--only <only>` run measured it. */
    const writeSection = (only: string, heading: string, render: (run: SectionRun) => string[]) => {
      load.end = loadAverage();
      load.max = Math.max(load.max, load.end);
      const section = render({
        command: `npm run bench -- ${plan.mode === "quick" ? "--quick " : ""}--only ${only}`,
        startedAt: started,
        durationMs: nowMs() - t0,
        machine,
        load,
      });
      const existing = fs.existsSync(RESULTS) ? fs.readFileSync(RESULTS, "utf8") : "# pgfleet benchmark\n";
      fs.writeFileSync(RESULTS, spliceSection(existing, heading, section));
      log(`wrote the ${only} section of ${path.relative(process.cwd(), RESULTS)}`);
    };
    if (plan.onlyMigrations) {
      await benchMigrations(plan.migrations, log, (m) =>
        writeSection("migrations", MIGRATIONS_HEADING, (run) => renderMigrations(m, run)),
      );
      return;
    }
    if (plan.onlyClones) {
      await benchClones(plan.clones, log, (results) =>
        writeSection("clones", CLONES_HEADING, (run) => renderClones(results, run)),
      );
      return;
    }
    if (plan.onlyScale) {
      const write = (results: ScaleResults) =>
        writeSection("scale", SCALE_HEADING, (run) => renderScale(results, run));
      write(await benchScale(plan.scale, log, write));
      return;
    }
    for (const [label, bytes] of [
      ["8 MB", 8 * MB],
      ["100 MB", 100 * MB],
    ] as const) {
      const { ms, value } = await timed(() => createTemplate(label, bytes));
      templates.push(value);
      log(`template ${value.name}: ${formatBytes(value.bytes)} in ${formatMs(ms)}`);
    }
    const [small, large] = templates;

    // Warm-up, not measured: the first clones after a template is written are slower.
    for (const t of templates) await rawCreate(t, 5, "auto", "sequential");

    // 1. Raw and pgfleet, per template, N and strategy, interleaved per repeat.
    const raw = new Map<string, { samples: number[]; connections: number }>();
    const rawKey = (t: BenchTemplate, s: string, n: number, mode: RawMode) => `${t.name}/${s}/${n}/${mode}`;
    const fleet = new Map<string, { up: number[]; destroy: number[]; stateBytes: number }>();
    const noop = new Map<string, { preview: number[]; up: number[] }>();
    const floor = new Map<number, { up: number[]; destroy: number[]; stateBytes: number }>();
    let stateForTarget: string | undefined;
    for (let rep = 1; rep <= plan.repeats; rep++) {
      for (const t of templates) {
        for (const n of plan.ns) {
          for (const s of rotated(["WAL_LOG", "FILE_COPY"] as const, rep - 1)) {
            for (const mode of ["sequential", "parallel"] as const) {
              const r = await rawCreate(t, n, s, mode);
              const key = rawKey(t, s, n, mode);
              const entry = raw.get(key) ?? { samples: [], connections: r.connections };
              entry.samples.push(r.ms);
              raw.set(key, entry);
              log(`[${rep}/${plan.repeats}] raw ${mode} ${t.label} ${s} N=${n}: ${formatMs(r.ms)}`);
            }
          }
          for (const s of rotated(STRATEGIES, rep - 1)) {
            const withNoop = s === "auto";
            const keepState = s === "auto" && t === small && n === plan.targetN && !stateForTarget;
            const c = await cycle(t, n, s, { noop: withNoop, keepState });
            if (keepState) stateForTarget = c.state;
            const key = `${t.name}/${s}/${n}`;
            const entry = fleet.get(key) ?? { up: [], destroy: [], stateBytes: c.stateBytes };
            entry.up.push(c.up);
            entry.destroy.push(c.destroy);
            fleet.set(key, entry);
            if (withNoop) {
              const nk = `${t.name}/${n}`;
              const e = noop.get(nk) ?? { preview: [], up: [] };
              e.preview.push(c.noopPreview!);
              e.up.push(c.noopUp!);
              noop.set(nk, e);
            }
            log(
              `[${rep}/${plan.repeats}] pgfleet ${t.label} ${s} N=${n}: up ${formatMs(c.up)}, destroy ${formatMs(c.destroy)}` +
                (withNoop
                  ? `, no-op preview ${formatMs(c.noopPreview!)}, no-op up ${formatMs(c.noopUp!)}`
                  : "") +
                `, state ${formatBytes(c.stateBytes / n)}/project`,
            );
          }
          if (t === small) {
            // Pulumi's floor of the same N, right after pgfleet's cycles on this template.
            const c = await floorCycle(n);
            const entry = floor.get(n) ?? { up: [], destroy: [], stateBytes: c.stateBytes };
            entry.up.push(c.up);
            entry.destroy.push(c.destroy);
            floor.set(n, entry);
            log(
              `[${rep}/${plan.repeats}] floor N=${n}: up ${formatMs(c.up)}, destroy ${formatMs(c.destroy)}, ` +
                `state ${formatBytes(c.stateBytes / n)}/project`,
            );
          }
        }
      }
    }
    const cells: Cell[] = [];
    for (const t of templates) {
      for (const s of STRATEGIES) {
        for (const n of plan.ns) {
          const resolved = resolveStrategy(s, t.bytes);
          const seq = raw.get(rawKey(t, resolved, n, "sequential"))!;
          const par = raw.get(rawKey(t, resolved, n, "parallel"))!;
          const f = fleet.get(`${t.name}/${s}/${n}`)!;
          cells.push({
            template: t.label,
            strategy: s,
            resolved,
            n,
            rawSequential: sample(seq.samples),
            rawParallel: sample(par.samples),
            rawConnections: par.connections,
            up: sample(f.up),
            destroy: sample(f.destroy),
            stateBytes: f.stateBytes,
          });
        }
      }
    }
    const noopRows: NoopRow[] = [];
    for (const t of templates) {
      for (const n of plan.ns) {
        const e = noop.get(`${t.name}/${n}`)!;
        noopRows.push({ template: t.label, n, preview: sample(e.preview), up: sample(e.up) });
      }
    }
    const floorRows: FloorRow[] = plan.ns.map((n) => {
      const e = floor.get(n)!;
      return { n, up: sample(e.up), destroy: sample(e.destroy), stateBytes: e.stateBytes };
    });

    // Where the time of `up` goes (extra runs, not in the medians).
    const diagnoses: UpDiagnosis[] = [];
    for (const t of templates) {
      const d = await diagnoseUp(t, plan.targetN);
      diagnoses.push(d);
      log(
        `diagnosis ${t.label} N=${plan.targetN}: up ${formatMs(d.up)} (${d.split.map((x) => `${x.role} ${x.seconds.toFixed(1)} s`).join(", ")}); ` +
          `with the engine's checkpoints ${formatMs(d.upWithCheckpoints)}`,
      );
    }

    // 2. The no-op preview slope: both fleets, and the floor's stacks of the same sizes, exist at
    //    once and their previews alternate, so a burst of other work on the machine hits all alike.
    const sizes = [plan.slope.small, plan.slope.large];
    const slopeFleets: FleetStack[] = [];
    const floorFleets: BenchStack[] = [];
    const previewSamples: Record<number, number[]> = {};
    const floorSamples: Record<number, number[]> = {};
    let floorUpLarge = 0;
    let floorDestroyLarge = 0;
    let upLarge = 0;
    let destroyLarge = 0;
    let previewSplit: { ms: number; split: CpuSplit } = { ms: Number.NaN, split: [] };
    try {
      for (const n of sizes) {
        const f = await fleetStack(small, n, "auto");
        slopeFleets.push(f);
        const u = await up(f);
        if (n === plan.slope.large) upLarge = u;
        previewSamples[n] = [];
        log(
          `slope: ${n} projects: up ${formatMs(u)}, state ${formatBytes(Buffer.byteLength(stateText(f)) / n)}/project`,
        );
        const g = await floorStack(n);
        floorFleets.push(g);
        const gu = await up(g);
        if (n === plan.slope.large) floorUpLarge = gu;
        floorSamples[n] = [];
        log(`slope: floor of ${n} projects: up ${formatMs(gu)}`);
      }
      for (let i = 0; i < plan.slope.previews; i++) {
        for (const f of slopeFleets) previewSamples[f.n].push(await noopPreview(f));
        for (const g of floorFleets) floorSamples[g.n].push(await noopPreview(g));
      }
      previewSplit = await diagnosePreview(slopeFleets[1]);
      for (const n of sizes) {
        log(`slope: ${n} projects: no-op preview ${previewSamples[n].map(formatMs).join(", ")}`);
        log(`slope: floor of ${n} projects: no-op preview ${floorSamples[n].map(formatMs).join(", ")}`);
      }
      for (const g of [...floorFleets]) {
        const d = await destroy(g);
        if (g.n === plan.slope.large) floorDestroyLarge = d;
        floorFleets.splice(floorFleets.indexOf(g), 1);
      }
      for (const f of [...slopeFleets]) {
        const d = await destroy(f);
        if (f.n === plan.slope.large) destroyLarge = d;
        slopeFleets.splice(slopeFleets.indexOf(f), 1);
      }
    } finally {
      for (const f of slopeFleets) await remove(f, true).catch(() => undefined);
      for (const g of floorFleets) await remove(g, true).catch(() => undefined);
    }
    const previews: Record<number, Sample> = {
      [plan.slope.small]: sample(previewSamples[plan.slope.small]),
      [plan.slope.large]: sample(previewSamples[plan.slope.large]),
    };
    const slope = {
      small: plan.slope.small,
      large: plan.slope.large,
      previewSmall: previews[plan.slope.small],
      previewLarge: previews[plan.slope.large],
      perProject:
        (previews[plan.slope.large].median - previews[plan.slope.small].median) /
        (plan.slope.large - plan.slope.small),
      upLarge,
      destroyLarge,
      split: previewSplit.split,
      splitMs: previewSplit.ms,
    };
    const floorPreviews = sizes.map((n) => sample(floorSamples[n]));
    const floorSlope = {
      small: plan.slope.small,
      large: plan.slope.large,
      previewSmall: floorPreviews[0],
      previewLarge: floorPreviews[1],
      perProject: (floorPreviews[1].median - floorPreviews[0].median) / (plan.slope.large - plan.slope.small),
      upLarge: floorUpLarge,
      destroyLarge: floorDestroyLarge,
    };

    // 3. Backups.
    const backup = await compareBackup(large, plan.backupRepeats);
    log(`backup: plain ${formatMs(backup.plain.median)}, runner ${formatMs(backup.runner.median)}`);
    const prune = await benchPrune(plan.pruneDumps, plan.backupRepeats);
    log(`prune of ${prune.dumps}: ${formatMs(prune.prune.median)} (${prune.pruned} pruned)`);

    // 4. Schema migrations.
    const migrations = await benchMigrations(plan.migrations, log);

    load.end = loadAverage();
    load.max = Math.max(load.max, load.end);
    const results: BenchResults = {
      mode: plan.mode,
      startedAt: started,
      durationMs: nowMs() - t0,
      machine,
      load,
      repeats: plan.repeats,
      templates,
      targetN: plan.targetN,
      cells,
      noop: noopRows,
      diagnoses,
      slope,
      state: { n: plan.targetN, analysis: analyseState(stateForTarget!, plan.targetN) },
      floor: {
        rows: floorRows,
        slope: floorSlope,
        pgfleetDynamicPerProject: dynamicResourcesPerProject(stateForTarget!, plan.targetN),
      },
      backup,
      prune,
      migrations,
      notMeasurable: [
        {
          what: "`@pulumi/postgresql` (`Database` + `Role`) for comparison",
          reason: postgresqlPluginReason(toolchain),
        },
      ],
    };
    // A full run does not measure fleet scale or clones (`--only scale`, `--only clones`): their
    // sections, with their own run headers, are kept from the file as it was.
    const previous = fs.existsSync(RESULTS) ? fs.readFileSync(RESULTS, "utf8") : "";
    let report = renderReport(results);
    for (const heading of [SCALE_HEADING, CLONES_HEADING]) {
      const kept = sectionOf(previous, heading);
      if (kept) report = spliceSection(report, heading, kept);
    }
    fs.writeFileSync(RESULTS, report);
    log(`wrote ${path.relative(process.cwd(), RESULTS)} (${((nowMs() - t0) / 60000).toFixed(1)} min)`);
  } finally {
    clearInterval(loadTimer);
    for (const t of templates) await dropBenchDatabase(t.name).catch(() => undefined);
    await dropLeftovers().catch(() => undefined);
    if (startedServer) await embedded.stop();
  }
}

main().catch((err: unknown) => {
  console.error(`npm run bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
